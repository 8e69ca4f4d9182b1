//! `EVFILT_VNODE` on the kernel's `KEVENT_INODE` source (type 2): one
//! kevent per knote, id = the descriptor, the kernel bits from the notes
//! asked for; an `fstat` per report gives `NOTE_EXTEND`, `NOTE_LINK` and
//! the `NOTE_DELETE` of an unlink while the file is still open.
//!
//! | `KEVENT_INODE` | kqueue |
//! |---|---|
//! | `MODIFY` (files only) | `NOTE_WRITE`, and `NOTE_EXTEND` if the size grew |
//! | `ATTRIB` | `NOTE_DELETE` when the link count fell to 0, `NOTE_LINK` when it changed, else `NOTE_ATTRIB` |
//! | `CREATE`, `REMOVE`, `MOVED_FROM`, `MOVED_TO` (directories) | `NOTE_WRITE`, and `NOTE_LINK` when the link count changed (a subdirectory) |
//! | `MOVE_SELF` | `NOTE_RENAME` |
//! | `DELETE_SELF` (with EOF: the kernel removed the kevent) | `NOTE_DELETE`; the knote goes with it |
//! | `REVOKED` (unmount; EOF, removed) | `NOTE_REVOKE` with `EV_EOF`; the knote goes with it |
//!
//! `close(fd)` removes the knote (kqueue semantics). The library cannot
//! see a `close()`: it keeps the file's identity (device, inode) with the
//! knote and, when the descriptor is closed or names another file by its
//! next change or report, removes the knote and its kernel kevent (a
//! kernel that keeps `KEVENT_INODE` kevents after the last close reports
//! the file until then; the library drops those reports). So after a
//! close no event is reported, `EV_DELETE` is `EBADF` (closed) or
//! `ENOENT` (the number is another file now), and `EV_ADD` on a reused
//! number watches the new file. A close followed by an `open()` of the
//! same file at the same number is not seen.
//! The kernel refuses an ADD whose number names another inode than its
//! kevent's (`EEXIST`: the kevent outlives the descriptor); for the library
//! that kevent's descriptor was closed, so an `EV_ADD` removes it and adds
//! again (another thread may `dup2()` over the number between the
//! library's `fstat` and its ADD).
//! `EV_DISABLE`/`EV_ENABLE` and `EV_DISPATCH` disable the kernel's kevent
//! (changes while disabled are dropped, so a disabled knote never wakes a
//! `kevent()`); `EV_ONESHOT` removes it after the report.

use std::collections::HashMap;
use std::os::fd::RawFd;

use kevent_sys as sys;
use libc::c_int;

use crate::abi::*;
use crate::queue::errno;
use crate::queue::{ctl_one, ukevent, unsafe_zeroed, Out, TAG_VNODE};
use crate::translate::Knote;

struct Watch {
    note: Knote,
    /// The file's identity at the `EV_ADD`.
    dev: u64,
    ino: u64,
    size: i64,
    nlink: u64,
}

/// The vnode knotes of one queue.
#[derive(Default)]
pub struct Vnodes {
    /// ident (descriptor) -> knote.
    watches: HashMap<usize, Watch>,
}

fn fstat(fd: RawFd) -> Result<libc::stat, c_int> {
    let mut st: libc::stat = unsafe_zeroed();
    // SAFETY: writes one struct stat.
    if unsafe { libc::fstat(fd, &mut st) } == -1 {
        return Err(errno());
    }
    Ok(st)
}

const DIR_ENTRIES: u32 = sys::KEVENT_INODE_CREATE
    | sys::KEVENT_INODE_REMOVE
    | sys::KEVENT_INODE_MOVED_FROM
    | sys::KEVENT_INODE_MOVED_TO;

