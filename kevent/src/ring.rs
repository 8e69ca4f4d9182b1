//! The ring: events copied by `kevent_wait()` into memory we own.

use std::ffi::c_uint;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kevent_sys as sys;

use crate::interest::Event;
use crate::probe::features;
use crate::queue::{os_error, Queue};
use crate::wait::Wait;

mod sealed {
    /// Keeps [`QueueRef`](super::QueueRef) implemented only in this crate.
    pub trait Sealed {}
}

/// How a [`Ring`] or a [`Registered`](crate::Registered) descriptor holds
/// its queue: a [`Queue`], an `Arc<Queue>` or a `&Queue`.
///
/// The trait is sealed: the ring registers, waits on and on drop detaches
/// the queue this returns, so every call must return the same queue, which
/// only these three implementations are trusted to do (a safe `Borrow`
/// impl could return another queue on each call, and the ring would then
/// detach a queue it is not registered on and unmap memory the kernel
/// still writes; a registration would remove its descriptor from another
/// queue).
///
/// ```compile_fail,E0277
/// use kevent::{Queue, QueueRef, Ring};
///
/// struct Mine(Queue);
/// impl QueueRef for Mine {
///     fn queue(&self) -> &Queue {
///         &self.0
///     }
/// }
/// let ring = Ring::new(Mine(Queue::new()?), 64)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Nor does a type that only implements `Borrow<Queue>` make a ring:
///
/// ```compile_fail,E0277
/// use std::borrow::Borrow;
/// use kevent::{Queue, Ring};
///
/// struct Mine(Queue);
/// impl Borrow<Queue> for Mine {
///     fn borrow(&self) -> &Queue {
///         &self.0
///     }
/// }
/// let ring = Ring::new(Mine(Queue::new()?), 64)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait QueueRef: sealed::Sealed {
    /// The queue; the same one on every call.
    fn queue(&self) -> &Queue;
}

impl sealed::Sealed for Queue {}
impl QueueRef for Queue {
    fn queue(&self) -> &Queue {
        self
    }
}

impl sealed::Sealed for Arc<Queue> {}
impl QueueRef for Arc<Queue> {
    fn queue(&self) -> &Queue {
        self
    }
}

impl sealed::Sealed for &Queue {}
impl QueueRef for &Queue {
    fn queue(&self) -> &Queue {
        self
    }
}

/// A new private anonymous mapping of `size` bytes, zeroed and
/// populated; with `wipe_on_fork` (`MADV_WIPEONFORK`), a child of `fork`
/// (or of any `clone` without `CLONE_VM`) finds it zero-filled at the same
/// address: nothing of it is copied into the child, and the parent's
/// pages are not made copy-on-write. The caller unmaps it with
/// `libc::munmap(ptr, size)`.
pub(crate) fn map_anonymous(size: usize, wipe_on_fork: bool) -> io::Result<NonNull<libc::c_void>> {
    // SAFETY: a new private anonymous mapping, which nothing else uses.
    let mem = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: advice on the mapping just made.
    if wipe_on_fork && unsafe { libc::madvise(mem, size, libc::MADV_WIPEONFORK) } != 0 {
        let err = io::Error::last_os_error();
        // SAFETY: the mapping just made, which nothing uses.
        unsafe { libc::munmap(mem, size) };
        return Err(err);
    }
    // SAFETY: mmap never returns null on success here (no MAP_FIXED).
    Ok(unsafe { NonNull::new_unchecked(mem) })
}

/// The ring's memory: an anonymous mapping holding a `struct kevent_ring`
/// and its entries, zeroed. Kept apart from the kernel registration so
/// that the consumer side ([`Drain`]) can be tested against a fake kernel.
#[derive(Debug)]
struct RingMem {
    ptr: NonNull<sys::kevent_ring>,
    /// The mapping's length in bytes.
    size: usize,
    entries: u32,
    /// Registered with `KEVENT_RING_AT_EVENT`: the kernel writes it at
    /// any time, and a look that finds it empty fences first
    /// ([`settled_head`](RingMem::settled_head)).
    at_event: bool,
    /// Tests only: runs between `settled_head`'s two loads, as a kernel
    /// writing an entry there would.
    #[cfg(test)]
    between_loads: Option<fn(&RingMem)>,
}

