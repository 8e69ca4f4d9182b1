//! A TCP echo server on network I/O requests with owned buffers
//! (`KEVENT_NAIO`), two ways:
//!
//! - async: [`kevent::AsyncNaio`] in a tokio runtime. Each connection is
//!   a task that receives into its buffer and sends the same buffer back,
//!   the buffer going to the kernel and coming back with each result (no
//!   copy, no readiness loop).
//! - `--stay`: one thread, no async, a receive that stays per connection
//!   ([`kevent::Naio::recv_stay`]): one request per connection for its
//!   whole life, and per round one system call,
//!   [`kevent::Naio::wait_rearming`], which starts the next runs of the
//!   receives handed back in the last round, waits, and reports the
//!   completions. The received buffer is the send's (no copy); the send's
//!   completion gives it back, and it goes to the receive's next run.
//!   [`kevent::Completion::next_step`] says which connections are over.
//!
//! Run it on a kernel with the kevent series and `KEVENT_NAIO` (in the
//! repository's VM: `ci/vm-run.sh --kernel .../naio-debug-bzImage -- ...`):
//!
//! ```text
//! cargo run -p kevent --features tokio --example naio_echo -- 127.0.0.1:7000
//! cargo run -p kevent --features tokio --example naio_echo -- --stay 127.0.0.1:7000
//! # elsewhere:
//! printf 'hello\n' | nc -q1 127.0.0.1 7000
//! ```
//!
//! With `--self-test` it starts both servers on free ports, echoes a few
//! messages of its own through several connections to each, checks them,
//! and exits 0 (what the VM runs).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use kevent::{
    AsyncNaio, Completion, Events, Naio, NaioOp, NextStep, PollFlags, RecvFlags, RequestId,
    SendFlags, Sent, Token, Wait,
};

/// Echoes one connection until the peer closes it.
async fn echo(naio: Arc<AsyncNaio>, stream: std::net::TcpStream) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut total = 0;
    loop {
        let (res, b) = naio.recv(&stream, buf).await;
        let n = res?;
        if n == 0 {
            return Ok(total); // end of file
        }
        // `b` holds the n bytes received: send them all back.
        let (res, b) = naio.send(&stream, b).await;
        let sent = res?;
        if sent != n {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {n} bytes"),
            ));
        }
        total += sent as u64;
        buf = b;
    }
}

async fn serve(listener: tokio::net::TcpListener, naio: Arc<AsyncNaio>) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        // Out of tokio's reactor: the requests are the queue's business.
        let stream = stream.into_std()?;
        let naio = Arc::clone(&naio);
        tokio::spawn(async move {
            match echo(naio, stream).await {
                Ok(n) => eprintln!("{peer}: {n} bytes echoed"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
}

/// The listener's token; a connection's is its number, from 1.
const LISTENER: Token = Token(0);

/// A connection of the `--stay` server: its socket and its receive that
/// stays. Its buffer is in the kernel's hands, in a completion, or in
/// `rearms`, never here.
struct Conn {
    stream: TcpStream,
    recv: RequestId,
}

/// The `--stay` server: one thread, one system call per round.
fn serve_stay(listener: TcpListener) -> io::Result<()> {
    let naio: Naio = Naio::new()?;
    // The listener's readiness comes in the same wait as the completions.
    listener.set_nonblocking(true)?;
    naio.queue().add_fd(&listener, PollFlags::IN, LISTENER)?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next = 1;
    let (mut rearms, mut refused) = (Vec::new(), Vec::new());
    let mut events = Events::with_capacity(256);
    loop {
        // The next runs of last round's receives start in this call.
        naio.wait_rearming(
            rearms.drain(..),
            &mut refused,
            &mut events,
            &Wait::forever(),
        )?;
        for r in refused.drain(..) {
            // Its receive ended meanwhile (or our bug): that connection
            // is over; its buffer is back in `r.buf`, dropped here.
            eprintln!("{}", r.error);
            if let Some(token) = r.token {
                close(&naio, &mut conns, token);
            }
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&naio, &listener, &mut conns, &mut next);
                continue;
            }
            let Some(done) = naio.take(&event) else {
                continue; // the last event of a receive we cancelled
            };
            let token = done.token();
            // None: a late completion of a connection closed already
            // (its buffer is dropped with it).
            let Some(conn) = conns.get(&token.0) else {
                continue;
            };
            let recv = conn.recv;
            match (done.op(), done.next_step()) {
                (NaioOp::Recv, NextStep::Rearm) => {
                    // Zero copy: the bytes received go out in the same
                    // buffer; the send's completion gives it back.
                    let buf = done.into_buf();
                    match naio.send_now(&conn.stream, buf, SendFlags::empty(), token) {
                        Ok(Sent::Done(sent)) => {
                            sent_back(&naio, &mut conns, sent, recv, &mut rearms)
                        }
                        Ok(Sent::InFlight(_)) => {} // its completion comes in a later round
                        Err(e) => {
                            eprintln!("{e}");
                            close(&naio, &mut conns, token);
                        }
                    }
                }
                // End of file or this connection's error: the kernel keeps
                // the receive, which a rearm would only run into the same
                // again. Close the connection (and cancel the receive).
                (NaioOp::Recv, NextStep::Cancel) => {
                    if let Err(e) = done.result() {
                        eprintln!("connection {}: {e}", token.0);
                    }
                    close(&naio, &mut conns, token);
                }
                // The receive is gone (cancelled with a run in flight).
                (NaioOp::Recv, NextStep::Done) => {
                    conns.remove(&token.0);
                }
                (_, _) => sent_back(&naio, &mut conns, done, recv, &mut rearms),
            }
        }
    }
}

/// Accepts the connections waiting, each with its receive that stays.
fn accept_all(naio: &Naio, listener: &TcpListener, conns: &mut HashMap<u64, Conn>, next: &mut u64) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        };
        let token = Token(*next);
        *next += 1;
        let buf = Vec::with_capacity(16 * 1024);
        match naio.recv_stay(&stream, buf, RecvFlags::empty(), token) {
            Ok(recv) => {
                conns.insert(token.0, Conn { stream, recv });
            }
            Err(e) => eprintln!("{e}"),
        }
    }
}

