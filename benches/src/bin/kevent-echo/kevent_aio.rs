//! kevent network asynchronous I/O (`KEVENT_NAIO`, kevent_ctl(2)), raw
//! kevent-sys calls, in two forms:
//!
//! - `kevent-aio` ([`serve`]): per connection one receive that stays
//!   (`KEVENT_REQ_DISPATCH`: added once, enabled again for each message)
//!   into the connection's receive buffer. Its completion copies the bytes
//!   to the connection's send buffer, queues a SEND of them, which says in
//!   its entry when it completed at its ADD (`KEVENT_REQ_INLINE`: no
//!   event), and the receive's ENABLE; the changes of one loop iteration
//!   travel in its `kevent_get_events()` (`kevent_wait_args.changes`).
//! - `kevent-aio-once` ([`serve_once`]): per connection one RECV request
//!   in flight into the connection's buffer; its completion event queues
//!   a SEND of those bytes, whose completion queues the next RECV. The
//!   requests of one loop iteration go to the kernel in one
//!   `kevent_ctl(KEVENT_CTL_ADD)` call, then one `kevent_get_events()`
//!   waits for completions. The form the 2026-12-01 measurements used.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use kevent_sys as sys;

use crate::server::{is_disconnect, Calls, BATCH, BUF};

pub use sys::{KEVENT_NAIO, KEVENT_NAIO_RECV, KEVENT_NAIO_SEND};

/// Why the backend cannot run here, or `None`: `staying` for a receive
/// that stays and sends completed at their ADD (`kevent-aio`), which
/// came together.
pub fn unsupported(staying: bool) -> Option<String> {
    match kevent::features() {
        Err(e) => Some(format!("no kevent in this kernel: {e}")),
        Ok(f) if f.types & (1 << KEVENT_NAIO) == 0 => Some(
            "this kernel has no KEVENT_NAIO (type 5 not in KEVENT_CTL_PROBE's types)".to_string(),
        ),
        Ok(f) if staying && f.req_flags.bits() & sys::KEVENT_REQ_INLINE == 0 => Some(
            "this kernel has no receive that stays nor KEVENT_REQ_INLINE (KEVENT_CTL_PROBE's req_flags)"
                .to_string(),
        ),
        Ok(_) => None,
    }
}

/// One request: connection `i`'s `op` on `len` bytes at `buf`. The
/// request id is the connection's index: a connection has one request in
/// flight at a time, and a request's id is free again once its event is
/// reported.
fn request(i: usize, fd: i32, op: u32, buf: *const u8, len: usize) -> sys::ukevent {
    let mut uk = sys::ukevent {
        id: i as u64,
        type_: KEVENT_NAIO,
        event: op,
        data: buf as u64,
        user_data: i as u64,
        ..Default::default()
    };
    let msg_flags = if op == KEVENT_NAIO_SEND {
        libc::MSG_NOSIGNAL as u32
    } else {
        0
    };
    uk.__bindgen_anon_1.naio = sys::ukevent__bindgen_ty_1__bindgen_ty_4 {
        fd,
        len: len as u32,
        msg_flags,
        in_fd: 0,
    };
    uk
}

/// One `kevent_get_events()` into `events`, waiting forever with the
/// thread's signal mask: the events reported, every one a `KEVENT_NAIO`
/// completion, or `None` if a signal interrupted the wait.
pub fn wait<'a>(
    q: i32,
    events: &'a mut [sys::kevent_event],
    calls: &mut Calls,
) -> io::Result<Option<&'a [sys::kevent_event]>> {
    calls.n += 1;
    // SAFETY: events has room for its length; no wait arguments: wait
    // forever, with the thread's signal mask.
    let got = unsafe {
        sys::kevent_get_events(
            q,
            events.as_mut_ptr(),
            events.len() as u32,
            std::ptr::null(),
            0,
        )
    };
    let got = match got {
        Ok(got) => &events[..got as usize],
        Err(sys::Error::Errno(libc::EINTR)) => return Ok(None),
        Err(e) => return Err(io::Error::other(format!("kevent_get_events: {e}"))),
    };
    if let Some(ev) = got.iter().find(|ev| u32::from(ev.type_) != KEVENT_NAIO) {
        return Err(io::Error::other(format!("an event of type {}", ev.type_)));
    }
    Ok(Some(got))
}