impl RingMem {
    /// Maps a zeroed ring of `entries` (a power of two) entries; with
    /// `dontfork`, a forked child gets it zeroed (an empty ring).
    fn map(entries: u32, dontfork: bool) -> io::Result<Self> {
        debug_assert!(entries.is_power_of_two());
        let size = (entries as usize)
            .checked_mul(std::mem::size_of::<sys::kevent_event>())
            .and_then(|n| n.checked_add(std::mem::size_of::<sys::kevent_ring>()))
            .ok_or(io::ErrorKind::InvalidInput)?;
        // MADV_WIPEONFORK, not MADV_DONTFORK: a forked child keeps a
        // mapping at this address, zero-filled, so the safe accessors of
        // its copy of the `Ring` read an empty ring (head = tail = 0)
        // instead of unmapped memory, or memory the child mapped there
        // later.
        let mem = map_anonymous(size, dontfork)?;
        Ok(RingMem {
            ptr: mem.cast(),
            size,
            entries,
            at_event: false,
            #[cfg(test)]
            between_loads: None,
        })
    }

    /// # Safety
    ///
    /// The kernel must not hold the ring (never registered, or detached),
    /// and nothing may use it afterwards.
    unsafe fn unmap(&self) {
        // SAFETY: our mapping, per the caller.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.size) };
    }

    #[inline]
    fn field(&self, f: impl FnOnce(*mut sys::kevent_ring) -> *mut u32) -> &AtomicU32 {
        // SAFETY: the field is an aligned u32 inside our mapping, shared
        // with the kernel; atomics are how we touch it.
        unsafe { AtomicU32::from_ptr(f(self.ptr.as_ptr())) }
    }

    #[inline]
    fn head(&self) -> &AtomicU32 {
        // SAFETY: a projection in bounds of the mapping (no reference made).
        self.field(|r| unsafe { ptr::addr_of_mut!((*r).head) })
    }

    #[inline]
    fn tail(&self) -> &AtomicU32 {
        // SAFETY: as for `head`.
        self.field(|r| unsafe { ptr::addr_of_mut!((*r).tail) })
    }

    #[inline]
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `head`.
        self.field(|r| unsafe { ptr::addr_of_mut!((*r).flags) })
    }

    /// The entry at free-running index `index`.
    #[inline]
    fn entry(&self, index: u32) -> *mut sys::kevent_event {
        let i = (index & (self.entries - 1)) as usize;
        // In bounds: `i` < entries, which the mapping holds.
        sys::kevent_ring_entries(self.ptr.as_ptr()).wrapping_add(i)
    }

    /// Head, loaded with acquire (which orders the entries' reads after
    /// the kernel's writes), for a look whose "empty" the caller may act
    /// on by sleeping in a watcher of the queue file that does not poll
    /// it again (another kevent queue's edge-triggered poll kevent,
    /// written at event time). On a ring written at event time, a head
    /// equal to `tail` is loaded again behind a full fence. The kernel,
    /// after publishing an entry, reads tail again behind a full barrier
    /// to decide whether the queue file's pollers need a wake-up; this is
    /// the other half (as liburing's `io_uring_smp_mb()` before it reads
    /// the SQ flags): either the second load sees the entry, or the
    /// kernel sees our last tail store (a `Drain`'s drop) and wakes the
    /// watcher. Only a look that finds the ring empty can lead to a
    /// sleep, so a drain that finds entries pays no fence.
    #[inline]
    fn settled_head(&self, tail: u32) -> u32 {
        let head = self.head().load(Ordering::Acquire);
        if head != tail || !self.at_event {
            return head;
        }
        #[cfg(test)]
        if let Some(kernel) = self.between_loads {
            kernel(self);
        }
        fence(Ordering::SeqCst);
        self.head().load(Ordering::Acquire)
    }

    #[inline]
    fn len(&self) -> usize {
        let (tail, head) = self.bounds();
        head.wrapping_sub(tail) as usize
    }

    /// The free-running indices of the entries to read: tail, and head
    /// [settled](RingMem::settled_head). Tail is ours (the one consumer,
    /// whose last store this load sees): relaxed.
    #[inline]
    fn bounds(&self) -> (u32, u32) {
        let tail = self.tail().load(Ordering::Relaxed);
        let head = self.settled_head(tail);
        // A head more than `entries` ahead is a kernel bug or corruption:
        // read no more than the ring holds.
        let head = if head.wrapping_sub(tail) > self.entries {
            tail.wrapping_add(self.entries)
        } else {
            head
        };
        (tail, head)
    }

    #[inline]
    fn drain(&mut self) -> Drain<'_> {
        let (tail, head) = self.bounds();
        Drain {
            mem: self,
            tail,
            head,
        }
    }
}

