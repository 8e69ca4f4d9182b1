//! The translation between kqueue's knotes and kevent's requests, with no
//! system calls: what the library keeps per file descriptor, what the
//! kernel's one `KEVENT_POLL` kevent per descriptor must be for it, which
//! filters an event fires, timer units, `EVFILT_USER` flag operations and
//! timeouts. Host-tested.

use crate::abi::*;
use kevent_sys as sys;

/// `EPOLLIN | EPOLLRDHUP`: what `EVFILT_READ` asks the kernel for.
pub const READ_BITS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
/// `EPOLLOUT`: what `EVFILT_WRITE` asks the kernel for.
pub const WRITE_BITS: u32 = libc::EPOLLOUT as u32;
const HUP: u32 = libc::EPOLLHUP as u32;
const ERR: u32 = libc::EPOLLERR as u32;
const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const RDHUP: u32 = libc::EPOLLRDHUP as u32;

/// The flags a knote keeps from its `EV_ADD` and reports back.
pub const KEPT_FLAGS: u16 = EV_ONESHOT | EV_CLEAR | EV_DISPATCH | EV_RECEIPT;

/// One registered filter of a file descriptor (`EVFILT_READ` or
/// `EVFILT_WRITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knote {
    /// `udata`, returned with every event.
    pub udata: usize,
    /// The kept flags (`EV_ONESHOT`, `EV_CLEAR`, `EV_DISPATCH`, `EV_RECEIPT`).
    pub flags: u16,
    /// Not disabled (`EV_DISABLE`, or reported with `EV_DISPATCH`).
    pub enabled: bool,
    /// `fflags` of the last `EV_ADD` (`NOTE_LOWAT`).
    pub fflags: u32,
    /// `data` of the last `EV_ADD` (the low-water mark).
    pub data: i64,
    /// A knote kept by id (timer, user event, signal, process): the
    /// number of the `EV_ADD` whose request created its kernel kevent,
    /// which every request of it carries in `user_data`. A report with a
    /// lower one comes from a kevent gone before (a oneshot's, taken by
    /// another thread's wait before the `EV_ADD` made a new one): not
    /// this knote's. 0 for descriptors' knotes.
    pub born: u64,
}

impl Knote {
    /// A new knote from an `EV_ADD` change.
    pub fn new(kev: &Kevent) -> Knote {
        Knote {
            udata: kev.udata as usize,
            flags: kev.flags & KEPT_FLAGS,
            enabled: kev.flags & EV_DISABLE == 0,
            fflags: kev.fflags,
            data: kev.data,
            born: 0,
        }
    }

    /// The knote after an `EV_ADD` of `kev` on a filter whose kernel
    /// kevents are always edge-triggered (a timer's, a vnode's): the
    /// `existing` knote updated ([`Knote::update`]), or a new one with
    /// `EV_CLEAR`, so that its reports say how it behaves (FreeBSD's
    /// `filt_timerattach()` sets it for timers too).
    pub fn added_clear(existing: Option<Knote>, kev: &Kevent) -> Knote {
        match existing {
            Some(mut k) => {
                k.update(kev);
                k
            }
            None => {
                let mut k = Knote::new(kev);
                k.flags |= EV_CLEAR;
                k
            }
        }
    }

    /// An `EV_ADD` of this existing knote: FreeBSD updates udata, fflags
    /// and data, keeps the mode flags, and changes the enabled state only
    /// with `EV_DISABLE` or `EV_ENABLE`.
    pub fn update(&mut self, kev: &Kevent) {
        self.udata = kev.udata as usize;
        self.fflags = kev.fflags;
        self.data = kev.data;
        if kev.flags & EV_DISABLE != 0 {
            self.enabled = false;
        } else if kev.flags & EV_ENABLE != 0 {
            self.enabled = true;
        }
    }

