//! kevent in async Rust: the queue fd is pollable, so tokio's `AsyncFd`
//! tells when it has events, and a non-blocking `read(2)` of the queue
//! (`Queue::read_events`) collects them.
//!
//! ```text
//! cargo run -p kevent --example tokio_timers      # on the patched kernel
//! ```
//!
//! Two timers (the second with its first expiry after 1 ms rather than one
//! period) and a user event; prints events until each timer fired 5 times.

use std::io;
use std::time::Duration;

use kevent::{Events, Interest, Kind, Queue, QueueFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest as Readiness;

/// Waits, without blocking the runtime, until the queue has events.
///
/// The queue is non-blocking (`QueueFlags::NONBLOCK`), so `read_events`
/// fails with `WouldBlock` when nothing is ready, which tells `try_io` to
/// clear the readiness and wait again.
pub async fn next_events(queue: &AsyncFd<Queue>, events: &mut Events) -> io::Result<usize> {
    loop {
        let mut guard = queue.readable().await?;
        match guard.try_io(|q| q.get_ref().read_events(events)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let queue = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK)?;
    // SAFETY: a Queue owns its descriptor (an OwnedFd) and always returns
    // that same one from as_raw_fd(), until it is dropped with the AsyncFd.
    let queue = unsafe { AsyncFd::register_with_interest(queue, Readiness::READABLE) }?;
    queue
        .get_ref()
        .add(&[
            Interest::timer(1, Duration::from_millis(10)),
            Interest::timer(2, Duration::from_millis(25)).start_after(Duration::from_millis(1)),
            Interest::user(3),
        ])?
        .check()?;
    let mut events = Events::with_capacity(8);
    let mut fired = [0u64; 3];
    tokio::time::sleep(Duration::from_millis(5)).await;
    queue.get_ref().trigger(3)?;
    while fired[0] < 5 || fired[1] < 5 {
        next_events(&queue, &mut events).await?;
        for e in &events {
            println!("{:?} {} x{}", e.kind(), e.id(), e.count());
            if e.kind() == Kind::Timer || e.kind() == Kind::User {
                fired[e.id() as usize - 1] += e.count();
            }
        }
    }
    assert_eq!(fired[2], 1, "the user event fires once");
    println!("tokio_timers: ok");
    Ok(())
}
