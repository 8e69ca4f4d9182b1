//! The library's lock and condition variable: futex-based, as std's are,
//! but without poisoning.
//!
//! A panic is caught at the C boundary and the table stays usable, so the
//! library never wanted std's poisoning; yet std's `Mutex` checks the
//! thread's panic count at every lock and unlock, and `lock()` returns a
//! `Result` to unwrap: about 20 instructions per lock and unlock, taken
//! two or three times per `kevent()` (the registry, the queue's table).
//! This mutex is std's futex mutex without them: 0 unlocked, 1 locked,
//! 2 locked with waiters (Drepper, "Futexes Are Tricky", mutex 2).
//!
//! Across `fork()`: the forking thread holds the registry's lock (see
//! `queue.rs`, `before_fork`) and the child, which has only that thread,
//! releases it; a waiter's 2 copied into the child only costs the child
//! one `FUTEX_WAKE` of nobody.
//!
//! Only where `SYS_futex` takes the C library's `struct timespec`, with a
//! 64-bit time: 64-bit targets and x32. Elsewhere (i686, arm, riscv32:
//! `futex_time64`, or none at all) the same interface wraps std's types.

#[cfg(any(target_pointer_width = "64", target_arch = "x86_64"))]
pub use futex::{Condvar, Mutex, MutexGuard};
#[cfg(all(test, any(target_pointer_width = "64", target_arch = "x86_64")))]
use futex::{CONTENDED, UNLOCKED};
#[cfg(not(any(target_pointer_width = "64", target_arch = "x86_64")))]
pub use with_std::{Condvar, Mutex, MutexGuard};

#[cfg(not(any(target_pointer_width = "64", target_arch = "x86_64")))]
mod with_std {
    use std::time::Duration;

    /// std's mutex, its poisoning ignored.
    pub struct Mutex<T>(std::sync::Mutex<T>);

    pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub const fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// std's condition variable, its poisoning ignored.
    pub struct Condvar(std::sync::Condvar);

    impl Condvar {
        pub const fn new() -> Self {
            Condvar(std::sync::Condvar::new())
        }

        pub fn wait_timeout<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            timeout: Duration,
        ) -> MutexGuard<'a, T> {
            self.0
                .wait_timeout(guard, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }

        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(any(target_pointer_width = "64", target_arch = "x86_64"))]
mod futex {
    use std::cell::UnsafeCell;
    use std::marker::PhantomData;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    pub(super) const UNLOCKED: u32 = 0;
    const LOCKED: u32 = 1;
    pub(super) const CONTENDED: u32 = 2;

    /// `FUTEX_WAIT` on `word` while it holds `expected`, for `timeout` at most
    /// (`None`: without one). Returns on a wake-up, a timeout, a signal, or at
    /// once if the word changed: callers look again.
    fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            // i64 on x86-64 and x32 (whose `long` is 32 bits).
            tv_nsec: t.subsec_nanos() as _,
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
    #[cold]
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
        pub(super) state: AtomicU32,
        data: UnsafeCell<T>,
    }

    // SAFETY: the lock gives one thread at a time access to `data`, which
    // may move between threads (T: Send), as std's Mutex.
    unsafe impl<T: Send> Sync for Mutex<T> {}

    /// The lock held; released when dropped. Not `Send`, as std's: nothing
    /// needs to unlock on another thread.
    #[must_use = "the lock is released at once if the guard is not kept"]
    pub struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        not_send: PhantomData<*const ()>,
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
            MutexGuard {
                mutex: self,
                not_send: PhantomData,
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(any(target_pointer_width = "64", target_arch = "x86_64"))]
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    /// Runs `f` on a thread of its own; fails if it is still running after
    /// `limit`: a lost wake-up hangs, and the test should fail, not hang.
    /// The limits are minutes, far above the seconds these need on a
    /// loaded machine: they catch a hang, not slowness.
    fn finishes_within(limit: Duration, f: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let t = std::thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        match finished.recv_timeout(limit) {
            Ok(()) => t.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // It panicked: show its panic.
                t.join().unwrap();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("stuck for {limit:?}: a lost wake-up"),
        }
    }

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
    }

    #[cfg(any(target_pointer_width = "64", target_arch = "x86_64"))]
    #[test]
    fn waiters_are_marked_and_each_is_woken() {
        // Three threads block on a held lock: the word must say there are
        // waiters (else the unlock wakes nobody), and each must get the
        // lock once it is released, one unlock waking the next.
        let m = Arc::new(Mutex::new(0u32));
        let held = m.lock();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || *m.lock() += 1)
            })
            .collect();
        let word = Arc::clone(&m);
        finishes_within(Duration::from_secs(300), move || {
            while word.state.load(Ordering::Relaxed) != CONTENDED {
                std::thread::yield_now();
            }
        });
        drop(held);
        finishes_within(Duration::from_secs(300), move || {
            for w in waiters {
                w.join().unwrap();
            }
        });
        assert_eq!(*m.lock(), 3);
        assert_eq!(m.state.load(Ordering::Relaxed), UNLOCKED);
    }

    #[test]
    fn notifications_are_never_lost() {
        // Two threads take turns 20,000 times, each waiting (with a
        // timeout of an hour) for the other's notification: a notification
        // that slips between a waiter's unlock and its sleep hangs them.
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        // This thread's turns are those of `parity`: it takes one, notifies
        // and waits for the other's.
        fn take_turns(pair: &(Mutex<u32>, Condvar), parity: u32) {
            let (m, cv) = pair;
            let mut turn = m.lock();
            while *turn < 20_000 {
                if *turn % 2 == parity {
                    *turn += 1;
                    cv.notify_all();
                } else {
                    turn = cv.wait_timeout(turn, Duration::from_secs(3600));
                }
            }
        }
        finishes_within(Duration::from_secs(600), move || {
            let other = Arc::clone(&pair);
            let odd = std::thread::spawn(move || take_turns(&other, 1));
            take_turns(&pair, 0);
            odd.join().unwrap();
        });
    }

    #[test]
    fn a_wait_ends_at_its_timeout() {
        let m = Mutex::new(7);
        let cv = Condvar::new();
        let g = cv.wait_timeout(m.lock(), Duration::from_millis(1));
        assert_eq!(*g, 7);
    }
}
