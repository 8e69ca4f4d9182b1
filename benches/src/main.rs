//! Benchmark driver: runs every workload against every mechanism in one
//! process (one VM run), shows its progress on stderr, and prints CSV rows:
//! `workload,params,mechanism,metric,value,reps,min,max,note`.
//!
//! ```text
//! kevent-benches [--quick] [--reps N] [--csv PATH] [--only WORKLOAD]
//!                [--mechanism NAME[,NAME...]] [--pipe-tokens N] [--tcp]
//! ```
//!
//! `value` is the median of `reps` runs, `min` and `max` their spread. A
//! workload with no natural form for a mechanism gets a row with no value
//! and the reason in `note`. `--csv PATH` also writes the rows to PATH
//! (ci/main.sh passes a file in the report folder, shared with the VM).
//! `--tcp` also runs the socket-pair workloads over loopback TCP
//! connections (`sockets=tcp` in their parameters).
//! Workloads: `libevent-bench`, `oneshot-rearm`, `pipes`, `timers`, `herd`,
//! `proc-exits`, `signals`, `inode-creates`.

mod insn_mark;
mod mechanism;
mod stats;
mod workload;

use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use mechanism::{Mechanism, Support};
use stats::{csv_field, stats};

/// Sizes and lengths of one mode (quick or full).
struct Plan {
    pair_counts: &'static [usize],
    /// The sockets of the socket-pair workloads: unix, and TCP with --tcp.
    pair_sockets: Vec<workload::Sockets>,
    active: usize,
    writes: usize,
    timers: usize,
    timer_period: Duration,
    timer_window: Duration,
    herd_threads: usize,
    herd_events: u64,
    pipe_counts: &'static [usize],
    pipe_tokens: Vec<usize>,
    pipe_events: usize,
    proc_exits: usize,
    signals: usize,
    /// How the signals are sent: one variant of the workload each.
    signal_sends: Vec<workload::SignalSend>,
    inode_creates: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        Plan {
            pair_counts: if quick {
                &[100, 1000]
            } else {
                &[100, 1000, 10000]
            },
            pair_sockets: vec![workload::Sockets::Unix],
            active: 100,
            writes: if quick { 20_000 } else { 100_000 },
            timers: 10_000,
            timer_period: Duration::from_millis(100),
            timer_window: Duration::from_secs(if quick { 2 } else { 5 }),
            herd_threads: 8,
            herd_events: if quick { 2_000 } else { 10_000 },
            pipe_counts: if quick { &[1000] } else { &[1000, 10000] },
            // 1: every event takes a wait (the mechanism dominates, as in
            // epoll_bench); 100: as many as libevent-bench keeps active.
            pipe_tokens: vec![1, 100],
            pipe_events: if quick { 20_000 } else { 100_000 },
            proc_exits: 1000,
            signals: if quick { 2_000 } else { 20_000 },
            signal_sends: vec![
                workload::SignalSend::UsrOneByOne,
                workload::SignalSend::RtBursts(16),
                workload::SignalSend::RtThreads(2),
            ],
            inode_creates: 10_000,
        }
    }
}

/// Gives the kernel time to finish tearing down the last run (io_uring
/// cancels a closed ring's requests from a kworker), so that it does not
/// count in the next one.
fn settle() {
    std::thread::sleep(Duration::from_millis(250));
}

/// Writes rows to stdout and the CSV file, and progress to stderr.
struct Report {
    csv: Option<File>,
    start: Instant,
    done: usize,
    total: usize,
}

impl Report {
    fn row(&mut self, line: String) -> io::Result<()> {
        println!("{line}");
        if let Some(f) = self.csv.as_mut() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }

    /// One measurement: `metrics` are (name, samples) pairs, the first
    /// one shown in the progress line.
    fn measured(
        &mut self,
        workload: &str,
        params: &str,
        mechanism: &str,
        metrics: Vec<(&str, Vec<f64>)>,
    ) -> io::Result<()> {
        let mut shown = String::new();
        for (metric, mut samples) in metrics {
            let reps = samples.len();
            let (median, min, max) = stats(&mut samples);
            self.row(format!(
                "{workload},{params},{mechanism},{metric},{median:.3},{reps},{min:.3},{max:.3},"
            ))?;
            if shown.is_empty() {
                shown = format!("{median:.1} {metric}");
            }
        }
        self.progress(workload, params, mechanism, &shown);
        Ok(())
    }

