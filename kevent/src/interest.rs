//! What a kevent watches, and the events it reports.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use kevent_sys as sys;

use crate::flags::{EventFlags, PollFlags, ReqFlags};

/// The kind of a kevent: `ukevent.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Readiness of a pollable file.
    Poll,
    /// A periodic or single timer.
    Timer,
    /// An event another thread triggers.
    User,
    /// A type this crate does not know yet (a newer kernel).
    Other(u32),
}

impl Kind {
    /// The `KEVENT_*` type number.
    pub fn raw(self) -> u32 {
        match self {
            Kind::Poll => sys::KEVENT_POLL,
            Kind::Timer => sys::KEVENT_TIMER,
            Kind::User => sys::KEVENT_USER,
            Kind::Other(t) => t,
        }
    }

    /// The kind of a `KEVENT_*` type number.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            sys::KEVENT_POLL => Kind::Poll,
            sys::KEVENT_TIMER => Kind::Timer,
            sys::KEVENT_USER => Kind::User,
            other => Kind::Other(other),
        }
    }
}

/// A clock that timers and deadlines are measured on (`KEVENT_CLOCK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: steady, stops while the system is suspended.
    #[default]
    Monotonic,
    /// `CLOCK_REALTIME`: wall-clock time since 1970; jumps when it is set.
    Realtime,
    /// `CLOCK_BOOTTIME`: like `Monotonic`, but counts suspended time too.
    Boottime,
}

impl Clock {
    /// The `KEVENT_CLOCK_*` number.
    pub fn raw(self) -> u32 {
        match self {
            Clock::Monotonic => sys::KEVENT_CLOCK_MONOTONIC,
            Clock::Realtime => sys::KEVENT_CLOCK_REALTIME,
            Clock::Boottime => sys::KEVENT_CLOCK_BOOTTIME,
        }
    }

    fn clockid(self) -> libc::clockid_t {
        match self {
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Realtime => libc::CLOCK_REALTIME,
            Clock::Boottime => libc::CLOCK_BOOTTIME,
        }
    }

    /// The clock's current time, since its epoch: what
    /// [`Interest::start_at`] and [`Wait::deadline`](crate::Wait::deadline)
    /// take.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kevent::Clock;
    ///
    /// let in_a_second = Clock::Monotonic.now() + Duration::from_secs(1);
    /// # let _ = in_a_second;
    /// ```
    pub fn now(self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes our timespec; the clock ids are valid on Linux.
        let ret = unsafe { libc::clock_gettime(self.clockid(), &mut ts) };
        assert_eq!(ret, 0, "clock_gettime({self:?})");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

/// Nanoseconds, saturating at `u64::MAX`.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A kevent to add, modify or remove: one `struct ukevent` request.
///
/// Build one with [`Interest::poll`], [`Interest::timer`] or
/// [`Interest::user`], then refine it:
///
/// ```
/// use std::time::Duration;
/// use kevent::{Clock, Interest};
///
/// let tick = Interest::timer(1, Duration::from_millis(10)).user_data(42);
/// // First expiry in 1 ms, then every 10 ms, on CLOCK_BOOTTIME.
/// let soon = Interest::timer(2, Duration::from_millis(10))
///     .start_after(Duration::from_millis(1))
///     .clock(Clock::Boottime);
/// // Expires once, at an absolute time.
/// let at = Interest::timer(3, Duration::ZERO)
///     .start_at(Clock::Realtime, Clock::Realtime.now() + Duration::from_secs(60));
/// let once = Interest::user(7).oneshot();
/// # let _ = (tick, soon, at, once);
/// ```
#[derive(Clone, Copy)]
pub struct Interest {
    pub(crate) raw: sys::ukevent,
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Interest");
        d.field("kind", &self.kind())
            .field("id", &self.raw.id)
            .field("event", &self.raw.event)
            .field("flags", &self.flags())
            .field("data", &self.raw.data)
            .field("user_data", &self.raw.user_data);
        if self.kind() == Kind::Timer {
            let t = self.timer_fields();
            d.field("start", &t.start)
                .field("clock", &t.clock)
                .field("timer_flags", &t.flags);
        }
        d.finish()
    }
}

impl Interest {
    fn new(kind: Kind, id: u64, event: u32) -> Self {
        let raw = sys::ukevent {
            id,
            type_: kind.raw(),
            event,
            ..Default::default()
        };
        Interest { raw }
    }

    /// Readiness of `fd` for `events`. Level-triggered unless
    /// [`edge`](Self::edge). The kevent watches the open file, not the
    /// number: it goes away when the file's last descriptor is closed
    /// (with [`fd_close`](Self::fd_close): when this number is closed).
    pub fn poll(fd: BorrowedFd<'_>, events: PollFlags) -> Self {
        Self::poll_raw(fd.as_raw_fd(), events)
    }

