//! Many periodic timers: how much CPU each expiration costs, in the whole
//! system (timer interrupts, wake-ups, the loop) and in the process.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::time::{Duration, Instant};

use crate::mechanism::Timers;

/// What one run of [`many_timers`] measured.
pub struct TimersResult {
    /// Arming all the timers.
    pub setup: Duration,
    /// Expirations reported in the window (missed periods included).
    pub expirations: u64,
    /// `expirations` against the periods that elapsed for all timers:
    /// 1.0 when every period is reported, less when some are lost or late.
    pub delivered: f64,
    /// Non-idle CPU time of all CPUs in the window.
    pub busy: Duration,
    /// The process's own CPU time (user + system) in the window.
    pub process: Duration,
}

/// Arms `count` timers of `period` and takes their expirations for
/// `window`. `None` is the upper bound: the timers in a heap in user space
/// and one sleep until the earliest.
pub fn many_timers(
    mech: Option<&mut (dyn Timers + 'static)>,
    count: usize,
    period: Duration,
    window: Duration,
) -> io::Result<TimersResult> {
    let mut heap = HeapTimers::default();
    let timers: &mut (dyn Timers + 'static) = match mech {
        Some(m) => m,
        None => &mut heap,
    };
    let start = Instant::now();
    timers.arm(count, period)?;
    let setup = start.elapsed();

    let (idle0, cpu0) = (idle_time()?, process_time());
    let start = Instant::now();
    let mut expirations = 0;
    // Past the window, wait on until something expired: a thread that
    // got no CPU for the whole window still counts the expirations
    // (the tests check that some are counted, never how many).
    loop {
        let left = window.saturating_sub(start.elapsed());
        if left.is_zero() && expirations > 0 {
            break;
        }
        expirations += timers.wait(left.max(Duration::from_millis(1)))?;
    }
    let elapsed = start.elapsed();
    let (idle1, cpu1) = (idle_time()?, process_time());
    let all = elapsed * num_cpus() as u32;
    let due = count as f64 * elapsed.as_secs_f64() / period.as_secs_f64();
    Ok(TimersResult {
        setup,
        expirations,
        delivered: expirations as f64 / due,
        busy: all.saturating_sub(idle1.saturating_sub(idle0)),
        process: cpu1.saturating_sub(cpu0),
    })
}

/// Idle time of all CPUs (idle + iowait in /proc/stat). With NO_HZ the
/// kernel measures it at every idle entry and exit, and an interrupt taken
/// while idle counts as busy; /proc/stat shows it in 10 ms units.
fn idle_time() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if fields.len() < 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/stat",
        ));
    }
    // SAFETY: plain library call.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(
        (fields[3] + fields[4]) * 1_000_000_000 / hz,
    ))
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// User plus system time of the process.
fn process_time() -> Duration {
    // SAFETY: `usage` is plain data, filled by the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` lives across the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The upper bound: deadlines in a binary heap, one sleep at a time.
#[derive(Default)]
struct HeapTimers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    period: Duration,
}

impl Timers for HeapTimers {
    fn arm(&mut self, count: usize, period: Duration) -> io::Result<()> {
        self.period = period;
        let first = Instant::now() + period;
        self.heap.extend((0..count).map(|id| Reverse((first, id))));
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        let Some(&Reverse((earliest, _))) = self.heap.peek() else {
            return Ok(0);
        };
        let until = earliest.min(Instant::now() + timeout);
        if let Some(sleep) = until.checked_duration_since(Instant::now()) {
            std::thread::sleep(sleep);
        }
        let t = Instant::now();
        let mut expirations = 0;
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > t {
                break;
            }
            self.heap.pop();
            // Count the periods missed, as timerfd and kevent do.
            let periods =
                (t.duration_since(deadline).as_nanos() / self.period.as_nanos()) as u32 + 1;
            expirations += u64::from(periods);
            self.heap
                .push(Reverse((deadline + self.period * periods, id)));
        }
        Ok(expirations)
    }
}
