//! `EVFILT_VNODE` on inotify: one inotify descriptor per queue, watched as
//! a `KEVENT_POLL` kevent; each knote is a watch on `/proc/self/fd/N`.
//! (The kernel's `KEVENT_INODE` source, type 2, is reserved; when it
//! arrives this module changes.)
//!
//! | inotify | kqueue |
//! |---|---|
//! | `IN_MODIFY` | `NOTE_WRITE`, and `NOTE_EXTEND` if the size grew |
//! | `IN_ATTRIB` | `NOTE_DELETE` when the link count fell to 0, `NOTE_LINK` when it changed, else `NOTE_ATTRIB` |
//! | `IN_DELETE_SELF` | `NOTE_DELETE` |
//! | `IN_MOVE_SELF` | `NOTE_RENAME` |
//! | `IN_UNMOUNT` | `NOTE_REVOKE` |
//! | a directory's `IN_CREATE`, `IN_DELETE`, `IN_MOVED_*` | `NOTE_WRITE` (and `NOTE_LINK` for a subdirectory) |
//!
//! Limits: inotify keys watches by inode, so two knotes on one file share
//! a watch (the last `EV_ADD`'s mask wins; both are reported); a knote
//! lives until `EV_DELETE` (closing the descriptor does not remove it).

use std::collections::HashMap;
use std::os::fd::RawFd;

use kevent_sys as sys;
use libc::c_int;

use crate::abi::*;
use crate::queue::errno;
use crate::queue::{ctl_one, ukevent, unsafe_zeroed, Out, TAG_VNODE};
use crate::translate::Knote;

struct Watch {
    wd: c_int,
    note: Knote,
    size: i64,
    nlink: u64,
}

/// The vnode knotes of one queue.
#[derive(Default)]
pub struct Vnodes {
    ifd: Option<RawFd>,
    /// ident (descriptor) -> watch.
    watches: HashMap<usize, Watch>,
}

impl Drop for Vnodes {
    fn drop(&mut self) {
        if let Some(fd) = self.ifd {
            // SAFETY: our inotify descriptor.
            unsafe { libc::close(fd) };
        }
    }
}

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO;

fn fstat(fd: RawFd) -> Result<libc::stat, c_int> {
    let mut st: libc::stat = unsafe_zeroed();
    // SAFETY: writes one struct stat.
    if unsafe { libc::fstat(fd, &mut st) } == -1 {
        return Err(errno());
    }
    Ok(st)
}

/// The `NOTE_*` flags of one inotify event; `size` and `nlink` are the
/// file's, as last seen, and are updated.
pub fn notes(
    mask: u32,
    dir_child_is_dir: bool,
    st: Option<(i64, u64)>,
    size: &mut i64,
    nlink: &mut u64,
) -> u32 {
    let mut n = 0;
    if mask & libc::IN_MODIFY != 0 {
        n |= NOTE_WRITE;
        if let Some((s, _)) = st {
            if s > *size {
                n |= NOTE_EXTEND;
            }
            *size = s;
        }
    }
    if mask & libc::IN_ATTRIB != 0 {
        match st {
            Some((_, l)) if l != *nlink => {
                n |= if l == 0 { NOTE_DELETE } else { NOTE_LINK };
                *nlink = l;
            }
            _ => n |= NOTE_ATTRIB,
        }
    }
    if mask & libc::IN_DELETE_SELF != 0 {
        n |= NOTE_DELETE;
    }
    if mask & libc::IN_MOVE_SELF != 0 {
        n |= NOTE_RENAME;
    }
    if mask & libc::IN_UNMOUNT != 0 {
        n |= NOTE_REVOKE;
    }
    if mask & (libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO) != 0 {
        n |= NOTE_WRITE;
        if dir_child_is_dir && mask & (libc::IN_CREATE | libc::IN_DELETE) != 0 {
            n |= NOTE_LINK;
        }
    }
    n
}

impl Vnodes {
    fn ifd(&mut self, kq: RawFd) -> Result<RawFd, c_int> {
        if let Some(fd) = self.ifd {
            return Ok(fd);
        }
        // SAFETY: creates a descriptor.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(errno());
        }
        let u = ukevent(
            fd as u64,
            sys::KEVENT_POLL,
            libc::EPOLLIN as u32,
            0,
            0,
            TAG_VNODE,
        );
        if let Err(e) = ctl_one(kq, sys::KEVENT_CTL_ADD, u) {
            // SAFETY: the descriptor just created.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        self.ifd = Some(fd);
        Ok(fd)
    }