    /// The kernel request flags of a descriptor's kevent for this knote
    /// alone: [`Knote::mode_req`], but `EV_ONESHOT` as
    /// `KEVENT_REQ_DISPATCH`. A kernel ONESHOT kevent goes with its
    /// report; a MODIFY from another thread that comes before the
    /// reporting thread's table has seen the report then fails with
    /// `ENOENT`, which the table can only take for a close, and the
    /// reported event was lost (helper-81's F6). Disabled by the report,
    /// the kevent stays: the table drops the knote when it sees the
    /// report, and keeps the disabled kevent for the descriptor's next
    /// `EV_ADD` (one upsert, no new kevent) until the descriptor closes
    /// (`KEVENT_REQ_FD_CLOSE` removes it).
    #[inline]
    pub fn fd_mode_req(&self) -> u32 {
        let mut r = 0;
        if self.flags & EV_CLEAR != 0 {
            r |= sys::KEVENT_REQ_ET;
        }
        if self.flags & (EV_ONESHOT | EV_DISPATCH) != 0 {
            r |= sys::KEVENT_REQ_DISPATCH;
        }
        r
    }

    /// The kernel request flags for this knote's mode alone.
    pub fn mode_req(&self) -> u32 {
        let mut r = 0;
        if self.flags & EV_CLEAR != 0 {
            r |= sys::KEVENT_REQ_ET;
        }
        if self.flags & EV_ONESHOT != 0 {
            r |= sys::KEVENT_REQ_ONESHOT;
        } else if self.flags & EV_DISPATCH != 0 {
            r |= sys::KEVENT_REQ_DISPATCH;
        }
        r
    }
}

/// What the kernel's `KEVENT_POLL` kevent of a descriptor is (or must be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KState {
    /// The `EPOLL*` bits.
    pub events: u32,
    /// `KEVENT_REQ_*` flags, without `DISABLED` and `UPDATE`.
    pub req_flags: u32,
    /// Registered disabled.
    pub disabled: bool,
}

/// A kernel request for a descriptor: the command and the state it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdOp {
    /// `KEVENT_CTL_ADD` with `KEVENT_REQ_UPDATE`.
    Add(KState),
    /// `KEVENT_CTL_MODIFY`.
    Modify(KState),
    /// `KEVENT_CTL_REMOVE`.
    Remove,
}

impl FdOp {
    /// The `KEVENT_CTL_*` command.
    pub fn cmd(&self) -> u32 {
        match self {
            FdOp::Add(_) => sys::KEVENT_CTL_ADD,
            FdOp::Modify(_) => sys::KEVENT_CTL_MODIFY,
            FdOp::Remove => sys::KEVENT_CTL_REMOVE,
        }
    }

    /// The kernel state after the request succeeded.
    pub fn result(&self) -> Option<KState> {
        match self {
            FdOp::Add(k) | FdOp::Modify(k) => Some(*k),
            FdOp::Remove => None,
        }
    }

    /// The `ukevent.req_flags` of the request.
    pub fn req_flags(&self) -> u32 {
        match self {
            FdOp::Add(k) | FdOp::Modify(k) => {
                let mut r = k.req_flags;
                if k.disabled {
                    r |= sys::KEVENT_REQ_DISABLED;
                }
                if matches!(self, FdOp::Add(_)) {
                    r |= sys::KEVENT_REQ_UPDATE;
                }
                r
            }
            FdOp::Remove => 0,
        }
    }
}

/// Which filters an event of a descriptor fired, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fired {
    /// `EVFILT_READ` fires.
    pub read: bool,
    /// `EVFILT_WRITE` fires.
    pub write: bool,
    /// `EV_EOF` on the read event (`EPOLLRDHUP` or `EPOLLHUP`).
    pub read_eof: bool,
    /// `EV_EOF` on the write event (`EPOLLHUP` or `EPOLLERR`).
    pub write_eof: bool,
}

/// The library's state of one file descriptor: its two filters and what
/// the kernel holds for it (READ and WRITE share one `KEVENT_POLL` kevent,
/// keyed by the descriptor, with the union of their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FdState {
    /// `EVFILT_READ`.
    pub read: Option<Knote>,
    /// `EVFILT_WRITE`.
    pub write: Option<Knote>,
    /// The kernel's kevent as the library last set it.
    pub kernel: Option<KState>,
    /// A level-triggered `EVFILT_READ` with `NOTE_LOWAT` was reported by
    /// the kernel below its mark (the mark is the library's: a file's
    /// `->poll()` reports any data): the kevent is edge-triggered until
    /// the READ knote fires or changes, so that a wait sleeps until the
    /// file gets more data, where a level-triggered kevent would report
    /// the file again at once and the wait would spin without end.
    pub parked: bool,
}

