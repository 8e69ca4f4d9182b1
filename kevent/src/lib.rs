//! Safe Rust API for kevent, the unified Linux event queue.
//!
//! A kevent [`Queue`] lets one thread wait, with one call, for readiness of
//! any pollable file, timers and events triggered by other threads (socket,
//! inode, signal and network-AIO sources will follow the kernel side). The
//! queue is created by opening `/dev/kevent` on a kernel built with the
//! series in `kernel-patches/`; on other kernels [`Queue::new`] fails with
//! [`std::io::ErrorKind::Unsupported`] and says how to run the patched one.
//!
//! - [`Interest`] builds kevents: [`Interest::poll`], [`Interest::timer`],
//!   [`Interest::user`], with [`oneshot`](Interest::oneshot),
//!   [`edge`](Interest::edge) and [`wake_all`](Interest::wake_all).
//! - [`Queue::add`], [`Queue::modify`] and [`Queue::remove`] take batches
//!   and report every entry's result; [`Queue::trigger`] fires a user event.
//! - [`Queue::wait`] fills a reusable [`Events`] buffer; a [`Ring`] gets
//!   events copied into memory of ours and drained without system calls.
//!
//! ```no_run
//! use std::time::Duration;
//! use kevent::{Events, Interest, Queue};
//!
//! let queue = Queue::new()?;
//! queue.add(&[Interest::timer(1, Duration::from_millis(5)), Interest::user(2)])?.check()?;
//! queue.trigger(2)?;
//! let mut events = Events::with_capacity(8);
//! queue.wait(&mut events, 2, None)?;
//! assert_eq!(events.len(), 2);
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(missing_docs)]

mod flags;
mod interest;
mod queue;
mod ring;

use std::path::Path;

pub use flags::{PollFlags, ReqFlags};
pub use interest::{Event, Interest, Kind};
pub use queue::{BatchResult, Events, Queue};
pub use ring::{Drain, Ring};

/// Path of the character device that creates kevent queues.
pub const DEVICE_PATH: &str = "/dev/kevent";

/// Whether the running kernel offers kevent (its device node exists).
///
/// # Examples
///
/// ```
/// if !kevent::is_supported() {
///     eprintln!("no kevent here: boot the patched kernel (see README)");
/// }
/// ```
pub fn is_supported() -> bool {
    Path::new(DEVICE_PATH).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn support_matches_device_node() {
        assert_eq!(is_supported(), std::fs::metadata(DEVICE_PATH).is_ok());
    }

    #[test]
    fn no_kevent_error_says_what_to_do() {
        if is_supported() {
            return;
        }
        let err = Queue::new().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        let msg = err.to_string();
        assert!(
            msg.contains("no kevent") && msg.contains("patched kernel"),
            "{msg}"
        );
    }

    #[test]
    fn builders_fill_the_request() {
        let t = Interest::timer(9, Duration::from_micros(250))
            .oneshot()
            .user_data(5);
        assert_eq!(t.kind(), Kind::Timer);
        assert_eq!(t.id(), 9);
        assert_eq!(t.raw.data, 250_000);
        assert_eq!(t.raw.event, kevent_sys::KEVENT_TIMER_FIRED);
        assert_eq!(t.flags(), ReqFlags::ONESHOT);
        assert_eq!(t.raw.user_data, 5);
        let p = Interest::poll_raw(3, PollFlags::IN | PollFlags::OUT)
            .edge()
            .wake_all();
        assert_eq!(p.kind(), Kind::Poll);
        assert_eq!(p.raw.event, (libc::EPOLLIN | libc::EPOLLOUT) as u32);
        assert_eq!(p.flags(), ReqFlags::EDGE | ReqFlags::WAKEUP_ALL);
        let key = p.key();
        assert_eq!((key.raw.event, key.raw.req_flags, key.raw.data), (0, 0, 0));
        assert_eq!(key.id(), 3);
        // A huge period saturates instead of wrapping.
        assert_eq!(Interest::timer(1, Duration::MAX).raw.data, u64::MAX);
        assert_eq!(Kind::from_raw(99), Kind::Other(99));
    }

    #[test]
    fn timeouts_never_mean_infinite_by_accident() {
        use crate::queue::timeout_ns;
        assert_eq!(timeout_ns(None), kevent_sys::KEVENT_TIMEOUT_INFINITE);
        assert_eq!(timeout_ns(Some(Duration::from_millis(3))), 3_000_000);
        assert_ne!(
            timeout_ns(Some(Duration::MAX)),
            kevent_sys::KEVENT_TIMEOUT_INFINITE
        );
    }
}
