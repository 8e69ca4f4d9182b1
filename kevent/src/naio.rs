//! Network asynchronous I/O (`KEVENT_NAIO`) with owned buffers.
//!
//! Three operations: [`Naio::send`] and [`Naio::recv`] move bytes between
//! a socket and a buffer the queue owns while the request is in flight;
//! [`Naio::sendfile`] sends a file's pages over a stream socket, straight
//! from the page cache without copying them (as sendfile(2) does), and
//! moves no user memory at all: it has no buffer, so the buffer rules
//! below do not concern it (its id is the slot table's choice, as every
//! request's is), and its completion is a [`SendfileCompletion`] (taken
//! with [`Naio::take_sendfile`]) rather than a [`Completion`] with a
//! buffer. Sends and sendfiles on one socket keep one order, the order
//! they were submitted in.
//!
//! # The safety argument
//!
//! A request hands the kernel a pointer into a buffer, and the kernel
//! writes into it (a receive) or reads from it (a send) at the add and
//! then whenever the socket is ready, during a wait of a thread of this
//! process, until the request's completion is reported. So the buffer
//! may be neither freed nor touched by anyone else from the add until
//! then. The crate makes that hold without any `unsafe` for its users:
//!
//! 1. The buffer is owned: [`IoBuf`] and [`IoBufMut`] are `unsafe`
//!    traits whose implementations promise a heap pointer that stays
//!    valid, at the same address, when the buffer value is moved, and
//!    `'static` (a borrowed buffer could end while a leaked queue still
//!    has the request). The buffer moves into the queue's slot table
//!    before the add and leaves it only through a completion.
//! 2. A slot leaves the "in flight" state only on proof that the kernel
//!    is done with its buffer: its completion event, taken by this
//!    crate's own wait on this queue ([`Naio::wait`], the
//!    `AsyncNaio` driver (the `tokio` feature), or [`Naio::drain`] of a
//!    [`Ring`] registered on this very queue, whose memory only the
//!    kernel writes; events from anywhere else are never trusted, so a
//!    forged or foreign event cannot free a buffer), or, when the queue
//!    is closed, `KEVENT_CTL_REMOVE` answering `ENOENT` (the request no
//!    longer exists: its completion was reported, to someone); or, for
//!    the run of a receive that stays (point 4), the kernel refusing its
//!    `KEVENT_CTL_ENABLE` or not applying it.
//! 3. A request's id is its slot's index and generation ([`RequestId`]):
//!    unique among the queue's requests in flight, as the kernel needs,
//!    and a stale id (an old completion, an id of a slot that was reused)
//!    names no live slot. The slot table must be the only one choosing
//!    ids on its kernel queue: the kernel lets an id be reused once the
//!    last event of the request that had it was reported (its completion;
//!    a receive that stays: the event without `KEVENT_EV_MORE`), and the
//!    slot is freed only then, so a completion
//!    of another chooser's request with the same id could otherwise be
//!    taken for ours. [`Naio::new`] makes a queue of its own;
//!    [`Naio::from_queue`] is `unsafe` for that reason; and a `Naio` copied
//!    into a child by `fork` refuses to submit, rearm, cancel, wait or
//!    drain (`Unsupported`), since parent and child would share the queue
//!    with two copies of the table: the child's copy would choose ids the
//!    parent's has in flight, take the parent's completions and cancel its
//!    requests. It tells it is a copy without a system call: each `Naio`
//!    keeps a nonzero word in a page advised `MADV_WIPEONFORK`, which a
//!    child of `fork` finds zeroed (where the advice fails, it compares
//!    the process id, a `getpid` call per check). Dropped in the child,
//!    the copy makes no call on the queue and frees its copies of the
//!    buffers: the kernel moves data only in the address space of the
//!    process that submitted (see the end of this argument), so it never
//!    touches them.
//! 4. A receive that stays ([`Naio::recv_stay`]) keeps, between runs,
//!    the address of a buffer the crate has handed back to its owner:
//!    the kernel does not touch it while the request is disabled, and
//!    only `KEVENT_CTL_ENABLE` starts a run. So only [`Naio::rearm`] and
//!    [`Naio::wait_rearming`] enable a request, after they have moved a
//!    buffer at that address, with at least that much room, back into
//!    the slot (whatever the owner did meanwhile, that buffer owns those
//!    bytes now): the queue's own enables ([`Queue::enable`],
//!    `enable_all`, and `enable` in the changes of `wait_with_changes`)
//!    refuse network I/O keys, no [`Kevent`](crate::Kevent) is a network
//!    I/O request, and a raw `KEVENT_CTL_ENABLE` needs `unsafe` code. A
//!    refused ENABLE means the request is ending (a disabled request
//!    that was reported can only end): its only event to come is its
//!    last. The buffer is then taken back from the slot only if it is
//!    still that run's, by index and generation; if the last event was
//!    recorded first, the buffer goes with that completion. `rearm`
//!    holds the slot table's lock across its ENABLE so that the buffer
//!    always comes back to its caller.
//! 5. Dropping a [`Naio`] (or the last handle of an
//!    `AsyncNaio`), but for a copy in a child of `fork` (point 3),
//!    cancels every request in flight
//!    with `KEVENT_CTL_REMOVE`, collects their completions (a cancelled
//!    request completes at once with `ECANCELED`), and frees those
//!    buffers. A buffer whose completion it cannot collect (another
//!    descriptor of the same queue took it, e.g. a duplicate made with
//!    `dup`) and whose request REMOVE still finds is leaked, never freed:
//!    a duplicate keeps the queue, and so the request, alive after our
//!    descriptor is closed, so closing ours proves nothing. So is the
//!    buffer of a zero-copy send ([`SendFlags::ZEROCOPY`](crate::SendFlags::ZEROCOPY))
//!    whose pages the network stack has not released by then: its
//!    completion waits for that release (`REMOVE` cannot end it once its
//!    bytes are queued), and the stack reads those pages until then.
//! 6. The socket is only borrowed for the add: memory safety does not
//!    depend on it. The kernel takes the socket at the add and cancels
//!    the request (`ECANCELED`) when that descriptor is closed. A
//!    sendfile's file is only borrowed too: the kernel holds its own
//!    reference on it until the completion, and closing its descriptor
//!    does not end the request.
//!
//! A request reported by a thread of another process (a queue inherited
//! across `fork`) moves no data (`EXDEV`), so a child's copy of the queue
//! never writes into the parent's buffers; a sendfile, which touches no
//! process's memory, gets `EXDEV` there too, so that the reads it causes
//! are charged to the process that asked.

use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use kevent_sys as sys;

use crate::changes::Changes;
use crate::error::{Command, Error};
use crate::flags::{EventFlags, RecvFlags, SendFlags, SendfileFlags};
use crate::interest::{Event, Key, Kind, Token};
use crate::probe::features;
use crate::queue::{ctl_one, ctl_one_entry, Events, Queue};
use crate::ring::{map_anonymous, Drain, QueueRef, Ring};
use crate::wait::Wait;

/// The most bytes one request moves: `i32::MAX` rounded down to a
/// multiple of 256 KiB, the largest page size Linux has. The kernel takes
/// 1 to `MAX_RW_COUNT` bytes (`INT_MAX & PAGE_MASK`, the most `read(2)`
/// moves at once: `INT_MAX - 4095` with 4 KiB pages, less with larger
/// ones) and refuses more (`EINVAL`); this bound is within it whatever
/// the page size. A larger buffer is used up to this length, as `read(2)`
/// would.
pub const MAX_REQUEST_LEN: usize = i32::MAX as usize & !(256 * 1024 - 1);

/// A buffer the kernel can read from while a send is in flight, owned by
/// the queue meanwhile (as tokio-uring's and monoio's `IoBuf`).
///
/// Implemented for `Vec<u8>`, `Box<[u8]>`, `String`, `&'static [u8]` and
/// `&'static str`. A send sends the initialised bytes: `buf[..bytes_init()]`.
///
/// # Safety
///
/// An implementation promises that:
/// - [`stable_ptr`](IoBuf::stable_ptr) points to at least
///   [`bytes_total`](IoBuf::bytes_total) bytes of memory, the first
///   [`bytes_init`](IoBuf::bytes_init) of them initialised, valid for
///   reads (and, for [`IoBufMut`], writes) until the buffer is dropped;
/// - the pointer and the memory stay the same when the buffer value is
///   moved (heap memory, not an array inside the value), and while the
///   queue owns the buffer nothing else writes that memory (or, for
///   [`IoBufMut`], reads it): no other handle to it may exist;
/// - the three methods return the same values every time while the
///   buffer is not used mutably.
///
/// The `'static` bound keeps borrowed buffers out: the kernel may use a
/// buffer as long as its queue lives, and a queue can be leaked.
pub unsafe trait IoBuf: 'static {
    /// The start of the buffer.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialised: what a send sends.
    fn bytes_init(&self) -> usize;
    /// How many bytes the buffer has room for: what a receive may fill.
    fn bytes_total(&self) -> usize;
}

/// A buffer the kernel can write into while a receive is in flight.
///
/// A receive fills the buffer from its start, up to
/// [`bytes_total`](IoBuf::bytes_total) bytes, and then calls
/// [`set_init`](IoBufMut::set_init) with the count: a `Vec<u8>`'s length
/// becomes the bytes received (its capacity is the room), a `Box<[u8]>`
/// keeps its length (use the count).
///
/// # Safety
///
/// As for [`IoBuf`]; [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) is
/// [`stable_ptr`](IoBuf::stable_ptr), valid for writes of
/// [`bytes_total`](IoBuf::bytes_total) bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// The start of the buffer, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `n` bytes were written.
    ///
    /// # Safety
    ///
    /// `n <= bytes_total()`, and the first `n` bytes are initialised.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's elements are on the heap (or dangling with capacity
// 0, which a request refuses before the kernel sees it): moving the Vec
// moves no byte. `len` bytes are initialised, `capacity` allocated.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for IoBuf; as_mut_ptr is valid for writes of the capacity.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller vouches that n <= capacity and that the
        // first n bytes are initialised.
        unsafe { self.set_len(n) }
    }
}

// SAFETY: a boxed slice's bytes are on the heap, all initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for IoBuf; all of it is writable.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: a String's bytes are a Vec's (only read: not IoBufMut, which
// could break UTF-8).
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: static memory, never freed; only read (not IoBufMut).
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for &'static [u8].
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// The operation of a network I/O request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NaioOp {
    /// `KEVENT_NAIO_SEND`: send the buffer's initialised bytes.
    Send,
    /// `KEVENT_NAIO_RECV`: receive into the buffer.
    Recv,
    /// `KEVENT_NAIO_SENDFILE`: send a file's pages over a stream socket
    /// ([`Naio::sendfile`]); no buffer.
    Sendfile,
}

impl NaioOp {
    /// The `KEVENT_NAIO_*` bit.
    pub fn raw(self) -> u32 {
        match self {
            NaioOp::Send => sys::KEVENT_NAIO_SEND,
            NaioOp::Recv => sys::KEVENT_NAIO_RECV,
            NaioOp::Sendfile => sys::KEVENT_NAIO_SENDFILE,
        }
    }

    /// The operation of a `KEVENT_NAIO_*` bit (`None` for anything else).
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            sys::KEVENT_NAIO_SEND => Some(NaioOp::Send),
            sys::KEVENT_NAIO_RECV => Some(NaioOp::Recv),
            sys::KEVENT_NAIO_SENDFILE => Some(NaioOp::Sendfile),
            _ => None,
        }
    }
}

/// A request's id on its queue: its slot's index (low 32 bits) and the
/// slot's generation (high 32 bits), chosen by the crate, so unique among
/// the queue's requests in flight. Its completion's [`Event::id`] is
/// [`raw`](RequestId::raw).
///
/// The generation is 32 bits and wraps: after 2^32 reuses of one slot, a
/// stale id (kept from a request that ended long ago) names the slot's
/// request of that time again, so [`take_id`](Naio::take_id),
/// [`cancel`](Naio::cancel) or [`rearm`](Naio::rearm) with it may act on
/// that request. Memory stays safe (the table still frees a buffer only
/// on its request's completion); drop ids once their request is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    fn new(index: u32, gen: u32) -> Self {
        RequestId(u64::from(gen) << 32 | u64::from(index))
    }

    fn index(self) -> usize {
        self.0 as u32 as usize
    }

    fn gen(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id as the kernel has it (`ukevent.id`, [`Event::id`]).
    pub fn raw(self) -> u64 {
        self.0
    }

    /// The id of a NAIO completion (`None` for other events).
    pub fn of(event: &Event) -> Option<Self> {
        (event.kind() == Kind::Naio).then_some(RequestId(event.id()))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl From<RequestId> for Key {
    fn from(id: RequestId) -> Key {
        Key::naio(id.0)
    }
}

/// A finished send or receive: its result and its buffer, back from the
/// queue ([`Naio::take`]). A sendfile, which has no buffer, finishes as a
/// [`SendfileCompletion`].
///
/// [`next_step`](Completion::next_step) says what is left to do with its
/// request: nothing ([`NextStep::Done`]: the request is gone), or, for a
/// receive that stays ([`Naio::recv_stay`]), [`rearm`](Naio::rearm) it or
/// [`cancel`](Naio::cancel) it.
#[must_use = "a completion holds the buffer; one of a receive that stays must be rearmed or \
              cancelled (see Completion::next_step)"]
pub struct Completion<B> {
    id: RequestId,
    token: Token,
    op: NaioOp,
    eof: bool,
    stays: bool,
    result: io::Result<usize>,
    buf: B,
}

impl<B> fmt::Debug for Completion<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("token", &self.token)
            .field("op", &self.op)
            .field("eof", &self.eof)
            .field("stays", &self.stays)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl<B> Completion<B> {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The token given at submission.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Send or receive.
    pub fn op(&self) -> NaioOp {
        self.op
    }

    /// The kernel reported end of file (a receive of 0 bytes).
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// A run of a receive that stays ([`Naio::recv_stay`]) that did not
    /// end it: the request is still the kernel's, between runs, and its
    /// id is still taken. `false` for every other completion: the request
    /// is gone. A run that ended with end of file or an error stays too
    /// (the kernel leaves it in place): to know whether to rearm it, ask
    /// [`next_step`](Completion::next_step), which tells that apart.
    pub fn stays(&self) -> bool {
        self.stays
    }

    /// What is left to do with the request, as the caller of a
    /// completion must know it: [`NextStep::Rearm`] (a run of a receive
    /// that stays that brought data, or an empty datagram: rearm it for
    /// the next message, or cancel it), [`NextStep::Cancel`] (a run of a
    /// receive that stays that brought end of file or an error: the
    /// kernel keeps the request, but a next run would complete at once
    /// with the same; cancel it, or close its socket), [`NextStep::Done`]
    /// (the request is gone: any send, receive or sendfile that does not
    /// stay, and the last completion of one that stays; nothing to do).
    ///
    /// It is about the request, not the connection: a plain
    /// [`recv`](Naio::recv) at end of file is `Done` with
    /// [`is_eof`](Completion::is_eof) true.
    ///
    /// ```no_run
    /// # fn f(naio: &kevent::Naio, event: kevent::Event, rearms: &mut Vec<(kevent::RequestId, Vec<u8>)>) {
    /// use kevent::NextStep;
    ///
    /// if let Some(done) = naio.take(&event) {
    ///     match done.next_step() {
    ///         NextStep::Rearm => {
    ///             println!("{} bytes", done.data().len());
    ///             let id = done.id();
    ///             let mut buf = done.into_buf();
    ///             buf.clear();
    ///             rearms.push((id, buf)); // or naio.rearm(id, buf)
    ///         }
    ///         // End of file, or this connection's error: end the receive.
    ///         NextStep::Cancel => {
    ///             let _ = naio.cancel(done.id());
    ///         }
    ///         NextStep::Done => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn next_step(&self) -> NextStep {
        match (self.stays, &self.result) {
            (false, _) => NextStep::Done,
            (true, Ok(_)) if !self.eof => NextStep::Rearm,
            (true, _) => NextStep::Cancel,
        }
    }

    /// The bytes sent or received, or the error (`ECANCELED`: cancelled,
    /// or its socket's descriptor was closed).
    pub fn result(&self) -> &io::Result<usize> {
        &self.result
    }

    /// The buffer (a receive's data is its first `n` bytes: see
    /// [`data`](Completion::data)).
    pub fn buf(&self) -> &B {
        &self.buf
    }

    /// The result and the buffer.
    pub fn into_parts(self) -> (io::Result<usize>, B) {
        (self.result, self.buf)
    }

    /// The buffer, without the result (read that first, or
    /// [`data`](Completion::data)).
    pub fn into_buf(self) -> B {
        self.buf
    }
}

impl<B: AsRef<[u8]>> Completion<B> {
    /// The bytes the request moved, borrowed from the buffer: a
    /// receive's data, a send's bytes sent (`&buf[..n]`); empty for an
    /// error. The completion stays whole (no [`into_parts`](Completion::into_parts)
    /// needed to read it).
    pub fn data(&self) -> &[u8] {
        let bytes = self.buf.as_ref();
        let n = self.result.as_ref().map_or(0, |&n| n);
        &bytes[..n.min(bytes.len())]
    }
}

/// What is left to do with a request after its completion
/// ([`Completion::next_step`]).
///
/// A receive that stays ([`Naio::recv_stay`]) is not ended by end of file
/// or an error: the kernel keeps it, and a loop that rearmed every run
/// that stays would spin on a closed connection. This says which runs to
/// rearm. (A receive that stays and is ended between runs, by
/// [`Naio::cancel`] or the close of its socket's descriptor, has no
/// completion: its last event is one for which [`Naio::take`] returns
/// `None`; a [`rearm`](Naio::rearm) of it fails with `ENOENT` or `EBUSY`
/// and gives the buffer back.)
///
/// Not `#[non_exhaustive]`: a `match` on it should be exhaustive, so that
/// no case is left to a wildcard. The three cover every completion (the
/// request is gone, or stays and is to be rearmed or cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum NextStep {
    /// A run of a receive that stays brought data (or, on a datagram
    /// socket, an empty datagram): the kernel keeps the request, between
    /// runs. Read the bytes, then hand the same buffer to
    /// [`Naio::rearm`] or [`Naio::wait_rearming`] for the next run, or
    /// end the request with [`Naio::cancel`].
    Rearm,
    /// A run of a receive that stays ended with end of file or an error:
    /// the kernel keeps the request (and its id, and its count against
    /// `fs.kevent.max_queue_requests`) until it is cancelled, but a next
    /// run would bring the same at once. End it: [`Naio::cancel`] (its
    /// last event then brings nothing to take), or close its socket's
    /// descriptor; the buffer is the caller's. (An error on a datagram
    /// socket, e.g. `ECONNREFUSED` from an ICMP message, need not end the
    /// socket: a caller that knows better may rearm it.)
    Cancel,
    /// The request is gone: its id is free and its buffer the caller's;
    /// nothing to rearm or cancel. A send, a receive that does not stay,
    /// a sendfile, or the last completion of a receive that stays
    /// ([`Completion::stays`] false: cancelled with a run in flight, or
    /// its socket's descriptor closed; `ECANCELED`, or the bytes the run
    /// moved).
    Done,
}