impl FdState {
    /// The knote of `filter` (READ or WRITE).
    pub fn slot(&mut self, filter: i16) -> &mut Option<Knote> {
        if filter == EVFILT_READ {
            &mut self.read
        } else {
            &mut self.write
        }
    }

    /// No filter left.
    pub fn is_empty(&self) -> bool {
        self.read.is_none() && self.write.is_none()
    }

    /// The kernel kevent these knotes need: the union of the enabled
    /// filters' bits; the one filter's mode (ET, ONESHOT, DISPATCH) when
    /// it is alone; with both, edge-triggered only if both are `EV_CLEAR`
    /// (ONESHOT and DISPATCH are then done by the library); disabled when
    /// no filter is enabled; always `KEVENT_REQ_FD_CLOSE`; only
    /// edge-triggered while [`FdState::parked`].
    pub fn desired(&self) -> Option<KState> {
        // Straight-line, a case per number of filters: this runs for every
        // change of a descriptor and every report that changes it (a loop
        // over the two filters cost about 30 instructions more per call).
        let fd_close = sys::KEVENT_REQ_FD_CLOSE;
        // Parked: plain edge-triggered, the library doing ONESHOT and
        // DISPATCH (a kernel DISPATCH kevent re-enabled would be polled,
        // and so reported below the mark, at once).
        match (self.read, self.write) {
            (None, None) => None,
            (Some(k), None) | (None, Some(k)) => {
                let events = if self.read.is_some() {
                    READ_BITS
                } else {
                    WRITE_BITS
                };
                let mode = if self.parked {
                    sys::KEVENT_REQ_ET
                } else {
                    k.fd_mode_req()
                };
                Some(KState {
                    events,
                    req_flags: fd_close | mode,
                    disabled: !k.enabled,
                })
            }
            (Some(r), Some(w)) => {
                let disabled = !r.enabled && !w.enabled;
                // The filters that count: the enabled ones, or both when
                // neither is.
                let (read, write) = (disabled || r.enabled, disabled || w.enabled);
                let mut events = 0;
                if read {
                    events |= READ_BITS;
                }
                if write {
                    events |= WRITE_BITS;
                }
                let clear = |counts: bool, k: Knote| !counts || k.flags & EV_CLEAR != 0;
                let et = self.parked || (clear(read, r) && clear(write, w));
                Some(KState {
                    events,
                    req_flags: fd_close | if et { sys::KEVENT_REQ_ET } else { 0 },
                    disabled,
                })
            }
        }
    }

    /// The request that brings the kernel to [`FdState::desired`], if any.
    pub fn op(&self) -> Option<FdOp> {
        self.op_to(self.desired())
    }

    /// [`FdState::op`] with [`FdState::desired`] computed by the caller.
    pub fn op_to(&self, desired: Option<KState>) -> Option<FdOp> {
        match (self.kernel, desired) {
            (None, None) => None,
            (None, Some(d)) => Some(FdOp::Add(d)),
            (Some(_), None) => Some(FdOp::Remove),
            (Some(k), Some(d)) if k == d => None,
            (Some(_), Some(d)) => Some(FdOp::Modify(d)),
        }
    }

    /// Which enabled filters an event with `events` bits fires.
    pub fn fired(&self, events: u32) -> Fired {
        let on = |k: &Option<Knote>| k.is_some_and(|k| k.enabled);
        Fired {
            read: on(&self.read) && events & (IN | RDHUP | HUP | ERR) != 0,
            write: on(&self.write) && events & (OUT | HUP | ERR) != 0,
            read_eof: events & (RDHUP | HUP) != 0,
            write_eof: events & (HUP | ERR) != 0,
        }
    }

    /// After `filter` was reported: ONESHOT removes it, DISPATCH disables
    /// it; the kernel's own ONESHOT or DISPATCH is mirrored. Returns
    /// whether the kernel must be brought up to date ([`FdState::op`]).
    #[cfg(test)]
    pub fn reported(&mut self, filter: i16) -> bool {
        self.mark_reported(filter);
        !self.lingers() && self.op().is_some()
    }

