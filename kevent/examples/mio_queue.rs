//! A kevent queue inside a mio event loop (the `mio` feature): mio
//! watches a TCP listener itself and the queue, whose kevents are a
//! periodic timer and a cross-thread `Waker`.
//!
//! ```text
//! cargo run -p kevent --features mio --example mio_queue   # on the patched kernel
//! ```
//!
//! Exits 0 once the timer fired 5 times, the waker was seen and a client
//! connection was accepted through mio.

use std::io;
use std::time::Duration;

use kevent::{Events, Kevent, Queue, Token, Waker};

const QUEUE: mio::Token = mio::Token(0);
const LISTENER: mio::Token = mio::Token(1);
const TIMER: Token = Token(1);
const WAKE: Token = Token(2);

fn main() -> io::Result<()> {
    let mut poll = mio::Poll::new()?;
    let mut queue = Queue::new()?;
    poll.registry()
        .register(&mut queue, QUEUE, mio::Interest::READABLE)?;
    let mut listener = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    poll.registry()
        .register(&mut listener, LISTENER, mio::Interest::READABLE)?;

    queue.add(Kevent::timer(1, Duration::from_millis(10)).token(TIMER))?;
    let waker = Waker::new(&queue, WAKE)?;
    let addr = listener.local_addr()?;
    let client = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        waker.wake()?;
        std::net::TcpStream::connect(addr).map(drop)
    });

    let mut mio_events = mio::Events::with_capacity(8);
    let mut events = Events::with_capacity(64);
    let (mut ticks, mut woken, mut accepted) = (0, false, false);
    while ticks < 5 || !woken || !accepted {
        poll.poll(&mut mio_events, Some(Duration::from_secs(10)))?;
        if mio_events.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "nothing in 10 s"));
        }
        for mio_event in &mio_events {
            match mio_event.token() {
                QUEUE => {
                    // Edge-triggered: take everything the queue has.
                    while queue.wait(&mut events, Some(Duration::ZERO))? > 0 {
                        for event in &events {
                            match event.token() {
                                TIMER => ticks += event.count(),
                                WAKE => woken = true,
                                t => println!("unexpected {t:?}"),
                            }
                        }
                        if events.len() < events.capacity() {
                            break;
                        }
                    }
                }
                LISTENER => loop {
                    match listener.accept() {
                        Ok(_) => accepted = true,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                },
                _ => unreachable!(),
            }
        }
    }
    client.join().expect("client thread")?;
    println!("mio_queue: {ticks} ticks, woken, accepted: ok");
    Ok(())
}
