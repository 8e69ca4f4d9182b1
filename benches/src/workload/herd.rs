//! Thundering herd: several threads wait for one fd; a producer makes it
//! ready one event at a time and waits until a thread has taken it. What
//! counts is how many threads each event wakes.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::mechanism::{cvt, HerdFactory, HerdWaiter};

/// What one run of [`herd`] measured.
pub struct HerdResult {
    /// From the first event to the last one taken.
    pub elapsed: Duration,
    pub events: u64,
    /// Times the waiting threads went to sleep (voluntary context
    /// switches): one per wake-up. A thread that finds the next event
    /// before it sleeps takes it without one.
    pub wakeups: u64,
    /// Wake-ups that returned to a thread with nothing left to take.
    pub spurious: u64,
}

/// Counts its thread as exited when dropped, even by a panic, so that
/// the producer's stop loop ends.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.exited.fetch_add(1, Ordering::Release);
    }
}

struct Shared {
    stop: AtomicBool,
    /// Set by a thread whose wait failed (it then acknowledges, so that
    /// the producer does not wait forever).
    failed: AtomicBool,
    spurious: AtomicU64,
    exited: AtomicUsize,
    tids: Mutex<Vec<libc::pid_t>>,
}

fn eventfd(flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the new descriptor is ours.
    let fd = cvt(unsafe { libc::eventfd(0, flags | libc::EFD_CLOEXEC) })?;
    // SAFETY: just created, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn add(fd: RawFd, value: u64) {
    // SAFETY: writes 8 bytes from `value`.
    unsafe { libc::write(fd, (&value as *const u64).cast(), 8) };
}

/// Waits up to `timeout` for `fd` to be readable, then takes its value.
/// A lost wake-up in the kernel under test fails the run instead of
/// stalling the VM until its timeout.
fn take_within(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, alive across the call.
    let n = cvt(unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) })?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no thread took the event within 10 s: a lost wake-up?",
        ));
    }
    if take(fd) {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn take(fd: RawFd) -> bool {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into `value`.
    unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) == 8 }
}

/// The voluntary context switches of thread `tid` of this process.
fn voluntary_switches(tid: libc::pid_t) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/self/task/{tid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no voluntary_ctxt_switches"))
}

/// Whether thread `tid` of this process is asleep (state S).
fn asleep(tid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('S'))
        })
        .unwrap_or(false)
}

/// Waits (up to a second) until every thread in `tids` sleeps, so that
/// each wake-up so far has been followed by its sleep and counted.
fn settle(tids: &[libc::pid_t]) {
    let start = Instant::now();
    while !tids.iter().all(|&t| asleep(t)) && start.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(1));
    }
}

/// The upper bound without a mechanism: a counter and a condition
/// variable (a futex), which wakes one thread per notification.
struct Handoff {
    pending: Mutex<u64>,
    cond: Condvar,
}

struct HandoffWaiter(Arc<Handoff>);

impl HerdWaiter for HandoffWaiter {
    fn wait(&mut self) -> io::Result<()> {
        let mut pending = self.0.pending.lock().unwrap();
        while *pending == 0 {
            pending = self.0.cond.wait(pending).unwrap();
        }
        *pending -= 1;
        Ok(())
    }
}

/// `threads` threads wait through `mech` (`None`: the handoff bound) for
/// an eventfd; `events` times, the producer adds to it and waits for the
/// thread that read it to acknowledge.
pub fn herd(mech: Option<HerdFactory>, threads: usize, events: u64) -> io::Result<HerdResult> {
    let work = eventfd(libc::EFD_NONBLOCK)?;
    let ack = eventfd(libc::EFD_NONBLOCK)?;
    let handoff = Arc::new(Handoff {
        pending: Mutex::new(0),
        cond: Condvar::new(),
    });
    let waiters: Vec<Box<dyn HerdWaiter>> = match mech {
        Some(factory) => factory(work.as_raw_fd(), threads)?,
        None => (0..threads)
            .map(|_| Box::new(HandoffWaiter(Arc::clone(&handoff))) as Box<dyn HerdWaiter>)
            .collect(),
    };
    let signal = || {
        add(work.as_raw_fd(), 1);
        if mech.is_none() {
            *handoff.pending.lock().unwrap() += 1;
            handoff.cond.notify_one();
        }
    };
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        failed: AtomicBool::new(false),
        spurious: AtomicU64::new(0),
        exited: AtomicUsize::new(0),
        tids: Mutex::new(Vec::new()),
    });
    let (work_fd, ack_fd) = (work.as_raw_fd(), ack.as_raw_fd());
    let handles: Vec<_> = waiters
        .into_iter()
        .map(|mut w| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || -> io::Result<()> {
                let _exit = ExitGuard(Arc::clone(&shared));
                // SAFETY: plain system call.
                shared.tids.lock().unwrap().push(unsafe { libc::gettid() });
                loop {
                    if let Err(e) = w.wait() {
                        shared.failed.store(true, Ordering::Release);
                        add(ack_fd, 1);
                        break Err(e);
                    }
                    if shared.stop.load(Ordering::Acquire) {
                        break Ok(());
                    }
                    if take(work_fd) {
                        add(ack_fd, 1);
                    } else {
                        shared.spurious.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let measured = (|| -> io::Result<HerdResult> {
        while shared.tids.lock().unwrap().len() < threads {
            thread::sleep(Duration::from_millis(1));
        }
        let tids = shared.tids.lock().unwrap().clone();
        settle(&tids);
        let switches = || {
            tids.iter()
                .map(|&t| voluntary_switches(t))
                .sum::<io::Result<u64>>()
        };
        let (switches0, spurious0) = (switches()?, shared.spurious.load(Ordering::Relaxed));
        let start = Instant::now();
        for _ in 0..events {
            signal();
            take_within(ack_fd, Duration::from_secs(10))?;
            if shared.failed.load(Ordering::Acquire) {
                return Err(io::Error::other("a waiting thread failed"));
            }
        }
        let elapsed = start.elapsed();
        settle(&tids);
        Ok(HerdResult {
            elapsed,
            events,
            wakeups: switches()? - switches0,
            spurious: shared.spurious.load(Ordering::Relaxed) - spurious0,
        })
    })();

    // Wake the threads until all have seen `stop`.
    shared.stop.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.exited.load(Ordering::Acquire) < threads {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "herd threads did not all wake up to stop within 10 s",
            ));
        }
        signal();
        thread::sleep(Duration::from_millis(1));
    }
    for h in handles {
        h.join().expect("herd thread panicked")?;
    }
    measured
}