/// A ring of events in our own memory, registered on a [`Queue`] with
/// `kevent_ring_init()`: [`Ring::wait`] has the kernel copy events into it,
/// and [`Ring::drain`] reads them without further system calls.
///
/// The ring owns or borrows its queue: `Q` is a [`Queue`], an
/// `Arc<Queue>` or a `&Queue` (the sealed [`QueueRef`]), so a ring and its
/// queue can live in one struct or one task. The memory is an anonymous mapping of ours; on drop
/// the ring is detached and then unmapped, and if the detach fails the
/// memory is leaked rather than unmapped under the kernel. A queue has at
/// most one ring (a second [`Ring::new`] fails with `EBUSY`), and only the
/// process that registered it (its address space, until it calls `execve`)
/// may wait on it (`EPERM` elsewhere); a copy
/// of a `Ring` in a forked child never detaches the parent's ring.
/// [`Ring::builder`] offers [`dontfork`](RingBuilder::dontfork), so
/// children do not inherit the ring's events (their copy reads as an
/// empty ring). Events left in the ring when it is dropped are lost.
///
/// ```no_run
/// use kevent::{Kevent, Queue, Ring};
///
/// let queue = Queue::new()?;
/// queue.add(Kevent::user(1))?;
/// let mut ring = Ring::new(queue, 64)?; // the ring owns the queue
/// ring.queue().trigger(1)?;
/// ring.wait(None)?;
/// for event in ring.drain() {
///     assert_eq!(event.id(), 1);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Ring<Q: QueueRef = Queue> {
    mem: RingMem,
    /// The process that registered the ring: a copy of this value in a
    /// forked child must not detach the parent's ring when dropped.
    owner: libc::pid_t,
    /// Dropped after `Drop::drop` detached the ring.
    queue: Q,
}

// SAFETY: the ring memory is owned by this value and only touched through
// `&mut self` (and by the kernel: inside `wait`, which takes `&mut self`,
// or, for a ring written at event time, at any time, but only in free
// entries and in `head`, which is read atomically; published entries are
// not written again until `tail` passes them); the queue is sent along
// with it.
unsafe impl<Q: QueueRef + Send> Send for Ring<Q> {}

/// Options for a [`Ring`]: [`Ring::builder`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct RingBuilder {
    entries: u32,
    dontfork: bool,
    at_event: bool,
}

impl RingBuilder {
    /// Keeps the ring's events from forked children (as io-uring's
    /// `Builder::dontfork`): nothing of the ring's memory is copied into a
    /// child (so the fork copies less), and the child cannot read the
    /// events the kernel writes for the parent.
    ///
    /// It is `MADV_WIPEONFORK` rather than io-uring's `MADV_DONTFORK`: the
    /// child keeps a zero-filled mapping at the same address, so its copy
    /// of the `Ring` stays sound without a check on every call. In the
    /// child the ring reads as empty: [`len`](Ring::len) is 0,
    /// [`overflowed`](Ring::overflowed) is false, [`drain`](Ring::drain)
    /// yields nothing, and [`wait`](Ring::wait) fails with `EPERM` (the
    /// ring is the parent's); dropping the copy unmaps the child's
    /// zeroed memory and leaves the parent's ring registered.
    pub fn dontfork(mut self) -> Self {
        self.dontfork = true;
        self
    }

