//! `EVFILT_READ` and `EVFILT_WRITE` on regular files and directories
//! (FreeBSD's vnodes), which the kernel's `KEVENT_POLL` refuses with
//! `EPERM` as epoll does. kqueue(2): for vnodes READ "returns when the
//! file pointer is not at the end of file. data contains the offset from
//! current position to end of file, and may be negative"; WRITE on a
//! vnode is always ready with data 0 (FreeBSD's `filt_vfswrite`; its
//! manual page calls WRITE unsupported on vnodes, its code accepts it).
//!
//! The library keeps these knotes itself: an `EV_ADD` the kernel refuses
//! with `EPERM` on a regular file or a directory lands here, with the
//! file's identity (device, inode). Each `kevent()` that waits looks at
//! them (`fstat` and `lseek` per knote: only programs with such knotes
//! pay) and, when one is ready, does not block. Level-triggered knotes
//! are reported by every `kevent()` while ready; `EV_CLEAR` ones when the
//! file's size changed since the last report (FreeBSD re-arms them on a
//! write to the vnode); `EV_ONESHOT` and `EV_DISPATCH` as elsewhere.
//! A knote whose descriptor was closed (or reused for another file) is
//! dropped when the library next looks at it.
//!
//! Limit: a `kevent()` blocked with no ready knote is not woken when the
//! file grows (FreeBSD's write to a vnode wakes it): that needs a kernel
//! source for files (see README.md).

use std::os::fd::RawFd;

use libc::c_int;

use crate::abi::*;
use crate::queue::{unsafe_zeroed, Out};
use crate::translate::Knote;

/// The knotes of one file descriptor.
#[derive(Debug, Clone, Copy)]
struct File {
    dev: u64,
    ino: u64,
    read: Option<Knote>,
    write: Option<Knote>,
    /// The size at the last `EV_CLEAR` report (READ, WRITE).
    reported: [Option<i64>; 2],
}

/// `fstat` of `fd`: (dev, ino, size, regular file or directory).
fn stat(fd: RawFd) -> Option<(u64, u64, i64, bool)> {
    let mut st: libc::stat = unsafe_zeroed();
    // SAFETY: fstat writes one struct stat.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    let fmt = st.st_mode & libc::S_IFMT;
    let vnode = fmt == libc::S_IFREG || fmt == libc::S_IFDIR;
    Some((st.st_dev, st.st_ino, st.st_size, vnode))
}

/// Whether `fd` is a regular file or a directory (called after the
/// kernel refused it with `EPERM`).
pub fn is_vnode(fd: RawFd) -> bool {
    stat(fd).is_some_and(|s| s.3)
}

/// The file knotes of one queue.
#[derive(Default)]
pub struct Files {
    map: crate::queue::Map<RawFd, File>,
}

impl Files {
    /// Whether the queue has file knotes (one branch on the hot paths).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `fd` has file knotes and is still the same file; forgets
    /// them if it is not (closed, or the number reused).
    pub fn owns(&mut self, fd: RawFd) -> bool {
        let Some(f) = self.map.get(&fd) else {
            return false;
        };
        match stat(fd) {
            Some((dev, ino, ..)) if dev == f.dev && ino == f.ino => true,
            _ => {
                self.map.remove(&fd);
                false
            }
        }
    }

    /// Takes the knotes of an `EV_ADD` the kernel refused on a file.
    pub fn insert(&mut self, fd: RawFd, read: Option<Knote>, write: Option<Knote>) {
        let Some((dev, ino, ..)) = stat(fd) else {
            return;
        };
        self.map.insert(
            fd,
            File {
                dev,
                ino,
                read,
                write,
                reported: [None; 2],
            },
        );
    }

