//! The download workload (issue 14): the server has one file of
//! `FILE` bytes (a memfd, filled with a pattern at start); each
//! connection's 1-byte request is answered with the whole file, sent
//! from the page cache without copying it into user memory. Backends:
//!
//! - `epoll`: level-triggered epoll; a request read with `recv()` starts
//!   a non-blocking `sendfile(2)` at once, and what the socket does not
//!   take goes on with `sendfile(2)` at each `EPOLLOUT` (the connection
//!   watched for `EPOLLOUT` instead of `EPOLLIN` meanwhile, by
//!   `EPOLL_CTL_MOD`);
//! - `io_uring`: per connection one `IORING_OP_RECV` in flight for the
//!   requests, and a pipe: the file goes out in linked pairs of
//!   `IORING_OP_SPLICE`, file to pipe then pipe to socket, of up to the
//!   pipe's size each (1 MiB where `F_SETPIPE_SZ` allows it: one pair per
//!   download; `io_uring-64k`, only when named: 64 KiB pipes, 16 pairs). io_uring runs every splice in its io-wq workers (the
//!   socket blocking for them); they are pinned with the server to CPU 0
//!   (`IORING_REGISTER_IOWQ_AFF`) and counted in its CPU time;
//! - `kevent-aio`: `KEVENT_NAIO` requests, raw kevent-sys calls: per
//!   connection one `KEVENT_NAIO_RECV` in flight for the requests, and a
//!   request's completion queues one `KEVENT_NAIO_SENDFILE` of the whole
//!   file together with the next RECV (they are of the two directions of
//!   the socket, so both may be in flight); one `kevent_ctl()` of the
//!   iteration's entries, then one `kevent_get_events()` waits.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};
use kevent_sys as sys;

use crate::server::{cvt, cvt_size, is_disconnect, Calls, BATCH, BUF};
use crate::{epoll, kevent_aio, uring};

/// The file's size: 1 MiB.
pub const FILE: usize = 1 << 20;

/// The backends of the download workload, in the report's order.
pub const BACKENDS: &[(&str, &str)] = &[
    (
        "epoll",
        "level-triggered epoll, recv() of the request, non-blocking sendfile() until done (EPOLLOUT)",
    ),
    (
        "io_uring",
        "io_uring recv of the request, linked splices file->pipe->socket (a pipe per connection)",
    ),
    (
        "kevent-aio",
        "KEVENT_NAIO: one RECV in flight per connection, one SENDFILE of the file per request",
    ),
    (
        "io_uring-64k",
        "io_uring as above with 64 KiB pipes (16 splice pairs per download); only when named",
    ),
];

/// The file's contents: its 8-byte words are their own offsets (in
/// words) scrambled, so every byte depends on where it is.
pub fn pattern() -> Vec<u8> {
    (0..FILE as u64 / 8)
        .flat_map(|j| (j + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes())
        .collect()
}

/// A memfd holding `pattern()`.
fn file() -> io::Result<OwnedFd> {
    // SAFETY: a new descriptor that we own.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::memfd_create(
            c"kevent-download".as_ptr(),
            libc::MFD_CLOEXEC,
        ))?)
    };
    let data = pattern();
    let mut done = 0;
    while done < data.len() {
        // SAFETY: the rest of data is readable.
        let r = unsafe {
            libc::pwrite(
                fd.as_raw_fd(),
                data[done..].as_ptr().cast(),
                data.len() - done,
                done as libc::off_t,
            )
        };
        done += cvt_size(r)?;
    }
    Ok(fd)
}

/// Why `backend` cannot serve downloads here, or `None`.
pub fn unsupported(backend: &str) -> Option<String> {
    match backend {
        "epoll" => None,
        "io_uring" | "io_uring-64k" => uring::unsupported(false),
        "kevent-aio" => kevent_aio::unsupported(false),
        _ => Some(format!("no download backend named '{backend}'")),
    }
}

/// Serves downloads on `conns` with `backend` until every client has
/// closed its connection.
pub fn serve(backend: &str, conns: Vec<OwnedFd>, calls: Calls) -> io::Result<()> {
    let file = file()?;
    match backend {
        "epoll" => serve_epoll(conns, &file, calls),
        "io_uring" => serve_uring(conns, &file, FILE, calls),
        "io_uring-64k" => serve_uring(conns, &file, 64 << 10, calls),
        "kevent-aio" => serve_kevent_aio(conns, &file, calls),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no download backend named '{backend}'"),
        )),
    }
}

/// The requests a `recv()` of `buf` found: `Ok(None)` when the
/// connection is over (end of file, or the client reset it).
fn recv_requests(fd: RawFd, buf: &mut [u8], calls: &mut Calls) -> io::Result<Option<usize>> {
    calls.n += 1;
    match crate::server::recv(fd, buf) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(Some(0))
        }
        Err(e) if e.raw_os_error().is_some_and(is_disconnect) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A connection of the epoll loop.
