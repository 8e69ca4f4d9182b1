//! A TCP echo server on one kevent queue: the listener and every
//! connection are poll kevents; one thread serves them all.
//!
//! ```text
//! cargo run -p kevent --example echo -- 127.0.0.1:7000   # serve forever
//! cargo run -p kevent --example echo -- --self-test      # serve 20 clients, check, exit
//! ```
//!
//! The self-test also checks that failed clients do not stop the server:
//! its `accept` fails now and then (one connection aborted, out of
//! descriptors once, injected), and one client resets its connection
//! (RST) after its first echo; every other client must still be served.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
/// for `None`). `accept` accepts one connection: `TcpListener::accept`,
/// or (in the self-test) one that fails now and then.
fn serve(
    listener: TcpListener,
    connections: Option<usize>,
    mut accept: impl FnMut(&TcpListener) -> io::Result<(TcpStream, SocketAddr)>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let queue = Queue::new()?;
    // Each descriptor sits in a guard that removes its kevent before it
    // closes; events carry the token, not the descriptor number.
    let listener = queue.register(listener, PollFlags::IN, LISTENER)?;
    let mut clients: HashMap<Token, Registered<TcpStream, &Queue>> = HashMap::new();
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
                    match accept(listener.get_ref()) {
                        Ok((stream, peer)) => {
                            let token = Token(next);
                            next += 1;
                            if let Err(e) = stream.set_nonblocking(true) {
                                eprintln!("echo: dropping {peer}: {e}");
                                continue;
                            }
                            match queue.register(stream, PollFlags::IN | PollFlags::RDHUP, token) {
                                Ok(client) => {
                                    clients.insert(token, client);
                                }
                                // e.g. "add poll fd 9: the kernel is out of memory (os error 12)"
                                Err(e) => eprintln!("echo: dropping {peer}: {e}"),
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => match accept_failure(&e) {
                            // That connection is gone: take the next one.
                            AcceptFailure::Connection => {
                                eprintln!("echo: a connection failed before accept: {e}");
                                continue;
                            }
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

/// An `accept` that fails as a real one can: every 4th call with
/// `ECONNABORTED` (a client gone before it was accepted), the 7th with
/// `EMFILE` (out of descriptors); the pending connections stay queued and
/// are accepted by later calls. Counts what it injected.
fn flaky_accept(
    injected: Arc<AtomicUsize>,
) -> impl FnMut(&TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let mut calls = 0u32;
    move |listener| {
        calls += 1;
        let errno = match calls {
            7 => libc::EMFILE,
            n if n % 4 == 0 => libc::ECONNABORTED,
            _ => return listener.accept(),
        };
        injected.fetch_add(1, Ordering::Relaxed);
        Err(io::Error::from_raw_os_error(errno))
    }
}

/// A client that gets one echo, then resets its connection (RST, with
/// SO_LINGER 0) instead of closing it.
fn resetting_client(addr: SocketAddr) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"then reset\n")?;
    let mut back = [0u8; 11];
    s.read_exact(&mut back)?;
    assert_eq!(&back, b"then reset\n");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid struct linger of the size given; the
    // socket is open.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(()) // dropped: closed with RST
}

fn self_test() -> io::Result<()> {
    const CLIENTS: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let injected = Arc::new(AtomicUsize::new(0));
    let accept = flaky_accept(Arc::clone(&injected));
    // The good clients and the resetting one.
    let server = thread::spawn(move || serve(listener, Some(CLIENTS + 1), accept));
    resetting_client(addr)?;
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
    let injected = injected.load(Ordering::Relaxed);
    // Without failures the test would prove nothing.
    if injected < 2 {
        return Err(io::Error::other(format!(
            "echo: only {injected} accept failures were injected"
        )));
    }
    println!(
        "echo: {CLIENTS} clients served, every byte echoed; served on after a reset client \
         and {injected} failed accepts"
    );
    Ok(())
}

fn main() -> io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("--self-test") => self_test(),
        Some(addr) => serve(TcpListener::bind(addr)?, None, TcpListener::accept),
        None => serve(
            TcpListener::bind("127.0.0.1:7000")?,
            None,
            TcpListener::accept,
        ),
    }
}