    fn unsupported(
        &mut self,
        workload: &str,
        params: &str,
        mechanism: &str,
        why: &str,
    ) -> io::Result<()> {
        self.row(format!(
            "{workload},{params},{mechanism},,,0,,,{}",
            csv_field(why)
        ))?;
        self.progress(workload, params, mechanism, "n/a");
        Ok(())
    }

    fn progress(&mut self, workload: &str, params: &str, mechanism: &str, what: &str) {
        self.done += 1;
        let t = self.start.elapsed().as_secs();
        eprintln!(
            "[{:>3}/{} {:>2}:{:02}] {workload} {params} {mechanism}: {what}",
            self.done,
            self.total,
            t / 60,
            t % 60
        );
    }
}

/// The mechanisms for one workload: `None` first (the bound without a
/// mechanism), then each mechanism's constructor or why it has none.
fn for_each<F: Copy>(
    mechanisms: &[Mechanism],
    with_bound: bool,
    pick: impl Fn(&Mechanism) -> Support<F>,
    mut run: impl FnMut(&'static str, Support<Option<F>>) -> io::Result<()>,
) -> io::Result<()> {
    if with_bound {
        run("none", Ok(None))?;
    }
    for m in mechanisms {
        run(m.name, pick(m).map(Some))?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let quick = args.iter().any(|a| a == "--quick");
    let reps: usize = value("--reps")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let only = value("--only").cloned();
    if let Err(e) = kevent::features() {
        eprintln!("kevent-benches: {e}; ci/main.sh runs the benchmarks in it");
        std::process::exit(2);
    }
    let mut plan = Plan::new(quick);
    // --pipe-tokens N: the tokens in flight in the pipes workload.
    if let Some(t) = value("--pipe-tokens").and_then(|v| v.parse().ok()) {
        plan.pipe_tokens = vec![usize::clamp(t, 1, 4096)];
    }
    // --tcp: the socket-pair workloads over loopback TCP connections too.
    if args.iter().any(|a| a == "--tcp") {
        plan.pair_sockets.push(workload::Sockets::Tcp);
    }
    let mut mechanisms = mechanism::all();
    // --mechanism NAME[,NAME...]: those only (in the order of all()), and
    // no bound unless one NAME is "none" (for profiles and A/B runs).
    let only_mechanisms: Option<Vec<String>> =
        value("--mechanism").map(|v| v.split(',').map(str::to_string).collect());
    if let Some(names) = &only_mechanisms {
        for name in names {
            if name != "none" && !mechanisms.iter().any(|m| m.name == name.as_str()) {
                eprintln!("kevent-benches: no mechanism named '{name}'");
                std::process::exit(2);
            }
        }
        mechanisms.retain(|m| names.iter().any(|n| n == m.name));
    }
    let with_bound = only_mechanisms
        .as_ref()
        .map_or(true, |names| names.iter().any(|n| n == "none"));
    let runs = |w: &str| only.as_deref().map_or(true, |o| o == w);
    let per_workload = mechanisms.len() + usize::from(with_bound);
    let total = per_workload
        * ((usize::from(runs("libevent-bench")) + usize::from(runs("oneshot-rearm")))
            * plan.pair_counts.len()
            * plan.pair_sockets.len()
            + usize::from(runs("pipes")) * plan.pipe_counts.len() * plan.pipe_tokens.len()
            + usize::from(runs("timers"))
            + usize::from(runs("proc-exits"))
            + usize::from(runs("signals")) * plan.signal_sends.len()
            + usize::from(runs("inode-creates")) * 2
            + usize::from(runs("herd")));
    let mut report = Report {
        csv: value("--csv").map(File::create).transpose()?,
        start: Instant::now(),
        done: 0,
        total,
    };
    report.row("workload,params,mechanism,metric,value,reps,min,max,note".to_string())?;
    workload::raise_fd_limit();

    for (workload, pick) in [
        (
            "libevent-bench",
            (|m: &Mechanism| m.readiness) as fn(&Mechanism) -> _,
        ),
        ("oneshot-rearm", |m: &Mechanism| m.oneshot),
    ] {
        if !runs(workload) {
            continue;
        }
        for (&sockets, &n) in plan
            .pair_sockets
            .iter()
            .flat_map(|s| plan.pair_counts.iter().map(move |n| (s, n)))
        {
            let active = plan.active.min(n);
            let mut params = format!("pairs={n};active={active};writes={}", plan.writes);
            if sockets == workload::Sockets::Tcp {
                params += ";sockets=tcp";
            }
            for_each(
                &mechanisms,
                with_bound,
                pick,
                |name, factory| match factory {
                    Err(why) => report.unsupported(workload, &params, name, why),
                    Ok(factory) => {
                        let (mut time, mut calls) = (vec![], vec![]);
                        for _ in 0..reps {
                            let mut mech = factory.map(|f| f()).transpose()?;
                            let r = workload::libevent_bench_on(
                                mech.as_deref_mut(),
                                sockets,
                                n,
                                active,
                                plan.writes,
                            )?;
                            time.push(r.ns_per_event());
                            calls.push(r.syscalls_per_event());
                            drop(mech);
                            settle();
                        }
                        report.measured(
                            workload,
                            &params,
                            name,
                            vec![("ns_per_event", time), ("syscalls_per_event", calls)],
                        )
                    }
                },
            )?;
        }
    }

    if runs("pipes") {
        for (&n, &tokens) in plan
            .pipe_counts
            .iter()
            .flat_map(|n| plan.pipe_tokens.iter().map(move |t| (n, t)))
        {
            let params = format!("pipes={n};tokens={tokens};events={}", plan.pipe_events);
            for_each(
                &mechanisms,
                with_bound,
                Mechanism::pipes,
                |name, factory| match factory {
                    Err(why) => report.unsupported("pipes", &params, name, why),
                    Ok(factory) => {
                        let (mut time, mut calls) = (vec![], vec![]);
                        for _ in 0..reps {
                            let mut mech = factory.map(|f| f()).transpose()?;
                            let r =
                                workload::pipes(mech.as_deref_mut(), n, tokens, plan.pipe_events)?;
                            time.push(r.ns_per_event());
                            calls.push(r.syscalls_per_event());
                            drop(mech);
                            settle();
                        }
                        // Time per event, not events/s: the report's
                        // ratios to epoll are of times (lower is better).
                        report.measured(
                            "pipes",
                            &params,
                            name,
                            vec![("ns_per_event", time), ("syscalls_per_event", calls)],
                        )
                    }
                },
            )?;
        }
    }

    // Process exits and signals: kevent and epoll only, no bound.
    let only_kevent_epoll = |report: &mut Report, w: &str, params: &str| -> io::Result<()> {
        if with_bound {
            report.unsupported(w, params, "none", "no loop without a mechanism")?;
        }
        for m in mechanisms
            .iter()
            .filter(|m| !matches!(m.name, "kevent" | "epoll"))
        {
            report.unsupported(
                w,
                params,
                m.name,
                "only kevent and epoll (pidfd/signalfd) have this row",
            )?;
        }
        Ok(())
    };
    let kevent_epoll = || {
        mechanisms
            .iter()
            .filter(|m| matches!(m.name, "kevent" | "epoll"))
    };
    if runs("proc-exits") {
        let params = format!("n={}", plan.proc_exits);
        only_kevent_epoll(&mut report, "proc-exits", &params)?;
        for m in kevent_epoll() {
            let mut samples = vec![];
            for _ in 0..reps {
                let per = workload::proc_exits(m.name == "kevent", plan.proc_exits)?;
                samples.push(per.as_nanos() as f64);
                settle();
            }
            report.measured(
                "proc-exits",
                &params,
                m.name,
                vec![("ns_per_exit", samples)],
            )?;
        }
    }
    for send in plan.signal_sends.iter().filter(|_| runs("signals")) {
        let n = plan.signals;
        let params = format!("n={n};{}", send.params());
        only_kevent_epoll(&mut report, "signals", &params)?;
        for m in kevent_epoll() {
            let (mut time, mut calls) = (vec![], vec![]);
            for _ in 0..reps {
                let r = workload::signals(m.name == "kevent", n, *send)?;
                time.push(r.per_signal.as_nanos() as f64);
                calls.push(r.syscalls as f64 / n as f64);
                settle();
            }
            report.measured(
                "signals",
                &params,
                m.name,
                vec![("ns_per_signal", time), ("syscalls_per_signal", calls)],
            )?;
        }
    }

    // File creations in a watched directory: kevent (KEVENT_INODE) and
    // inotify in epoll (the "epoll" row); the bound creates unwatched.
    for each in [true, false].into_iter().filter(|_| runs("inode-creates")) {
        let n = plan.inode_creates;
        let params = format!("files={n};wait={}", if each { "each" } else { "burst" });
        let run_one =
            |report: &mut Report, name: &'static str, mech: Option<bool>| -> io::Result<()> {
                let (mut time, mut creator, mut wakeups, mut calls, mut reports) =
                    (vec![], vec![], vec![], vec![], vec![]);
                for _ in 0..reps {
                    let r = workload::inode_creates(mech, n, each)?;
                    time.push(r.per_creation.as_nanos() as f64);
                    creator.push(r.creator_per_creation.as_nanos() as f64);
                    wakeups.push(r.wakeups as f64);
                    calls.push(r.syscalls as f64);
                    reports.push(r.reports as f64);
                    settle();
                }
                report.measured(
                    "inode-creates",
                    &params,
                    name,
                    vec![
                        ("ns_per_creation", time),
                        ("creator_ns_per_creation", creator),
                        ("wakeups", wakeups),
                        ("waiter_syscalls", calls),
                        ("reports", reports),
                    ],
                )
            };
        if with_bound {
            run_one(&mut report, "none", None)?;
        }
        for m in &mechanisms {
            match m.name {
                "kevent" => run_one(&mut report, m.name, Some(true))?,
                "epoll" => run_one(&mut report, m.name, Some(false))?,
                _ => report.unsupported(
                    "inode-creates",
                    &params,
                    m.name,
                    "only kevent (KEVENT_INODE) and epoll (inotify) have this row",
                )?,
            }
        }
    }

    if runs("timers") {
        let params = format!(
            "timers={};period_ms={};window_s={}",
            plan.timers,
            plan.timer_period.as_millis(),
            plan.timer_window.as_secs()
        );
        for_each(
            &mechanisms,
            with_bound,
            |m| m.timers,
            |name, factory| match factory {
                Err(why) => report.unsupported("timers", &params, name, why),
                Ok(factory) => {
                    let (mut busy, mut process, mut setup, mut delivered) =
                        (vec![], vec![], vec![], vec![]);
                    for _ in 0..reps {
                        let mut mech = factory.map(|f| f()).transpose()?;
                        let r = workload::many_timers(
                            mech.as_deref_mut(),
                            plan.timers,
                            plan.timer_period,
                            plan.timer_window,
                        )?;
                        let per = |d: Duration| d.as_nanos() as f64 / r.expirations.max(1) as f64;
                        busy.push(per(r.busy));
                        process.push(per(r.process));
                        setup.push(r.setup.as_nanos() as f64 / plan.timers as f64);
                        delivered.push(r.delivered);
                        drop(mech);
                        settle();
                    }
                    report.measured(
                        "timers",
                        &params,
                        name,
                        vec![
                            ("cpu_ns_per_expiration", busy),
                            ("process_ns_per_expiration", process),
                            ("setup_ns_per_timer", setup),
                            ("delivered_fraction", delivered),
                        ],
                    )
                }
            },
        )?;
    }

    if runs("herd") {
        let params = format!("threads={};events={}", plan.herd_threads, plan.herd_events);
        for_each(
            &mechanisms,
            with_bound,
            |m| m.herd,
            |name, factory| match factory {
                Err(why) => report.unsupported("herd", &params, name, why),
                Ok(factory) => {
                    let (mut time, mut wakeups, mut spurious) = (vec![], vec![], vec![]);
                    for _ in 0..reps {
                        let r = workload::herd(factory, plan.herd_threads, plan.herd_events)?;
                        let per = |x: f64| x / r.events as f64;
                        time.push(per(r.elapsed.as_nanos() as f64));
                        wakeups.push(per(r.wakeups as f64));
                        spurious.push(per(r.spurious as f64));
                    }
                    report.measured(
                        "herd",
                        &params,
                        name,
                        vec![
                            ("wakeups_per_event", wakeups),
                            ("ns_per_event", time),
                            ("spurious_per_event", spurious),
                        ],
                    )
                }
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Mechanism {
        mechanism::all()
            .into_iter()
            .find(|m| m.name == name)
            .unwrap()
    }

    /// Every creation is counted once: inotify reads one record each
    /// (runs on any kernel), kevent at most one report each; the bound
    /// has no waiter.
    #[test]
    fn inode_creates_counts_every_creation() {
        for each in [true, false] {
            let r = workload::inode_creates(Some(false), 300, each).unwrap();
            assert_eq!(r.reports, 300);
            assert!(r.wakeups >= 1 && r.syscalls >= 2 * r.wakeups);
            if each {
                assert_eq!(r.wakeups, 300, "one wake-up per creation");
            }
            let b = workload::inode_creates(None, 50, each).unwrap();
            assert_eq!((b.wakeups, b.syscalls, b.reports), (0, 0, 0));
            if kevent::is_supported() {
                let k = workload::inode_creates(Some(true), 300, each).unwrap();
                assert_eq!(k.wakeups, k.syscalls);
                assert_eq!(k.reports, if each { 300 } else { 1 });
            }
        }
    }

    #[test]
    fn upper_bound_loop_handles_every_byte() {
        let r = workload::libevent_bench(None, 10, 3, 50).unwrap();
        assert_eq!(r.events, 53);
        assert_eq!(r.syscalls, 0, "the bound has no mechanism");
    }

    /// Every event is a byte read, and each wait returns at least one
    /// ready socket: a level-triggered loop makes at least one wait, and
    /// at most one per event (plus one MOD per event for oneshot).
    #[test]
    fn epoll_loops_handle_every_byte() {
        for m in ["epoll", "epoll-et"] {
            let mut mech = (named(m).readiness.unwrap())().unwrap();
            let r = workload::libevent_bench(Some(&mut *mech), 20, 5, 200).unwrap();
            assert_eq!(r.events, 205, "{m}");
            assert!(r.syscalls >= 1, "{m}: waits not counted");
            if m == "epoll" {
                assert!(r.syscalls <= 205, "{m}: {} calls", r.syscalls);
            }
        }
        let mut mech = (named("epoll").oneshot.unwrap())().unwrap();
        let r = workload::libevent_bench(Some(&mut *mech), 20, 5, 200).unwrap();
        assert_eq!(r.events, 205, "epoll oneshot");
        // One wait and one MOD per event at most, and at least the MODs.
        assert!(
            (205..=410).contains(&r.syscalls),
            "epoll oneshot: {} calls",
            r.syscalls
        );
    }

    #[test]
    fn pipes_loops_count_every_event() {
        let r = workload::pipes(None, 50, 7, 500).unwrap();
        assert_eq!((r.events, r.syscalls), (500, 0), "the bound");
        let run = |m: &str, mech: &mut (dyn mechanism::Readiness + 'static)| {
            let edge = mech.edge();
            let r = workload::pipes(Some(mech), 50, 7, 500).unwrap();
            // The loop stops after the wait that passes 500: level
            // mechanisms report each pipe holding a token once per wait
            // (at most 7 events); edge ones drain, and a pipe may take a
            // token again later in the same wait's list (at most 7 bytes
            // per report, 256 reports per wait).
            let most = if edge { 500 + 7 * 256 } else { 500 + 7 };
            assert!((500..most).contains(&r.events), "{m}: {} events", r.events);
            // A ring written at event time may need no wait at all.
            if m != "kevent-ring-at-event" {
                assert!(r.syscalls >= 1, "{m}: waits not counted");
            }
            if !edge {
                assert!(r.syscalls <= r.events as u64, "{m}: {} calls", r.syscalls);
            }
        };
        let mut names = vec!["epoll", "epoll-et"];
        if kevent::is_supported() {
            names.extend(["kevent", "kevent-et", "kevent-ring"]);
            if kevent::features().is_ok_and(|f| f.ring_at_event) {
                names.push("kevent-ring-at-event");
            }
        }
        for m in names {
            let mut mech = (named(m).readiness.unwrap())().unwrap();
            run(m, &mut *mech);
        }
        // io_uring may be disabled (io_uring_disabled sysctl, seccomp).
        if let Ok(mut mech) = (named("io_uring").readiness.unwrap())() {
            run("io_uring", &mut *mech);
        }
    }

    /// The timer check of the kevent and kqueue loops: 20 timers of 10 ms
    /// for a 200 ms window run to the end and some expiration is counted.
    /// How many is a scheduling outcome (a thread or an expiry callback
    /// that gets no CPU for part of the window counts fewer; and in the
    /// debug kernel under TCG the guest's clock misleads the window): the
    /// benchmarks report it, and the kevent tests check the counts
    /// (kevent/tests/vm.rs, the kselftests) against measured time.
    fn timers_are_counted(name: &str, factory: mechanism::TimersFactory) {
        let mut timers = factory().unwrap();
        let r = workload::many_timers(
            Some(&mut *timers),
            20,
            Duration::from_millis(10),
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(
            r.expirations > 0,
            "{name} timers: {} expirations, delivered {}",
            r.expirations,
            r.delivered
        );
    }

    #[test]
    fn kevent_loops_handle_every_byte() {
        // Only where kevent is (the patched kernel).
        if !kevent::is_supported() {
            return;
        }
        let mut edge = vec!["kevent-et"];
        if kevent::features().is_ok_and(|f| f.ring_at_event) {
            edge.push("kevent-ring-at-event");
        }
        for &m in &edge {
            let mut et = (named(m).readiness.unwrap())().unwrap();
            assert!(et.edge(), "{m} drains");
            let r = workload::libevent_bench(Some(&mut *et), 20, 5, 200).unwrap();
            assert_eq!(r.events, 205, "{m}");
            if m == "kevent-et" {
                assert!(r.syscalls >= 1, "{m}: calls not counted");
            }
        }
        // Edge-triggered reads stop at a short read: over TCP too, where
        // a byte that comes after it must still be a new edge (pairs
        // sparse enough that most reads find one byte).
        for &m in ["epoll-et"].iter().chain(&edge) {
            for (pairs, active) in [(20, 5), (100, 3)] {
                let mut et = (named(m).readiness.unwrap())().unwrap();
                assert!(et.edge(), "{m} drains");
                let r = workload::libevent_bench_on(
                    Some(&mut *et),
                    workload::Sockets::Tcp,
                    pairs,
                    active,
                    200,
                )
                .unwrap();
                assert_eq!(r.events, 200 + active, "{m} over TCP, {pairs} pairs");
            }
        }
        // KEVENT_SOCKET on TCP (whose level-triggered reports skip
        // ->poll()) as well as on unix sockets.
        for m in ["epoll", "kevent", "kevent-socket"] {
            let m = named(m);
            for factory in [m.readiness.unwrap(), m.oneshot.unwrap()] {
                let mut mech = factory().unwrap();
                let r = workload::libevent_bench_on(
                    Some(&mut *mech),
                    workload::Sockets::Tcp,
                    20,
                    5,
                    200,
                )
                .unwrap();
                assert_eq!(r.events, 205, "{} over TCP", m.name);
            }
        }
        for m in ["kevent", "kevent-ring", "kevent-socket"] {
            let m = named(m);
            for (factory, what) in [
                (m.readiness.unwrap(), "level"),
                (m.oneshot.unwrap(), "dispatch"),
            ] {
                let mut mech = factory().unwrap();
                assert!(!mech.edge(), "{} {what}", m.name);
                let r = workload::libevent_bench(Some(&mut *mech), 20, 5, 200).unwrap();
                assert_eq!(r.events, 205, "{} {what}", m.name);
                assert!(
                    (1..=410).contains(&r.syscalls),
                    "{} {what}: {} calls",
                    m.name,
                    r.syscalls
                );
            }
            if let Ok(timers) = m.timers {
                timers_are_counted(m.name, timers);
            }
        }
    }

    /// A mechanism that watches sockets only has no pipes form; every
    /// other readiness mechanism uses its readiness constructor there.
    #[test]
    fn sockets_only_mechanisms_skip_pipes() {
        for m in mechanism::all() {
            match m.sockets_only {
                Some(why) => assert_eq!(m.pipes().err(), Some(why), "{}", m.name),
                None => assert_eq!(
                    m.pipes().map(|f| f as usize),
                    m.readiness.map(|f| f as usize),
                    "{}",
                    m.name
                ),
            }
        }
        assert!(named("kevent-socket").pipes().is_err());
    }

    /// Every child's exit is reported with its status (the loop checks
    /// it and fails otherwise).
    #[test]
    fn proc_exits_report_every_child() {
        workload::proc_exits(false, 20).unwrap();
        if kevent::is_supported() {
            workload::proc_exits(true, 20).unwrap();
        }
    }

    /// Every signal sent is collected once and none is left pending (the
    /// loop fails otherwise); the collector makes at least one system
    /// call per report and, for signalfd, a read per wake-up.
    #[test]
    fn signals_are_collected_once() {
        use workload::SignalSend as S;
        let mut kinds = vec![false];
        if kevent::is_supported() {
            kinds.push(true);
        }
        for kevent in kinds {
            for send in [S::UsrOneByOne, S::RtBursts(16), S::RtThreads(2)] {
                let r = workload::signals(kevent, 300, send).unwrap();
                assert_eq!(r.collected, 300, "{send:?} kevent={kevent}");
                assert!(r.syscalls >= 1, "{send:?} kevent={kevent}");
                if send == S::UsrOneByOne {
                    // One report per signal: a wait (and a read).
                    let per = if kevent { 1 } else { 2 };
                    assert_eq!(r.syscalls, 300 * per, "{send:?} kevent={kevent}");
                }
            }
        }
    }

    /// libkqueue on kevent: every byte handled by the level, DISPATCH and
    /// ONESHOT loops, the library's system calls counted, timers and the
    /// herd run to the end. Only where kevent is (the patched kernel).
    #[test]
    fn kqueue_loops_handle_every_byte() {
        if !kevent::is_supported() {
            return;
        }
        let level = (named("kqueue").readiness.unwrap())().unwrap();
        let dispatch = (named("kqueue").oneshot.unwrap())().unwrap();
        let oneshot = (named("kqueue-oneshot").oneshot.unwrap())().unwrap();
        for (mut mech, what) in [
            (level, "level"),
            (dispatch, "dispatch"),
            (oneshot, "oneshot"),
        ] {
            assert!(!mech.edge(), "kqueue {what}");
            let r = workload::libevent_bench(Some(&mut *mech), 20, 5, 200).unwrap();
            assert_eq!(r.events, 205, "kqueue {what}");
            // At least one wait; at most a wait and a re-arm batch per
            // event.
            assert!(
                (1..=410).contains(&r.syscalls),
                "kqueue {what}: {} calls",
                r.syscalls
            );
        }
        let mut mech = (named("kqueue").readiness.unwrap())().unwrap();
        let r = workload::pipes(Some(&mut *mech), 50, 7, 500).unwrap();
        assert!((500..507).contains(&r.events), "kqueue pipes: {}", r.events);
        assert!(
            (1..=r.events as u64).contains(&r.syscalls),
            "kqueue pipes: {} calls",
            r.syscalls
        );
        timers_are_counted("kqueue", named("kqueue").timers.unwrap());
        let r = workload::herd(Some(named("kqueue").herd.unwrap()), 4, 200).unwrap();
        assert_eq!(r.events, 200, "kqueue herd");
    }

    #[test]
    fn io_uring_loops_handle_every_byte() {
        let m = named("io_uring");
        for factory in [m.readiness.unwrap(), m.oneshot.unwrap()] {
            // io_uring may be disabled (io_uring_disabled sysctl, seccomp).
            let Ok(mut mech) = factory() else {
                return;
            };
            let r = workload::libevent_bench(Some(&mut *mech), 100, 100, 20_000).unwrap();
            assert_eq!(r.events, 20_100);
            assert!(r.syscalls >= 1, "io_uring: waits not counted");
        }
    }

    // How many expirations or wake-ups a loaded machine sees is a
    // scheduling outcome: the benchmarks report it, these tests only check
    // that the workloads run to the end and count what they must.
    #[test]
    fn timer_loops_count_expirations() {
        let period = Duration::from_millis(10);
        let window = Duration::from_millis(200);
        let mut timerfds = (named("epoll").timers.unwrap())().unwrap();
        for mech in [None, Some(&mut *timerfds)] {
            let r = workload::many_timers(mech, 20, period, window).unwrap();
            assert!(r.expirations > 0, "no expiration counted");
        }
    }

    #[test]
    fn herd_delivers_every_event() {
        let run = |factory| {
            let r = workload::herd(factory, 4, 200).unwrap();
            assert_eq!(r.events, 200);
            // Counted at all (how many is the benchmark's business).
            assert!(r.wakeups > 0, "no wake-up counted");
        };
        run(None);
        run(Some(named("epoll-exclusive").herd.unwrap()));
        // io_uring may be disabled here (io_uring_disabled sysctl, seccomp).
        let rings = named("io_uring").herd.unwrap();
        if rings(-1, 1).is_ok() {
            run(Some(rings));
        }
    }

    #[test]
    fn every_mechanism_says_why_a_workload_does_not_apply() {
        for m in mechanism::all() {
            for why in [
                m.readiness.err(),
                m.oneshot.err(),
                m.timers.err(),
                m.herd.err(),
                m.sockets_only,
            ]
            .into_iter()
            .flatten()
            {
                assert!(why.len() > 20, "{}: {why}", m.name);
            }
        }
    }
}
