//! Process exits and signals: kevent's KEVENT_PROC and KEVENT_SIGNAL
//! against what Linux offers today (a pidfd in epoll with waitid(), a
//! signalfd in epoll). Only `kevent` and `epoll` have these rows; each
//! loop here holds both forms, picked by the mechanism's name.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use kevent::{Events, Kevent, Queue};

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn epoll_wait_one(ep: &OwnedFd) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    loop {
        // SAFETY: one event into our struct.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), &mut ev, 1, -1) };
        if n == 1 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if n < 0 && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn epoll_new() -> io::Result<OwnedFd> {
    // SAFETY: a new descriptor, ours.
    let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } as libc::c_long)?;
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn epoll_add(ep: &OwnedFd, fd: i32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: plain system call on our struct.
    check(
        unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }
            as libc::c_long,
    )?;
    Ok(())
}

/// `n` children that exit at once (fork + _exit), one at a time, each
/// reported and reaped: `kevent` adds its pidfd as a KEVENT_PROC kevent
/// (the status comes in the event) and reaps it with waitpid(); `epoll`
/// adds the pidfd to an epoll set and reads the status with
/// waitid(P_PIDFD), which reaps. Returns the time per exit.
pub fn proc_exits(kevent: bool, n: usize) -> io::Result<Duration> {
    let q = if kevent { Some(Queue::new()?) } else { None };
    let ep = if kevent { None } else { Some(epoll_new()?) };
    let mut events = Events::with_capacity(4);
    let start = Instant::now();
    for i in 0..n {
        // SAFETY: the child only calls _exit().
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child at once.
            unsafe { libc::_exit((i & 0x7f) as i32) };
        }
        check(pid as libc::c_long)?;
        // SAFETY: a new descriptor, ours.
        let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
        // SAFETY: as above.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let status = if let Some(q) = &q {
            q.add(Kevent::process(pidfd.as_fd()).oneshot())?;
            q.wait(&mut events, None)?;
            let status = events.iter().next().and_then(|e| e.exit_status());
            // SAFETY: reaps our child.
            check(unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) } as libc::c_long)?;
            status
        } else {
            let ep = ep.as_ref().unwrap();
            epoll_add(ep, fd as i32)?;
            epoll_wait_one(ep)?;
            // SAFETY: writes our siginfo; the pidfd is ours.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            check(
                unsafe { libc::waitid(libc::P_PIDFD, fd as u32, &mut info, libc::WEXITED) }
                    as libc::c_long,
            )?;
            // SAFETY: a CLD_EXITED siginfo carries the status.
            Some(unsafe { info.si_status() } << 8)
        };
        if status.map(|s| libc::WEXITSTATUS(s)) != Some((i & 0x7f) as i32) {
            return Err(io::Error::other(format!("child {i}: status {status:?}")));
        }
        drop(pidfd); // closing it removes it from the epoll set
    }
    Ok(start.elapsed() / n as u32)
}

/// How the signals of the signals workload are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignalSend {
    /// `SIGUSR1`, sent by the collecting thread to itself (`tgkill`), each
    /// collected before the next.
    UsrOneByOne,
    /// `SIGRTMIN` (queued: every send is one pending instance), sent by
    /// the collecting thread to itself in bursts of this many, each burst
    /// collected before the next: one report of many signals.
    RtBursts(usize),
    /// `SIGRTMIN` sent to the collecting thread (`tgkill`) by this many
    /// other threads, each sending its share as fast as it can while the
    /// collector takes what is pending.
    RtThreads(usize),
}

impl SignalSend {
    /// The signal sent.
    pub fn signo(self) -> libc::c_int {
        match self {
            SignalSend::UsrOneByOne => libc::SIGUSR1,
            _ => libc::SIGRTMIN(),
        }
    }

    /// Its CSV parameters (`signal=...;send=...`).
    pub fn params(self) -> String {
        match self {
            SignalSend::UsrOneByOne => "signal=SIGUSR1;send=one-by-one".into(),
            SignalSend::RtBursts(b) => format!("signal=SIGRTMIN;send=bursts-of-{b}"),
            SignalSend::RtThreads(t) => format!("signal=SIGRTMIN;send={t}-threads"),
        }
    }
}

/// What a signals loop measured.
pub struct SigRun {
    /// Time per signal, from the first send to the last collected.
    pub per_signal: Duration,
    /// The collector's system calls (kevent: waits; epoll: waits and
    /// signalfd reads), in all.
    pub syscalls: u64,
    /// Signals collected: the kevent reports' counts, or the siginfos
    /// read from the signalfd.
    pub collected: u64,
}

/// siginfos taken per signalfd read (the burst or more).
const SIGINFOS: usize = 64;

/// Raises RLIMIT_SIGPENDING so that `n` queued signals fit (root may;
/// others keep their limit, which a few thousand fit in on most systems).
fn raise_sigpending(n: usize) {
    let want = (n as libc::rlim_t).saturating_mul(2).max(1024);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on our own struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_SIGPENDING, &mut lim) != 0 || lim.rlim_cur >= want {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_SIGPENDING, &raised) != 0 {
            lim.rlim_cur = lim.rlim_max.min(want);
            libc::setrlimit(libc::RLIMIT_SIGPENDING, &lim);
        }
    }
}

/// Sends `signo` to thread `tid` of process `pid`; a full signal queue
/// (`EAGAIN`) is an error: a retry would count twice in kevent's count.
fn tgkill(pid: libc::pid_t, tid: libc::pid_t, signo: libc::c_int) -> io::Result<()> {
    // SAFETY: signals a thread of ours, which blocks `signo`.
    check(unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signo) })
        .map(drop)
        .map_err(|e| io::Error::new(e.kind(), format!("tgkill: {e} (RLIMIT_SIGPENDING?)")))
}

