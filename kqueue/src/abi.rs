//! FreeBSD's `<sys/event.h>` as this library exports it (FreeBSD 12
//! layout, `include/sys/event.h`): the C `struct kevent` and the constants.

use core::ffi::c_void;

/// `struct kevent` of FreeBSD 12 (with `ext[4]`): 64 bytes on 64-bit
/// targets and on x32 (4-byte `ident` and `udata`, 64-bit fields 8-byte
/// aligned, so padded after both), 56 on i386 (64-bit fields 4-byte
/// aligned in structs). `#[repr(C)]` gives the C header's layout on each.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kevent {
    /// `ident`: the file descriptor, signal, pid, timer or user id.
    pub ident: usize,
    /// `filter`: `EVFILT_*`.
    pub filter: i16,
    /// `flags`: `EV_*`.
    pub flags: u16,
    /// `fflags`: filter flags (`NOTE_*`).
    pub fflags: u32,
    /// `data`: filter data.
    pub data: i64,
    /// `udata`: returned unchanged.
    pub udata: *mut c_void,
    /// `ext[4]`: zero on output; ignored on input.
    pub ext: [u64; 4],
}

// SAFETY: `udata` is the application's opaque value: the library stores
// and returns it, and never dereferences it.
unsafe impl Send for Kevent {}
// SAFETY: as for Send: no access through `udata`.
unsafe impl Sync for Kevent {}

impl Kevent {
    /// A `struct kevent` as `EV_SET` fills it.
    pub fn new(
        ident: usize,
        filter: i16,
        flags: u16,
        fflags: u32,
        data: i64,
        udata: usize,
    ) -> Self {
        Kevent {
            ident,
            filter,
            flags,
            fflags,
            data,
            udata: udata as *mut c_void,
            ext: [0; 4],
        }
    }
}

#[allow(missing_docs)]
mod consts {
    pub const EVFILT_READ: i16 = -1;
    pub const EVFILT_WRITE: i16 = -2;
    pub const EVFILT_AIO: i16 = -3;
    pub const EVFILT_VNODE: i16 = -4;
    pub const EVFILT_PROC: i16 = -5;
    pub const EVFILT_SIGNAL: i16 = -6;
    pub const EVFILT_TIMER: i16 = -7;
    pub const EVFILT_USER: i16 = -11;

    pub const EV_ADD: u16 = 0x0001;
    pub const EV_DELETE: u16 = 0x0002;
    pub const EV_ENABLE: u16 = 0x0004;
    pub const EV_DISABLE: u16 = 0x0008;
    pub const EV_ONESHOT: u16 = 0x0010;
    pub const EV_CLEAR: u16 = 0x0020;
    pub const EV_RECEIPT: u16 = 0x0040;
    pub const EV_DISPATCH: u16 = 0x0080;
    pub const EV_ERROR: u16 = 0x4000;
    pub const EV_EOF: u16 = 0x8000;

    pub const NOTE_FFNOP: u32 = 0;
    pub const NOTE_FFAND: u32 = 0x4000_0000;
    pub const NOTE_FFOR: u32 = 0x8000_0000;
    pub const NOTE_FFCOPY: u32 = 0xc000_0000;
    pub const NOTE_FFCTRLMASK: u32 = 0xc000_0000;
    pub const NOTE_FFLAGSMASK: u32 = 0x00ff_ffff;
    pub const NOTE_TRIGGER: u32 = 0x0100_0000;

    pub const NOTE_LOWAT: u32 = 0x0001;

    pub const NOTE_DELETE: u32 = 0x0001;
    pub const NOTE_WRITE: u32 = 0x0002;
    pub const NOTE_EXTEND: u32 = 0x0004;
    pub const NOTE_ATTRIB: u32 = 0x0008;
    pub const NOTE_LINK: u32 = 0x0010;
    pub const NOTE_RENAME: u32 = 0x0020;
    pub const NOTE_REVOKE: u32 = 0x0040;

    pub const NOTE_EXIT: u32 = 0x8000_0000;