    /// Has the kernel write events into the ring as they happen
    /// (`KEVENT_RING_AT_EVENT`), from the context that caused them, not
    /// only inside [`wait`](Ring::wait): the events of edge-triggered poll
    /// kevents ([`Kevent::edge`](crate::Kevent::edge)) whose wake-up
    /// carries its poll bits, and of user kevents, unless they are
    /// oneshot or dispatched. A loop whose work causes its next events (a
    /// write to a pipe another kevent watches) then finds them with
    /// [`drain`](Ring::drain), without a system call; other events are
    /// queued and copied by `wait` as without it. A poll kevent's event
    /// written so carries the bits of its wake-up (`IN` for a write), not
    /// a poll of the file. [`wait`](Ring::wait) returns at once while the
    /// ring holds events, and returns how many it holds.
    ///
    /// Events that are not written so (timers, signals, level-triggered,
    /// oneshot and dispatched kevents, errors, and events that came while
    /// the ring was full) wait for a `wait`: if the ring may stay
    /// non-empty under a steady stream of events, call
    /// `wait(Some(Duration::ZERO))` after each drain, not only when the
    /// ring is empty. A record written so stays in the ring after its
    /// kevent is removed or its file closed.
    ///
    /// The kernel pins the ring's pages while it is registered; they
    /// count against the user's kevent limit (`fs.kevent.max_user_kevents`,
    /// a few hundred bytes per kevent). A queue file that epoll or
    /// another kevent queue watches polls readable while the ring holds
    /// events. To sleep there rather than in `wait`, drop the drain's
    /// iterator first and look at [`is_empty`](Ring::is_empty) (or
    /// `len`, a new `drain`, or a `wait` that returns 0) last: a look
    /// that finds the ring empty puts a full fence before its final
    /// read, so an event written between the drain and that look is seen
    /// by it, or wakes the watcher. A drain that finds events pays no
    /// fence.
    ///
    /// # Errors
    ///
    /// [`build`](RingBuilder::build) fails with `Unsupported` on a kernel
    /// without it ([`Features::ring_at_event`](crate::Features::ring_at_event)).
    pub fn at_event(mut self) -> Self {
        self.at_event = true;
        self
    }

    /// Maps the ring and registers it on `queue`.
    pub fn build<Q: QueueRef>(self, queue: Q) -> io::Result<Ring<Q>> {
        let f = features()?;
        let max = f.ring_max_entries;
        let entries = self.entries;
        if self.at_event && !f.ring_at_event {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel does not write rings at event time (KEVENT_RING_AT_EVENT)",
            ));
        }
        let flags = if self.at_event {
            sys::KEVENT_RING_AT_EVENT
        } else {
            0
        };
        if !entries.is_power_of_two() || entries > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ring entries must be a power of two up to {max} (this kernel's most)"),
            ));
        }
        let mut mem = RingMem::map(entries, self.dontfork)?;
        mem.at_event = self.at_event;
        // SAFETY: the probe found kevent ABI v2; `mem` is a live, aligned
        // mapping of the ring and its entries, which stays until drop, and
        // drop detaches it first (or leaks it).
        let ret = unsafe {
            sys::kevent_ring_init(queue.queue().as_raw_fd(), mem.ptr.as_ptr(), entries, flags)
        };
        if let Err(e) = ret {
            // SAFETY: never registered.
            unsafe { mem.unmap() };
            return Err(os_error(e));
        }
        Ok(Ring {
            mem,
            // SAFETY: getpid() has no preconditions.
            owner: unsafe { libc::getpid() },
            queue,
        })
    }
}

impl Ring<Queue> {
    /// A builder for a ring of `entries` events, for options such as
    /// [`dontfork`](RingBuilder::dontfork).
    ///
    /// ```no_run
    /// use kevent::{Queue, Ring};
    ///
    /// let ring = Ring::builder(256).dontfork().build(Queue::new()?)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder(entries: u32) -> RingBuilder {
        RingBuilder {
            entries,
            dontfork: false,
            at_event: false,
        }
    }
}

