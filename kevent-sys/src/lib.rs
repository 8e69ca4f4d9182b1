//! Raw bindings to the Linux kevent interface, ABI version 2.
//!
//! The types and constants in [`bindings`] (re-exported here) are generated
//! with bindgen from the series' uapi header, `include/uapi/linux/kevent.h`
//! (see `kernel-patches/`); a test fails when they drift from it, and
//! `regenerate.sh` rewrites them. This crate adds the system call numbers
//! ([`nr`]) and raw wrappers that check what the kernel returns. Most users
//! want the safe `kevent` crate.
//!
//! **Call [`probe`] first, and the other wrappers only if it reported
//! [`KEVENT_PROBE_MAGIC`] and [`KEVENT_ABI_VERSION`]**: the numbers 500 to
//! 504 are not reserved for kevent upstream, so a kernel without kevent
//! may run something else under them. The probe (`kevent_ctl(-1,
//! KEVENT_CTL_PROBE, ...)`) is designed to be harmless there. The safe
//! `kevent` crate runs it once before any other kevent system call.
//!
//! Every wrapper sets all six argument registers: each of the kernel's
//! arguments as a full register (unsigned values and pointers
//! zero-extended, unused pointers null and their sizes 0), the registers
//! past the call's arguments 0. It checks the return value: a count must
//! lie in `0..=requested`, else the wrapper returns [`Error::Unexpected`].
//! On x86-64, x32 included, the calls are inline `syscall` instructions
//! with 64-bit registers (glibc's variadic `syscall()` takes `long`s, only
//! 32 bits on x32), and `errno` is left alone: the error is in the
//! returned [`Error`]. Elsewhere they go through libc's `syscall()`.
#![no_std]
#![deny(missing_docs)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

/// The generated types and constants of `<linux/kevent.h>`.
///
/// # Alignment
///
/// Every struct and union here is `#[repr(C, align(8))]`. The uapi keeps
/// one layout for 32-bit and 64-bit programs (every `__u64` at a multiple
/// of 8, every size a multiple of 8), so the sizes and offsets are the
/// same on every target; but C aligns a `__u64` member to 4 on i386, where
/// these types are therefore more aligned than C's. The kernel needs no
/// alignment, so that matters only to a pointer that C code hands over:
/// on i386 it may be 4-aligned, so copy it (`read_unaligned`) rather than
/// make a reference from it.
///
/// # `kevent_ring::events` and `__IncompleteArrayField`
///
/// bindgen gives the ring's flexible array member the type
/// `__IncompleteArrayField`, whose `as_ptr`, `as_mut_ptr`, `as_slice` and
/// `as_mut_slice` derive the entries' pointer from a reference to a
/// zero-sized field. Under Stacked Borrows that pointer may not be used to
/// read or write past the field (rust-bindgen #1892), i.e. any entry:
/// **do not call them**. Use [`kevent_ring_entries`],
/// which computes the pointer from the ring's raw pointer instead. The
/// type is hidden from this crate's documentation (here and at the
/// crate's root) for that reason; it stays public, as the type of
/// `kevent_ring::events`.
pub mod bindings {
    pub use super::generated::*;
    // Not to be used (see above): this explicit re-export shadows the
    // glob's, so that the type can be hidden from the documentation.
    #[doc(hidden)]
    pub use super::generated::__IncompleteArrayField;
}

/// bindgen's output, re-exported by [`bindings`].
#[allow(
    missing_docs,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    rustdoc::broken_intra_doc_links
)]
mod generated {
    include!("bindings.rs");
}
pub use bindings::*;
// Hidden at the root too (the glob above would list it otherwise).
#[doc(hidden)]
pub use bindings::__IncompleteArrayField;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The entries of the ring at `ring`: a pointer to its first
/// `kevent_event`, derived from the raw pointer (unlike bindgen's
/// `events.as_ptr()`, see [`bindings`]), valid for `ring.num` entries if
/// `ring` points to a ring allocated with that many.
///
/// Computing the pointer is safe; reading through it needs the ring's
/// protocol (load `head` with acquire before reading entries).
#[inline]
pub fn kevent_ring_entries(ring: *mut kevent_ring) -> *mut kevent_event {
    ring.cast::<u8>()
        .wrapping_add(core::mem::size_of::<kevent_ring>())
        .cast::<kevent_event>()
}

