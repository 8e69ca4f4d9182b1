//! kevent: poll kevents (level-triggered, edge-triggered with
//! `KEVENT_REQ_ET`, or `KEVENT_REQ_DISPATCH` kevents re-enabled with one
//! batched `kevent_ctl(KEVENT_CTL_ENABLE)` per wake-up), timer kevents,
//! and one queue shared by the herd (wake-one). Each comes in two forms:
//! events copied by `kevent_get_events`, or written into the ring by
//! `kevent_wait` (and drained without a system call while it holds any).
//! `kevent-ring-at-event`: edge-triggered poll kevents and a ring the
//! kernel writes at event time (`KEVENT_RING_AT_EVENT`): an event caused
//! by the loop's own write is drained without a system call.
//! `kevent-socket`: the same loops with socket kevents (`KEVENT_SOCKET`,
//! receive readiness) instead of poll kevents; sockets only.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use std::os::fd::BorrowedFd;

use kevent::{Event, Events, Kevent, Key, PollFlags, Queue, Ring, SocketEvents};

use super::{HerdWaiter, Mechanism, Readiness, Timers, TIMER_BATCH};

pub fn mechanisms() -> Vec<Mechanism> {
    vec![
        Mechanism {
            name: "kevent",
            readiness: Ok(|| Ok(Box::new(KeventPoll::new(false, Mode::Level)?))),
            sockets_only: None,
            oneshot: Ok(|| Ok(Box::new(KeventPoll::new(false, Mode::Dispatch)?))),
            timers: Ok(|| {
                Ok(Box::new(KeventTimers(KeventQueue::new(
                    false,
                    TIMER_BATCH,
                )?)))
            }),
            herd: Ok(herd),
        },
        Mechanism {
            name: "kevent-et",
            readiness: Ok(|| Ok(Box::new(KeventPoll::new(false, Mode::Edge)?))),
            sockets_only: None,
            oneshot: Err(
                "DISPATCH re-enables the same way with or without KEVENT_REQ_ET: see kevent",
            ),
            timers: Err("KEVENT_REQ_ET applies to poll kevents only: timer kevents are kevent's"),
            herd: Err("the herd measures the level-triggered default's wake-one: see kevent"),
        },
        Mechanism {
            name: "kevent-ring",
            readiness: Ok(|| Ok(Box::new(KeventPoll::new(true, Mode::Level)?))),
            sockets_only: None,
            oneshot: Ok(|| Ok(Box::new(KeventPoll::new(true, Mode::Dispatch)?))),
            timers: Ok(|| Ok(Box::new(KeventTimers(KeventQueue::new(true, TIMER_BATCH)?)))),
            herd: Err(
                "a ring has one consumer: several threads would each need a queue of their own",
            ),
        },
        Mechanism {
            name: "kevent-ring-at-event",
            readiness: Ok(|| Ok(Box::new(KeventPoll::at_event()?))),
            sockets_only: None,
            oneshot: Err("DISPATCH kevents are not written at event time: see kevent-ring"),
            timers: Err("timer kevents are not written at event time: see kevent-ring"),
            herd: Err(
                "a ring has one consumer: several threads would each need a queue of their own",
            ),
        },
        Mechanism {
            name: "kevent-socket",
            readiness: Ok(|| Ok(Box::new(KeventPoll::socket(Mode::Level)?))),
            sockets_only: Some("KEVENT_SOCKET watches sockets only: a pipe gets ENOTSOCK"),
            oneshot: Ok(|| Ok(Box::new(KeventPoll::socket(Mode::Dispatch)?))),
            timers: Err("KEVENT_SOCKET watches sockets: timer kevents are kevent's"),
            herd: Err("the herd waits for an eventfd, not a socket: see kevent"),
        },
    ]
}

/// Events taken per wait in the socket workloads (as for epoll).
const BATCH: usize = 256;

/// The most entries the crate passes to one `kevent_ctl()` (`CHUNK` in
/// kevent/src/queue.rs, if the kernel's `max_batch` is not smaller):
/// a batched ENABLE of a full wake-up (BATCH) takes BATCH / 64 calls.
const CRATE_CHUNK: usize = 64;

/// Where a queue's events are read from.
enum Source {
    Copy(Queue, Events),
    /// The ring owns its queue.
    Ring(Ring<Queue>),
}

/// A queue and how its events are collected.
struct KeventQueue {
    source: Source,
    /// System calls made (Readiness::syscalls).
    calls: u64,
}

impl KeventQueue {
    fn new(ring: bool, batch: usize) -> io::Result<Self> {
        let queue = Queue::new()?;
        let source = if ring {
            Source::Ring(Ring::new(queue, batch as u32)?)
        } else {
            Source::Copy(queue, Events::with_capacity(batch))
        };
        Ok(KeventQueue { source, calls: 0 })
    }

    /// A ring the kernel writes at event time (`KEVENT_RING_AT_EVENT`).
    fn at_event(batch: usize) -> io::Result<Self> {
        let ring = Ring::builder(batch as u32)
            .at_event()
            .build(Queue::new()?)?;
        Ok(KeventQueue {
            source: Source::Ring(ring),
            calls: 0,
        })
    }

    fn queue(&self) -> &Queue {
        match &self.source {
            Source::Copy(queue, _) => queue,
            Source::Ring(ring) => ring.queue(),
        }
    }