impl<Q: QueueRef> Ring<Q> {
    /// Maps a ring of `entries` events (a power of two, at most
    /// [`ring_max_entries`](crate::Features::ring_max_entries)) and
    /// registers it on `queue` (a [`Queue`], `Arc<Queue>` or `&Queue`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad size; `EBUSY` if the queue has a ring;
    /// `ENOMEM`; `Unsupported` without kevent.
    pub fn new(queue: Q, entries: u32) -> io::Result<Self> {
        Ring::builder(entries).build(queue)
    }

    /// The queue the ring is registered on.
    pub fn queue(&self) -> &Queue {
        self.queue.queue()
    }

    /// Detaches the ring from its queue, unmaps it and gives the queue
    /// back (undrained events are lost: [`drain`](Ring::drain) first).
    /// Events queued later go to the queue's own waits again.
    ///
    /// # Errors
    ///
    /// If the detach fails, the memory is leaked (the kernel may still
    /// hold it) and the error returned; the queue is dropped. In a forked
    /// child (not the registering process) it fails with `EPERM` and
    /// leaves the parent's ring registered.
    pub fn detach(self) -> io::Result<Q> {
        // SAFETY: getpid() has no preconditions.
        if unsafe { libc::getpid() } != self.owner {
            drop(self); // as Drop does in a child: nothing detached
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the queue is read out once.
        let queue = unsafe { ptr::read(&this.queue) };
        let fd = queue.queue().as_raw_fd();
        // SAFETY: no memory is passed.
        match unsafe { sys::kevent_ring_init(fd, ptr::null_mut(), 0, 0) } {
            Ok(()) => {
                // SAFETY: detached: the kernel no longer holds the ring.
                unsafe { this.mem.unmap() };
                Ok(queue)
            }
            Err(e) => Err(os_error(e)),
        }
    }

    /// How many entries the ring has.
    pub fn entries(&self) -> u32 {
        self.mem.entries
    }

    /// Events in the ring not yet drained.
    #[inline]
    pub fn len(&self) -> usize {
        self.mem.len()
    }

    /// Whether no event waits in the ring.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the last [`wait`](Ring::wait) filled the ring while events
    /// were left queued in the kernel (`KEVENT_RING_FULL`).
    #[inline]
    pub fn overflowed(&self) -> bool {
        self.mem.flags().load(Ordering::Acquire) & sys::KEVENT_RING_FULL != 0
    }

    /// Waits for an event (or `timeout`; `None`: forever), then has the
    /// kernel copy as many events as the ring has free entries. Returns
    /// how many it copied; for a ring written at event time
    /// ([`RingBuilder::at_event`]), how many the ring holds, and at once
    /// if it holds any (with [`Wait::min`], once its entries and the
    /// queued events number that many, or it is full).
    ///
    /// # Errors
    ///
    /// `ENOSPC` if the ring is full: [`drain`](Ring::drain) it (never for
    /// a ring written at event time, which may fill between a look and
    /// the call: the call returns its capacity instead). `EPERM` in
    /// another process than the one that registered the ring; `ENXIO` if
    /// the ring was detached behind our back; `Interrupted` on a signal.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        self.wait_with(&Wait::new(timeout))
    }