/// One `kevent_ctl(ADD)` of `batch` (at most the kernel's `max_batch`
/// entries at a time); every entry must be accepted.
pub fn submit(q: i32, batch: &mut [sys::ukevent], max: usize, calls: &mut Calls) -> io::Result<()> {
    ctl(q, sys::KEVENT_CTL_ADD, batch, max, calls)
}

/// `kevent_ctl(cmd)` of `batch`, `max` entries at a time; every entry
/// must be accepted.
fn ctl(
    q: i32,
    cmd: u32,
    batch: &mut [sys::ukevent],
    max: usize,
    calls: &mut Calls,
) -> io::Result<()> {
    for chunk in batch.chunks_mut(max) {
        calls.n += 1;
        // SAFETY: the probe found kevent; chunk is initialised entries
        // we own, which the kernel reads and writes back results into.
        let done = unsafe { sys::kevent_ctl(q, cmd, chunk.len() as u32, chunk.as_mut_ptr()) }
            .map_err(|e| io::Error::other(format!("kevent_ctl({cmd}) of NAIO entries: {e}")))?;
        if done as usize != chunk.len() {
            return Err(io::Error::other(format!(
                "kevent_ctl({cmd}) processed {done} of {} NAIO entries",
                chunk.len()
            )));
        }
        refused(chunk, cmd)?;
    }
    Ok(())
}

/// The first entry of `entries` the kernel refused, as an error.
fn refused(entries: &[sys::ukevent], cmd: u32) -> io::Result<()> {
    match entries
        .iter()
        .find(|uk| uk.ret_flags & sys::KEVENT_RET_BROKEN != 0)
    {
        Some(uk) => {
            let e = io::Error::from_raw_os_error((uk.ret_data[1] as i32).wrapping_neg());
            Err(io::Error::new(
                e.kind(),
                format!(
                    "a NAIO entry (command {cmd}, op {}) was refused: {e}",
                    uk.event
                ),
            ))
        }
        None => Ok(()),
    }
}

/// A new kevent queue, and the most entries one call of it takes (the
/// probe's `max_batch`, at least `min` and at most 4096).
pub fn queue(min: usize) -> io::Result<(OwnedFd, usize)> {
    let f = kevent::features()?;
    let max = (f.max_batch as usize).clamp(min, 4096);
    // SAFETY: the probe found kevent ABI v2; a new descriptor we own.
    let q = unsafe { sys::kevent_create(sys::KEVENT_CLOEXEC) }
        .map_err(|e| io::Error::other(format!("kevent_create: {e}")))?;
    // SAFETY: as above.
    Ok((unsafe { OwnedFd::from_raw_fd(q) }, max))
}