    /// One change on a descriptor [`owns`](Self::owns) found here.
    pub fn change(&mut self, fd: RawFd, kev: &Kevent) -> Result<(), c_int> {
        let f = self.map.get_mut(&fd).expect("owns() found it");
        let i = usize::from(kev.filter == EVFILT_WRITE);
        let slot = if i == 0 { &mut f.read } else { &mut f.write };
        let fl = kev.flags;
        if fl & EV_DELETE != 0 {
            slot.take().ok_or(libc::ENOENT)?;
            f.reported[i] = None;
        } else if fl & EV_ADD != 0 {
            match slot {
                None => {
                    *slot = Some(Knote::new(kev));
                    f.reported[i] = None;
                }
                Some(k) => k.update(kev),
            }
        } else {
            let k = slot.as_mut().ok_or(libc::ENOENT)?;
            if fl & EV_DISABLE != 0 {
                k.enabled = false;
            } else if fl & EV_ENABLE != 0 {
                k.enabled = true;
                f.reported[i] = None;
            }
        }
        if f.read.is_none() && f.write.is_none() {
            self.map.remove(&fd);
        }
        Ok(())
    }

    /// The events of the knotes that are ready now, into `out`; returns
    /// how many. Without `out` it only counts them (and forgets knotes
    /// whose descriptor is gone).
    pub fn collect(&mut self, out: Option<&mut Out<'_>>) -> usize {
        let mut n = 0;
        let mut out = out;
        let mut gone = Vec::new();
        for (&fd, f) in self.map.iter_mut() {
            let size = match stat(fd) {
                Some((dev, ino, size, _)) if dev == f.dev && ino == f.ino => size,
                _ => {
                    gone.push(fd);
                    continue;
                }
            };
            for i in 0..2 {
                let slot = if i == 0 { &mut f.read } else { &mut f.write };
                let Some(k) = slot.as_mut() else { continue };
                if !k.enabled {
                    continue;
                }
                if k.flags & EV_CLEAR != 0 && f.reported[i] == Some(size) {
                    continue;
                }
                let (filter, data) = if i == 0 {
                    // SAFETY: lseek with SEEK_CUR only reads the offset.
                    let off = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
                    let data = size - off.max(0);
                    if data == 0 {
                        continue;
                    }
                    (EVFILT_READ, data)
                } else {
                    (EVFILT_WRITE, 0)
                };
                n += 1;
                let Some(out) = out.as_deref_mut() else {
                    continue;
                };
                out.push(Kevent::new(fd as usize, filter, k.flags, 0, data, k.udata));
                f.reported[i] = Some(size);
                if k.flags & EV_ONESHOT != 0 {
                    *slot = None;
                } else if k.flags & EV_DISPATCH != 0 {
                    k.enabled = false;
                }
            }
            if f.read.is_none() && f.write.is_none() {
                gone.push(fd);
            }
        }
        for fd in gone {
            self.map.remove(&fd);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knote(filter: i16, flags: u16) -> Option<Knote> {
        Some(Knote::new(&Kevent::new(0, filter, EV_ADD | flags, 0, 0, 0)))
    }

    #[test]
    fn read_is_ready_before_the_end_write_always() {
        let mut path = *b"/tmp/kq-file-test-XXXXXX\0";
        // SAFETY: mkstemp edits the template in place; the descriptors
        // are ours.
        let fd = unsafe { libc::mkstemp(path.as_mut_ptr().cast()) };
        assert!(fd >= 0);
        // SAFETY: writes 10 bytes from a live buffer; lseek on our file.
        unsafe {
            libc::unlink(path.as_ptr().cast());
            assert_eq!(libc::write(fd, b"0123456789".as_ptr().cast(), 10), 10);
        }
        assert!(is_vnode(fd));
        let mut files = Files::default();
        files.insert(fd, knote(EVFILT_READ, 0), None);
        assert!(files.owns(fd));
        // The offset is at the end after the write: not ready.
        assert_eq!(files.collect(None), 0);
        // SAFETY: lseek on our file.
        unsafe { libc::lseek(fd, 4, libc::SEEK_SET) };
        assert_eq!(files.collect(None), 1);
        let w = Kevent::new(fd as usize, EVFILT_WRITE, EV_ADD, 0, 0, 0);
        files.change(fd, &w).unwrap();
        assert_eq!(files.collect(None), 2);
        let d = Kevent::new(fd as usize, EVFILT_READ, EV_DELETE, 0, 0, 0);
        files.change(fd, &d).unwrap();
        assert_eq!(files.change(fd, &d), Err(libc::ENOENT));
        assert_eq!(files.collect(None), 1);
        // SAFETY: our descriptor.
        unsafe { libc::close(fd) };
        assert!(!files.owns(fd), "closed: forgotten");
        assert!(files.is_empty());
    }
}