    /// Like [`wait`](Ring::wait), waiting as `how` says (deadline, clock,
    /// minimum number of events, signal mask).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Queue, Ring, Wait};
    ///
    /// let mut ring = Ring::new(Queue::new()?, 64)?;
    /// ring.wait_with(&Wait::timeout(Duration::from_millis(1)).min(4))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with(&mut self, how: &Wait<'_>) -> io::Result<usize> {
        let max = self.mem.entries as usize;
        let args = how.raw(max);
        let (args_ptr, args_size) = match &args {
            Some(a) => (
                a as *const sys::kevent_wait_args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            ),
            None => (ptr::null(), 0),
        };
        // SAFETY: the registered ring is our live mapping (see `build`);
        // `args` lives across the call, its sigmask pointing into `how`.
        let n = unsafe {
            sys::kevent_wait(
                self.queue.queue().as_raw_fd(),
                max as c_uint,
                args_ptr,
                args_size,
            )
        }
        .map_err(os_error)?;
        if n == 0 && self.mem.at_event {
            // A zero count from a wait that did not sleep was read without
            // a barrier after our last tail store: look again, settled,
            // so that "empty" can be the last look before a sleep
            // elsewhere (see `RingBuilder::at_event`).
            return Ok(self.mem.len());
        }
        Ok(n as usize)
    }

    /// Reads the events in the ring, oldest first. The entries read are
    /// handed back to the kernel once, when the `Drain` is dropped (one
    /// release store); entries not read stay in the ring for the next
    /// drain.
    ///
    /// ```no_run
    /// # use kevent::{Queue, Ring};
    /// let mut ring = Ring::new(Queue::new()?, 256)?;
    /// loop {
    ///     ring.wait(None)?;
    ///     let drain = ring.drain();
    ///     println!("{} events", drain.len());
    ///     for event in drain {
    ///         println!("{:?} {}", event.kind(), event.id());
    ///     }
    /// #   break;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        self.mem.drain()
    }

    /// The events in the ring, as [`drain`](Ring::drain) reads them; if
    /// it holds none, first waits as [`wait`](Ring::wait) does (the
    /// `Drain` is empty if `timeout` passed). It looks at the ring once
    /// where [`is_empty`](Ring::is_empty) and then `drain` look twice:
    /// the loop of a ring written at event time, which holds events
    /// without a system call while they keep coming.
    ///
    /// It calls into the kernel only when the ring is empty. On a ring
    /// written at event time, the events that only a wait copies
    /// (timers, signals, level-triggered, oneshot and dispatched
    /// kevents, and events that came while the ring was full: see
    /// [`RingBuilder::at_event`]) would wait as long as the ring never
    /// empties under a steady stream of events: a loop that has them
    /// calls `wait(Some(Duration::ZERO))` after each drain as well.
    ///
    /// ```no_run
    /// # use kevent::{Queue, Ring};
    /// let mut ring = Ring::builder(256).at_event().build(Queue::new()?)?;
    /// loop {
    ///     for event in ring.drain_or_wait(None)? {
    ///         println!("{:?} {}", event.kind(), event.user_data());
    ///     }
    /// #   break;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`wait`](Ring::wait), which it calls only when the ring is
    /// empty.
    #[inline]
    pub fn drain_or_wait(&mut self, timeout: Option<Duration>) -> io::Result<Drain<'_>> {
        self.drain_or_wait_with(&Wait::new(timeout))
    }

    /// Like [`drain_or_wait`](Ring::drain_or_wait), waiting (if the ring
    /// is empty) as `how` says, as [`wait_with`](Ring::wait_with) does.
    #[inline]
    pub fn drain_or_wait_with(&mut self, how: &Wait<'_>) -> io::Result<Drain<'_>> {
        let (tail, head) = self.mem.bounds();
        if tail == head {
            self.wait_with(how)?;
            return Ok(self.mem.drain());
        }
        Ok(Drain {
            mem: &mut self.mem,
            tail,
            head,
        })
    }
}

impl<Q: QueueRef> Drop for Ring<Q> {
    fn drop(&mut self) {
        // SAFETY: getpid() has no preconditions.
        if unsafe { libc::getpid() } != self.owner {
            // A forked child's copy: the ring the queue has is the
            // parent's, which the kernel never writes from here (EPERM);
            // detaching it would take it from the parent. Our copy of the
            // memory (the parent's events, or zeroes with dontfork:
            // MADV_WIPEONFORK) is ours alone.
            // SAFETY: our private copy; the kernel writes ring memory
            // only for the registering process.
            unsafe { self.mem.unmap() };
            return;
        }
        // SAFETY: detaching passes no memory; after it succeeded the kernel
        // no longer writes ours, which we then unmap. If it fails (EINTR
        // from a fatal signal, EBADF from someone closing our queue's
        // descriptor), leaking beats unmapping memory the kernel may still
        // write.
        let fd = self.queue.queue().as_raw_fd();
        // SAFETY: see above; no memory is passed.
        if unsafe { sys::kevent_ring_init(fd, ptr::null_mut(), 0, 0) }.is_ok() {
            // SAFETY: the kernel no longer holds the ring.
            unsafe { self.mem.unmap() };
        }
    }
}

