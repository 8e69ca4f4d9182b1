//! The load generator: N connections, each in a closed loop (send a
//! message, wait until all of it has come back, check it, send the next;
//! or, for the download workload, send a 1-byte request and read the
//! whole file), one thread with level-triggered epoll: the same client
//! for every server backend.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::download;
use crate::server::{cvt, cvt_size, loopback, tune};

/// What the connections do.
#[derive(Clone, Copy, Debug)]
pub enum Work {
    /// Echo: a message of `size` bytes, every byte of its echo checked.
    Echo { size: usize },
    /// Download: a 1-byte request, then the server's whole file
    /// (`download::FILE` bytes). `full`: every byte checked; else the
    /// first and last byte of every receive and one byte per 4 KiB of the
    /// file (its pattern encodes each 8-byte word's offset, so a page
    /// out of place or repeated is caught).
    Download { full: bool },
}

/// No echo for this long while requests are outstanding: the run fails.
const STALL: Duration = Duration::from_secs(5);

struct Conn {
    fd: OwnedFd,
    /// Bytes of the current message received back so far.
    got: usize,
    /// A message of this connection is in flight.
    busy: bool,
}

pub struct Load {
    ep: OwnedFd,
    conns: Vec<Conn>,
    /// The bytes of each reply (the echo's message, or the file).
    size: usize,
    /// Echo: each connection's message (`size` bytes each, different per
    /// connection), to check what comes back; download: the file's
    /// contents (the same for every connection).
    msgs: Vec<u8>,
    /// Echo: `size` (connection i's message at i * size); download: 0.
    stride: usize,
    /// Every byte of a reply checked (else a sample, `Work::Download`).
    full: bool,
    buf: Vec<u8>,
    events: Vec<libc::epoll_event>,
    /// Closed loop on: a completed message is followed by the next.
    sending: bool,
    /// Connections with a message in flight.
    outstanding: usize,
    /// Messages echoed in full so far.
    pub completed: u64,
}

fn connect(port: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor we own from here on.
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let addr = loopback(port);
        loop {
            let r = libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            match cvt(r) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        tune(fd.as_raw_fd())?;
        Ok(fd)
    }
}