/// A finished sendfile ([`Naio::sendfile`]), taken with
/// [`Naio::take_sendfile`]: its result, and whether the file ended
/// before the length asked for.
#[derive(Debug)]
#[must_use = "a sendfile's result may be an error"]
pub struct SendfileCompletion {
    id: RequestId,
    token: Token,
    eof: bool,
    result: io::Result<usize>,
}

impl SendfileCompletion {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The token given at submission.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The file ended before the length asked for: the result is the
    /// bytes queued up to its end, fewer than asked (0 if the offset was
    /// at or past the end).
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// The bytes queued on the socket, or the error. All of the length
    /// asked for, unless the file ended first ([`is_eof`](Self::is_eof))
    /// or the request was cancelled after queueing some
    /// ([`Naio::cancel`], or a close of the socket's descriptor: then the
    /// count, without end of file); an error (`ECANCELED`: cancelled
    /// before any byte was queued; `EPIPE`, `ECONNRESET`...) if none was.
    pub fn result(&self) -> &io::Result<usize> {
        &self.result
    }

    /// The result.
    pub fn into_result(self) -> io::Result<usize> {
        self.result
    }
}

/// What [`Slots::poll`] hands back: a buffered request's completion, or
/// a sendfile's.
pub(crate) enum Taken<B> {
    Buf(Completion<B>),
    File(SendfileCompletion),
}

/// What [`Naio::send_now`] did with a send.
#[must_use = "a Done send's result may be an error; an InFlight send's completion must be taken"]
pub enum Sent<B> {
    /// The kernel completed the send at once: its result and buffer.
    /// No event comes for it.
    Done(Completion<B>),
    /// The send is in flight; its completion comes through
    /// [`Naio::wait`], as a [`Naio::send`]'s.
    InFlight(RequestId),
}

impl<B> fmt::Debug for Sent<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sent::Done(done) => f.debug_tuple("Done").field(done).finish(),
            Sent::InFlight(id) => f.debug_tuple("InFlight").field(id).finish(),
        }
    }
}

/// A request that could not be submitted: why, and the buffer back.
pub struct SubmitError<B> {
    /// Why (the add's [`Error`]: `EBADF`, `ENOTSOCK`, `EAGAIN`...; or
    /// `InvalidInput` for an empty buffer, before any system call).
    pub error: Error,
    /// The buffer, untouched.
    pub buf: B,
}

impl<B> fmt::Debug for SubmitError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<B> fmt::Display for SubmitError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<B> std::error::Error for SubmitError<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<B> From<SubmitError<B>> for io::Error {
    fn from(e: SubmitError<B>) -> io::Error {
        e.error.into()
    }
}

/// A run of a receive that stays that [`Naio::wait_rearming`] did not
/// start: which receive, why, and its buffer back.
///
/// The kernel does not write into the buffer: the receive is between
/// runs (its owner may [`rearm`](Naio::rearm) it later with this buffer)
/// or has ended. Why is in [`error`](Refused::error): `ENOENT` or
/// `EBUSY` for a receive that ended (cancelled, or its socket's
/// descriptor closed: drop the buffer and the connection; there is
/// nothing to cancel), `InvalidInput` for a buffer that is not the
/// receive's own or a receive with no run to start, `Interrupted` for a
/// run the call did not get to (its own error says why).
pub struct Refused<B> {
    /// The receive.
    pub id: RequestId,
    /// Its token, as given to [`Naio::recv_stay`]; `None` if the `Naio`
    /// no longer knows the receive (it ended and its last event was
    /// recorded, or the id was never one of its receives).
    pub token: Option<Token>,
    /// Why its run was not started: the ENABLE's [`Error`] (command
    /// `enable`, the receive's key), in words that say what to do.
    pub error: Error,
    /// The buffer, as it was handed in.
    pub buf: B,
}

impl<B> fmt::Debug for Refused<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("id", &self.id)
            .field("token", &self.token)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What a receive's completion calls on its buffer: `IoBufMut::set_init`
/// of the buffer's type, kept as a plain function pointer so that the
/// slot table needs only `B: IoBuf`.
type SetInit<B> = unsafe fn(&mut B, usize);

/// A receive that stays (`KEVENT_REQ_DISPATCH`): the buffer the kernel
/// was given at the add, which every run writes into.
struct Stay<B> {
    /// Its address: a buffer handed back for the next run must be there.
    ptr: usize,
    /// The room the kernel was told of.
    len: usize,
    set_init: SetInit<B>,
}

impl<B> Clone for Stay<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Stay<B> {}

enum State<B> {
    /// Free; the next free slot's index (`NONE`: the last).
    Free(u32),
    /// The kernel may use `buf` until the completion is reported. A
    /// sendfile has no buffer (`None`); a send or a receive always has
    /// one.
    InFlight {
        buf: Option<B>,
        op: NaioOp,
        len: usize,
        token: Token,
        set_init: Option<SetInit<B>>,
        /// The async task waiting for it.
        waker: Option<Waker>,
        /// No one will take the completion (its future was dropped): the
        /// slot is freed when the completion arrives.
        abandoned: bool,
        /// A receive that stays: a run's completion leaves it in place.
        stays: Option<Stay<B>>,
    },
    /// Completed: the kernel is done with `buf`. With `stays`, a run of a
    /// receive that stays, which the kernel keeps, disabled.
    Done {
        buf: Option<B>,
        op: NaioOp,
        token: Token,
        eof: bool,
        result: io::Result<usize>,
        stays: Option<Stay<B>>,
    },
    /// A receive that stays, between runs: the kernel keeps the request,
    /// disabled, and does not touch its buffer, which its owner holds
    /// until [`Naio::rearm`] hands it back.
    Idle { token: Token, stay: Stay<B> },
}

struct Slot<B> {
    gen: u32,
    state: State<B>,
}

const NONE: u32 = u32::MAX;

/// What a completion did to its slot.
pub(crate) enum Completed<B> {
    /// Stored for its owner: wake this task, if any.
    Stored(Option<Waker>),
    /// Its owner is gone: free this buffer, if any (outside the lock).
    Abandoned(Option<B>),
    /// No slot of ours is in flight with this id and operation.
    Stray,
}

/// The slot table: a `Vec` reused through a free list, so that a
/// request allocates only when more are in flight than ever before.
pub(crate) struct Slots<B> {
    slots: Vec<Slot<B>>,
    free: u32,
    in_flight: usize,
}

impl<B> Slots<B> {
    pub(crate) fn new() -> Self {
        Slots {
            slots: Vec::new(),
            free: NONE,
            in_flight: 0,
        }
    }