    /// [`poll`](Self::poll) by descriptor number, for removing a kevent
    /// whose descriptor you no longer hold as a `BorrowedFd`.
    pub fn poll_raw(fd: RawFd, events: PollFlags) -> Self {
        Self::new(Kind::Poll, fd as u64, events.bits())
    }

    /// A timer that fires every `period` (at least 1 µs), first one period
    /// from now unless [`start_after`](Self::start_after) or
    /// [`start_at`](Self::start_at) says otherwise, on
    /// [`Clock::Monotonic`] unless [`clock`](Self::clock) says otherwise.
    /// `id` is any value you choose.
    ///
    /// A `period` of zero expires once, at the start (which must then be
    /// given); the kevent stays registered, disarmed, unless
    /// [`oneshot`](Self::oneshot).
    pub fn timer(id: u64, period: Duration) -> Self {
        let mut this = Self::new(Kind::Timer, id, sys::KEVENT_TIMER_FIRED);
        this.raw.data = nanos(period);
        this
    }

    /// An event that [`Queue::trigger`](crate::Queue::trigger) makes ready.
    /// `id` is any value you choose.
    pub fn user(id: u64) -> Self {
        Self::new(Kind::User, id, sys::KEVENT_USER_TRIGGERED)
    }

    fn timer_fields(&self) -> sys::ukevent__bindgen_ty_1__bindgen_ty_1 {
        // SAFETY: both members of the union are plain integers, and every
        // Interest starts zeroed.
        unsafe { self.raw.__bindgen_anon_1.timer }
    }

    fn set_timer(mut self, f: impl FnOnce(&mut sys::ukevent__bindgen_ty_1__bindgen_ty_1)) -> Self {
        let mut timer = self.timer_fields();
        f(&mut timer);
        self.raw.__bindgen_anon_1.timer = timer;
        self
    }

    /// Timers only: the first expiry `after` from now (then every period).
    /// A zero `after` means at once (1 ns).
    pub fn start_after(self, after: Duration) -> Self {
        self.set_timer(|t| {
            t.start = nanos(after).max(1);
            t.flags &= !sys::KEVENT_TIMER_ABSTIME;
        })
    }

    /// Timers only: the first expiry at the absolute time `at` of `clock`
    /// (see [`Clock::now`]), then every period; a time already past
    /// expires at once. Sets the timer's clock to `clock`.
    pub fn start_at(self, clock: Clock, at: Duration) -> Self {
        self.set_timer(|t| {
            t.start = nanos(at).max(1);
            t.clock = clock.raw();
            t.flags |= sys::KEVENT_TIMER_ABSTIME;
        })
    }

    /// Timers only: the clock the timer runs on (default
    /// [`Clock::Monotonic`]).
    pub fn clock(self, clock: Clock) -> Self {
        self.set_timer(|t| t.clock = clock.raw())
    }

    /// Removed after its first reported event.
    pub fn oneshot(self) -> Self {
        self.with_flags(ReqFlags::ONESHOT)
    }

    /// Edge-triggered (poll kevents only; the kernel refuses it elsewhere).
    pub fn edge(self) -> Self {
        self.with_flags(ReqFlags::EDGE)
    }

    /// Wakes every waiting thread, not one.
    pub fn wake_all(self) -> Self {
        self.with_flags(ReqFlags::WAKEUP_ALL)
    }

    /// Disabled after each report, until [`Queue::enable`](crate::Queue::enable)
    /// ([`ReqFlags::DISPATCH`]).
    pub fn dispatch(self) -> Self {
        self.with_flags(ReqFlags::DISPATCH)
    }

    /// Registered disabled ([`ReqFlags::DISABLED`]).
    pub fn disabled(self) -> Self {
        self.with_flags(ReqFlags::DISABLED)
    }

    /// [`Queue::add`](crate::Queue::add) updates the kevent if it exists
    /// ([`ReqFlags::UPDATE`]).
    pub fn update(self) -> Self {
        self.with_flags(ReqFlags::UPDATE)
    }

    /// Poll kevents only: removed when this descriptor number is closed
    /// ([`ReqFlags::FD_CLOSE`]).
    pub fn fd_close(self) -> Self {
        self.with_flags(ReqFlags::FD_CLOSE)
    }

    /// Adds request flags.
    pub fn with_flags(mut self, flags: ReqFlags) -> Self {
        self.raw.req_flags |= flags.bits();
        self
    }

    /// A value returned unchanged with every event of this kevent.
    pub fn user_data(mut self, data: u64) -> Self {
        self.raw.user_data = data;
        self
    }

    /// The kind of kevent.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(self.raw.type_)
    }