impl Load {
    /// Connects `n` connections to 127.0.0.1:`port` (the server accepts
    /// them when it likes: the listen backlog holds them).
    pub fn connect(port: u16, n: usize, work: Work) -> io::Result<Self> {
        // SAFETY: a new descriptor that we own.
        let ep = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let fd = connect(port)?;
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: ev is ours; both descriptors are open.
            cvt(unsafe {
                libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev)
            })?;
            conns.push(Conn {
                fd,
                got: 0,
                busy: false,
            });
        }
        let (size, stride, full, msgs, buf) = match work {
            Work::Echo { size } => {
                let msgs = (0..n * size)
                    .map(|k| (k / size * 7 + k % size * 13) as u8)
                    .collect();
                (size, size, true, msgs, size)
            }
            Work::Download { full } => (download::FILE, 0, full, download::pattern(), 256 << 10),
        };
        Ok(Load {
            ep,
            conns,
            size,
            msgs,
            stride,
            full,
            buf: vec![0; buf],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            sending: false,
            outstanding: 0,
            completed: 0,
        })
    }

    /// What connection `i` sends: its message, or a download's request.
    fn msg(&self, i: usize) -> &[u8] {
        if self.stride == 0 {
            return b"G";
        }
        &self.msgs[i * self.size..(i + 1) * self.size]
    }

    fn send(&mut self, i: usize) -> io::Result<()> {
        let fd = self.conns[i].fd.as_raw_fd();
        let msg = self.msg(i);
        // SAFETY: msg is readable for its length.
        let r = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL) };
        let n = cvt_size(r)?;
        if n != msg.len() {
            // One message per connection in flight: the send buffer
            // always has room.
            return Err(io::Error::other(format!(
                "connection {i}: sent {n} of {} bytes",
                msg.len()
            )));
        }
        self.conns[i].busy = true;
        self.outstanding += 1;
        Ok(())
    }

    /// Starts the closed loop: a message on every connection.
    pub fn start(&mut self) -> io::Result<()> {
        self.sending = true;
        for i in 0..self.conns.len() {
            self.send(i)?;
        }
        Ok(())
    }

    /// Reads what connection `i` has; a complete echo is checked,
    /// counted, and followed by the next message while the loop is on.
    fn readable(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.conns[i];
        let want = (self.size - c.got).min(self.buf.len());
        let fd: RawFd = c.fd.as_raw_fd();
        // SAFETY: buf has room for want bytes.
        let r = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), want, 0) };
        let n = match cvt_size(r) {
            Ok(0) => {
                return Err(io::Error::other(format!(
                    "connection {i}: the server closed it"
                )))
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        if !c.busy {
            return Err(io::Error::other(format!(
                "connection {i}: {n} bytes that were not sent"
            )));
        }
        let start = i * self.stride + c.got;
        let want = &self.msgs[start..start + n];
        let ok = if self.full {
            self.buf[..n] == *want
        } else {
            // The first and last byte, and 8 bytes (a word of the
            // pattern, its offset in it) at each 4 KiB boundary of the
            // file in between.
            let first_page = c.got.div_ceil(4096) * 4096;
            let got = &self.buf[..n];
            got[0] == want[0]
                && got[n - 1] == want[n - 1]
                && (first_page - c.got..n).step_by(4096).all(|k| {
                    let end = (k + 8).min(n);
                    got[k..end] == want[k..end]
                })
        };
        if !ok {
            return Err(io::Error::other(format!(
                "connection {i}: bytes {}..{} of the reply differ from what was sent or served",
                c.got,
                c.got + n
            )));
        }
        c.got += n;
        if c.got == self.size {
            c.got = 0;
            c.busy = false;
            self.outstanding -= 1;
            self.completed += 1;
            if self.sending {
                self.send(i)?;
            }
        }
        Ok(())
    }

    /// One wait (at most 100 ms) and its events; returns how many.
    fn step(&mut self) -> io::Result<usize> {
        // SAFETY: events has room for its length.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                100,
            )
        };
        let n = match cvt(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        for k in 0..n {
            let i = self.events[k].u64 as usize;
            self.readable(i)?;
        }
        Ok(n)
    }

    /// Runs until `done(self)` says so, checked every 16 waits and after
    /// every idle one. `alive` is called when a wait found nothing (the
    /// driver checks that the server still runs); no echo for `STALL`
    /// while messages are in flight fails.
    fn run_while(
        &mut self,
        mut more: impl FnMut(&Self) -> bool,
        alive: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()> {
        let mut last = (self.completed, Instant::now());
        let mut waits = 0u32;
        loop {
            let n = self.step()?;
            waits = waits.wrapping_add(1);
            if n == 0 {
                alive()?;
                if self.completed != last.0 {
                    last = (self.completed, Instant::now());
                } else if self.outstanding > 0 && last.1.elapsed() > STALL {
                    return Err(io::Error::other(format!(
                        "no echo for {} s ({} messages in flight)",
                        STALL.as_secs(),
                        self.outstanding
                    )));
                }
            }
            if (n == 0 || waits % 16 == 0) && !more(self) {
                return Ok(());
            }
        }
    }

    /// The closed loop for `d`, and until at least `min` messages have
    /// completed: returns the messages completed and the time it really
    /// took (the clock is read every 16 waits).
    pub fn run_for(
        &mut self,
        d: Duration,
        min: u64,
        alive: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<(u64, Duration)> {
        let (start, t0) = (self.completed, Instant::now());
        let end = t0 + d;
        self.run_while(|l| Instant::now() < end || l.completed < start + min, alive)?;
        Ok((self.completed - start, t0.elapsed()))
    }

    /// The closed loop until `n` more messages have come back.
    #[cfg(test)]
    pub fn run_requests(
        &mut self,
        n: u64,
        alive: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()> {
        let end = self.completed + n;
        self.run_while(|l| l.completed < end, alive)
    }

    /// Stops the loop and waits for the messages in flight.
    pub fn drain(&mut self, alive: &mut dyn FnMut() -> io::Result<()>) -> io::Result<()> {
        self.sending = false;
        self.run_while(|l| l.outstanding > 0, alive)
    }
}