    /// Requests the kernel may still be using.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn slot(&mut self, id: RequestId) -> Option<&mut Slot<B>> {
        self.slots
            .get_mut(id.index())
            .filter(|s| s.gen == id.gen() && !matches!(s.state, State::Free(_)))
    }

    /// Puts `buf` in a slot, in flight (`None`: a sendfile). `Err(buf)`
    /// if 2^32 - 1 slots are taken.
    fn insert(
        &mut self,
        buf: Option<B>,
        op: NaioOp,
        len: usize,
        token: Token,
        set_init: Option<SetInit<B>>,
    ) -> Result<RequestId, Option<B>> {
        let state = State::InFlight {
            buf,
            op,
            len,
            token,
            set_init,
            waker: None,
            abandoned: false,
            stays: None,
        };
        let index = if self.free != NONE {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            let State::Free(next) = slot.state else {
                unreachable!("the free list holds free slots")
            };
            self.free = next;
            slot.state = state;
            index
        } else {
            match u32::try_from(self.slots.len()).ok().filter(|&i| i != NONE) {
                Some(index) => {
                    self.slots.push(Slot { gen: 0, state });
                    index
                }
                None => {
                    let State::InFlight { buf, .. } = state else {
                        unreachable!()
                    };
                    return Err(buf);
                }
            }
        };
        self.in_flight += 1;
        let slot = &self.slots[index as usize];
        Ok(RequestId::new(index, slot.gen))
    }

    /// Frees the slot (a new generation) and returns what it held.
    fn free(&mut self, id: RequestId) -> State<B> {
        let free = self.free;
        let slot = &mut self.slots[id.index()];
        let old = mem::replace(&mut slot.state, State::Free(free));
        slot.gen = slot.gen.wrapping_add(1);
        self.free = id.index() as u32;
        if matches!(old, State::InFlight { .. }) {
            self.in_flight -= 1;
        }
        old
    }

    /// The buffer of a request in flight, for its pointer (`None` for a
    /// sendfile).
    fn buf_mut(&mut self, id: RequestId) -> Option<&mut B> {
        match self.slot(id) {
            Some(Slot {
                state: State::InFlight { buf, .. },
                ..
            }) => buf.as_mut(),
            _ => unreachable!("a request just inserted"),
        }
    }

    /// Takes back the buffer of a request the kernel refused.
    fn unsubmit(&mut self, id: RequestId) -> Option<B> {
        match self.free(id) {
            State::InFlight { buf, .. } => buf,
            _ => unreachable!("a request just inserted"),
        }
    }

    /// Records the completion of `id`: the kernel is done with its
    /// buffer. Only for events of this crate's own waits on the queue.
    pub(crate) fn complete(
        &mut self,
        id: RequestId,
        op: Option<NaioOp>,
        result: io::Result<usize>,
        eof: bool,
    ) -> Completed<B> {
        self.complete_run(id, op, result, eof, false)
    }

    /// [`complete`](Slots::complete), for an event that may carry
    /// `KEVENT_EV_MORE` (`more`): a run of a receive that stays, which
    /// the kernel keeps.
    pub(crate) fn complete_run(
        &mut self,
        id: RequestId,
        op: Option<NaioOp>,
        result: io::Result<usize>,
        eof: bool,
        more: bool,
    ) -> Completed<B> {
        let Some(slot) = self.slot(id) else {
            return Completed::Stray;
        };
        match &mut slot.state {
            State::InFlight { op: o, .. } if Some(*o) == op => {}
            // The last event of a receive that stays, ended between runs
            // (cancelled, or its socket closed): it has no buffer in the
            // kernel, and the id is free again.
            State::Idle { .. } if !more && op == Some(NaioOp::Recv) => {
                self.free(id);
                return Completed::Abandoned(None);
            }
            // Ended after a run's completion was recorded: that completion
            // is its last.
            State::Done {
                op: NaioOp::Recv,
                stays: stays @ Some(_),
                ..
            } if !more && op == Some(NaioOp::Recv) => {
                *stays = None;
                return Completed::Stored(None);
            }
            _ => return Completed::Stray,
        }
        let State::InFlight {
            buf: mut b,
            op,
            len,
            token,
            set_init,
            waker,
            abandoned,
            stays,
        } = self.free_keep_gen(id)
        else {
            unreachable!()
        };
        if abandoned {
            self.free(id);
            return Completed::Abandoned(b);
        }
        let result = match result {
            Ok(n) if n > len => Err(io::Error::other(format!(
                "the kernel reported {n} bytes for a request of {len}"
            ))),
            Ok(n) => {
                if let (Some(set_init), Some(b)) = (set_init, b.as_mut()) {
                    // SAFETY: the kernel wrote n <= len <= bytes_total
                    // bytes from the start of the buffer, and is done
                    // with it (its completion was reported).
                    unsafe { set_init(b, n) };
                }
                Ok(n)
            }
            Err(e) => Err(e),
        };
        self.slots[id.index()].state = State::Done {
            buf: b,
            op,
            token,
            eof,
            result,
            // Without the flag, the kernel ended the receive: its last.
            stays: stays.filter(|_| more),
        };
        Completed::Stored(waker)
    }

    /// Makes the request just inserted as `id` a receive that stays.
    fn set_stays(&mut self, id: RequestId, stay: Stay<B>) {
        if let Some(Slot {
            state: State::InFlight { stays, .. },
            ..
        }) = self.slot(id)
        {
            *stays = Some(stay);
        }
    }

    /// Puts `buf` back in the receive that stays `id`, between runs, for
    /// its next run: in flight from now on. `Err(buf)` (with why) if `id`
    /// is not between runs or `buf` is not the buffer it was added with.
    fn rearm(&mut self, id: RequestId, mut buf: B) -> Result<(), (io::Error, B)>
    where
        B: IoBufMut,
    {
        let stay = match self.slot(id) {
            Some(Slot {
                state: State::Idle { stay, .. },
                ..
            }) => *stay,
            Some(Slot {
                state: State::InFlight { stays: None, .. } | State::Done { stays: None, .. },
                ..
            }) => {
                return Err((
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "no run to start: the request is not a receive that stays \
                         (Naio::recv_stay), or it has ended and its last completion is still to be \
                         taken (take it: its next_step() is NextStep::Done)",
                    ),
                    buf,
                ))
            }
            // What the kernel says of an ENABLE then: EBUSY.
            Some(_) => return Err((io::Error::from_raw_os_error(libc::EBUSY), buf)),
            None => return Err((io::Error::from_raw_os_error(libc::ENOENT), buf)),
        };
        if buf.stable_mut_ptr() as usize != stay.ptr || buf.bytes_total() < stay.len {
            return Err((
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a receive that stays runs into the buffer it was added with: hand back \
                     the buffer its completion gave back (the same allocation, at least as much \
                     room)",
                ),
                buf,
            ));
        }
        let State::Idle { token, stay } = self.free_keep_gen(id) else {
            unreachable!()
        };
        self.slots[id.index()].state = State::InFlight {
            buf: Some(buf),
            op: NaioOp::Recv,
            len: stay.len,
            token,
            set_init: Some(stay.set_init),
            waker: None,
            abandoned: false,
            stays: Some(stay),
        };
        self.in_flight += 1;
        Ok(())
    }

    /// Takes back the buffer of a run that the kernel refused to start:
    /// between runs again. `None` if `id` is not a run in flight (the
    /// caller held the lock across the ENABLE, so it is).
    fn unrearm(&mut self, id: RequestId) -> Option<B> {
        if !matches!(
            self.slot(id),
            Some(Slot {
                state: State::InFlight {
                    buf: Some(_),
                    stays: Some(_),
                    ..
                },
                ..
            })
        ) {
            return None;
        }
        let State::InFlight {
            buf,
            token,
            stays: Some(stay),
            ..
        } = self.free_keep_gen(id)
        else {
            unreachable!("checked above")
        };
        self.slots[id.index()].state = State::Idle { token, stay };
        buf
    }

    /// The token of request `id`, if the table has it.
    fn token_of(&mut self, id: RequestId) -> Option<Token> {
        match &self.slot(id)?.state {
            State::InFlight { token, .. }
            | State::Done { token, .. }
            | State::Idle { token, .. } => Some(*token),
            State::Free(_) => None,
        }
    }

    /// After a call that carried the ENABLEs `raw` of runs that
    /// [`rearm`](Slots::rearm) moved in flight: puts each run the kernel
    /// refused (`KEVENT_RET_BROKEN`) or did not apply (no
    /// `KEVENT_RET_DONE`) back between runs, and its buffer in `refused`,
    /// unless its last event was recorded meanwhile (then its completion
    /// has the buffer). With `unsure` (the call failed with `EFAULT`,
    /// which may come from writing a result back after the kernel applied
    /// the entry), an entry without a result is left in flight (a leak
    /// until cancel or close), never handed out.
    fn settle_enables(
        &mut self,
        raw: &[sys::ukevent],
        unsure: bool,
        refused: &mut Vec<Refused<B>>,
    ) {
        for raw in raw {
            let error = if raw.ret_flags & sys::KEVENT_RET_DONE != 0 {
                match crate::queue::entry_errno(raw) {
                    Some(errno) => Error::entry(Command::Enable, Key::naio(raw.id), None, errno),
                    None => continue,
                }
            } else if unsure {
                continue;
            } else {
                Error::io(
                    Command::Enable,
                    Some(Key::naio(raw.id)),
                    None,
                    io::Error::new(
                        io::ErrorKind::Interrupted,
                        "the run was not started: the call failed before this ENABLE (see its \
                         error); rearm it again",
                    ),
                )
            };
            let id = RequestId(raw.id);
            if let Some(buf) = self.unrearm(id) {
                let token = self.token_of(id);
                refused.push(Refused {
                    id,
                    token,
                    error,
                    buf,
                });
            }
        }
    }

    /// The ids of the receives that stay and are not in flight: the
    /// kernel keeps them, disabled.
    fn staying_ids(&self) -> Vec<RequestId> {
        self.ids_where(|state| {
            matches!(
                state,
                State::Idle { .. } | State::Done { stays: Some(_), .. }
            )
        })
    }

    /// The ids of the slots whose state `pick` picks.
    fn ids_where(&self, pick: impl Fn(&State<B>) -> bool) -> Vec<RequestId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| pick(&s.state))
            .map(|(i, s)| RequestId::new(i as u32, s.gen))
            .collect()
    }

    /// Takes a slot's state out, leaving it `Free` for a moment with its
    /// generation (the caller puts a state back or frees it).
    fn free_keep_gen(&mut self, id: RequestId) -> State<B> {
        let old = mem::replace(&mut self.slots[id.index()].state, State::Free(NONE));
        if matches!(old, State::InFlight { .. }) {
            self.in_flight -= 1;
        }
        old
    }

    /// The completion of `id`, if it has arrived; else registers `waker`
    /// (if given) to be woken when it does. `sendfile` says which kind the
    /// caller takes: a completion of the other kind (a request with a
    /// buffer for `false`, without for `true`) stays where it is.
    pub(crate) fn poll(
        &mut self,
        id: RequestId,
        waker: Option<&Waker>,
        sendfile: bool,
    ) -> Option<Taken<B>> {
        match &mut self.slot(id)?.state {
            State::InFlight { buf, .. } | State::Done { buf, .. } if buf.is_none() != sendfile => {
                None
            }
            State::InFlight { waker: w, .. } => {
                if let Some(waker) = waker {
                    match w {
                        Some(old) if old.will_wake(waker) => {}
                        _ => *w = Some(waker.clone()),
                    }
                }
                None
            }
            State::Done {
                stays: Some(stay), ..
            } => {
                // A run of a receive that stays: the kernel keeps the
                // request, between runs, with the same id.
                let stay = *stay;
                let State::Done {
                    buf: Some(buf),
                    op,
                    token,
                    eof,
                    result,
                    ..
                } = self.free_keep_gen(id)
                else {
                    unreachable!("a receive has a buffer")
                };
                self.slots[id.index()].state = State::Idle { token, stay };
                Some(Taken::Buf(Completion {
                    id,
                    token,
                    op,
                    eof,
                    stays: true,
                    result,
                    buf,
                }))
            }
            State::Done { .. } => match self.free(id) {
                State::Done {
                    buf: Some(buf),
                    op,
                    token,
                    eof,
                    result,
                    ..
                } => Some(Taken::Buf(Completion {
                    id,
                    token,
                    op,
                    eof,
                    stays: false,
                    result,
                    buf,
                })),
                State::Done {
                    buf: None,
                    token,
                    eof,
                    result,
                    ..
                } => Some(Taken::File(SendfileCompletion {
                    id,
                    token,
                    eof,
                    result,
                })),
                _ => unreachable!(),
            },
            State::Idle { .. } | State::Free(_) => None,
        }
    }

    /// Gives up on `id`: a completed request's buffer is returned (to be
    /// dropped outside the lock); one in flight keeps its buffer until
    /// its completion arrives.
    pub(crate) fn abandon(&mut self, id: RequestId) -> Option<B> {
        match &mut self.slot(id)?.state {
            State::InFlight {
                waker, abandoned, ..
            } => {
                *waker = None;
                *abandoned = true;
                None
            }
            // A run of a receive that stays: the kernel keeps the
            // request; between runs until the REMOVE the caller sends
            // brings its last event, which frees the slot.
            State::Done {
                stays: Some(stay),
                token,
                ..
            } => {
                let (token, stay) = (*token, *stay);
                match mem::replace(
                    &mut self.slots[id.index()].state,
                    State::Idle { token, stay },
                ) {
                    State::Done { buf, .. } => buf,
                    _ => unreachable!(),
                }
            }
            State::Done { .. } => match self.free(id) {
                State::Done { buf, .. } => buf,
                _ => unreachable!(),
            },
            // Its last event, which REMOVE brings, frees the slot.
            State::Idle { .. } | State::Free(_) => None,
        }
    }

    /// Takes the wakers registered by [`poll`](Slots::poll).
    #[cfg(feature = "tokio")]
    fn take_wakers(&mut self) -> Vec<Waker> {
        self.slots
            .iter_mut()
            .filter_map(|slot| match &mut slot.state {
                State::InFlight { waker, .. } => waker.take(),
                _ => None,
            })
            .collect()
    }

    /// The ids of the requests in flight.
    fn in_flight_ids(&self) -> Vec<RequestId> {
        self.ids_where(|state| matches!(state, State::InFlight { .. }))
    }

    /// Frees a request that the kernel no longer has (REMOVE: ENOENT).
    fn forget_request(&mut self, id: RequestId) -> Option<B> {
        match self.slot(id).map(|s| &s.state) {
            Some(State::InFlight { .. }) => match self.free(id) {
                State::InFlight { buf, .. } => buf,
                _ => unreachable!(),
            },
            _ => None,
        }
    }

    /// Leaks the buffers of the requests still in flight: the kernel may
    /// still use them. Returns how many (a sendfile in flight has none).
    fn leak_in_flight(&mut self) -> usize {
        let mut leaked = 0;
        for slot in &mut self.slots {
            if let State::InFlight { .. } = slot.state {
                if let State::InFlight { buf: Some(buf), .. } =
                    mem::replace(&mut slot.state, State::Free(NONE))
                {
                    mem::forget(buf);
                    leaked += 1;
                }
            }
        }
        self.in_flight = 0;
        leaked
    }
}

/// The request `ukevent` for `op` of `len` bytes at `ptr` on `fd`.
pub(crate) fn request(
    op: NaioOp,
    id: RequestId,
    fd: RawFd,
    ptr: *const u8,
    len: usize,
    msg_flags: u32,
    token: Token,
) -> sys::ukevent {
    raw_request(op, id, fd, ptr as usize as u64, len, msg_flags, token)
}

/// The request `ukevent` for a sendfile of `len` bytes of `in_fd` from
/// `offset` on `fd`.
pub(crate) fn sendfile_request(
    id: RequestId,
    fd: RawFd,
    in_fd: RawFd,
    offset: u64,
    len: usize,
    flags: SendfileFlags,
    token: Token,
) -> sys::ukevent {
    let mut raw = raw_request(NaioOp::Sendfile, id, fd, offset, len, flags.bits(), token);
    // A write to a union field (of plain integers) needs no unsafe.
    raw.__bindgen_anon_1.naio.in_fd = in_fd;
    raw
}

/// The result and end-of-file flag a request added with
/// `KEVENT_REQ_INLINE` completed with at its add (`KEVENT_RET_COMPLETE`:
/// the event's flags in `ret_data[0]`, the `__s32` result in
/// `ret_data[1]`), or `None` if it did not complete there.
fn inline_result(back: &sys::ukevent) -> Option<(io::Result<usize>, bool)> {
    if back.ret_flags & sys::KEVENT_RET_COMPLETE == 0 {
        return None;
    }
    // The flags are a u16 in an event; a kernel that set more is broken,
    // and the bits this crate knows are all below 16.
    let flags = EventFlags::from_bits_retain(back.ret_data[0] as u16);
    let result = crate::interest::naio_result(i64::from(back.ret_data[1] as i32) as u64, flags);
    Some((result, flags.contains(EventFlags::EOF)))
}

/// The `ukevent` of a request whose `data` is `data` (a buffer's address,
/// or a sendfile's offset), `naio.in_fd` 0.
fn raw_request(
    op: NaioOp,
    id: RequestId,
    fd: RawFd,
    data: u64,
    len: usize,
    msg_flags: u32,
    token: Token,
) -> sys::ukevent {
    let mut raw = sys::ukevent {
        id: id.raw(),
        type_: sys::KEVENT_NAIO,
        event: op.raw(),
        data,
        user_data: token.0,
        ..Default::default()
    };
    raw.__bindgen_anon_1.naio = sys::ukevent__bindgen_ty_1__bindgen_ty_4 {
        fd,
        len: len.min(MAX_REQUEST_LEN) as u32,
        msg_flags,
        in_fd: 0,
    };
    raw
}

/// The ENABLEs of [`Naio::wait_rearming`] that do not fit in its wait
/// (`raw[max..]`, a wait taking at most `max` changes): applied with
/// `ctl` in batches of at most `max` entries, before the wait, each
/// batch then handed to `settle` with whether an entry without a result
/// may have been applied (`EFAULT`). Stops at a call that fails: its
/// error; the entries after it are handed to `settle` as not applied.
fn enable_surplus(
    raw: &mut [sys::ukevent],
    max: usize,
    mut ctl: impl FnMut(&mut [sys::ukevent]) -> io::Result<usize>,
    mut settle: impl FnMut(&[sys::ukevent], bool),
) -> io::Result<()> {
    let mut start = max;
    while start < raw.len() {
        let end = raw.len().min(start.saturating_add(max));
        let r = ctl(&mut raw[start..end]);
        let unsure = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EFAULT));
        settle(&raw[start..end], unsure);
        if let Err(e) = r {
            settle(&raw[end..], false);
            return Err(e);
        }
        start = end;
    }
    Ok(())
}

/// A request refused before any system call.
#[cold]
fn invalid_input(why: &'static str) -> Error {
    Error::io(
        Command::Add,
        Some(Key::naio(0)),
        None,
        io::Error::new(io::ErrorKind::InvalidInput, why),
    )
}

/// A kevent queue with network I/O requests whose buffers it owns until
/// they complete: the blocking (or `poll`-style) interface. For `async`,
/// see `AsyncNaio` (the `tokio` feature).
///
/// [`send`](Naio::send) and [`recv`](Naio::recv) move the buffer into
/// the queue and return the request's [`RequestId`]; [`wait`](Naio::wait)
/// waits as [`Queue::wait`] does and records the completions it reports;
/// for each event of kind [`Kind::Naio`], [`take`](Naio::take) hands back
/// the [`Completion`]: the result and the buffer. A
/// [`sendfile`](Naio::sendfile) has no buffer: its completion is a
/// [`SendfileCompletion`], from [`take_sendfile`](Naio::take_sendfile)
/// ([`Event::naio_op`] tells which to call). Other kevents can share
/// the queue ([`queue`](Naio::queue) adds them): their events come in the
/// same [`Events`].
///
/// Wait with [`Naio::wait`], or with a [`Ring`] on this queue drained by
/// [`Naio::drain`]; not with [`Queue::wait`] on [`queue`](Naio::queue):
/// only these record completions, so a completion taken elsewhere leaves
/// its buffer in the queue until the `Naio` is dropped (then freed: see
/// the module's safety argument in the crate's documentation).
///
/// ```no_run
/// use std::io::Write;
/// use kevent::{Events, Kind, Naio, RecvFlags, Token};
///
/// let naio: Naio = Naio::new()?;
/// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
/// let id = naio.recv(&b, Vec::with_capacity(4096), RecvFlags::empty(), Token(1))?;
/// a.write_all(b"hello")?;
/// let mut events = Events::with_capacity(64);
/// loop {
///     naio.wait(&mut events, None)?;
///     for event in &events {
///         if let Some(done) = naio.take(&event) {
///             assert_eq!(done.id(), id);
///             let (n, buf) = done.into_parts();
///             assert_eq!(&buf[..n?], b"hello");
///             return Ok(());
///         }
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping a `Naio` cancels the requests in flight and frees their
/// buffers once the kernel has let go of them (a completion taken
/// elsewhere and not recorded is freed only if the kernel no longer has
/// the request; otherwise the buffer is leaked, never freed while the
/// kernel may use it). [`close`](Naio::close) does the same and says
/// whether a buffer had to be leaked.
pub struct Naio<B: IoBuf = Vec<u8>> {
    queue: Queue,
    slots: Mutex<Slots<B>>,
    /// Whether this is a copy in a child of `fork` (the safety argument, 3).
    fork_check: ForkCheck,
    /// The ENABLE entries of [`wait_rearming`](Naio::wait_rearming),
    /// kept for their allocation (taken out for a call: a wait does not
    /// hold the lock).
    rearm_changes: Mutex<Changes<'static>>,
}

/// Tells a copy of a [`Naio`] in a child of `fork` from the original
/// without a system call: a page advised `MADV_WIPEONFORK` holds a
/// nonzero word, and a child of `fork` (or of any `clone` without
/// `CLONE_VM`: another address space) finds that page zero-filled. Where
/// the advice fails (a kernel before 4.14, a seccomp filter), the
/// process id, compared at each check (a `getpid` call).
struct ForkCheck {
    /// The word, in a page of its own; `None`: compare `pid`.
    marker: Option<NonNull<AtomicU32>>,
    /// The process that made it.
    pid: u32,
}

// SAFETY: the marker's page is this value's alone, written once before
// the value is shared, then only read, atomically, until Drop unmaps it.
unsafe impl Send for ForkCheck {}
// SAFETY: as for Send: shared, it is only read atomically.
unsafe impl Sync for ForkCheck {}

impl ForkCheck {
    /// The mapping's length: a word (the kernel maps a page).
    const LEN: usize = mem::size_of::<AtomicU32>();

    fn new() -> Self {
        let marker = map_anonymous(Self::LEN, true).ok().map(|page| {
            let marker = page.cast::<AtomicU32>();
            // SAFETY: a new, page-aligned mapping of zeroes, ours alone
            // until Drop; any bits are a valid AtomicU32.
            unsafe { marker.as_ref() }.store(1, Ordering::Relaxed);
            marker
        });
        ForkCheck {
            marker,
            pid: std::process::id(),
        }
    }

    /// Whether this process is not the one that made the check: a child
    /// of `fork` (or of its child...).
    #[inline]
    fn forked(&self) -> bool {
        match self.marker {
            // SAFETY: mapped until Drop; read atomically.
            Some(marker) => unsafe { marker.as_ref() }.load(Ordering::Relaxed) == 0,
            None => std::process::id() != self.pid,
        }
    }
}

impl Drop for ForkCheck {
    fn drop(&mut self) {
        if let Some(marker) = self.marker {
            // SAFETY: our mapping (in a child, its zeroed copy), which
            // nothing uses after this.
            unsafe { libc::munmap(marker.as_ptr().cast(), Self::LEN) };
        }
    }
}

