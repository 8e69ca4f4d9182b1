//! The socket-pair workloads: Niels Provos' libevent `bench.c`, with
//! level/edge watches or with oneshot watches re-armed after each event.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::mechanism::Readiness;

/// Raises RLIMIT_NOFILE: 10,000 socket pairs need 20,000 descriptors,
/// and 10,000 timerfds as many. Root (as in the VM) may raise the hard
/// limit too; others get their hard limit.
pub fn raise_fd_limit() {
    const WANTED: libc::rlim_t = 65536;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on our own struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max.max(WANTED),
            rlim_max: lim.rlim_max.max(WANTED),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// What an event loop measured.
pub struct Run {
    /// The loop's wall time.
    pub elapsed: Duration,
    /// Events handled: bytes read.
    pub events: usize,
    /// The mechanism's system calls during the loop (0 without one).
    pub syscalls: u64,
}

impl Run {
    pub fn ns_per_event(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.events.max(1) as f64
    }

    pub fn syscalls_per_event(&self) -> f64 {
        self.syscalls as f64 / self.events.max(1) as f64
    }
}

/// `n` pairs of descriptors, (read end, write end), closed on drop:
/// socket pairs for libevent-bench, pipes for the pipes workload.
pub(super) struct FdPairs(pub(super) Vec<(RawFd, RawFd)>);

impl FdPairs {
    /// `n` pairs from `make`, a system call filling two descriptors
    /// (negative on error, with `errno` set).
    fn new(n: usize, make: impl Fn(&mut [RawFd; 2]) -> libc::c_int) -> io::Result<Self> {
        let mut pairs = FdPairs(Vec::with_capacity(n));
        for _ in 0..n {
            let mut fds = [0; 2];
            if make(&mut fds) < 0 {
                // The pairs made so far are closed by drop.
                return Err(io::Error::last_os_error());
            }
            pairs.0.push((fds[0], fds[1]));
        }
        Ok(pairs)
    }

    /// `n` non-blocking unix stream socket pairs.
    pub(super) fn sockets(n: usize) -> io::Result<Self> {
        Self::new(n, |fds| {
            // SAFETY: `fds` has room for two descriptors.
            unsafe {
                libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                    fds.as_mut_ptr(),
                )
            }
        })
    }

    /// `n` non-blocking TCP connections over loopback (IPv4), each
    /// (accepted end, connecting end), with `TCP_NODELAY` on both so that
    /// a one-byte write goes out at once.
    pub(super) fn tcp(n: usize) -> io::Result<Self> {
        use std::net::{Ipv4Addr, TcpListener, TcpStream};
        use std::os::fd::IntoRawFd;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let mut pairs = FdPairs(Vec::with_capacity(n));
        for _ in 0..n {
            let w = TcpStream::connect(addr)?;
            let (r, _) = listener.accept()?;
            for s in [&r, &w] {
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
            }
            pairs.0.push((r.into_raw_fd(), w.into_raw_fd()));
        }
        Ok(pairs)
    }

    /// `n` non-blocking pipes.
    pub(super) fn pipes(n: usize) -> io::Result<Self> {
        Self::new(n, |fds| {
            // SAFETY: `fds` has room for two descriptors.
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }
        })
    }
}

impl Drop for FdPairs {
    fn drop(&mut self) {
        for &(r, w) in &self.0 {
            // SAFETY: our descriptors.
            unsafe {
                libc::close(r);
                libc::close(w);
            }
        }
    }
}

pub(super) fn write_byte(fd: RawFd) {
    // SAFETY: one byte from a static.
    unsafe { libc::write(fd, b"e".as_ptr().cast(), 1) };
}

/// Reads what is pending in a ready socket or pipe (one byte, or all for
/// edge-triggered mechanisms); returns how many bytes it read. A drain
/// stops at the first read shorter than the buffer (the socket or pipe
/// was empty then, as tokio takes it; a byte that comes later is a new
/// edge), not at `EAGAIN`, so that it costs one read where a
/// level-triggered event's does. Both libevent-bench and the pipes
/// workload read with it.
pub(super) fn read_pending(fd: RawFd, drain: bool) -> usize {
    let mut buf = [0u8; 64];
    let want = if drain { buf.len() } else { 1 };
    let mut total = 0;
    loop {
        // SAFETY: `buf` has room for `want` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), want) };
        if n <= 0 {
            return total;
        }
        total += n as usize;
        if (n as usize) < want || !drain {
            return total;
        }
    }
}

/// The sockets of the socket-pair workloads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sockets {
    /// Unix stream socket pairs (`socketpair(AF_UNIX, SOCK_STREAM)`), as
    /// libevent's `bench.c` uses.
    Unix,
    /// TCP connections over loopback.
    Tcp,
}

/// [`libevent_bench_on`] unix socket pairs (the tests' shorthand).
#[cfg(test)]
pub fn libevent_bench(
    mech: Option<&mut (dyn Readiness + 'static)>,
    pairs: usize,
    active: usize,
    writes: usize,
) -> io::Result<Run> {
    libevent_bench_on(mech, Sockets::Unix, pairs, active, writes)
}

/// Niels Provos' libevent `bench.c`: `pairs` socket pairs, `active` of them
/// with a byte in flight, `writes` more writes. Each event reads a byte and
/// writes one to the next pair, until every byte has been read; then the
/// handled events' watches are re-armed (oneshot mechanisms).
///
/// Without a mechanism (`None`, the upper bound) the loop itself knows
/// which pairs hold a byte.
pub fn libevent_bench_on(
    mut mech: Option<&mut (dyn Readiness + 'static)>,
    sockets: Sockets,
    pairs: usize,
    active: usize,
    writes: usize,
) -> io::Result<Run> {
    let p = match sockets {
        Sockets::Unix => FdPairs::sockets(pairs)?,
        Sockets::Tcp => FdPairs::tcp(pairs)?,
    };
    let drain = mech.as_ref().is_some_and(|m| m.edge());
    if let Some(m) = mech.as_deref_mut() {
        for (i, &(r, _)) in p.0.iter().enumerate() {
            m.watch(r, i)?;
        }
    }
    let space = (pairs / active.max(1)).max(1);
    let mut ready = Vec::with_capacity(256);
    let mut direct: std::collections::VecDeque<usize> = Default::default();
    for i in 0..active {
        write_byte(p.0[(i * space) % pairs].1);
        direct.push_back((i * space) % pairs);
    }
    let total = active + writes;
    let mut fired = 0;
    let mut left = writes;
    let calls = mech.as_ref().map_or(0, |m| m.syscalls());
    let start = Instant::now();
    crate::insn_mark::start();
    while fired < total {
        ready.clear();
        match mech.as_deref_mut() {
            Some(m) => m.wait(&mut ready)?,
            None => ready.extend(direct.pop_front()),
        }
        for &i in &ready {
            let got = read_pending(p.0[i].0, drain);
            for _ in 0..got {
                fired += 1;
                if left > 0 {
                    left -= 1;
                    let next = (i + 1) % pairs;
                    write_byte(p.0[next].1);
                    if mech.is_none() {
                        direct.push_back(next);
                    }
                }
            }
        }
        if let Some(m) = mech.as_deref_mut() {
            m.rearm(&ready)?;
        }
    }
    crate::insn_mark::stop();
    let elapsed = start.elapsed();
    Ok(Run {
        elapsed,
        events: fired,
        syscalls: mech.map_or(0, |m| m.syscalls()) - calls,
    })
}
