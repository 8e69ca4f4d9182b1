//! The ring: events copied by `kevent_wait()` into memory we own.

use std::alloc::{self, Layout};
use std::ffi::c_uint;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kevent_sys as sys;

use crate::interest::Event;
use crate::probe::features;
use crate::queue::{os_error, Queue};
use crate::wait::Wait;

/// A ring of events in our own memory, registered on a [`Queue`] with
/// `kevent_ring_init()`: [`Ring::wait`] has the kernel copy events into it,
/// and [`Ring::drain`] reads them without further system calls.
///
/// The memory is an owned, 64-byte aligned allocation; the ring is
/// detached from the queue and freed on drop. A queue has at most one ring
/// (a second [`Ring::new`] fails with `EBUSY`), and only the process that
/// registered it may wait on it.
///
/// ```no_run
/// use kevent::{Interest, Queue, Ring};
///
/// let queue = Queue::new()?;
/// queue.add(&[Interest::user(1)])?.check()?;
/// let mut ring = Ring::new(&queue, 64)?;
/// queue.trigger(1)?;
/// ring.wait(64, None)?;
/// for event in ring.drain() {
///     assert_eq!(event.id(), 1);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Ring<'q> {
    queue: &'q Queue,
    mem: NonNull<sys::kevent_ring>,
    layout: Layout,
    entries: u32,
    /// The process that registered the ring: a copy of this value in a
    /// forked child must not detach the parent's ring when dropped.
    owner: libc::pid_t,
}

// SAFETY: the ring memory is owned by this value and only touched through
// `&mut self` (and by the kernel inside `wait`, which takes `&mut self`).
unsafe impl Send for Ring<'_> {}

impl<'q> Ring<'q> {
    /// Allocates a ring of `entries` events (a power of two, at most
    /// [`ring_max_entries`](crate::Features::ring_max_entries)) and
    /// registers it on `queue`.
    pub fn new(queue: &'q Queue, entries: u32) -> io::Result<Self> {
        let max = features()?.ring_max_entries;
        if !entries.is_power_of_two() || entries > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ring entries must be a power of two up to {max} (this kernel's most)"),
            ));
        }
        let size = (entries as usize)
            .checked_mul(std::mem::size_of::<sys::kevent_event>())
            .and_then(|n| n.checked_add(std::mem::size_of::<sys::kevent_ring>()))
            .ok_or(io::ErrorKind::InvalidInput)?;
        let layout = Layout::from_size_align(size, 64).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: the layout has a non-zero size.
        let mem = unsafe { alloc::alloc_zeroed(layout) } as *mut sys::kevent_ring;
        let Some(mem) = NonNull::new(mem) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: the probe found kevent ABI v2; `mem` is a live, aligned
        // allocation of the ring and its entries, which stays until drop,
        // and drop detaches it first.
        let ret = unsafe { sys::kevent_ring_init(queue.as_raw_fd(), mem.as_ptr(), entries, 0) };
        if let Err(e) = ret {
            let err = os_error(e);
            // SAFETY: allocated above with `layout`, never registered.
            unsafe { alloc::dealloc(mem.as_ptr() as *mut u8, layout) };
            return Err(err);
        }
        Ok(Ring {
            queue,
            mem,
            layout,
            entries,
            // SAFETY: getpid() has no preconditions.
            owner: unsafe { libc::getpid() },
        })
    }

    /// How many entries the ring has.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    fn head(&self) -> &AtomicU32 {
        // SAFETY: `head` is an aligned u32 inside our allocation, written
        // by the kernel; atomics are how we read it.
        unsafe { AtomicU32::from_ptr(ptr::addr_of_mut!((*self.mem.as_ptr()).head)) }
    }

    fn tail(&self) -> &AtomicU32 {
        // SAFETY: as for `head`; the kernel reads `tail`.
        unsafe { AtomicU32::from_ptr(ptr::addr_of_mut!((*self.mem.as_ptr()).tail)) }
    }

    /// Events in the ring not yet drained.
    pub fn len(&self) -> usize {
        self.head()
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail().load(Ordering::Relaxed)) as usize
    }

    /// Whether no event waits in the ring.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the last [`wait`](Ring::wait) filled the ring while events
    /// were left queued in the kernel (`KEVENT_RING_FULL`).
    pub fn overflowed(&self) -> bool {
        // SAFETY: `flags` is an aligned u32 inside our allocation, written
        // by the kernel; atomics are how we read it.
        let flags = unsafe { AtomicU32::from_ptr(ptr::addr_of_mut!((*self.mem.as_ptr()).flags)) };
        flags.load(Ordering::Acquire) & sys::KEVENT_RING_FULL != 0
    }

    /// Waits for an event (or `timeout`; `None`: forever), then has the
    /// kernel copy up to `max` events into the free entries. Returns how
    /// many it copied. Fails with `ENOSPC` if the ring is full: drain it.
    pub fn wait(&mut self, max: usize, timeout: Option<Duration>) -> io::Result<usize> {
        self.wait_with(max, &Wait::new(timeout))
    }

    /// Like [`wait`](Ring::wait), waiting as `how` says (deadline, clock,
    /// minimum number of events, signal mask).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Queue, Ring, Wait};
    ///
    /// let queue = Queue::new()?;
    /// let mut ring = Ring::new(&queue, 64)?;
    /// ring.wait_with(64, &Wait::timeout(Duration::from_millis(1)).min(4))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with(&mut self, max: usize, how: &Wait<'_>) -> io::Result<usize> {
        let max = max.clamp(1, self.entries as usize);
        let args = how.raw(max);
        let (args_ptr, args_size) = match &args {
            Some(a) => (
                a as *const sys::kevent_wait_args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            ),
            None => (ptr::null(), 0),
        };
        // SAFETY: the registered ring is our live allocation (see `new`);
        // `args` lives across the call, its sigmask pointing into `how`.
        let n =
            unsafe { sys::kevent_wait(self.queue.as_raw_fd(), max as c_uint, args_ptr, args_size) }
                .map_err(os_error)?;
        Ok(n as usize)
    }

    /// Reads the events in the ring, oldest first. Each event's entry is
    /// handed back to the kernel as the iterator moves past it.
    ///
    /// ```no_run
    /// # use kevent::{Queue, Ring};
    /// # let queue = Queue::new()?;
    /// let mut ring = Ring::new(&queue, 256)?;
    /// loop {
    ///     ring.wait(256, None)?;
    ///     for event in ring.drain() {
    ///         println!("{:?} {}", event.kind(), event.id());
    ///     }
    /// #   break;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn drain(&mut self) -> Drain<'_, 'q> {
        let head = self.head().load(Ordering::Acquire);
        Drain { ring: self, head }
    }
}

