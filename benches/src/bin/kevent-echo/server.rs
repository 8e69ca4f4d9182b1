//! The server side: accepting the connections, the backends' shared
//! helpers, and the counters the server publishes to the driver.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{epoll, kevent_aio, kevent_ready, uring};

/// Each connection's receive buffer (or provided buffer): room for any
/// message of the benchmark (128 and 512 B) in one receive.
pub const BUF: usize = 4096;
/// Events (or completions) taken per wait, by every backend.
pub const BATCH: usize = 256;

/// The backends, in the report's order: name and what it is.
pub const BACKENDS: &[(&str, &str)] = &[
    ("epoll", "level-triggered epoll, recv() and send()"),
    (
        "io_uring",
        "io_uring recv and send requests: one recv in flight per connection, its send on completion",
    ),
    (
        "io_uring-multishot",
        "io_uring multishot recv with a ring of provided buffers, a send per completion",
    ),
    (
        "kevent",
        "level-triggered KEVENT_POLL kevents (kevent crate), recv() and send()",
    ),
    (
        "kevent-socket",
        "level-triggered KEVENT_SOCKET kevents (kevent crate), recv() and send()",
    ),
    (
        "kevent-aio",
        "KEVENT_NAIO: one receive per connection that stays, a SEND and its ENABLE per message, in the wait",
    ),
    (
        "kevent-aio-once",
        "KEVENT_NAIO requests: one RECV in flight per connection, a SEND of its bytes on completion",
    ),
];

/// What the server publishes while it runs, in memory shared with the
/// driver (a `MAP_SHARED` mapping made before the fork).
#[repr(C)]
pub struct Counters {
    /// The server's system calls so far (waits, ctl, submits, recv,
    /// send), stored once per loop iteration.
    pub syscalls: AtomicU64,
}

/// The counters in a shared anonymous mapping, for a forked server.
pub struct SharedCounters {
    ptr: *mut Counters,
}

impl SharedCounters {
    pub fn new() -> io::Result<Self> {
        // SAFETY: a new anonymous mapping; zeroed memory is a valid
        // Counters (atomics of 0).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(SharedCounters { ptr: ptr.cast() })
    }

    pub fn get(&self) -> &Counters {
        // SAFETY: mapped for our lifetime; only atomics are accessed.
        unsafe { &*self.ptr }
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ptr.cast(), 4096) };
    }
}

/// Counts a loop's system calls and publishes the count.
pub struct Calls<'a> {
    pub n: u64,
    out: &'a AtomicU64,
}

impl<'a> Calls<'a> {
    pub fn new(out: &'a AtomicU64) -> Self {
        Calls { n: 0, out }
    }

    /// Once per loop iteration: a relaxed store of a local count.
    pub fn publish(&self) {
        self.out.store(self.n, Ordering::Relaxed);
    }
}

pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A connection error that only ends the connection (the client went
/// away), not the server.
pub fn is_disconnect(errno: i32) -> bool {
    matches!(errno, libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN)
}

/// A listening TCP socket on 127.0.0.1 (`port` 0: any free port), with a
/// backlog for every connection of a point.
pub fn listen(port: u16) -> io::Result<(OwnedFd, u16)> {
    // SAFETY: plain socket calls on a descriptor we own from here on.
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        cvt(libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        let mut addr = loopback(port);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        cvt(libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            len,
        ))?;
        cvt(libc::listen(fd.as_raw_fd(), 4096))?;
        let mut got = len;
        cvt(libc::getsockname(
            fd.as_raw_fd(),
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut got,
        ))?;
        Ok((fd, u16::from_be(addr.sin_port)))
    }
}

pub fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Non-blocking, and no Nagle delay (a closed loop of small messages).
pub fn tune(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl and setsockopt on a socket the caller owns.
    unsafe {
        let fl = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        cvt(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
        let one: libc::c_int = 1;
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
    }
    Ok(())
}

/// Accepts `n` connections (blocking), each made non-blocking.
pub fn accept(listener: &OwnedFd, n: usize) -> io::Result<Vec<OwnedFd>> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        // SAFETY: accept4 on our listener; the new descriptor is ours.
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        tune(fd.as_raw_fd())?;
        conns.push(fd);
    }
    Ok(conns)
}

/// `recv()` of up to `buf.len()` bytes.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for its length.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// `send()`s all of `buf`. A closed loop never has more than one message
/// of a connection in flight, so the first call takes it all; should it
/// not (another load generator), the rest goes out after `poll()`,
/// blocking the loop (correct, not fast).
pub fn send_all(fd: RawFd, mut buf: &[u8], calls: &mut Calls) -> io::Result<()> {
    while !buf.is_empty() {
        calls.n += 1;
        // SAFETY: buf is readable for its length.
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        match cvt_size(r) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                calls.n += 1;
                // SAFETY: one pollfd of ours.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The shape of every readiness backend's work on one ready connection:
/// one `recv()`, and a `send()` of what came. Returns `false` when the
/// connection is over (end of file, or the client reset it).
pub fn echo_ready(fd: RawFd, buf: &mut [u8], calls: &mut Calls) -> io::Result<bool> {
    calls.n += 1;
    match recv(fd, buf) {
        Ok(0) => Ok(false),
        Ok(n) => match send_all(fd, &buf[..n], calls) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error().is_some_and(is_disconnect) => Ok(false),
            Err(e) => Err(e),
        },
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(true)
        }
        Err(e) if e.raw_os_error().is_some_and(is_disconnect) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why `backend` cannot run here, or `None` if it can. Checked by the
/// driver before it forks a server (the row is then n/a).
pub fn unsupported(backend: &str) -> Option<String> {
    match backend {
        "epoll" => None,
        "io_uring" => uring::unsupported(false),
        "io_uring-multishot" => uring::unsupported(true),
        "kevent" | "kevent-socket" => kevent::features()
            .err()
            .map(|e| format!("no kevent in this kernel: {e}")),
        "kevent-aio" => kevent_aio::unsupported(true),
        "kevent-aio-once" => kevent_aio::unsupported(false),
        _ => Some(format!("no backend named '{backend}'")),
    }
}

/// Serves `conns` with `backend` until every client has closed its
/// connection. Single-threaded; publishes its system calls in `counters`.
pub fn serve(backend: &str, conns: Vec<OwnedFd>, counters: &Counters) -> io::Result<()> {
    let calls = Calls::new(&counters.syscalls);
    match backend {
        "epoll" => epoll::serve(conns, calls),
        "io_uring" => uring::serve(conns, calls, false),
        "io_uring-multishot" => uring::serve(conns, calls, true),
        "kevent" => kevent_ready::serve(conns, calls, false),
        "kevent-socket" => kevent_ready::serve(conns, calls, true),
        "kevent-aio" => kevent_aio::serve(conns, calls),
        "kevent-aio-once" => kevent_aio::serve_once(conns, calls),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no backend named '{backend}'"),
        )),
    }
}