impl<B: IoBuf> fmt::Debug for Naio<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Naio")
            .field("queue", &self.queue)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// The iterator of [`Naio::drain`]: a [`Ring`]'s events, each NAIO
/// completion recorded as it is yielded (one dropped unread stays in the
/// ring, for the next drain).
#[derive(Debug)]
pub struct NaioDrain<'a, B: IoBuf = Vec<u8>> {
    naio: &'a Naio<B>,
    drain: Drain<'a>,
}

impl<B: IoBuf> Iterator for NaioDrain<'_, B> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let event = self.drain.next()?;
        self.naio.record_one(&event);
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.drain.size_hint()
    }
}

impl<B: IoBuf> ExactSizeIterator for NaioDrain<'_, B> {}

impl<B: IoBuf> std::iter::FusedIterator for NaioDrain<'_, B> {}

impl<B: IoBuf> Naio<B> {
    /// A new queue (close-on-exec) for network I/O requests. Other
    /// kevents can be added to it ([`queue`](Naio::queue)).
    pub fn new() -> io::Result<Self> {
        // SAFETY: a new queue: nothing else submits requests on it.
        Ok(unsafe { Self::from_queue(Queue::new()?) })
    }

    /// Network I/O requests on `queue` (which may have other kevents).
    ///
    /// # Safety
    ///
    /// Nothing else may submit network I/O requests on the kernel queue
    /// `queue` refers to while this `Naio` lives: no other `Naio` (made
    /// from a duplicate of its descriptor), no raw `KEVENT_NAIO` add
    /// through `kevent-sys`, and no raw `KEVENT_CTL_ENABLE` of its
    /// requests (see the safety argument's point 4). The request ids are
    /// this `Naio`'s to choose:
    /// a completion of someone else's request with an id this `Naio` has
    /// in flight could be taken for its own, and its buffer handed back
    /// while the kernel still writes into it.
    pub unsafe fn from_queue(queue: Queue) -> Self {
        Naio {
            queue,
            slots: Mutex::new(Slots::new()),
            fork_check: ForkCheck::new(),
            rearm_changes: Mutex::new(Changes::new()),
        }
    }