    /// Waits for events (at most `timeout`; `None`: forever) and hands
    /// each to `f`.
    fn collect(&mut self, timeout: Option<Duration>, f: impl FnMut(Event)) -> io::Result<()> {
        match &mut self.source {
            Source::Copy(queue, events) => {
                self.calls += 1;
                queue.wait(events, timeout)?;
                events.iter().for_each(f);
            }
            Source::Ring(ring) => {
                // Events already in the ring (a kernel that writes it at
                // event time) are taken without a system call, with one
                // look at the ring (Ring::drain_or_wait, which does not
                // say whether it waited: the calls are counted here).
                let mut events = ring.drain();
                if events.len() == 0 {
                    drop(events);
                    self.calls += 1;
                    ring.wait(timeout)?;
                    events = ring.drain();
                }
                events.for_each(f);
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Level,
    /// `KEVENT_REQ_ET`: the workload drains.
    Edge,
    /// `KEVENT_REQ_DISPATCH`, re-enabled in one batch per wake-up.
    Dispatch,
}

/// Poll (or socket) kevents on sockets, level- or edge-triggered, or
/// disabled after each report (`DISPATCH`) and enabled again by the
/// workload ("oneshot").
struct KeventPoll {
    q: KeventQueue,
    mode: Mode,
    /// `KEVENT_SOCKET` kevents (receive readiness) instead of poll ones.
    socket: bool,
    /// The fd of every token, to enable its kevent again.
    fds: Vec<RawFd>,
    rearm: Vec<Key>,
}

impl KeventPoll {
    fn with_queue(q: KeventQueue, mode: Mode) -> Self {
        KeventPoll {
            q,
            mode,
            socket: false,
            fds: Vec::new(),
            rearm: Vec::with_capacity(256),
        }
    }

    fn new(ring: bool, mode: Mode) -> io::Result<Self> {
        Ok(Self::with_queue(KeventQueue::new(ring, BATCH)?, mode))
    }

    /// Edge-triggered poll kevents, a ring written at event time.
    fn at_event() -> io::Result<Self> {
        Ok(Self::with_queue(KeventQueue::at_event(BATCH)?, Mode::Edge))
    }

    /// Socket kevents, events copied.
    fn socket(mode: Mode) -> io::Result<Self> {
        Ok(KeventPoll {
            socket: true,
            ..Self::new(false, mode)?
        })
    }

    fn key(&self, token: usize) -> Key {
        if self.socket {
            Key::socket(self.fds[token])
        } else {
            Key::poll(self.fds[token])
        }
    }

    fn interest(&self, token: usize) -> Kevent<'static> {
        let fd = self.fds[token];
        // SAFETY: the workload keeps every watched socket open until it
        // drops this mechanism (Readiness::watch's contract).
        let i = if self.socket {
            Kevent::socket(unsafe { BorrowedFd::borrow_raw(fd) }, SocketEvents::RECV)
        } else {
            unsafe { Kevent::poll_raw(fd, PollFlags::IN) }
        }
        .user_data(token as u64);
        match self.mode {
            Mode::Level => i,
            Mode::Edge => i.edge(),
            Mode::Dispatch => i.dispatch(),
        }
    }
}

impl Readiness for KeventPoll {
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        self.q.calls += 1;
        Ok(self.q.queue().add(self.interest(token))?)
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.q.collect(None, |e| ready.push(e.user_data() as usize))
    }

    fn rearm(&mut self, tokens: &[usize]) -> io::Result<()> {
        if self.mode != Mode::Dispatch || tokens.is_empty() {
            return Ok(());
        }
        // A reported DISPATCH kevent is disabled, not removed: enable them
        // all in one call, with no allocation in the kernel.
        let mut batch = std::mem::take(&mut self.rearm);
        batch.clear();
        batch.extend(tokens.iter().map(|&t| self.key(t)));
        // The crate sends a batch in chunks of CRATE_CHUNK entries, one
        // call each.
        self.q.calls += batch.len().div_ceil(CRATE_CHUNK) as u64;
        let result = self.q.queue().enable_all(&batch).and_then(|r| r.check());
        self.rearm = batch;
        Ok(result?)
    }

    fn edge(&self) -> bool {
        self.mode == Mode::Edge
    }

    fn syscalls(&self) -> u64 {
        self.q.calls
    }
}

/// Periodic timer kevents.
struct KeventTimers(KeventQueue);

impl Timers for KeventTimers {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        let timers: Vec<_> = (0..count as u64)
            .map(|id| Kevent::timer(id, period))
            .collect();
        for chunk in timers.chunks(1024) {
            self.0.queue().add_all(chunk)?.check()?;
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        let mut expirations = 0;
        self.0
            .collect(Some(timeout), |e| expirations += e.count())?;
        Ok(expirations)
    }
}

/// A thread's wait on the shared queue.
struct KeventWaiter {
    queue: Arc<Queue>,
    events: Events,
}

impl HerdWaiter for KeventWaiter {
    fn wait(&mut self) -> io::Result<()> {
        self.queue.wait(&mut self.events, None).map(drop)
    }
}

/// One queue with a level-triggered poll kevent on `fd` (wake-one, the
/// default), waited on by every thread.
fn herd(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    let queue = Arc::new(Queue::new()?);
    // SAFETY: the workload keeps `fd` open while the waiters run.
    queue.add(unsafe { Kevent::poll_raw(fd, PollFlags::IN) })?;
    Ok((0..threads)
        .map(|_| {
            Box::new(KeventWaiter {
                queue: Arc::clone(&queue),
                events: Events::with_capacity(8),
            }) as Box<dyn HerdWaiter>
        })
        .collect())
}