    /// One `EVFILT_VNODE` change.
    pub fn change(&mut self, kq: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let fd = RawFd::try_from(kev.ident).map_err(|_| libc::EBADF)?;
        let f = kev.flags;
        if f & EV_DELETE != 0 {
            // An absent knote: EBADF if the descriptor is not open (FreeBSD,
            // README), else ENOENT.
            let w = self
                .watches
                .remove(&kev.ident)
                .ok_or_else(|| crate::queue::absent_errno(fd))?;
            if !self.watches.values().any(|o| o.wd == w.wd) {
                if let Some(ifd) = self.ifd {
                    // SAFETY: removes our watch.
                    unsafe { libc::inotify_rm_watch(ifd, w.wd) };
                }
            }
            return Ok(());
        }
        if f & EV_ADD != 0 {
            let st = fstat(fd)?;
            let ifd = self.ifd(kq)?;
            let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");
            // SAFETY: a valid path; adds or updates our watch.
            let wd = unsafe { libc::inotify_add_watch(ifd, path.as_ptr(), MASK) };
            if wd < 0 {
                return Err(errno());
            }
            let mut note = Knote::new(kev);
            note.flags |= EV_CLEAR;
            if let Some(w) = self.watches.get(&kev.ident) {
                if f & (EV_ENABLE | EV_DISABLE) == 0 {
                    note.enabled = w.note.enabled;
                }
            }
            self.watches.insert(
                kev.ident,
                Watch {
                    wd,
                    note,
                    size: st.st_size,
                    nlink: st.st_nlink,
                },
            );
            return Ok(());
        }
        let w = self
            .watches
            .get_mut(&kev.ident)
            .ok_or_else(|| crate::queue::absent_errno(fd))?;
        if f & EV_DISABLE != 0 {
            w.note.enabled = false;
        } else if f & EV_ENABLE != 0 {
            w.note.enabled = true;
        }
        Ok(())
    }

    /// Reads the inotify events: one kqueue event per knote that has some
    /// of the notes it asked for.
    pub fn collect(&mut self, out: &mut Out<'_>) {
        let Some(ifd) = self.ifd else { return };
        let mut fired: HashMap<usize, u32> = HashMap::new();
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reads whole inotify records into `buf`.
            let n =
                unsafe { libc::read(ifd, buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
            if n <= 0 {
                break;
            }
            let bytes = n as usize;
            let base = buf.as_ptr().cast::<u8>();
            let mut off = 0;
            while off + std::mem::size_of::<libc::inotify_event>() <= bytes {
                // SAFETY: the kernel wrote a whole record at `off`; read
                // unaligned, as records are only 4-byte aligned.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(base.add(off).cast()) };
                off += std::mem::size_of::<libc::inotify_event>() + ev.len as usize;
                for (&ident, w) in self.watches.iter_mut().filter(|(_, w)| w.wd == ev.wd) {
                    let st = fstat(ident as RawFd).ok().map(|s| (s.st_size, s.st_nlink));
                    let n = notes(
                        ev.mask,
                        ev.mask & libc::IN_ISDIR != 0,
                        st,
                        &mut w.size,
                        &mut w.nlink,
                    );
                    *fired.entry(ident).or_default() |= n;
                }
            }
        }
        let mut gone = Vec::new();
        for (ident, n) in fired {
            let Some(w) = self.watches.get_mut(&ident) else {
                continue;
            };
            let n = n & w.note.fflags;
            if n == 0 || !w.note.enabled {
                continue;
            }
            out.push(Kevent::new(
                ident,
                EVFILT_VNODE,
                w.note.flags,
                n,
                0,
                w.note.udata,
            ));
            if w.note.flags & EV_ONESHOT != 0 {
                gone.push(ident);
            } else if w.note.flags & EV_DISPATCH != 0 {
                w.note.enabled = false;
            }
        }
        for ident in gone {
            self.watches.remove(&ident);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_masks_become_notes() {
        let (mut size, mut nlink) = (10, 1);
        assert_eq!(
            notes(libc::IN_MODIFY, false, Some((20, 1)), &mut size, &mut nlink),
            NOTE_WRITE | NOTE_EXTEND
        );
        assert_eq!(size, 20);
        assert_eq!(
            notes(libc::IN_MODIFY, false, Some((5, 1)), &mut size, &mut nlink),
            NOTE_WRITE
        );
        assert_eq!(
            notes(libc::IN_ATTRIB, false, Some((5, 1)), &mut size, &mut nlink),
            NOTE_ATTRIB
        );
        assert_eq!(
            notes(libc::IN_ATTRIB, false, Some((5, 2)), &mut size, &mut nlink),
            NOTE_LINK
        );
        assert_eq!(
            notes(libc::IN_ATTRIB, false, Some((5, 0)), &mut size, &mut nlink),
            NOTE_DELETE
        );
        assert_eq!(
            notes(libc::IN_MOVE_SELF, false, None, &mut size, &mut nlink),
            NOTE_RENAME
        );
        assert_eq!(
            notes(libc::IN_DELETE_SELF, false, None, &mut size, &mut nlink),
            NOTE_DELETE
        );
        assert_eq!(
            notes(libc::IN_UNMOUNT, false, None, &mut size, &mut nlink),
            NOTE_REVOKE
        );
        assert_eq!(
            notes(libc::IN_CREATE, true, None, &mut size, &mut nlink),
            NOTE_WRITE | NOTE_LINK
        );
        assert_eq!(
            notes(libc::IN_MOVED_TO, false, None, &mut size, &mut nlink),
            NOTE_WRITE
        );
    }
}
