//! The `mio` feature: a queue in a `mio::Poll`.

use std::io;
use std::os::fd::AsRawFd;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::queue::Queue;

/// The queue is readable for mio when events are ready. Register it with
/// `Interest::READABLE`; mio watches it edge-triggered, so on each of its
/// events take the queue's events with zero-timeout waits until one
/// returns fewer than the buffer holds:
///
/// ```no_run
/// # #[cfg(feature = "mio")] {
/// use std::time::Duration;
/// use kevent::{Events, Kevent, Queue};
///
/// let mut poll = mio::Poll::new()?;
/// let mut queue = Queue::new()?;
/// poll.registry().register(&mut queue, mio::Token(0), mio::Interest::READABLE)?;
/// queue.add(Kevent::timer(1, Duration::from_millis(10)))?;
/// let mut mio_events = mio::Events::with_capacity(8);
/// let mut events = Events::with_capacity(64);
/// poll.poll(&mut mio_events, None)?;
/// while queue.wait(&mut events, Some(Duration::ZERO))? > 0 {
///     for event in &events {
///         println!("{event:?}");
///     }
///     if events.len() < events.capacity() {
///         break;
///     }
/// }
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// As for any queue watched by epoll, the queue becomes readable when a
/// kevent is queued by a new event, not when a level-triggered kevent is
/// queued again after it was reported: handle what a report says (read
/// until `WouldBlock`), or use edge-triggered or dispatch kevents.
#[cfg_attr(docsrs, doc(cfg(feature = "mio")))]
impl Source for Queue {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.as_raw_fd()).deregister(registry)
    }
}