/// The collecting side: a KEVENT_SIGNAL kevent with CONSUME, or a
/// signalfd in an epoll set.
enum Collector {
    Kevent(Queue, Events),
    Epoll(OwnedFd, OwnedFd, Vec<libc::signalfd_siginfo>),
}

impl Collector {
    fn new(kevent: bool, signo: libc::c_int, set: &libc::sigset_t) -> io::Result<Self> {
        if kevent {
            let q = Queue::new()?;
            q.add(Kevent::signal(signo).consume())?;
            return Ok(Collector::Kevent(q, Events::with_capacity(4)));
        }
        let ep = epoll_new()?;
        // SAFETY: a new descriptor, ours.
        let fd = check(
            unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) }
                as libc::c_long,
        )?;
        // SAFETY: as above.
        let sfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        epoll_add(&ep, fd as i32)?;
        // SAFETY: plain integers, zero is valid.
        let infos = vec![unsafe { std::mem::zeroed() }; SIGINFOS];
        Ok(Collector::Epoll(ep, sfd, infos))
    }

    /// Waits for signals and takes them; returns how many it took and
    /// the system calls it made.
    fn collect(&mut self) -> io::Result<(u64, u64)> {
        match self {
            Collector::Kevent(q, events) => {
                q.wait(events, None)?;
                Ok((events.iter().map(|e| e.count()).sum(), 1))
            }
            Collector::Epoll(ep, sfd, infos) => {
                epoll_wait_one(ep)?;
                let size = std::mem::size_of::<libc::signalfd_siginfo>();
                // SAFETY: reads whole siginfos into our buffer.
                let got = unsafe {
                    libc::read(
                        sfd.as_raw_fd(),
                        infos.as_mut_ptr().cast(),
                        size * infos.len(),
                    )
                };
                let got = check(got as libc::c_long)? as usize / size;
                Ok((got as u64, 2))
            }
        }
    }
}

/// `n` signals sent as `send` says, blocked, and collected by this
/// thread: `kevent` with a KEVENT_SIGNAL kevent with CONSUME (the report
/// takes as many pending instances as it counts), `epoll` with a signalfd
/// in an epoll set, read after each wake-up (up to 64 siginfos a read).
/// Every signal must be collected once and none left pending: an error
/// otherwise.
pub fn signals(kevent: bool, n: usize, send: SignalSend) -> io::Result<SigRun> {
    let signo = send.signo();
    raise_sigpending(n);
    // SAFETY: plain signal-mask calls on our sets.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signo);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let result = signals_blocked(kevent, n, send, &set);
    // SAFETY: takes what is left pending and unblocks.
    let left = unsafe {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut left = 0;
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == signo {
            left += 1;
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        left
    };
    let r = result?;
    if r.collected != n as u64 || left != 0 {
        return Err(io::Error::other(format!(
            "{send:?}: {n} sent, {} collected, {left} left pending",
            r.collected
        )));
    }
    Ok(r)
}

fn signals_blocked(
    kevent: bool,
    n: usize,
    send: SignalSend,
    set: &libc::sigset_t,
) -> io::Result<SigRun> {
    let signo = send.signo();
    let mut c = Collector::new(kevent, signo, set)?;
    // SAFETY: plain system calls.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let (mut collected, mut syscalls) = (0u64, 0u64);
    let mut take = |c: &mut Collector, collected: &mut u64| -> io::Result<()> {
        let (got, calls) = c.collect()?;
        *collected += got;
        syscalls += calls;
        Ok(())
    };
    let start;
    match send {
        SignalSend::UsrOneByOne | SignalSend::RtBursts(_) => {
            let burst = match send {
                SignalSend::RtBursts(b) => b.clamp(1, SIGINFOS) as u64,
                _ => 1,
            };
            start = Instant::now();
            let mut sent = 0;
            while sent < n as u64 {
                let k = burst.min(n as u64 - sent);
                for _ in 0..k {
                    tgkill(pid, tid, signo)?;
                }
                sent += k;
                while collected < sent {
                    take(&mut c, &mut collected)?;
                }
            }
        }
        SignalSend::RtThreads(threads) => {
            let threads = threads.max(1);
            let go = std::sync::Barrier::new(threads + 1);
            start = std::thread::scope(|s| -> io::Result<Instant> {
                let senders: Vec<_> = (0..threads)
                    .map(|i| {
                        let share = n / threads + usize::from(i < n % threads);
                        let go = &go;
                        // The thread inherits the mask: the signal blocked.
                        s.spawn(move || -> io::Result<()> {
                            go.wait();
                            (0..share).try_for_each(|_| tgkill(pid, tid, signo))
                        })
                    })
                    .collect();
                go.wait();
                let start = Instant::now();
                while collected < n as u64 {
                    // Every sender done and nothing pending: what was sent
                    // is collected (fewer than n if a sender failed).
                    if senders.iter().all(|t| t.is_finished()) && !has_pending(set) {
                        break;
                    }
                    take(&mut c, &mut collected)?;
                }
                for t in senders {
                    t.join().expect("a sender panicked")?;
                }
                Ok(start)
            })?;
        }
    }
    let elapsed = start.elapsed();
    Ok(SigRun {
        per_signal: elapsed / n.max(1) as u32,
        syscalls,
        collected,
    })
}

/// Whether a signal of `set` is pending for this thread or its process.
fn has_pending(set: &libc::sigset_t) -> bool {
    // SAFETY: plain system calls on our sets.
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        (1..libc::SIGRTMAX())
            .any(|s| libc::sigismember(set, s) == 1 && libc::sigismember(&pending, s) == 1)
    }
}
