//! A TCP echo benchmark (the method of rust_echo_bench and of the io_uring
//! echo-server benchmarks): N connections on loopback, each in a closed
//! loop of one message of 128 or 512 bytes at a time; requests/s, and the
//! server's CPU time and system calls per request. One server program
//! with one backend per mechanism, each a single-threaded event loop, and
//! one load generator (benches/README.md, workload 11).
//!
//! ```text
//! kevent-echo [run] [--workload echo|download] [--quick] [--check]
//!             [--backends NAME,...] [--connections N,...]
//!             [--sizes BYTES,...] [--duration S] [--warmup S] [--reps N]
//!             [--csv PATH]
//! kevent-echo server [--workload W] --backend NAME --connections N [--port P]
//! kevent-echo client [--workload W] [--check] --connections N [--port P]
//!             [--size BYTES] [--duration S]
//! kevent-echo list [--workload W]
//! ```
//!
//! `--workload download` (issue 14; download.rs): instead of echoing, the
//! server answers each connection's 1-byte request with its file of
//! 1 MiB, sent from the page cache (`sendfile(2)`, io_uring splices,
//! `KEVENT_NAIO_SENDFILE`); the client reads all of it and checks a
//! sample of it (every byte with `--check`). The warm-up lasts until
//! every connection has had about one download, an interval until about
//! three each (`--warmup` and `--duration` are then minimums). Rows of workload
//! `download`, params `connections=N;file=1MiB`, the same metrics (a
//! request is a download); 1, 50 and 300 connections by default.
//!
//! `run` measures every (message size, connection count, backend) point:
//! it forks the server (pinned to CPU 0), which accepts the N connections
//! and serves them with the backend, and drives the load itself (pinned to
//! CPU 1). After `--warmup` seconds, `--reps` consecutive intervals of
//! `--duration` seconds each are measured on the same connections: the
//! echoes completed per second, the server's CPU time per echo
//! (`clock_gettime()` of the server's process CPU clock, user and system,
//! before and after the interval) and its system calls per echo (counted
//! by the server's loop), and the client's own CPU time over the
//! interval's length (near 1: the load generator, not the server, limits
//! the requests/s). Then the client stops, takes the echoes in
//! flight, closes its connections, and the server must exit cleanly once
//! all are closed. CSV rows (`workload,params,mechanism,metric,value,
//! reps,min,max,note`: the median of the intervals and their spread) go to
//! stdout and, appended, to `--csv` (the header only if the file is new);
//! progress to stderr. A backend this kernel lacks gets a row with the
//! reason and no value; a point that fails gets one with `failed: ` and
//! the error, the other points still run, and the run exits non-zero.
//!
//! `server` and `client` are the two halves alone, for other servers or
//! load generators (the server echoes until its N clients have closed).

mod client;
mod download;
mod epoll;
#[path = "../../insn_mark.rs"]
mod insn_mark;
mod kevent_aio;
mod kevent_ready;
mod server;
#[path = "../../stats.rs"]
mod stats;
mod uring;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use client::{Load, Work};
use server::{Counters, SharedCounters, BACKENDS};
use stats::{csv_field, stats};

/// The backends `run` measures unless told (`kevent`, the KEVENT_POLL
/// form, only with --backends).
const DEFAULT_BACKENDS: &[&str] = &[
    "epoll",
    "io_uring",
    "io_uring-multishot",
    "kevent-socket",
    "kevent-aio",
];

/// The download workload's backends unless told.
const DOWNLOAD_BACKENDS: &[&str] = &["epoll", "io_uring", "kevent-aio"];

#[derive(Clone)]
struct Plan {
    download: bool,
    /// Download: every byte checked (else a sample).
    check: bool,
    backends: Vec<String>,
    connections: Vec<usize>,
    sizes: Vec<usize>,
    duration: Duration,
    warmup: Duration,
    reps: usize,
}

/// One measured interval.
struct Sample {
    requests_per_s: f64,
    cpu_ns_per_request: f64,
    syscalls_per_request: f64,
    /// The client's CPU time over the interval's: near 1, the load
    /// generator rather than the server limits the requests/s.
    client_busy_fraction: f64,
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("kevent-echo: {msg}");
    std::process::exit(2)
}