impl Drop for Ring<'_> {
    fn drop(&mut self) {
        // SAFETY: getpid() has no preconditions.
        if unsafe { libc::getpid() } != self.owner {
            // A forked child's copy: the ring the queue has is the
            // parent's, which the kernel never writes from here (EPERM);
            // detaching it would take it from the parent. Our copy of the
            // memory is ours alone.
            // SAFETY: allocated in `new` with `layout`; the kernel writes
            // ring memory only for the registering process.
            unsafe { alloc::dealloc(self.mem.as_ptr() as *mut u8, self.layout) };
            return;
        }
        // SAFETY: detaching passes no memory; after it the kernel no
        // longer writes ours, which we then free. It cannot fail on our
        // open queue; if it did, leaking beats freeing memory the kernel
        // may still write.
        unsafe {
            if sys::kevent_ring_init(self.queue.as_raw_fd(), ptr::null_mut(), 0, 0).is_ok() {
                alloc::dealloc(self.mem.as_ptr() as *mut u8, self.layout);
            }
        }
    }
}

/// The iterator of [`Ring::drain`].
#[derive(Debug)]
pub struct Drain<'r, 'q> {
    ring: &'r mut Ring<'q>,
    head: u32,
}

impl Iterator for Drain<'_, '_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let tail = self.ring.tail().load(Ordering::Relaxed);
        if tail == self.head {
            return None;
        }
        let index = (tail & (self.ring.entries - 1)) as usize;
        // SAFETY: `index` < entries, inside our allocation; the acquire
        // load of head in `drain` orders this read after the kernel's write.
        let raw = unsafe {
            let events =
                ptr::addr_of!((*self.ring.mem.as_ptr()).events) as *const sys::kevent_event;
            ptr::read(events.add(index))
        };
        // Hand the entry back only after reading it.
        self.ring
            .tail()
            .store(tail.wrapping_add(1), Ordering::Release);
        Some(Event { raw })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self
            .head
            .wrapping_sub(self.ring.tail().load(Ordering::Relaxed)) as usize;
        (left, Some(left))
    }
}
