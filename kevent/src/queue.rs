//! The queue: `kevent_create()`, `kevent_ctl()` and `kevent_get_events()`.

use std::ffi::c_uint;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use kevent_sys as sys;

use crate::flags::QueueFlags;
use crate::interest::{Clock, Event, Interest, Key};
use crate::probe::features;
use crate::wait::Wait;

/// A raw call's error as an `io::Error`.
pub(crate) fn os_error(e: sys::Error) -> io::Error {
    match e {
        sys::Error::Errno(errno) => io::Error::from_raw_os_error(errno),
        e => io::Error::other(e.to_string()),
    }
}

/// A kevent queue, made by `kevent_create()`.
///
/// The queue is a file descriptor ([`OwnedFd`]); it is closed, and every
/// kevent in it removed, on drop. It is pollable, so it can sit in epoll,
/// in another queue, or in an async runtime (see the `tokio_timers`
/// example). `&Queue` may be shared between threads: one can wait while
/// others add kevents or [`trigger`](Queue::trigger) them.
///
/// ```no_run
/// use std::time::Duration;
/// use kevent::{Events, Interest, Queue};
///
/// let queue = Queue::new()?;
/// queue.add(&[Interest::timer(1, Duration::from_millis(10))])?.check()?;
/// let mut events = Events::with_capacity(16);
/// queue.wait(&mut events, 1, Some(Duration::from_secs(1)))?;
/// for event in events.iter() {
///     println!("{:?} fired {} times", event.kind(), event.count());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
}

/// The per-entry results of a batch of changes, in order.
#[derive(Debug)]
pub struct BatchResult {
    results: Vec<io::Result<()>>,
}

impl BatchResult {
    /// The result of every entry, in the order given.
    pub fn results(&self) -> &[io::Result<()>] {
        &self.results
    }

    /// `Ok` if every entry succeeded, else the first entry's error.
    pub fn check(self) -> io::Result<()> {
        self.results.into_iter().collect()
    }
}

