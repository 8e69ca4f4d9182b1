//! The library's lock and condition variable: futex-based, as std's are,
//! but without poisoning.
//!
//! A panic is caught at the C boundary and the table stays usable, so the
//! library never wanted std's poisoning; yet std's `Mutex` checks the
//! thread's panic count at every lock and unlock, and `lock()` returns a
//! `Result` to unwrap: about 13 instructions per lock and unlock, taken
//! twice or three times per `kevent()` (the registry, the queue's table).
//! This mutex is std's futex mutex without them: 0 unlocked, 1 locked,
//! 2 locked with waiters (Drepper, "Futexes Are Tricky", mutex 2).
//!
//! Across `fork()`: the forking thread holds the registry's lock (see
//! `queue.rs`, `before_fork`) and the child, which has only that thread,
//! releases it; a waiter's 2 copied into the child only costs the child
//! one `FUTEX_WAKE` of nobody.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// `FUTEX_WAIT` on `word` while it holds `expected`, for `timeout` at most
/// (`None`: without one). Returns on a wake-up, a timeout, a signal, or at
/// once if the word changed: callers look again.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().try_into().unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos().into(),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the call; `ts_ptr` is null
    // or points to `ts` on this stack. FUTEX_PRIVATE: this process only.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        )
    };
}

/// `FUTEX_WAKE` of up to `n` threads waiting on `word`.
fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE reads nothing else.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        )
    };
}

/// A mutual-exclusion lock without poisoning.
pub struct Mutex<T> {
    state: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the lock gives one thread at a time access to `data`, which
// may move between threads (T: Send), as std's Mutex.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Mutex<T> {}

/// The lock held; released when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

// SAFETY: a shared guard gives `&T` only (T: Sync), as std's MutexGuard.
unsafe impl<T: Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            state: AtomicU32::new(UNLOCKED),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting for another holder if there is one.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        MutexGuard { mutex: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut state = self.spin();
        if state == UNLOCKED {
            match self.state.compare_exchange(
                UNLOCKED,
                LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(s) => state = s,
            }
        }
        loop {
            // Say there are waiters; if it was unlocked, it is ours (as
            // contended: the unlock then wakes one, perhaps for nothing).
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            futex_wait(&self.state, CONTENDED, None);
            state = self.spin();
        }
    }

    /// Spins a little while the lock is held without waiters, as std does:
    /// a holder of the table is usually out within a few hundred cycles.
    fn spin(&self) -> u32 {
        let mut spins = 100;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state != LOCKED || spins == 0 {
                return state;
            }
            std::hint::spin_loop();
            spins -= 1;
        }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.mutex.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(&self.mutex.state, 1);
        }
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and is borrowed mutably.
        unsafe { &mut *self.mutex.data.get() }
    }
}

/// A condition variable for [`Mutex`]: a sequence number that every
/// notification bumps, so that a notification between the unlock and the
/// sleep of [`Condvar::wait_timeout`] ends the sleep at once.
pub struct Condvar {
    seq: AtomicU32,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Condvar {
            seq: AtomicU32::new(0),
        }
    }

    /// Unlocks `guard`, sleeps until a notification or for `timeout` at
    /// most (or less: callers look at their condition again), and locks
    /// again.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> MutexGuard<'a, T> {
        let seq = self.seq.load(Ordering::Relaxed);
        let mutex = guard.mutex;
        drop(guard);
        futex_wait(&self.seq, seq, Some(timeout));
        mutex.lock()
    }

    /// Wakes every thread in [`Condvar::wait_timeout`].
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        futex_wake(&self.seq, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn one_holder_at_a_time() {
        // Four threads each add 1 to a plain counter 20,000 times under
        // the lock: a lost update (two holders at once) leaves it short.
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let mut g = m.lock();
                        let v = *g;
                        std::hint::black_box(&v);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 80_000);
        assert_eq!(m.state.load(Ordering::Relaxed), UNLOCKED);
    }

    #[test]
    fn a_notification_ends_the_wait() {
        // The waiter sleeps with a timeout of an hour, so the test ends
        // only if notify_all() wakes it.
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiting = Arc::new(AtomicBool::new(false));
        let (p, w) = (Arc::clone(&pair), Arc::clone(&waiting));
        let waiter = std::thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock();
            w.store(true, Ordering::SeqCst);
            while !*g {
                g = cv.wait_timeout(g, Duration::from_secs(3600));
            }
        });
        while !waiting.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let (m, cv) = &*pair;
        *m.lock() = true;
        cv.notify_all();
        waiter.join().unwrap();
    }

    #[test]
    fn a_wait_ends_at_its_timeout() {
        let m = Mutex::new(7);
        let cv = Condvar::new();
        let g = cv.wait_timeout(m.lock(), Duration::from_millis(1));
        assert_eq!(*g, 7);
    }
}
