//! `EVFILT_SIGNAL` on a signalfd: one per process, holding every signal
//! some kqueue watches, watched by each of those queues as a `KEVENT_POLL`
//! kevent. (The kernel's `KEVENT_SIGNAL` source, type 7, is reserved; when
//! it arrives this module is what changes.)
//!
//! As on FreeBSD, every kqueue watching a signal counts each delivery: the
//! queue that reads the signalfd adds what it read to the counts of all
//! the queues watching those signals, and rings the others' doorbell (a
//! `KEVENT_USER` kevent with id [`DOORBELL`]), so that they report it too.
//!
//! A signalfd sees only blocked signals, so `EV_ADD` blocks the signal in
//! the calling thread (`pthread_sigmask`), and the last `EV_DELETE` of it
//! unblocks it (in the calling thread) if an `EV_ADD` was what blocked it.
//! FreeBSD counts a signal even when it is ignored; here a blocked signal
//! stays pending even with `SIG_IGN`, so that works for the thread that
//! registered it. Other threads that do not block the signal may take it
//! (then it is not counted): block it in every thread, as with `sigwait`.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use kevent_sys as sys;
use libc::c_int;

use crate::abi::*;
use crate::queue::{ctl_one, ukevent, unsafe_zeroed, Out, TAG_SIGNAL};
use crate::translate::Knote;

/// The `KEVENT_USER` id of a queue's signal doorbell (`EVFILT_USER`
/// ident `UINTPTR_MAX` is reserved for it).
pub const DOORBELL: u64 = u64::MAX;

/// One queue's share of the process's signals.
struct Watcher {
    kq: RawFd,
    /// Deliveries not yet reported, per signal this queue watches.
    counts: HashMap<c_int, i64>,
}

/// The process's signalfd and who watches what.
pub struct Global {
    sfd: RawFd,
    mask: libc::sigset_t,
    /// Queue id -> its watcher.
    watchers: HashMap<u64, Watcher>,
    /// Signals that an `EV_ADD` blocked (they were not blocked before).
    blocked_by_us: Vec<c_int>,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn global() -> std::sync::MutexGuard<'static, Option<Global>> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The signal table, locked (queue.rs holds it across `fork()`).
pub fn lock_global() -> std::sync::MutexGuard<'static, Option<Global>> {
    global()
}

/// In a forked child, with the table held across the fork: the parent's
/// queues are gone.
pub fn after_fork_in_child(g: &mut Option<Global>) {
    if let Some(g) = g.as_mut() {
        g.watchers.clear();
    }
}

fn one_signal(sig: c_int) -> libc::sigset_t {
    let mut set: libc::sigset_t = unsafe_zeroed();
    // SAFETY: initialises a set and adds one valid signal.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
    }
    set
}

impl Global {
    fn watched(&self, sig: c_int) -> bool {
        self.watchers.values().any(|w| w.counts.contains_key(&sig))
    }

