//! io_uring, two ways:
//!
//! - `io_uring`: per connection one `IORING_OP_RECV` in flight into the
//!   connection's buffer; its completion queues an `IORING_OP_SEND` of
//!   those bytes, whose completion queues the next receive (the loop of
//!   the io_uring echo-server benchmarks, and of `kevent-aio`);
//! - `io_uring-multishot`: per connection one multishot receive
//!   (`IORING_RECV_MULTISHOT`) taking buffers from a provided-buffer ring
//!   (`IORING_REGISTER_PBUF_RING`); each completion queues a send of its
//!   buffer, whose completion gives the buffer back to the ring.
//!
//! One ring, `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`
//! (completions are run in the loop's own `io_uring_enter()`, as
//! recommended for a single-threaded server; without them where the
//! kernel refuses), and one `io_uring_enter()` per loop iteration:
//! it submits the iteration's requests and waits for a completion.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::server::{is_disconnect, Calls, BUF};

const RECV: u64 = 1 << 32;
const SEND: u64 = 2 << 32;
const OP_MASK: u64 = 0xff << 32;
/// The provided-buffer group of the multishot receives.
const BGID: u16 = 0;

pub fn ring(connections: usize) -> io::Result<IoUring> {
    let sq: u32 = 1024;
    // Room for every connection's completion (and a multishot receive's
    // second one) in one wait; the kernel keeps any overflow anyway.
    let cq = (4 * connections).next_power_of_two().max(2 * sq as usize);
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(cq as u32)
        .build(sq)
        .or_else(|_| IoUring::builder().setup_cqsize(cq as u32).build(sq))
}

/// Why the backend cannot run here (io_uring disabled, or no buffer
/// rings), or `None`.
pub fn unsupported(multishot: bool) -> Option<String> {
    let r = match ring(1) {
        Ok(r) => r,
        Err(e) => return Some(format!("io_uring_setup failed: {e}")),
    };
    if multishot {
        if let Err(e) = BufRing::new(&r, 64) {
            return Some(format!("no provided-buffer rings: {e}"));
        }
    }
    None
}

/// Queues `sqe`, submitting first if the submission queue is full.
pub fn push(ring: &mut IoUring, sqe: &squeue::Entry, calls: &mut Calls) -> io::Result<()> {
    // SAFETY: every request points into buffers that live as long as the
    // ring (the connections' buffers, the provided-buffer ring), and a
    // buffer is not touched while a request on it is in flight.
    while unsafe { ring.submission().push(sqe) }.is_err() {
        calls.n += 1;
        ring.submit()?;
    }
    Ok(())
}

fn recv_sqe(fd: RawFd, buf: &mut [u8], i: usize) -> squeue::Entry {
    opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
        .build()
        .user_data(i as u64 | RECV)
}

fn send_sqe(fd: RawFd, buf: &[u8], user_data: u64) -> squeue::Entry {
    opcode::Send::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data)
}

/// One wait: submits what is queued and waits for a completion, then
/// copies the completions out (user_data, result, flags).
pub fn wait(
    ring: &mut IoUring,
    cqes: &mut Vec<(u64, i32, u32)>,
    calls: &mut Calls,
) -> io::Result<()> {
    cqes.clear();
    loop {
        calls.n += 1;
        match ring.submit_and_wait(1) {
            Ok(_) => break,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
    }
    cqes.extend(
        ring.completion()
            .map(|c| (c.user_data(), c.result(), c.flags())),
    );
    Ok(())
}

pub fn error(what: &str, res: i32) -> io::Error {
    let e = io::Error::from_raw_os_error(-res);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

pub fn serve(conns: Vec<OwnedFd>, calls: Calls, multishot: bool) -> io::Result<()> {
    if multishot {
        serve_multishot(conns, calls)
    } else {
        serve_recv_send(conns, calls)
    }
}

fn serve_recv_send(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    let n = conns.len();
    let mut ring = ring(n)?;
    let mut bufs = vec![0u8; n * BUF];
    // Per connection: the bytes received, and sent of them so far.
    let mut len = vec![0usize; n];
    let mut sent = vec![0usize; n];
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let fd = |conns: &[Option<OwnedFd>], i: usize| conns[i].as_ref().unwrap().as_raw_fd();
    for (i, buf) in bufs.chunks_mut(BUF).enumerate() {
        push(&mut ring, &recv_sqe(fd(&conns, i), buf, i), &mut calls)?;
    }
    let mut live = n;
    let mut cqes = Vec::with_capacity(4 * n);
    while live > 0 {
        wait(&mut ring, &mut cqes, &mut calls)?;
        for &(ud, res, _) in &cqes {
            let i = (ud & 0xffff_ffff) as usize;
            let buf = &mut bufs[i * BUF..(i + 1) * BUF];
            let over = match ud & OP_MASK {
                RECV if res > 0 => {
                    (len[i], sent[i]) = (res as usize, 0);
                    push(
                        &mut ring,
                        &send_sqe(fd(&conns, i), &buf[..len[i]], ud ^ RECV ^ SEND),
                        &mut calls,
                    )?;
                    false
                }
                RECV if res == 0 || is_disconnect(-res) => true,
                RECV => return Err(error("recv", res)),
                SEND if res >= 0 => {
                    sent[i] += res as usize;
                    let sqe = if sent[i] < len[i] {
                        send_sqe(fd(&conns, i), &buf[sent[i]..len[i]], ud)
                    } else {
                        recv_sqe(fd(&conns, i), buf, i)
                    };
                    push(&mut ring, &sqe, &mut calls)?;
                    false
                }
                SEND if is_disconnect(-res) => true,
                _ => return Err(error("send", res)),
            };
            if over {
                // Nothing of the connection is in flight any more.
                conns[i] = None;
                live -= 1;
            }
        }
        calls.publish();
    }
    calls.publish();
    Ok(())
}

/// A ring of provided buffers (`IORING_REGISTER_PBUF_RING`): `entries`
/// buffers of `BUF` bytes, the ring in its own page-aligned mapping.
struct BufRing {
    ring: *mut types::BufRingEntry,
    ring_bytes: usize,
    bufs: Vec<u8>,
    entries: u16,
    /// Our tail, published to the kernel by `publish()`.
    tail: u16,
}

impl BufRing {
    fn new(uring: &IoUring, entries: u16) -> io::Result<Self> {
        let ring_bytes = entries as usize * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: a new anonymous mapping (page-aligned, zeroed).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut r = BufRing {
            ring: ptr.cast(),
            ring_bytes,
            bufs: vec![0u8; entries as usize * BUF],
            entries,
            tail: 0,
        };
        // SAFETY: the mapping lives until drop, after the io_uring ring
        // is gone (the owner drops the ring first).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ptr as u64, entries, BGID, 0)?;
        }
        for bid in 0..entries {
            r.give(bid);
        }
        r.publish();
        Ok(r)
    }

    fn buf(&self, bid: u16) -> &[u8] {
        &self.bufs[bid as usize * BUF..(bid as usize + 1) * BUF]
    }

    /// Puts buffer `bid` back at our tail (not yet visible to the kernel).
    fn give(&mut self, bid: u16) {
        let slot = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: slot < entries, inside the mapping; the kernel does not
        // read entries beyond the published tail.
        let e = unsafe { &mut *self.ring.add(slot) };
        e.set_addr(self.buf(bid).as_ptr() as u64);
        e.set_len(BUF as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field of the ring's first entry, a u16 the
        // kernel reads; stored with release order after the entries.
        unsafe {
            let tail = types::BufRingEntry::tail(self.ring) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ring.cast(), self.ring_bytes) };
    }
}

/// A connection of the multishot loop.
#[derive(Default)]
struct Conn {
    /// Buffers received and not yet sent back: (bid, len, sent).
    pending: VecDeque<(u16, usize, usize)>,
    /// A send is in flight (the front of `pending`).
    sending: bool,
    /// The multishot receive ended with end of file or a reset.
    ended: bool,
}

fn recv_multi_sqe(fd: RawFd, i: usize) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(fd), BGID)
        .build()
        .user_data(i as u64 | RECV)
}

