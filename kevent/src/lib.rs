//! Safe Rust API for kevent, the unified Linux event queue (ABI v2).
//!
//! A kevent [`Queue`] lets one thread wait, with one call, for readiness of
//! any pollable file, timers, events triggered by other threads, signals
//! sent to the process, process exits, changes of files and directories,
//! socket readiness with its amounts, and the completions of network I/O
//! requests whose buffers the queue owns until they complete. The
//! queue is created with `kevent_create()` on a kernel built with the
//! kevent patch series (the kevent repository's `kernel-patches/`, on
//! Linux 6.12: the crate's README says where and how to boot it). Before
//! its first kevent system call the
//! crate probes the kernel once ([`features`]); on a kernel without kevent
//! ABI v2 every constructor fails with [`std::io::ErrorKind::Unsupported`]
//! and says how to run the patched one.
//!
//! - [`Kevent`] builds kevents: [`Kevent::poll`] (borrowing the
//!   descriptor), [`Kevent::timer`] (periodic, with
//!   [`start_after`](Kevent::start_after) or [`start_at`](Kevent::start_at)
//!   a [`Deadline`]), [`Kevent::timer_after`] and [`Kevent::timer_at`]
//!   (one expiry), [`Kevent::user`], [`Kevent::signal`] (with
//!   [`consume`](Kevent::consume)), [`Kevent::process`] (a pidfd),
//!   [`Kevent::process_pid`], [`Kevent::inode`] (a file or directory,
//!   [`InodeEvents`]) and [`Kevent::socket`] ([`SocketEvents`], with the
//!   amounts), with a [`Token`] and
//!   [`oneshot`](Kevent::oneshot), [`dispatch`](Kevent::dispatch),
//!   [`disabled`](Kevent::disabled), [`update`](Kevent::update),
//!   [`fd_close`](Kevent::fd_close), [`edge`](Kevent::edge) and
//!   [`wake_all`](Kevent::wake_all).
//! - [`Queue::add`], [`Queue::modify`] and [`Queue::remove`] (by [`Key`])
//!   change one kevent without allocating; [`Queue::add_fd`],
//!   [`Queue::modify_fd`] and [`Queue::register`] (a guard that removes
//!   the kevent before its descriptor closes) are the short forms for
//!   descriptors; [`Queue::add_all`] and the other `*_all` take batches and
//!   report every entry ([`BatchResult`]); [`Queue::enable`] and
//!   [`Queue::disable`] switch a kevent on and off; [`Queue::trigger`] and
//!   a [`Waker`] fire a user event.
//! - [`Queue::wait`] fills a reusable [`Events`] buffer with [`Event`]s
//!   (dispatch on [`Event::token`]; [`Event::is_readable`] and friends
//!   read the readiness, [`Event::count`] the timer, user, signal or
//!   inode change count, [`Event::exit_status`] a process's `wait` status,
//!   [`Event::inode_events`] a file's changes, [`Event::recv_amount`] and
//!   [`Event::send_space`] a socket's); [`Queue::wait_with`] takes a [`Wait`] (deadline
//!   on a clock, minimum number of events, signal mask); a [`Ring`] gets
//!   events copied into memory of ours and drained without system calls.
//! - Network I/O (`KEVENT_NAIO`, the kernel side is a draft): a [`Naio`]
//!   queue takes [`send`](Naio::send) and [`recv`](Naio::recv) requests
//!   with an owned buffer ([`IoBuf`], [`IoBufMut`]: `Vec<u8>`,
//!   `Box<[u8]>`...), keeps the buffer until the kernel reports the
//!   request's completion ([`Naio::wait`]), and hands it back with the
//!   result ([`Naio::take`], a [`Completion`]); [`Naio::sendfile`] sends a
//!   file's pages over a stream socket without copying them and without
//!   a buffer ([`Naio::take_sendfile`], a [`SendfileCompletion`]);
//!   [`Event::naio_result`] reads a completion's result. With the `tokio` feature,
//!   `AsyncNaio` makes them futures: `let (res, buf) =
//!   naio.recv(&socket, buf).await`. See [`naio`] for why no buffer can
//!   be freed while the kernel may use it.
//! - Features: `mio` (the queue as a `mio::event::Source`) and `tokio`
//!   (`AsyncQueue`, waiting in an async task; `AsyncNaio`).
//!
//! ```no_run
//! use std::time::Duration;
//! use kevent::{Events, Kevent, Queue, Token};
//!
//! let queue = Queue::new()?;
//! queue.add(Kevent::timer_after(1, Duration::from_millis(5)).token(Token(1)))?;
//! queue.add(Kevent::user(2).token(Token(2)))?;
//! queue.trigger(2)?;
//! let mut events = Events::with_capacity(8);
//! let mut seen = 0;
//! while seen < 2 {
//!     queue.wait(&mut events, None)?;
//!     for event in &events {
//!         match event.token() {
//!             Token(1) => println!("timer"),
//!             Token(2) => println!("triggered"),
//!             _ => unreachable!(),
//!         }
//!         seen += 1;
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The crate is for Linux only, on a kernel with the kevent series.