/// The iterator of [`Ring::drain`]: the events from the ring's tail to the
/// head loaded when it was made. It keeps its position locally and stores
/// the ring's tail once, on drop.
#[derive(Debug)]
#[must_use = "the events not read stay in the ring, and the next drain returns them again"]
pub struct Drain<'r> {
    mem: &'r mut RingMem,
    tail: u32,
    head: u32,
}

impl Iterator for Drain<'_> {
    type Item = Event;

    #[inline]
    fn next(&mut self) -> Option<Event> {
        if self.tail == self.head {
            return None;
        }
        // SAFETY: the entry is inside our mapping; the acquire load of head
        // in `drain` orders this read after the kernel's write, and the
        // kernel does not write it again until we publish the tail.
        let raw = unsafe { ptr::read(self.mem.entry(self.tail)) };
        self.tail = self.tail.wrapping_add(1);
        Some(Event { raw })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.head.wrapping_sub(self.tail) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Drain<'_> {}

impl std::iter::FusedIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    #[inline]
    fn drop(&mut self) {
        // Hand the entries read back to the kernel, after reading them.
        // On a ring written at event time, the full fence the kernel's
        // barrier pairs with is in the next look that finds the ring
        // empty (`RingMem::settled_head`), not here.
        self.mem.tail().store(self.tail, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    //! The consumer side against a fake kernel: plain `cargo test` (and
    //! Miri, which does not support `mmap`... so the memory here is a
    //! heap allocation, see `fake`).
    use super::*;

    /// A ring as the kernel would leave it after `kevent_ring_init`, with
    /// head and tail at `start`, in heap memory.
    fn fake(entries: u32, start: u32) -> (RingMem, Vec<u64>) {
        let words = (64 + 32 * entries as usize) / 8;
        let mut heap = vec![0u64; words];
        let mem = RingMem {
            ptr: NonNull::new(heap.as_mut_ptr().cast()).unwrap(),
            size: words * 8,
            entries,
            at_event: false,
            between_loads: None,
        };
        mem.head().store(start, Ordering::Relaxed);
        mem.tail().store(start, Ordering::Relaxed);
        (mem, heap)
    }

    /// What `kevent_wait` does: entries from head on, then head
    /// (release). Refuses to overwrite an entry not consumed.
    fn kernel_push(mem: &RingMem, ids: impl IntoIterator<Item = u64>) {
        let mut head = mem.head().load(Ordering::Relaxed);
        for id in ids {
            let tail = mem.tail().load(Ordering::Acquire);
            assert!(head.wrapping_sub(tail) < mem.entries, "the ring is full");
            // SAFETY: inside the fake ring.
            unsafe {
                ptr::write(
                    mem.entry(head),
                    sys::kevent_event {
                        id,
                        type_: sys::KEVENT_USER as u16,
                        data: 1,
                        ..Default::default()
                    },
                )
            };
            head = head.wrapping_add(1);
        }
        mem.head().store(head, Ordering::Release);
    }

    #[test]
    fn drain_crosses_the_index_wrap() {
        // Head and tail start 3 below 2^32; 5 laps of up to 4 events wrap
        // both past u32::MAX.
        let (mut mem, _heap) = fake(4, u32::MAX - 2);
        let mut next = 0u64;
        let mut seen = Vec::new();
        for lap in 0..5 {
            let n = 1 + lap % 4;
            kernel_push(&mem, next..next + n);
            next += n;
            assert_eq!(mem.len(), n as usize);
            let drain = mem.drain();
            assert_eq!(drain.len(), n as usize, "ExactSizeIterator");
            seen.extend(drain.map(|e| e.id()));
            assert_eq!(mem.len(), 0);
        }
        assert_eq!(seen, (0..next).collect::<Vec<_>>());
        let tail = mem.tail().load(Ordering::Relaxed);
        assert_eq!(tail, (u32::MAX - 2).wrapping_add(next as u32));
        assert!(tail < 100, "wrapped past 2^32: tail {tail}");
    }

    #[test]
    fn drain_publishes_once_and_keeps_what_it_did_not_read() {
        let (mut mem, _heap) = fake(8, u32::MAX);
        kernel_push(&mem, [10, 11, 12]);
        {
            let mut drain = mem.drain();
            assert_eq!(drain.next().map(|e| e.id()), Some(10));
            assert_eq!(drain.len(), 2);
            // Not published while the drain lives.
            assert_eq!(drain.mem.tail().load(Ordering::Relaxed), u32::MAX);
        }
        assert_eq!(mem.tail().load(Ordering::Relaxed), 0, "one entry, wrapped");
        assert_eq!(mem.len(), 2);
        // A forgotten drain publishes nothing: the events stay.
        std::mem::forget(mem.drain());
        assert_eq!(mem.len(), 2);
        let ids: Vec<_> = mem.drain().map(|e| e.id()).collect();
        assert_eq!(ids, [11, 12]);
        // The kernel may now fill the whole ring again, across the wrap.
        kernel_push(&mem, 20..28);
        assert_eq!(
            mem.drain().map(|e| e.id()).collect::<Vec<_>>(),
            (20..28).collect::<Vec<_>>()
        );
    }

    /// A `dontfork` ring in a forked child: the safe accessors read an
    /// empty ring, without faulting (they would on a `MADV_DONTFORK`
    /// mapping, which the child does not have), and the parent's events
    /// stay. Runs on the host: the memory is a real mapping, the kernel a
    /// fake one.
    #[test]
    #[cfg_attr(miri, ignore = "mmap and fork")]
    fn dontfork_child_reads_an_empty_ring() {
        let mut mem = RingMem::map(4, true).unwrap();
        kernel_push(&mem, [1, 2, 3]);
        mem.flags().store(sys::KEVENT_RING_FULL, Ordering::Release);
        // The child only reads and writes the ring through atomics and
        // ptr::read (no allocation, no lock).
        let code = crate::in_a_child(|| {
            let mut code = 0;
            if mem.len() != 0 {
                code |= 1;
            }
            if mem.flags().load(Ordering::Acquire) != 0 {
                code |= 2;
            }
            {
                let mut drain = mem.drain();
                if drain.len() != 0 || drain.next().is_some() {
                    code |= 4;
                }
            } // publishes the tail: a write into the child's memory
              // SAFETY: the child's own copy, which no kernel holds.
            unsafe { mem.unmap() };
            code
        });
        assert_eq!(
            code, 0,
            "the child saw a non-empty ring (1: len, 2: flags, 4: drain)"
        );
        // The parent's ring is untouched.
        assert_eq!(mem.len(), 3);
        assert_eq!(mem.drain().map(|e| e.id()).collect::<Vec<_>>(), [1, 2, 3]);
        // SAFETY: never registered with a kernel.
        unsafe { mem.unmap() };
    }

    /// A ring written at event time: a look that finds it empty loads
    /// head a second time (behind a fence), and sees an entry the kernel
    /// wrote between the two loads; a look at another ring does not. And
    /// every look still counts what the kernel published.
    #[test]
    fn an_at_event_ring_reads_its_head_again_when_empty() {
        for at_event in [false, true] {
            let (mut mem, _heap) = fake(4, 3);
            mem.at_event = at_event;
            mem.between_loads = Some(|mem| kernel_push(mem, [5]));
            assert_eq!(mem.len(), usize::from(at_event), "at_event {at_event}");
        }
        let (mut mem, _heap) = fake(4, 9);
        mem.at_event = true;
        assert_eq!((mem.len(), mem.drain().len()), (0, 0));
        kernel_push(&mem, [1, 2]);
        assert_eq!(mem.len(), 2);
        {
            let mut drain = mem.drain();
            assert_eq!(drain.next().map(|e| e.id()), Some(1));
        } // publishes tail 10: one entry left
        assert_eq!(mem.len(), 1);
        assert_eq!(mem.drain().map(|e| e.id()).collect::<Vec<_>>(), [2]);
        assert_eq!((mem.len(), mem.drain().len()), (0, 0));
        kernel_push(&mem, [3]);
        assert_eq!(mem.drain().map(|e| e.id()).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_corrupt_head_reads_no_more_than_the_ring() {
        let (mut mem, _heap) = fake(4, 7);
        mem.head().store(7 + 1000, Ordering::Release);
        assert_eq!(mem.len(), 4);
        assert_eq!(mem.drain().len(), 4);
    }
}