    fn set_mask(&mut self) -> Result<(), c_int> {
        // SAFETY: a valid mask and our signalfd.
        let r = unsafe { libc::signalfd(self.sfd, &self.mask, 0) };
        if r < 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Reads the signalfd and adds the deliveries to every watcher's
    /// counts; rings the doorbells of watchers other than `me`.
    fn drain(&mut self, me: u64) {
        let mut buf: [libc::signalfd_siginfo; 16] = unsafe_zeroed();
        let mut ring = Vec::new();
        loop {
            // SAFETY: reads whole records into `buf`.
            let n = unsafe {
                libc::read(
                    self.sfd,
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            if n <= 0 {
                break;
            }
            let n = n as usize / std::mem::size_of::<libc::signalfd_siginfo>();
            for si in &buf[..n] {
                let sig = si.ssi_signo as c_int;
                for (&id, w) in self.watchers.iter_mut() {
                    if let Some(c) = w.counts.get_mut(&sig) {
                        *c += 1;
                        if id != me && !ring.contains(&w.kq) {
                            ring.push(w.kq);
                        }
                    }
                }
            }
        }
        for kq in ring {
            let u = ukevent(
                DOORBELL,
                sys::KEVENT_USER,
                sys::KEVENT_USER_TRIGGERED,
                0,
                0,
                TAG_SIGNAL,
            );
            let _ = ctl_one(kq, sys::KEVENT_CTL_READY, u);
        }
    }
}

/// The signal knotes of one queue.
pub struct Signals {
    id: u64,
    notes: HashMap<c_int, Knote>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            notes: HashMap::new(),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if self.notes.is_empty() {
            return;
        }
        let mut g = global();
        if let Some(g) = g.as_mut() {
            g.watchers.remove(&self.id);
        }
    }
}

impl Signals {
    /// One `EVFILT_SIGNAL` change.
    pub fn change(&mut self, kq: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let sig = c_int::try_from(kev.ident).map_err(|_| libc::EINVAL)?;
        if !(1..=64).contains(&sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(libc::EINVAL);
        }
        let f = kev.flags;
        if f & EV_DELETE != 0 {
            self.notes.remove(&sig).ok_or(libc::ENOENT)?;
            let mut g = global();
            let g = g.as_mut().expect("a signal was added");
            if let Some(w) = g.watchers.get_mut(&self.id) {
                w.counts.remove(&sig);
            }
            if !g.watched(sig) {
                // SAFETY: edits our mask.
                unsafe { libc::sigdelset(&mut g.mask, sig) };
                g.set_mask()?;
                if let Some(i) = g.blocked_by_us.iter().position(|&s| s == sig) {
                    g.blocked_by_us.swap_remove(i);
                    // SAFETY: unblocks one signal in this thread: a pending
                    // one now goes to its handler, as without kqueue.
                    unsafe {
                        libc::pthread_sigmask(
                            libc::SIG_UNBLOCK,
                            &one_signal(sig),
                            std::ptr::null_mut(),
                        )
                    };
                }
            }
            return Ok(());
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
            self.add(kq, sig)?;
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

    /// Starts watching `sig`: the process's signalfd, and this queue's
    /// kevents for it (the signalfd and the doorbell) on its first signal.
    fn add(&mut self, kq: RawFd, sig: c_int) -> Result<(), c_int> {
        let mut g = global();
        if g.is_none() {
            let mut mask: libc::sigset_t = unsafe_zeroed();
            // SAFETY: an empty set; a new signalfd.
            let sfd = unsafe {
                libc::sigemptyset(&mut mask);
                libc::signalfd(-1, &mask, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)
            };
            if sfd < 0 {
                return Err(errno());
            }
            *g = Some(Global {
                sfd,
                mask,
                watchers: HashMap::new(),
                blocked_by_us: Vec::new(),
            });
        }
        let g = g.as_mut().expect("just set");
        if !g.watchers.contains_key(&self.id) {
            let u = ukevent(
                g.sfd as u64,
                sys::KEVENT_POLL,
                libc::EPOLLIN as u32,
                0,
                0,
                TAG_SIGNAL,
            );
            ctl_one(kq, sys::KEVENT_CTL_ADD, u)?;
            let mut u = ukevent(
                DOORBELL,
                sys::KEVENT_USER,
                sys::KEVENT_USER_TRIGGERED,
                0,
                0,
                TAG_SIGNAL,
            );
            u.req_flags = sys::KEVENT_REQ_UPDATE;
            if let Err(e) = ctl_one(kq, sys::KEVENT_CTL_ADD, u) {
                let _ = ctl_one(
                    kq,
                    sys::KEVENT_CTL_REMOVE,
                    ukevent(g.sfd as u64, sys::KEVENT_POLL, 0, 0, 0, 0),
                );
                return Err(e);
            }
            g.watchers.insert(
                self.id,
                Watcher {
                    kq,
                    counts: HashMap::new(),
                },
            );
        }
        let mut old: libc::sigset_t = unsafe_zeroed();
        // SAFETY: blocks one signal in this thread, keeping the old mask;
        // adds it to the signalfd's mask.
        let was_blocked = unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &one_signal(sig), &mut old);
            libc::sigaddset(&mut g.mask, sig);
            libc::sigismember(&old, sig) == 1
        };
        if !was_blocked && !g.blocked_by_us.contains(&sig) {
            g.blocked_by_us.push(sig);
        }
        g.set_mask()?;
        g.watchers
            .get_mut(&self.id)
            .expect("inserted above")
            .counts
            .insert(sig, 0);
        Ok(())
    }

    /// The signalfd is readable or the doorbell rang: one event per
    /// signal with deliveries, `data` = their number.
    pub fn collect(&mut self, out: &mut Out<'_>) {
        let mut counts = Vec::new();
        {
            let mut g = global();
            let Some(g) = g.as_mut() else { return };
            g.drain(self.id);
            if let Some(w) = g.watchers.get_mut(&self.id) {
                for (&sig, c) in w.counts.iter_mut() {
                    if *c > 0 {
                        counts.push((sig, std::mem::take(c)));
                    }
                }
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
            // Removes it from the global table as EV_DELETE does.
            let kev = Kevent::new(sig as usize, EVFILT_SIGNAL, EV_DELETE, 0, 0, 0);
            let _ = self.change(-1, &kev);
        }
    }
}

/// This thread's errno.
pub fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
