//! kqueue: FreeBSD's `kqueue()`/`kevent()` as the kqueue crate
//! (`libkqueue`, kqueue/) implements them on the kevent queue, called
//! through its C entry points `kqueue::kqueue` and `kqueue::kevent` as a C
//! program would. `EVFILT_READ` knotes (level-triggered), `EV_DISPATCH`
//! knotes re-enabled with `EV_ENABLE` changes passed with the next wait
//! (the kqueue idiom: changes and wait in one `kevent()`), `EV_ONESHOT`
//! knotes added again the same way, `EVFILT_TIMER` knotes, and one kqueue
//! shared by the herd.
//!
//! System calls are the library's own count (`kqueue::queue::kernel_calls`:
//! every `kevent_ctl()` and `kevent_get_events()` it makes), not the
//! number of `kevent()` calls: one `kevent()` with changes and a wait
//! costs at least two.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use kqueue::abi::{
    Kevent, EVFILT_READ, EVFILT_TIMER, EV_ADD, EV_DISPATCH, EV_ENABLE, EV_ONESHOT, NOTE_NSECONDS,
};

use super::{cvt, HerdWaiter, Mechanism, Readiness, Timers, TIMER_BATCH};

pub fn mechanisms() -> Vec<Mechanism> {
    vec![
        Mechanism {
            name: "kqueue",
            readiness: Ok(|| Ok(Box::new(KqPoll::new(Mode::Level)?))),
            sockets_only: None,
            oneshot: Ok(|| Ok(Box::new(KqPoll::new(Mode::Dispatch)?))),
            timers: Ok(|| Ok(Box::new(KqTimers::new()?))),
            herd: Ok(herd),
        },
        Mechanism {
            name: "kqueue-oneshot",
            readiness: Err("EV_ONESHOT only changes how a watch is re-armed: see kqueue"),
            sockets_only: None,
            oneshot: Ok(|| Ok(Box::new(KqPoll::new(Mode::Oneshot)?))),
            timers: Err("EV_ONESHOT timers fire once: the timers workload is periodic, see kqueue"),
            herd: Err("the herd measures the level-triggered default: see kqueue"),
        },
    ]
}

/// Events taken per wait in the socket workloads (as for epoll and kevent).
const BATCH: usize = 256;

/// The changes passed to one `kevent()` when arming timers (the library
/// splits them at the kernel's `max_batch`).
const TIMER_CHANGES: usize = 1024;

/// The library's system calls so far (all threads).
fn calls() -> u64 {
    kqueue::queue::kernel_calls()
}

fn zeroed() -> Kevent {
    Kevent::new(0, 0, 0, 0, 0, 0)
}

/// An owned kqueue descriptor.
struct Kq(RawFd);

impl Kq {
    fn new() -> io::Result<Self> {
        Ok(Kq(cvt(kqueue::kqueue())?))
    }

    /// `kevent(kq, changes, events, timeout)`: the number of events.
    fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        // SAFETY: both lists are live slices of their lengths; the
        // timespec outlives the call.
        let n = unsafe {
            kqueue::kevent(
                self.0,
                if changes.is_empty() {
                    ptr::null()
                } else {
                    changes.as_ptr()
                },
                changes.len() as libc::c_int,
                if events.is_empty() {
                    ptr::null_mut()
                } else {
                    events.as_mut_ptr()
                },
                events.len() as libc::c_int,
                ts.as_ref().map_or(ptr::null(), |t| t as *const _),
            )
        };
        Ok(cvt(n)? as usize)
    }

    /// Applies `changes` without waiting (no event list: `kevent()` then
    /// fails with the first change's error, and takes no events).
    fn change(&self, changes: &[Kevent]) -> io::Result<()> {
        self.kevent(changes, &mut [], None).map(drop)
    }
}