pub fn serve_once(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    let (q, max) = queue(1)?;
    let n = conns.len();
    let mut bufs = vec![0u8; n * BUF];
    // The bytes of each connection's SEND in flight.
    let mut len = vec![0usize; n];
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let fd = |conns: &[Option<OwnedFd>], i: usize| conns[i].as_ref().unwrap().as_raw_fd();
    let base = bufs.as_mut_ptr();
    let buf = |i: usize| base.wrapping_add(i * BUF);
    let mut batch: Vec<sys::ukevent> = (0..n)
        .map(|i| request(i, fd(&conns, i), KEVENT_NAIO_RECV, buf(i), BUF))
        .collect();
    let mut events = vec![sys::kevent_event::default(); BATCH];
    let mut live = n;
    while live > 0 {
        if !batch.is_empty() {
            submit(q.as_raw_fd(), &mut batch, max, &mut calls)?;
            batch.clear();
        }
        let Some(got) = wait(q.as_raw_fd(), &mut events, &mut calls)? else {
            continue;
        };
        for ev in got {
            let i = ev.user_data as usize;
            let res = ev.data as i64;
            let over = match ev.events {
                KEVENT_NAIO_RECV if res > 0 => {
                    len[i] = res as usize;
                    batch.push(request(i, fd(&conns, i), KEVENT_NAIO_SEND, buf(i), len[i]));
                    false
                }
                KEVENT_NAIO_RECV if res == 0 || is_disconnect(-res as i32) => true,
                KEVENT_NAIO_SEND if res >= 0 && res as usize == len[i] => {
                    batch.push(request(i, fd(&conns, i), KEVENT_NAIO_RECV, buf(i), BUF));
                    false
                }
                // A stream send that queued fewer bytes than asked for
                // ended with an error after them: the connection is
                // broken.
                KEVENT_NAIO_SEND if res >= 0 || is_disconnect(-res as i32) => true,
                op => {
                    let e = io::Error::from_raw_os_error((-res) as i32);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("NAIO op {op} completed with {res}: {e}"),
                    ));
                }
            };
            if over {
                // Nothing of it is in flight any more.
                conns[i] = None;
                live -= 1;
            }
        }
        calls.publish();
    }
    calls.publish();
    drop(bufs);
    Ok(())
}

/// The ENABLE of connection `i`'s receive: the key only.
fn enable(i: usize) -> sys::ukevent {
    sys::ukevent {
        id: i as u64,
        type_: KEVENT_NAIO,
        ..Default::default()
    }
}

/// `kevent-aio`: see the top. Receive ids are the connections' indices,
/// send ids the indices plus `n`.
pub fn serve(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    let (q, max) = queue(2)?;
    let mut s = Echo::new(conns);
    let mut adds: Vec<sys::ukevent> = (0..s.n)
        .map(|i| {
            let mut uk = request(i, s.fd(i), KEVENT_NAIO_RECV, s.rbuf(i), BUF);
            uk.req_flags = sys::KEVENT_REQ_DISPATCH;
            uk
        })
        .collect();
    ctl(
        q.as_raw_fd(),
        sys::KEVENT_CTL_ADD,
        &mut adds,
        max,
        &mut calls,
    )?;
    adds.clear();
    let mut enables: Vec<sys::ukevent> = Vec::with_capacity(s.n);
    let mut events = vec![sys::kevent_event::default(); BATCH];
    while s.live > 0 {
        // The changes travel in the wait unless they exceed one call's.
        if adds.len() + enables.len() > max {
            ctl(
                q.as_raw_fd(),
                sys::KEVENT_CTL_ADD,
                &mut adds,
                max,
                &mut calls,
            )?;
            ctl(
                q.as_raw_fd(),
                sys::KEVENT_CTL_ENABLE,
                &mut enables,
                max,
                &mut calls,
            )?;
            s.sent_at_add(&mut adds, &mut enables)?;
        }
        let got = wait_with(
            q.as_raw_fd(),
            &mut adds,
            &mut enables,
            &mut events,
            &mut calls,
        )?;
        s.sent_at_add(&mut adds, &mut enables)?;
        for ev in got.unwrap_or(&[]) {
            s.completed(
                ev.id as usize,
                ev.events,
                ev.data as i64,
                &mut adds,
                &mut enables,
            )?;
        }
        calls.publish();
    }
    calls.publish();
    // The queue goes first: no request may outlive the buffers.
    drop(q);
    drop(s);
    Ok(())
}