/// Pins the calling process to `cpu` if the machine has it.
fn pin(cpu: usize) {
    // SAFETY: a cpu_set_t of ours, for this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "kevent-echo: cannot pin to CPU {cpu}: {}",
                io::Error::last_os_error()
            );
        }
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The server's CPU clock: its user and system time, in nanoseconds.
fn cpu_ns(clock: libc::clockid_t) -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is ours.
    server::cvt(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Raises RLIMIT_NOFILE: 1,000 connections and their peers.
fn raise_fd_limit() {
    // SAFETY: plain system calls on our own struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < 16384 {
            lim.rlim_cur = lim.rlim_max.max(16384);
            lim.rlim_max = lim.rlim_cur;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

/// A forked server process; killed and reaped if dropped while running.
struct Server {
    pid: libc::pid_t,
    status: Option<libc::c_int>,
}

impl Server {
    /// Forks a server that accepts `n` connections on `listener` and
    /// serves them with `backend` (downloads if `download`).
    fn fork(
        backend: &str,
        listener: OwnedFd,
        n: usize,
        counters: &Counters,
        download: bool,
    ) -> io::Result<Self> {
        // SAFETY: this process has one thread (the driver), so the child
        // may allocate and run any code; it leaves with _exit().
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            if cpus() >= 2 {
                pin(0);
            }
            let r = server::accept(&listener, n).and_then(|conns| {
                drop(listener);
                serve(download, backend, conns, counters)
            });
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("kevent-echo: server ({backend}): {e}");
                    1
                }
            };
            // SAFETY: ends the child without the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        Ok(Server { pid, status: None })
    }

    /// Fails if the server has exited (it must run until the client
    /// closes its connections).
    fn alive(&mut self) -> io::Result<()> {
        if self.poll()? {
            return Err(io::Error::other(format!(
                "the server exited early ({})",
                self.describe()
            )));
        }
        Ok(())
    }

    /// Whether it has exited (reaped then).
    fn poll(&mut self) -> io::Result<bool> {
        if self.status.is_some() {
            return Ok(true);
        }
        let mut status = 0;
        // SAFETY: our child.
        match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
            0 => Ok(false),
            r if r == self.pid => {
                self.status = Some(status);
                Ok(true)
            }
            _ => Err(io::Error::last_os_error()),
        }
    }

    fn describe(&self) -> String {
        match self.status {
            Some(s) if libc::WIFEXITED(s) => format!("exit {}", libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => format!("signal {}", libc::WTERMSIG(s)),
            Some(s) => format!("status {s:#x}"),
            None => "running".to_string(),
        }
    }

    /// Waits (at most `timeout`) for the server to exit by itself, which
    /// it does once every client connection is closed; it must exit 0.
    fn finish(mut self, timeout: Duration) -> io::Result<()> {
        let start = Instant::now();
        while !self.poll()? {
            if start.elapsed() > timeout {
                return Err(io::Error::other(format!(
                    "the server did not exit within {} s of the last close",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match self.status {
            Some(s) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0 => Ok(()),
            _ => Err(io::Error::other(format!(
                "the server failed ({})",
                self.describe()
            ))),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.status.is_none() {
            // SAFETY: our child, not yet reaped.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Serves `conns` with the echo or the download `backend`.
fn serve(
    download: bool,
    backend: &str,
    conns: Vec<OwnedFd>,
    counters: &Counters,
) -> io::Result<()> {
    if download {
        download::serve(backend, conns, server::Calls::new(&counters.syscalls))
    } else {
        server::serve(backend, conns, counters)
    }
}

/// Why `backend` of the workload cannot run here, or `None`.
fn unsupported(download: bool, backend: &str) -> Option<String> {
    if download {
        download::unsupported(backend)
    } else {
        server::unsupported(backend)
    }
}

fn backends(download: bool) -> &'static [(&'static str, &'static str)] {
    if download {
        download::BACKENDS
    } else {
        BACKENDS
    }
}

/// The client's work: an echo of `size` bytes, or a download.
fn work(plan: &Plan, size: usize) -> Work {
    if plan.download {
        Work::Download { full: plan.check }
    } else {
        Work::Echo { size }
    }
}

/// Measures one point: a fresh server and `n` connections, `reps`
/// intervals after a warm-up.
fn point(backend: &str, n: usize, size: usize, plan: &Plan) -> io::Result<Vec<Sample>> {
    let counters = SharedCounters::new()?;
    let (listener, port) = server::listen(0)?;
    let mut srv = Server::fork(backend, listener, n, counters.get(), plan.download)?;
    if cpus() >= 2 {
        pin(1);
    }
    let mut clock: libc::clockid_t = 0;
    // SAFETY: our child's pid; clock is ours.
    let r = unsafe { libc::clock_getcpuclockid(srv.pid, &mut clock) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    let own = libc::CLOCK_PROCESS_CPUTIME_ID;
    let t0 = Instant::now();
    let mut load = Load::connect(port, n, work(plan, size))?;
    let mut alive = || srv.alive();
    load.start()?;
    let connected = t0.elapsed();
    // Downloads: a warm-up of at least one download per connection, and
    // intervals of at least three (300 downloads of 1 MiB in flight take
    // longer than an interval of 0.3 s).
    let per_conn = if plan.download { n as u64 } else { 0 };
    load.run_for(plan.warmup, per_conn, &mut alive)?;
    let mut samples = Vec::with_capacity(plan.reps);
    let syscalls = || {
        counters
            .get()
            .syscalls
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let print_counts = std::env::var_os("INSN_PROFILE").is_some();
    for rep in 0..plan.reps {
        let (cpu0, calls0, me0) = (cpu_ns(clock)?, syscalls(), cpu_ns(own)?);
        insn_mark::start();
        let (done, took) = load.run_for(plan.duration, 3 * per_conn, &mut alive)?;
        insn_mark::stop();
        let (cpu1, calls1, me1) = (cpu_ns(clock)?, syscalls(), cpu_ns(own)?);
        if print_counts {
            eprintln!("kevent-echo: {backend} n={n} interval {rep}: {done} requests");
        }
        let per = |x: f64| x / done.max(1) as f64;
        samples.push(Sample {
            requests_per_s: done as f64 / took.as_secs_f64(),
            cpu_ns_per_request: per((cpu1 - cpu0) as f64),
            syscalls_per_request: per(calls1.saturating_sub(calls0) as f64),
            client_busy_fraction: (me1 - me0) as f64 / took.as_nanos() as f64,
        });
    }
    let t1 = Instant::now();
    load.drain(&mut alive)?;
    let drained = t1.elapsed();
    drop(load);
    let t2 = Instant::now();
    srv.finish(Duration::from_secs(30))?;
    let exited = t2.elapsed();
    // Not measured, but a slow one is worth knowing of.
    if [connected, drained, exited]
        .iter()
        .any(|d| *d > Duration::from_secs(1))
    {
        eprintln!(
            "kevent-echo: {backend} n={n}: slow outside the intervals: connect {:.2} s, \
             drain {:.2} s, server exit {:.2} s",
            connected.as_secs_f64(),
            drained.as_secs_f64(),
            exited.as_secs_f64()
        );
    }
    Ok(samples)
}

/// CSV rows to stdout and (appended) to the file.
struct Rows(Option<std::fs::File>);

impl Rows {
    fn open(path: Option<&str>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Rows(None));
        };
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        if f.metadata()?.len() == 0 {
            writeln!(
                f,
                "workload,params,mechanism,metric,value,reps,min,max,note"
            )?;
        }
        Ok(Rows(Some(f)))
    }

    fn row(&mut self, line: String) -> io::Result<()> {
        println!("{line}");
        if let Some(f) = self.0.as_mut() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn list<T: std::str::FromStr>(v: &str, what: &str) -> Vec<T> {
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| die(format!("bad {what}: '{x}'")))
        })
        .collect()
}

fn seconds(v: &str) -> Duration {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s < 3600.0 => Duration::from_secs_f64(s),
        _ => die(format!("bad seconds: '{v}'")),
    }
}

fn run(args: &[String]) -> io::Result<()> {
    let value = |name: &str| {
        args.iter().position(|a| a == name).map(|i| {
            args.get(i + 1)
                .unwrap_or_else(|| die(format!("{name} needs a value")))
        })
    };
    let quick = args.iter().any(|a| a == "--quick");
    let download = match value("--workload").map(String::as_str) {
        None | Some("echo") => false,
        Some("download") => true,
        Some(w) => die(format!("no workload named '{w}' (echo, download)")),
    };
    let plan = Plan {
        download,
        check: args.iter().any(|a| a == "--check"),
        backends: value("--backends").map_or_else(
            || {
                let names = if download {
                    DOWNLOAD_BACKENDS
                } else {
                    DEFAULT_BACKENDS
                };
                names.iter().map(|s| s.to_string()).collect()
            },
            |v| list(v, "backend"),
        ),
        connections: value("--connections").map_or(
            if download {
                vec![1, 50, 300]
            } else {
                vec![1, 50, 300, 1000]
            },
            |v| list(v, "count"),
        ),
        sizes: value("--sizes").map_or(if quick { vec![128] } else { vec![128, 512] }, |v| {
            list(v, "size")
        }),
        duration: value("--duration").map_or(Duration::from_secs(if quick { 1 } else { 2 }), |v| {
            seconds(v)
        }),
        warmup: value("--warmup").map_or(Duration::from_millis(500), |v| seconds(v)),
        reps: value("--reps").map_or(3, |v| list::<usize>(v, "count")[0].max(1)),
    };
    for b in &plan.backends {
        if !backends(download).iter().any(|(name, _)| name == b) {
            die(format!("no backend named '{b}' (kevent-echo list)"));
        }
    }
    let mut plan = plan;
    if download {
        // One "size": the file's.
        plan.sizes = vec![download::FILE];
    } else if plan.sizes.iter().any(|&s| s == 0 || s > server::BUF) {
        die(format!("message sizes must be 1 to {} bytes", server::BUF));
    }
    if cpus() < 2 {
        eprintln!("kevent-echo: one CPU: the server and the client share it (not pinned)");
    }
    raise_fd_limit();
    let mut rows = Rows::open(value("--csv").map(String::as_str))?;
    // Not measured: a point of epoll at 50 connections first, to prime
    // the loopback path. Under TCG QEMU translates the guest's code as it
    // first runs: in two TCG runs without this, the first point (epoll,
    // 1 connection) came out at a sixth and a twentieth of the requests/s
    // of the point after it (kevent-socket, 1 connection).
    let prime = Plan {
        warmup: plan.warmup * 4,
        reps: 0,
        ..plan.clone()
    };
    point("epoll", 50, plan.sizes[0], &prime)?;
    let total = plan.sizes.len() * plan.connections.len() * plan.backends.len();
    let (start, mut done, mut failed) = (Instant::now(), 0, 0);
    let workload = if download { "download" } else { "echo" };
    for &size in &plan.sizes {
        for &n in &plan.connections {
            let params = if download {
                format!("connections={n};file=1MiB")
            } else {
                format!("connections={n};message={size}B")
            };
            for b in &plan.backends {
                done += 1;
                let t = start.elapsed().as_secs();
                let progress = format!(
                    "[{done:>3}/{total} {:>2}:{:02}] {workload} {} {b}",
                    t / 60,
                    t % 60,
                    params.replace(';', " ")
                );
                if let Some(why) = unsupported(download, b) {
                    rows.row(format!("{workload},{params},{b},,,0,,,{}", csv_field(&why)))?;
                    eprintln!("{progress}: n/a ({why})");
                    continue;
                }
                let mut samples = match point(b, n, size, &plan) {
                    Ok(samples) => samples,
                    Err(e) => {
                        // The other points still run; the run fails at
                        // the end.
                        let why = format!("failed: {e}");
                        rows.row(format!("{workload},{params},{b},,,0,,,{}", csv_field(&why)))?;
                        eprintln!("{progress}: FAILED: {e}");
                        failed += 1;
                        continue;
                    }
                };
                let reps = samples.len();
                let mut shown = Vec::new();
                for (metric, pick) in [
                    (
                        "requests_per_s",
                        (|s: &Sample| s.requests_per_s) as fn(&Sample) -> f64,
                    ),
                    ("cpu_ns_per_request", |s| s.cpu_ns_per_request),
                    ("syscalls_per_request", |s| s.syscalls_per_request),
                    ("client_busy_fraction", |s| s.client_busy_fraction),
                ] {
                    let mut v: Vec<f64> = samples.iter_mut().map(|s| pick(s)).collect();
                    let (median, min, max) = stats(&mut v);
                    rows.row(format!(
                        "{workload},{params},{b},{metric},{median:.3},{reps},{min:.3},{max:.3},"
                    ))?;
                    shown.push(median);
                }
                eprintln!(
                    "{progress}: {:.0} requests/s, {:.1} µs server CPU and {:.2} system calls \
                     per request, client busy {:.2}",
                    shown[0],
                    shown[1] / 1e3,
                    shown[2],
                    shown[3]
                );
            }
        }
    }
    if failed > 0 {
        return Err(io::Error::other(format!(
            "{failed} of {total} points failed (their rows say why)"
        )));
    }
    Ok(())
}

/// `server`: listens on 127.0.0.1:PORT, accepts N connections, echoes
/// until they are all closed, then prints its CPU time and system calls.
fn serve_alone(args: &[String]) -> io::Result<()> {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let backend = value("--backend").unwrap_or_else(|| die("server needs --backend NAME"));
    let n: usize = value("--connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| die("server needs --connections N"));
    let port: u16 = value("--port").map_or(7000, |v| v.parse().unwrap_or_else(|_| die("bad port")));
    let download = is_download(args);
    if let Some(why) = unsupported(download, backend) {
        die(format!("{backend}: {why}"));
    }
    raise_fd_limit();
    let (listener, port) = server::listen(port)?;
    eprintln!("kevent-echo: {backend} on 127.0.0.1:{port}, waiting for {n} connections");
    let conns = server::accept(&listener, n)?;
    drop(listener);
    let counters = SharedCounters::new()?;
    let t0 = Instant::now();
    serve(download, backend, conns, counters.get())?;
    // SAFETY: a zeroed rusage is valid; getrusage fills ours.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    eprintln!(
        "kevent-echo: served {:.1} s; CPU {:.3} s user, {:.3} s system; {} system calls",
        t0.elapsed().as_secs_f64(),
        tv(ru.ru_utime),
        tv(ru.ru_stime),
        counters
            .get()
            .syscalls
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

/// `client`: the closed loop against a server on 127.0.0.1:PORT.
fn client_alone(args: &[String]) -> io::Result<()> {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let n: usize = value("--connections").map_or(1, |v| v.parse().unwrap_or_else(|_| die("bad N")));
    let size: usize =
        value("--size").map_or(128, |v| v.parse().unwrap_or_else(|_| die("bad size")));
    let port: u16 = value("--port").map_or(7000, |v| v.parse().unwrap_or_else(|_| die("bad port")));
    let d = value("--duration").map_or(Duration::from_secs(5), |v| seconds(v));
    raise_fd_limit();
    // A server started at the same time may not listen yet: retry a
    // refused connection for 30 s.
    let t0 = Instant::now();
    let download = is_download(args);
    let w = if download {
        Work::Download {
            full: args.iter().any(|a| a == "--check"),
        }
    } else {
        Work::Echo { size }
    };
    let mut load = loop {
        match Load::connect(port, n, w) {
            Err(e)
                if e.raw_os_error() == Some(libc::ECONNREFUSED) && t0.elapsed().as_secs() < 30 =>
            {
                std::thread::sleep(Duration::from_millis(200))
            }
            r => break r?,
        }
    };
    load.start()?;
    let (done, took) = load.run_for(d, 0, &mut || Ok(()))?;
    load.drain(&mut || Ok(()))?;
    let what = if download {
        "1 MiB downloads".to_string()
    } else {
        format!("{size} B")
    };
    println!(
        "{n} connections, {what}: {done} requests in {:.2} s, {:.0} requests/s",
        took.as_secs_f64(),
        done as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// `--workload download` among `args` (`echo`, or none: the echo).
fn is_download(args: &[String]) -> bool {
    match args
        .iter()
        .position(|a| a == "--workload")
        .map(|i| args.get(i + 1).map(String::as_str))
    {
        None | Some(Some("echo")) => false,
        Some(Some("download")) => true,
        Some(w) => die(format!(
            "no workload named '{}' (echo, download)",
            w.unwrap_or("")
        )),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("server") => serve_alone(&args[1..]),
        Some("client") => client_alone(&args[1..]),
        Some("list") => {
            let download = is_download(&args);
            for (name, what) in backends(download) {
                let why =
                    unsupported(download, name).map_or(String::new(), |w| format!(" [n/a: {w}]"));
                println!("{name:20} {what}{why}");
            }
            Ok(())
        }
        Some("-h" | "--help") => {
            let doc = include_str!("main.rs");
            for line in doc.lines().take_while(|l| l.starts_with("//!")) {
                println!(
                    "{}",
                    line.trim_start_matches("//!")
                        .strip_prefix(' ')
                        .unwrap_or("")
                );
            }
            Ok(())
        }
        Some("run") => run(&args[1..]),
        _ => run(&args),
    };
    if let Err(e) = r {
        die(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every backend this kernel has echoes every message back intact
    /// (the client checks each byte) on a few connections, of both sizes,
    /// and its server exits cleanly once the client closes; the backends
    /// it lacks say why. No timing: a number of echoes, not a duration.
    #[test]
    fn every_backend_echoes() {
        raise_fd_limit();
        let mut ran = 0;
        for (backend, _) in BACKENDS {
            if let Some(why) = server::unsupported(backend) {
                assert!(why.len() > 10, "{backend}: {why}");
                eprintln!("{backend}: n/a here: {why}");
                continue;
            }
            for (n, size) in [(1, 128), (7, 512), (64, 128)] {
                let counters = SharedCounters::new().unwrap();
                let (listener, port) = server::listen(0).unwrap();
                let mut srv = Server::fork(backend, listener, n, counters.get(), false).unwrap();
                let mut load = Load::connect(port, n, Work::Echo { size }).unwrap();
                let mut alive = || srv.alive();
                load.start().unwrap();
                load.run_requests(500, &mut alive)
                    .unwrap_or_else(|e| panic!("{backend} n={n}: {e}"));
                load.drain(&mut alive).unwrap();
                assert!(
                    load.completed >= 500 + n as u64 - 1,
                    "{backend}: {}",
                    load.completed
                );
                let calls = counters
                    .get()
                    .syscalls
                    .load(std::sync::atomic::Ordering::Relaxed);
                assert!(calls > 0, "{backend}: no system call counted");
                drop(load);
                srv.finish(Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("{backend} n={n}: {e}"));
            }
            ran += 1;
        }
        assert!(ran >= 1, "not even epoll ran");
    }

    /// Every download backend this kernel has serves the whole file
    /// intact (the client checks every byte, `--check`) on a few
    /// connections, several downloads each, and its server exits cleanly
    /// once the client closes; the backends it lacks say why. No timing.
    #[test]
    fn every_backend_downloads() {
        raise_fd_limit();
        let mut ran = 0;
        for (backend, _) in download::BACKENDS {
            if let Some(why) = download::unsupported(backend) {
                assert!(why.len() > 10, "{backend}: {why}");
                eprintln!("download {backend}: n/a here: {why}");
                continue;
            }
            for (n, downloads) in [(1, 8), (5, 20), (40, 60)] {
                let counters = SharedCounters::new().unwrap();
                let (listener, port) = server::listen(0).unwrap();
                let mut srv = Server::fork(backend, listener, n, counters.get(), true).unwrap();
                let mut load = Load::connect(port, n, Work::Download { full: true }).unwrap();
                let mut alive = || srv.alive();
                load.start().unwrap();
                load.run_requests(downloads, &mut alive)
                    .unwrap_or_else(|e| panic!("download {backend} n={n}: {e}"));
                load.drain(&mut alive).unwrap();
                assert!(
                    load.completed >= downloads + n as u64 - 1,
                    "download {backend}: {}",
                    load.completed
                );
                let calls = counters
                    .get()
                    .syscalls
                    .load(std::sync::atomic::Ordering::Relaxed);
                assert!(calls > 0, "download {backend}: no system call counted");
                drop(load);
                srv.finish(Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("download {backend} n={n}: {e}"));
            }
            ran += 1;
        }
        assert!(ran >= 1, "not even epoll ran");
    }

    /// The client's sampled check catches a page out of place: the
    /// pattern differs at every 4 KiB boundary between any two pages.
    #[test]
    fn download_pattern_differs_per_page() {
        let p = download::pattern();
        assert_eq!(p.len(), download::FILE);
        let words: std::collections::HashSet<&[u8]> = p.chunks(4096).map(|pg| &pg[..8]).collect();
        assert_eq!(words.len(), download::FILE / 4096);
    }

    #[test]
    fn naio_request_layout_is_the_uapi() {
        // The naio member sits at offset 48 of the 64-byte ukevent.
        let buf = [0u8; 8];
        let uk = kevent_aio::request_for_test(3, 9, kevent_aio::KEVENT_NAIO_SEND, buf.as_ptr(), 5);
        // SAFETY: ukevent is 64 bytes of plain data (kevent-sys checks).
        let raw: [u8; 64] = unsafe { std::mem::transmute(uk) };
        let word = |off: usize| u32::from_ne_bytes(raw[off..off + 4].try_into().unwrap());
        assert_eq!(word(8), 5, "type KEVENT_NAIO");
        assert_eq!(word(12), 1, "event KEVENT_NAIO_SEND");
        assert_eq!(word(48), 9, "naio.fd");
        assert_eq!(word(52), 5, "naio.len");
        assert_eq!(word(56), libc::MSG_NOSIGNAL as u32, "naio.msg_flags");
        assert_eq!(word(60), 0, "naio.in_fd");
        assert_eq!(u64::from_ne_bytes(raw[0..8].try_into().unwrap()), 3, "id");
        assert_eq!(
            u64::from_ne_bytes(raw[32..40].try_into().unwrap()),
            buf.as_ptr() as u64
        );
    }
}
