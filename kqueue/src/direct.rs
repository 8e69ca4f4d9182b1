//! `EVFILT_READ` and `EVFILT_WRITE` knotes as kernel kevents of their
//! own: a READ knote of descriptor `fd` is the `KEVENT_POLL` kevent
//! `fd | 1 << 32`, a WRITE knote `fd | 2 << 32` (the high half of the id
//! is a tag, part of the key: patch "kevent: poll: a tag in the id's high
//! half"). Each has the knote's own flags and its `udata` as `user_data`,
//! so that a change is a translation into a `ukevent` and an event a
//! translation out of a `kevent_event`: no union of the two filters to
//! plan, commit and demultiplex ([`crate::translate::FdState`], the table
//! the kernels before the tag need, and which still keeps `NOTE_LOWAT`
//! knotes and those of regular files).
//!
//! What the kernel does not keep, the library keeps here, a byte per
//! knote in an array indexed by descriptor ([`DirectNotes`]): the flags a
//! knote reports with every event (`EV_CLEAR`, `EV_ONESHOT`,
//! `EV_DISPATCH`, `EV_RECEIPT`: FreeBSD keeps those of the `EV_ADD` that
//! made the knote), whether the knote exists as far as the library knows
//! (a closed descriptor's kevents go with the close, unseen), and whether
//! it may be disabled. `EV_ADD` of an existing knote is an upsert that
//! keeps the kevent's mode and enabled state (`KEVENT_REQ_KEEP`), as
//! FreeBSD keeps the knote's.

use std::os::fd::RawFd;

use kevent_sys as sys;

use crate::abi::*;
use crate::translate::{KEPT_FLAGS, READ_BITS, WRITE_BITS};

/// The tag of a READ knote's kevent, in the id's high half.
pub const TAG_READ: u64 = 1;
/// The tag of a WRITE knote's kevent.
pub const TAG_WRITE: u64 = 2;

/// Descriptors at or above this keep their READ and WRITE knotes in the
/// table (whose index has the same bound, `fdtable.rs`): the array here
/// is indexed directly, two bytes per number.
pub const MAX_FD: usize = 1 << 20;

/// The knote exists as far as the library knows.
const EXISTS: u8 = 0x10;
/// The knote may be disabled (`EV_DISABLE`, or `EV_DISPATCH` and a
/// report): an `EV_ADD` with `EV_ENABLE` must enable it.
const MAYBE_OFF: u8 = 0x20;
/// An `EV_ONESHOT` knote that was reported: gone, as on FreeBSD, but its
/// kevent stays, disabled (see [`mode_req`]), until a change or the
/// descriptor's close.
const FIRED: u8 = 0x40;
/// The kept flags, shifted down: `KEPT_FLAGS` is 0xf0.
const KEPT_SHIFT: u32 = 4;

/// The kernel id of `filter`'s knote of `fd`.
#[inline]
pub fn id(fd: RawFd, filter: i16) -> u64 {
    let tag = if filter == EVFILT_READ {
        TAG_READ
    } else {
        TAG_WRITE
    };
    fd as u32 as u64 | tag << 32
}

/// The descriptor and filter of a kernel id with a tag, or `None` for
/// an id without one (the table's kevents).
#[inline]
pub fn of_id(id: u64) -> Option<(RawFd, i16)> {
    match id >> 32 {
        TAG_READ => Some((id as u32 as RawFd, EVFILT_READ)),
        TAG_WRITE => Some((id as u32 as RawFd, EVFILT_WRITE)),
        _ => None,
    }
}

/// The `EPOLL*` bits a knote of `filter` asks for.
#[inline]
pub fn events(filter: i16) -> u32 {
    if filter == EVFILT_READ {
        READ_BITS
    } else {
        WRITE_BITS
    }
}