/// The `kevent-aio` server's connections and buffers. Its per-message
/// methods are `#[inline(always)]`: left to the compiler they were three
/// calls, 85 of the server's 318 user instructions per echo (exact
/// profile at one connection, benches/README.md).
struct Echo {
    n: usize,
    conns: Vec<Option<OwnedFd>>,
    rbufs: Vec<u8>,
    sbufs: Vec<u8>,
    /// Per connection: the bytes of its SEND in flight (0: none).
    sending: Vec<usize>,
    /// Per connection: the bytes its receive got while a SEND was in
    /// flight; its receive is enabled again only once they are moved to
    /// the send buffer.
    held: Vec<usize>,
    /// Empty between waits: the entries of the last one while their
    /// results are read (`sent_at_add()`).
    applied: Vec<sys::ukevent>,
    live: usize,
}

impl Echo {
    fn new(conns: Vec<OwnedFd>) -> Self {
        let n = conns.len();
        Echo {
            n,
            conns: conns.into_iter().map(Some).collect(),
            rbufs: vec![0u8; n * BUF],
            sbufs: vec![0u8; n * BUF],
            sending: vec![0; n],
            held: vec![0; n],
            applied: Vec::with_capacity(n),
            live: n,
        }
    }

    fn fd(&self, i: usize) -> i32 {
        self.conns[i].as_ref().unwrap().as_raw_fd()
    }

    fn rbuf(&mut self, i: usize) -> *mut u8 {
        self.rbufs[i * BUF..].as_mut_ptr()
    }

    /// Connection `i`'s `len` received bytes to its send buffer, a SEND of
    /// them (completed at its ADD if the socket takes them:
    /// `KEVENT_REQ_INLINE`), and its receive enabled again.
    #[inline(always)]
    fn echo(
        &mut self,
        i: usize,
        len: usize,
        adds: &mut Vec<sys::ukevent>,
        enables: &mut Vec<sys::ukevent>,
    ) {
        let fd = self.fd(i);
        let (src, dst) = (
            &self.rbufs[i * BUF..][..len],
            &mut self.sbufs[i * BUF..][..len],
        );
        // No request uses the send buffer (its SEND completed) nor the
        // receive buffer (its receive is disabled until the ENABLE).
        dst.copy_from_slice(src);
        let mut uk = request(self.n + i, fd, KEVENT_NAIO_SEND, dst.as_ptr(), len);
        uk.req_flags = sys::KEVENT_REQ_INLINE;
        adds.push(uk);
        enables.push(enable(i));
        self.sending[i] = len;
    }

    /// The SENDs among `adds` that completed at their ADD, then both
    /// emptied (the kernel applied them). The applied entries move aside
    /// into `applied`, whose capacity is kept: no allocation per wait.
    #[inline(always)]
    fn sent_at_add(
        &mut self,
        adds: &mut Vec<sys::ukevent>,
        enables: &mut Vec<sys::ukevent>,
    ) -> io::Result<()> {
        let mut applied = std::mem::take(&mut self.applied);
        std::mem::swap(adds, &mut applied);
        enables.clear();
        for uk in &applied {
            if uk.ret_flags & sys::KEVENT_RET_COMPLETE != 0 {
                let res = i64::from(uk.ret_data[1] as i32);
                self.completed(uk.id as usize, KEVENT_NAIO_SEND, res, adds, enables)?;
            }
        }
        applied.clear();
        self.applied = applied;
        Ok(())
    }

