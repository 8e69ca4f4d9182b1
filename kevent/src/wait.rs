//! How a wait waits: `struct kevent_wait_args`.

use std::time::Duration;

use kevent_sys as sys;

use crate::interest::{nanos, Clock, Deadline};

/// How [`Queue::wait_with`](crate::Queue::wait_with) and
/// [`Ring::wait_with`](crate::Ring::wait_with) wait: a timeout or an
/// absolute deadline on a [`Clock`], how many events to wait for, and a
/// signal mask to wait with. Built on the stack: no allocation.
///
/// ```no_run
/// use std::time::Duration;
/// use kevent::{Clock, Deadline, Events, Queue, Wait};
///
/// let queue = Queue::new()?;
/// let mut events = Events::with_capacity(64);
/// // Up to 10 ms, returning early only once 8 events are ready.
/// queue.wait_with(&mut events, &Wait::timeout(Duration::from_millis(10)).min(8))?;
/// // Until a wall-clock time.
/// let at = Deadline::after_on(Clock::Realtime, Duration::from_secs(1));
/// queue.wait_with(&mut events, &Wait::deadline(at))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy)]
#[must_use = "a Wait does nothing until a wait call takes it"]
pub struct Wait<'a> {
    timeout_ns: u64,
    absolute: bool,
    clock: Clock,
    min: usize,
    sigmask: Option<&'a libc::sigset_t>,
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait")
            .field("timeout_ns", &self.timeout_ns)
            .field("absolute", &self.absolute)
            .field("clock", &self.clock)
            .field("min", &self.min)
            .field("sigmask", &self.sigmask.is_some())
            .finish()
    }
}

impl Default for Wait<'_> {
    fn default() -> Self {
        Wait::forever()
    }
}

impl Wait<'static> {
    /// Wait as long as it takes.
    pub const fn forever() -> Self {
        Wait {
            timeout_ns: sys::KEVENT_TIMEOUT_INFINITE,
            absolute: false,
            clock: Clock::Monotonic,
            min: 1,
            sigmask: None,
        }
    }

    /// Wait at most `timeout` (zero: take what is ready, do not sleep).
    /// A timeout too large for 64-bit nanoseconds saturates at 584 years,
    /// never turning into "forever".
    pub fn timeout(timeout: Duration) -> Self {
        Wait {
            timeout_ns: nanos(timeout).min(sys::KEVENT_TIMEOUT_INFINITE - 1),
            ..Wait::forever()
        }
    }

    /// [`timeout`](Self::timeout), or [`forever`](Self::forever) for
    /// `None`.
    pub fn new(timeout: Option<Duration>) -> Self {
        timeout.map_or(Wait::forever(), Wait::timeout)
    }

    /// Wait until `deadline`; a deadline already past does not sleep.
    pub fn deadline(deadline: Deadline) -> Self {
        Wait {
            absolute: true,
            clock: deadline.clock(),
            ..Wait::timeout(deadline.time())
        }
    }
}

impl<'a> Wait<'a> {
    /// Wait until `min` kevents have events ready, not just one (0 acts as
    /// 1; a kevent counts once, however many events it collected); the
    /// timeout still ends the wait. Clamped to the buffer's capacity (the
    /// kernel refuses a larger `min`). For a ring written at event time
    /// ([`RingBuilder::at_event`](crate::RingBuilder::at_event)), the
    /// ring's entries count too, and a full ring ends the wait.
    pub fn min(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// The clock a relative timeout runs on (default
    /// [`Clock::Monotonic`]; [`Clock::Boottime`] counts suspended time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Wait with this signal mask instead of the thread's, as
    /// `epoll_pwait2` does: the mask is installed for the wait and the
    /// thread's restored after it, atomically; a signal the mask unblocks
    /// runs its handler and ends the wait with
    /// [`Interrupted`](std::io::ErrorKind::Interrupted). With nix, pass
    /// `SigSet::as_ref()`.
    pub fn sigmask<'b>(self, mask: &'b libc::sigset_t) -> Wait<'b> {
        Wait {
            timeout_ns: self.timeout_ns,
            absolute: self.absolute,
            clock: self.clock,
            min: self.min,
            sigmask: Some(mask),
        }
    }

    /// This wait, but without sleeping (a zero relative timeout): what
    /// is ready is taken at once.
    pub(crate) fn no_sleep(&self) -> Wait<'a> {
        Wait {
            timeout_ns: 0,
            absolute: false,
            ..*self
        }
    }

    /// Whether the kernel's default (no arguments: forever, one event, the
    /// thread's mask) is what this wait asks for.
    fn is_default(&self) -> bool {
        self.timeout_ns == sys::KEVENT_TIMEOUT_INFINITE
            && self.min <= 1
            && self.sigmask.is_none()
            && self.clock == Clock::Monotonic
    }

    /// The arguments for a wait of at most `max` events (`max` > 0), or
    /// `None` for the kernel's default. The pointer in `sigmask` borrows
    /// `self`'s mask.
    pub(crate) fn raw(&self, max: usize) -> Option<sys::kevent_wait_args> {
        if self.is_default() {
            return None;
        }
        let (sigmask, sigmask_size) = match self.sigmask {
            Some(mask) => (
                mask as *const libc::sigset_t as usize as u64,
                sys::KERNEL_SIGSET_SIZE,
            ),
            None => (0, 0),
        };
        Some(sys::kevent_wait_args {
            timeout_ns: self.timeout_ns,
            sigmask,
            sigmask_size,
            clock: self.clock.raw(),
            min_nr: self.min.min(max) as u32,
            flags: if self.absolute {
                sys::KEVENT_WAIT_ABSTIME
            } else {
                0
            },
            ..Default::default()
        })
    }
}

impl From<Option<Duration>> for Wait<'static> {
    fn from(timeout: Option<Duration>) -> Self {
        Wait::new(timeout)
    }
}

impl From<Duration> for Wait<'static> {
    fn from(timeout: Duration) -> Self {
        Wait::timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sleep_keeps_all_but_the_timeout() {
        // SAFETY: an all-zero sigset_t is a valid (empty) set.
        let mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        let at = Deadline::after_on(Clock::Realtime, Duration::from_secs(5));
        let w = Wait::deadline(at).min(4).sigmask(&mask).no_sleep();
        let raw = w.raw(8).unwrap();
        assert_eq!((raw.timeout_ns, raw.flags, raw.min_nr), (0, 0, 4));
        assert_eq!(raw.clock, Clock::Realtime.raw());
        assert_eq!(raw.sigmask, &mask as *const libc::sigset_t as usize as u64);
        // Forever becomes a poll, not the kernel's default.
        let raw = Wait::forever().no_sleep().raw(8).unwrap();
        assert_eq!((raw.timeout_ns, raw.min_nr), (0, 1));
    }
}