fn serve_multishot(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    let n = conns.len();
    // Each connection holds at most a buffer or two at a time in a
    // closed loop; twice the connections leaves room.
    let entries = (2 * n).next_power_of_two().clamp(64, 32768) as u16;
    let mut uring = ring(n)?;
    let mut bufs = BufRing::new(&uring, entries)?;
    let mut state: Vec<Conn> = (0..n).map(|_| Conn::default()).collect();
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let fd = |conns: &[Option<OwnedFd>], i: usize| conns[i].as_ref().unwrap().as_raw_fd();
    for i in 0..n {
        push(&mut uring, &recv_multi_sqe(fd(&conns, i), i), &mut calls)?;
    }
    let mut live = n;
    let mut cqes = Vec::with_capacity(4 * n);
    while live > 0 {
        wait(&mut uring, &mut cqes, &mut calls)?;
        let mut gave = false;
        for &(ud, res, flags) in &cqes {
            let i = (ud & 0xffff_ffff) as usize;
            let c = &mut state[i];
            match ud & OP_MASK {
                RECV => {
                    if res > 0 {
                        let bid = cqueue::buffer_select(flags).ok_or_else(|| {
                            io::Error::other("a multishot receive completed without a buffer")
                        })?;
                        c.pending.push_back((bid, res as usize, 0));
                    } else if res == 0 || is_disconnect(-res) {
                        c.ended = true;
                    } else if res != -libc::ENOBUFS {
                        return Err(error("multishot recv", res));
                    }
                    // Ended (no IORING_CQE_F_MORE) without end of file:
                    // out of buffers, or the kernel's own choice: again.
                    if !c.ended && !cqueue::more(flags) {
                        push(&mut uring, &recv_multi_sqe(fd(&conns, i), i), &mut calls)?;
                    }
                }
                SEND if res >= 0 => {
                    c.sending = false;
                    let front = c.pending.front_mut().expect("a send in flight");
                    front.2 += res as usize;
                    if front.2 == front.1 {
                        bufs.give(front.0);
                        gave = true;
                        c.pending.pop_front();
                    }
                }
                SEND if is_disconnect(-res) => {
                    c.sending = false;
                    c.ended = true;
                    for (bid, _, _) in c.pending.drain(..) {
                        bufs.give(bid);
                        gave = true;
                    }
                }
                _ => return Err(error("send", res)),
            }
            let c = &mut state[i];
            if !c.sending {
                if let Some(&(bid, len, sent)) = c.pending.front() {
                    if !c.ended {
                        let data = &bufs.buf(bid)[sent..len];
                        push(
                            &mut uring,
                            &send_sqe(fd(&conns, i), data, i as u64 | SEND),
                            &mut calls,
                        )?;
                        c.sending = true;
                    }
                }
            }
            if c.ended && !c.sending && conns[i].is_some() {
                for (bid, _, _) in c.pending.drain(..) {
                    bufs.give(bid);
                    gave = true;
                }
                // Its multishot receive is over and no send is in flight.
                conns[i] = None;
                live -= 1;
            }
        }
        if gave {
            bufs.publish();
        }
        calls.publish();
    }
    calls.publish();
    drop(uring);
    drop(bufs);
    Ok(())
}