impl Drop for Kq {
    fn drop(&mut self) {
        // SAFETY: our descriptor.
        unsafe { libc::close(self.0) };
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Level,
    /// `EV_DISPATCH`, re-enabled with `EV_ENABLE` changes.
    Dispatch,
    /// `EV_ONESHOT`, added again with `EV_ADD` changes.
    Oneshot,
}

/// `EVFILT_READ` knotes on the workload's descriptors.
struct KqPoll {
    kq: Kq,
    mode: Mode,
    events: Vec<Kevent>,
    /// The fd of every token, to re-arm its knote.
    fds: Vec<RawFd>,
    /// Re-arming changes, passed with the next wait.
    changes: Vec<Kevent>,
}

impl KqPoll {
    fn new(mode: Mode) -> io::Result<Self> {
        Ok(KqPoll {
            kq: Kq::new()?,
            mode,
            events: vec![zeroed(); BATCH],
            fds: Vec::new(),
            changes: Vec::with_capacity(BATCH),
        })
    }

    fn flags(&self) -> u16 {
        match self.mode {
            Mode::Level => 0,
            Mode::Dispatch => EV_DISPATCH,
            Mode::Oneshot => EV_ONESHOT,
        }
    }
}

impl Readiness for KqPoll {
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        let ch = Kevent::new(fd as usize, EVFILT_READ, EV_ADD | self.flags(), 0, 0, token);
        self.kq.change(&[ch])
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        // The re-arming changes go with the wait, as a kqueue program
        // passes them: the library applies them (one batched
        // kevent_ctl()), then waits.
        let n = self.kq.kevent(&self.changes, &mut self.events, None)?;
        self.changes.clear();
        for e in &self.events[..n] {
            if e.flags & kqueue::abi::EV_ERROR != 0 {
                return Err(io::Error::from_raw_os_error(e.data as i32));
            }
            ready.push(e.udata as usize);
        }
        Ok(())
    }

    fn rearm(&mut self, tokens: &[usize]) -> io::Result<()> {
        let flags = match self.mode {
            Mode::Level => return Ok(()),
            // A reported DISPATCH knote is disabled, not deleted.
            Mode::Dispatch => EV_ENABLE | EV_DISPATCH,
            // A reported ONESHOT knote is deleted: added again.
            Mode::Oneshot => EV_ADD | EV_ONESHOT,
        };
        for &t in tokens {
            self.changes.push(Kevent::new(
                self.fds[t] as usize,
                EVFILT_READ,
                flags,
                0,
                0,
                t,
            ));
        }
        Ok(())
    }

    fn syscalls(&self) -> u64 {
        calls()
    }
}

/// Periodic `EVFILT_TIMER` knotes (`NOTE_NSECONDS`).
struct KqTimers {
    kq: Kq,
    events: Vec<Kevent>,
}

impl KqTimers {
    fn new() -> io::Result<Self> {
        Ok(KqTimers {
            kq: Kq::new()?,
            events: vec![zeroed(); TIMER_BATCH],
        })
    }
}

impl Timers for KqTimers {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        let ns = period.as_nanos() as i64;
        let timers: Vec<_> = (0..count)
            .map(|id| Kevent::new(id, EVFILT_TIMER, EV_ADD, NOTE_NSECONDS, ns, id))
            .collect();
        for chunk in timers.chunks(TIMER_CHANGES) {
            self.kq.change(chunk)?;
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        let n = self.kq.kevent(&[], &mut self.events, Some(timeout))?;
        // data: the expirations since the last report.
        Ok(self.events[..n].iter().map(|e| e.data as u64).sum())
    }
}

/// A thread's wait on the shared kqueue.
struct KqWaiter {
    kq: Arc<Kq>,
    events: Vec<Kevent>,
}

impl HerdWaiter for KqWaiter {
    fn wait(&mut self) -> io::Result<()> {
        self.kq.kevent(&[], &mut self.events, None).map(drop)
    }
}

/// One kqueue with a level-triggered `EVFILT_READ` knote on `fd`, waited
/// on by every thread.
fn herd(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    let kq = Arc::new(Kq::new()?);
    kq.change(&[Kevent::new(fd as usize, EVFILT_READ, EV_ADD, 0, 0, 0)])?;
    Ok((0..threads)
        .map(|_| {
            Box::new(KqWaiter {
                kq: Arc::clone(&kq),
                events: vec![zeroed(); 8],
            }) as Box<dyn HerdWaiter>
        })
        .collect())
}