#[derive(Default)]
struct EpConn {
    /// Requests read and not yet started.
    pending: usize,
    /// A download in progress, and the bytes of it sent.
    active: bool,
    sent: usize,
    /// Watched for EPOLLOUT (while a download waits for room) rather
    /// than EPOLLIN.
    out: bool,
}

fn epoll_mod(ep: RawFd, fd: RawFd, i: usize, events: i32, calls: &mut Calls) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: i as u64,
    };
    calls.n += 1;
    // SAFETY: ev is ours; both descriptors are open.
    cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev) })?;
    Ok(())
}

/// Sends what the socket takes of connection `c`'s downloads: `Ok(false)`
/// when the connection is over (the client went away).
fn epoll_pump(
    ep: RawFd,
    fd: RawFd,
    i: usize,
    file: RawFd,
    c: &mut EpConn,
    calls: &mut Calls,
) -> io::Result<bool> {
    loop {
        if !c.active {
            if c.pending == 0 {
                break;
            }
            (c.pending, c.active, c.sent) = (c.pending - 1, true, 0);
        }
        let mut off = c.sent as libc::off_t;
        calls.n += 1;
        // SAFETY: off is ours; the descriptors are open.
        let r = unsafe { libc::sendfile(fd, file, &mut off, FILE - c.sent) };
        match cvt_size(r) {
            Ok(0) => return Err(io::Error::other("sendfile() sent nothing of the file")),
            Ok(n) => {
                c.sent += n;
                if c.sent == FILE {
                    c.active = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !c.out {
                    epoll_mod(ep, fd, i, libc::EPOLLOUT, calls)?;
                    c.out = true;
                }
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error().is_some_and(is_disconnect) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    if c.out {
        epoll_mod(ep, fd, i, libc::EPOLLIN, calls)?;
        c.out = false;
    }
    Ok(true)
}

fn serve_epoll(conns: Vec<OwnedFd>, file: &OwnedFd, mut calls: Calls) -> io::Result<()> {
    // SAFETY: a new descriptor that we own.
    let ep = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
    let ep_fd = ep.as_raw_fd();
    for (i, c) in conns.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: ev is ours; both descriptors are open.
        cvt(unsafe { libc::epoll_ctl(ep_fd, libc::EPOLL_CTL_ADD, c.as_raw_fd(), &mut ev) })?;
    }
    let mut live = conns.len();
    let mut state: Vec<EpConn> = (0..conns.len()).map(|_| EpConn::default()).collect();
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
    let mut buf = vec![0u8; BUF];
    while live > 0 {
        let Some(ready) = epoll::wait(ep_fd, &mut events, &mut calls)? else {
            continue;
        };
        for ev in ready {
            let i = ev.u64 as usize;
            let Some(fd) = conns[i].as_ref().map(|c| c.as_raw_fd()) else {
                continue;
            };
            let c = &mut state[i];
            let mut alive = true;
            if !c.out {
                match recv_requests(fd, &mut buf, &mut calls)? {
                    Some(got) => c.pending += got,
                    None => alive = false,
                }
            }
            if alive {
                alive = epoll_pump(ep_fd, fd, i, file.as_raw_fd(), c, &mut calls)?;
            }
            if !alive {
                // Closing the socket's last descriptor takes it out of
                // the epoll set.
                conns[i] = None;
                live -= 1;
            }
        }
        calls.publish();
    }
    calls.publish();
    Ok(())
}

const RECV: u64 = 1 << 32;
const FILL: u64 = 2 << 32;
const DRAIN: u64 = 3 << 32;
const OP_MASK: u64 = 0xff << 32;

/// A connection of the io_uring loop.
struct UConn {
    /// The pipe: read end, write end.
    pipe: (OwnedFd, OwnedFd),
    /// Requests read and not yet started.
    pending: usize,
    /// A download in progress: the bytes of the file spliced into the
    /// pipe so far, and those in the pipe not yet sent.
    active: bool,
    filled: usize,
    in_pipe: usize,
    /// Splices in flight (0, 1 or 2).
    splices: u8,
    /// The receive saw end of file or a reset.
    ended: bool,
    /// A splice to the socket failed (the client went away): no more.
    broken: bool,
}

fn pipe(size: usize) -> io::Result<(OwnedFd, OwnedFd, usize)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors, which we then own.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: as above.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on our pipe. A refusal (the user's pipe limits)
    // leaves the size it has.
    let got = unsafe {
        libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int);
        libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    Ok((r, w, cvt(got)? as usize))
}

fn splice_sqe(from: RawFd, off: i64, to: RawFd, len: usize, user_data: u64) -> squeue::Entry {
    opcode::Splice::new(types::Fd(from), off, types::Fd(to), -1, len as u32)
        .build()
        .user_data(user_data)
}

/// io_uring with pipes of `pipe_size` bytes (less if the user's pipe
/// limits refuse it).
fn serve_uring(
    conns: Vec<OwnedFd>,
    file: &OwnedFd,
    pipe_size: usize,
    mut calls: Calls,
) -> io::Result<()> {
    let n = conns.len();
    let mut ring = uring::ring(n)?;
    if crate::cpus() >= 2 {
        // The io-wq workers that run the splices, on the server's CPU.
        // SAFETY: a zeroed cpu_set_t of ours is valid.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU 0 is inside the set.
        unsafe { libc::CPU_SET(0, &mut set) };
        ring.submitter().register_iowq_aff(&set)?;
    }
    let mut state = Vec::with_capacity(n);
    let mut chunk = FILE;
    for c in &conns {
        // The splice to the socket runs in an io-wq worker, which may
        // block: a blocking socket (a non-blocking one fails it with
        // EAGAIN when the socket is full).
        // SAFETY: fcntl on our socket.
        unsafe {
            let fl = cvt(libc::fcntl(c.as_raw_fd(), libc::F_GETFL))?;
            cvt(libc::fcntl(
                c.as_raw_fd(),
                libc::F_SETFL,
                fl & !libc::O_NONBLOCK,
            ))?;
        }
        let (r, w, size) = pipe(pipe_size)?;
        chunk = chunk.min(size);
        state.push(UConn {
            pipe: (r, w),
            pending: 0,
            active: false,
            filled: 0,
            in_pipe: 0,
            splices: 0,
            ended: false,
            broken: false,
        });
    }
    let mut bufs = vec![0u8; n * 64];
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let fd = |conns: &[Option<OwnedFd>], i: usize| conns[i].as_ref().unwrap().as_raw_fd();
    let recv_sqe = |fd: RawFd, buf: &mut [u8], i: usize| {
        opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
            .build()
            .user_data(i as u64 | RECV)
    };
    for (i, buf) in bufs.chunks_mut(64).enumerate() {
        uring::push(&mut ring, &recv_sqe(fd(&conns, i), buf, i), &mut calls)?;
    }
    let mut live = n;
    let mut cqes = Vec::with_capacity(4 * n);
    while live > 0 {
        uring::wait(&mut ring, &mut cqes, &mut calls)?;
        for &(ud, res, _) in &cqes {
            let i = (ud & 0xffff_ffff) as usize;
            let c = &mut state[i];
            if conns[i].is_none() {
                continue;
            }
            match ud & OP_MASK {
                RECV if res > 0 => {
                    c.pending += res as usize;
                    let buf = &mut bufs[i * 64..(i + 1) * 64];
                    uring::push(&mut ring, &recv_sqe(fd(&conns, i), buf, i), &mut calls)?;
                }
                RECV if res == 0 || is_disconnect(-res) => c.ended = true,
                RECV => return Err(uring::error("recv", res)),
                FILL if res > 0 => {
                    c.splices -= 1;
                    c.filled += res as usize;
                    c.in_pipe += res as usize;
                }
                FILL => return Err(uring::error("splice from the file", res)),
                // Cancelled: the file's splice before it in the link moved
                // less than asked for.
                DRAIN if res == -libc::ECANCELED => c.splices -= 1,
                DRAIN if res > 0 => {
                    c.splices -= 1;
                    c.in_pipe -= res as usize;
                }
                DRAIN if is_disconnect(-res) => {
                    c.splices -= 1;
                    c.broken = true;
                }
                _ => return Err(uring::error("splice to the socket", res)),
            }
            if c.splices > 0 {
                continue;
            }
            if c.ended {
                // Nothing of it is in flight any more (its receive ended).
                conns[i] = None;
                live -= 1;
                continue;
            }
            if c.broken {
                // Its receive ends too (end of file or a reset).
                continue;
            }
            if c.active && c.in_pipe == 0 && c.filled == FILE {
                c.active = false;
            }
            if !c.active && c.pending > 0 {
                (c.pending, c.active, c.filled) = (c.pending - 1, true, 0);
            }
            if !c.active {
                continue;
            }
            let (pr, pw) = (c.pipe.0.as_raw_fd(), c.pipe.1.as_raw_fd());
            if c.in_pipe > 0 {
                let drain = splice_sqe(pr, -1, fd(&conns, i), c.in_pipe, i as u64 | DRAIN);
                uring::push(&mut ring, &drain, &mut calls)?;
                c.splices = 1;
            } else {
                let len = chunk.min(FILE - c.filled);
                let fill = splice_sqe(file.as_raw_fd(), c.filled as i64, pw, len, i as u64 | FILL)
                    .flags(squeue::Flags::IO_LINK);
                let drain = splice_sqe(pr, -1, fd(&conns, i), len, i as u64 | DRAIN);
                uring::push(&mut ring, &fill, &mut calls)?;
                uring::push(&mut ring, &drain, &mut calls)?;
                c.splices = 2;
            }
        }
        calls.publish();
    }
    calls.publish();
    drop(ring);
    Ok(())
}

/// A KEVENT_NAIO request of connection `i`: its RECV (id 2i) or its
/// SENDFILE (id 2i + 1); a request's id is free again once its event is
/// reported.
fn naio(i: usize, fd: RawFd, op: u32, data: u64, len: usize, in_fd: RawFd) -> sys::ukevent {
    let send = op == sys::KEVENT_NAIO_SENDFILE;
    let mut uk = sys::ukevent {
        id: (2 * i + usize::from(send)) as u64,
        type_: sys::KEVENT_NAIO,
        event: op,
        data,
        user_data: i as u64,
        ..Default::default()
    };
    uk.__bindgen_anon_1.naio = sys::ukevent__bindgen_ty_1__bindgen_ty_4 {
        fd,
        len: len as u32,
        msg_flags: 0,
        in_fd: if send { in_fd } else { 0 },
    };
    uk
}

/// A connection of the kevent-aio loop.
#[derive(Default)]
struct KConn {
    /// Requests read and not yet started.
    pending: usize,
    /// A SENDFILE in flight (its event not yet reported).
    sending: bool,
    /// The RECV saw end of file or a reset.
    ended: bool,
    /// A SENDFILE failed (the client went away): no more.
    broken: bool,
}

fn serve_kevent_aio(conns: Vec<OwnedFd>, file: &OwnedFd, mut calls: Calls) -> io::Result<()> {
    let (q, max) = kevent_aio::queue(1)?;
    let n = conns.len();
    let mut bufs = vec![0u8; n * 64];
    let base = bufs.as_mut_ptr();
    let buf = |i: usize| base.wrapping_add(i * 64) as u64;
    let mut state: Vec<KConn> = (0..n).map(|_| KConn::default()).collect();
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let fd = |conns: &[Option<OwnedFd>], i: usize| conns[i].as_ref().unwrap().as_raw_fd();
    let in_fd = file.as_raw_fd();
    let recv = |conns: &[Option<OwnedFd>], i: usize| {
        naio(i, fd(conns, i), sys::KEVENT_NAIO_RECV, buf(i), 64, 0)
    };
    let sendfile = |conns: &[Option<OwnedFd>], i: usize| {
        naio(i, fd(conns, i), sys::KEVENT_NAIO_SENDFILE, 0, FILE, in_fd)
    };
    let mut batch: Vec<sys::ukevent> = (0..n).map(|i| recv(&conns, i)).collect();
    let mut events = vec![sys::kevent_event::default(); BATCH];
    let mut live = n;
    while live > 0 {
        if !batch.is_empty() {
            kevent_aio::submit(q.as_raw_fd(), &mut batch, max, &mut calls)?;
            batch.clear();
        }
        let Some(got) = kevent_aio::wait(q.as_raw_fd(), &mut events, &mut calls)? else {
            continue;
        };
        for ev in got {
            let i = ev.user_data as usize;
            let res = ev.data as i64;
            let c = &mut state[i];
            if conns[i].is_none() {
                continue;
            }
            match ev.events {
                sys::KEVENT_NAIO_RECV if res > 0 => {
                    c.pending += res as usize;
                    batch.push(recv(&conns, i));
                }
                sys::KEVENT_NAIO_RECV if res == 0 || is_disconnect(-res as i32) => c.ended = true,
                sys::KEVENT_NAIO_SENDFILE if res == FILE as i64 => c.sending = false,
                // Short: an error after the bytes it queued (the client
                // went away), or the file ended early (it cannot).
                sys::KEVENT_NAIO_SENDFILE
                    if (res >= 0 && u32::from(ev.flags) & sys::KEVENT_EV_EOF == 0)
                        || is_disconnect(-res as i32) =>
                {
                    (c.sending, c.broken) = (false, true)
                }
                op => {
                    return Err(io::Error::other(format!(
                        "NAIO op {op} completed with {res} (flags {:#x})",
                        ev.flags
                    )));
                }
            }
            if c.ended {
                if !c.sending && conns[i].is_some() {
                    // Its RECV is over and no SENDFILE is in flight.
                    conns[i] = None;
                    live -= 1;
                }
            } else if !c.sending && !c.broken && c.pending > 0 {
                c.pending -= 1;
                c.sending = true;
                batch.push(sendfile(&conns, i));
            }
        }
        calls.publish();
    }
    calls.publish();
    drop(bufs);
    Ok(())
}
