//! Flags of requests and events.

use bitflags::bitflags;
use kevent_sys as sys;

bitflags! {
    /// Readiness bits of a [`Interest::poll`](crate::Interest::poll) kevent:
    /// the `EPOLL*` bits of `<sys/epoll.h>`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PollFlags: u32 {
        /// Readable.
        const IN = libc::EPOLLIN as u32;
        /// Urgent data readable.
        const PRI = libc::EPOLLPRI as u32;
        /// Writable.
        const OUT = libc::EPOLLOUT as u32;
        /// Error; always reported, even when not asked for.
        const ERR = libc::EPOLLERR as u32;
        /// Hang-up; always reported, even when not asked for.
        const HUP = libc::EPOLLHUP as u32;
        /// Normal data readable.
        const RDNORM = libc::EPOLLRDNORM as u32;
        /// Priority band data readable.
        const RDBAND = libc::EPOLLRDBAND as u32;
        /// Normal data writable.
        const WRNORM = libc::EPOLLWRNORM as u32;
        /// Priority band data writable.
        const WRBAND = libc::EPOLLWRBAND as u32;
        /// Message available (unused by Linux files).
        const MSG = libc::EPOLLMSG as u32;
        /// The peer shut down its writing half.
        const RDHUP = libc::EPOLLRDHUP as u32;
    }
}

bitflags! {
    /// How a kevent is handled: `ukevent.req_flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ReqFlags: u32 {
        /// Remove the kevent after its first reported event.
        const ONESHOT = sys::KEVENT_REQ_ONESHOT;
        /// Wake every waiting thread, not one.
        const WAKEUP_ALL = sys::KEVENT_REQ_WAKEUP_ALL;
        /// Edge-triggered (poll kevents only; the default is level).
        const EDGE = sys::KEVENT_REQ_ET;
    }
}