use core::ffi::{c_int, c_long, c_uint};
use core::mem::size_of;

/// `KEVENT_TIMEOUT_INFINITE`: a timeout that never expires (bindgen does
/// not evaluate the header's cast).
pub const KEVENT_TIMEOUT_INFINITE: u64 = !0;

/// `sizeof(struct kevent_wait_args)` as this crate knows it (the
/// `args_size` of [`kevent_get_events`] and [`kevent_wait`]).
pub const KEVENT_WAIT_ARGS_SIZE: usize = size_of::<kevent_wait_args>();

/// The size of the kernel's `sigset_t` (64 signals), the only
/// `kevent_wait_args.sigmask_size` the kernel takes with a mask. Not
/// `size_of::<libc::sigset_t>()`, which is 128 bytes on glibc and musl;
/// the kernel's bits are the first 8 bytes of it.
pub const KERNEL_SIGSET_SIZE: u32 = 8;

/// System call numbers: the same on x86-64 (64-bit and x32), i386 and the
/// architectures that use the generic table (arm64, riscv, loongarch...).
pub mod nr {
    use core::ffi::c_long;

    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "riscv32",
        target_arch = "loongarch64",
        target_arch = "csky",
        target_arch = "hexagon",
    )))]
    compile_error!(
        "kevent-sys: kevent's system call numbers are defined for x86_64 (and x32), \
         x86 (i386) and the generic syscall table (aarch64, riscv, loongarch64, csky, \
         hexagon) only; add this architecture's numbers to kevent-sys/src/lib.rs \
         (mod nr) once its table has them"
    );

    /// x32 numbers a 64-bit "common" call with `__X32_SYSCALL_BIT` set.
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "32"))]
    const BASE: c_long = 0x4000_0000;
    #[cfg(not(all(target_arch = "x86_64", target_pointer_width = "32")))]
    const BASE: c_long = 0;

    /// `int kevent_create(unsigned int flags)`
    pub const KEVENT_CREATE: c_long = BASE + 500;
    /// `int kevent_ctl(int fd, unsigned int cmd, unsigned int num,
    /// struct ukevent *arg)`
    pub const KEVENT_CTL: c_long = BASE + 501;
    /// `int kevent_get_events(int fd, struct kevent_event *events,
    /// unsigned int max_nr, const struct kevent_wait_args *args,
    /// size_t args_size)`
    pub const KEVENT_GET_EVENTS: c_long = BASE + 502;
    /// `int kevent_ring_init(int fd, struct kevent_ring *ring,
    /// unsigned int num, unsigned int flags)`
    pub const KEVENT_RING_INIT: c_long = BASE + 503;
    /// `int kevent_wait(int fd, unsigned int num,
    /// const struct kevent_wait_args *args, size_t args_size)`
    pub const KEVENT_WAIT: c_long = BASE + 504;
}

/// Why a raw call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The kernel returned this `errno`.
    Errno(c_int),
    /// The call returned a value it may not return (a count above the
    /// number requested, a probe size of 0...): the number is not kevent's
    /// on this kernel, or the kernel has a bug.
    Unexpected {
        /// The system call.
        call: &'static str,
        /// What it returned.
        ret: c_long,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Errno(e) => write!(f, "errno {e}"),
            Error::Unexpected { call, ret } => write!(f, "{call} returned {ret}, out of its range"),
        }
    }
}

/// The result of a raw call.
pub type Result<T> = core::result::Result<T, Error>;

/// One argument register's value: 64 bits on x86-64, also for x32
/// (whose `long` and pointers are 32 bits but whose system calls take
/// 64-bit registers), else a `long`.
#[cfg(target_arch = "x86_64")]
type Reg = u64;
#[cfg(not(target_arch = "x86_64"))]
type Reg = c_long;

/// An unsigned `int` argument, zero-extended to a full register.
#[inline]
fn u(x: c_uint) -> Reg {
    x as core::ffi::c_ulong as Reg
}

/// A signed `int` argument (a file descriptor), sign-extended (the kernel
/// reads the low 32 bits).
#[inline]
fn i(x: c_int) -> Reg {
    x as c_long as Reg
}

/// A pointer argument, zero-extended (an x32 pointer above 2 GiB stays
/// positive).
#[inline]
fn p<T>(x: *const T) -> Reg {
    x as usize as Reg
}