    /// `Unsupported` ("a Naio inherited across fork() `what`") in a copy
    /// made by `fork`: the safety argument, 3. No system call (it is on
    /// every submit).
    fn not_forked(&self, what: &str) -> io::Result<()> {
        if !self.fork_check.forked() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("a Naio inherited across fork() {what}"),
        ))
    }

    /// The queue, e.g. to add other kevents to it.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// How many requests are in flight (submitted, completion not yet
    /// recorded by [`wait`](Naio::wait)). A [`send_now`](Naio::send_now)
    /// counts while that call runs, even if it completes at once (then
    /// without an event). A receive that stays counts while a run is in
    /// flight, not between runs (the kernel does not use its buffer
    /// then) nor while a run's completion waits to be taken.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slots<B>> {
        // A panic while the lock was held left the table consistent
        // (every change is a single assignment): go on.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `buf`'s initialised bytes on `socket` (up to
    /// [`MAX_REQUEST_LEN`]): a stream socket's send completes when all are
    /// queued (or on an error, with the count queued so far if any). The
    /// kernel tries at once, without blocking, and otherwise when the
    /// socket has room, during a [`wait`](Naio::wait) of a thread of
    /// this process. The completion carries `token`; its [`Event::id`] is
    /// the returned id.
    ///
    /// `socket` is borrowed for the call only: the kernel takes the socket
    /// at the add, and closing the descriptor cancels the request
    /// (`ECANCELED`). The socket's `O_NONBLOCK` does not matter.
    ///
    /// # Errors
    ///
    /// The buffer comes back in the [`SubmitError`]: `InvalidInput` for
    /// an empty buffer (no system call); `EBADF`, `ENOTSOCK`, `EINVAL`,
    /// `EAGAIN` (`fs.kevent.max_queue_requests` requests in flight),
    /// `ENOSPC` (`fs.kevent.max_user_kevents`).
    pub fn send(
        &self,
        socket: &impl AsFd,
        buf: B,
        flags: SendFlags,
        token: impl Into<Token>,
    ) -> Result<RequestId, SubmitError<B>> {
        let len = buf.bytes_init();
        self.submit_buf(
            NaioOp::Send,
            socket.as_fd().as_raw_fd(),
            buf,
            len,
            flags.bits(),
            0,
            token.into(),
            None,
            |b| b.stable_ptr(),
            false,
        )
        .map(|(id, _)| id)
    }

    /// [`send`](Naio::send), but a send that the kernel completes at
    /// once (the socket has room for all of it, or fails) comes back
    /// here, with its buffer, as [`Sent::Done`]: no event will come for
    /// it and it is not in flight. Otherwise it is in flight, as a
    /// [`send`](Naio::send)'s, and its completion comes through
    /// [`wait`](Naio::wait) ([`Sent::InFlight`]). One system call either
    /// way (`KEVENT_REQ_INLINE`: the kernel writes the result into the
    /// request's entry). On a kernel without `KEVENT_REQ_INLINE` (see
    /// [`Features::completes_inline`](crate::Features::completes_inline))
    /// every send is queued.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use kevent::{Naio, SendFlags, Sent, Token};
    ///
    /// let naio: Naio = Naio::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// match naio.send_now(&a, b"hello".to_vec(), SendFlags::empty(), Token(1))? {
    ///     Sent::Done(done) => assert_eq!(*done.result().as_ref().unwrap(), 5),
    ///     Sent::InFlight(_id) => { /* its completion comes through wait() */ }
    /// }
    /// let mut got = [0; 5];
    /// b.read_exact(&mut got)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Naio::send)'s. A send that the kernel ran and that
    /// failed (a reset connection, say) is a [`Sent::Done`] whose
    /// [`result`](Completion::result) is the error.
    pub fn send_now(
        &self,
        socket: &impl AsFd,
        buf: B,
        flags: SendFlags,
        token: impl Into<Token>,
    ) -> Result<Sent<B>, SubmitError<B>> {
        let inline = features().is_ok_and(|f| f.completes_inline);
        if !inline {
            return self.send(socket, buf, flags, token).map(Sent::InFlight);
        }
        let len = buf.bytes_init();
        let (id, back) = self.submit_buf(
            NaioOp::Send,
            socket.as_fd().as_raw_fd(),
            buf,
            len,
            flags.bits(),
            sys::KEVENT_REQ_INLINE,
            token.into(),
            None,
            |b| b.stable_ptr(),
            false,
        )?;
        let Some((result, eof)) = inline_result(&back) else {
            return Ok(Sent::InFlight(id));
        };
        // Completed at the add and never queued: no event will record it,
        // so record it here, as record_one() would have.
        let mut slots = self.lock();
        slots.complete(id, Some(NaioOp::Send), result, eof);
        match slots.poll(id, None, false) {
            Some(Taken::Buf(done)) => Ok(Sent::Done(done)),
            _ => unreachable!("a send completed at its add is in its slot"),
        }
    }

    /// Receives into `buf` from its start, up to its
    /// [`bytes_total`](IoBuf::bytes_total) (a `Vec`'s capacity) and
    /// [`MAX_REQUEST_LEN`]: completes on at least one byte (all of them
    /// with [`RecvFlags::WAITALL`]), 0 at end of file; on a datagram
    /// socket, one datagram (truncated to the room). The completion
    /// sets the buffer's length ([`IoBufMut::set_init`]). Requests of a
    /// socket complete in the order submitted, and stream data is never
    /// interleaved between them. As [`send`](Naio::send) otherwise.
    pub fn recv(
        &self,
        socket: &impl AsFd,
        buf: B,
        flags: RecvFlags,
        token: impl Into<Token>,
    ) -> Result<RequestId, SubmitError<B>>
    where
        B: IoBufMut,
    {
        self.submit_recv(socket, buf, flags, token.into(), false)
    }

    /// A receive into `buf`; with `stays`, a receive that stays.
    fn submit_recv(
        &self,
        socket: &impl AsFd,
        buf: B,
        flags: RecvFlags,
        token: Token,
        stays: bool,
    ) -> Result<RequestId, SubmitError<B>>
    where
        B: IoBufMut,
    {
        let len = buf.bytes_total();
        self.submit_buf(
            NaioOp::Recv,
            socket.as_fd().as_raw_fd(),
            buf,
            len,
            flags.bits(),
            if stays { sys::KEVENT_REQ_DISPATCH } else { 0 },
            token,
            Some(<B as IoBufMut>::set_init as SetInit<B>),
            |b| b.stable_mut_ptr(),
            stays,
        )
        .map(|(id, _)| id)
    }

    /// A receive that stays: as [`recv`](Naio::recv), but the request
    /// stays after its completion, for its next run into the same buffer
    /// (`KEVENT_REQ_DISPATCH`; io_uring's multishot receive keeps its
    /// request the same way, but into buffers of its own). An event loop
    /// that receives on a connection again and again adds one request
    /// and, per message, pays one `KEVENT_CTL_ENABLE`: nothing is
    /// allocated or hooked into the socket per message.
    ///
    /// Each run's completion comes through [`wait`](Naio::wait) and
    /// [`take`](Naio::take) as a receive's, with the buffer and
    /// [`Completion::stays`] true: the kernel keeps the request, between
    /// runs, and does not touch the buffer. What to do next is
    /// [`Completion::next_step`]'s answer:
    ///
    /// - [`NextStep::Rearm`] (the run brought data): read the bytes, then
    ///   hand the same buffer (the same allocation) to
    ///   [`rearm`](Naio::rearm) for the next run, or end the request with
    ///   [`cancel`](Naio::cancel).
    /// - [`NextStep::Cancel`] (end of file, or an error): the kernel
    ///   leaves the request in place, but a next run would complete at
    ///   once with the same, so a loop that rearmed it would spin:
    ///   [`cancel`](Naio::cancel) it, or close its socket.
    /// - [`NextStep::Done`] (`stays` false): its last completion:
    ///   [`cancel`](Naio::cancel) or the close of the socket's descriptor
    ///   ended a run in flight (`ECANCELED`, or the bytes it moved).
    ///
    /// Ended between runs, it has no completion to take (its last event
    /// is one for which [`take`](Naio::take) returns `None`):
    /// [`rearm`](Naio::rearm) then fails (`EBUSY` until its last event is
    /// recorded, then `ENOENT`) and gives the buffer back.
    ///
    /// Between runs the request still counts against
    /// `fs.kevent.max_queue_requests`, but not in
    /// [`in_flight`](Naio::in_flight): the kernel does not use its
    /// buffer. A completion dropped without [`cancel`](Naio::cancel)
    /// leaves the request and its id in place until its socket's
    /// descriptor is closed or the `Naio` is dropped. The kernel does
    /// not try it at its add, only when the socket has data, during a
    /// [`wait`](Naio::wait). Each [`rearm`](Naio::rearm) is one system
    /// call; [`wait_rearming`](Naio::wait_rearming) starts many runs in
    /// the wait's own call.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use kevent::{Events, Naio, NextStep, RecvFlags, Token};
    ///
    /// let naio: Naio = Naio::new()?;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let id = naio.recv_stay(&b, Vec::with_capacity(4096), RecvFlags::empty(), Token(1))?;
    /// let mut events = Events::with_capacity(64);
    /// for message in [&b"hello"[..], b"again"] {
    ///     a.write_all(message)?;
    ///     let done = loop {
    ///         naio.wait(&mut events, None)?;
    ///         if let Some(done) = naio.take_id(id) {
    ///             break done;
    ///         }
    ///     };
    ///     assert_eq!(done.next_step(), NextStep::Rearm);
    ///     assert_eq!(done.data(), message);
    ///     let mut buf = done.into_buf();
    ///     buf.clear();
    ///     naio.rearm(id, buf)?;
    /// }
    /// naio.cancel(id)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Naio::recv)'s; `EINVAL` also from a kernel whose
    /// receives do not stay (one before `KEVENT_EV_MORE`, which refuses
    /// `KEVENT_REQ_DISPATCH` on a request; no probe bit tells it), and the
    /// error's words then say to use [`recv`](Naio::recv) there.
    pub fn recv_stay(
        &self,
        socket: &impl AsFd,
        buf: B,
        flags: RecvFlags,
        token: impl Into<Token>,
    ) -> Result<RequestId, SubmitError<B>>
    where
        B: IoBufMut,
    {
        self.submit_recv(socket, buf, flags, token.into(), true)
    }

    /// Starts the next run of the receive that stays `id`
    /// ([`recv_stay`](Naio::recv_stay)) into `buf`, which must be the
    /// buffer of its last completion (the same allocation, with at least
    /// as much room): the kernel writes where that buffer is.
    /// `KEVENT_CTL_ENABLE`; the bytes that came meanwhile are found.
    ///
    /// The slot table's lock is held across that system call, which
    /// takes the queue's mutex: while another thread's wait reports
    /// (and moves data into its requests' buffers), this call and the
    /// recording of other threads' completions wait for it. A receive
    /// into memory whose page faults are served by a thread that uses
    /// this `Naio` (userfaultfd, FUSE) could so deadlock; use
    /// [`wait_rearming`](Naio::wait_rearming), which holds no lock
    /// across the wait, in such a program.
    ///
    /// # Errors
    ///
    /// The buffer comes back in the [`SubmitError`], whose words say what
    /// to do. Before any system call: `EBUSY` if a run is in flight or
    /// its completion is not taken yet, `ENOENT` if no request has this
    /// id (it ended: its last event was recorded; drop the buffer),
    /// `InvalidInput` for a buffer at another address or with less room,
    /// or a request with no run to start, `Unsupported` in a child of
    /// `fork`. From the kernel: `EBUSY` or `ENOENT` if it ended
    /// (cancelled, its socket's descriptor closed) and its last event is
    /// still to be recorded (a [`wait`](Naio::wait) records it; the
    /// receive is over).
    pub fn rearm(&self, id: RequestId, buf: B) -> Result<(), SubmitError<B>>
    where
        B: IoBufMut,
    {
        let key = Key::from(id);
        let error = |e: io::Error| Error::io(Command::Enable, Some(key), None, e);
        // Its table is not the one the parent's buffers are in.
        if let Err(e) = self.not_forked("cannot rearm the parent's requests") {
            return Err(SubmitError {
                error: error(e),
                buf,
            });
        }
        // The lock is held across the ENABLE: a wait of another thread
        // that reports the request's last event meanwhile (a cancel, a
        // close of its socket) records it only after the slot is back
        // between runs if the kernel refused, so the buffer comes back
        // here and the slot's id is not reused under us. The ENABLE
        // neither runs the receive (a report does) nor waits.
        let mut slots = self.lock();
        if let Err((e, buf)) = slots.rearm(id, buf) {
            return Err(SubmitError {
                error: error(e),
                buf,
            });
        }
        match ctl_one(self.queue.as_fd(), Command::Enable, key.raw()) {
            Ok(()) => Ok(()),
            Err(error) => {
                // Not enabled: the kernel never started the run.
                let buf = slots.unrearm(id).expect("a run rearmed under this lock");
                Err(SubmitError { error, buf })
            }
        }
    }

    /// A send or a receive of `buf`'s first `len` bytes, with the
    /// request flags `req_flags` (with `stays`, a receive that stays:
    /// `KEVENT_REQ_DISPATCH`); returns the entry as the kernel wrote it
    /// back too.
    #[allow(clippy::too_many_arguments)]
    fn submit_buf(
        &self,
        op: NaioOp,
        fd: RawFd,
        buf: B,
        len: usize,
        msg_flags: u32,
        req_flags: u32,
        token: Token,
        set_init: Option<SetInit<B>>,
        ptr_of: impl FnOnce(&mut B) -> *const u8,
        stays: bool,
    ) -> Result<(RequestId, sys::ukevent), SubmitError<B>> {
        if len == 0 {
            return Err(SubmitError {
                error: invalid_input(if op == NaioOp::Recv {
                    "a receive needs room for at least 1 byte"
                } else {
                    "a send needs at least 1 initialised byte"
                }),
                buf,
            });
        }
        let len = len.min(MAX_REQUEST_LEN);
        let stay = |ptr: *const u8| {
            set_init.filter(|_| stays).map(|set_init| Stay {
                ptr: ptr as usize,
                len,
                set_init,
            })
        };
        self.submit_entry(Some(buf), op, len, token, set_init, |id, b| {
            // Always a buffer: the one just put in the slot.
            let ptr = b.map_or(std::ptr::null(), ptr_of);
            let mut raw = request(op, id, fd, ptr, len, msg_flags, token);
            raw.req_flags = req_flags;
            (raw, stay(ptr))
        })
        .map_err(|(error, buf)| match buf {
            Some(buf) => SubmitError { error, buf },
            None => unreachable!("a send or receive's buffer comes back"),
        })
    }

    /// Sends `len` bytes of `file` from `offset` on the stream `socket`
    /// (up to [`MAX_REQUEST_LEN`]), as sendfile(2) with an offset does:
    /// the file's pages go from the page cache into the socket without
    /// being copied, and no memory of this process is used, so there is
    /// no buffer. It completes when all `len` bytes are queued, or when
    /// the file ends first (the bytes queued, perhaps 0, with
    /// [`SendfileCompletion::is_eof`]), or on an error; take the
    /// completion with [`take_sendfile`](Naio::take_sendfile). The kernel
    /// tries at once, without blocking, and otherwise when the socket has
    /// room, during a [`wait`](Naio::wait) (which may read pages that are
    /// not cached, waiting for them as sendfile(2) would).
    ///
    /// Sends and sendfiles on one socket keep one order, the order
    /// submitted: their bytes are never interleaved. The file's offset is
    /// neither used nor changed. A change to the file before its pages
    /// are sent may reach the peer, as with sendfile(2).
    ///
    /// Both descriptors are borrowed for the call only. The kernel holds
    /// the file until the completion, so closing `file` does not end the
    /// request; closing `socket`'s descriptor cancels it (`ECANCELED`,
    /// or the count queued so far).
    ///
    /// # Errors
    ///
    /// Before any system call, `InvalidInput` for a `len` of 0, an
    /// `offset` above `i64::MAX`, or a range `offset + len` (`len` as
    /// clamped) that ends above `i64::MAX`. From the kernel:
    /// `EOPNOTSUPP` (`socket` is not a stream socket of `AF_INET`,
    /// `AF_INET6` or `AF_UNIX`), `ENOTSOCK`, `EBADF` (either descriptor
    /// not open, or `file` not open for reading), `EINVAL` (`file` is not
    /// a regular file or a block device: a pipe, a socket, a directory...;
    /// or a kernel whose `KEVENT_NAIO` has no sendfile), `EOPNOTSUPP`
    /// also when `file` is on a file system whose reads the kernel cannot
    /// wait for without holding up the queue (anything but tmpfs and file
    /// systems with asynchronous buffered reads: ext4, xfs, btrfs, f2fs,
    /// block devices; so not NFS, FUSE, procfs or 9p), or is `O_DIRECT`;
    /// `ESPIPE` (`file`
    /// has no positional reads), `EAGAIN` (`fs.kevent.max_queue_requests`
    /// requests in flight), `ENOSPC` (`fs.kevent.max_user_kevents`).
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// use kevent::{Events, Naio, SendfileFlags, Token};
    ///
    /// let naio: Naio = Naio::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut file = tempfile_with(b"hello, file")?;
    /// let id = naio.sendfile(&a, &file, 7, 4, SendfileFlags::empty(), Token(1))?;
    /// let mut events = Events::with_capacity(64);
    /// let done = loop {
    ///     naio.wait(&mut events, None)?;
    ///     if let Some(done) = naio.take_sendfile_id(id) {
    ///         break done;
    ///     }
    /// };
    /// assert_eq!(done.into_result()?, 4);
    /// let mut got = [0; 4];
    /// b.read_exact(&mut got)?;
    /// assert_eq!(&got, b"file");
    /// # fn tempfile_with(_: &[u8]) -> std::io::Result<std::fs::File> { unimplemented!() }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sendfile(
        &self,
        socket: &impl AsFd,
        file: &impl AsFd,
        offset: u64,
        len: usize,
        flags: SendfileFlags,
        token: impl Into<Token>,
    ) -> Result<RequestId, Error> {
        if len == 0 {
            return Err(invalid_input(
                "a sendfile needs a length of at least 1 byte",
            ));
        }
        let len = len.min(MAX_REQUEST_LEN);
        if offset > i64::MAX as u64 {
            return Err(invalid_input(
                "a sendfile's offset must be at most i64::MAX (a file offset is an off_t)",
            ));
        }
        // len <= MAX_REQUEST_LEN < 2^31: no overflow in u64.
        if offset + len as u64 > i64::MAX as u64 {
            return Err(invalid_input(
                "a sendfile's range (offset + len) must end at most at i64::MAX",
            ));
        }
        let (fd, in_fd) = (socket.as_fd().as_raw_fd(), file.as_fd().as_raw_fd());
        let token = token.into();
        self.submit(None, NaioOp::Sendfile, len, token, None, |id, _| {
            (
                sendfile_request(id, fd, in_fd, offset, len, flags, token),
                None,
            )
        })
        .map_err(|(error, _)| error)
    }

    /// Puts `buf` (`None`: a sendfile) in a slot and adds the request
    /// `make` builds from its id and the buffer in the slot; `len` is
    /// more than 0 and at most [`MAX_REQUEST_LEN`]. On an error, the
    /// buffer comes back: the kernel never used it.
    fn submit(
        &self,
        buf: Option<B>,
        op: NaioOp,
        len: usize,
        token: Token,
        set_init: Option<SetInit<B>>,
        make: impl FnOnce(RequestId, Option<&mut B>) -> (sys::ukevent, Option<Stay<B>>),
    ) -> Result<RequestId, (Error, Option<B>)> {
        self.submit_entry(buf, op, len, token, set_init, make)
            .map(|(id, _)| id)
    }

    /// [`submit`](Naio::submit), returning the entry as the kernel wrote
    /// it back as well. `make` also says whether the request is a receive
    /// that stays, and where its buffer is.
    fn submit_entry(
        &self,
        buf: Option<B>,
        op: NaioOp,
        len: usize,
        token: Token,
        set_init: Option<SetInit<B>>,
        make: impl FnOnce(RequestId, Option<&mut B>) -> (sys::ukevent, Option<Stay<B>>),
    ) -> Result<(RequestId, sys::ukevent), (Error, Option<B>)> {
        // The parent's table chooses the ids on this queue.
        if let Err(e) = self.not_forked(
            "cannot submit requests (the parent's Naio chooses the \
             queue's request ids): make a new one",
        ) {
            return Err((Error::io(Command::Add, None, None, e), buf));
        }
        // The buffer goes into its slot first: the kernel may use it from
        // the add on, even before kevent_ctl returns (another thread's
        // wait may report the completion meanwhile, and finds the slot).
        let (raw, stays) = {
            let mut slots = self.lock();
            let id = match slots.insert(buf, op, len, token, set_init) {
                Ok(id) => id,
                Err(buf) => {
                    return Err((
                        Error::io(
                            Command::Add,
                            None,
                            None,
                            io::Error::from_raw_os_error(libc::EAGAIN),
                        ),
                        buf,
                    ))
                }
            };
            // The pointer of the buffer in its slot; it stays valid when
            // the slot table grows and moves the buffer value (IoBuf's
            // contract).
            let (raw, stay) = make(id, slots.buf_mut(id));
            if let Some(stay) = stay {
                slots.set_stays(id, stay);
            }
            (raw, stay.is_some())
        };
        let id = RequestId(raw.id);
        match ctl_one_entry(self.queue.as_fd(), Command::Add, raw) {
            Ok(back) => Ok((id, back)),
            Err(error) => {
                // Not added (an entry error, or the call processed no
                // entry): the kernel has no request and never used the
                // buffer.
                let buf = self.lock().unsubmit(id);
                let error = if stays {
                    error.with_recv_stay()
                } else {
                    error.with_naio_op(op)
                };
                Err((error, buf))
            }
        }
    }

    /// Cancels the request `id` (`KEVENT_CTL_REMOVE`): it completes with
    /// `ECANCELED`, or with the count if some bytes were moved already.
    /// Its completion still comes through [`wait`](Naio::wait), with the
    /// buffer (a sendfile's, without one).
    ///
    /// A receive that stays ([`recv_stay`](Naio::recv_stay)) ends with
    /// one last event without [`EventFlags::RECV_STAYS`]: with a run in flight,
    /// that run's completion ([`Completion::stays`] false, the buffer);
    /// between runs, an event for which [`take`](Naio::take) returns
    /// `None` (the buffer is its owner's already), after which the id is
    /// free. A run's completion recorded but not taken yet becomes the
    /// last if the last event is recorded before the take. `cancel` of
    /// such a receive succeeds, also twice, until its last event is
    /// reported (then `ENOENT`).
    ///
    /// # Errors
    ///
    /// `ENOENT`: no such request in flight (its completion was reported,
    /// or it completed in its [`send_now`](Naio::send_now));
    /// `EALREADY`: it has completed, and its completion is still to be
    /// reported; `Unsupported` in a child of `fork` (the ids name the
    /// parent's requests).
    pub fn cancel(&self, id: RequestId) -> Result<(), Error> {
        let key = Key::from(id);
        if let Err(e) = self.not_forked("cannot cancel the parent's requests") {
            return Err(Error::io(Command::Remove, Some(key), None, e));
        }
        ctl_one(self.queue.as_fd(), Command::Remove, key.raw())
    }

    /// Waits as [`Queue::wait`] does, then records the network I/O
    /// completions among the events (the kernel runs the requests whose
    /// sockets are ready during this call). Returns how many events
    /// `events` holds, of every kind; take each NAIO completion's buffer
    /// back with [`take`](Naio::take).
    ///
    /// # Errors
    ///
    /// Those of [`Queue::wait`]; `Unsupported` in a child of `fork`,
    /// without a system call: the queue's completions are the parent's.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        self.wait_with(events, &Wait::new(timeout))
    }

    /// [`wait`](Naio::wait) as [`Queue::wait_with`] waits.
    ///
    /// # Errors
    ///
    /// Those of [`Queue::wait_with`]; `Unsupported` in a child of `fork`.
    pub fn wait_with(&self, events: &mut Events, how: &Wait<'_>) -> io::Result<usize> {
        // A wait here would take the parent's completions, and its
        // buffers are not in our copy of the table.
        self.not_forked("cannot wait on the parent's queue (its completions are the parent's)")?;
        let n = self.queue.wait_with(events, how)?;
        self.record(events);
        Ok(n)
    }

    /// [`wait_with`](Naio::wait_with), starting first the next run of
    /// each receive that stays in `rearms`, as [`rearm`](Naio::rearm)
    /// does, in the same system call: the ENABLEs travel in the wait's
    /// changes. An event loop that receives on many connections so makes
    /// one system call per round. The completions among the events are
    /// recorded as [`wait`](Naio::wait) records them.
    ///
    /// Every `(id, buf)` of `rearms` is taken. The runs not started go to
    /// `refused`, each a [`Refused`] with the receive's id and token, the
    /// reason (an [`Error`] that says what to do) and the buffer, but for
    /// a receive that ended meanwhile in another thread's wait, whose last
    /// completion carried the buffer. A run is refused when its receive
    /// has ended (cancelled, or its socket's descriptor closed: `ENOENT`
    /// or `EBUSY`; drop the connection, there is nothing to cancel), or
    /// for a caller's mistake (`InvalidInput`: another buffer, or a
    /// request with no run to start; `EBUSY`: a run already in flight).
    /// Whenever a run is refused, the call does not sleep: it returns
    /// what is ready at once (`Ok(0)` if the kernel refused an ENABLE of
    /// the wait's own changes, as any failed change makes a wait return),
    /// so a loop handles `refused` in the same round and must not read a
    /// return of 0 as a timeout while `refused` is not empty.
    ///
    /// A wait takes at most [`max_batch`](crate::Features::max_batch)
    /// changes: more rearms than that are started by ENABLE batches of
    /// their own (`kevent_ctl`, one per `max_batch` runs) before the wait,
    /// with the same guarantees.
    ///
    /// ```no_run
    /// use kevent::{Events, Naio, NextStep, RecvFlags, Token, Wait};
    ///
    /// let naio: Naio = Naio::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// naio.recv_stay(&b, Vec::with_capacity(4096), RecvFlags::empty(), Token(1))?;
    /// let (mut rearms, mut refused) = (Vec::new(), Vec::new());
    /// let mut events = Events::with_capacity(64);
    /// # drop(a);
    /// loop {
    ///     naio.wait_rearming(rearms.drain(..), &mut refused, &mut events, &Wait::new(None))?;
    ///     for r in refused.drain(..) {
    ///         // Ended meanwhile (or a bug of ours): the buffer is back, the
    ///         // connection r.token is over.
    ///         eprintln!("{:?}: {}", r.token, r.error);
    ///     }
    ///     for event in &events {
    ///         let Some(done) = naio.take(&event) else { continue };
    ///         match done.next_step() {
    ///             NextStep::Rearm => {
    ///                 // ... use done.data() ...
    ///                 let id = done.id();
    ///                 let mut buf = done.into_buf();
    ///                 buf.clear();
    ///                 rearms.push((id, buf));
    ///             }
    ///             // This connection's end of file or error, not the loop's.
    ///             NextStep::Cancel => {
    ///                 if let Err(e) = done.result() {
    ///                     eprintln!("{:?}: {e}", done.token());
    ///                 }
    ///                 let _ = naio.cancel(done.id());
    ///             }
    ///             NextStep::Done => {}
    ///         }
    ///     }
    /// #   break;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// If the caller's iterator panics, the runs taken before are left in
    /// flight with no ENABLE sent, until [`cancel`](Naio::cancel) (whose
    /// completion brings the buffer back) or close.
    ///
    /// # Errors
    ///
    /// Those of [`wait_with`](Naio::wait_with) and of a `kevent_ctl` of
    /// the surplus ENABLEs; `Unsupported` on a kernel whose waits take no
    /// changes or in a child of `fork`. Whatever the error, the runs not
    /// started are in `refused`.
    pub fn wait_rearming(
        &self,
        rearms: impl IntoIterator<Item = (RequestId, B)>,
        refused: &mut Vec<Refused<B>>,
        events: &mut Events,
        how: &Wait<'_>,
    ) -> io::Result<usize>
    where
        B: IoBufMut,
    {
        const FORKED: &str = "cannot rearm the parent's requests";
        if let Err(e) = self.not_forked(FORKED) {
            for (id, buf) in rearms {
                let token = self.lock().token_of(id);
                let why = io::Error::new(e.kind(), e.to_string());
                refused.push(Refused {
                    id,
                    token,
                    error: Error::io(Command::Enable, Some(Key::from(id)), None, why),
                    buf,
                });
            }
            return Err(e);
        }
        let refused_before = refused.len();
        let mut changes =
            mem::take(&mut *self.rearm_changes.lock().unwrap_or_else(|p| p.into_inner()));
        changes.clear();
        // The lock per item: the iterator is the caller's code.
        for (id, buf) in rearms {
            let r = {
                let mut slots = self.lock();
                slots
                    .rearm(id, buf)
                    .map_err(|(e, buf)| (e, buf, slots.token_of(id)))
            };
            match r {
                Ok(()) => {
                    changes.enable(Key::from(id));
                }
                Err((e, buf, token)) => refused.push(Refused {
                    id,
                    token,
                    error: Error::io(Command::Enable, Some(Key::from(id)), None, e),
                    buf,
                }),
            }
        }
        let r = self.start_runs(&mut changes, refused, refused_before, events, how);
        changes.clear();
        *self.rearm_changes.lock().unwrap_or_else(|p| p.into_inner()) = changes;
        let n = r?;
        self.record(events);
        Ok(n)
    }

    /// [`wait_rearming`](Naio::wait_rearming)'s system calls: the ENABLEs
    /// of `changes` (runs in flight already) that do not fit in the wait,
    /// then the wait with the others; the runs not started go to
    /// `refused`. The slots are in flight before the calls, as in
    /// rearm(), but the lock is not held across a call: a run whose
    /// ENABLE fails is put back between runs after it, unless its last
    /// event was recorded meanwhile (then its completion has the buffer).
    fn start_runs(
        &self,
        changes: &mut Changes<'static>,
        refused: &mut Vec<Refused<B>>,
        refused_before: usize,
        events: &mut Events,
        how: &Wait<'_>,
    ) -> io::Result<usize> {
        let max = match features() {
            Ok(f) => f.max_batch as usize,
            Err(e) => {
                self.lock().settle_enables(&changes.raw, false, refused);
                return Err(e);
            }
        };
        let fd = self.queue.as_fd();
        let surplus = enable_surplus(
            &mut changes.raw,
            max,
            |raw| crate::queue::ctl_raw(fd, Command::Enable, raw),
            |raw, unsure| self.lock().settle_enables(raw, unsure, refused),
        );
        changes.truncate(max);
        if let Err(e) = surplus {
            // The wait's ENABLEs were not applied either.
            self.lock().settle_enables(&changes.raw, false, refused);
            return Err(e);
        }
        let no_sleep;
        let how = if refused.len() > refused_before {
            no_sleep = how.no_sleep();
            &no_sleep
        } else {
            how
        };
        let r = self.queue.wait_with_naio_changes(changes, events, how);
        // EFAULT may come from writing a result back, after the kernel
        // applied the entry: one without its result is then left in
        // flight (a leak until cancel or close), never handed out.
        let unsure = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EFAULT));
        self.lock().settle_enables(&changes.raw, unsure, refused);
        r
    }

    /// Drains `ring`, a [`Ring`] registered on this `Naio`'s queue (made
    /// with [`Ring::new`] on [`queue`](Naio::queue)), recording the
    /// network I/O completions among its events as [`wait`](Naio::wait)
    /// does, as the iterator yields them; it yields every event, of every
    /// kind. Wait with [`Ring::wait`]; take each completion's buffer back
    /// with [`take`](Naio::take).
    ///
    /// ```no_run
    /// use kevent::{Naio, RecvFlags, Ring, Token};
    ///
    /// let naio: Naio = Naio::new()?;
    /// let mut ring = Ring::new(naio.queue(), 256)?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// naio.recv(&b, Vec::with_capacity(4096), RecvFlags::empty(), Token(1))?;
    /// # drop(a);
    /// ring.wait(None)?;
    /// for event in naio.drain(&mut ring)? {
    ///     if let Some(done) = naio.take(&event) {
    ///         let (n, buf) = done.into_parts();
    ///         println!("{} bytes: {:?}", n?, &buf[..]);
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `ring` is registered on another queue: its
    /// events are not this queue's completions; `Unsupported` in a child
    /// of `fork` (the ring's events are the parent's).
    pub fn drain<'a, Q: QueueRef>(&'a self, ring: &'a mut Ring<Q>) -> io::Result<NaioDrain<'a, B>> {
        self.not_forked("cannot drain the parent's completions")?;
        // The ring holds our queue itself (a `&Queue` from `queue()`), not
        // a duplicate of its descriptor: the events it holds are then the
        // kernel's, for this queue, as `wait` gets them.
        if !std::ptr::eq(ring.queue(), &self.queue) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the ring is registered on another queue: make it with Ring::new(naio.queue(), ...)",
            ));
        }
        Ok(NaioDrain {
            naio: self,
            drain: ring.drain(),
        })
    }

    /// Records the completions among `events`, which must come from a
    /// wait on this queue made by this crate just now.
    fn record(&self, events: &Events) {
        for event in events {
            self.record_one(&event);
        }
    }

    /// Records `event` if it is a completion; it must come from the
    /// kernel, for this queue (a wait of this crate, or this queue's ring).
    fn record_one(&self, event: &Event) {
        let Some(id) = RequestId::of(event) else {
            return;
        };
        let done = self.lock().complete_run(
            id,
            event.naio_op(),
            crate::interest::naio_result(event.data(), event.flags()),
            event.is_eof(),
            event.flags().contains(EventFlags::RECV_STAYS),
        );
        // Woken and freed outside the lock.
        match done {
            Completed::Stored(Some(waker)) => waker.wake(),
            Completed::Abandoned(buf) => drop(buf),
            Completed::Stored(None) | Completed::Stray => {}
        }
    }

    /// The completion of `event`'s request, with its buffer, if `event`
    /// is the completion of a send or a receive that [`wait`](Naio::wait)
    /// recorded and that was not taken yet. `None` for other events, and
    /// for a sendfile's completion, which has no buffer: take that with
    /// [`take_sendfile`](Naio::take_sendfile) (dispatch on
    /// [`Event::naio_op`]).
    #[must_use = "a completion taken is gone from the queue: dropped, its buffer is freed"]
    pub fn take(&self, event: &Event) -> Option<Completion<B>> {
        self.take_id(RequestId::of(event)?)
    }

    /// The completion of the send or receive `id`, if
    /// [`wait`](Naio::wait) recorded it and it was not taken yet.
    #[must_use = "a completion taken is gone from the queue: dropped, its buffer is freed"]
    pub fn take_id(&self, id: RequestId) -> Option<Completion<B>> {
        match self.lock().poll(id, None, false)? {
            Taken::Buf(done) => Some(done),
            Taken::File(_) => None,
        }
    }

    /// The completion of `event`'s request if `event` is the completion
    /// of a [`sendfile`](Naio::sendfile) that [`wait`](Naio::wait)
    /// recorded and that was not taken yet. `None` for other events
    /// (a send's or a receive's completion stays for
    /// [`take`](Naio::take)).
    ///
    /// ```no_run
    /// # fn f(naio: &kevent::Naio, event: kevent::Event) {
    /// use kevent::NaioOp;
    ///
    /// match event.naio_op() {
    ///     Some(NaioOp::Sendfile) => {
    ///         if let Some(done) = naio.take_sendfile(&event) {
    ///             println!("{:?} bytes, end of file: {}", done.result(), done.is_eof());
    ///         }
    ///     }
    ///     Some(_) => {
    ///         if let Some(done) = naio.take(&event) {
    ///             let (n, buf) = done.into_parts();
    ///             println!("{n:?} bytes of a buffer of {}", buf.len());
    ///         }
    ///     }
    ///     None => {} // another kind of event
    /// }
    /// # }
    /// ```
    #[must_use = "a completion taken is gone from the queue: dropped, its buffer is freed"]
    pub fn take_sendfile(&self, event: &Event) -> Option<SendfileCompletion> {
        self.take_sendfile_id(RequestId::of(event)?)
    }

    /// The completion of the sendfile `id`, if [`wait`](Naio::wait)
    /// recorded it and it was not taken yet.
    #[must_use = "a completion taken is gone from the queue: dropped, its buffer is freed"]
    pub fn take_sendfile_id(&self, id: RequestId) -> Option<SendfileCompletion> {
        match self.lock().poll(id, None, true)? {
            Taken::File(done) => Some(done),
            Taken::Buf(_) => None,
        }
    }

    /// The completion of `id` if it arrived, else `waker` is woken when it
    /// does (the async interface); `sendfile` as for [`Slots::poll`].
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_id(&self, id: RequestId, waker: &Waker, sendfile: bool) -> Option<Taken<B>> {
        self.lock().poll(id, Some(waker), sendfile)
    }

    /// Takes the wakers of every request in flight (the async interface,
    /// when its task stops: each future then looks again and fails).
    #[cfg(feature = "tokio")]
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        self.lock().take_wakers()
    }

    /// Gives up on `id` (its future was dropped): a completed request's
    /// buffer is freed now, one in flight is cancelled and its buffer
    /// freed when its completion arrives.
    #[cfg(feature = "tokio")]
    pub(crate) fn abandon(&self, id: RequestId) {
        let (buf, in_flight) = {
            let mut slots = self.lock();
            let buf = slots.abandon(id);
            (buf, slots.slot(id).is_some())
        };
        drop(buf);
        if in_flight {
            // ENOENT/EALREADY: it has completed; its completion frees it.
            let _ = self.cancel(id);
        }
    }

    /// Cancels the requests in flight and frees their buffers when the
    /// kernel has let go of them, then closes the queue. Returns how many
    /// buffers had to be leaked (their requests' completions were taken
    /// by another descriptor of the queue, or did not come): 0 normally.
    ///
    /// In a child of `fork`, the requests are the parent's: it leaves
    /// them alone (no system call on the queue), frees the child's copies
    /// of the buffers, which the kernel never touches, closes the child's
    /// descriptor of the queue and returns 0.
    pub fn close(mut self) -> usize {
        self.shutdown()
    }

    fn shutdown(&mut self) -> usize {
        if self.fork_check.forked() {
            // A REMOVE or a wait here would cancel the parent's requests
            // or take its completions. Our buffers are copies in this
            // address space, where the kernel moves no data (EXDEV): they
            // are freed with the table, whose lock is not taken (a thread
            // of the parent may have held it at the fork).
            return 0;
        }
        // Receives that stay, not in flight: the kernel does not use
        // their buffers, but keeps the requests (and their sockets) as
        // long as the queue lives, which a duplicate of its descriptor
        // may make longer than this Naio. Their last events need not be
        // collected.
        let staying = self.lock().staying_ids();
        for id in staying {
            let _ = ctl_one(self.queue.as_fd(), Command::Remove, Key::from(id).raw());
        }
        let ids = self.lock().in_flight_ids();
        if ids.is_empty() {
            return 0;
        }
        let cancel_all = |slots: &Mutex<Slots<B>>, ids: &[RequestId]| {
            for &id in ids {
                match ctl_one(self.queue.as_fd(), Command::Remove, Key::from(id).raw()) {
                    // Gone: its completion was reported (not to us).
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        let buf = slots
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .forget_request(id);
                        drop(buf);
                    }
                    // Cancelled, or completed: its completion comes.
                    _ => {}
                }
            }
        };
        cancel_all(&self.slots, &ids);
        // Collect the completions: a cancelled request's is ready at once.
        // One short blocking round in case one is late; events of other
        // kevents are dropped with the queue.
        let mut events = Events::with_capacity(64);
        let mut blocking = false;
        while self.in_flight() > 0 {
            let timeout = if blocking {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            match self.queue.wait(&mut events, Some(timeout)) {
                Ok(0) if blocking => break,
                Ok(0) => blocking = true,
                Ok(_) => {
                    for event in &events {
                        if let Some(id) = RequestId::of(&event) {
                            self.lock().abandon(id);
                        }
                    }
                    self.record(&events);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // What is left: freed if the kernel no longer has the request,
        // else leaked.
        let ids = self.lock().in_flight_ids();
        cancel_all(&self.slots, &ids);
        self.lock().leak_in_flight()
    }
}

impl<B: IoBuf> Drop for Naio<B> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
impl<B: IoBuf> Naio<B> {
    /// A `Naio` around a pipe whose write end is closed: enough for
    /// checks made before any system call (no kevent kernel needed), and
    /// readable at once.
    pub(crate) fn on_a_pipe() -> Self {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the write end is ours and closed once, here.
        unsafe { libc::close(fds[1]) };
        // SAFETY: the read end is ours, owned from here on (a kevent call
        // on it fails: no kevent, or not a queue).
        let queue = unsafe { Queue::from_raw_fd(fds[0]) };
        // SAFETY: no one else submits requests on it.
        unsafe { Naio::from_queue(queue) }
    }

    /// A request in flight, as a submit leaves it before its add.
    pub(crate) fn fake_in_flight(&self, buf: Option<B>, op: NaioOp, len: usize) -> RequestId {
        match self.lock().insert(buf, op, len, Token(0), None) {
            Ok(id) => id,
            Err(_) => panic!("no slot"),
        }
    }
}

impl<B: IoBuf> AsRawFd for Naio<B> {
    fn as_raw_fd(&self) -> RawFd {
        self.queue.as_raw_fd()
    }
}

impl<B: IoBuf> AsFd for Naio<B> {
    /// The queue's descriptor, as [`Queue`]'s `as_fd` gives it (e.g. to
    /// watch the queue with epoll or another queue).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ok(n: usize) -> io::Result<usize> {
        Ok(n)
    }

    /// A send's or receive's completion, as `Naio::take_id` takes it.
    fn take<B>(s: &mut Slots<B>, id: RequestId) -> Option<Completion<B>> {
        match s.poll(id, None, false)? {
            Taken::Buf(done) => Some(done),
            Taken::File(_) => panic!("a sendfile's completion for a buffered request"),
        }
    }

    #[test]
    fn inline_results_decode_as_events_do() {
        let entry = |ret_flags: u32, ev: u32, result: i32| sys::ukevent {
            ret_flags,
            ret_data: [ev, result as u32],
            ..Default::default()
        };
        let done = sys::KEVENT_RET_DONE | sys::KEVENT_RET_COMPLETE;
        // Not completed at the add: in flight.
        assert!(inline_result(&entry(sys::KEVENT_RET_DONE, 0, 0)).is_none());
        let (n, eof) = inline_result(&entry(done, 0, 5)).unwrap();
        assert_eq!((n.unwrap(), eof), (5, false));
        let (n, eof) = inline_result(&entry(done, sys::KEVENT_EV_EOF, 0)).unwrap();
        assert_eq!((n.unwrap(), eof), (0, true));
        let (n, _) = inline_result(&entry(done, sys::KEVENT_EV_ERROR, -libc::EPIPE)).unwrap();
        assert_eq!(n.unwrap_err().raw_os_error(), Some(libc::EPIPE));
        // A negative result without the error flag is the kernel's bug,
        // not a huge count.
        let (n, _) = inline_result(&entry(done, 0, -1)).unwrap();
        assert!(n.is_err());
    }

    #[test]
    fn ids_are_index_and_generation() {
        let id = RequestId::new(7, 3);
        assert_eq!((id.index(), id.gen(), id.raw()), (7, 3, 3 << 32 | 7));
        assert_eq!(id.to_string(), "0x300000007");
        assert_eq!(Key::from(id), Key::naio(id.raw()));
        assert_eq!(Key::naio(5).to_string(), "naio request 0x5");
    }

    #[test]
    fn slots_are_reused_with_a_new_generation() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let a = s
            .insert(Some(vec![1]), NaioOp::Send, 1, Token(1), None)
            .unwrap();
        let b = s
            .insert(Some(vec![2]), NaioOp::Send, 1, Token(2), None)
            .unwrap();
        assert_eq!((a.index(), b.index(), s.in_flight()), (0, 1, 2));
        assert!(matches!(
            s.complete(a, Some(NaioOp::Send), ok(1), false),
            Completed::Stored(None)
        ));
        assert_eq!(s.in_flight(), 1);
        // Recorded, not taken: a second completion of the same id is stray.
        assert!(matches!(
            s.complete(a, Some(NaioOp::Send), ok(1), false),
            Completed::Stray
        ));
        let done = take(&mut s, a).unwrap();
        assert_eq!(
            (done.id(), done.token(), done.op()),
            (a, Token(1), NaioOp::Send)
        );
        let (r, buf) = done.into_parts();
        assert_eq!((r.unwrap(), buf), (1, vec![1]));
        assert!(take(&mut s, a).is_none(), "taken once");
        // The slot comes back with the next generation; the old id is dead.
        let c = s
            .insert(Some(vec![3]), NaioOp::Recv, 1, Token(3), None)
            .unwrap();
        assert_eq!((c.index(), c.gen()), (0, a.gen() + 1));
        assert!(matches!(
            s.complete(a, Some(NaioOp::Send), ok(1), false),
            Completed::Stray
        ));
        assert!(take(&mut s, a).is_none());
        // The wrong operation for the slot is stray too.
        assert!(matches!(
            s.complete(c, Some(NaioOp::Send), ok(1), false),
            Completed::Stray
        ));
        assert!(matches!(
            s.complete(c, None, ok(1), false),
            Completed::Stray
        ));
        assert_eq!(s.in_flight(), 2);
        // No growth while slots are reused.
        let cap = s.slots.capacity();
        for _ in 0..100 {
            let d = s
                .insert(Some(vec![]), NaioOp::Send, 1, Token(0), None)
                .unwrap();
            assert_eq!(d.index(), 2);
            assert_eq!(s.unsubmit(d), Some(Vec::<u8>::new()));
        }
        assert_eq!((s.slots.len(), s.slots.capacity()), (3, cap));
    }

    /// A receive that stays in slot `id`, as `Naio::recv_stay` makes it.
    fn stay_slot(s: &mut Slots<Vec<u8>>, buf: Vec<u8>) -> (RequestId, usize) {
        let set_init = <Vec<u8> as IoBufMut>::set_init as SetInit<Vec<u8>>;
        let len = buf.capacity();
        let id = s
            .insert(Some(buf), NaioOp::Recv, len, Token(4), Some(set_init))
            .unwrap();
        let ptr = s.buf_mut(id).unwrap().stable_mut_ptr() as usize;
        s.set_stays(id, Stay { ptr, len, set_init });
        (id, ptr)
    }

    #[test]
    fn a_receive_that_stays_keeps_its_slot_between_runs() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let (id, ptr) = stay_slot(&mut s, Vec::with_capacity(8));
        assert_eq!(s.in_flight(), 1);
        // A run completes with KEVENT_EV_MORE: taken, it stays, between
        // runs: not in flight, its id still taken.
        s.complete_run(id, Some(NaioOp::Recv), ok(2), false, true);
        let done = take(&mut s, id).unwrap();
        assert!(done.stays());
        assert_eq!(done.id(), id);
        assert_eq!(s.in_flight(), 0);
        assert!(take(&mut s, id).is_none());
        // Events for it now are not ours: no run is in flight.
        assert!(matches!(
            s.complete_run(id, Some(NaioOp::Recv), ok(1), false, true),
            Completed::Stray
        ));
        let (_, buf) = done.into_parts();
        // Another buffer is refused, and comes back.
        let (e, other) = s.rearm(id, Vec::with_capacity(8)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(other.capacity(), 8);
        // Its own: in flight again; the kernel refusing it puts it back.
        s.rearm(id, buf).unwrap();
        assert_eq!(s.in_flight(), 1);
        let buf = s.unrearm(id).unwrap();
        assert_eq!(buf.as_ptr() as usize, ptr);
        // Not a run in flight (any more): nothing to take back.
        assert!(s.unrearm(id).is_none());
        assert_eq!(s.in_flight(), 0);
        s.rearm(id, buf).unwrap();
        // Its last event (cancelled in flight): the buffer, stays false,
        // the id free.
        s.complete_run(
            id,
            Some(NaioOp::Recv),
            Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            false,
            false,
        );
        let done = take(&mut s, id).unwrap();
        assert!(!done.stays());
        assert!(s.slot(id).is_none());
        // A rearm of an ended one: NotFound, the buffer back.
        let (e, _) = s.rearm(id, done.into_parts().1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_refused_enable_after_the_last_event_leaves_the_buffer_to_it() {
        // What wait_rearming relies on: a run moved in flight whose
        // receive ended meanwhile; its last event is recorded before the
        // refused ENABLE is handled.
        let mut s: Slots<Vec<u8>> = Slots::new();
        let (id, ptr) = stay_slot(&mut s, Vec::with_capacity(8));
        s.complete_run(id, Some(NaioOp::Recv), ok(1), false, true);
        let (_, buf) = take(&mut s, id).unwrap().into_parts();
        s.rearm(id, buf).unwrap();
        let cancelled = Err(io::Error::from_raw_os_error(libc::ECANCELED));
        s.complete_run(id, Some(NaioOp::Recv), cancelled, false, false);
        assert!(s.unrearm(id).is_none());
        let done = take(&mut s, id).unwrap();
        assert!(!done.stays());
        assert_eq!(done.buf().as_ptr() as usize, ptr);
        assert!(s.slot(id).is_none());
        // A plain receive has no run to start.
        let id = s
            .insert(Some(Vec::with_capacity(4)), NaioOp::Recv, 4, Token(0), None)
            .unwrap();
        let (e, _) = s.rearm(id, Vec::with_capacity(4)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unrearm_of_a_reused_slot_takes_nothing() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let (old, _) = stay_slot(&mut s, Vec::with_capacity(8));
        s.complete_run(old, Some(NaioOp::Recv), ok(1), false, false);
        assert_eq!(take(&mut s, old).unwrap().next_step(), NextStep::Done);
        // The index is reused with a new generation.
        let (new, ptr) = stay_slot(&mut s, Vec::with_capacity(8));
        assert_eq!(new.index(), old.index());
        assert!(s.unrearm(old).is_none());
        assert_eq!(s.buf_mut(new).unwrap().as_ptr() as usize, ptr);
        assert_eq!(s.in_flight(), 1);
    }

    #[test]
    fn a_receive_that_stays_ends_between_runs_or_before_its_take() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        // Ended between runs: the last event frees the slot, no buffer.
        let (id, _) = stay_slot(&mut s, Vec::with_capacity(8));
        s.complete_run(id, Some(NaioOp::Recv), ok(1), false, true);
        let (_, buf) = take(&mut s, id).unwrap().into_parts();
        assert!(matches!(
            s.complete_run(
                id,
                Some(NaioOp::Recv),
                Err(io::Error::from_raw_os_error(libc::ECANCELED)),
                false,
                false
            ),
            Completed::Abandoned(None)
        ));
        assert!(s.slot(id).is_none());
        assert_eq!(
            s.rearm(id, buf).unwrap_err().0.kind(),
            io::ErrorKind::NotFound
        );
        // Ended after a run's completion was recorded, before its take:
        // that completion is the last, with its bytes.
        let (id, _) = stay_slot(&mut s, Vec::with_capacity(8));
        s.complete_run(id, Some(NaioOp::Recv), ok(3), false, true);
        s.complete_run(
            id,
            Some(NaioOp::Recv),
            Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            false,
            false,
        );
        let done = take(&mut s, id).unwrap();
        assert!(!done.stays());
        assert_eq!(*done.result().as_ref().unwrap(), 3);
        assert!(s.slot(id).is_none());
        // A plain receive's event with the flag (no such kernel) stays a
        // plain completion.
        let id = s
            .insert(Some(Vec::with_capacity(4)), NaioOp::Recv, 4, Token(0), None)
            .unwrap();
        s.complete_run(id, Some(NaioOp::Recv), ok(0), true, true);
        assert!(!take(&mut s, id).unwrap().stays());
        assert!(s.slot(id).is_none());
    }

    #[test]
    fn next_step_says_rearm_only_for_a_run_with_data() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let (id, _) = stay_slot(&mut s, Vec::with_capacity(8));
        let step = |s: &mut Slots<Vec<u8>>, buf, result, eof, more| {
            s.rearm(id, buf).unwrap();
            s.complete_run(id, Some(NaioOp::Recv), result, eof, more);
            let done = take(s, id).unwrap();
            (done.next_step(), done.into_buf())
        };
        // The first run's data; an empty datagram (0 bytes without end of
        // file): rearm.
        s.complete_run(id, Some(NaioOp::Recv), ok(2), false, true);
        let done = take(&mut s, id).unwrap();
        assert_eq!(done.next_step(), NextStep::Rearm);
        let (next, buf) = step(&mut s, done.into_buf(), ok(0), false, true);
        assert_eq!(next, NextStep::Rearm);
        // End of file and an error leave it in place: cancel, not rearm.
        let (next, buf) = step(&mut s, buf, ok(0), true, true);
        assert_eq!(next, NextStep::Cancel);
        let reset = Err(io::Error::from_raw_os_error(libc::ECONNRESET));
        let (next, buf) = step(&mut s, buf, reset, false, true);
        assert_eq!(next, NextStep::Cancel);
        // Bytes moved before the end of file came in another run: this
        // one is data.
        let (next, buf) = step(&mut s, buf, ok(3), false, true);
        assert_eq!(next, NextStep::Rearm);
        // Its last completion (cancelled in flight), even with bytes:
        // done, the id free.
        let (next, _) = step(&mut s, buf, ok(1), false, false);
        assert_eq!(next, NextStep::Done);
        assert!(s.slot(id).is_none());
        // A plain receive at end of file, a send: done.
        let id = s
            .insert(Some(Vec::with_capacity(4)), NaioOp::Recv, 4, Token(0), None)
            .unwrap();
        s.complete(id, Some(NaioOp::Recv), ok(0), true);
        let done = take(&mut s, id).unwrap();
        assert!(done.is_eof());
        assert_eq!(done.next_step(), NextStep::Done);
        let id = s
            .insert(Some(vec![1]), NaioOp::Send, 1, Token(0), None)
            .unwrap();
        s.complete(id, Some(NaioOp::Send), ok(1), false);
        assert_eq!(take(&mut s, id).unwrap().next_step(), NextStep::Done);
    }

    #[test]
    fn data_borrows_the_bytes_moved() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let set_init = Some(<Vec<u8> as IoBufMut>::set_init as SetInit<Vec<u8>>);
        let id = s
            .insert(
                Some(Vec::with_capacity(8)),
                NaioOp::Recv,
                8,
                Token(0),
                set_init,
            )
            .unwrap();
        let p = s.buf_mut(id).unwrap().stable_mut_ptr();
        // SAFETY: the Vec has a capacity of 8.
        unsafe { std::ptr::copy_nonoverlapping(b"hey".as_ptr(), p, 3) };
        s.complete(id, Some(NaioOp::Recv), ok(3), false);
        let done = take(&mut s, id).unwrap();
        assert_eq!(done.data(), b"hey");
        assert_eq!(done.into_buf(), b"hey");
        // A send: the bytes sent, the first n of the buffer.
        let id = s
            .insert(Some(b"abcdef".to_vec()), NaioOp::Send, 6, Token(0), None)
            .unwrap();
        s.complete(id, Some(NaioOp::Send), ok(4), false);
        assert_eq!(take(&mut s, id).unwrap().data(), b"abcd");
        // An error: nothing.
        let id = s
            .insert(Some(b"abc".to_vec()), NaioOp::Send, 3, Token(0), None)
            .unwrap();
        let broken = Err(io::Error::from_raw_os_error(libc::EPIPE));
        s.complete(id, Some(NaioOp::Send), broken, false);
        assert!(take(&mut s, id).unwrap().data().is_empty());
        // A Box<[u8]> keeps its length: the count says how much is data.
        let mut b: Slots<Box<[u8]>> = Slots::new();
        let set_init = Some(<Box<[u8]> as IoBufMut>::set_init as SetInit<Box<[u8]>>);
        let id = b
            .insert(Some(vec![7; 4].into()), NaioOp::Recv, 4, Token(0), set_init)
            .unwrap();
        b.complete(id, Some(NaioOp::Recv), ok(2), false);
        let Some(Taken::Buf(done)) = b.poll(id, None, false) else {
            panic!("no completion");
        };
        assert_eq!((done.data(), done.buf().len()), (&[7, 7][..], 4));
    }

    #[test]
    fn receive_completion_sets_the_length() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let set_init = Some(<Vec<u8> as IoBufMut>::set_init as SetInit<Vec<u8>>);
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"old contents");
        let id = s
            .insert(Some(buf), NaioOp::Recv, 16, Token(0), set_init)
            .unwrap();
        // What the kernel would do: write 3 bytes at the start.
        let p = s.buf_mut(id).unwrap().stable_mut_ptr();
        // SAFETY: the Vec has a capacity of 16.
        unsafe { std::ptr::copy_nonoverlapping(b"abc".as_ptr(), p, 3) };
        assert!(matches!(
            s.complete(id, Some(NaioOp::Recv), ok(3), false),
            Completed::Stored(None)
        ));
        let (r, buf) = take(&mut s, id).unwrap().into_parts();
        assert_eq!((r.unwrap(), &buf[..]), (3, &b"abc"[..]));
        // End of file: 0 bytes, the EOF flag; the length becomes 0.
        let id = s
            .insert(Some(buf), NaioOp::Recv, 16, Token(0), set_init)
            .unwrap();
        s.complete(id, Some(NaioOp::Recv), ok(0), true);
        let done = take(&mut s, id).unwrap();
        assert!(done.is_eof());
        assert!(done.buf().is_empty());
        // More than the request's length: an error, the length untouched.
        let id = s
            .insert(Some(vec![9; 4]), NaioOp::Recv, 4, Token(0), set_init)
            .unwrap();
        s.complete(id, Some(NaioOp::Recv), ok(5), false);
        let (r, buf) = take(&mut s, id).unwrap().into_parts();
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("5 bytes for a request of 4"));
        assert_eq!(buf, vec![9; 4]);
        // An error keeps the buffer as it was.
        let id = s
            .insert(Some(vec![7; 2]), NaioOp::Recv, 2, Token(0), set_init)
            .unwrap();
        s.complete(
            id,
            Some(NaioOp::Recv),
            Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            false,
        );
        let (r, buf) = take(&mut s, id).unwrap().into_parts();
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(buf, vec![7; 2]);
    }

    #[test]
    fn abandoned_requests_free_their_buffer_on_completion() {
        use std::sync::Arc;
        let mut s: Slots<Box<[u8]>> = Slots::new();
        let marker = Arc::new(());
        let token = Arc::clone(&marker);
        let id = s
            .insert(Some(Box::new([0u8; 8])), NaioOp::Recv, 8, Token(0), None)
            .unwrap();
        // In flight: the buffer stays.
        assert!(s.abandon(id).is_none());
        assert_eq!(s.in_flight(), 1);
        assert!(take(&mut s, id).is_none(), "abandoned: nothing to take");
        match s.complete(id, Some(NaioOp::Recv), ok(8), false) {
            Completed::Abandoned(buf) => assert_eq!(buf.map(|b| b.len()), Some(8)),
            _ => panic!("not abandoned"),
        }
        assert_eq!(s.in_flight(), 0);
        assert!(matches!(
            s.complete(id, Some(NaioOp::Recv), ok(8), false),
            Completed::Stray
        ));
        // Completed but not taken: abandon frees it at once.
        let id = s
            .insert(Some(Box::new([1u8; 2])), NaioOp::Send, 2, Token(0), None)
            .unwrap();
        s.complete(id, Some(NaioOp::Send), ok(2), false);
        assert_eq!(s.abandon(id).as_deref(), Some(&[1u8, 1][..]));
        assert!(take(&mut s, id).is_none());
        drop(token);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn a_waker_is_stored_once_and_handed_to_the_completion() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut s: Slots<Vec<u8>> = Slots::new();
        let id = s
            .insert(Some(vec![1]), NaioOp::Send, 1, Token(0), None)
            .unwrap();
        assert!(s.poll(id, Some(&waker), false).is_none());
        assert!(s.poll(id, Some(&waker), false).is_none());
        assert_eq!(Arc::strong_count(&count), 3, "one clone kept, not two");
        match s.complete(id, Some(NaioOp::Send), ok(1), false) {
            Completed::Stored(Some(w)) => w.wake(),
            _ => panic!("no waker"),
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(s.poll(id, Some(&waker), false).is_some());
    }

    #[test]
    fn leaking_keeps_the_buffers_alive() {
        let marker = Arc::new(());
        let mut s: Slots<Held> = Slots::new();
        let a = s
            .insert(
                Some(Held(Arc::clone(&marker), vec![1])),
                NaioOp::Send,
                1,
                Token(0),
                None,
            )
            .unwrap();
        let b = s
            .insert(
                Some(Held(Arc::clone(&marker), vec![2])),
                NaioOp::Send,
                1,
                Token(0),
                None,
            )
            .unwrap();
        assert_eq!(s.in_flight_ids(), vec![a, b]);
        assert!(s.forget_request(a).is_some(), "gone from the kernel: freed");
        assert!(s.forget_request(a).is_none());
        assert_eq!(s.leak_in_flight(), 1);
        drop(s);
        assert_eq!(
            Arc::strong_count(&marker),
            2,
            "b's buffer was leaked, not freed"
        );
    }

    #[test]
    fn requests_fill_the_ukevent() {
        let id = RequestId::new(2, 1);
        let buf = [0u8; 10];
        let raw = request(
            NaioOp::Send,
            id,
            5,
            buf.as_ptr(),
            10,
            libc::MSG_NOSIGNAL as u32,
            Token(9),
        );
        assert_eq!(
            (raw.id, raw.type_, raw.event, raw.req_flags, raw.user_data),
            (1 << 32 | 2, sys::KEVENT_NAIO, sys::KEVENT_NAIO_SEND, 0, 9)
        );
        assert_eq!(raw.data, buf.as_ptr() as u64);
        // SAFETY: plain integers.
        let naio = unsafe { raw.__bindgen_anon_1.naio };
        assert_eq!(
            (naio.fd, naio.len, naio.msg_flags, naio.in_fd),
            (5, 10, libc::MSG_NOSIGNAL as u32, 0)
        );
        // A huge length is clamped to what the kernel takes.
        let raw = request(NaioOp::Recv, id, 5, buf.as_ptr(), usize::MAX, 0, Token(0));
        // SAFETY: plain integers.
        let naio = unsafe { raw.__bindgen_anon_1.naio };
        assert_eq!(naio.len as usize, MAX_REQUEST_LEN);
        // Within MAX_RW_COUNT (INT_MAX & PAGE_MASK) for pages of up to
        // 256 KiB, the largest Linux has.
        assert_eq!(naio.len, 0x7ffc_0000);
        for page_size in [4u32 << 10, 16 << 10, 64 << 10, 256 << 10] {
            assert!(naio.len <= i32::MAX as u32 & !(page_size - 1));
        }
        assert_eq!(raw.event, sys::KEVENT_NAIO_RECV);
        assert_eq!(
            (SendFlags::all().bits(), RecvFlags::all().bits()),
            (
                (libc::MSG_MORE | libc::MSG_NOSIGNAL | libc::MSG_EOR | libc::MSG_ZEROCOPY) as u32,
                libc::MSG_WAITALL as u32
            )
        );
    }

    #[test]
    fn sendfile_requests_fill_the_ukevent() {
        let id = RequestId::new(3, 2);
        let raw = sendfile_request(id, 5, 6, 1 << 40, 4096, SendfileFlags::MORE, Token(11));
        assert_eq!(
            (raw.id, raw.type_, raw.event, raw.req_flags, raw.user_data),
            (
                2 << 32 | 3,
                sys::KEVENT_NAIO,
                sys::KEVENT_NAIO_SENDFILE,
                0,
                11
            )
        );
        assert_eq!(sys::KEVENT_NAIO_SENDFILE, 4);
        // data is the offset, not an address.
        assert_eq!(raw.data, 1 << 40);
        // SAFETY: plain integers.
        let naio = unsafe { raw.__bindgen_anon_1.naio };
        assert_eq!(
            (naio.fd, naio.len, naio.msg_flags, naio.in_fd),
            (5, 4096, libc::MSG_MORE as u32, 6)
        );
        // No flags; a huge length is clamped as the others'.
        let raw = sendfile_request(id, 5, 0, 0, usize::MAX, SendfileFlags::empty(), Token(0));
        // SAFETY: plain integers.
        let naio = unsafe { raw.__bindgen_anon_1.naio };
        assert_eq!((naio.len, naio.msg_flags, raw.data), (0x7ffc_0000, 0, 0));
        assert_eq!(SendfileFlags::all().bits(), libc::MSG_MORE as u32);
        assert_eq!(NaioOp::Sendfile.raw(), sys::KEVENT_NAIO_SENDFILE);
        assert_eq!(
            NaioOp::from_raw(sys::KEVENT_NAIO_SENDFILE),
            Some(NaioOp::Sendfile)
        );
        assert_eq!(NaioOp::from_raw(8), None);
    }

    #[test]
    fn sendfile_slots_have_no_buffer() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let f = s
            .insert(None, NaioOp::Sendfile, 10, Token(5), None)
            .unwrap();
        let b = s
            .insert(Some(vec![1]), NaioOp::Send, 1, Token(6), None)
            .unwrap();
        assert!(s.buf_mut(f).is_none());
        // A send's completion does not fit the sendfile slot.
        assert!(matches!(
            s.complete(f, Some(NaioOp::Send), ok(10), false),
            Completed::Stray
        ));
        // More than the length asked for: an error.
        assert!(matches!(
            s.complete(f, Some(NaioOp::Sendfile), ok(3), true),
            Completed::Stored(None)
        ));
        s.complete(b, Some(NaioOp::Send), ok(1), false);
        // Each kind is taken by its own call; the other leaves it.
        assert!(take(&mut s, f).is_none(), "a sendfile taken as a buffer");
        assert!(s.poll(b, None, true).is_none());
        let Some(Taken::File(done)) = s.poll(f, None, true) else {
            panic!("no sendfile completion");
        };
        assert_eq!(
            (done.id(), done.token(), done.is_eof()),
            (f, Token(5), true)
        );
        assert_eq!(done.into_result().unwrap(), 3);
        assert!(s.poll(f, None, true).is_none(), "taken once");
        assert_eq!(take(&mut s, b).unwrap().into_parts().1, vec![1]);
        let f = s.insert(None, NaioOp::Sendfile, 4, Token(0), None).unwrap();
        s.complete(f, Some(NaioOp::Sendfile), ok(5), false);
        let Some(Taken::File(done)) = s.poll(f, None, true) else {
            panic!("no sendfile completion");
        };
        assert!(done
            .result()
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("5 bytes for a request of 4"));
        // Abandoned, forgotten, leaked: nothing to free, nothing counted.
        let f = s.insert(None, NaioOp::Sendfile, 4, Token(0), None).unwrap();
        assert!(s.abandon(f).is_none());
        assert!(matches!(
            s.complete(f, Some(NaioOp::Sendfile), ok(4), false),
            Completed::Abandoned(None)
        ));
        let f = s.insert(None, NaioOp::Sendfile, 4, Token(0), None).unwrap();
        assert!(s.forget_request(f).is_none());
        assert_eq!(s.in_flight(), 0);
        s.insert(None, NaioOp::Sendfile, 4, Token(0), None).unwrap();
        s.insert(Some(vec![2]), NaioOp::Send, 1, Token(0), None)
            .unwrap();
        assert_eq!(s.leak_in_flight(), 1, "only the send's buffer");
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn buffers_report_their_room() {
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(b"ab");
        assert_eq!((v.bytes_init(), v.bytes_total() >= 32), (2, true));
        assert_eq!(v.stable_ptr(), v.as_ptr());
        // SAFETY: 2 <= capacity, initialised.
        unsafe { v.set_init(1) };
        assert_eq!(v, b"a");
        let b: Box<[u8]> = vec![0; 5].into_boxed_slice();
        assert_eq!((b.bytes_init(), b.bytes_total()), (5, 5));
        let s: &'static str = "hey";
        assert_eq!((s.bytes_init(), s.bytes_total()), (3, 3));
        let st = String::from("xy");
        assert_eq!(st.bytes_init(), 2);
        // Moving a Vec keeps its bytes where they are.
        let p = v.stable_ptr();
        let moved = Box::new(v);
        assert_eq!(moved.stable_ptr(), p);
    }

    fn not_a_queue() -> Naio {
        Naio::on_a_pipe()
    }

    /// A buffer whose drop shows in its `Arc`'s count (the field is held
    /// for that count only).
    #[derive(Debug)]
    struct Held(#[allow(dead_code)] Arc<()>, Vec<u8>);

    // SAFETY: the Vec's heap bytes, as for Vec<u8>.
    unsafe impl IoBuf for Held {
        fn stable_ptr(&self) -> *const u8 {
            self.1.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.1.len()
        }
        fn bytes_total(&self) -> usize {
            self.1.capacity()
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap and fork")]
    fn a_child_of_fork_is_told_without_a_system_call() {
        let check = ForkCheck::new();
        assert!(check.marker.is_some(), "MADV_WIPEONFORK is refused here");
        // The fallback where the advice fails: the process id.
        let by_pid = ForkCheck {
            marker: None,
            pid: std::process::id(),
        };
        assert!(!check.forked() && !by_pid.forked());
        let code =
            crate::in_a_child(|| i32::from(!check.forked()) | i32::from(!by_pid.forked()) << 1);
        assert_eq!(code, 0, "a child not told (1: the page, 2: the pid)");
        assert!(
            !check.forked() && !by_pid.forked(),
            "the parent's mark is kept"
        );
    }

    /// A `Naio` copied into a child refuses to wait or cancel, and its
    /// drop there neither calls the kernel (on the host, a call would
    /// fail anyway) nor takes the slot table's lock, which a thread of
    /// the parent may have held at the fork (here the forking thread
    /// does): it frees the child's copies of the buffers and returns.
    #[test]
    #[cfg_attr(miri, ignore = "mmap and fork")]
    fn a_copy_in_a_child_waits_on_nothing_and_drops_without_calls() {
        let marker = Arc::new(());
        let naio: Naio<Held> = Naio::on_a_pipe();
        let id = naio.fake_in_flight(
            Some(Held(Arc::clone(&marker), Vec::with_capacity(8))),
            NaioOp::Recv,
            8,
        );
        let held = naio.lock();
        let code = crate::in_a_child(|| {
            let mut events = Events::with_capacity(4);
            let forked = |kind: io::ErrorKind, words: String| {
                kind == io::ErrorKind::Unsupported && words.contains("fork")
            };
            let mut code = 0;
            match naio.wait(&mut events, Some(Duration::ZERO)) {
                Err(e) if forked(e.kind(), e.to_string()) => {}
                _ => code |= 1,
            }
            match naio.cancel(id) {
                Err(e) if forked(e.kind(), e.to_string()) => {}
                _ => code |= 2,
            }
            // SAFETY: the child's copy is read out once and dropped here;
            // the original is never dropped in the child (_exit).
            let copy = unsafe { std::ptr::read(&naio) };
            if copy.close() != 0 {
                code |= 4;
            }
            if Arc::strong_count(&marker) != 1 {
                code |= 8;
            }
            code
        });
        drop(held);
        assert_eq!(
            code, 0,
            "1: wait not refused, 2: cancel not refused, 4: close leaked, 8: buffer not freed"
        );
        // The parent's request and buffer are untouched.
        assert_eq!((naio.in_flight(), Arc::strong_count(&marker)), (1, 2));
        let completed = naio.lock().complete(id, Some(NaioOp::Recv), ok(3), false);
        assert!(matches!(completed, Completed::Stored(None)));
        let done = naio.take_id(id).unwrap();
        assert_eq!(*done.result().as_ref().unwrap(), 3);
        drop(done);
        assert_eq!(Arc::strong_count(&marker), 1);
        assert_eq!(naio.close(), 0);
    }

    /// An ENABLE entry for `id` as the kernel wrote it back: `None` not
    /// applied, `Some(0)` done, `Some(errno)` refused.
    fn enable_entry(id: RequestId, result: Option<i32>) -> sys::ukevent {
        let mut raw = Key::from(id).raw();
        match result {
            None => {}
            Some(0) => raw.ret_flags = sys::KEVENT_RET_DONE,
            Some(errno) => {
                raw.ret_flags = sys::KEVENT_RET_DONE | sys::KEVENT_RET_BROKEN;
                raw.ret_data[1] = errno.wrapping_neg() as u32;
            }
        }
        raw
    }

    #[test]
    fn settled_enables_give_refused_runs_back_with_token_and_why() {
        let mut s: Slots<Vec<u8>> = Slots::new();
        let ids: Vec<RequestId> = (0..5)
            .map(|_| {
                let (id, _) = stay_slot(&mut s, Vec::with_capacity(8));
                s.complete_run(id, Some(NaioOp::Recv), ok(1), false, true);
                let buf = take(&mut s, id).unwrap().into_buf();
                s.rearm(id, buf).unwrap();
                id
            })
            .collect();
        assert_eq!(s.in_flight(), 5);
        let raw = [
            enable_entry(ids[0], Some(0)),
            enable_entry(ids[1], Some(libc::EBUSY)),
            enable_entry(ids[2], None),
            enable_entry(ids[3], Some(libc::ENOENT)),
            enable_entry(ids[4], None),
        ];
        // The last one's receive ended meanwhile: its last completion has
        // the buffer, not refused.
        s.complete_run(ids[3], Some(NaioOp::Recv), ok(2), false, false);
        let mut refused = Vec::new();
        s.settle_enables(&raw, false, &mut refused);
        let got: Vec<_> = refused
            .iter()
            .map(|r| {
                let interrupted = r.error.kind() == io::ErrorKind::Interrupted;
                (r.id, r.token, r.error.raw_os_error(), interrupted)
            })
            .collect();
        assert_eq!(
            got,
            [
                (ids[1], Some(Token(4)), Some(libc::EBUSY), false),
                (ids[2], Some(Token(4)), None, true),
                (ids[4], Some(Token(4)), None, true),
            ]
        );
        assert!(refused.iter().all(|r| r.error.command() == Command::Enable));
        assert!(refused[1].error.to_string().contains("rearm it again"));
        // Between runs again; the started one and the ended one in flight
        // or done.
        assert_eq!(s.in_flight(), 1);
        assert_eq!(take(&mut s, ids[3]).unwrap().next_step(), NextStep::Done);
        // Unsure (EFAULT): an entry without a result stays in flight.
        let mut refused = Vec::new();
        let (id, _) = stay_slot(&mut s, Vec::with_capacity(8));
        s.settle_enables(&[enable_entry(id, None)], true, &mut refused);
        assert!(refused.is_empty());
        assert_eq!(s.in_flight(), 2);
        // An id the table does not know: no token.
        assert_eq!(s.token_of(RequestId::new(99, 0)), None);
    }

    #[test]
    fn enables_beyond_a_wait_go_first_in_batches_of_max() {
        let mut raw: Vec<sys::ukevent> = (0..7).map(|i| Key::naio(i).raw()).collect();
        let (mut calls, mut settled) = (Vec::new(), Vec::new());
        enable_surplus(
            &mut raw,
            2,
            |batch| {
                calls.push(batch.iter().map(|r| r.id).collect::<Vec<_>>());
                for r in batch.iter_mut() {
                    r.ret_flags = sys::KEVENT_RET_DONE;
                }
                Ok(batch.len())
            },
            |batch, unsure| settled.push((batch.len(), unsure)),
        )
        .unwrap();
        // The first two are the wait's; the rest in calls of at most two.
        assert_eq!(calls, [vec![2, 3], vec![4, 5], vec![6]]);
        assert_eq!(settled, [(2, false), (2, false), (1, false)]);
        assert!(raw[..2].iter().all(|r| r.ret_flags == 0));
        // A call that fails: its batch (unsure for EFAULT), then the rest
        // as not applied; no call after it.
        for (errno, unsure) in [(libc::EFAULT, true), (libc::EBADF, false)] {
            let mut raw: Vec<sys::ukevent> = (0..7).map(|i| Key::naio(i).raw()).collect();
            let (mut calls, mut settled) = (0, Vec::new());
            let e = enable_surplus(
                &mut raw,
                2,
                |_| {
                    calls += 1;
                    if calls == 2 {
                        Err(io::Error::from_raw_os_error(errno))
                    } else {
                        Ok(2)
                    }
                },
                |batch, unsure| settled.push((batch[0].id, batch.len(), unsure)),
            )
            .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(errno));
            assert_eq!(calls, 2);
            assert_eq!(settled, [(2, 2, false), (4, 2, unsure), (6, 1, false)]);
        }
        // No more than a wait takes: no call.
        let mut raw: Vec<sys::ukevent> = (0..2).map(|i| Key::naio(i).raw()).collect();
        enable_surplus(&mut raw, 2, |_| unreachable!(), |_, _| unreachable!()).unwrap();
    }

    #[test]
    fn the_recv_stays_flag_is_kevent_ev_more_and_keeps_the_receive() {
        assert_eq!(
            u32::from(EventFlags::RECV_STAYS.bits()),
            sys::KEVENT_EV_MORE
        );
        let naio = not_a_queue();
        let (id, _) = stay_slot(&mut naio.lock(), Vec::with_capacity(8));
        let event = |flags: u32| Event {
            raw: sys::kevent_event {
                id: id.raw(),
                data: 1,
                events: sys::KEVENT_NAIO_RECV,
                type_: sys::KEVENT_NAIO as u16,
                flags: flags as u16,
                ..Default::default()
            },
        };
        // With the flag: a run; the receive stays, to rearm.
        naio.record_one(&event(sys::KEVENT_EV_MORE));
        let done = naio.take_id(id).unwrap();
        assert!(done.stays());
        assert_eq!(done.next_step(), NextStep::Rearm);
        // Without it: the last; gone.
        naio.lock().rearm(id, done.into_buf()).unwrap();
        naio.record_one(&event(0));
        let done = naio.take_id(id).unwrap();
        assert_eq!((done.stays(), done.next_step()), (false, NextStep::Done));
        assert_eq!(naio.in_flight(), 0);
        assert_eq!(naio.close(), 0);
    }

    #[test]
    fn empty_buffers_are_refused_before_any_system_call() {
        let naio = not_a_queue();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let e = naio
            .send(&a, Vec::with_capacity(8), SendFlags::empty(), Token(1))
            .unwrap_err();
        assert_eq!(e.error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.buf.capacity(), 8, "the buffer comes back");
        assert!(e.to_string().contains("at least 1 initialised byte"), "{e}");
        let e = naio
            .recv(&a, Vec::new(), RecvFlags::empty(), Token(1))
            .unwrap_err();
        assert_eq!(e.error.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("room for at least 1 byte"), "{e}");
        assert_eq!(naio.in_flight(), 0);
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::InvalidInput);
        assert_eq!(naio.close(), 0);
    }

    #[test]
    fn sendfiles_out_of_range_are_refused_before_any_system_call() {
        let naio = not_a_queue();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let refused = |offset: u64, len: usize| {
            let e = naio
                .sendfile(&a, &file, offset, len, SendfileFlags::empty(), Token(1))
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(e.raw_os_error(), None, "not the kernel's");
            e.to_string()
        };
        let m = refused(0, 0);
        assert!(m.contains("a length of at least 1 byte"), "{m}");
        let m = refused(i64::MAX as u64 + 1, 1);
        assert!(m.contains("offset must be at most i64::MAX"), "{m}");
        let m = refused(u64::MAX, 1);
        assert!(m.contains("offset must be at most i64::MAX"), "{m}");
        let m = refused(i64::MAX as u64, 1);
        assert!(m.contains("range (offset + len)"), "{m}");
        // The length as clamped counts: MAX_REQUEST_LEN past the offset.
        let m = refused(i64::MAX as u64 - MAX_REQUEST_LEN as u64 + 1, usize::MAX);
        assert!(m.contains("range (offset + len)"), "{m}");
        assert_eq!(naio.in_flight(), 0);
        assert_eq!(naio.close(), 0);
    }
}
