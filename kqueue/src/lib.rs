//! `libkqueue`: FreeBSD's `kqueue()`/`kevent()` API (`<sys/event.h>`,
//! FreeBSD 12 layout) on the Linux kevent queue, as a C shared and static
//! library that is a drop-in for the `libkqueue` of Linux distributions
//! (same library name, header path `kqueue/sys/event.h`, pkg-config name).
//!
//! A kqueue is a kevent queue (`kevent_create(KEVENT_CLOEXEC)`); the
//! library keeps a table of knotes per queue and translates:
//! `EVFILT_READ` and `EVFILT_WRITE` are each a `KEVENT_POLL` kevent of
//! their own, the filter a tag in the id's high half (`direct.rs`; on a
//! kernel without `KEVENT_REQ_KEEP`, and for `NOTE_LOWAT` knotes, they
//! share the descriptor's one `KEVENT_POLL` kevent, the union of their
//! bits demultiplexed here), `EVFILT_TIMER` is `KEVENT_TIMER`, `EVFILT_USER` is `KEVENT_USER`,
//! `EVFILT_SIGNAL` is `KEVENT_SIGNAL`, `EVFILT_PROC` is `KEVENT_PROC`, and
//! `EVFILT_VNODE` is `KEVENT_INODE` (one kevent per knote). See
//! README.md.
//!
//! The C functions never unwind: a panic becomes `EIO`.
#![deny(missing_docs)]

pub mod abi;
mod direct;
mod fdtable;
mod file;
mod proc_;
pub mod queue;
mod signal;
mod sync;
pub mod translate;
mod vnode;

use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{c_int, timespec};

pub use abi::Kevent;

fn set_errno(e: c_int) {
    // SAFETY: writes this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `f` for C: its value, or -1 with errno (`EIO` after a panic).
fn ffi(f: impl FnOnce() -> Result<c_int, c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            -1
        }
        Err(_) => {
            set_errno(libc::EIO);
            -1
        }
    }
}

/// `int kqueue(void)`: a new kernel event queue (close-on-exec, not
/// inherited across `fork()`).
#[no_mangle]
pub extern "C" fn kqueue() -> c_int {
    ffi(|| queue::create(0))
}

/// `int kqueue1(int flags)`: `kqueue()` with `O_CLOEXEC` (always set) or
/// `O_NONBLOCK` (accepted); other flags `EINVAL`.
#[no_mangle]
pub extern "C" fn kqueue1(flags: c_int) -> c_int {
    ffi(|| queue::create(flags))
}

/// The address just past a list of `n` (at least 0) `struct kevent`s at
/// `list`, or `EFAULT` for a list that cannot be in the address space:
/// more than `isize::MAX` bytes (a count times 64 or 56 bytes overflows
/// on 32-bit targets) or past its end. FreeBSD copies the changelist in
/// by chunks and fails with `EFAULT` at one that is not there; this
/// library makes slices of both lists before any system call, and
/// `from_raw_parts()` must not be given such a range.
fn list_end(list: *const Kevent, n: c_int) -> Result<usize, c_int> {
    usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(std::mem::size_of::<Kevent>()))
        .filter(|&bytes| bytes <= isize::MAX as usize)
        .and_then(|bytes| (list as usize).checked_add(bytes))
        .ok_or(libc::EFAULT)
}

/// `int kevent(int kq, const struct kevent *changelist, int nchanges,
/// struct kevent *eventlist, int nevents, const struct timespec *timeout)`.
///
/// # Safety
///
/// `changelist` must point to `nchanges` readable entries and `eventlist`
/// to `nevents` writable ones (either may be null with a count of 0);
/// `timeout` is null (wait forever) or points to a `struct timespec`.
#[no_mangle]
pub unsafe extern "C" fn kevent(
    kq: c_int,
    changelist: *const Kevent,
    nchanges: c_int,
    eventlist: *mut Kevent,
    nevents: c_int,
    timeout: *const timespec,
) -> c_int {
    ffi(|| {
        if nchanges < 0 || nevents < 0 {
            return Err(libc::EINVAL);
        }
        if (changelist.is_null() && nchanges > 0) || (eventlist.is_null() && nevents > 0) {
            return Err(libc::EFAULT);
        }
        // FreeBSD programs often pass one array as both lists: then the
        // changes are copied first, so the two slices never alias.
        let (c0, c1) = (changelist as usize, list_end(changelist, nchanges)?);
        let (e0, e1) = (eventlist as usize, list_end(eventlist, nevents)?);
        let overlap = nchanges > 0 && nevents > 0 && c0 < e1 && e0 < c1;
        let copied: Vec<Kevent>;
        let changes: &[Kevent] = if nchanges == 0 {
            &[]
        } else if overlap {
            // SAFETY: the caller's changelist of `nchanges` entries, read
            // before any reference to the event list exists.
            copied = unsafe { std::slice::from_raw_parts(changelist, nchanges as usize) }.to_vec();
            &copied
        } else {
            // SAFETY: the caller's changelist of `nchanges` entries, apart
            // from the event list.
            unsafe { std::slice::from_raw_parts(changelist, nchanges as usize) }
        };
        let events: &mut [Kevent] = if nevents == 0 {
            &mut []
        } else {
            // SAFETY: the caller's eventlist of `nevents` entries.
            unsafe { std::slice::from_raw_parts_mut(eventlist, nevents as usize) }
        };
        // SAFETY: null or the caller's timespec.
        let timeout = translate::timeout_ns(unsafe { timeout.as_ref() })?;
        let (q, seen) = queue::lookup(kq)?;
        q.kevent(changes, events, timeout, seen).map(|n| n as c_int)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_end_refuses_lists_past_the_address_space() {
        let size = std::mem::size_of::<Kevent>();
        assert_eq!(list_end(std::ptr::null(), 0), Ok(0));
        assert_eq!(list_end(4096 as *const Kevent, 2), Ok(4096 + 2 * size));
        let top = (usize::MAX - size + 1) as *const Kevent;
        assert_eq!(list_end(top, 0), Ok(top as usize));
        assert_eq!(list_end(top, 1), Err(libc::EFAULT));
        // 2^31 - 1 entries: 2^37 bytes fit a 64-bit address space, not a
        // 32-bit one (the multiplication overflowed there).
        assert_eq!(
            list_end(4096 as *const Kevent, c_int::MAX).is_ok(),
            cfg!(target_pointer_width = "64")
        );
    }
}
