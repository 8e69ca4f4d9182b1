//! epoll: level- and edge-triggered readiness, EPOLLONESHOT re-armed with
//! one `epoll_ctl(MOD)` per event, timerfd timers, and for the herd one
//! shared epoll fd, or one per thread with EPOLLEXCLUSIVE.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{cvt, HerdWaiter, Mechanism, Readiness, Timers};

pub fn mechanisms() -> Vec<Mechanism> {
    vec![
        Mechanism {
            name: "epoll",
            readiness: Ok(|| Ok(Box::new(Epoll::new(Mode::Level)?))),
            sockets_only: None,
            oneshot: Ok(|| Ok(Box::new(Epoll::new(Mode::Oneshot)?))),
            timers: Ok(|| Ok(Box::new(TimerFds::new(false)?))),
            herd: Ok(|fd, threads| shared_herd(fd, threads, 0)),
        },
        Mechanism {
            name: "epoll-et",
            readiness: Ok(|| Ok(Box::new(Epoll::new(Mode::Edge)?))),
            sockets_only: None,
            oneshot: Err("EPOLLONESHOT re-arms the same way with or without EPOLLET: see epoll"),
            timers: Ok(|| Ok(Box::new(TimerFds::new(true)?))),
            herd: Ok(|fd, threads| shared_herd(fd, threads, libc::EPOLLET as u32)),
        },
        Mechanism {
            name: "epoll-exclusive",
            readiness: Err("EPOLLEXCLUSIVE only changes wake-ups across several epoll fds: one thread is epoll"),
            sockets_only: None,
            oneshot: Err("EPOLLEXCLUSIVE cannot be combined with EPOLLONESHOT"),
            timers: Err("EPOLLEXCLUSIVE only changes wake-ups across several epoll fds: one thread is epoll"),
            herd: Ok(exclusive_herd),
        },
    ]
}

/// A `timespec` of `d`.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the new descriptor is ours.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: just created, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn epoll_ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` lives across the call.
    cvt(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) })?;
    Ok(())
}

/// Waits on `epfd` (`timeout_ms` -1: forever); returns how many events
/// it filled in.
fn epoll_wait(epfd: RawFd, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `events` has room for its length.
    let n = cvt(unsafe {
        libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, timeout_ms)
    })?;
    Ok(n as usize)
}

fn event_buffer(len: usize) -> Vec<libc::epoll_event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; len]
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Level,
    Edge,
    Oneshot,
}

/// epoll watching sockets.
struct Epoll {
    epfd: OwnedFd,
    mode: Mode,
    events: Vec<libc::epoll_event>,
    /// The fd of every token, for EPOLL_CTL_MOD.
    fds: Vec<RawFd>,
    /// System calls made (Readiness::syscalls).
    calls: u64,
}

impl Epoll {
    fn new(mode: Mode) -> io::Result<Self> {
        Ok(Epoll {
            epfd: epoll_create()?,
            mode,
            events: event_buffer(256),
            fds: Vec::new(),
            calls: 0,
        })
    }

    fn flags(&self) -> u32 {
        libc::EPOLLIN as u32
            | match self.mode {
                Mode::Level => 0,
                Mode::Edge => libc::EPOLLET as u32,
                Mode::Oneshot => libc::EPOLLONESHOT as u32,
            }
    }
}

impl Readiness for Epoll {
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        self.calls += 1;
        epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            self.flags(),
            token as u64,
        )
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.calls += 1;
        let n = epoll_wait(self.epfd.as_raw_fd(), &mut self.events, -1)?;
        ready.extend(self.events[..n].iter().map(|e| e.u64 as usize));
        Ok(())
    }

    fn edge(&self) -> bool {
        self.mode == Mode::Edge
    }

    fn syscalls(&self) -> u64 {
        self.calls
    }

    fn rearm(&mut self, tokens: &[usize]) -> io::Result<()> {
        if self.mode != Mode::Oneshot {
            return Ok(());
        }
        // epoll has no batch: one system call per event.
        for &t in tokens {
            self.calls += 1;
            epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                self.fds[t],
                self.flags(),
                t as u64,
            )?;
        }
        Ok(())
    }
}

/// timerfds, each watched by epoll.
struct TimerFds {
    epfd: OwnedFd,
    edge: bool,
    timers: Vec<OwnedFd>,
    events: Vec<libc::epoll_event>,
}

impl TimerFds {
    fn new(edge: bool) -> io::Result<Self> {
        Ok(TimerFds {
            epfd: epoll_create()?,
            edge,
            timers: Vec::new(),
            events: event_buffer(super::TIMER_BATCH),
        })
    }
}

impl Timers for TimerFds {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: timespec(period),
            it_value: timespec(period),
        };
        let flags = libc::EPOLLIN as u32 | if self.edge { libc::EPOLLET as u32 } else { 0 };
        for _ in 0..count {
            // SAFETY: plain system call; the new descriptor is ours.
            let fd = cvt(unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            })?;
            // SAFETY: just created, owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: `spec` lives across the call; no old value wanted.
            cvt(unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) })?;
            epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                flags,
                self.timers.len() as u64,
            )?;
            self.timers.push(fd);
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        let n = epoll_wait(
            self.epfd.as_raw_fd(),
            &mut self.events,
            timeout.as_millis() as i32,
        )?;
        let mut expirations = 0;
        for e in &self.events[..n] {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into `count`.
            let r = unsafe {
                libc::read(
                    self.timers[e.u64 as usize].as_raw_fd(),
                    (&mut count as *mut u64).cast(),
                    8,
                )
            };
            if r == 8 {
                expirations += count;
            }
        }
        Ok(expirations)
    }
}

/// A thread's wait on an epoll fd: shared by all threads, or its own.
struct EpollWaiter {
    epfd: Arc<OwnedFd>,
    events: Vec<libc::epoll_event>,
}

impl HerdWaiter for EpollWaiter {
    fn wait(&mut self) -> io::Result<()> {
        epoll_wait(self.epfd.as_raw_fd(), &mut self.events, -1).map(drop)
    }
}

/// One epoll fd watching `fd`, waited on by every thread.
fn shared_herd(fd: RawFd, threads: usize, extra: u32) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    let epfd = Arc::new(epoll_create()?);
    epoll_ctl(
        epfd.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        fd,
        libc::EPOLLIN as u32 | extra,
        0,
    )?;
    Ok((0..threads)
        .map(|_| {
            Box::new(EpollWaiter {
                epfd: Arc::clone(&epfd),
                events: event_buffer(8),
            }) as Box<dyn HerdWaiter>
        })
        .collect())
}

/// One epoll fd per thread, each watching `fd` with EPOLLEXCLUSIVE: the
/// kernel wakes one (or a few) of them per event.
fn exclusive_herd(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    (0..threads)
        .map(|_| {
            let epfd = Arc::new(epoll_create()?);
            let flags = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32;
            epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, flags, 0)?;
            Ok(Box::new(EpollWaiter {
                epfd,
                events: event_buffer(8),
            }) as Box<dyn HerdWaiter>)
        })
        .collect()
}
