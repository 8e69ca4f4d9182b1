//! io_uring: multishot poll requests for readiness, single-shot poll
//! requests re-armed in one submission per wake-up for the oneshot
//! workload, multishot timeouts for timers, and a ring per thread for the
//! herd (a ring has one consumer).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::{HerdWaiter, Mechanism, Readiness, Timers, TIMER_BATCH};

pub fn mechanisms() -> Vec<Mechanism> {
    vec![Mechanism {
        name: "io_uring",
        readiness: Ok(|| Ok(Box::new(IoUringPoll::new(true)?))),
        sockets_only: None,
        oneshot: Ok(|| Ok(Box::new(IoUringPoll::new(false)?))),
        timers: Ok(|| Ok(Box::new(Timeouts::new()?))),
        herd: Ok(herd),
    }]
}

/// Queues `sqe`, submitting first if the submission queue is full;
/// returns how many system calls that took.
fn push(ring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<u64> {
    let mut calls = 0;
    // SAFETY: every request of this module refers to no memory but
    // `Timeouts::period`, which lives as long as the ring.
    while unsafe { ring.submission().push(sqe) }.is_err() {
        calls += 1;
        ring.submit()?;
    }
    Ok(calls)
}

fn poll_sqe(fd: RawFd, token: usize, multishot: bool) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
        .multi(multishot)
        .build()
        .user_data(token as u64)
}

/// Poll requests on sockets: multishot (every wake-up of the file posts a
/// completion, edge-like, so the workload drains), or single-shot.
struct IoUringPoll {
    ring: IoUring,
    multishot: bool,
    /// The fd of every token, to re-arm a poll that ended.
    fds: Vec<RawFd>,
    /// System calls made (Readiness::syscalls).
    calls: u64,
}

impl IoUringPoll {
    fn new(multishot: bool) -> io::Result<Self> {
        Ok(IoUringPoll {
            ring: IoUring::builder().setup_cqsize(4096).build(256)?,
            multishot,
            fds: Vec::new(),
            calls: 0,
        })
    }
}

impl Readiness for IoUringPoll {
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        self.calls += push(&mut self.ring, &poll_sqe(fd, token, self.multishot))?;
        Ok(())
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        // Also submits the re-armed requests queued since the last wait.
        // With want = 1 the crate always enters the kernel.
        self.calls += 1;
        self.ring.submit_and_wait(1)?;
        let mut ended = Vec::new();
        for cqe in self.ring.completion() {
            if cqe.result() < 0 {
                return Err(io::Error::from_raw_os_error(-cqe.result()));
            }
            let token = cqe.user_data() as usize;
            ready.push(token);
            // The kernel may end a multishot poll (it says so by leaving
            // out IORING_CQE_F_MORE): arm it again.
            if self.multishot && !io_uring::cqueue::more(cqe.flags()) {
                ended.push(token);
            }
        }
        for token in ended {
            self.watch(self.fds[token], token)?;
        }
        Ok(())
    }

    fn edge(&self) -> bool {
        self.multishot
    }

    fn rearm(&mut self, tokens: &[usize]) -> io::Result<()> {
        if self.multishot {
            return Ok(());
        }
        // Queued here, submitted by the next wait's one system call.
        for &t in tokens {
            self.calls += push(&mut self.ring, &poll_sqe(self.fds[t], t, false))?;
        }
        Ok(())
    }

    fn syscalls(&self) -> u64 {
        self.calls
    }
}

/// Multishot timeouts: each expiration posts a completion. The kernel
/// (6.12) re-arms one relative to when its completion was posted and does
/// not count missed periods: the `delivered` metric shows it.
struct Timeouts {
    ring: IoUring,
    /// Read by the kernel when the requests are submitted.
    period: Box<types::Timespec>,
}

impl Timeouts {
    fn new() -> io::Result<Self> {
        Ok(Timeouts {
            // Room for one completion per timer of a 10,000-timer burst.
            ring: IoUring::builder().setup_cqsize(16384).build(1024)?,
            period: Box::new(types::Timespec::new()),
        })
    }
}

impl Timers for Timeouts {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        *self.period = types::Timespec::from(period);
        let sqe = opcode::Timeout::new(&*self.period)
            .count(0)
            .flags(types::TimeoutFlags::MULTISHOT)
            .build();
        for id in 0..count {
            push(&mut self.ring, &sqe.clone().user_data(id as u64))?;
        }
        self.ring.submit()?;
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) => return Err(e),
        }
        let mut expirations = 0;
        // As many per wait as the other mechanisms take; the rest stay
        // for the next wait, which then returns at once.
        for cqe in self.ring.completion().take(TIMER_BATCH) {
            // -ETIME is a timeout's normal completion.
            if cqe.result() != -libc::ETIME {
                return Err(io::Error::from_raw_os_error(-cqe.result()));
            }
            expirations += 1;
        }
        Ok(expirations)
    }
}

/// A thread's own ring with a multishot poll on the shared fd.
struct RingWaiter {
    ring: IoUring,
    fd: RawFd,
}

impl HerdWaiter for RingWaiter {
    fn wait(&mut self) -> io::Result<()> {
        self.ring.submit_and_wait(1)?;
        let mut ended = false;
        for cqe in self.ring.completion() {
            if cqe.result() < 0 {
                return Err(io::Error::from_raw_os_error(-cqe.result()));
            }
            ended |= !io_uring::cqueue::more(cqe.flags());
        }
        if ended {
            push(&mut self.ring, &poll_sqe(self.fd, 0, true))?;
        }
        Ok(())
    }
}

/// A ring per thread, each polling `fd`: every ring sees every event.
fn herd(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    (0..threads)
        .map(|_| {
            let mut ring = IoUring::builder().build(8)?;
            push(&mut ring, &poll_sqe(fd, 0, true))?;
            ring.submit()?;
            Ok(Box::new(RingWaiter { ring, fd }) as Box<dyn HerdWaiter>)
        })
        .collect()
}