/// The `KEVENT_INODE` bits a knote asking `fflags` needs. A directory's
/// `MODIFY` and `ATTRIB` also report its entries' changes, so `MODIFY` is
/// not asked on directories (FreeBSD's `NOTE_WRITE` on a directory is a
/// change of its entries) and `ATTRIB` only when a note needs it.
/// `DELETE_SELF` and `REVOKED` come whether asked or not.
pub fn interest(fflags: u32, dir: bool) -> u32 {
    let mut b = sys::KEVENT_INODE_DELETE_SELF | sys::KEVENT_INODE_REVOKED;
    if fflags & (NOTE_WRITE | NOTE_EXTEND) != 0 && !dir {
        b |= sys::KEVENT_INODE_MODIFY;
    }
    if fflags & (NOTE_WRITE | NOTE_LINK) != 0 && dir {
        b |= DIR_ENTRIES;
    }
    if fflags & (NOTE_ATTRIB | NOTE_LINK | NOTE_DELETE) != 0 {
        b |= sys::KEVENT_INODE_ATTRIB;
    }
    if fflags & NOTE_RENAME != 0 {
        b |= sys::KEVENT_INODE_MOVE_SELF;
    }
    b
}

/// The `NOTE_*` flags of one `KEVENT_INODE` report of `bits`; `st` is the
/// file's (size, link count) now if the descriptor is still open; `size`
/// and `nlink` are the file's as last seen, and are updated.
pub fn notes(bits: u32, st: Option<(i64, u64)>, size: &mut i64, nlink: &mut u64) -> u32 {
    let mut n = 0;
    // The link count first, whatever reported it (ATTRIB on a file, an
    // entry change on a directory).
    let mut linked = false;
    if let Some((s, l)) = st {
        if l != *nlink {
            n |= if l == 0 { NOTE_DELETE } else { NOTE_LINK };
            *nlink = l;
            linked = true;
        }
        if bits & sys::KEVENT_INODE_MODIFY != 0 && s > *size {
            n |= NOTE_EXTEND;
        }
        *size = s;
    }
    if bits & sys::KEVENT_INODE_MODIFY != 0 {
        n |= NOTE_WRITE;
    }
    if bits & sys::KEVENT_INODE_ATTRIB != 0 && !(linked && bits & DIR_ENTRIES == 0) {
        n |= NOTE_ATTRIB;
    }
    if bits & DIR_ENTRIES != 0 {
        n |= NOTE_WRITE;
    }
    if bits & sys::KEVENT_INODE_MOVE_SELF != 0 {
        n |= NOTE_RENAME;
    }
    if bits & sys::KEVENT_INODE_DELETE_SELF != 0 {
        n |= NOTE_DELETE;
    }
    if bits & sys::KEVENT_INODE_REVOKED != 0 {
        n |= NOTE_REVOKE;
    }
    n
}

/// Whether `st` (the descriptor's `fstat`, if it is open) is the file
/// the knote was added on.
fn same_file(st: Option<&libc::stat>, w: &Watch) -> bool {
    st.is_some_and(|s| s.st_dev == w.dev && s.st_ino == w.ino)
}

impl Vnodes {
    /// Removes the knote of `ident` and its kernel kevent: the descriptor
    /// was closed (or names another file now), which ends the knote.
    fn closed(&mut self, kq: RawFd, ident: usize) {
        self.watches.remove(&ident);
        // ENOENT: a kernel that removes it at the last close did.
        let _ = ctl_one(
            kq,
            sys::KEVENT_CTL_REMOVE,
            ukevent(ident as u64, sys::KEVENT_INODE, 0, 0, 0, 0),
        );
    }

