//! kevent in a tokio task (the `tokio` feature): `AsyncQueue` waits for
//! the queue's events without blocking the runtime, and without `unsafe`.
//!
//! ```text
//! cargo run -p kevent --features tokio --example tokio_queue   # on the patched kernel
//! ```
//!
//! A periodic timer, a single-expiry timer and a user event triggered from
//! another task; exits 0 once the periodic one fired 5 times and the
//! other two once each.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use kevent::{AsyncQueue, Events, Kevent, Token};

const TICK: Token = Token(1);
const ONCE: Token = Token(2);
const USER: Token = Token(3);

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let queue = Arc::new(AsyncQueue::new()?);
    queue.add(Kevent::timer(1, Duration::from_millis(10)).token(TICK))?;
    queue.add(Kevent::timer_after(2, Duration::from_millis(1)).token(ONCE))?;
    queue.add(Kevent::user(3).token(USER))?;
    let q = Arc::clone(&queue);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        q.trigger(3)
    });
    let mut events = Events::with_capacity(8);
    let (mut ticks, mut once, mut user) = (0, 0, 0);
    while ticks < 5 || once == 0 || user == 0 {
        let n = tokio::time::timeout(Duration::from_secs(10), queue.wait(&mut events))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no event in 10 s"))??;
        assert!(n > 0);
        for e in &events {
            println!("{:?} {:?} x{}", e.kind(), e.token(), e.count());
            match e.token() {
                TICK => ticks += e.count(),
                ONCE => once += e.count(),
                USER => user += e.count(),
                _ => unreachable!(),
            }
        }
    }
    assert_eq!(
        (once, user),
        (1, 1),
        "the single timer and the user event fire once"
    );
    println!("tokio_queue: ok");
    Ok(())
}
