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

/// `n` SIGUSR1s sent by this thread to itself (tgkill) while blocked, each
/// collected before the next: `kevent` with a KEVENT_SIGNAL kevent with
/// CONSUME (the report takes the pending signal), `epoll` with a signalfd
/// in an epoll set, read after each wake-up. Returns the time per signal.
pub fn signals(kevent: bool, n: usize) -> io::Result<Duration> {
    // SAFETY: plain signal-mask calls on our sets.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let q = if kevent { Some(Queue::new()?) } else { None };
    let (ep, sfd) = if kevent {
        (None, None)
    } else {
        let ep = epoll_new()?;
        // SAFETY: a new descriptor, ours.
        let fd = check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) } as libc::c_long)?;
        // SAFETY: as above.
        let sfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        epoll_add(&ep, fd as i32)?;
        (Some(ep), Some(sfd))
    };
    if let Some(q) = &q {
        q.add(Kevent::signal(libc::SIGUSR1).consume())?;
    }
    let mut events = Events::with_capacity(4);
    // SAFETY: plain system calls.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: signals this thread, which blocks SIGUSR1.
        check(unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) })?;
        if let Some(q) = &q {
            q.wait(&mut events, None)?;
        } else {
            epoll_wait_one(ep.as_ref().unwrap())?;
            // SAFETY: reads one siginfo into our buffer.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of_val(&info);
            let fd = sfd.as_ref().unwrap().as_raw_fd();
            check(
                unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) }
                    as libc::c_long,
            )?;
        }
    }
    let per = start.elapsed() / n as u32;
    // SAFETY: drops what is left pending (nothing, if every report took
    // its signal) and unblocks.
    unsafe {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGUSR1 {}
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    Ok(per)
}
