//! The mechanisms under comparison. Each is one module that describes
//! itself with [`Mechanism`] entries: for every workload, a constructor, or
//! the reason the workload has no natural form for it, and is listed in
//! [`all`].

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

mod epoll;
mod io_uring;
mod kevent;
mod kqueue;

/// Events taken per wait in the timers workload, by every mechanism
/// (io_uring's completion ring is sized and read to match), so that a
/// burst of 10,000 expirations takes the same number of waits.
pub(crate) const TIMER_BATCH: usize = 4096;

/// A workload's constructor for a mechanism, or why it has none.
pub type Support<F> = Result<F, &'static str>;

/// Builds a readiness watcher (level, edge, or oneshot).
pub type ReadinessFactory = fn() -> io::Result<Box<dyn Readiness>>;
/// Builds a set of periodic timers.
pub type TimersFactory = fn() -> io::Result<Box<dyn Timers>>;
/// Builds `threads` waiters that all wait for input on one fd.
pub type HerdFactory = fn(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>>;

/// One mechanism, as each workload uses it.
pub struct Mechanism {
    /// Its name in the report.
    pub name: &'static str,
    /// For the socket-pair workload (libevent bench.c) and, unless
    /// [`sockets_only`](Self::sockets_only), the pipes workload (level or
    /// edge; edge mechanisms drain).
    pub readiness: Support<ReadinessFactory>,
    /// `Some(why)`: `readiness` and `oneshot` watch sockets only (a pipe
    /// would fail, e.g. with `ENOTSOCK`), so the pipes workload has no
    /// form for this mechanism, for this reason.
    pub sockets_only: Option<&'static str>,
    /// For the oneshot re-arm workload: watches that disarm after each
    /// event, re-armed through [`Readiness::rearm`].
    pub oneshot: Support<ReadinessFactory>,
    /// For the many-timers workload.
    pub timers: Support<TimersFactory>,
    /// For the thundering-herd workload.
    pub herd: Support<HerdFactory>,
}

impl Mechanism {
    /// The constructor for the pipes workload: `readiness`, unless the
    /// mechanism watches sockets only.
    pub fn pipes(&self) -> Support<ReadinessFactory> {
        match self.sockets_only {
            Some(why) => Err(why),
            None => self.readiness,
        }
    }
}

/// Every mechanism, epoll (the reference of the ratios) first.
pub fn all() -> Vec<Mechanism> {
    let mut v = epoll::mechanisms();
    v.extend(kevent::mechanisms());
    v.extend(kqueue::mechanisms());
    v.extend(io_uring::mechanisms());
    v
}

/// A readiness mechanism watching the read ends of a workload's sockets.
pub trait Readiness {
    /// Starts watching `fd` for input; `token` comes back with its events.
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()>;
    /// Waits for at least one event; appends the tokens of ready fds.
    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()>;
    /// Whether it reports edges (the workload must then drain fds).
    fn edge(&self) -> bool {
        false
    }
    /// Oneshot watchers: arms again the watches of `tokens`, whose events
    /// have just been handled. Others need nothing.
    fn rearm(&mut self, _tokens: &[usize]) -> io::Result<()> {
        Ok(())
    }
    /// How many system calls of the mechanism (waits, and ctl or re-arm
    /// calls; `watch`'s too) it has made so far: the workloads report the
    /// difference over their timed loop, per event. A ring drained
    /// without a system call counts nothing. No default: every mechanism
    /// counts its own (the loop without one, `none`, makes none).
    fn syscalls(&self) -> u64;
}

/// A set of periodic timers.
pub trait Timers {
    /// Arms `count` timers that expire every `period`.
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()>;
    /// Waits (at most `timeout`) for expirations; returns how many were
    /// reported, counting the periods a timer missed.
    fn wait(&mut self, timeout: Duration) -> io::Result<u64>;
}

/// One thread's handle on a mechanism that several threads wait on.
pub trait HerdWaiter: Send {
    /// Blocks until the watched fd is reported (or, for shared state, until
    /// this thread is handed an event).
    fn wait(&mut self) -> io::Result<()>;
}

pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
