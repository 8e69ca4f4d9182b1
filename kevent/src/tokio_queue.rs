//! The `tokio` feature: waiting for a queue's events in a task.

use std::io;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::queue::{Events, Queue};

/// A [`Queue`] whose waits are `async`: the queue's descriptor is in
/// tokio's reactor ([`AsyncFd`]), and [`wait`](AsyncQueue::wait) takes the
/// ready events without blocking the runtime. No `unsafe` for users.
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # async fn f() -> std::io::Result<()> {
/// use std::time::Duration;
/// use kevent::{AsyncQueue, Events, Kevent};
///
/// let queue = AsyncQueue::new()?; // inside a tokio runtime
/// queue.add(Kevent::timer(1, Duration::from_millis(10)))?;
/// let mut events = Events::with_capacity(64);
/// loop {
///     queue.wait(&mut events).await?;
///     for event in &events {
///         println!("timer fired {} times", event.count());
///     }
/// #   break;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncQueue {
    inner: AsyncFd<Queue>,
}

impl AsyncQueue {
    /// A new queue, registered with the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as [`AsyncFd`]).
    pub fn new() -> io::Result<Self> {
        Self::from_queue(Queue::new()?)
    }

    /// Registers `queue` with the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as [`AsyncFd`]).
    pub fn from_queue(queue: Queue) -> io::Result<Self> {
        // SAFETY: a Queue owns its descriptor (an OwnedFd), returns that
        // same one from as_raw_fd() and never replaces it; it stays open
        // until the AsyncFd drops it or gives it back (into_queue).
        let inner = unsafe { AsyncFd::register_with_interest(queue, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(AsyncQueue { inner })
    }

    /// Waits, without blocking the runtime, until events are ready, then
    /// fills `events` with up to its capacity. Returns how many it holds
    /// (at least 1).
    pub async fn wait(&self, events: &mut Events) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.readable().await?;
            let taken = guard.try_io(|q| match q.get_ref().wait(events, Some(Duration::ZERO)) {
                // Nothing ready: tokio clears the readiness and waits again.
                Ok(0) => Err(io::ErrorKind::WouldBlock.into()),
                r => r,
            });
            if let Ok(result) = taken {
                return result;
            }
        }
    }

    /// Gives the queue back, out of the runtime.
    pub fn into_queue(self) -> Queue {
        self.inner.into_inner()
    }
}

/// The queue, for adding, modifying, removing and triggering kevents:
/// `queue.add(...)` on an `AsyncQueue` is [`Queue::add`], which never
/// blocks. [`AsyncQueue::wait`] shadows [`Queue::wait`]; the queue's other
/// waits ([`Queue::wait_until`], [`Queue::wait_with`] and the like, a
/// [`Ring`](crate::Ring)'s) block the thread, and in a task they would
/// stall the runtime: wait through [`AsyncQueue::wait`] only.
impl std::ops::Deref for AsyncQueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        self.inner.get_ref()
    }
}
