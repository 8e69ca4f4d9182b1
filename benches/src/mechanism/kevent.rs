//! kevent: poll kevents (level-triggered, or `KEVENT_REQ_DISPATCH`
//! kevents re-enabled with one batched `kevent_ctl(KEVENT_CTL_ENABLE)` per
//! wake-up), timer kevents, and one queue shared by the herd (wake-one).
//! Each comes in two forms: events copied by `kevent_get_events`, or
//! written into the ring by `kevent_wait`.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use kevent::{Event, Events, Interest, Key, PollFlags, Queue, Ring};

use super::{HerdWaiter, Mechanism, Readiness, Timers, TIMER_BATCH};

pub fn mechanisms() -> Vec<Mechanism> {
    vec![
        Mechanism {
            name: "kevent",
            readiness: Ok(|| Ok(Box::new(KeventPoll::new(false, false)?))),
            oneshot: Ok(|| Ok(Box::new(KeventPoll::new(false, true)?))),
            timers: Ok(|| {
                Ok(Box::new(KeventTimers(KeventQueue::new(
                    false,
                    TIMER_BATCH,
                )?)))
            }),
            herd: Ok(herd),
        },
        Mechanism {
            name: "kevent-ring",
            readiness: Ok(|| Ok(Box::new(KeventPoll::new(true, false)?))),
            oneshot: Ok(|| Ok(Box::new(KeventPoll::new(true, true)?))),
            timers: Ok(|| Ok(Box::new(KeventTimers(KeventQueue::new(true, TIMER_BATCH)?)))),
            herd: Err(
                "a ring has one consumer: several threads would each need a queue of their own",
            ),
        },
    ]
}

/// Events taken per wait in the socket workloads (as for epoll).
const BATCH: usize = 256;

/// Where a queue's events are read from.
enum Source {
    Copy(Events),
    Ring(Ring<'static>),
}

/// A queue and how its events are collected.
struct KeventQueue {
    /// Always `Some` until drop, which drops it before freeing `queue`.
    source: Option<Source>,
    /// From `Box::into_raw`, so that the ring can borrow it for as long
    /// as `self` lives; freed in `drop`.
    queue: NonNull<Queue>,
    batch: usize,
}

impl KeventQueue {
    fn new(ring: bool, batch: usize) -> io::Result<Self> {
        let mut q = KeventQueue {
            source: None,
            queue: NonNull::from(Box::leak(Box::new(Queue::new()?))),
            batch,
        };
        // SAFETY: the queue lives until `drop`, which drops the ring (the
        // only borrower) first; the 'static lifetime never escapes `self`.
        let queue: &'static Queue = unsafe { q.queue.as_ref() };
        q.source = Some(if ring {
            Source::Ring(Ring::new(queue, batch as u32)?)
        } else {
            Source::Copy(Events::with_capacity(batch))
        });
        Ok(q)
    }

    fn queue(&self) -> &Queue {
        // SAFETY: valid until `drop` (see `new`).
        unsafe { self.queue.as_ref() }
    }

    /// Waits for events (at most `timeout`; `None`: forever) and hands
    /// each to `f`.
    fn collect(&mut self, timeout: Option<Duration>, mut f: impl FnMut(Event)) -> io::Result<()> {
        // SAFETY: valid until `drop` (see `new`); not through `self`, which
        // is borrowed mutably for the source.
        let queue = unsafe { self.queue.as_ref() };
        match self.source.as_mut().expect("source lives until drop") {
            Source::Copy(events) => {
                queue.wait(events, 1, timeout)?;
                events.iter().for_each(f);
            }
            Source::Ring(ring) => {
                ring.wait(self.batch, timeout)?;
                for e in ring.drain() {
                    f(e);
                }
            }
        }
        Ok(())
    }
}

impl Drop for KeventQueue {
    fn drop(&mut self) {
        // The ring, the only borrower of the queue, goes first.
        self.source = None;
        // SAFETY: `queue` came from `Box::leak` in `new` (a unique
        // pointer), and nothing borrows it any more.
        drop(unsafe { Box::from_raw(self.queue.as_ptr()) });
    }
}

/// Poll kevents on sockets, level-triggered, or disabled after each
/// report (`DISPATCH`) and enabled again by the workload ("oneshot").
struct KeventPoll {
    q: KeventQueue,
    oneshot: bool,
    /// The fd of every token, to enable its kevent again.
    fds: Vec<RawFd>,
    rearm: Vec<Key>,
}

impl KeventPoll {
    fn new(ring: bool, oneshot: bool) -> io::Result<Self> {
        Ok(KeventPoll {
            q: KeventQueue::new(ring, BATCH)?,
            oneshot,
            fds: Vec::new(),
            rearm: Vec::with_capacity(256),
        })
    }

    fn interest(&self, token: usize) -> Interest {
        let i = Interest::poll_raw(self.fds[token], PollFlags::IN).user_data(token as u64);
        if self.oneshot {
            i.dispatch()
        } else {
            i
        }
    }
}

impl Readiness for KeventPoll {
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        self.q.queue().add(&[self.interest(token)])?.check()
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.q.collect(None, |e| ready.push(e.user_data() as usize))
    }

    fn rearm(&mut self, tokens: &[usize]) -> io::Result<()> {
        if !self.oneshot || tokens.is_empty() {
            return Ok(());
        }
        // A reported DISPATCH kevent is disabled, not removed: enable them
        // all in one call, with no allocation in the kernel.
        let mut batch = std::mem::take(&mut self.rearm);
        batch.clear();
        batch.extend(tokens.iter().map(|&t| Key::poll(self.fds[t])));
        let result = self.q.queue().enable_all(&batch).and_then(|r| r.check());
        self.rearm = batch;
        result
    }
}

/// Periodic timer kevents.
struct KeventTimers(KeventQueue);

impl Timers for KeventTimers {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        let timers: Vec<_> = (0..count as u64)
            .map(|id| Interest::timer(id, period))
            .collect();
        for chunk in timers.chunks(1024) {
            self.0.queue().add(chunk)?.check()?;
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
        self.queue.wait(&mut self.events, 1, None).map(drop)
    }
}

/// One queue with a level-triggered poll kevent on `fd` (wake-one, the
/// default), waited on by every thread.
fn herd(fd: RawFd, threads: usize) -> io::Result<Vec<Box<dyn HerdWaiter>>> {
    let queue = Arc::new(Queue::new()?);
    queue
        .add(&[Interest::poll_raw(fd, PollFlags::IN)])?
        .check()?;
    Ok((0..threads)
        .map(|_| {
            Box::new(KeventWaiter {
                queue: Arc::clone(&queue),
                events: Events::with_capacity(8),
            }) as Box<dyn HerdWaiter>
        })
        .collect())
}