    /// Request `id`'s completion (`op`, result `res`), from its event or
    /// from its entry.
    #[inline(always)]
    fn completed(
        &mut self,
        id: usize,
        op: u32,
        res: i64,
        adds: &mut Vec<sys::ukevent>,
        enables: &mut Vec<sys::ukevent>,
    ) -> io::Result<()> {
        let (i, recv) = if id < self.n {
            (id, true)
        } else {
            (id - self.n, false)
        };
        // A closed connection's last requests: cancelled by the close.
        if self.conns[i].is_none() {
            return Ok(());
        }
        let over = match (recv, op) {
            (true, KEVENT_NAIO_RECV) if res > 0 => {
                if self.sending[i] == 0 {
                    self.echo(i, res as usize, adds, enables);
                } else {
                    self.held[i] = res as usize;
                }
                false
            }
            (true, KEVENT_NAIO_RECV) if res == 0 || is_disconnect(-res as i32) => true,
            (false, KEVENT_NAIO_SEND) if res >= 0 && res as usize == self.sending[i] => {
                self.sending[i] = 0;
                if self.held[i] > 0 {
                    let len = std::mem::take(&mut self.held[i]);
                    self.echo(i, len, adds, enables);
                }
                false
            }
            // A stream send that queued fewer bytes than asked for ended
            // with an error after them: the connection is broken.
            (false, KEVENT_NAIO_SEND) if res >= 0 || is_disconnect(-res as i32) => true,
            (_, op) => {
                let e = io::Error::from_raw_os_error((-res) as i32);
                return Err(io::Error::new(
                    e.kind(),
                    format!("NAIO op {op} (id {id}) completed with {res}: {e}"),
                ));
            }
        };
        if over {
            // The close removes its receive, and cancels what is in
            // flight (whose events the check above skips).
            self.conns[i] = None;
            self.live -= 1;
        }
        Ok(())
    }
}

/// One `kevent_get_events()` that first applies `adds` (ADD) and
/// `enables` (ENABLE), at most the kernel's max_batch together; then as
/// [`wait`]. The kernel writes the entries' results back into them.
fn wait_with<'a>(
    q: i32,
    adds: &mut [sys::ukevent],
    enables: &mut [sys::ukevent],
    events: &'a mut [sys::kevent_event],
    calls: &mut Calls,
) -> io::Result<Option<&'a [sys::kevent_event]>> {
    if adds.is_empty() && enables.is_empty() {
        return wait(q, events, calls);
    }
    let batches = [
        sys::kevent_ctl_batch {
            cmd: sys::KEVENT_CTL_ADD,
            num: adds.len() as u32,
            entries: adds.as_mut_ptr() as u64,
        },
        sys::kevent_ctl_batch {
            cmd: sys::KEVENT_CTL_ENABLE,
            num: enables.len() as u32,
            entries: enables.as_mut_ptr() as u64,
        },
    ];
    let args = sys::kevent_wait_args {
        timeout_ns: sys::KEVENT_TIMEOUT_INFINITE,
        changes: batches.as_ptr() as u64,
        nr_changes: 2,
        ..Default::default()
    };
    calls.n += 1;
    // SAFETY: events has room for its length; args, the batches and
    // their entries live across the call, which writes results into the
    // entries (memory we own, which no reference reads meanwhile).
    let got = unsafe {
        sys::kevent_get_events(
            q,
            events.as_mut_ptr(),
            events.len() as u32,
            &args,
            std::mem::size_of::<sys::kevent_wait_args>(),
        )
    };
    let got = match got {
        Ok(got) => got as usize,
        // Applied or not, nothing tells: a signal here is a bug of ours.
        Err(e) => {
            return Err(io::Error::other(format!(
                "kevent_get_events with changes: {e}"
            )))
        }
    };
    // 0 with an infinite timeout: an entry failed. A call whose entry
    // fails returns 0 at once (kevent_get_events(2)): with events, every
    // entry took.
    if got == 0 {
        refused(adds, sys::KEVENT_CTL_ADD)?;
        refused(enables, sys::KEVENT_CTL_ENABLE)?;
    }
    let got = &events[..got];
    if let Some(ev) = got.iter().find(|ev| u32::from(ev.type_) != KEVENT_NAIO) {
        return Err(io::Error::other(format!("an event of type {}", ev.type_)));
    }
    Ok(Some(got))
}

#[cfg(test)]
pub fn request_for_test(i: usize, fd: i32, op: u32, buf: *const u8, len: usize) -> sys::ukevent {
    request(i, fd, op, buf, len)
}
