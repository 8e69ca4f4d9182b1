//! kevent network asynchronous I/O (`KEVENT_NAIO`, kevent_ctl(2)):
//! per connection one RECV request in flight into the connection's
//! buffer; its completion event queues a SEND of those bytes, whose
//! completion queues the next RECV. The requests of one loop iteration
//! go to the kernel in one `kevent_ctl(KEVENT_CTL_ADD)` call, then one
//! `kevent_get_events()` waits for completions. Raw kevent-sys calls.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use kevent_sys as sys;

use crate::server::{is_disconnect, Calls, BATCH, BUF};

pub use sys::{KEVENT_NAIO, KEVENT_NAIO_RECV, KEVENT_NAIO_SEND};

/// Why the backend cannot run here, or `None`.
pub fn unsupported() -> Option<String> {
    match kevent::features() {
        Err(e) => Some(format!("no kevent in this kernel: {e}")),
        Ok(f) if f.types & (1 << KEVENT_NAIO) == 0 => Some(
            "this kernel has no KEVENT_NAIO (type 5 not in KEVENT_CTL_PROBE's types)".to_string(),
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
    for chunk in batch.chunks_mut(max) {
        calls.n += 1;
        // SAFETY: the probe found kevent; chunk is initialised entries
        // we own, which the kernel reads and writes back results into.
        let done = unsafe {
            sys::kevent_ctl(
                q,
                sys::KEVENT_CTL_ADD,
                chunk.len() as u32,
                chunk.as_mut_ptr(),
            )
        }
        .map_err(|e| io::Error::other(format!("kevent_ctl(ADD) of NAIO requests: {e}")))?;
        if done as usize != chunk.len() {
            return Err(io::Error::other(format!(
                "kevent_ctl(ADD) processed {done} of {} NAIO requests",
                chunk.len()
            )));
        }
        if let Some(uk) = chunk
            .iter()
            .find(|uk| uk.ret_flags & sys::KEVENT_RET_BROKEN != 0)
        {
            let e = io::Error::from_raw_os_error((uk.ret_data[1] as i32).wrapping_neg());
            return Err(io::Error::new(
                e.kind(),
                format!("a NAIO request (op {}) was refused: {e}", uk.event),
            ));
        }
    }
    Ok(())
}

pub fn serve(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    let f = kevent::features()?;
    let max = (f.max_batch as usize).clamp(1, 4096);
    // SAFETY: the probe found kevent ABI v2; a new descriptor we own.
    let q = unsafe { sys::kevent_create(sys::KEVENT_CLOEXEC) }
        .map_err(|e| io::Error::other(format!("kevent_create: {e}")))?;
    // SAFETY: as above.
    let q = unsafe { OwnedFd::from_raw_fd(q) };
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

#[cfg(test)]
pub fn request_for_test(i: usize, fd: i32, op: u32, buf: *const u8, len: usize) -> sys::ukevent {
    request(i, fd, op, buf, len)
}