    /// No knote left, and the kernel's kevent disabled: the kevent a
    /// reported lone `EV_ONESHOT` knote leaves ([`Knote::fd_mode_req`]).
    /// It stays for the descriptor's next `EV_ADD`: no request.
    pub fn lingers(&self) -> bool {
        self.is_empty() && self.kernel.is_some_and(|k| k.disabled)
    }

    /// After `filter` was reported: ONESHOT removes it, DISPATCH disables
    /// it. Returns whether it may have changed (ONESHOT or DISPATCH), so
    /// that a report of a knote with neither computes no
    /// [`FdState::op`].
    pub fn mark_reported(&mut self, filter: i16) -> bool {
        let slot = self.slot(filter);
        match slot {
            Some(k) if k.flags & EV_ONESHOT != 0 => *slot = None,
            Some(k) if k.flags & EV_DISPATCH != 0 => k.enabled = false,
            _ => return false,
        }
        true
    }

    /// A report that fires no enabled filter, from a kevent the table
    /// believes enabled and level-triggered, cannot come from the kevent
    /// the table set: the kernel's kevent is not what the table says (a
    /// request planned from another table reached this queue through a
    /// reused queue number, say). Left so, it would come back at every
    /// wait, dropped each time: the wait would spin. Forgets what the
    /// kernel holds, so that [`FdState::op`] sets it again (a MODIFY to
    /// [`FdState::desired`]); returns whether it did. Only for a kevent
    /// the table believes level-triggered and enabled: the one kind whose
    /// unexplained report comes back at every wait (a kevent the table
    /// believes edge-triggered, dispatched or disabled is not covered:
    /// see kqueue/README.md).
    pub fn resync_if_level(&mut self) -> bool {
        let not_level = sys::KEVENT_REQ_ET | sys::KEVENT_REQ_ONESHOT | sys::KEVENT_REQ_DISPATCH;
        match &mut self.kernel {
            // (Already forgotten: its MODIFY is on its way.)
            Some(k) if k.req_flags & not_level == 0 && !k.disabled && k.events != u32::MAX => {
                // No kevent has every bit: never equal to desired().
                k.events = u32::MAX;
                true
            }
            _ => false,
        }
    }

    /// The kernel's reaction to its own report: a ONESHOT kevent is gone,
    /// a DISPATCH one disabled. Returns whether it may have changed.
    pub fn kernel_reported(&mut self) -> bool {
        match &mut self.kernel {
            Some(k) if k.req_flags & sys::KEVENT_REQ_ONESHOT != 0 => self.kernel = None,
            Some(k) if k.req_flags & sys::KEVENT_REQ_DISPATCH != 0 => k.disabled = true,
            _ => return false,
        }
        true
    }
}

/// `EVFILT_TIMER`'s `data` in `fflags`' unit (milliseconds by default),
/// in nanoseconds. `EINVAL` for a negative value or two units.
pub fn timer_ns(fflags: u32, data: i64) -> Result<u64, i32> {
    if data < 0 {
        return Err(libc::EINVAL);
    }
    let unit: u64 = match fflags & (NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS) {
        0 | NOTE_MSECONDS => 1_000_000,
        NOTE_SECONDS => 1_000_000_000,
        NOTE_USECONDS => 1_000,
        NOTE_NSECONDS => 1,
        _ => return Err(libc::EINVAL),
    };
    Ok((data as u64).saturating_mul(unit))
}

/// The kernel's shortest timer period (1 us).
pub const MIN_PERIOD_NS: u64 = 1_000;

/// The `KEVENT_TIMER` request fields of an `EVFILT_TIMER` `EV_ADD`:
/// `(data = period, timer.start, timer.flags)`. Periodic timers start one
/// period from now; `EV_ONESHOT` ones expire once (period 0) and are
/// removed by the kernel; `NOTE_ABSTIME` ones expire once at the absolute time on
/// `CLOCK_REALTIME` (data counted in the unit from the epoch).
/// A periodic timer with `data` 0 has a period of 1 unit, as FreeBSD's
/// `filt_timervalidate()` makes it (not the kernel's 1 us).
pub fn timer_request(kev: &Kevent) -> Result<(u64, u64, u32), i32> {
    let periodic = kev.flags & EV_ONESHOT == 0 && kev.fflags & NOTE_ABSTIME == 0;
    let data = if kev.data == 0 && periodic {
        1
    } else {
        kev.data
    };
    let ns = timer_ns(kev.fflags, data)?;
    if kev.fflags & NOTE_ABSTIME != 0 {
        return Ok((0, ns.max(1), sys::KEVENT_TIMER_ABSTIME));
    }
    let period = ns.max(MIN_PERIOD_NS);
    if kev.flags & EV_ONESHOT != 0 {
        // Expires once (data 1), however late it is collected.
        return Ok((0, period, 0));
    }
    Ok((period, period, 0))
}

