//! A TCP echo server on network I/O requests with owned buffers
//! (`KEVENT_NAIO`), async: [`kevent::AsyncNaio`] in a tokio runtime. Each
//! connection is a task that receives into its buffer and sends the same
//! buffer back, the buffer going to the kernel and coming back with each
//! result (no copy, no readiness loop).
//!
//! Run it on a kernel with the kevent series and `KEVENT_NAIO` (in the
//! repository's VM: `ci/vm-run.sh --kernel .../naio-debug-bzImage -- ...`):
//!
//! ```text
//! cargo run -p kevent --features tokio --example naio_echo -- 127.0.0.1:7000
//! # elsewhere:
//! printf 'hello\n' | nc -q1 127.0.0.1 7000
//! ```
//!
//! With `--self-test` it starts on a free port, echoes a few messages of
//! its own through several connections, checks them, and exits 0 (what
//! the VM runs).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use kevent::AsyncNaio;

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

/// Clients in threads of their own (blocking std sockets), checking the
/// echo.
fn self_test(addr: SocketAddr) -> io::Result<()> {
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || -> io::Result<()> {
                let mut s = std::net::TcpStream::connect(addr)?;
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
    let arg = std::env::args().nth(1);
    let self_testing = arg.as_deref() == Some("--self-test");
    let addr: SocketAddr = match (&arg, self_testing) {
        (Some(a), false) => a
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
        _ => "127.0.0.1:0".parse().unwrap(),
    };
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
        println!("naio_echo: self-test passed");
        Ok(())
    })
}
