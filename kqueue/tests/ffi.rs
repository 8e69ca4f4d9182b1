//! The C functions as a C program calls them, on any kernel: argument
//! checks come before any kevent system call, and on a kernel without
//! kevent (this machine's host kernel) kqueue() fails cleanly with ENOSYS.
//! The behaviour of each filter is tested in the patched kernel by the C
//! conformance tests (tests/c/).

use std::ptr::{null, null_mut};

use kqueue::abi::*;
use kqueue::{kevent, kqueue, kqueue1, Kevent};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

fn has_kevent() -> bool {
    // SAFETY: kevent_probe is plain data; all zeroes is valid.
    let mut p: kevent_sys::kevent_probe = unsafe { std::mem::zeroed() };
    kevent_sys::probe(&mut p).is_ok() && p.magic == kevent_sys::KEVENT_PROBE_MAGIC
}

#[test]
fn kqueue_needs_kevent() {
    let fd = kqueue();
    if has_kevent() {
        assert!(fd >= 0);
        // SAFETY: our queue.
        unsafe { libc::close(fd) };
    } else {
        assert_eq!((fd, errno()), (-1, libc::ENOSYS));
    }
}

#[test]
fn kqueue1_refuses_unknown_flags() {
    assert_eq!((kqueue1(0x4000_0000), errno()), (-1, libc::EINVAL));
}

#[test]
fn kevent_checks_its_arguments() {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut ev = [Kevent::new(0, 0, 0, 0, 0, 0); 1];
    // SAFETY: valid (or null with count 0) pointers throughout.
    unsafe {
        assert_eq!(
            (kevent(-1, null(), 0, ev.as_mut_ptr(), 1, &ts), errno()),
            (-1, libc::EBADF)
        );
        assert_eq!(
            (kevent(-1, null(), -1, null_mut(), 0, &ts), errno()),
            (-1, libc::EINVAL)
        );
        assert_eq!(
            (kevent(-1, null(), 1, null_mut(), 0, &ts), errno()),
            (-1, libc::EFAULT)
        );
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000_000,
        };
        assert_eq!(
            (kevent(-1, null(), 0, null_mut(), 0, &bad), errno()),
            (-1, libc::EINVAL)
        );
    }
}

#[test]
fn kevent_refuses_lists_past_the_address_space() {
    // A list whose end is past the address space (on 32-bit targets: a
    // count whose size in bytes overflows) is EFAULT, before the queue
    // is looked up (kq -1 would be EBADF) and before any system call.
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let top = usize::MAX - std::mem::size_of::<Kevent>() + 1;
    // SAFETY: the lists are refused before they are read or written.
    unsafe {
        assert_eq!(
            (
                kevent(-1, top as *const Kevent, 2, null_mut(), 0, &ts),
                errno()
            ),
            (-1, libc::EFAULT)
        );
        assert_eq!(
            (kevent(-1, null(), 0, top as *mut Kevent, 2, &ts), errno()),
            (-1, libc::EFAULT)
        );
    }
}

#[test]
fn ev_set_layout_matches_the_header() {
    let k = Kevent::new(3, EVFILT_READ, EV_ADD | EV_CLEAR, 1, 2, 4);
    // 56 bytes on i386, 64 on every other target (src/abi.rs).
    let size = if cfg!(target_arch = "x86") { 56 } else { 64 };
    assert_eq!(std::mem::size_of_val(&k), size);
    assert_eq!(
        (k.ident, k.filter, k.flags, k.fflags, k.data),
        (3, -1, 0x21, 1, 2)
    );
    assert_eq!(k.udata as usize, 4);
    assert_eq!(k.ext, [0; 4]);
}
