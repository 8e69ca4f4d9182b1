//! A TCP echo server on one kevent queue: the listener and every
//! connection are poll kevents; one thread serves them all.
//!
//! ```text
//! cargo run -p kevent --example echo -- 127.0.0.1:7000   # serve forever
//! cargo run -p kevent --example echo -- --self-test      # serve 20 clients, check, exit
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use kevent::{Events, PollFlags, Queue, Registered, Token};

const LISTENER: Token = Token(0);

/// What an `accept()` error means for the server.
enum AcceptFailure {
    /// One connection's error (it was reset, a network went down...):
    /// skip it.
    Connection,
    /// Out of descriptors or memory for now: stop accepting until the
    /// next wait.
    Resources,
    /// The listener itself is broken: give up.
    Server,
}

fn accept_failure(e: &io::Error) -> AcceptFailure {
    if e.kind() == io::ErrorKind::Interrupted {
        return AcceptFailure::Connection;
    }
    match e.raw_os_error() {
        // accept(2): Linux passes pending network errors of the new
        // socket through accept; those, and a connection aborted before
        // it was accepted, concern one client only.
        Some(
            libc::ECONNABORTED
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM,
        ) => AcceptFailure::Connection,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            AcceptFailure::Resources
        }
        _ => AcceptFailure::Server,
    }
}

/// Serves echo connections until `connections` of them have closed (never,
/// for `None`).
fn serve(listener: TcpListener, connections: Option<usize>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let queue = Queue::new()?;
    // Each descriptor sits in a guard that removes its kevent before it
    // closes; events carry the token, not the descriptor number.
    let listener = queue.register(listener, PollFlags::IN, LISTENER)?;
    let mut clients: HashMap<Token, Registered<'_, TcpStream>> = HashMap::new();
    let mut next = 1u64;
    let mut events = Events::with_capacity(64);
    let mut closed = 0;
    let mut buf = [0u8; 4096];
    while connections != Some(closed) {
        queue.wait(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                // Level-triggered: accept until WouldBlock. One client's
                // failure is that client's, not the server's.
                loop {
                    match listener.get_ref().accept() {
                        Ok((stream, peer)) => {
                            let token = Token(next);
                            next += 1;
                            let watched = stream.set_nonblocking(true).and_then(|()| {
                                queue.register(stream, PollFlags::IN | PollFlags::RDHUP, token)
                            });
                            match watched {
                                Ok(client) => {
                                    clients.insert(token, client);
                                }
                                Err(e) => eprintln!("echo: dropping {peer}: {e}"),
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => match accept_failure(&e) {
                            // That connection is gone: take the next one.
                            AcceptFailure::Connection => continue,
                            // Out of descriptors or memory: serve the
                            // clients we have (closing them frees some);
                            // the level-triggered listener is reported
                            // again at the next wait.
                            AcceptFailure::Resources => {
                                eprintln!("echo: cannot accept now: {e}");
                                break;
                            }
                            AcceptFailure::Server => return Err(e),
                        },
                    }
                }
                continue;
            }
            let Some(stream) = clients.get_mut(&event.token()) else {
                continue;
            };
            let open = match stream.get_mut().read(&mut buf) {
                Ok(0) => false,
                // Small replies to a blocking-enough peer: write_all is fine
                // for an example; a real server would watch OUT as well.
                Ok(n) => write_all_nonblocking(stream.get_mut(), &buf[..n]).is_ok(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => !event.is_read_closed(),
                Err(_) => false,
            };
            if !open {
                // The guard removes the kevent, then closes the stream.
                clients.remove(&event.token());
                closed += 1;
            }
        }
    }
    Ok(())
}

fn write_all_nonblocking(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn self_test() -> io::Result<()> {
    const CLIENTS: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || serve(listener, Some(CLIENTS)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || -> io::Result<()> {
                let mut s = TcpStream::connect(addr)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                for round in 0..10 {
                    let msg = format!("client {i} round {round}\n");
                    s.write_all(msg.as_bytes())?;
                    let mut back = vec![0; msg.len()];
                    s.read_exact(&mut back)?;
                    assert_eq!(back, msg.as_bytes());
                }
                Ok(())
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client panicked")?;
    }
    server.join().expect("server panicked")?;
    println!("echo: {CLIENTS} clients served, every byte echoed");
    Ok(())
}

fn main() -> io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("--self-test") => self_test(),
        Some(addr) => serve(TcpListener::bind(addr)?, None),
        None => serve(TcpListener::bind("127.0.0.1:7000")?, None),
    }
}