/// `EVFILT_USER`: the new `fflags` after the operation in `fflags`'s
/// control bits (`NOTE_FFNOP`, `NOTE_FFAND`, `NOTE_FFOR`, `NOTE_FFCOPY`).
pub fn user_fflags(current: u32, fflags: u32) -> u32 {
    let v = fflags & NOTE_FFLAGSMASK;
    match fflags & NOTE_FFCTRLMASK {
        NOTE_FFAND => current & v,
        NOTE_FFOR => current | v,
        NOTE_FFCOPY => v,
        _ => current,
    }
}

/// A `struct timespec` timeout as nanoseconds (`None`: forever); `EINVAL`
/// for a negative or unnormalised one.
pub fn timeout_ns(ts: Option<&libc::timespec>) -> Result<Option<u64>, i32> {
    let Some(ts) = ts else { return Ok(None) };
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(libc::EINVAL);
    }
    Ok(Some(
        (ts.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec as u64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kev(filter: i16, flags: u16) -> Kevent {
        Kevent::new(5, filter, flags, 0, 0, 0x1234)
    }

    /// [`FdState::desired`] as first written (a loop over the two
    /// filters): the straight-line form must give the same state for
    /// every combination of knotes, flags, enabling and parking.
    fn desired_reference(s: &FdState) -> Option<KState> {
        let (r, w) = (s.read, s.write);
        let (k, alone) = match (r, w) {
            (None, None) => return None,
            (Some(k), None) | (None, Some(k)) => (k, true),
            (Some(k), Some(_)) => (k, false),
        };
        let fd_close = sys::KEVENT_REQ_FD_CLOSE;
        let on = |k: Option<Knote>| k.is_some_and(|k| k.enabled);
        let disabled = !on(r) && !on(w);
        let counts = |k: Option<Knote>| k.is_some() && (disabled || k.is_some_and(|k| k.enabled));
        let mut events = 0;
        let mut all_clear = true;
        for (k, bits) in [(r, READ_BITS), (w, WRITE_BITS)] {
            if counts(k) {
                events |= bits;
                all_clear &= k.is_some_and(|k| k.flags & EV_CLEAR != 0);
            }
        }
        let req_flags = if alone && !s.parked {
            fd_close | k.fd_mode_req()
        } else if all_clear || s.parked {
            fd_close | sys::KEVENT_REQ_ET
        } else {
            fd_close
        };
        Some(KState {
            events,
            req_flags,
            disabled,
        })
    }

    #[test]
    fn desired_matches_the_reference_everywhere() {
        // Every subset of the flags a knote keeps.
        let modes: Vec<u16> = (0..=u16::MAX).filter(|&f| f & !KEPT_FLAGS == 0).collect();
        assert_eq!(modes.len(), 1 << KEPT_FLAGS.count_ones());
        let mut knotes = vec![None];
        for &flags in &modes {
            for enabled in [false, true] {
                let mut k = Knote::new(&kev(EVFILT_READ, EV_ADD | flags));
                k.enabled = enabled;
                knotes.push(Some(k));
            }
        }
        let mut n = 0;
        for read in &knotes {
            for write in &knotes {
                for parked in [false, true] {
                    let s = FdState {
                        read: *read,
                        write: *write,
                        kernel: None,
                        parked,
                    };
                    assert_eq!(s.desired(), desired_reference(&s), "{s:?}");
                    n += 1;
                }
            }
        }
        let states = 1 + 2 * modes.len();
        assert_eq!(n, states * states * 2);
    }

    fn with(read: Option<u16>, write: Option<u16>) -> FdState {
        FdState {
            read: read.map(|f| Knote::new(&kev(EVFILT_READ, EV_ADD | f))),
            write: write.map(|f| Knote::new(&kev(EVFILT_WRITE, EV_ADD | f))),
            kernel: None,
            parked: false,
        }
    }

    const FDC: u32 = sys::KEVENT_REQ_FD_CLOSE;

    #[test]
    fn a_level_kevent_the_table_cannot_explain_is_set_again() {
        let mut s = with(Some(0), None);
        let d = s.desired();
        s.kernel = d;
        assert_eq!(s.op(), None);
        assert!(s.resync_if_level());
        assert_eq!(s.op(), d.map(FdOp::Modify));
        // Once: the MODIFY is owed already.
        assert!(!s.resync_if_level());
        // Only a kevent the table believes level-triggered.
        for f in [EV_CLEAR, EV_ONESHOT, EV_DISPATCH] {
            let mut s = with(Some(f), None);
            s.kernel = s.desired();
            assert!(!s.resync_if_level());
            assert_eq!(s.op(), None);
        }
    }

    #[test]
    fn a_parked_descriptor_is_edge_triggered() {
        let et = sys::KEVENT_REQ_ET;
        for (read, write) in [
            (Some(0), None),
            (Some(EV_DISPATCH), None),
            (Some(EV_ONESHOT), None),
            (Some(0), Some(0)),
        ] {
            let mut s = with(read, write);
            let level = s.desired().expect("a kevent");
            assert_eq!(level.req_flags & et, 0);
            s.parked = true;
            let parked = s.desired().expect("a kevent");
            // No kernel DISPATCH or ONESHOT: the library does them.
            assert_eq!(parked.req_flags, FDC | et);
            assert_eq!(parked.events, level.events);
            assert_eq!(s.op_to(Some(parked)), Some(FdOp::Add(parked)));
        }
    }

    #[test]
    fn one_filter_adds_its_bits_and_mode() {
        let s = with(Some(0), None);
        assert_eq!(
            s.op(),
            Some(FdOp::Add(KState {
                events: READ_BITS,
                req_flags: FDC,
                disabled: false
            }))
        );
        let s = with(None, Some(EV_CLEAR | EV_DISPATCH));
        let d = s.desired().unwrap();
        assert_eq!(d.events, WRITE_BITS);
        assert_eq!(
            d.req_flags,
            FDC | sys::KEVENT_REQ_ET | sys::KEVENT_REQ_DISPATCH
        );
        // A lone EV_ONESHOT is a kernel DISPATCH (Knote::fd_mode_req()).
        let s = with(Some(EV_ONESHOT), None);
        assert_eq!(
            s.desired().unwrap().req_flags,
            FDC | sys::KEVENT_REQ_DISPATCH
        );
        assert_eq!(
            FdOp::Add(s.desired().unwrap()).req_flags(),
            FDC | sys::KEVENT_REQ_DISPATCH | sys::KEVENT_REQ_UPDATE
        );
        let s = with(Some(EV_ONESHOT | EV_CLEAR), None);
        assert_eq!(
            s.desired().unwrap().req_flags,
            FDC | sys::KEVENT_REQ_ET | sys::KEVENT_REQ_DISPATCH
        );
    }

    #[test]
    fn read_and_write_share_one_kevent() {
        let mut s = with(Some(0), None);
        s.kernel = s.desired();
        s.write = Some(Knote::new(&kev(EVFILT_WRITE, EV_ADD)));
        assert_eq!(
            s.op(),
            Some(FdOp::Modify(KState {
                events: READ_BITS | WRITE_BITS,
                req_flags: FDC,
                disabled: false
            }))
        );
        // Both EV_CLEAR: edge-triggered; mixed: level.
        assert_eq!(
            with(Some(EV_CLEAR), Some(EV_CLEAR))
                .desired()
                .unwrap()
                .req_flags,
            FDC | sys::KEVENT_REQ_ET
        );
        assert_eq!(
            with(Some(EV_CLEAR), Some(0)).desired().unwrap().req_flags,
            FDC
        );
        // ONESHOT of one of two is the library's.
        assert_eq!(
            with(Some(EV_ONESHOT), Some(0)).desired().unwrap().req_flags,
            FDC
        );
    }

    #[test]
    fn delete_of_the_last_filter_removes_and_disable_keeps() {
        let mut s = with(Some(0), None);
        s.kernel = s.desired();
        assert_eq!(s.op(), None);
        let mut d = s;
        d.read.as_mut().unwrap().enabled = false;
        assert_eq!(
            d.op(),
            Some(FdOp::Modify(KState {
                events: READ_BITS,
                req_flags: FDC,
                disabled: true
            }))
        );
        // A reported DISPATCH knote alone: the kernel disabled it already.
        let mut s2 = with(Some(EV_DISPATCH | EV_CLEAR), None);
        s2.kernel = s2.desired();
        s2.kernel_reported();
        assert!(!s2.reported(EVFILT_READ));
        assert_eq!(
            FdOp::Modify(d.desired().unwrap()).req_flags(),
            FDC | sys::KEVENT_REQ_DISABLED
        );
        s.read = None;
        assert_eq!(s.op(), Some(FdOp::Remove));
        assert!(s.is_empty());
    }

    #[test]
    fn disabling_one_of_two_drops_its_bits() {
        let mut s = with(Some(0), Some(0));
        s.kernel = s.desired();
        s.write.as_mut().unwrap().enabled = false;
        assert_eq!(s.desired().unwrap().events, READ_BITS);
    }

    #[test]
    fn events_fire_the_enabled_filters() {
        let s = with(Some(0), Some(0));
        let f = s.fired(IN);
        assert!(f.read && !f.write && !f.read_eof);
        let f = s.fired(OUT);
        assert!(!f.read && f.write);
        let f = s.fired(IN | RDHUP | OUT);
        assert!(f.read && f.write && f.read_eof && !f.write_eof);
        let f = s.fired(HUP | ERR);
        assert!(f.read && f.write && f.read_eof && f.write_eof);
        let mut d = s;
        d.read.as_mut().unwrap().enabled = false;
        assert!(!d.fired(IN | OUT).read);
        assert!(with(None, Some(0)).fired(OUT).write);
        assert!(!with(None, Some(0)).fired(IN).write);
    }

    #[test]
    fn a_report_changes_the_table_only_for_oneshot_and_dispatch() {
        // Level-triggered and EV_CLEAR knotes: nothing changes, so the
        // translation computes no kernel request for the descriptor.
        for flags in [0, EV_CLEAR] {
            let mut s = with(Some(flags), Some(flags));
            s.kernel = s.desired();
            let before = s;
            assert!(!s.kernel_reported());
            assert!(!s.mark_reported(EVFILT_READ));
            assert!(!s.mark_reported(EVFILT_WRITE));
            assert_eq!(s, before);
            assert_eq!(s.op(), None);
        }
        // ONESHOT and DISPATCH knotes change, and so do the kernel's own.
        let mut s = with(Some(EV_ONESHOT), Some(EV_DISPATCH));
        s.kernel = s.desired();
        assert!(!s.kernel_reported()); // two filters: the library's mode
        assert!(s.mark_reported(EVFILT_READ));
        assert!(s.read.is_none());
        assert!(s.mark_reported(EVFILT_WRITE));
        assert!(!s.write.unwrap().enabled);
        assert!(s.op().is_some());
        let mut s = with(Some(EV_DISPATCH), None);
        s.kernel = s.desired();
        assert!(s.kernel_reported());
        assert!(s.kernel.unwrap().disabled);
        // A lone ONESHOT's kevent is disabled, not gone.
        let mut s = with(None, Some(EV_ONESHOT));
        s.kernel = s.desired();
        assert!(s.kernel_reported());
        assert!(s.kernel.unwrap().disabled);
    }

    #[test]
    fn oneshot_and_dispatch_after_a_report() {
        // Alone: the kernel disabled the kevent; the knote goes, the
        // kevent stays for the next EV_ADD, nothing to send.
        let mut s = with(Some(EV_ONESHOT), None);
        s.kernel = s.desired();
        s.kernel_reported();
        assert!(!s.reported(EVFILT_READ));
        assert!(s.read.is_none() && s.lingers());
        // Added again: the disabled kevent is set again, no new one.
        s.read = Some(Knote::new(&kev(EVFILT_READ, EV_ADD | EV_ONESHOT)));
        assert!(!s.lingers());
        assert!(matches!(s.op(), Some(FdOp::Modify(k)) if !k.disabled));
        let mut s = with(None, Some(EV_DISPATCH));
        s.kernel = s.desired();
        s.kernel_reported();
        assert!(!s.reported(EVFILT_WRITE));
        assert!(!s.write.unwrap().enabled);
        // Re-enabled: MODIFY (which re-checks a level source).
        s.write.as_mut().unwrap().enabled = true;
        assert!(matches!(s.op(), Some(FdOp::Modify(k)) if !k.disabled));
        // With another filter: the library does it, and the kernel must follow.
        let mut s = with(Some(EV_ONESHOT), Some(0));
        s.kernel = s.desired();
        s.kernel_reported();
        assert!(s.reported(EVFILT_READ));
        assert_eq!(s.op().unwrap().result().unwrap().events, WRITE_BITS);
    }

    #[test]
    fn timer_units() {
        assert_eq!(timer_ns(0, 5), Ok(5_000_000));
        assert_eq!(timer_ns(NOTE_MSECONDS, 5), Ok(5_000_000));
        assert_eq!(timer_ns(NOTE_SECONDS, 2), Ok(2_000_000_000));
        assert_eq!(timer_ns(NOTE_USECONDS, 7), Ok(7_000));
        assert_eq!(timer_ns(NOTE_NSECONDS, 9), Ok(9));
        assert_eq!(timer_ns(NOTE_NSECONDS | NOTE_SECONDS, 9), Err(libc::EINVAL));
        assert_eq!(timer_ns(0, -1), Err(libc::EINVAL));
        assert_eq!(timer_ns(NOTE_SECONDS, i64::MAX), Ok(u64::MAX));
        let t = timer_request(&Kevent::new(1, EVFILT_TIMER, EV_ADD, NOTE_NSECONDS, 10, 0));
        assert_eq!(t, Ok((MIN_PERIOD_NS, MIN_PERIOD_NS, 0)));
        let t = timer_request(&Kevent::new(1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 10, 0));
        assert_eq!(t, Ok((0, 10_000_000, 0)));
        let t = timer_request(&Kevent::new(
            1,
            EVFILT_TIMER,
            EV_ADD,
            NOTE_SECONDS | NOTE_ABSTIME,
            3,
            0,
        ));
        assert_eq!(t, Ok((0, 3_000_000_000, sys::KEVENT_TIMER_ABSTIME)));
        // data 0: a periodic timer's period is 1 unit (FreeBSD); a single
        // timer expires at once (the kernel's 1 us).
        let t = timer_request(&Kevent::new(1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 0, 0));
        assert_eq!(t, Ok((1_000_000_000, 1_000_000_000, 0)));
        let t = timer_request(&Kevent::new(1, EVFILT_TIMER, EV_ADD, 0, 0, 0));
        assert_eq!(t, Ok((1_000_000, 1_000_000, 0)));
        let t = timer_request(&Kevent::new(1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 0, 0));
        assert_eq!(t, Ok((0, MIN_PERIOD_NS, 0)));
    }

    #[test]
    fn user_fflags_operations() {
        assert_eq!(user_fflags(0b1100, NOTE_FFNOP | 0b0011), 0b1100);
        assert_eq!(user_fflags(0b1100, NOTE_FFAND | 0b0110), 0b0100);
        assert_eq!(user_fflags(0b1100, NOTE_FFOR | 0b0011), 0b1111);
        assert_eq!(user_fflags(0b1100, NOTE_FFCOPY | 0b0011), 0b0011);
        // NOTE_TRIGGER and the control bits are not flags.
        assert_eq!(
            user_fflags(0, NOTE_FFCOPY | NOTE_TRIGGER | 0x00ff_ffff),
            0x00ff_ffff
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_ns(None), Ok(None));
        let ts = |s, n| libc::timespec {
            tv_sec: s,
            tv_nsec: n,
        };
        assert_eq!(timeout_ns(Some(&ts(0, 0))), Ok(Some(0)));
        assert_eq!(timeout_ns(Some(&ts(2, 5))), Ok(Some(2_000_000_005)));
        assert_eq!(timeout_ns(Some(&ts(-1, 0))), Err(libc::EINVAL));
        assert_eq!(timeout_ns(Some(&ts(0, 1_000_000_000))), Err(libc::EINVAL));
    }
}