    /// The id: the descriptor number for poll kevents.
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// The request flags.
    pub fn flags(&self) -> ReqFlags {
        ReqFlags::from_bits_retain(self.raw.req_flags)
    }

    /// The kevent's key: kind and id.
    pub fn key(&self) -> Key {
        Key::new(self.kind(), self.raw.id)
    }
}

/// Which kevent: its kind and id, the key of a queue's kevents. What
/// [`Queue::enable`](crate::Queue::enable) and
/// [`Queue::disable`](crate::Queue::disable) take.
///
/// ```
/// use kevent::{Interest, Key, Kind};
///
/// assert_eq!(Interest::user(3).key(), Key::user(3));
/// assert_eq!(Key::user(3), Key::new(Kind::User, 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    kind: Kind,
    id: u64,
}

impl Key {
    /// The kevent of `kind` with `id`.
    pub fn new(kind: Kind, id: u64) -> Self {
        Key { kind, id }
    }

    /// The poll kevent of descriptor `fd`.
    pub fn poll(fd: RawFd) -> Self {
        Key::new(Kind::Poll, fd as u64)
    }

    /// The timer kevent `id`.
    pub fn timer(id: u64) -> Self {
        Key::new(Kind::Timer, id)
    }

    /// The user kevent `id`.
    pub fn user(id: u64) -> Self {
        Key::new(Kind::User, id)
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A request with only the kind and id set: what REMOVE, READY,
    /// ENABLE and DISABLE take.
    pub(crate) fn raw(&self) -> sys::ukevent {
        sys::ukevent {
            id: self.id,
            type_: self.kind.raw(),
            ..Default::default()
        }
    }
}

impl From<&Interest> for Key {
    fn from(i: &Interest) -> Key {
        i.key()
    }
}

impl From<Interest> for Key {
    fn from(i: Interest) -> Key {
        i.key()
    }
}

impl From<&Event> for Key {
    fn from(e: &Event) -> Key {
        e.key()
    }
}

impl From<Event> for Key {
    fn from(e: Event) -> Key {
        e.key()
    }
}

/// One reported event (`struct kevent_event`), as read from an
/// [`Events`](crate::Events) buffer or a [`Ring`](crate::Ring).
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
pub struct Event {
    pub(crate) raw: sys::kevent_event,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("id", &self.id())
            .field("events", &format_args!("{:#x}", self.events()))
            .field("data", &self.data())
            .field("flags", &self.flags())
            .field("user_data", &self.user_data())
            .finish()
    }
}

impl Event {
    /// The kind of kevent that fired.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(u32::from(self.raw.type_))
    }

    /// Its id (the descriptor number for poll kevents).
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// Its key (kind and id), e.g. to [`enable`](crate::Queue::enable) a
    /// [`dispatch`](Interest::dispatch) kevent again.
    pub fn key(&self) -> Key {
        Key::new(self.kind(), self.raw.id)
    }

    /// The event bits that fired, as the kernel reported them.
    pub fn events(&self) -> u32 {
        self.raw.events
    }

    /// The readiness bits that fired, for poll kevents.
    pub fn readiness(&self) -> PollFlags {
        PollFlags::from_bits_retain(self.raw.events)
    }

    /// The type-specific result: timer expirations or user triggers since
    /// the last report; for a poll kevent on a socket with
    /// [`is_error`](Self::is_error), its pending error (a positive errno),
    /// else 0.
    pub fn data(&self) -> u64 {
        self.raw.data
    }

    /// Timer expirations or user triggers since the last report: the same
    /// as [`data`](Self::data), named for timers and user kevents.
    pub fn count(&self) -> u64 {
        self.raw.data
    }

    /// The value given with [`Interest::user_data`].
    pub fn user_data(&self) -> u64 {
        self.raw.user_data
    }

    /// The event's flags ([`EventFlags::EOF`], [`EventFlags::ERROR`]).
    pub fn flags(&self) -> EventFlags {
        EventFlags::from_bits_retain(self.raw.flags)
    }

    /// The other end is closed: `EPOLLHUP` or `EPOLLRDHUP` fired.
    pub fn is_eof(&self) -> bool {
        self.flags().contains(EventFlags::EOF)
    }

    /// An error is pending: `EPOLLERR` fired.
    pub fn is_error(&self) -> bool {
        self.flags().contains(EventFlags::ERROR)
    }

    /// The pending error of a socket, when [`is_error`](Self::is_error)
    /// and the kernel reported which.
    pub fn error(&self) -> Option<io::Error> {
        let errno = i32::try_from(self.raw.data).ok().filter(|&e| e > 0)?;
        self.is_error().then(|| io::Error::from_raw_os_error(errno))
    }
}