/// A send's completion: its buffer, all of it sent, goes back to the
/// connection's receive for its next run (at the wait of the next round).
fn sent_back(
    naio: &Naio,
    conns: &mut HashMap<u64, Conn>,
    sent: Completion<Vec<u8>>,
    recv: RequestId,
    rearms: &mut Vec<(RequestId, Vec<u8>)>,
) {
    let all = sent.buf().len();
    match sent.result() {
        Ok(n) if *n == all => {
            let mut buf = sent.into_buf();
            buf.clear();
            rearms.push((recv, buf));
        }
        r => {
            eprintln!("connection {}: send: {r:?} of {all} bytes", sent.token().0);
            close(naio, conns, sent.token());
        }
    }
}

/// Ends a connection: its receive is cancelled (its last event has
/// nothing to take), and the socket closed.
fn close(naio: &Naio, conns: &mut HashMap<u64, Conn>, token: Token) {
    if let Some(conn) = conns.remove(&token.0) {
        // ENOENT: it had ended already.
        let _ = naio.cancel(conn.recv);
    }
}

/// Clients in threads of their own (blocking std sockets), checking the
/// echo.
fn self_test(addr: SocketAddr) -> io::Result<()> {
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || -> io::Result<()> {
                let mut s = TcpStream::connect(addr)?;
                // A server that stopped answering fails the test.
                s.set_read_timeout(Some(Duration::from_secs(60)))?;
                for round in 0..8 {
                    let msg: Vec<u8> = (0..1000 * (round + 1))
                        .map(|i| (i * 7 + c * 13 + round) as u8)
                        .collect();
                    s.write_all(&msg)?;
                    let mut back = vec![0; msg.len()];
                    s.read_exact(&mut back)?;
                    if back != msg {
                        return Err(io::Error::other(format!(
                            "client {c} round {round}: the echo differs"
                        )));
                    }
                }
                s.shutdown(std::net::Shutdown::Write)?;
                let mut rest = Vec::new();
                s.read_to_end(&mut rest)?;
                if !rest.is_empty() {
                    return Err(io::Error::other("bytes after the end"));
                }
                Ok(())
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread")?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let stay = args.first().is_some_and(|a| a == "--stay");
    if stay {
        args.remove(0);
    }
    let arg = args.first();
    let self_testing = arg.is_some_and(|a| a == "--self-test");
    let addr: SocketAddr = match (arg, self_testing) {
        (Some(a), false) => a
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
        _ => "127.0.0.1:0".parse().unwrap(),
    };
    if stay && !self_testing {
        let listener = TcpListener::bind(addr)?;
        eprintln!("echoing on {} (receives that stay)", listener.local_addr()?);
        return serve_stay(listener);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let naio = Arc::new(AsyncNaio::new()?);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        if !self_testing {
            eprintln!("echoing on {addr}");
            return serve(listener, naio).await;
        }
        let server = tokio::spawn(serve(listener, Arc::clone(&naio)));
        tokio::task::spawn_blocking(move || self_test(addr))
            .await
            .expect("self-test thread")?;
        server.abort();
        println!("naio_echo: self-test passed (async)");
        Ok::<(), io::Error>(())
    })?;
    if self_testing {
        // The --stay server, in a thread of its own (it runs until the
        // process exits).
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        std::thread::spawn(move || {
            if let Err(e) = serve_stay(listener) {
                eprintln!("the --stay server failed: {e}");
                std::process::exit(1);
            }
        });
        self_test(addr)?;
        println!("naio_echo: self-test passed (--stay)");
    }
    Ok(())
}
