//! `EVFILT_SIGNAL` on a signalfd: one per queue, watched as a
//! `KEVENT_POLL` kevent, holding the signals the queue watches. (The
//! kernel's `KEVENT_SIGNAL` source, type 7, is reserved; when it arrives
//! this module is what changes.)
//!
//! A signalfd sees only blocked signals, so `EV_ADD` blocks the signal in
//! the calling thread (`pthread_sigmask`), and `EV_DELETE` unblocks it
//! (in the calling thread) if `EV_ADD` was what blocked it. FreeBSD counts a signal even when it is ignored; here a
//! blocked signal stays pending even with `SIG_IGN`, so that works for the
//! thread that registered it. Other threads that do not block the signal
//! may take it (then it is not counted): block it in every thread, as
//! with `sigwait`. Each signal read from the signalfd is consumed, so two
//! queues watching one signal see it once between them.

use std::collections::HashMap;
use std::os::fd::RawFd;

use kevent_sys as sys;
use libc::c_int;

use crate::abi::*;
use crate::queue::{ctl_one, ukevent, unsafe_zeroed, Out, TAG_SIGNAL};
use crate::translate::Knote;

/// The signals of one queue.
pub struct Signals {
    sfd: Option<RawFd>,
    mask: libc::sigset_t,
    notes: HashMap<c_int, Knote>,
    /// Signals that `EV_ADD` blocked (they were not blocked before):
    /// `EV_DELETE` unblocks them again.
    blocked_by_us: Vec<c_int>,
}

impl Default for Signals {
    fn default() -> Self {
        let mut mask: libc::sigset_t = unsafe_zeroed();
        // SAFETY: initialises the set.
        unsafe { libc::sigemptyset(&mut mask) };
        Signals {
            sfd: None,
            mask,
            notes: HashMap::new(),
            blocked_by_us: Vec::new(),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if let Some(fd) = self.sfd {
            // SAFETY: our own signalfd.
            unsafe { libc::close(fd) };
        }
    }
}

impl Signals {
    fn set_mask(&mut self, kq: RawFd) -> Result<(), c_int> {
        let fd = self.sfd.unwrap_or(-1);
        // SAFETY: a valid mask; fd is -1 or our signalfd.
        let r = unsafe { libc::signalfd(fd, &self.mask, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if r < 0 {
            return Err(errno());
        }
        if self.sfd.is_none() {
            self.sfd = Some(r);
            let u = ukevent(
                r as u64,
                sys::KEVENT_POLL,
                libc::EPOLLIN as u32,
                0,
                0,
                TAG_SIGNAL,
            );
            if let Err(e) = ctl_one(kq, sys::KEVENT_CTL_ADD, u) {
                // SAFETY: the signalfd just created.
                unsafe { libc::close(r) };
                self.sfd = None;
                return Err(e);
            }
        }
        Ok(())
    }

    /// One `EVFILT_SIGNAL` change.
    pub fn change(&mut self, kq: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let sig = c_int::try_from(kev.ident).map_err(|_| libc::EINVAL)?;
        if !(1..=64).contains(&sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(libc::EINVAL);
        }
        let f = kev.flags;
        if f & EV_DELETE != 0 {
            self.notes.remove(&sig).ok_or(libc::ENOENT)?;
            // SAFETY: edits our mask.
            unsafe { libc::sigdelset(&mut self.mask, sig) };
            if let Some(i) = self.blocked_by_us.iter().position(|&s| s == sig) {
                self.blocked_by_us.swap_remove(i);
                let mut set: libc::sigset_t = unsafe_zeroed();
                // SAFETY: a one-signal set, unblocked in this thread: a
                // pending one now goes to its handler, as without kqueue.
                unsafe {
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, sig);
                    libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                }
            }
            return self.set_mask(kq);
        }
        if f & EV_ADD != 0 {
            if let Some(k) = self.notes.get_mut(&sig) {
                k.udata = kev.udata as usize;
                if f & EV_DISABLE != 0 {
                    k.enabled = false;
                } else if f & EV_ENABLE != 0 {
                    k.enabled = true;
                }
                return Ok(());
            }
            let mut set: libc::sigset_t = unsafe_zeroed();
            let mut old: libc::sigset_t = unsafe_zeroed();
            // SAFETY: builds a one-signal set, blocks it in this thread
            // (keeping the old mask), and adds it to our mask.
            let was_blocked = unsafe {
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
                libc::sigaddset(&mut self.mask, sig);
                libc::sigismember(&old, sig) == 1
            };
            if !was_blocked {
                self.blocked_by_us.push(sig);
            }
            self.set_mask(kq)?;
            let mut k = Knote::new(kev);
            k.flags |= EV_CLEAR;
            self.notes.insert(sig, k);
            return Ok(());
        }
        let k = self.notes.get_mut(&sig).ok_or(libc::ENOENT)?;
        if f & EV_DISABLE != 0 {
            k.enabled = false;
        } else if f & EV_ENABLE != 0 {
            k.enabled = true;
        }
        Ok(())
    }

    /// Reads the signalfd: one event per signal, `data` = deliveries.
    pub fn collect(&mut self, out: &mut Out<'_>) {
        let Some(fd) = self.sfd else { return };
        let mut counts: HashMap<c_int, i64> = HashMap::new();
        let mut buf: [libc::signalfd_siginfo; 16] = unsafe_zeroed();
        loop {
            // SAFETY: reads whole records into `buf`.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
            if n <= 0 {
                break;
            }
            let n = n as usize / std::mem::size_of::<libc::signalfd_siginfo>();
            for si in &buf[..n] {
                *counts.entry(si.ssi_signo as c_int).or_default() += 1;
            }
        }
        let mut gone = Vec::new();
        for (sig, count) in counts {
            let Some(k) = self.notes.get_mut(&sig) else {
                continue;
            };
            if !k.enabled {
                continue;
            }
            out.push(Kevent::new(
                sig as usize,
                EVFILT_SIGNAL,
                k.flags,
                0,
                count,
                k.udata,
            ));
            if k.flags & EV_ONESHOT != 0 {
                gone.push(sig);
            } else if k.flags & EV_DISPATCH != 0 {
                k.enabled = false;
            }
        }
        for sig in gone {
            self.notes.remove(&sig);
        }
    }
}

/// This thread's errno.
pub fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
