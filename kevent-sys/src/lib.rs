//! Raw bindings to the Linux kevent interface.
//!
//! The types and constants in [`bindings`] (re-exported here) are generated
//! with bindgen from the series' uapi header, `include/uapi/linux/kevent.h`
//! (see `kernel-patches/`); a test fails when they drift from it, and
//! `regenerate.sh` rewrites them. This crate adds the system call numbers
//! and raw `unsafe` wrappers. Most users want the safe `kevent` crate.
//!
//! The system calls exist on 64-bit kernels built with `CONFIG_KEVENT`.
//! **Call them only where `/dev/kevent` exists**: the numbers are the next
//! free ones of Linux 6.12, and later kernels without kevent use them for
//! other calls (463 is `setxattrat` from 6.13 on), so on such a kernel a
//! raw call does not fail with `ENOSYS` but runs something else. The safe
//! `kevent` crate checks for the device first.
#![no_std]
#![deny(missing_docs)]
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

/// The generated types and constants of `<linux/kevent.h>`.
#[allow(missing_docs, clippy::all, rustdoc::broken_intra_doc_links)]
pub mod bindings {
    include!("bindings.rs");
}
pub use bindings::*;

use core::ffi::{c_int, c_long, c_uint};

/// `KEVENT_TIMEOUT_INFINITE`: a timeout that never expires (bindgen does
/// not evaluate the header's cast).
pub const KEVENT_TIMEOUT_INFINITE: u64 = !0;

/// Path of the device whose every open creates a queue.
pub const KEVENT_DEVICE: &core::ffi::CStr = c"/dev/kevent";

/// System call numbers. The same on x86-64 and on the architectures that
/// use the generic table (arm64, riscv64, loongarch64).
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64"
))]
pub mod nr {
    /// `kevent_ctl(fd, cmd, num, arg)`
    pub const KEVENT_CTL: i64 = 463;
    /// `kevent_get_events(fd, min_nr, max_nr, timeout_ns, buf, flags)`
    pub const KEVENT_GET_EVENTS: i64 = 464;
    /// `kevent_ring_init(fd, ring, num)`
    pub const KEVENT_RING_INIT: i64 = 465;
    /// `kevent_wait(fd, num, timeout_ns, flags)`
    pub const KEVENT_WAIT: i64 = 466;
}

/// `kevent_ctl()`: applies `cmd` to the `num` entries at `arg`.
///
/// Returns the number of entries processed, or -1 with `errno` set.
///
/// # Safety
///
/// `arg` must point to `num` readable and writable `ukevent`s (the kernel
/// writes back `ret_flags` and `ret_data`).
pub unsafe fn kevent_ctl(fd: c_int, cmd: c_uint, num: c_uint, arg: *mut ukevent) -> c_long {
    libc::syscall(nr::KEVENT_CTL, fd, cmd, num, arg)
}

/// `kevent_get_events()`: waits for `min_nr` events, reports up to
/// `max_nr` into `buf`.
///
/// Returns the number of events, or -1 with `errno` set.
///
/// # Safety
///
/// `buf` must point to `max_nr` writable `ukevent`s.
pub unsafe fn kevent_get_events(
    fd: c_int,
    min_nr: c_uint,
    max_nr: c_uint,
    timeout_ns: u64,
    buf: *mut ukevent,
    flags: c_uint,
) -> c_long {
    libc::syscall(
        nr::KEVENT_GET_EVENTS,
        fd,
        min_nr,
        max_nr,
        timeout_ns,
        buf,
        flags,
    )
}

/// `kevent_ring_init()`: registers the ring at `ring` with `num` entries,
/// or detaches the queue's ring when `ring` is null or `num` is 0.
///
/// Returns 0, or -1 with `errno` set.
///
/// # Safety
///
/// `ring` must be null, or point to an 8-byte aligned [`kevent_ring`]
/// followed by `num` entries, that stays mapped and is not used for
/// anything else until it is detached or the queue is closed: the kernel
/// writes it during every later `kevent_wait()`.
pub unsafe fn kevent_ring_init(fd: c_int, ring: *mut kevent_ring, num: c_uint) -> c_long {
    libc::syscall(nr::KEVENT_RING_INIT, fd, ring, num)
}

/// `kevent_wait()`: waits for an event, then copies up to `num` events into
/// the queue's ring.
///
/// Returns the number of entries filled, or -1 with `errno` set.
///
/// # Safety
///
/// The ring registered on `fd` must still be valid as described for
/// [`kevent_ring_init`].
pub unsafe fn kevent_wait(fd: c_int, num: c_uint, timeout_ns: u64, flags: c_uint) -> c_long {
    libc::syscall(nr::KEVENT_WAIT, fd, num, timeout_ns, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[test]
    fn ukevent_layout_is_the_abi() {
        assert_eq!(size_of::<ukevent>(), 64);
        assert_eq!(align_of::<ukevent>(), 8);
        assert_eq!(offset_of!(ukevent, id), 0);
        assert_eq!(offset_of!(ukevent, type_), 8);
        assert_eq!(offset_of!(ukevent, event), 12);
        assert_eq!(offset_of!(ukevent, req_flags), 16);
        assert_eq!(offset_of!(ukevent, ret_flags), 20);
        assert_eq!(offset_of!(ukevent, ret_data), 24);
        assert_eq!(offset_of!(ukevent, data), 32);
        assert_eq!(offset_of!(ukevent, user_data), 40);
        assert_eq!(offset_of!(ukevent, __reserved), 48);
    }

    #[test]
    fn ring_layout_is_the_abi() {
        assert_eq!(size_of::<kevent_ring>(), 64);
        assert_eq!(align_of::<kevent_ring>(), 8);
        assert_eq!(offset_of!(kevent_ring, head), 0);
        assert_eq!(offset_of!(kevent_ring, tail), 4);
        assert_eq!(offset_of!(kevent_ring, flags), 8);
        assert_eq!(offset_of!(kevent_ring, num), 12);
        assert_eq!(offset_of!(kevent_ring, events), 64);
    }

    #[test]
    fn constants_are_distinct_where_they_must_be() {
        let types = [
            KEVENT_SOCKET,
            KEVENT_INODE,
            KEVENT_TIMER,
            KEVENT_POLL,
            KEVENT_NAIO,
            KEVENT_USER,
            KEVENT_SIGNAL,
        ];
        for (i, t) in types.iter().enumerate() {
            assert_eq!(*t as usize, i + 1, "types are numbered from 1");
        }
        assert_eq!(KEVENT_MAX as usize, types.len() + 1);
        assert_eq!(
            KEVENT_REQ_MASK,
            KEVENT_REQ_ONESHOT | KEVENT_REQ_WAKEUP_ALL | KEVENT_REQ_ET
        );
        assert!(KEVENT_RING_MAX_ENTRIES.is_power_of_two());
    }

    #[test]
    fn syscalls_fail_cleanly_on_a_bad_fd() {
        // Only where kevent exists: elsewhere the number may be another call.
        // SAFETY: a path literal; the result is only tested for existence.
        if unsafe { libc::access(KEVENT_DEVICE.as_ptr(), libc::F_OK) } != 0 {
            return;
        }
        // SAFETY: num is 0, so the null array is never touched.
        let ret = unsafe { kevent_ctl(-1, KEVENT_CTL_ADD, 0, core::ptr::null_mut()) };
        assert_eq!(ret, -1);
        // SAFETY: reading this thread's errno.
        let errno = unsafe { *libc::__errno_location() };
        assert_eq!(errno, libc::EBADF);
    }
}
