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
use std::os::fd::{AsFd, AsRawFd};
use std::thread;
use std::time::Duration;

use kevent::{Events, Interest, PollFlags, Queue};

/// Serves echo connections until `connections` of them have closed (never,
/// for `None`).
fn serve(listener: TcpListener, connections: Option<usize>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let queue = Queue::new()?;
    let listen_id = listener.as_raw_fd() as u64;
    queue
        .add(&[Interest::poll(listener.as_fd(), PollFlags::IN)])?
        .check()?;
    let mut clients: HashMap<u64, TcpStream> = HashMap::new();
    let mut events = Events::with_capacity(64);
    let mut closed = 0;
    let mut buf = [0u8; 4096];
    while connections != Some(closed) {
        queue.wait(&mut events, 1, None)?;
        for event in &events {
            if event.id() == listen_id {
                // Level-triggered: accept until WouldBlock.
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true)?;
                            let interest =
                                Interest::poll(stream.as_fd(), PollFlags::IN | PollFlags::RDHUP);
                            queue.add(&[interest])?.check()?;
                            clients.insert(stream.as_raw_fd() as u64, stream);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let Some(stream) = clients.get_mut(&event.id()) else {
                continue;
            };
            let open = match stream.read(&mut buf) {
                Ok(0) => false,
                // Small replies to a blocking-enough peer: write_all is fine
                // for an example; a real server would watch OUT as well.
                Ok(n) => write_all_nonblocking(stream, &buf[..n]).is_ok(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(_) => false,
            };
            if !open {
                // Dropping the stream closes its last descriptor, which
                // removes its kevent.
                clients.remove(&event.id());
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
