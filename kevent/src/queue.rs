//! The queue: `/dev/kevent`, `kevent_ctl()` and `kevent_get_events()`.

use std::ffi::c_uint;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use kevent_sys as sys;

use crate::interest::{Event, Interest};

/// What the crate says when the running kernel has no kevent.
pub(crate) const NO_KEVENT: &str = "this kernel has no kevent (no /dev/kevent): \
     boot the patched kernel, e.g. `ci/vm-run.sh -- <your program>` \
     from the kevent repository (see its README)";

pub(crate) fn timeout_ns(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => sys::KEVENT_TIMEOUT_INFINITE,
        // Saturates far beyond any real wait; never the infinite value.
        Some(d) => u64::try_from(d.as_nanos()).map_or(u64::MAX - 1, |n| n.min(u64::MAX - 1)),
    }
}

/// A kevent queue: one open of `/dev/kevent`.
///
/// The queue is a file descriptor ([`OwnedFd`]); it is closed, and every
/// kevent in it removed, on drop. It is pollable, so it can sit in epoll,
/// in another queue, or in an async runtime (see the `tokio` example).
/// `&Queue` may be shared between threads: one can wait while others add
/// kevents or [`trigger`](Queue::trigger) them.
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
    /// Opens a new queue (close-on-exec).
    ///
    /// Fails with [`io::ErrorKind::Unsupported`] and a message saying how
    /// to run the patched kernel when this kernel has no kevent.
    pub fn new() -> io::Result<Self> {
        Self::open(false)
    }

    /// Opens a new non-blocking queue: [`wait`](Queue::wait) never sleeps
    /// and fails with [`io::ErrorKind::WouldBlock`] when nothing is ready.
    pub fn new_nonblocking() -> io::Result<Self> {
        Self::open(true)
    }

    fn open(nonblock: bool) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        opts.custom_flags(libc::O_CLOEXEC | if nonblock { libc::O_NONBLOCK } else { 0 });
        match opts.open(crate::DEVICE_PATH) {
            Ok(file) => Ok(Queue { fd: file.into() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(io::Error::new(io::ErrorKind::Unsupported, NO_KEVENT))
            }
            Err(e) => Err(e),
        }
    }

    fn ctl(&self, cmd: u32, changes: &mut [sys::ukevent]) -> io::Result<BatchResult> {
        let mut results = Vec::with_capacity(changes.len());
        let mut done = 0;
        while done < changes.len() {
            let chunk = &mut changes[done..];
            let num = chunk.len().min(sys::KEVENT_MAX_BATCH as usize) as c_uint;
            // SAFETY: `chunk` is `num` initialised ukevents we own for the
            // duration of the call; the kernel reads them and writes back
            // ret_flags and ret_data only.
            let ret = unsafe { sys::kevent_ctl(self.fd.as_raw_fd(), cmd, num, chunk.as_mut_ptr()) };
            if ret < 0 {
                return Err(io::Error::last_os_error());
            }
            for uk in &chunk[..ret as usize] {
                results.push(if uk.ret_flags & sys::KEVENT_RET_BROKEN != 0 {
                    Err(io::Error::from_raw_os_error(-(uk.ret_data[1] as i32)))
                } else {
                    Ok(())
                });
            }
            if (ret as usize) < num as usize {
                // The kernel stopped early (a fatal signal, or a fault).
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    format!(
                        "kevent_ctl processed {} of {} entries",
                        done + ret as usize,
                        changes.len()
                    ),
                ));
            }
            done += ret as usize;
        }
        Ok(BatchResult { results })
    }

    /// Adds kevents, in one system call per `KEVENT_MAX_BATCH` entries.
    ///
    /// The call fails only if the kernel could not process the batch; each
    /// entry's own result (`EEXIST`, `EBADF`, `EINVAL`, `ENOSPC`...) is in
    /// the [`BatchResult`].
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

    /// Replaces the events, flags, period and user data of kevents, found by
    /// kind and id. A modified timer restarts from now.
    pub fn modify(&self, interests: &[Interest]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = interests.iter().map(|i| i.raw).collect();
        self.ctl(sys::KEVENT_CTL_MODIFY, &mut raw)
    }

    /// Removes kevents, found by kind and id (other fields are ignored).
    pub fn remove(&self, interests: &[Interest]) -> io::Result<BatchResult> {
        let mut raw: Vec<_> = interests.iter().map(|i| i.key().raw).collect();
        self.ctl(sys::KEVENT_CTL_REMOVE, &mut raw)
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
        let mut raw = [Interest::user(id).key().raw];
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
        self.wait_until(events, min, timeout_ns(timeout), 0)
    }

    /// Like [`wait`](Queue::wait), with an absolute `CLOCK_MONOTONIC`
    /// deadline in nanoseconds.
    pub fn wait_deadline(
        &self,
        events: &mut Events,
        min: usize,
        deadline_ns: u64,
    ) -> io::Result<usize> {
        self.wait_until(
            events,
            min,
            deadline_ns.min(u64::MAX - 1),
            sys::KEVENT_GET_ABSTIME,
        )
    }

    fn wait_until(
        &self,
        events: &mut Events,
        min: usize,
        timeout: u64,
        flags: u32,
    ) -> io::Result<usize> {
        events.len = 0;
        let max = events.buf.len().min(sys::KEVENT_MAX_BATCH as usize);
        if max == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Events has no capacity",
            ));
        }
        let min = min.min(max) as c_uint;
        // SAFETY: `events.buf` holds `max` ukevents we own mutably.
        let ret = unsafe {
            sys::kevent_get_events(
                self.fd.as_raw_fd(),
                min,
                max as c_uint,
                timeout,
                events.buf.as_mut_ptr(),
                flags,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        events.len = ret as usize;
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

/// A reusable buffer of reported events, filled by [`Queue::wait`].
#[derive(Debug)]
pub struct Events {
    buf: Vec<sys::ukevent>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Self {
        Events {
            buf: vec![sys::ukevent::default(); capacity],
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
    type IntoIter = Box<dyn Iterator<Item = Event> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}
