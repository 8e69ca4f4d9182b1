//! `EVFILT_PROC` on pidfds: `pidfd_open(pid)` watched as a `KEVENT_POLL`
//! kevent (readable when the process exits). (The kernel's `KEVENT_PROC`
//! source, type 8, is reserved; when it arrives this module changes.)
//!
//! Only `NOTE_EXIT` is supported (`NOTE_FORK`, `NOTE_EXEC` and
//! `NOTE_TRACK` are refused with `EINVAL`). The exit status comes from
//! `waitid(P_PIDFD, ..., WEXITED | WNOWAIT)`, which works for children
//! of the caller only (the child stays a zombie for the application's own
//! `wait`); for other processes `data` is 0.

use std::collections::HashMap;
use std::os::fd::RawFd;

use kevent_sys as sys;
use libc::{c_int, pid_t};

use crate::abi::*;
use crate::queue::{ctl_one, ukevent, unsafe_zeroed, Out, TAG_PROC};
use crate::signal::errno;
use crate::translate::{wait_status, Knote};

/// The watched processes of one queue: pid -> (pidfd, knote).
#[derive(Default)]
pub struct Procs {
    map: HashMap<pid_t, (RawFd, Knote)>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (fd, _) in self.map.values() {
            // SAFETY: our own pidfds.
            unsafe { libc::close(*fd) };
        }
    }
}

const NOTE_UNSUPPORTED: u32 = 0x4000_0000 | 0x2000_0000 | 0x7;

impl Procs {
    /// One `EVFILT_PROC` change.
    pub fn change(&mut self, kq: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let pid = pid_t::try_from(kev.ident).map_err(|_| libc::ESRCH)?;
        if pid <= 0 {
            return Err(libc::ESRCH);
        }
        let f = kev.flags;
        if f & EV_DELETE != 0 {
            let (fd, _) = self.map.remove(&pid).ok_or(libc::ENOENT)?;
            // SAFETY: our pidfd; KEVENT_REQ_FD_CLOSE removes its kevent.
            unsafe { libc::close(fd) };
            return Ok(());
        }
        if f & EV_ADD != 0 {
            if kev.fflags & NOTE_UNSUPPORTED != 0 {
                return Err(libc::EINVAL);
            }
            if let Some((fd, k)) = self.map.get_mut(&pid) {
                k.udata = kev.udata as usize;
                k.fflags = kev.fflags;
                let fd = *fd;
                return set_enabled(kq, fd, k, f);
            }
            // SAFETY: pidfd_open(pid, 0) returns a new descriptor or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
            if fd < 0 {
                return Err(errno());
            }
            // SAFETY: our new pidfd.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            let mut k = Knote::new(kev);
            let mut req = sys::KEVENT_REQ_FD_CLOSE;
            if !k.enabled {
                req |= sys::KEVENT_REQ_DISABLED;
            }
            let user_data = TAG_PROC | ((pid as u32 as u64) << 32);
            let u = ukevent(
                fd as u64,
                sys::KEVENT_POLL,
                libc::EPOLLIN as u32,
                req,
                0,
                user_data,
            );
            if let Err(e) = ctl_one(kq, sys::KEVENT_CTL_ADD, u) {
                // SAFETY: our pidfd.
                unsafe { libc::close(fd) };
                return Err(e);
            }
            k.flags |= EV_CLEAR;
            self.map.insert(pid, (fd, k));
            return Ok(());
        }
        let (fd, k) = self.map.get_mut(&pid).ok_or(libc::ENOENT)?;
        let fd = *fd;
        set_enabled(kq, fd, k, f)
    }

    /// The process `pid` exited: report `NOTE_EXIT` with its status.
    pub fn collect(&mut self, _kq: RawFd, pid: pid_t, out: &mut Out<'_>) {
        let Some(&(fd, k)) = self.map.get(&pid) else {
            return;
        };
        if !k.enabled {
            return;
        }
        let mut si: libc::siginfo_t = unsafe_zeroed();
        // SAFETY: waitid writes one siginfo_t; WNOWAIT leaves the zombie.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                fd as libc::id_t,
                &mut si,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            )
        };
        // SAFETY: si_status is valid for a CLD_* siginfo from waitid.
        let data = if r == 0 && si.si_signo == libc::SIGCHLD {
            wait_status(si.si_code, unsafe { si.si_status() })
        } else {
            0
        };
        if k.fflags & NOTE_EXIT != 0 {
            out.push(Kevent::new(
                pid as usize,
                EVFILT_PROC,
                k.flags | EV_EOF | EV_ONESHOT,
                NOTE_EXIT,
                data,
                k.udata,
            ));
        }
        self.map.remove(&pid);
        // SAFETY: our pidfd; its kevent goes with it (FD_CLOSE).
        unsafe { libc::close(fd) };
    }
}

fn set_enabled(kq: RawFd, fd: RawFd, k: &mut Knote, f: u16) -> Result<(), c_int> {
    let cmd = if f & EV_DISABLE != 0 {
        k.enabled = false;
        sys::KEVENT_CTL_DISABLE
    } else if f & EV_ENABLE != 0 {
        k.enabled = true;
        sys::KEVENT_CTL_ENABLE
    } else {
        return Ok(());
    };
    ctl_one(kq, cmd, ukevent(fd as u64, sys::KEVENT_POLL, 0, 0, 0, 0))
}