/// The kernel mode of an `EV_ADD`'s flags: `EV_CLEAR` is edge-triggered,
/// and both `EV_DISPATCH` and `EV_ONESHOT` are `KEVENT_REQ_DISPATCH`, as
/// in the table ([`crate::translate::Knote::fd_mode_req`]): a kernel
/// ONESHOT kevent goes with its report, and another thread's change made
/// before the reporting thread translated the report would fail with
/// `ENOENT` and forget the knote, dropping the report (helper-81's F6).
/// Disabled instead, the kevent stays; the translation marks the knote
/// reported ([`Note::fired`]), gone as FreeBSD's is.
#[inline]
pub fn mode_req(flags: u16) -> u32 {
    let mut r = 0;
    if flags & EV_CLEAR != 0 {
        r |= sys::KEVENT_REQ_ET;
    }
    if flags & (EV_ONESHOT | EV_DISPATCH) != 0 {
        r |= sys::KEVENT_REQ_DISPATCH;
    }
    r
}

/// What the library knows of its direct knotes: a byte per filter per
/// descriptor number (READ in the low byte), indexed directly up to the
/// highest number used (as [`crate::fdtable::FdTable`]'s index).
#[derive(Default)]
pub struct DirectNotes {
    bytes: Vec<u16>,
}

/// The byte of one knote.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Note(u8);

impl Note {
    /// A knote just made by an `EV_ADD` with `flags`.
    pub fn made(flags: u16) -> Note {
        let mut b = EXISTS | ((flags & KEPT_FLAGS) >> KEPT_SHIFT) as u8;
        if flags & (EV_DISABLE | EV_DISPATCH) != 0 {
            b |= MAYBE_OFF;
        }
        Note(b)
    }

    /// Whether the knote exists as far as the library knows.
    pub fn exists(self) -> bool {
        self.0 & EXISTS != 0
    }

    /// A reported `EV_ONESHOT` knote: gone, its kevent disabled.
    pub fn reported_oneshot() -> Note {
        Note(FIRED)
    }

    /// Whether this is a reported `EV_ONESHOT` knote's.
    pub fn fired(self) -> bool {
        self.0 & FIRED != 0
    }

    /// Whether an `EV_ADD` with `flags` must be followed by an ENABLE:
    /// with `EV_ENABLE`, of a knote that may be disabled (the upsert
    /// keeps its state).
    pub fn enable_follows(self, flags: u16) -> bool {
        flags & (EV_ENABLE | EV_DISABLE) == EV_ENABLE && self.exists() && self.maybe_off()
    }

    /// Whether it may be disabled.
    pub fn maybe_off(self) -> bool {
        self.0 & MAYBE_OFF != 0
    }

    /// The flags its events carry.
    pub fn kept(self) -> u16 {
        u16::from(self.0 & 0xf) << KEPT_SHIFT
    }

    /// With `EV_DISABLE` (`off`) or `EV_ENABLE` applied.
    pub fn switched(self, off: bool) -> Note {
        if off {
            Note(self.0 | MAYBE_OFF)
        } else if self.kept() & EV_DISPATCH != 0 {
            // A report may disable it again.
            self
        } else {
            Note(self.0 & !MAYBE_OFF)
        }
    }
}

impl DirectNotes {
    /// The byte of `filter`'s knote of `fd` (0: none known).
    #[inline(always)]
    pub fn get(&self, fd: RawFd, filter: i16) -> Note {
        match self.bytes.get(fd as usize) {
            Some(&w) if filter == EVFILT_READ => Note(w as u8),
            Some(&w) => Note((w >> 8) as u8),
            None => Note(0),
        }
    }

    /// Sets it. `fd` is below [`MAX_FD`].
    #[inline(always)]
    pub fn set(&mut self, fd: RawFd, filter: i16, n: Note) {
        let i = fd as usize;
        if i >= self.bytes.len() {
            if n.0 == 0 {
                return;
            }
            self.grow(i);
        }
        let w = &mut self.bytes[i];
        *w = if filter == EVFILT_READ {
            (*w & 0xff00) | u16::from(n.0)
        } else {
            (*w & 0x00ff) | u16::from(n.0) << 8
        };
    }