#![deny(missing_docs)]
// docs.rs (package.metadata.docs.rs) marks the feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

#[cfg(not(target_os = "linux"))]
compile_error!("kevent is a Linux interface: this crate builds for Linux targets only");

mod changes;
mod error;
mod flags;
mod interest;
pub mod naio;
mod probe;
mod queue;
mod registered;
mod ring;
mod wait;
mod waker;

#[cfg(feature = "mio")]
mod mio_source;
#[cfg(feature = "tokio")]
mod tokio_naio;
#[cfg(feature = "tokio")]
mod tokio_queue;

pub use changes::Changes;
pub use error::{Command, Error};
pub use flags::{
    EventFlags, InodeEvents, PollFlags, QueueFlags, RecvFlags, ReqFlags, SendFlags, SendfileFlags,
    SocketEvents,
};
pub use interest::{Clock, Deadline, Event, Kevent, Key, Kind, Token};
pub use naio::{
    Completion, IoBuf, IoBufMut, Naio, NaioDrain, NaioOp, NextStep, Refused, RequestId,
    SendfileCompletion, Sent, SubmitError, MAX_REQUEST_LEN,
};
pub use probe::{features, is_supported, Features};
pub use queue::{BatchResult, Events, Iter, Queue};
pub use registered::{DeregisterError, RegisterError, Registered};
pub use ring::{Drain, QueueRef, Ring, RingBuilder};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio_naio::{AsyncNaio, Op, SendfileOp};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio_queue::AsyncQueue;
pub use wait::Wait;
pub use waker::Waker;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `Send` and `Sync` as documented: checked at compile time.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Queue>();
    send_sync::<Events>();
    send_sync::<Event>();
    send_sync::<Kevent<'static>>();
    send_sync::<BatchResult>();
    send_sync::<Error>();
    send_sync::<Waker>();
    send::<Ring<Queue>>();
    send::<Ring<std::sync::Arc<Queue>>>();
    send_sync::<Naio>();
    send_sync::<Naio<Box<[u8]>>>();
    send_sync::<Completion<Vec<u8>>>();
    send_sync::<SendfileCompletion>();
    send_sync::<SubmitError<Vec<u8>>>();
    send_sync::<Refused<Vec<u8>>>();
    #[cfg(feature = "tokio")]
    send_sync::<AsyncNaio>();
    #[cfg(feature = "tokio")]
    send_sync::<Op<'static, Vec<u8>>>();
};

