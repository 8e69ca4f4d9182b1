//! What a kevent watches, and the events it reports.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use kevent_sys as sys;

use crate::flags::{PollFlags, ReqFlags};

/// The kind of a kevent: `ukevent.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Readiness of a pollable file.
    Poll,
    /// A periodic or oneshot timer.
    Timer,
    /// An event another thread triggers.
    User,
    /// A type this crate does not know yet (a newer kernel).
    Other(u32),
}

impl Kind {
    pub(crate) fn raw(self) -> u32 {
        match self {
            Kind::Poll => sys::KEVENT_POLL,
            Kind::Timer => sys::KEVENT_TIMER,
            Kind::User => sys::KEVENT_USER,
            Kind::Other(t) => t,
        }
    }

    pub(crate) fn from_raw(raw: u32) -> Self {
        match raw {
            sys::KEVENT_POLL => Kind::Poll,
            sys::KEVENT_TIMER => Kind::Timer,
            sys::KEVENT_USER => Kind::User,
            other => Kind::Other(other),
        }
    }
}

/// A kevent to add, modify or remove: one `struct ukevent` request.
///
/// Build one with [`Interest::poll`], [`Interest::timer`] or
/// [`Interest::user`], then refine it:
///
/// ```
/// use std::time::Duration;
/// use kevent::{Interest, PollFlags};
///
/// let tick = Interest::timer(1, Duration::from_millis(10)).user_data(42);
/// let once = Interest::user(7).oneshot();
/// # let _ = (tick, once);
/// ```
#[derive(Clone, Copy)]
pub struct Interest {
    pub(crate) raw: sys::ukevent,
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interest")
            .field("kind", &self.kind())
            .field("id", &self.raw.id)
            .field("event", &self.raw.event)
            .field("flags", &self.flags())
            .field("data", &self.raw.data)
            .field("user_data", &self.raw.user_data)
            .finish()
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

    /// Readiness of `fd` for `events`. The kevent watches the open file,
    /// not the number: it goes away when the file's last descriptor is
    /// closed. Level-triggered unless [`edge`](Self::edge).
    pub fn poll(fd: BorrowedFd<'_>, events: PollFlags) -> Self {
        Self::poll_raw(fd.as_raw_fd(), events)
    }

    /// [`poll`](Self::poll) by descriptor number, for removing a kevent
    /// whose descriptor you no longer hold as a `BorrowedFd`.
    pub fn poll_raw(fd: RawFd, events: PollFlags) -> Self {
        Self::new(Kind::Poll, fd as u64, events.bits())
    }

    /// A timer that fires every `period` (at least 1 µs), or once with
    /// [`oneshot`](Self::oneshot). `id` is any value you choose.
    pub fn timer(id: u64, period: Duration) -> Self {
        let mut this = Self::new(Kind::Timer, id, sys::KEVENT_TIMER_FIRED);
        this.raw.data = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        this
    }

    /// An event that [`Queue::trigger`](crate::Queue::trigger) makes ready.
    /// `id` is any value you choose.
    pub fn user(id: u64) -> Self {
        Self::new(Kind::User, id, sys::KEVENT_USER_TRIGGERED)
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

    /// The same kevent as a removal or trigger request: kind and id only.
    pub(crate) fn key(&self) -> Self {
        Self::new(self.kind(), self.raw.id, 0)
    }
}

/// One reported event, as read from a buffer or a ring.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Event {
    pub(crate) raw: sys::ukevent,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("id", &self.id())
            .field("fired", &self.raw.event)
            .field("count", &self.count())
            .field("user_data", &self.user_data())
            .finish()
    }
}

impl Event {
    /// The kind of kevent that fired.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(self.raw.type_)
    }

    /// Its id (the descriptor number for poll kevents).
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// The readiness bits that fired, for poll kevents.
    pub fn readiness(&self) -> PollFlags {
        PollFlags::from_bits_retain(self.raw.event)
    }

    /// Timer expirations or user triggers since the last report (0 for
    /// poll kevents).
    pub fn count(&self) -> u32 {
        self.raw.ret_data[0]
    }

    /// The value given with [`Interest::user_data`].
    pub fn user_data(&self) -> u64 {
        self.raw.user_data
    }

    /// The request flags the kevent was registered with.
    pub fn flags(&self) -> ReqFlags {
        ReqFlags::from_bits_retain(self.raw.req_flags)
    }
}