    /// Room for number `i`, and to spare, so that a server's rising
    /// descriptor numbers grow the array rarely.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        let len = (i + 1).max(self.bytes.len() * 2).clamp(64, MAX_FD);
        self.bytes.resize(len.max(i + 1), 0);
    }

    /// Forgets both knotes of `fd`.
    pub fn forget(&mut self, fd: RawFd) {
        if let Some(w) = self.bytes.get_mut(fd as usize) {
            *w = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneshot_and_dispatch_are_kernel_dispatch() {
        assert_eq!(mode_req(EV_ONESHOT), sys::KEVENT_REQ_DISPATCH);
        assert_eq!(
            mode_req(EV_DISPATCH | EV_CLEAR),
            sys::KEVENT_REQ_DISPATCH | sys::KEVENT_REQ_ET
        );
        assert_eq!(mode_req(0), 0);
    }

    #[test]
    fn ids_carry_the_filter_in_the_tag() {
        assert_eq!(id(5, EVFILT_READ), 5 | 1 << 32);
        assert_eq!(id(5, EVFILT_WRITE), 5 | 2 << 32);
        assert_eq!(of_id(id(7, EVFILT_READ)), Some((7, EVFILT_READ)));
        assert_eq!(
            of_id(id(i32::MAX, EVFILT_WRITE)),
            Some((i32::MAX, EVFILT_WRITE))
        );
        assert_eq!(of_id(7), None);
        assert_eq!(of_id(3 << 32 | 7), None);
    }

    #[test]
    fn a_note_keeps_the_flags_its_events_report() {
        for flags in [
            0,
            EV_CLEAR,
            EV_ONESHOT,
            EV_DISPATCH | EV_RECEIPT,
            KEPT_FLAGS,
        ] {
            let n = Note::made(EV_ADD | EV_ENABLE | flags);
            assert!(n.exists());
            assert_eq!(n.kept(), flags, "{flags:#x}");
            assert_eq!(n.maybe_off(), flags & EV_DISPATCH != 0, "{flags:#x}");
        }
        assert!(Note::made(EV_ADD | EV_DISABLE).maybe_off());
        let n = Note::made(EV_ADD).switched(true);
        assert!(n.maybe_off() && !n.switched(false).maybe_off());
        // A DISPATCH knote's reports disable it: it stays "maybe off".
        assert!(Note::made(EV_ADD | EV_DISPATCH).switched(false).maybe_off());
        // Only an EV_ENABLE without EV_DISABLE of such a knote.
        let off = Note::made(EV_ADD | EV_DISABLE);
        assert!(off.enable_follows(EV_ADD | EV_ENABLE));
        assert!(!off.enable_follows(EV_ADD));
        assert!(!off.enable_follows(EV_ADD | EV_ENABLE | EV_DISABLE));
        assert!(!Note::made(EV_ADD).enable_follows(EV_ADD | EV_ENABLE));
        let fired = Note::reported_oneshot();
        assert!(fired.fired() && !fired.exists() && !fired.enable_follows(EV_ADD | EV_ENABLE));
    }

    #[test]
    fn the_two_filters_of_a_descriptor_are_apart() {
        let mut d = DirectNotes::default();
        assert_eq!(d.get(3, EVFILT_READ), Note(0));
        d.set(3, EVFILT_READ, Note::made(EV_CLEAR));
        d.set(3, EVFILT_WRITE, Note::made(EV_ONESHOT));
        assert_eq!(d.get(3, EVFILT_READ).kept(), EV_CLEAR);
        assert_eq!(d.get(3, EVFILT_WRITE).kept(), EV_ONESHOT);
        d.set(3, EVFILT_READ, Note(0));
        assert!(!d.get(3, EVFILT_READ).exists());
        assert!(d.get(3, EVFILT_WRITE).exists());
        d.forget(3);
        assert!(!d.get(3, EVFILT_WRITE).exists());
        // Unset numbers far away allocate nothing; set ones grow it.
        d.set(1000, EVFILT_READ, Note(0));
        assert_eq!(d.bytes.len(), 64);
        d.set(1000, EVFILT_WRITE, Note::made(0));
        assert!(d.bytes.len() > 1000 && d.get(1000, EVFILT_WRITE).exists());
        assert!(!d.get(1000, EVFILT_READ).exists());
    }
}