    /// One `EVFILT_VNODE` change.
    pub fn change(&mut self, kq: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let fd = crate::queue::fd_ident(kev)?;
        let id = kev.ident as u64;
        let f = kev.flags;
        let absent = || crate::queue::absent_errno(fd);
        if let Some(w) = self.watches.get(&kev.ident) {
            if !same_file(fstat(fd).ok().as_ref(), w) {
                self.closed(kq, kev.ident);
            }
        }
        if f & EV_DELETE != 0 {
            // An absent knote: EBADF if the descriptor is not open (FreeBSD,
            // README), else ENOENT.
            self.watches.remove(&kev.ident).ok_or_else(absent)?;
            let u = ukevent(id, sys::KEVENT_INODE, 0, 0, 0, TAG_VNODE);
            return match ctl_one(kq, sys::KEVENT_CTL_REMOVE, u) {
                // Gone with a deletion report not yet read.
                Ok(()) | Err(libc::ENOENT) => Ok(()),
                Err(e) => Err(e),
            };
        }
        if f & EV_ADD != 0 {
            let mut tries = 0;
            loop {
                let st = fstat(fd)?;
                match self.add(kq, kev, &st) {
                    // The kernel's kevent at this number watches another
                    // inode: the descriptor it was added with was closed
                    // (or dup2()'d over) since, by another thread between
                    // the fstat() above (or this table's last look) and
                    // the ADD, or its kevent was left by a call that
                    // failed. That close ended the knote (kqueue(2));
                    // FreeBSD's EV_ADD then adds a new one and never
                    // fails with EEXIST: so remove the stale kevent and
                    // add again, on the file the number names now.
                    Err(libc::EEXIST) if tries < 4 => {
                        tries += 1;
                        self.closed(kq, kev.ident);
                    }
                    r => return r,
                }
            }
        }
        let w = self.watches.get_mut(&kev.ident).ok_or_else(absent)?;
        let enable = if f & EV_DISABLE != 0 {
            false
        } else if f & EV_ENABLE != 0 {
            true
        } else {
            return Ok(());
        };
        if enable != w.note.enabled {
            let cmd = if enable {
                sys::KEVENT_CTL_ENABLE
            } else {
                sys::KEVENT_CTL_DISABLE
            };
            match ctl_one(kq, cmd, ukevent(id, sys::KEVENT_INODE, 0, 0, 0, 0)) {
                // The kernel removed it (deletion report not yet read):
                // that report ends the knote.
                Ok(()) | Err(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
            w.note.enabled = enable;
        }
        Ok(())
    }

    /// The `EV_ADD` of `kev` on the file `st` (the descriptor's `fstat`):
    /// one `KEVENT_CTL_ADD` with `KEVENT_REQ_UPDATE` that also sets the
    /// kernel kevent's enabled state (`KEVENT_REQ_DISABLED`), so the
    /// kernel and the table agree after this one call. (Before, an
    /// `EV_ADD | EV_DISABLE` was an ADD and then a DISABLE: a close of
    /// the descriptor between the two made the DISABLE fail with
    /// `ENOENT` and left the ADD's kevent in the kernel without a knote;
    /// and an `EV_ADD` of a disabled knote enabled its kernel kevent,
    /// as an update without `KEVENT_REQ_DISABLED` does.) The table's
    /// watch is recorded only when the kernel took the request.
    fn add(&mut self, kq: RawFd, kev: &Kevent, st: &libc::stat) -> Result<(), c_int> {
        let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        // An existing knote keeps its mode (EV_ONESHOT, EV_DISPATCH) and,
        // without EV_ENABLE or EV_DISABLE, its enabled state, as FreeBSD's
        // kqueue_register() keeps kn_flags (Knote::update()).
        let note = Knote::added_clear(self.watches.get(&kev.ident).map(|w| w.note), kev);
        let bits = interest(note.fflags, dir);
        let mut req_flags = sys::KEVENT_REQ_UPDATE;
        if !note.enabled {
            req_flags |= sys::KEVENT_REQ_DISABLED;
        }
        let u = ukevent(
            kev.ident as u64,
            sys::KEVENT_INODE,
            bits,
            req_flags,
            0,
            TAG_VNODE,
        );
        // Adds, or updates the kevent of an existing knote.
        ctl_one(kq, sys::KEVENT_CTL_ADD, u)?;
        self.watches.insert(
            kev.ident,
            Watch {
                note,
                dev: st.st_dev,
                ino: st.st_ino,
                size: st.st_size,
                nlink: st.st_nlink,
            },
        );
        Ok(())
    }

    /// One `KEVENT_INODE` report: a kqueue event if it has some of the
    /// notes the knote asked for.
    pub fn report(&mut self, kq: RawFd, ev: &sys::kevent_event, out: &mut Out<'_>) {
        let ident = ev.id as usize;
        let Some(w) = self.watches.get_mut(&ident) else {
            // A kevent no knote has (another table's change through this
            // queue's number): removed, or it stayed until the queue
            // closed. (With EOF the kernel removed it.)
            if ev.flags & sys::KEVENT_EV_EOF as u16 == 0 {
                let u = ukevent(ev.id, sys::KEVENT_INODE, 0, 0, 0, 0);
                let _ = ctl_one(kq, sys::KEVENT_CTL_REMOVE, u);
            }
            return;
        };
        // With EOF the kernel removed its kevent (deletion, unmount).
        let gone = ev.flags & sys::KEVENT_EV_EOF as u16 != 0;
        let now = fstat(ident as RawFd).ok();
        if !same_file(now.as_ref(), w) {
            // Closed since: the knote went with the close.
            self.closed(kq, ident);
            return;
        }
        let st = if gone && ev.events & sys::KEVENT_INODE_REVOKED != 0 {
            None
        } else {
            now.map(|s| (s.st_size, s.st_nlink))
        };
        let n = notes(ev.events, st, &mut w.size, &mut w.nlink) & w.note.fflags;
        let mut remove = gone;
        if n != 0 && w.note.enabled {
            let mut flags = w.note.flags;
            if n & NOTE_REVOKE != 0 {
                flags |= EV_EOF;
            }
            out.push(Kevent::new(ident, EVFILT_VNODE, flags, n, 0, w.note.udata));
            let u = ukevent(ev.id, sys::KEVENT_INODE, 0, 0, 0, 0);
            if w.note.flags & EV_ONESHOT != 0 {
                if !gone {
                    let _ = ctl_one(kq, sys::KEVENT_CTL_REMOVE, u);
                }
                remove = true;
            } else if w.note.flags & EV_DISPATCH != 0 {
                w.note.enabled = false;
                if !gone {
                    let _ = ctl_one(kq, sys::KEVENT_CTL_DISABLE, u);
                }
            }
        }
        if remove {
            self.watches.remove(&ident);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_bits_become_notes() {
        use sys::*;
        let (mut size, mut nlink) = (10, 1);
        let mut n = |b, st| notes(b, st, &mut size, &mut nlink);
        assert_eq!(
            n(KEVENT_INODE_MODIFY, Some((20, 1))),
            NOTE_WRITE | NOTE_EXTEND
        );
        assert_eq!(n(KEVENT_INODE_MODIFY, Some((5, 1))), NOTE_WRITE);
        assert_eq!(n(KEVENT_INODE_ATTRIB, Some((5, 1))), NOTE_ATTRIB);
        assert_eq!(n(KEVENT_INODE_ATTRIB, Some((5, 2))), NOTE_LINK);
        assert_eq!(n(KEVENT_INODE_ATTRIB, Some((5, 0))), NOTE_DELETE);
        assert_eq!(n(KEVENT_INODE_ATTRIB, None), NOTE_ATTRIB);
        assert_eq!(n(KEVENT_INODE_MOVE_SELF, None), NOTE_RENAME);
        assert_eq!(n(KEVENT_INODE_DELETE_SELF, None), NOTE_DELETE);
        assert_eq!(n(KEVENT_INODE_REVOKED, None), NOTE_REVOKE);
        // A directory: a subdirectory created (link count 2 -> 3).
        let (mut size, mut nlink) = (4096, 2);
        assert_eq!(
            notes(KEVENT_INODE_CREATE, Some((4096, 3)), &mut size, &mut nlink),
            NOTE_WRITE | NOTE_LINK
        );
        assert_eq!(
            notes(
                KEVENT_INODE_MOVED_TO,
                Some((4096, 3)),
                &mut size,
                &mut nlink
            ),
            NOTE_WRITE
        );
    }

    #[test]
    fn notes_become_inode_bits() {
        use sys::*;
        let last = KEVENT_INODE_DELETE_SELF | KEVENT_INODE_REVOKED;
        assert_eq!(interest(NOTE_DELETE, false), last | KEVENT_INODE_ATTRIB);
        assert_eq!(interest(NOTE_EXTEND, false), last | KEVENT_INODE_MODIFY);
        assert_eq!(interest(NOTE_WRITE, true), last | DIR_ENTRIES);
        assert_eq!(interest(NOTE_RENAME, true), last | KEVENT_INODE_MOVE_SELF);
        assert_eq!(interest(NOTE_REVOKE, false), last);
    }
}