    pub const NOTE_SECONDS: u32 = 0x1;
    pub const NOTE_MSECONDS: u32 = 0x2;
    pub const NOTE_USECONDS: u32 = 0x4;
    pub const NOTE_NSECONDS: u32 = 0x8;
    pub const NOTE_ABSTIME: u32 = 0x10;
}
pub use consts::*;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// The C layout of FreeBSD 12's `struct kevent` on the target: size,
    /// then the offsets of ident, filter, flags, fflags, data, udata, ext
    /// (tests/header/event_h.c checks the header's for the same ABIs).
    const LAYOUT: [usize; 8] = if cfg!(target_pointer_width = "64") {
        [64, 0, 8, 10, 12, 16, 24, 32]
    } else if cfg!(target_arch = "x86") {
        // i386: a 64-bit integer in a struct is 4-byte aligned.
        [56, 0, 4, 6, 8, 12, 20, 24]
    } else {
        // x32, arm, and other 32-bit ABIs with 8-byte aligned 64-bit
        // integers: padding after fflags and after udata.
        [64, 0, 4, 6, 8, 16, 24, 32]
    };

    #[test]
    fn struct_kevent_has_freebsd_12_layout() {
        let got = [
            size_of::<Kevent>(),
            offset_of!(Kevent, ident),
            offset_of!(Kevent, filter),
            offset_of!(Kevent, flags),
            offset_of!(Kevent, fflags),
            offset_of!(Kevent, data),
            offset_of!(Kevent, udata),
            offset_of!(Kevent, ext),
        ];
        assert_eq!(got, LAYOUT);
    }

    #[test]
    fn header_and_rust_constants_agree() {
        let h = include_str!("../include/sys/event.h");
        let find = |name: &str| -> i64 {
            let line = h
                .lines()
                .find(|l| l.starts_with("#define ") && l.split_whitespace().nth(1) == Some(name))
                .unwrap_or_else(|| panic!("{name} not in event.h"));
            let v = line.split_whitespace().nth(2).unwrap();
            let v = v.trim_start_matches('(').trim_end_matches(')');
            if let Some(hex) = v.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).unwrap()
            } else {
                v.parse().unwrap()
            }
        };
        let pairs: &[(&str, i64)] = &[
            ("EVFILT_READ", EVFILT_READ.into()),
            ("EVFILT_WRITE", EVFILT_WRITE.into()),
            ("EVFILT_AIO", EVFILT_AIO.into()),
            ("EVFILT_VNODE", EVFILT_VNODE.into()),
            ("EVFILT_PROC", EVFILT_PROC.into()),
            ("EVFILT_SIGNAL", EVFILT_SIGNAL.into()),
            ("EVFILT_TIMER", EVFILT_TIMER.into()),
            ("EVFILT_USER", EVFILT_USER.into()),
            ("EV_ADD", EV_ADD.into()),
            ("EV_DELETE", EV_DELETE.into()),
            ("EV_ENABLE", EV_ENABLE.into()),
            ("EV_DISABLE", EV_DISABLE.into()),
            ("EV_ONESHOT", EV_ONESHOT.into()),
            ("EV_CLEAR", EV_CLEAR.into()),
            ("EV_RECEIPT", EV_RECEIPT.into()),
            ("EV_DISPATCH", EV_DISPATCH.into()),
            ("EV_ERROR", EV_ERROR.into()),
            ("EV_EOF", EV_EOF.into()),
            ("NOTE_FFNOP", NOTE_FFNOP.into()),
            ("NOTE_FFAND", NOTE_FFAND.into()),
            ("NOTE_FFOR", NOTE_FFOR.into()),
            ("NOTE_FFCOPY", NOTE_FFCOPY.into()),
            ("NOTE_FFCTRLMASK", NOTE_FFCTRLMASK.into()),
            ("NOTE_FFLAGSMASK", NOTE_FFLAGSMASK.into()),
            ("NOTE_TRIGGER", NOTE_TRIGGER.into()),
            ("NOTE_LOWAT", NOTE_LOWAT.into()),
            ("NOTE_DELETE", NOTE_DELETE.into()),
            ("NOTE_WRITE", NOTE_WRITE.into()),
            ("NOTE_EXTEND", NOTE_EXTEND.into()),
            ("NOTE_ATTRIB", NOTE_ATTRIB.into()),
            ("NOTE_LINK", NOTE_LINK.into()),
            ("NOTE_RENAME", NOTE_RENAME.into()),
            ("NOTE_REVOKE", NOTE_REVOKE.into()),
            ("NOTE_EXIT", NOTE_EXIT.into()),
            ("NOTE_SECONDS", NOTE_SECONDS.into()),
            ("NOTE_MSECONDS", NOTE_MSECONDS.into()),
            ("NOTE_USECONDS", NOTE_USECONDS.into()),
            ("NOTE_NSECONDS", NOTE_NSECONDS.into()),
            ("NOTE_ABSTIME", NOTE_ABSTIME.into()),
        ];
        for (name, v) in pairs {
            assert_eq!(find(name), *v, "{name}");
        }
    }
}