impl Queue {
    /// Creates a new queue (close-on-exec).
    ///
    /// Fails with [`io::ErrorKind::Unsupported`] and a message saying how
    /// to run the patched kernel when this kernel has no kevent ABI v2
    /// (see [`features`](crate::features)).
    ///
    /// ```no_run
    /// let queue = kevent::Queue::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Self> {
        Self::with_flags(QueueFlags::CLOEXEC)
    }

    /// Creates a new queue with `flags` (`kevent_create(flags)`).
    ///
    /// ```no_run
    /// use kevent::{Queue, QueueFlags};
    ///
    /// // read_events() on it fails with WouldBlock instead of sleeping.
    /// let queue = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_flags(flags: QueueFlags) -> io::Result<Self> {
        features()?;
        // SAFETY: the probe found kevent ABI v2.
        let fd = unsafe { sys::kevent_create(flags.bits()) }.map_err(os_error)?;
        // SAFETY: a new descriptor that nothing else owns.
        Ok(Queue {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, cmd: u32, changes: &mut [sys::ukevent]) -> io::Result<BatchResult> {
        let max_batch = features()?.max_batch as usize;
        let mut results = Vec::with_capacity(changes.len());
        let mut done = 0;
        while done < changes.len() {
            let chunk = &mut changes[done..];
            let num = chunk.len().min(max_batch) as c_uint;
            // SAFETY: the probe found kevent ABI v2; `chunk` is `num`
            // initialised ukevents we own for the duration of the call; the
            // kernel reads them and writes back ret_flags and ret_data only.
            let ret = unsafe { sys::kevent_ctl(self.fd.as_raw_fd(), cmd, num, chunk.as_mut_ptr()) }
                .map_err(os_error)? as usize;
            for uk in &chunk[..ret] {
                results.push(if uk.ret_flags & sys::KEVENT_RET_BROKEN != 0 {
                    Err(io::Error::from_raw_os_error(-(uk.ret_data[1] as i32)))
                } else {
                    Ok(())
                });
            }
            if ret < num as usize {
                // The kernel stopped early (a fatal signal, or a fault).
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    format!(
                        "kevent_ctl processed {} of {} entries",
                        done + ret,
                        changes.len()
                    ),
                ));
            }
            done += ret;
        }
        Ok(BatchResult { results })
    }

    /// Adds kevents, in one system call per
    /// [`max_batch`](crate::Features::max_batch) entries.
    ///
    /// The call fails only if the kernel could not process the batch; each
    /// entry's own result (`EEXIST`, `EBADF`, `EINVAL`, `ENOSPC`...) is in
    /// the [`BatchResult`]. With [`Interest::update`], an existing kevent
    /// is modified instead of failing with `EEXIST`.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use kevent::{Interest, PollFlags, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let stdin = std::io::stdin();
    /// let result = queue.add(&[Interest::poll(stdin.as_fd(), PollFlags::IN), Interest::user(1)])?;
    /// for (i, r) in result.results().iter().enumerate() {
    ///     if let Err(e) = r {
    ///         eprintln!("entry {i}: {e}"); // e.g. EPERM: stdin is a regular file
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add(&self, interests: &[Interest]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = interests.iter().map(|i| i.raw).collect();
        self.ctl(sys::KEVENT_CTL_ADD, &mut raw)
    }

    /// Replaces the events, flags, timer settings and user data of
    /// kevents, found by kind and id. A modified timer restarts.
    pub fn modify(&self, interests: &[Interest]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = interests.iter().map(|i| i.raw).collect();
        self.ctl(sys::KEVENT_CTL_MODIFY, &mut raw)
    }

    /// Removes kevents, found by kind and id (other fields are ignored).
    pub fn remove(&self, interests: &[Interest]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = interests.iter().map(|i| i.key().raw()).collect();
        self.ctl(sys::KEVENT_CTL_REMOVE, &mut raw)
    }

    /// Enables a disabled kevent ([`Interest::disabled`], or reported with
    /// [`Interest::dispatch`]). A level-triggered poll kevent whose file is
    /// ready now is reported at once. `ENOENT` if there is no such kevent.
    ///
    /// ```no_run
    /// use std::os::fd::AsRawFd;
    /// use kevent::{Events, Interest, PollFlags, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// queue.add(&[Interest::poll_raw(b.as_raw_fd(), PollFlags::IN).dispatch()])?.check()?;
    /// let mut events = Events::with_capacity(16);
    /// queue.wait(&mut events, 1, None)?;
    /// for event in &events {
    ///     // ... read from the socket, then watch it again:
    ///     queue.enable(event.key())?;
    /// }
    /// # drop(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn enable(&self, key: impl Into<Key>) -> io::Result<()> {
        let mut raw = [key.into().raw()];
        self.ctl(sys::KEVENT_CTL_ENABLE, &mut raw)?.check()
    }

    /// Disables a kevent: it stays registered but reports nothing, and
    /// events meanwhile are dropped (a periodic timer keeps running and
    /// its expirations are dropped). `ENOENT` if there is no such kevent.
    pub fn disable(&self, key: impl Into<Key>) -> io::Result<()> {
        let mut raw = [key.into().raw()];
        self.ctl(sys::KEVENT_CTL_DISABLE, &mut raw)?.check()
    }

    /// [`enable`](Queue::enable) for many kevents, in one system call per
    /// [`max_batch`](crate::Features::max_batch) entries, with a result
    /// per entry.
    pub fn enable_all(&self, keys: &[Key]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = keys.iter().map(Key::raw).collect();
        self.ctl(sys::KEVENT_CTL_ENABLE, &mut raw)
    }

    /// [`disable`](Queue::disable) for many kevents, with a result per
    /// entry.
    pub fn disable_all(&self, keys: &[Key]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = keys.iter().map(Key::raw).collect();
        self.ctl(sys::KEVENT_CTL_DISABLE, &mut raw)
    }

    /// Triggers the user kevent `id` ([`Interest::user`]): it becomes ready
    /// and wakes a waiter. Callable from any thread.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use kevent::{Events, Interest, Queue};
    ///
    /// let queue = Arc::new(Queue::new()?);
    /// queue.add(&[Interest::user(1)])?.check()?;
    /// let q = Arc::clone(&queue);
    /// std::thread::spawn(move || q.trigger(1));
    /// let mut events = Events::with_capacity(1);
    /// queue.wait(&mut events, 1, None)?; // woken by the other thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn trigger(&self, id: u64) -> io::Result<()> {
        let mut raw = [Key::user(id).raw()];
        self.ctl(sys::KEVENT_CTL_READY, &mut raw)?.check()
    }

    /// Waits until `min` kevents are ready (0 acts as 1) or `timeout`
    /// passes (`None`: forever), then fills `events` with up to its
    /// capacity. Returns how many events it holds now (0 on timeout).
    ///
    /// Interrupted by signals with [`io::ErrorKind::Interrupted`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// if queue.wait(&mut events, 1, Some(Duration::from_millis(100)))? == 0 {
    ///     println!("timed out");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(
        &self,
        events: &mut Events,
        min: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.wait_with(events, &Wait::new(timeout).min(min))
    }

    /// Like [`wait`](Queue::wait), until the absolute time `deadline` of
    /// `clock` (see [`Clock::now`]).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Clock, Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// let deadline = Clock::Monotonic.now() + Duration::from_millis(50);
    /// while queue.wait_deadline(&mut events, 1, Clock::Monotonic, deadline)? > 0 {
    ///     // handle events until the deadline
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_deadline(
        &self,
        events: &mut Events,
        min: usize,
        clock: Clock,
        deadline: Duration,
    ) -> io::Result<usize> {
        self.wait_with(events, &Wait::deadline(clock, deadline).min(min))
    }

    /// Like [`wait`](Queue::wait) for one event, with the signal mask
    /// `mask` installed for the wait (as `epoll_pwait2`): a signal that
    /// `mask` unblocks runs its handler and ends the wait with
    /// [`io::ErrorKind::Interrupted`]; the thread's mask is restored
    /// afterwards.
    ///
    /// ```no_run
    /// use kevent::{Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// // Wait with every signal unblocked (e.g. SIGINT kept blocked otherwise).
    /// // SAFETY: sigemptyset initialises the set.
    /// let mut empty = unsafe { std::mem::zeroed::<libc::sigset_t>() };
    /// unsafe { libc::sigemptyset(&mut empty) };
    /// match queue.wait_with_sigmask(&mut events, None, &empty) {
    ///     Err(e) if e.kind() == std::io::ErrorKind::Interrupted => println!("signal"),
    ///     r => println!("{} events", r?),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with_sigmask(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        mask: &libc::sigset_t,
    ) -> io::Result<usize> {
        self.wait_with(events, &Wait::new(timeout).sigmask(mask))
    }

    /// Waits as `how` says (timeout or deadline, clock, minimum number of
    /// events, signal mask), then fills `events` with up to its capacity
    /// (and at most [`max_batch`](crate::Features::max_batch)). Returns how
    /// many events it holds now (0 on timeout).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Events, Queue, Wait};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// queue.wait_with(&mut events, &Wait::timeout(Duration::from_millis(5)).min(16))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with(&self, events: &mut Events, how: &Wait<'_>) -> io::Result<usize> {
        let max = events_room(events)?;
        let args = how.raw(max);
        let (args_ptr, args_size) = match &args {
            Some(a) => (
                a as *const sys::kevent_wait_args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            ),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: the probe found kevent ABI v2; `events.buf` holds `max`
        // kevent_events we own mutably; `args` lives across the call, and
        // its sigmask points into `how`'s borrowed sigset_t.
        let n = unsafe {
            sys::kevent_get_events(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr(),
                max as c_uint,
                args_ptr,
                args_size,
            )
        }
        .map_err(os_error)?;
        events.len = n as usize;
        Ok(events.len)
    }

    /// Takes ready events with `read(2)` on the queue: sleeps until one is
    /// ready, unless the queue was created with [`QueueFlags::NONBLOCK`],
    /// which makes it fail with [`io::ErrorKind::WouldBlock`] instead: the
    /// form an async runtime wants (see the `tokio_timers` example).
    /// Returns how many events `events` holds now.
    ///
    /// ```no_run
    /// use kevent::{Events, Interest, Queue, QueueFlags};
    ///
    /// let queue = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK)?;
    /// queue.add(&[Interest::user(1)])?.check()?;
    /// let mut events = Events::with_capacity(8);
    /// assert_eq!(queue.read_events(&mut events).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// queue.trigger(1)?;
    /// assert_eq!(queue.read_events(&mut events)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_events(&self, events: &mut Events) -> io::Result<usize> {
        let max = events_room(events)?;
        let size = std::mem::size_of::<sys::kevent_event>();
        let len = max * size;
        // SAFETY: `events.buf` holds `max` kevent_events (`len` bytes) we
        // own mutably; the kernel writes whole records into it.
        let ret = unsafe { libc::read(self.fd.as_raw_fd(), events.buf.as_mut_ptr().cast(), len) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let ret = ret as usize;
        if ret > len || ret % size != 0 {
            return Err(io::Error::other(format!(
                "read(2) on the kevent queue returned {ret} bytes, not whole events up to {len}"
            )));
        }
        events.len = ret / size;
        Ok(events.len)
    }
}

impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Queue {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<Queue> for OwnedFd {
    fn from(q: Queue) -> OwnedFd {
        q.fd
    }
}

impl FromRawFd for Queue {
    /// # Safety
    ///
    /// `fd` must be an open kevent queue that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        Queue {
            fd: OwnedFd::from_raw_fd(fd),
        }
    }
}

/// A reusable buffer of reported events, filled by [`Queue::wait`] and
/// the other waits.
#[derive(Debug)]
pub struct Events {
    buf: Vec<sys::kevent_event>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Self {
        Events {
            buf: vec![sys::kevent_event::default(); capacity],
            len: 0,
        }
    }

    /// The events of the last wait.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.buf[..self.len].iter().map(|raw| Event { raw: *raw })
    }

    /// How many events the last wait reported.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait reported nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many events one wait can report.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, sys::kevent_event>, fn(&sys::kevent_event) -> Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.buf[..self.len].iter().map(|raw| Event { raw: *raw })
    }
}

/// Empties `events` and returns how many records one call may fill: its
/// capacity, at most this kernel's batch limit.
fn events_room(events: &mut Events) -> io::Result<usize> {
    events.len = 0;
    let max = events.buf.len().min(features()?.max_batch as usize);
    if max == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Events has no capacity",
        ));
    }
    Ok(max)
}