/// Forks, for the tests of what a child of `fork` sees (naio's and the
/// ring's): the child runs `child` (with an alarm, so that a hang is a
/// failure, not a stuck test) and exits with its code. Returns the
/// child's exit code.
#[cfg(test)]
pub(crate) fn in_a_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `child`, which takes no lock another
    // thread may hold (glibc's malloc is ready again in a child), and
    // _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: no memory is passed.
        unsafe { libc::alarm(10) };
        let code = child();
        // SAFETY: ends the child without running the parent's
        // destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child died of signal {} (14: SIGALRM, it hung)",
        libc::WTERMSIG(status)
    );
    libc::WEXITSTATUS(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevent_sys as sys;
    use std::time::Duration;

    #[test]
    fn no_kevent_error_says_what_to_do() {
        if is_supported() {
            return;
        }
        for err in [
            Queue::new().unwrap_err(),
            Queue::with_flags(QueueFlags::NONBLOCK).unwrap_err(),
            features().unwrap_err(),
        ] {
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
            let msg = err.to_string();
            assert!(
                msg.contains("no kevent ABI v2 (probe: ") && msg.contains("kevent patch series"),
                "{msg}"
            );
        }
    }

    fn probe_answer(magic: u32, version: u32) -> sys::kevent_probe {
        sys::kevent_probe {
            magic,
            version,
            types: 1 << sys::KEVENT_TIMER | 1 << sys::KEVENT_POLL | 1 << sys::KEVENT_USER,
            req_flags: 0x7f,
            cmds: 0x7f,
            wait_flags: 1,
            max_batch: 4096,
            ring_max_entries: 65536,
            event_size: 32,
            ..Default::default()
        }
    }

    #[test]
    fn probe_answers_are_checked() {
        let good = probe_answer(sys::KEVENT_PROBE_MAGIC, 2);
        let f = Features::from_probe(Ok(64), &good).unwrap();
        assert_eq!(
            (f.version, f.max_batch, f.ring_max_entries),
            (2, 4096, 65536)
        );
        assert!(f.supports(Kind::Poll) && f.supports(Kind::Timer) && f.supports(Kind::User));
        assert!(!f.supports(Kind::Socket) && !f.supports(Kind::Other(200)));
        assert!(f.supports_flags(ReqFlags::DISPATCH | ReqFlags::FD_CLOSE));
        assert!(f.supports_command(sys::KEVENT_CTL_PROBE));
        // req_flags 0x7f: no KEVENT_REQ_INLINE; a probe that has it says so.
        assert!(!f.completes_inline);
        let inline = sys::kevent_probe {
            req_flags: 0x7f | sys::KEVENT_REQ_INLINE,
            ..good
        };
        assert!(
            Features::from_probe(Ok(64), &inline)
                .unwrap()
                .completes_inline
        );
        let why = |ret, p: &sys::kevent_probe| Features::from_probe(ret, p).unwrap_err();
        assert!(why(Err(sys::Error::Errno(libc::ENOSYS)), &good).contains("not implemented"));
        assert!(why(Ok(64), &probe_answer(0, 2)).contains("magic 0x0"));
        assert!(why(Ok(64), &probe_answer(sys::KEVENT_PROBE_MAGIC, 1)).contains("version 1"));
        assert!(why(
            Ok(64),
            &sys::kevent_probe {
                max_batch: 0,
                ..good
            }
        )
        .contains("max_batch 0"));
        let msg = probe::unsupported_message("x");
        assert!(msg.starts_with("this kernel has no kevent ABI v2 (probe: x): boot a kernel with"));
    }

    #[test]
    fn builders_fill_the_request() {
        let t = Kevent::timer(9, Duration::from_micros(250))
            .oneshot()
            .user_data(5);
        assert_eq!(t.kind(), Kind::Timer);
        assert_eq!(t.id(), 9);
        assert_eq!(t.raw.data, 250_000);
        assert_eq!(t.raw.event, sys::KEVENT_TIMER_FIRED);
        assert_eq!(t.flags(), ReqFlags::ONESHOT);
        assert_eq!(t.raw.user_data, 5);
        // SAFETY: never added.
        let p = unsafe { Kevent::poll_raw(3, PollFlags::IN | PollFlags::OUT) }
            .edge()
            .wake_all();
        assert_eq!(p.kind(), Kind::Poll);
        assert_eq!(p.raw.event, (libc::EPOLLIN | libc::EPOLLOUT) as u32);
        assert_eq!(p.flags(), ReqFlags::EDGE | ReqFlags::WAKEUP_ALL);
        // SAFETY: plain integers.
        assert_eq!(unsafe { p.raw.__bindgen_anon_1.__reserved }, [0; 4]);
        let key = p.key().raw();
        assert_eq!((key.event, key.req_flags, key.data), (0, 0, 0));
        assert_eq!((key.id, key.type_), (3, sys::KEVENT_POLL));
        assert_eq!(p.key(), Key::poll(3));
        // A huge period is clamped to KTIME_MAX (the kernel's most)
        // instead of wrapping.
        assert_eq!(Kevent::timer(1, Duration::MAX).raw.data, i64::MAX as u64);
        assert_eq!(Kind::from_raw(99), Kind::Other(99));
        let all = Kevent::user(1).dispatch().disabled().update();
        assert_eq!(
            all.raw.req_flags,
            sys::KEVENT_REQ_DISPATCH | sys::KEVENT_REQ_DISABLED | sys::KEVENT_REQ_UPDATE
        );
        // SAFETY: never added.
        let p = unsafe { Kevent::poll_raw(1, PollFlags::IN) };
        assert_eq!(p.fd_close().flags(), ReqFlags::FD_CLOSE);
        // A borrowed descriptor's request.
        let stdin = std::io::stdin();
        let p = Kevent::poll(std::os::fd::AsFd::as_fd(&stdin), PollFlags::IN).token(Token(3));
        assert_eq!((p.id(), p.get_token()), (0, Token(3)));
        assert_eq!(p.raw.user_data, 3);
    }

    fn timer_fields(i: &Kevent<'_>) -> (u64, u32, u32) {
        // SAFETY: plain integers.
        let t = unsafe { i.raw.__bindgen_anon_1.timer };
        (t.start, t.clock, t.flags)
    }

    #[test]
    fn timer_start_and_clock() {
        let ms = Duration::from_millis(1);
        let t = Kevent::timer(1, 10 * ms);
        assert_eq!(timer_fields(&t), (0, sys::KEVENT_CLOCK_MONOTONIC, 0));
        let t = t.start_after(3 * ms).clock(Clock::Boottime);
        assert_eq!(timer_fields(&t), (3_000_000, sys::KEVENT_CLOCK_BOOTTIME, 0));
        assert_eq!(t.raw.data, 10_000_000);
        let t = Kevent::timer_at(1, Deadline::at(Clock::Realtime, 5 * ms));
        assert_eq!(
            timer_fields(&t),
            (
                5_000_000,
                sys::KEVENT_CLOCK_REALTIME,
                sys::KEVENT_TIMER_ABSTIME
            )
        );
        assert_eq!(t.raw.data, 0, "period 0: a single expiry");
        // Back to relative; "now" is 1 ns, since 0 means "one period".
        let t = t.start_after(Duration::ZERO);
        assert_eq!(timer_fields(&t), (1, sys::KEVENT_CLOCK_REALTIME, 0));
        assert!(format!("{t:?}").contains("start: 1"));
        // A delay is a start, not a period.
        let t = Kevent::timer_after(2, 7 * ms);
        assert_eq!(t.raw.data, 0);
        assert_eq!(
            timer_fields(&t),
            (7_000_000, sys::KEVENT_CLOCK_MONOTONIC, 0)
        );
        let t = Kevent::timer_after(2, Duration::ZERO);
        assert_eq!(timer_fields(&t).0, 1, "at once, not one period");
    }

    #[test]
    #[should_panic(expected = "Deadline gives")]
    fn clock_after_an_absolute_start_panics() {
        let _ = Kevent::timer_at(1, Deadline::at(Clock::Realtime, Duration::from_secs(1)))
            .clock(Clock::Monotonic);
    }

    #[test]
    fn deadlines() {
        let ms = Duration::from_millis(1);
        // An hour away, and bounds from clock reads taken around each
        // call: nothing here may depend on how soon this thread runs
        // again (a loaded machine stalls it for 50 ms and more).
        let hour = Duration::from_secs(3600);
        let before = Clock::Monotonic.now();
        let d = Deadline::after(hour);
        let after = Clock::Monotonic.now();
        assert_eq!(d.clock(), Clock::Monotonic);
        assert!(d.time() >= before + hour && d.time() <= after + hour);
        assert!(!d.has_passed());
        assert!(d.remaining() <= hour && d.remaining() > Duration::ZERO);
        let past = Deadline::at(Clock::Boottime, Duration::from_secs(1));
        assert!(past.has_passed());
        assert_eq!(past.remaining(), Duration::ZERO);
        // From an Instant: the same moment on CLOCK_MONOTONIC (the clock
        // Instant reads), between the clock reads before the Instant and
        // after the conversion.
        let before = Clock::Monotonic.now();
        let i = std::time::Instant::now() + 100 * ms;
        let d = Deadline::from(i);
        let after = Clock::Monotonic.now();
        assert!(
            d.time() >= before + 100 * ms && d.time() <= after + 100 * ms,
            "{:?} not in {:?}..{:?}",
            d.time(),
            before + 100 * ms,
            after + 100 * ms
        );
        let earlier = Deadline::from(std::time::Instant::now() - 10 * ms);
        assert!(earlier.has_passed());
        // Saturates instead of overflowing.
        assert_eq!(Deadline::after(Duration::MAX).time(), Duration::MAX);
    }

    #[test]
    fn wait_arguments() {
        let ms = Duration::from_millis(1);
        // The kernel's default needs no arguments at all.
        assert!(Wait::forever().raw(8).is_none());
        assert!(Wait::new(None).min(1).raw(8).is_none());
        let a = Wait::forever().min(4).raw(8).unwrap();
        assert_eq!(a.timeout_ns, sys::KEVENT_TIMEOUT_INFINITE);
        assert_eq!((a.min_nr, a.flags, a.sigmask, a.sigmask_size), (4, 0, 0, 0));
        // min is clamped to the buffer: min_nr > max_nr is EINVAL.
        assert_eq!(Wait::forever().min(100).raw(8).unwrap().min_nr, 8);
        let a = Wait::timeout(3 * ms).raw(8).unwrap();
        assert_eq!(
            (a.timeout_ns, a.clock, a.flags, a.min_nr),
            (3_000_000, 0, 0, 1)
        );
        assert_eq!(Wait::timeout(Duration::ZERO).raw(8).unwrap().timeout_ns, 0);
        assert_ne!(
            Wait::timeout(Duration::MAX).raw(8).unwrap().timeout_ns,
            sys::KEVENT_TIMEOUT_INFINITE,
            "a long timeout is never infinite by accident"
        );
        let a = Wait::deadline(Deadline::at(Clock::Boottime, 7 * ms))
            .raw(8)
            .unwrap();
        assert_eq!(
            (a.timeout_ns, a.clock, a.flags),
            (
                7_000_000,
                sys::KEVENT_CLOCK_BOOTTIME,
                sys::KEVENT_WAIT_ABSTIME
            )
        );
        let a = Wait::timeout(ms).clock(Clock::Realtime).raw(8).unwrap();
        assert_eq!((a.clock, a.flags), (sys::KEVENT_CLOCK_REALTIME, 0));
        // SAFETY: zeroed is a valid (empty) sigset_t.
        let mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        let a = Wait::forever().sigmask(&mask).raw(8).unwrap();
        assert_eq!(a.sigmask, &mask as *const libc::sigset_t as u64);
        assert_eq!(a.sigmask_size, 8, "the kernel's sigset_t, not libc's");
        assert_eq!(a.timeout_ns, sys::KEVENT_TIMEOUT_INFINITE);
        let w: Wait = Some(ms).into();
        assert_eq!(w.raw(1).unwrap().timeout_ns, 1_000_000);
    }

    #[test]
    fn events_read_the_reported_record() {
        let raw = sys::kevent_event {
            user_data: 7,
            id: 3,
            data: libc::ECONNRESET as u64,
            events: (libc::EPOLLIN | libc::EPOLLERR) as u32,
            type_: sys::KEVENT_POLL as u16,
            flags: (sys::KEVENT_EV_EOF | sys::KEVENT_EV_ERROR) as u16,
        };
        let e = Event { raw };
        assert_eq!(
            (e.kind(), e.id(), e.user_data(), e.data()),
            (Kind::Poll, 3, 7, 104)
        );
        assert!(e.readiness().contains(PollFlags::IN | PollFlags::ERR));
        assert!(e.is_eof() && e.is_error());
        assert_eq!(e.error().unwrap().raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(e.key(), Key::poll(3));
        let t = Event {
            raw: sys::kevent_event {
                data: 5,
                type_: sys::KEVENT_TIMER as u16,
                ..Default::default()
            },
        };
        assert_eq!((t.kind(), t.count()), (Kind::Timer, 5));
        assert!(!t.is_eof() && !t.is_error() && t.error().is_none());
        assert_eq!(t.flags(), EventFlags::empty());
        // Readiness helpers are for poll kevents: a timer's "fired" bit is
        // EPOLLIN's value, yet not readable.
        let t = Event {
            raw: sys::kevent_event {
                events: sys::KEVENT_TIMER_FIRED,
                type_: sys::KEVENT_TIMER as u16,
                ..Default::default()
            },
        };
        assert!(!t.is_readable() && !t.is_writable() && !t.is_read_closed());
        let poll = |bits: i32| Event {
            raw: sys::kevent_event {
                events: bits as u32,
                type_: sys::KEVENT_POLL as u16,
                user_data: 9,
                ..Default::default()
            },
        };
        let e = poll(libc::EPOLLIN);
        assert!(e.is_readable() && !e.is_writable() && !e.is_read_closed() && !e.is_error());
        assert_eq!(e.token(), Token(9));
        let e = poll(libc::EPOLLOUT);
        assert!(!e.is_readable() && e.is_writable() && !e.is_write_closed());
        let e = poll(libc::EPOLLIN | libc::EPOLLRDHUP);
        assert!(e.is_readable() && e.is_read_closed() && !e.is_write_closed());
        assert!(
            !poll(libc::EPOLLRDHUP).is_read_closed(),
            "RDHUP alone: not (mio)"
        );
        let e = poll(libc::EPOLLHUP);
        assert!(e.is_read_closed() && e.is_write_closed());
        let e = poll(libc::EPOLLERR);
        assert!(e.is_error() && e.is_write_closed() && !e.is_read_closed());
        assert!(poll(libc::EPOLLPRI).is_priority() && poll(libc::EPOLLPRI).is_readable());
    }

    #[test]
    fn naio_events_map_the_result() {
        let ev = |events: u32, data: i64, flags: u32| Event {
            raw: sys::kevent_event {
                id: 1 << 32 | 4,
                user_data: 8,
                data: data as u64,
                events,
                type_: sys::KEVENT_NAIO as u16,
                flags: flags as u16,
            },
        };
        let sent = ev(sys::KEVENT_NAIO_SEND, 100, 0);
        assert_eq!(sent.kind(), Kind::Naio);
        assert_eq!(Kind::from_raw(5), Kind::Naio);
        assert_eq!(Kind::Naio.raw(), 5);
        assert_eq!(sent.naio_op(), Some(NaioOp::Send));
        assert_eq!(sent.naio_result().unwrap().unwrap(), 100);
        assert!(sent.error().is_none());
        assert_eq!(sent.key(), Key::naio(1 << 32 | 4));
        assert_eq!(RequestId::of(&sent).unwrap().raw(), 1 << 32 | 4);
        let eof = ev(sys::KEVENT_NAIO_RECV, 0, sys::KEVENT_EV_EOF);
        assert_eq!(eof.naio_op(), Some(NaioOp::Recv));
        assert_eq!(eof.naio_result().unwrap().unwrap(), 0);
        assert!(eof.is_eof());
        let cancelled = ev(
            sys::KEVENT_NAIO_RECV,
            -(libc::ECANCELED as i64),
            sys::KEVENT_EV_ERROR,
        );
        let e = cancelled.naio_result().unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(
            cancelled.error().unwrap().raw_os_error(),
            Some(libc::ECANCELED)
        );
        assert!(cancelled.is_error());
        // Not a negative errno with the error flag, or a negative count
        // without it: the kernel is wrong, and the error says so.
        let bad = ev(sys::KEVENT_NAIO_RECV, 5, sys::KEVENT_EV_ERROR);
        assert!(bad
            .naio_result()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("not a negative errno"));
        let bad = ev(sys::KEVENT_NAIO_RECV, -1, 0);
        assert!(bad
            .naio_result()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("without the error flag"));
        assert_eq!(ev(3, 0, 0).naio_op(), None, "both bits: no operation");
        // A sendfile that met the end of the file: a short count, EOF.
        let short = ev(sys::KEVENT_NAIO_SENDFILE, 7, sys::KEVENT_EV_EOF);
        assert_eq!(short.naio_op(), Some(NaioOp::Sendfile));
        assert_eq!(short.naio_result().unwrap().unwrap(), 7);
        assert!(short.is_eof() && short.error().is_none());
        assert_eq!(ev(5, 0, 0).naio_op(), None, "send|sendfile: no operation");
        // Other kinds have no NAIO result.
        let user = Event {
            raw: sys::kevent_event {
                type_: sys::KEVENT_USER as u16,
                ..Default::default()
            },
        };
        assert!(user.naio_result().is_none() && user.naio_op().is_none());
        assert!(RequestId::of(&user).is_none());
    }

    #[test]
    fn clocks() {
        let a = Clock::Monotonic.now();
        assert!(Clock::Monotonic.now() >= a);
        assert!(Clock::Realtime.now() > Duration::from_secs(1_600_000_000));
        assert!(Clock::Boottime.now() >= a);
        assert_eq!(Clock::default(), Clock::Monotonic);
    }

    /// The ukevent union as words (signal.flags / proc.flags first).
    fn union_words(k: &Kevent<'_>) -> [u32; 4] {
        // SAFETY: every member of the union is plain integers.
        unsafe { k.raw.__bindgen_anon_1.__reserved }
    }

    #[test]
    fn signal_and_process_requests() {
        let s = Kevent::signal(libc::SIGUSR1).consume().token(Token(4));
        assert_eq!((s.kind(), s.id()), (Kind::Signal, libc::SIGUSR1 as u64));
        assert_eq!(
            (s.raw.type_, s.raw.event),
            (sys::KEVENT_SIGNAL, sys::KEVENT_SIGNAL_DELIVERED)
        );
        assert_eq!(s.raw.data, 0);
        assert_eq!(union_words(&s), [sys::KEVENT_SIGNAL_CONSUME, 0, 0, 0]);
        assert_eq!(s.key(), Key::signal(libc::SIGUSR1));
        // Without consume the union stays zero.
        assert_eq!(union_words(&Kevent::signal(2)), [0; 4]);

        let p = Kevent::process_pid(1234);
        assert_eq!((p.kind(), p.id()), (Kind::Proc, 1234));
        assert_eq!(
            (p.raw.type_, p.raw.event),
            (sys::KEVENT_PROC, sys::KEVENT_PROC_EXIT)
        );
        assert_eq!(union_words(&p), [sys::KEVENT_PROC_PID, 0, 0, 0]);
        assert_eq!(p.key(), Key::process(1234));
        // A negative pid is not sign-extended into a valid-looking id.
        assert_eq!(Kevent::process_pid(-1).id(), u32::MAX as u64);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::os::fd::{AsFd, AsRawFd};
        let f = Kevent::process(a.as_fd());
        assert_eq!((f.kind(), f.id()), (Kind::Proc, a.as_raw_fd() as u64));
        assert_eq!(union_words(&f), [0; 4]);
        assert_eq!(Kind::from_raw(7), Kind::Signal);
        assert_eq!(Kind::from_raw(8), Kind::Proc);
    }

    #[test]
    fn signal_and_process_events() {
        let ev = |type_: u32, id: u64, data: u64, flags: u32| Event {
            raw: sys::kevent_event {
                id,
                data,
                type_: type_ as u16,
                flags: flags as u16,
                ..Default::default()
            },
        };
        let s = ev(sys::KEVENT_SIGNAL, 10, 2, 0);
        assert_eq!(
            (s.kind(), s.signal(), s.count(), s.exit_status()),
            (Kind::Signal, Some(10), 2, None)
        );
        // exit(3): status 3 << 8.
        let p = ev(sys::KEVENT_PROC, 5, 0x300, sys::KEVENT_EV_EOF);
        assert_eq!(
            (p.kind(), p.exit_status(), p.signal()),
            (Kind::Proc, Some(0x300), None)
        );
        assert!(p.is_eof() && libc::WIFEXITED(0x300) && libc::WEXITSTATUS(0x300) == 3);
        let gone = ev(
            sys::KEVENT_PROC,
            5,
            0,
            sys::KEVENT_EV_EOF | sys::KEVENT_EV_NODATA,
        );
        assert_eq!(gone.exit_status(), None);
        assert!(gone.flags().contains(EventFlags::NODATA | EventFlags::EOF));
        // A zero status (exit(0)) is Some(0), not None.
        assert_eq!(
            ev(sys::KEVENT_PROC, 5, 0, sys::KEVENT_EV_EOF).exit_status(),
            Some(0)
        );
        assert_eq!(ev(sys::KEVENT_USER, 5, 1, 0).exit_status(), None);
    }

    #[test]
    fn inode_requests_and_events() {
        use std::os::fd::{AsFd, AsRawFd};
        let dir = std::fs::File::open(".").unwrap();
        let k =
            Kevent::inode(dir.as_fd(), InodeEvents::ENTRIES | InodeEvents::MODIFY).token(Token(5));
        assert_eq!((k.kind(), k.id()), (Kind::Inode, dir.as_raw_fd() as u64));
        assert_eq!((k.raw.type_, k.raw.event), (sys::KEVENT_INODE, 0x1f));
        assert_eq!((k.raw.data, k.raw.req_flags), (0, 0));
        assert_eq!(union_words(&k), [0; 4]);
        assert_eq!(k.key(), Key::inode(dir.as_raw_fd()));
        assert_eq!(Kind::from_raw(2), Kind::Inode);
        assert_eq!(Kind::Inode.raw(), sys::KEVENT_INODE);
        assert_eq!(InodeEvents::all().bits(), 0x1ff);

        let e = Event {
            raw: sys::kevent_event {
                id: 3,
                data: 7,
                events: sys::KEVENT_INODE_CREATE | sys::KEVENT_INODE_REMOVE,
                type_: sys::KEVENT_INODE as u16,
                ..Default::default()
            },
        };
        assert_eq!(
            (e.kind(), e.inode_events(), e.count(), e.is_eof()),
            (
                Kind::Inode,
                Some(InodeEvents::CREATE | InodeEvents::REMOVE),
                7,
                false
            )
        );
        assert_eq!((e.signal(), e.exit_status()), (None, None));
        // Not readiness: the poll helpers stay false.
        assert!(!e.is_readable() && !e.is_writable() && !e.is_read_closed());
        let gone = Event {
            raw: sys::kevent_event {
                events: sys::KEVENT_INODE_DELETE_SELF,
                type_: sys::KEVENT_INODE as u16,
                flags: sys::KEVENT_EV_EOF as u16,
                data: 1,
                ..Default::default()
            },
        };
        assert!(gone.is_eof());
        assert_eq!(gone.inode_events(), Some(InodeEvents::DELETE_SELF));
        let user = Event {
            raw: sys::kevent_event {
                events: 1,
                type_: sys::KEVENT_USER as u16,
                ..Default::default()
            },
        };
        assert_eq!(user.inode_events(), None);
    }

    #[test]
    fn socket_requests_and_events() {
        use std::os::fd::{AsFd, AsRawFd};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let k = Kevent::socket(l.as_fd(), SocketEvents::RECV | SocketEvents::SEND)
            .edge()
            .fd_close()
            .token(Token(6));
        assert_eq!((k.kind(), k.id()), (Kind::Socket, l.as_raw_fd() as u64));
        assert_eq!((k.raw.type_, k.raw.event), (sys::KEVENT_SOCKET, 0x5));
        assert_eq!(k.flags(), ReqFlags::EDGE | ReqFlags::FD_CLOSE);
        assert_eq!(union_words(&k), [0; 4]);
        assert_eq!(k.key(), Key::socket(l.as_raw_fd()));
        assert_eq!(Key::socket(6).to_string(), "socket fd 6");
        assert_eq!((Kind::from_raw(1), Kind::Socket.raw()), (Kind::Socket, 1));
        assert_eq!(SocketEvents::all().bits(), 0x7);

        let ev = |events: u32, data: u64, flags: u32| Event {
            raw: sys::kevent_event {
                id: 3,
                data,
                events,
                type_: sys::KEVENT_SOCKET as u16,
                flags: flags as u16,
                ..Default::default()
            },
        };
        let both = ev(0x5, 7 | 4096 << 32, 0);
        assert_eq!(
            (both.socket_events(), both.recv_amount(), both.send_space()),
            (
                Some(SocketEvents::RECV | SocketEvents::SEND),
                Some(7),
                Some(4096)
            )
        );
        assert!(both.error().is_none() && !both.is_error());
        // Not readiness of a poll kevent.
        assert!(!both.is_readable() && !both.is_writable());
        let accept = ev(sys::KEVENT_SOCKET_ACCEPT, 2, 0);
        assert_eq!((accept.recv_amount(), accept.send_space()), (Some(2), None));
        let send = ev(sys::KEVENT_SOCKET_SEND, u64::from(u32::MAX) << 32, 0);
        assert_eq!(
            (send.recv_amount(), send.send_space()),
            (None, Some(u32::MAX))
        );
        let unknown = ev(sys::KEVENT_SOCKET_RECV, 0, sys::KEVENT_EV_NODATA);
        assert_eq!((unknown.recv_amount(), unknown.send_space()), (None, None));
        // NODATA is about the receive amount: the send space is given.
        let both_unknown = ev(0x5, 4096 << 32, sys::KEVENT_EV_NODATA);
        assert_eq!(
            (both_unknown.recv_amount(), both_unknown.send_space()),
            (None, Some(4096))
        );
        let err = ev(0x5, libc::ECONNRESET as u64, sys::KEVENT_EV_ERROR);
        assert_eq!((err.recv_amount(), err.send_space()), (None, None));
        assert_eq!(err.error().unwrap().raw_os_error(), Some(libc::ECONNRESET));
        let user = Event {
            raw: sys::kevent_event {
                events: 1,
                data: 1,
                type_: sys::KEVENT_USER as u16,
                ..Default::default()
            },
        };
        assert_eq!(
            (user.socket_events(), user.recv_amount(), user.send_space()),
            (None, None, None)
        );
    }
}
