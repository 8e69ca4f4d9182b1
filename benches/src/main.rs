//! Benchmark driver: runs the comparison workloads against every mechanism
//! in one process (one VM run), and prints CSV rows:
//! `workload,params,mechanism,metric,value,reps,min,max`.
//!
//! ```text
//! kevent-benches [--quick] [--reps N] [--csv PATH]
//! ```
//!
//! `--csv PATH` also writes the rows to PATH (ci/main.sh passes a file in
//! the report folder, shared with the VM).
//!
//! Workloads so far: the libevent `bench.c` method. See benches/README.md
//! for what is still to come.

mod mechanism;
mod workload;

use std::fs::File;
use std::io::{self, Write};

use mechanism::{Epoll, IoUringPoll, KeventGet, KeventRing, Mechanism};

type Factory = fn() -> io::Result<Box<dyn Mechanism>>;

/// Every mechanism; `None` is the loop without one (the upper bound).
fn mechanisms() -> Vec<Option<Factory>> {
    vec![
        None,
        Some(|| Ok(Box::new(Epoll::new(false)?))),
        Some(|| Ok(Box::new(Epoll::new(true)?))),
        Some(|| Ok(Box::new(KeventGet::new()?))),
        Some(|| Ok(Box::new(KeventRing::new()?))),
        Some(|| Ok(Box::new(IoUringPoll::new()?))),
    ]
}

/// Median, min and max of `samples`.
fn stats(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (median, samples[0], samples[n - 1])
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    if !kevent::is_supported() {
        eprintln!(
            "kevent-benches: this kernel has no kevent: run it in the patched kernel (ci/main.sh)"
        );
        std::process::exit(2);
    }
    let mut csv = match args
        .iter()
        .position(|a| a == "--csv")
        .and_then(|i| args.get(i + 1))
    {
        Some(path) => Some(File::create(path)?),
        None => None,
    };
    let mut emit = |line: String| -> io::Result<()> {
        println!("{line}");
        if let Some(f) = csv.as_mut() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    };
    workload::raise_fd_limit();
    let sizes: &[usize] = if quick {
        &[100, 1000]
    } else {
        &[100, 1000, 10000]
    };
    let (active, writes) = (100, if quick { 20_000 } else { 100_000 });
    emit("workload,params,mechanism,metric,value,reps,min,max".to_string())?;
    for &n in sizes {
        for factory in mechanisms() {
            let mut samples = Vec::with_capacity(reps);
            let mut name = "none";
            for _ in 0..reps {
                let mut mech = factory.map(|f| f()).transpose()?;
                name = mech.as_ref().map_or("none", |m| m.name());
                let (time, events) = workload::libevent_bench(&mut mech, n, active.min(n), writes)?;
                samples.push(time.as_nanos() as f64 / events as f64);
            }
            let (median, min, max) = stats(&mut samples);
            emit(format!(
                "libevent-bench,pairs={n};active={};writes={writes},{name},ns_per_event,{median:.1},{reps},{min:.1},{max:.1}",
                active.min(n)
            ))?;
            eprintln!("libevent-bench pairs={n} {name}: {median:.0} ns/event");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_median_min_max() {
        assert_eq!(stats(&mut [3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&mut [4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn upper_bound_loop_handles_every_byte() {
        let (_, events) = workload::libevent_bench(&mut None, 10, 3, 50).unwrap();
        assert_eq!(events, 53);
    }

    #[test]
    fn io_uring_loop_handles_every_byte() {
        // io_uring may be disabled (io_uring_disabled sysctl, seccomp).
        let Ok(ring) = IoUringPoll::new() else {
            return;
        };
        let mut m: Option<Box<dyn Mechanism>> = Some(Box::new(ring));
        let (_, events) = workload::libevent_bench(&mut m, 100, 100, 20_000).unwrap();
        assert_eq!(events, 20_100);
    }

    #[test]
    fn epoll_loop_handles_every_byte() {
        for edge in [false, true] {
            let mut m: Option<Box<dyn Mechanism>> = Some(Box::new(Epoll::new(edge).unwrap()));
            let (_, events) = workload::libevent_bench(&mut m, 20, 5, 200).unwrap();
            assert_eq!(events, 205);
        }
    }
}