/// A `size_t` argument, zero-extended.
#[inline]
fn z(x: usize) -> Reg {
    x as Reg
}

/// A system call with all six argument registers set (unused ones 0).
/// Returns what the kernel returned, or -1 with the error in `Err`.
///
/// On x86-64 (and x32) the call is made with inline assembly: the
/// arguments are full 64-bit registers whatever the width of `long`
/// (glibc's variadic `syscall()` takes `long`s, 32 bits on x32), and
/// `errno` is neither read nor written. Elsewhere it is libc's
/// `syscall()` with six arguments, whose `long` is the register width on
/// every other supported target.
///
/// # Safety
///
/// As for the system call `nr` with these arguments.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn syscall6(nr: c_long, a: [Reg; 6]) -> core::result::Result<c_long, c_int> {
    let ret: i64;
    // c_long is i64 on x86-64 and i32 on x32.
    #[allow(clippy::useless_conversion)]
    let nr = i64::from(nr);
    // SAFETY: the caller vouches for the call; `syscall` clobbers rcx and
    // r11 and returns in rax; it touches no stack.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    decode(ret)
}

/// See the x86-64 version.
///
/// # Safety
///
/// As for the system call `nr` with these arguments.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
unsafe fn syscall6(nr: c_long, a: [Reg; 6]) -> core::result::Result<c_long, c_int> {
    // SAFETY: the caller vouches for the call.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if ret == -1 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// The kernel's return value: -4095..=-1 is an error number.
#[cfg(target_arch = "x86_64")]
#[inline]
fn decode(ret: i64) -> core::result::Result<c_long, c_int> {
    if (-4095..0).contains(&ret) {
        Err(-ret as c_int)
    } else {
        // On x32 a value that does not fit a `long` is out of any range
        // the callers accept: make it -2, which they refuse.
        Ok(c_long::try_from(ret).unwrap_or(-2))
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn errno() -> c_int {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Checks a call that returns a count in `0..=max`.
#[inline]
fn count(
    call: &'static str,
    ret: core::result::Result<c_long, c_int>,
    max: c_uint,
) -> Result<c_uint> {
    match ret {
        Err(e) => Err(Error::Errno(e)),
        Ok(ret) if ret >= 0 && ret as u64 <= u64::from(max) => Ok(ret as c_uint),
        Ok(ret) => Err(Error::Unexpected { call, ret }),
    }
}

/// `kevent_create(flags)`: a new queue.
///
/// `flags`: [`KEVENT_CLOEXEC`], [`KEVENT_NONBLOCK`] (which affects only
/// `read(2)` on the queue). Returns the new descriptor, which the caller
/// owns.
///
/// # Safety
///
/// Only after [`probe`] found kevent ABI v2: elsewhere the number may be
/// another call.
pub unsafe fn kevent_create(flags: c_uint) -> Result<c_int> {
    match syscall6(nr::KEVENT_CREATE, [u(flags), 0, 0, 0, 0, 0]) {
        Err(e) => Err(Error::Errno(e)),
        Ok(ret) if (0..=c_long::from(c_int::MAX)).contains(&ret) => Ok(ret as c_int),
        Ok(ret) => Err(Error::Unexpected {
            call: "kevent_create",
            ret,
        }),
    }
}

/// `kevent_ctl()`: applies `cmd` to the `num` entries at `arg`.
///
/// Returns the number of entries processed (`0..=num`); each entry's own
/// result is in its `ret_flags` and `ret_data`.
///
/// # Safety
///
/// Only after [`probe`] found kevent ABI v2. `arg` must point to `num`
/// readable and writable `ukevent`s (the kernel writes back `ret_flags`
/// and `ret_data`), or be null with `num` 0.
#[inline]
pub unsafe fn kevent_ctl(fd: c_int, cmd: c_uint, num: c_uint, arg: *mut ukevent) -> Result<c_uint> {
    let ret = syscall6(nr::KEVENT_CTL, [i(fd), u(cmd), u(num), p(arg), 0, 0]);
    count("kevent_ctl", ret, num)
}

/// `kevent_ctl(-1, KEVENT_CTL_PROBE, sizeof *probe, probe)`: asks the
/// kernel which kevent ABI it has. Fills `probe` (as much of it as the
/// kernel knows; the rest keeps its value) and returns the kernel's
/// `sizeof(struct kevent_probe)`, which must be above 0.
///
/// The caller must still check `probe.magic == KEVENT_PROBE_MAGIC` and
/// `probe.version == KEVENT_ABI_VERSION` before any other call. Expect
/// `Err(Errno(ENOSYS))` (or another error) on a kernel without kevent.
pub fn probe(probe: &mut kevent_probe) -> Result<usize> {
    let size = size_of::<kevent_probe>();
    // SAFETY: the pointer and size describe `*probe`, which we borrow
    // mutably; the kernel writes at most `size` bytes of it. The probe's
    // arguments (fd -1) are meant to be harmless where the number is not
    // kevent's.
    let ret = unsafe {
        syscall6(
            nr::KEVENT_CTL,
            [
                i(-1),
                u(KEVENT_CTL_PROBE),
                u(size as c_uint),
                p(probe as *mut kevent_probe),
                0,
                0,
            ],
        )
    };
    match ret {
        Err(e) => Err(Error::Errno(e)),
        Ok(ret) if ret > 0 && ret <= c_long::from(u16::MAX as i32) => Ok(ret as usize),
        Ok(ret) => Err(Error::Unexpected {
            call: "kevent_ctl(KEVENT_CTL_PROBE)",
            ret,
        }),
    }
}

/// `kevent_get_events()`: waits as `args` says, reports up to `max_nr`
/// events into `events`.
///
/// `args` null (then `args_size` must be 0) waits forever for one event,
/// with the thread's signal mask. Returns the number of events
/// (`0..=max_nr`; 0 on timeout, and at once without waiting if one of
/// `args.changes`' entries failed: see their `ret_flags`).
///
/// # Safety
///
/// Only after [`probe`] found kevent ABI v2. `events` must point to
/// `max_nr` writable `kevent_event`s; `args`, if not null, to `args_size`
/// readable bytes, and its `sigmask`, if not 0, to `sigmask_size`
/// readable bytes. Its `changes`, if not 0, must point to `nr_changes`
/// readable [`kevent_ctl_batch`]es, each `entries` to `num` readable and
/// writable [`ukevent`]s (the kernel applies them as [`kevent_ctl`] does,
/// before the wait, and writes their results back).
#[inline]
pub unsafe fn kevent_get_events(
    fd: c_int,
    events: *mut kevent_event,
    max_nr: c_uint,
    args: *const kevent_wait_args,
    args_size: usize,
) -> Result<c_uint> {
    let ret = syscall6(
        nr::KEVENT_GET_EVENTS,
        [i(fd), p(events), u(max_nr), p(args), z(args_size), 0],
    );
    count("kevent_get_events", ret, max_nr)
}

/// `kevent_ring_init()`: registers the ring at `ring` with `num` entries,
/// or detaches the queue's ring when `ring` is null and `num` and `flags`
/// are 0 (detaching when there is none succeeds; a null `ring` with a
/// `num`, or a `ring` with `num` 0, is `EINVAL`). `flags` is 0 or, with a
/// ring, [`KEVENT_RING_AT_EVENT`].
///
/// # Safety
///
/// Only after [`probe`] found kevent ABI v2. `ring` must be null, or
/// point to an 8-byte aligned [`kevent_ring`] followed by `num` entries,
/// that stays mapped and is not used for anything else until it is
/// detached or the queue is closed: the kernel writes it during every
/// later `kevent_wait()`.
pub unsafe fn kevent_ring_init(
    fd: c_int,
    ring: *mut kevent_ring,
    num: c_uint,
    flags: c_uint,
) -> Result<()> {
    match syscall6(
        nr::KEVENT_RING_INIT,
        [i(fd), p(ring), u(num), u(flags), 0, 0],
    ) {
        Ok(0) => Ok(()),
        Err(e) => Err(Error::Errno(e)),
        Ok(ret) => Err(Error::Unexpected {
            call: "kevent_ring_init",
            ret,
        }),
    }
}

/// `kevent_wait()`: waits as `args` says (null: forever, for one event),
/// then copies up to `num` events into the queue's ring.
///
/// Returns the number of entries filled (`0..=num`).
///
/// # Safety
///
/// Only after [`probe`] found kevent ABI v2. The ring registered on `fd`
/// must still be valid as described for [`kevent_ring_init`]; `args` as
/// for [`kevent_get_events`].
#[inline]
pub unsafe fn kevent_wait(
    fd: c_int,
    num: c_uint,
    args: *const kevent_wait_args,
    args_size: usize,
) -> Result<c_uint> {
    let ret = syscall6(
        nr::KEVENT_WAIT,
        [i(fd), u(num), p(args), z(args_size), 0, 0],
    );
    count("kevent_wait", ret, num)
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
        assert_eq!(offset_of!(ukevent, __bindgen_anon_1), 48);
        type Timer = ukevent__bindgen_ty_1__bindgen_ty_1;
        assert_eq!(offset_of!(Timer, start), 0);
        assert_eq!(offset_of!(Timer, clock), 8);
        assert_eq!(offset_of!(Timer, flags), 12);
        assert_eq!(size_of::<ukevent__bindgen_ty_1>(), 16);
        type Naio = ukevent__bindgen_ty_1__bindgen_ty_4;
        assert_eq!(size_of::<Naio>(), 16);
        assert_eq!(offset_of!(Naio, fd), 0);
        assert_eq!(offset_of!(Naio, len), 4);
        assert_eq!(offset_of!(Naio, msg_flags), 8);
        assert_eq!(offset_of!(Naio, in_fd), 12);
    }

    #[test]
    fn event_layout_is_the_abi() {
        assert_eq!(size_of::<kevent_event>(), 32);
        assert_eq!(align_of::<kevent_event>(), 8);
        assert_eq!(offset_of!(kevent_event, user_data), 0);
        assert_eq!(offset_of!(kevent_event, id), 8);
        assert_eq!(offset_of!(kevent_event, data), 16);
        assert_eq!(offset_of!(kevent_event, events), 24);
        assert_eq!(offset_of!(kevent_event, type_), 28);
        assert_eq!(offset_of!(kevent_event, flags), 30);
    }

    #[test]
    fn wait_args_and_probe_layouts_are_the_abi() {
        assert_eq!(KEVENT_WAIT_ARGS_SIZE, KEVENT_WAIT_ARGS_SIZE_VER1 as usize);
        assert_eq!(offset_of!(kevent_wait_args, timeout_ns), 0);
        assert_eq!(offset_of!(kevent_wait_args, sigmask), 8);
        assert_eq!(offset_of!(kevent_wait_args, sigmask_size), 16);
        assert_eq!(offset_of!(kevent_wait_args, clock), 20);
        assert_eq!(offset_of!(kevent_wait_args, min_nr), 24);
        assert_eq!(offset_of!(kevent_wait_args, flags), 28);
        assert_eq!(offset_of!(kevent_wait_args, changes), 32);
        assert_eq!(offset_of!(kevent_wait_args, nr_changes), 40);
        assert_eq!(size_of::<kevent_ctl_batch>(), 16);
        assert_eq!(offset_of!(kevent_ctl_batch, num), 4);
        assert_eq!(offset_of!(kevent_ctl_batch, entries), 8);
        assert_eq!(size_of::<kevent_probe>(), 64);
        assert_eq!(offset_of!(kevent_probe, magic), 0);
        assert_eq!(offset_of!(kevent_probe, version), 4);
        assert_eq!(offset_of!(kevent_probe, types), 8);
        assert_eq!(offset_of!(kevent_probe, max_batch), 28);
        assert_eq!(offset_of!(kevent_probe, ring_max_entries), 32);
        assert_eq!(offset_of!(kevent_probe, event_size), 36);
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
    fn constants_are_the_abi() {
        assert_eq!(
            (
                KEVENT_SOCKET,
                KEVENT_INODE,
                KEVENT_TIMER,
                KEVENT_POLL,
                KEVENT_NAIO,
                KEVENT_USER,
                KEVENT_SIGNAL,
                KEVENT_PROC
            ),
            (1, 2, 3, 4, 5, 6, 7, 8)
        );
        assert_eq!((KEVENT_NAIO_SEND, KEVENT_NAIO_RECV), (1, 2));
        assert_eq!(
            (KEVENT_SOCKET_RECV, KEVENT_SOCKET_ACCEPT, KEVENT_SOCKET_SEND),
            (1, 2, 4)
        );
        let inode = [
            KEVENT_INODE_CREATE,
            KEVENT_INODE_REMOVE,
            KEVENT_INODE_MOVED_FROM,
            KEVENT_INODE_MOVED_TO,
            KEVENT_INODE_MODIFY,
            KEVENT_INODE_ATTRIB,
            KEVENT_INODE_MOVE_SELF,
            KEVENT_INODE_DELETE_SELF,
            KEVENT_INODE_REVOKED,
        ];
        for (n, bit) in inode.iter().enumerate() {
            assert_eq!(*bit, 1 << n);
        }
        assert_eq!(KEVENT_ABI_VERSION, 2);
        assert_eq!(&KEVENT_PROBE_MAGIC.to_be_bytes(), b"kevt");
        assert_eq!(KEVENT_CLOEXEC, libc::O_CLOEXEC as u32);
        assert_eq!(KEVENT_NONBLOCK, libc::O_NONBLOCK as u32);
        let req = [
            KEVENT_REQ_ONESHOT,
            KEVENT_REQ_WAKEUP_ALL,
            KEVENT_REQ_ET,
            KEVENT_REQ_DISPATCH,
            KEVENT_REQ_DISABLED,
            KEVENT_REQ_UPDATE,
            KEVENT_REQ_FD_CLOSE,
        ];
        for (n, flag) in req.iter().enumerate() {
            assert_eq!(*flag, 1 << n);
        }
        assert_eq!(
            (
                KEVENT_CLOCK_MONOTONIC,
                KEVENT_CLOCK_REALTIME,
                KEVENT_CLOCK_BOOTTIME
            ),
            (0, 1, 2)
        );
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))]
    #[test]
    fn syscall_numbers() {
        let base = nr::KEVENT_CREATE - 500;
        assert_eq!(
            [
                nr::KEVENT_CREATE,
                nr::KEVENT_CTL,
                nr::KEVENT_GET_EVENTS,
                nr::KEVENT_RING_INIT,
                nr::KEVENT_WAIT
            ],
            [500, 501, 502, 503, 504].map(|n| base + n)
        );
        #[cfg(target_pointer_width = "64")]
        assert_eq!(base, 0);
    }

    #[test]
    fn counts_are_checked() {
        assert_eq!(count("c", Ok(0), 4), Ok(0));
        assert_eq!(count("c", Ok(4), 4), Ok(4));
        assert_eq!(
            count("c", Ok(5), 4),
            Err(Error::Unexpected { call: "c", ret: 5 })
        );
        assert_eq!(
            count("c", Ok(-2), 4),
            Err(Error::Unexpected { call: "c", ret: -2 })
        );
        assert_eq!(
            count("c", Err(libc::EBADF), 4),
            Err(Error::Errno(libc::EBADF))
        );
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            count("c", Ok(1 << 31), u32::MAX),
            Ok(1 << 31),
            "counts above i32::MAX are compared unsigned"
        );
    }

    #[test]
    fn arguments_fill_the_register() {
        // The low 32 bits carry an unsigned int whole on every register
        // width (on i686 the register is 32-bit and signed, so only the
        // low bits mean anything; x86-64 is checked exactly below).
        assert_eq!(u(u32::MAX) as u64 & 0xffff_ffff, 0xffff_ffff);
        #[cfg(target_arch = "x86_64")]
        {
            // 64-bit registers on x86-64 and x32 alike: an unsigned int
            // or a pointer is zero-extended, an fd sign-extended.
            assert_eq!(u(u32::MAX), 0xffff_ffff_u64);
            assert_eq!(u(0x8000_0000), 0x8000_0000_u64);
            assert_eq!(i(-1), u64::MAX);
            assert_eq!(p(0x8000_0000usize as *const u8), 0x8000_0000_u64);
            assert_eq!(z(u32::MAX as usize), 0xffff_ffff_u64);
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(i(-1), -1);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn kernel_returns_are_decoded() {
        assert_eq!(decode(0), Ok(0));
        assert_eq!(decode(64), Ok(64));
        assert_eq!(decode(-1), Err(1));
        assert_eq!(decode(-4095), Err(4095));
        // Below the error range: a value, which the callers then refuse.
        assert_eq!(decode(-4096), Ok(-4096));
        // A made-up number gets ENOSYS from the kernel, through the same
        // path the wrappers take.
        // SAFETY: an unassigned number does nothing.
        assert_eq!(unsafe { syscall6(1_000_000, [0; 6]) }, Err(libc::ENOSYS));
    }

    #[test]
    fn ring_entries_follow_the_header() {
        let mut ring = kevent_ring::default();
        let base = &mut ring as *mut kevent_ring;
        let entries = kevent_ring_entries(base);
        assert_eq!(entries as usize - base as usize, 64);
        assert_eq!(
            entries as usize,
            core::ptr::addr_of!(ring.events) as usize,
            "the same address as the field"
        );
    }

    /// Whether the running kernel has kevent ABI v2.
    fn kevent_here() -> bool {
        let mut pr = kevent_probe::default();
        probe(&mut pr).is_ok() && pr.magic == KEVENT_PROBE_MAGIC && pr.version == KEVENT_ABI_VERSION
    }

    #[test]
    fn probe_fails_cleanly_or_finds_kevent() {
        // On a kernel without kevent this must fail cleanly (ENOSYS on
        // most); with kevent it reports ABI v2.
        let mut pr = kevent_probe::default();
        match probe(&mut pr) {
            Ok(size) => {
                assert_eq!(size, 64);
                assert_eq!((pr.magic, pr.version), (KEVENT_PROBE_MAGIC, 2));
            }
            Err(Error::Errno(e)) => assert!(e > 0),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    #[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
    fn syscalls_fail_cleanly_on_a_bad_fd() {
        assert!(kevent_here(), "no kevent ABI v2 here");
        let null = core::ptr::null_mut();
        // SAFETY: the descriptor is bad and no memory is touched (num 0,
        // or null pointers the kernel never reaches); the same below.
        let r = unsafe { kevent_ctl(-1, KEVENT_CTL_ADD, 0, null) };
        assert_eq!(r, Err(Error::Errno(libc::EBADF)));
        // SAFETY: as above.
        let r = unsafe { kevent_get_events(-1, null.cast(), 1, core::ptr::null(), 0) };
        assert_eq!(r, Err(Error::Errno(libc::EBADF)));
        // SAFETY: as above.
        let r = unsafe { kevent_wait(-1, 1, core::ptr::null(), 0) };
        assert_eq!(r, Err(Error::Errno(libc::EBADF)));
        // SAFETY: as above.
        let r = unsafe { kevent_ring_init(-1, null.cast(), 0, 0) };
        assert_eq!(r, Err(Error::Errno(libc::EBADF)));
        // SAFETY: unknown flags: EINVAL, nothing created.
        let r = unsafe { kevent_create(!0) };
        assert_eq!(r, Err(Error::Errno(libc::EINVAL)));
        // SAFETY: the probe found kevent.
        let fd = unsafe { kevent_create(KEVENT_CLOEXEC) }.unwrap();
        assert!(fd >= 0);
        // SAFETY: closes the queue we just made.
        assert_eq!(unsafe { libc::close(fd) }, 0);
    }

    /// The x32 numbers (`__X32_SYSCALL_BIT` + 501) reach `kevent_ctl`
    /// through the same 64-bit-register path an x32 build takes, with an
    /// address below 4 GiB as x32 pointers are (the kernel decides x32 by
    /// the number, not by the process).
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    #[ignore = "needs the kevent kernel with CONFIG_X86_X32_ABI: run with --include-ignored in the VM"]
    fn x32_numbers_reach_kevent() {
        assert!(kevent_here(), "no kevent ABI v2 here");
        // SAFETY: an anonymous mapping below 4 GiB (MAP_32BIT), ours.
        let mem = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        assert_ne!(mem, libc::MAP_FAILED);
        assert!((mem as usize) < 1 << 32);
        let probe = mem.cast::<kevent_probe>();
        // SAFETY: the probe writes at most 64 bytes of our page.
        let ret = unsafe {
            syscall6(
                0x4000_0000 + 501,
                [i(-1), u(KEVENT_CTL_PROBE), u(64), p(probe), 0, 0],
            )
        };
        assert_eq!(ret, Ok(64));
        // SAFETY: reads our page, which the kernel filled.
        let answer = unsafe { probe.read() };
        let (magic, version) = (answer.magic, answer.version);
        assert_eq!((magic, version), (KEVENT_PROBE_MAGIC, 2));
        // SAFETY: unmaps our page, no longer used.
        assert_eq!(unsafe { libc::munmap(mem, 4096) }, 0);
    }
}
