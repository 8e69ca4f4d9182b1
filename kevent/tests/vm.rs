//! Integration tests against a kernel with kevent ABI v2. They are
//! `#[ignore]`d, so that a host without kevent runs (and counts) none of
//! them; `ci/test.sh` runs them inside the patched debug kernel (through
//! `selftests/vm-suite.sh`) with `--include-ignored`, where a missing
//! kevent fails them.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kevent::{
    Changes, Clock, Deadline, Events, Kevent, Key, Kind, PollFlags, Queue, QueueFlags, Registered,
    ReqFlags, Ring, Token, Wait,
};
use kevent_sys as sys;

/// These tests are `#[ignore]`d: run them where kevent is, with
/// `--include-ignored`. Without kevent they fail, saying why.
fn require_kevent() {
    if let Err(e) = kevent::features() {
        panic!("this test needs the kevent kernel: {e}");
    }
}

/// [`require_kevent`], then whether the kernel writes rings at event time
/// (`KEVENT_RING_AT_EVENT`); says the test is skipped when it does not.
fn require_ring_at_event() -> bool {
    require_kevent();
    let at_event = kevent::features().unwrap().ring_at_event;
    if !at_event {
        eprintln!("skipped: no KEVENT_RING_AT_EVENT");
    }
    at_event
}

/// An error's OS error number: `io::Error`'s or `kevent::Error`'s.
trait Errno {
    fn errno(&self) -> i32;
}

impl Errno for io::Error {
    fn errno(&self) -> i32 {
        self.raw_os_error().unwrap_or(0)
    }
}

impl Errno for kevent::Error {
    fn errno(&self) -> i32 {
        self.raw_os_error().unwrap_or(0)
    }
}

fn errno(e: &impl Errno) -> i32 {
    e.errno()
}

fn entry_errno(r: &kevent::BatchResult, i: usize) -> i32 {
    r.result(i).err().map_or(0, |e| errno(&e))
}

const MS: Duration = Duration::from_millis(1);
const LONG: Duration = Duration::from_secs(10);

/// The queue's `/proc/self/fdinfo` lines about kevents.
fn fdinfo(q: &Queue) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", q.as_raw_fd()))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("kevent:"))
        .map(str::to_owned)
        .collect()
}

/// The state fdinfo shows for the kevent of `kind` and `id`: `idle`,
/// `ready` or `disabled`.
fn state(q: &Queue, kind: Kind, id: u64) -> String {
    let key = format!("type:{} id:{id} ", kind.raw());
    let lines = fdinfo(q);
    let line = lines
        .iter()
        .find(|l| l.contains(&key))
        .unwrap_or_else(|| panic!("no '{key}' in fdinfo: {lines:?}"));
    // Timer lines go on with " period:... remaining:...".
    let after = line.split("state:").nth(1).unwrap();
    after.split_whitespace().next().unwrap().to_owned()
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn probe_reports_abi_v2() {
    require_kevent();
    let f = kevent::features().unwrap();
    assert_eq!(f.version, 2);
    assert_eq!(f.event_size, 32);
    assert!(f.supports(Kind::Poll) && f.supports(Kind::Timer) && f.supports(Kind::User));
    assert!(f.supports(Kind::Signal) && f.supports(Kind::Proc) && f.supports(Kind::Inode));
    assert!(f.supports(Kind::Socket) && f.supports(Kind::Naio));
    for reserved in [0, 9] {
        assert!(!f.supports(Kind::Other(reserved)), "type {reserved}");
    }
    assert!(f.supports_flags(
        ReqFlags::ONESHOT
            | ReqFlags::WAKEUP_ALL
            | ReqFlags::EDGE
            | ReqFlags::DISPATCH
            | ReqFlags::DISABLED
            | ReqFlags::UPDATE
            | ReqFlags::FD_CLOSE
            | ReqFlags::AMOUNTS
            | ReqFlags::KEEP
    ));
    for cmd in 0..=6 {
        assert!(f.supports_command(cmd), "command {cmd}");
    }
    assert_eq!(
        f.wait_flags & sys::KEVENT_WAIT_ABSTIME,
        sys::KEVENT_WAIT_ABSTIME
    );
    assert!(f.max_batch >= 1);
    assert!(f.ring_max_entries.is_power_of_two());
    // The raw probe: the kernel's size; too small or with an fd: EINVAL.
    let mut p = sys::kevent_probe::default();
    assert_eq!(sys::probe(&mut p), Ok(64));
    assert_eq!((p.magic, p.version), (sys::KEVENT_PROBE_MAGIC, 2));
    let q = Queue::new().unwrap();
    let raw = &mut p as *mut sys::kevent_probe as *mut sys::ukevent;
    for (fd, size) in [(-1, 4), (q.as_raw_fd(), 64)] {
        // SAFETY: `raw` is a 64-byte kevent_probe we own.
        let r = unsafe { sys::kevent_ctl(fd, sys::KEVENT_CTL_PROBE, size, raw) };
        assert_eq!(
            r,
            Err(sys::Error::Errno(libc::EINVAL)),
            "fd {fd} size {size}"
        );
    }
    // A larger buffer: the kernel fills its 64 bytes and says so.
    let mut big = [0u8; 128];
    // SAFETY: 128 writable bytes; the kernel writes at most 64.
    let r = unsafe {
        sys::kevent_ctl(
            -1,
            sys::KEVENT_CTL_PROBE,
            128,
            big.as_mut_ptr() as *mut sys::ukevent,
        )
    };
    assert_eq!(r, Ok(64));
    assert_eq!(&big[..4], &sys::KEVENT_PROBE_MAGIC.to_ne_bytes());
    assert!(big[64..].iter().all(|&b| b == 0));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn queue_is_an_owned_cloexec_fd() {
    require_kevent();
    let q = Queue::new().unwrap();
    let fd = q.as_fd().as_raw_fd();
    assert_eq!(q.as_raw_fd(), fd);
    // SAFETY: fcntl on our own descriptor.
    let (fd_flags, fl) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    };
    assert_eq!(fd_flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    assert_eq!(fl & libc::O_NONBLOCK, 0);
    assert_eq!(
        std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap(),
        std::path::Path::new("anon_inode:[kevent]")
    );
    let owned: OwnedFd = q.into();
    assert_eq!(owned.as_raw_fd(), fd);
    let q = Queue::with_flags(QueueFlags::NONBLOCK).unwrap();
    let fd = q.as_raw_fd();
    // SAFETY: fcntl on our own descriptor.
    let (fd_flags, fl) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    };
    assert_eq!(fd_flags & libc::FD_CLOEXEC, 0);
    assert_eq!(fl & libc::O_NONBLOCK, libc::O_NONBLOCK);
    // Unknown flags: EINVAL.
    // SAFETY: the probe succeeded (kevent_here).
    let r = unsafe { sys::kevent_create(libc::O_APPEND as u32) };
    assert_eq!(r, Err(sys::Error::Errno(libc::EINVAL)));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn user_events_cross_threads() {
    require_kevent();
    let q = Arc::new(Queue::new().unwrap());
    q.add_all(&[Kevent::user(7).user_data(70)])
        .unwrap()
        .check()
        .unwrap();
    let waiter = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let mut ev = Events::with_capacity(4);
            let n = q.wait(&mut ev, Some(LONG)).unwrap();
            assert_eq!(n, 1);
            let e = ev.iter().next().unwrap();
            (e.kind(), e.id(), e.user_data(), e.count(), e.events())
        })
    };
    thread::sleep(100 * MS);
    q.trigger(7).unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        (Kind::User, 7, 70, 1, sys::KEVENT_USER_TRIGGERED)
    );
    // Triggers merge until reported.
    q.trigger(7).unwrap();
    q.trigger(7).unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().count(), 2);
    // Unknown id
    assert_eq!(errno(&q.trigger(8).unwrap_err()), libc::ENOENT);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn timers_count_expirations() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::timer(1, 5 * MS)])
        .unwrap()
        .check()
        .unwrap();
    thread::sleep(40 * MS);
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::from_secs(5))).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.kind(), Kind::Timer);
    assert_eq!(e.events(), sys::KEVENT_TIMER_FIRED);
    // The 8 periods of the 40 ms are all counted, in one report or more
    // (the expiry callback may run late, so the first report may have
    // fewer: that is the scheduler's business, not the count's).
    let mut count = e.count();
    let start = Instant::now();
    while count < 8 {
        assert!(start.elapsed() < LONG, "{count} expirations counted");
        q.wait(&mut ev, Some(LONG)).unwrap();
        count += ev.iter().map(|e| e.count()).sum::<u64>();
    }
    // Oneshot: once, then gone.
    q.add_all(&[Kevent::timer(2, MS).oneshot()])
        .unwrap()
        .check()
        .unwrap();
    let start = Instant::now();
    loop {
        q.wait(&mut ev, Some(Duration::from_secs(5))).unwrap();
        if ev.iter().any(|e| e.id() == 2) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    assert_eq!(errno(&q.remove(Key::timer(2)).unwrap_err()), libc::ENOENT);
}

/// A timer that expires once and does so while disabled keeps its expiry
/// for `enable` (patch 0089), as FreeBSD's `EV_ENABLE` reports it. Before
/// or after the `enable`, it is reported: nothing here depends on timing.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn single_timer_expired_while_disabled_is_reported_on_enable() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add(Kevent::timer_after(1, MS).token(Token(1)).disabled())
        .unwrap();
    thread::sleep(100 * MS);
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.enable(Key::timer(1)).unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!((e.token(), e.count()), (Token(1), 1));
    // Reported: a DISABLE and an ENABLE bring nothing more.
    q.disable(Key::timer(1)).unwrap();
    q.enable(Key::timer(1)).unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn periodic_timers_count_every_period_once() {
    require_kevent();
    // 20 timers of 10 ms for about 500 ms: every period reported once,
    // counting missed ones, never more than the periods that passed.
    let q = Queue::new().unwrap();
    let timers: Vec<_> = (0..20).map(|id| Kevent::timer(id, 10 * MS)).collect();
    let start = Instant::now();
    q.add_all(&timers).unwrap().check().unwrap();
    // As the benchmark's timer workload waits: a large buffer, the rest of
    // the window as the timeout.
    let added = start.elapsed();
    let mut ev = Events::with_capacity(4096);
    let mut per_timer = [0u64; 20];
    let mut counts = Vec::new();
    let take = |ev: &Events, per_timer: &mut [u64; 20], counts: &mut Vec<u64>| {
        for e in ev {
            per_timer[e.id() as usize] += e.count();
            counts.push(e.count());
        }
    };
    while let Some(left) = (500 * MS).checked_sub(start.elapsed()) {
        q.wait(&mut ev, Some(left.max(MS))).unwrap();
        take(&ev, &mut per_timer, &mut counts);
    }
    // Every period that ended before `due_by` is reported, however late
    // the thread or the expiry callbacks ran (LONG is a failure guard);
    // none that had not begun before the last report is.
    let due_by = start.elapsed();
    let due = ((due_by - added).as_nanos() / (10 * MS).as_nanos()) as u64;
    let guard = Instant::now();
    while per_timer.iter().any(|&n| n < due) {
        assert!(
            guard.elapsed() < LONG,
            "expirations {per_timer:?}, {due} due; counts reported: {counts:?}"
        );
        q.wait(&mut ev, Some(LONG)).unwrap();
        take(&ev, &mut per_timer, &mut counts);
    }
    let periods = (start.elapsed().as_nanos() / (10 * MS).as_nanos()) as u64;
    for (id, n) in per_timer.iter().enumerate() {
        assert!(
            *n <= periods,
            "timer {id}: {n} expirations in {periods} periods; counts reported: {counts:?}"
        );
    }
}

/// Waits for the next event of timer `id` (other events are dropped).
fn next_timer_event(q: &Queue, id: u64) -> kevent::Event {
    let mut ev = Events::with_capacity(8);
    let start = Instant::now();
    loop {
        q.wait(&mut ev, Some(LONG)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.id() == id) {
            return e;
        }
        assert!(start.elapsed() < LONG, "timer {id} never fired");
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn timers_start_clock_and_absolute_time() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    // A first expiry long before the period.
    let start = Instant::now();
    q.add_all(&[Kevent::timer(1, Duration::from_secs(30)).start_after(5 * MS)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(next_timer_event(&q, 1).count(), 1);
    assert!(start.elapsed() < Duration::from_secs(20));
    q.remove(Key::timer(1)).unwrap();

    // Period 0: one expiry at an absolute monotonic time; stays
    // registered (without ONESHOT) and fires no more.
    let at = Clock::Monotonic.now() + 50 * MS;
    q.add_all(&[Kevent::timer(2, Duration::ZERO).start_at(Deadline::at(Clock::Monotonic, at))])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(next_timer_event(&q, 2).count(), 1);
    assert!(Clock::Monotonic.now() >= at, "fired before its time");
    assert_eq!(q.wait(&mut ev, Some(100 * MS)).unwrap(), 0);
    assert_eq!(state(&q, Kind::Timer, 2), "idle");
    q.remove(Key::timer(2)).unwrap();

    // On CLOCK_REALTIME, absolute; and an absolute time already past
    // fires at once.
    let at = Clock::Realtime.now() + 30 * MS;
    q.add_all(&[
        Kevent::timer(3, Duration::ZERO)
            .start_at(Deadline::at(Clock::Realtime, at))
            .oneshot(),
        Kevent::timer(4, Duration::ZERO)
            .start_at(Deadline::at(
                Clock::Boottime,
                Clock::Boottime.now() - 10 * MS,
            ))
            .oneshot(),
    ])
    .unwrap()
    .check()
    .unwrap();
    assert_eq!(next_timer_event(&q, 4).count(), 1);
    assert_eq!(next_timer_event(&q, 3).count(), 1);
    assert!(Clock::Realtime.now() >= at);

    // Relative on CLOCK_BOOTTIME, periodic.
    q.add_all(&[Kevent::timer(5, 5 * MS).clock(Clock::Boottime)])
        .unwrap()
        .check()
        .unwrap();
    let e = next_timer_event(&q, 5);
    assert!(e.count() >= 1);
    q.remove(Key::timer(5)).unwrap();

    // What the kernel refuses.
    let (sock, _peer) = UnixStream::pair().unwrap();
    let r = q
        .add_all(&[
            Kevent::timer(10, Duration::ZERO),           // no start
            Kevent::timer(11, MS).oneshot().dispatch(),  // both
            Kevent::timer(12, Duration::from_nanos(10)), // < 1 us
            // Timer fields on other kinds panic in the crate (unit tests
            // in interest.rs); the kernel's check of the union is the
            // kselftests'. Here: flags the kind does not take.
            Kevent::user(13).edge(), // POLL and SOCKET only
            Kevent::poll(sock.as_fd(), PollFlags::empty()), // no events
            Kevent::user(14).fd_close(), // POLL and SOCKET only
        ])
        .unwrap();
    for i in 0..6 {
        assert_eq!(entry_errno(&r, i), libc::EINVAL, "entry {i}");
    }
}

/// The longest durations are clamped to what the kernel takes (KTIME_MAX
/// nanoseconds) instead of being refused with EINVAL: a period, a delay
/// and a deadline of `Duration::MAX` make timers that never fire.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn timers_of_the_longest_durations_are_accepted() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add_all(&[
        Kevent::timer(1, Duration::MAX),
        Kevent::timer_after(2, Duration::MAX),
        Kevent::timer_at(3, Deadline::after(Duration::MAX)),
        Kevent::timer(4, MS).start_at(Deadline::after_on(Clock::Realtime, Duration::MAX)),
    ])
    .unwrap()
    .check()
    .unwrap();
    q.add(Kevent::timer_after(5, Duration::MAX).update())
        .unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0, "one fired");
    for id in 1..=5 {
        assert_eq!(state(&q, Kind::Timer, id), "idle", "timer {id}");
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn poll_level_edge_and_oneshot() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let (mut c, d) = UnixStream::pair().unwrap();
    q.add_all(&[
        Kevent::poll(b.as_fd(), PollFlags::IN).user_data(1),
        Kevent::poll(d.as_fd(), PollFlags::IN).edge().user_data(2),
    ])
    .unwrap()
    .check()
    .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    a.write_all(b"x").unwrap();
    c.write_all(b"y").unwrap();
    assert_eq!(
        q.wait_with(&mut ev, &Wait::new(Some(LONG)).min(2)).unwrap(),
        2
    );
    for e in &ev {
        assert!(e.readiness().contains(PollFlags::IN));
        assert_eq!(e.kind(), Kind::Poll);
        assert!(!e.is_eof() && !e.is_error());
        assert_eq!(e.data(), 0);
    }
    // Level: b is still readable; edge: d is not reported again.
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 1);
    // Modify to oneshot: reported once (token kept), then removed.
    q.modify_all(&[Kevent::poll(b.as_fd(), PollFlags::IN)
        .oneshot()
        .user_data(1)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 1);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    assert_eq!(errno(&q.remove_fd(&b).unwrap_err()), libc::ENOENT);
    let mut buf = [0; 1];
    (&b).read_exact(&mut buf).unwrap();
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn tagged_poll_kevents_of_one_file() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let fd = b.as_raw_fd();
    q.add_all(&[
        Kevent::poll(b.as_fd(), PollFlags::IN).user_data(1),
        Kevent::poll(b.as_fd(), PollFlags::IN)
            .tag(1)
            .edge()
            .fd_close()
            .user_data(2),
        Kevent::poll(b.as_fd(), PollFlags::OUT)
            .tag(2)
            .oneshot()
            .user_data(3),
    ])
    .unwrap()
    .check()
    .unwrap();
    let mut ev = Events::with_capacity(8);
    // Writable: the oneshot WRITE kevent alone, under its tagged id.
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!((e.user_data(), e.id()), (3, 2 << 32 | fd as u64));
    assert_eq!(e.key(), Key::poll(fd).tagged(2));
    a.write_all(b"x").unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 2);
    let mut tokens: Vec<u64> = ev.iter().map(|e| e.user_data()).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [1, 2]);
    // The edge-triggered one is quiet now; removing the untagged one
    // leaves it.
    q.remove(Key::poll(fd)).unwrap();
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0);
    q.remove(Key::poll(fd).tagged(1)).unwrap();
    assert_eq!(
        errno(&q.remove(Key::poll(fd).tagged(1)).unwrap_err()),
        libc::ENOENT
    );
    // A tag means nothing to other kinds.
    assert_eq!(Kevent::user(5).tag(1).id(), 5);
    assert_eq!(Key::user(5).tagged(1), Key::user(5));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn dispatch_enable_and_disable() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    let (mut a, b) = UnixStream::pair().unwrap();
    q.add_all(&[Kevent::poll(b.as_fd(), PollFlags::IN)
        .dispatch()
        .user_data(9)])
        .unwrap()
        .check()
        .unwrap();
    a.write_all(b"x").unwrap();
    // Reported once, then disabled although still readable.
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!((e.user_data(), e.key()), (9, Key::poll(b.as_raw_fd())));
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0);
    assert_eq!(state(&q, Kind::Poll, b.as_raw_fd() as u64), "disabled");
    // ENABLE re-checks the level-triggered source: ready now, reported.
    q.enable(e.key()).unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 9);
    // Still DISPATCH: disabled again.
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    // Drained and enabled: nothing until new data.
    let mut buf = [0; 1];
    (&b).read_exact(&mut buf).unwrap();
    q.enable(Key::poll(b.as_raw_fd())).unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    a.write_all(b"y").unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);

    // DISABLE a user kevent: triggers meanwhile are dropped.
    q.add_all(&[Kevent::user(5)]).unwrap().check().unwrap();
    q.disable(Key::user(5)).unwrap();
    assert_eq!(state(&q, Kind::User, 5), "disabled");
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.enable(Key::user(5)).unwrap();
    assert_eq!(state(&q, Kind::User, 5), "idle");
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().count(), 1);

    // Added DISABLED: nothing until enabled; a ready level source then
    // is reported at once.
    let (mut c, d) = UnixStream::pair().unwrap();
    c.write_all(b"z").unwrap();
    q.add_all(&[
        Kevent::user(6).disabled(),
        Kevent::poll(d.as_fd(), PollFlags::IN).disabled(),
    ])
    .unwrap()
    .check()
    .unwrap();
    q.trigger(6).unwrap();
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0);
    let r = q
        .enable_all(&[Key::user(6), Key::poll(d.as_raw_fd()), Key::user(99)])
        .unwrap();
    assert_eq!(
        (entry_errno(&r, 0), entry_errno(&r, 1), entry_errno(&r, 2)),
        (0, 0, libc::ENOENT)
    );
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().key(), Key::poll(d.as_raw_fd()));
    q.remove_fd(&d).unwrap();
    let r = q.disable_all(&[Key::user(6), Key::timer(6)]).unwrap();
    assert_eq!((entry_errno(&r, 0), entry_errno(&r, 1)), (0, libc::ENOENT));
    assert_eq!(errno(&q.disable(Key::user(77)).unwrap_err()), libc::ENOENT);
    assert_eq!(errno(&q.enable(Key::timer(77)).unwrap_err()), libc::ENOENT);
    drop(c);

    // A disabled periodic timer keeps running; its expirations are dropped.
    q.add_all(&[Kevent::timer(7, 10 * MS).disabled()])
        .unwrap()
        .check()
        .unwrap();
    thread::sleep(200 * MS);
    // Only periods after enable() count: bounded by the time measured
    // around enable() and the report, whatever the scheduler did.
    let t0 = Instant::now();
    q.enable(Key::timer(7)).unwrap();
    let e = next_timer_event(&q, 7);
    let after = t0.elapsed().as_nanos() / (10 * MS).as_nanos() + 1;
    assert!(
        u128::from(e.count()) <= after,
        "{} expirations reported, at most {after} periods since enable()",
        e.count()
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn update_adds_or_modifies() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    q.add_all(&[Kevent::user(1).user_data(10)])
        .unwrap()
        .check()
        .unwrap();
    let r = q
        .add_all(&[
            Kevent::user(1).user_data(20),          // EEXIST
            Kevent::user(1).user_data(30).update(), // modified
            Kevent::user(2).user_data(40).update(), // added
        ])
        .unwrap();
    assert_eq!(
        (entry_errno(&r, 0), entry_errno(&r, 1), entry_errno(&r, 2)),
        (libc::EEXIST, 0, 0)
    );
    q.trigger(1).unwrap();
    q.trigger(2).unwrap();
    assert_eq!(
        q.wait_with(&mut ev, &Wait::new(Some(LONG)).min(2)).unwrap(),
        2
    );
    let mut data: Vec<_> = ev.iter().map(|e| (e.id(), e.user_data())).collect();
    data.sort();
    assert_eq!(data, [(1, 30), (2, 40)]);
    // UPDATE enables a disabled kevent, unless it says DISABLED.
    q.disable(Key::user(1)).unwrap();
    q.add_all(&[Kevent::user(1).update()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(state(&q, Kind::User, 1), "idle");
    q.add_all(&[Kevent::user(1).update().disabled()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(state(&q, Kind::User, 1), "disabled");
    // UPDATE changes a timer's period.
    q.add_all(&[Kevent::timer(3, Duration::from_secs(3600))])
        .unwrap()
        .check()
        .unwrap();
    q.add_all(&[Kevent::timer(3, 5 * MS).update()])
        .unwrap()
        .check()
        .unwrap();
    assert!(next_timer_event(&q, 3).count() >= 1);
    // UPDATE is for ADD only.
    let r = q
        .modify_all(&[Kevent::user(2).update().token(Token(2))])
        .unwrap();
    assert_eq!(entry_errno(&r, 0), libc::EINVAL);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn eof_and_error_flags() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(4);
    let (a, b) = UnixStream::pair().unwrap();
    q.add_all(&[Kevent::poll(b.as_fd(), PollFlags::IN | PollFlags::RDHUP)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    drop(a);
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert!(e.is_eof(), "{e:?}");
    assert!(!e.is_error(), "{e:?}");
    assert!(e.readiness().intersects(PollFlags::HUP | PollFlags::RDHUP));
    // Level-triggered: it would be reported with everything below.
    q.remove_fd(&b).unwrap();

    // A refused TCP connection: EPOLLERR, the error in data.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // SAFETY: plain system calls on a socket we own.
    let s = unsafe {
        OwnedFd::from_raw_fd(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))
    };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `addr` is a sockaddr_in of the size given.
    let ret = unsafe {
        libc::connect(
            s.as_raw_fd(),
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let err = io::Error::last_os_error();
    if ret == 0 || errno(&err) != libc::EINPROGRESS {
        eprintln!("connect did not go asynchronous ({ret}, {err}); error flag not checked");
        return;
    }
    // Watched once connecting (an unconnected TCP socket polls as HUP).
    q.add_all(&[Kevent::poll(s.as_fd(), PollFlags::OUT)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert!(e.is_error(), "{e:?}");
    assert_eq!(e.data(), libc::ECONNREFUSED as u64, "{e:?}");
    assert_eq!(e.error().unwrap().raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn fd_close_removes_with_the_number() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let dup = |fd: RawFd| {
        // SAFETY: dup of a descriptor we hold; the copy is owned here.
        unsafe { OwnedFd::from_raw_fd(libc::dup(fd)) }
    };
    let with = dup(b.as_raw_fd());
    let without = dup(b.as_raw_fd());
    let (with_n, without_n) = (with.as_raw_fd(), without.as_raw_fd());
    q.add_all(&[
        Kevent::poll(with.as_fd(), PollFlags::IN).fd_close(),
        Kevent::poll(without.as_fd(), PollFlags::IN),
    ])
    .unwrap()
    .check()
    .unwrap();
    assert_eq!(fdinfo(&q).len(), 2);
    // Both numbers closed; the file stays open through `b`.
    drop(with);
    drop(without);
    // FD_CLOSE: gone with the number. Without: still there (epoll
    // semantics), removable by its number.
    a.write_all(b"x").unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().id(), without_n as u64);
    let r = q
        .remove_all(&[Key::poll(with_n), Key::poll(without_n)])
        .unwrap();
    assert_eq!((entry_errno(&r, 0), entry_errno(&r, 1)), (libc::ENOENT, 0));
    assert!(fdinfo(&q).is_empty());
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn batches_report_every_entry() {
    require_kevent();
    let q = Queue::new().unwrap();
    let r = q
        .add_all(&[
            Kevent::user(1),
            Kevent::user(1), // EEXIST
            // SAFETY: -1 is no file: the kernel answers EBADF.
            unsafe { Kevent::poll_raw(-1, PollFlags::IN) }, // EBADF
            Kevent::timer(3, MS).edge(),                    // EINVAL
            Kevent::timer(4, Duration::from_nanos(10)),     // EINVAL: < 1 us
            Kevent::user(5),
        ])
        .unwrap();
    let codes: Vec<i32> = (0..6).map(|i| entry_errno(&r, i)).collect();
    assert_eq!(
        codes,
        [0, libc::EEXIST, libc::EBADF, libc::EINVAL, libc::EINVAL, 0]
    );
    assert!(r.check().is_err());
    let r = q
        .remove_all(&[Key::user(1), Key::user(2), Key::user(5)])
        .unwrap();
    assert!(r.result(0).is_ok() && r.result(2).is_ok());
    assert_eq!(entry_errno(&r, 1), libc::ENOENT);
    // Unknown types are refused (type 5 is KEVENT_NAIO now: its zeroed
    // request, of length 0, is invalid).
    let mut raw: Vec<sys::ukevent> = [5, 9, 10, 11, 12, 255]
        .iter()
        .map(|&t| sys::ukevent {
            id: 1,
            type_: t,
            event: 1,
            ..Default::default()
        })
        .collect();
    // SAFETY: `raw` holds that many ukevents we own.
    let n = unsafe { sys::kevent_ctl(q.as_raw_fd(), sys::KEVENT_CTL_ADD, 6, raw.as_mut_ptr()) };
    assert_eq!(n, Ok(6));
    for uk in &raw {
        assert_eq!(
            uk.ret_flags & sys::KEVENT_RET_BROKEN,
            sys::KEVENT_RET_BROKEN
        );
        let want = if uk.type_ == sys::KEVENT_NAIO {
            libc::EINVAL
        } else {
            libc::EOPNOTSUPP
        };
        assert_eq!(uk.ret_data[1] as i32, -want, "type {}", uk.type_);
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn read_and_nonblocking_queue() {
    require_kevent();
    let q = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK).unwrap();
    q.add_all(&[Kevent::user(1).user_data(11)])
        .unwrap()
        .check()
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(
        q.read_events(&mut ev).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // O_NONBLOCK does not change the waits: this one sleeps.
    let start = Instant::now();
    assert_eq!(q.wait(&mut ev, Some(50 * MS)).unwrap(), 0);
    assert!(start.elapsed() >= 40 * MS);
    q.trigger(1).unwrap();
    assert_eq!(q.read_events(&mut ev).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(
        (e.kind(), e.id(), e.user_data(), e.count()),
        (Kind::User, 1, 11, 1)
    );
    let e = q.wait(&mut Events::with_capacity(0), None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // A blocking queue's read sleeps until an event.
    let q = Arc::new(Queue::new().unwrap());
    q.add_all(&[Kevent::user(2)]).unwrap().check().unwrap();
    let t = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            thread::sleep(50 * MS);
            q.trigger(2).unwrap();
        })
    };
    assert_eq!(q.read_events(&mut ev).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().id(), 2);
    t.join().unwrap();
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn deadlines_clocks_and_min() {
    require_kevent();
    let q = Arc::new(Queue::new().unwrap());
    let mut ev = Events::with_capacity(4);
    for clock in [Clock::Monotonic, Clock::Realtime, Clock::Boottime] {
        let start = Instant::now();
        let deadline = clock.now() + 50 * MS;
        assert_eq!(
            q.wait_until(&mut ev, Deadline::at(clock, deadline))
                .unwrap(),
            0
        );
        assert!(start.elapsed() >= 40 * MS, "{clock:?}");
        assert!(clock.now() >= deadline, "{clock:?}");
        // Already past: returns at once.
        assert_eq!(
            q.wait_until(&mut ev, Deadline::at(clock, clock.now() - 10 * MS))
                .unwrap(),
            0
        );
        // A relative timeout on that clock.
        let start = Instant::now();
        let w = Wait::timeout(30 * MS).clock(clock);
        assert_eq!(q.wait_with(&mut ev, &w).unwrap(), 0);
        assert!(start.elapsed() >= 20 * MS, "{clock:?}");
    }
    // min: the wait goes on past the first event.
    q.add_all(&[Kevent::user(1), Kevent::user(2)])
        .unwrap()
        .check()
        .unwrap();
    q.trigger(1).unwrap();
    let start = Instant::now();
    let t = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            thread::sleep(100 * MS);
            q.trigger(2).unwrap();
        })
    };
    assert_eq!(
        q.wait_with(&mut ev, &Wait::timeout(LONG).min(2)).unwrap(),
        2
    );
    assert!(start.elapsed() >= 80 * MS);
    t.join().unwrap();
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// This thread's signal mask.
fn thread_mask() -> libc::sigset_t {
    // SAFETY: reads the mask into our sigset_t.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old),
            0
        );
        old
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn sigmask_wait_lets_a_blocked_signal_in() {
    require_kevent();
    // SAFETY: installs a handler that only bumps an atomic, for SIGUSR1,
    // which nothing else in this process uses; the mask calls act on this
    // test's thread.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        let mut usr1: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut usr1);
        libc::sigaddset(&mut usr1, libc::SIGUSR1);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut()),
            0
        );
    }
    let blocked = thread_mask();
    // SAFETY: sigemptyset initialises the set.
    let unblocked = unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        s
    };
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(4);
    // A mask and a timeout, no signal: a plain timeout.
    assert_eq!(
        q.wait_with_sigmask(&mut ev, Some(20 * MS), &unblocked)
            .unwrap(),
        0
    );
    // SAFETY: signals our own thread.
    assert_eq!(
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) },
        0
    );
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 0, "SIGUSR1 is blocked");
    // A wait whose mask still blocks it: not interrupted.
    assert_eq!(
        q.wait_with_sigmask(&mut ev, Some(20 * MS), &blocked)
            .unwrap(),
        0
    );
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 0);
    // The wait's mask unblocks it: EINTR after the handler ran.
    let err = q
        .wait_with_sigmask(&mut ev, Some(LONG), &unblocked)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 1);
    // The thread's mask is back: SIGUSR1 blocked again.
    // SAFETY: reads a sigset_t we own.
    assert_eq!(
        unsafe { libc::sigismember(&thread_mask(), libc::SIGUSR1) },
        1
    );
    // The same through the ring's wait.
    let mut ring = Ring::new(&q, 4).unwrap();
    // SAFETY: signals our own thread.
    assert_eq!(
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) },
        0
    );
    let err = ring
        .wait_with(&Wait::timeout(LONG).sigmask(&unblocked))
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 2);
    // SAFETY: reads a sigset_t we own.
    assert_eq!(
        unsafe { libc::sigismember(&thread_mask(), libc::SIGUSR1) },
        1
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_at_event_fills_without_a_call() {
    if !require_ring_at_event() {
        return;
    }
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let (mut c, d) = UnixStream::pair().unwrap();
    q.add_all(&[
        Kevent::poll(b.as_fd(), PollFlags::IN).edge().user_data(1),
        Kevent::poll(d.as_fd(), PollFlags::IN).user_data(2),
        Kevent::user(3).user_data(3),
    ])
    .unwrap()
    .check()
    .unwrap();
    let mut ring = Ring::builder(8).at_event().build(&q).unwrap();
    // The edge-triggered kevent's event is in the ring after the write
    // alone; the level-triggered one waits for a wait.
    a.write_all(b"x").unwrap();
    c.write_all(b"y").unwrap();
    q.trigger(3).unwrap();
    assert_eq!(ring.len(), 2);
    let got: Vec<_> = ring.drain().map(|e| (e.user_data(), e.kind())).collect();
    assert_eq!(got, [(1, Kind::Poll), (3, Kind::User)]);
    // The wait copies the level-triggered one, and says what the ring holds.
    assert_eq!(ring.wait(Some(LONG)).unwrap(), 1);
    let e = ring.drain().next().unwrap();
    assert_eq!((e.user_data(), e.readiness()), (2, PollFlags::IN));
    // With events in the ring, a wait returns at once with their number.
    a.write_all(b"x").unwrap();
    let t0 = Instant::now();
    assert_eq!(ring.wait(None).unwrap(), 2);
    assert!(t0.elapsed() < LONG);
    assert_eq!(ring.drain().count(), 2);
    // Filled at event time between a look and a wait: no ENOSPC, but its
    // capacity; what did not fit stays queued, flagged, for a later wait.
    // (The level-triggered kevent is reported until its byte is read.)
    (&d).read_exact(&mut [0u8; 1]).unwrap();
    for _ in 0..9 {
        q.trigger(3).unwrap();
    }
    assert_eq!(ring.len(), 8);
    assert_eq!(ring.wait(None).unwrap(), 8);
    assert!(ring.overflowed());
    assert_eq!(ring.drain().count(), 8);
    assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 1);
    assert!(!ring.overflowed());
    let e = ring.drain().next().unwrap();
    assert_eq!((e.user_data(), e.count()), (3, 1));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_at_event_waits_for_min_entries() {
    if !require_ring_at_event() {
        return;
    }
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::user(1), Kevent::user(2)])
        .unwrap()
        .check()
        .unwrap();
    let mut ring = Ring::builder(8).at_event().build(&q).unwrap();
    q.trigger(1).unwrap();
    // One entry held and `min(2)`: the wait lasts until a second is
    // written, whenever the other thread gets to it.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            q.trigger(2).unwrap();
        });
        assert_eq!(ring.wait_with(&Wait::forever().min(2)).unwrap(), 2);
    });
    // A timeout returns what the ring holds, fewer than `min`.
    let short = Wait::timeout(Duration::from_millis(20)).min(3);
    assert_eq!(ring.wait_with(&short).unwrap(), 2);
    assert_eq!(ring.drain().count(), 2);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_round_trips_and_wraps() {
    require_kevent();
    let q = Queue::new().unwrap();
    // Detaching a ring that was never registered succeeds; flags must be 0.
    // SAFETY: no memory is passed.
    unsafe {
        assert_eq!(
            sys::kevent_ring_init(q.as_raw_fd(), std::ptr::null_mut(), 0, 0),
            Ok(())
        );
        assert_eq!(
            sys::kevent_ring_init(q.as_raw_fd(), std::ptr::null_mut(), 0, 1),
            Err(sys::Error::Errno(libc::EINVAL))
        );
    }
    q.add_all(&[Kevent::user(1), Kevent::user(2), Kevent::user(3)])
        .unwrap()
        .check()
        .unwrap();
    let mut ring = Ring::new(&q, 4).unwrap();
    assert_eq!(ring.entries(), 4);
    // A second ring on the same queue is refused.
    assert_eq!(errno(&Ring::new(&q, 4).unwrap_err()), libc::EBUSY);
    let mut total = 0u64;
    for lap in 0..500u64 {
        let k = 1 + lap % 3;
        for id in 1..=k {
            q.trigger(id).unwrap();
        }
        assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), k as usize);
        assert_eq!(ring.len(), k as usize);
        for e in ring.drain() {
            assert_eq!((e.count(), e.kind()), (1, Kind::User));
            total += e.id();
        }
        assert!(ring.is_empty());
    }
    assert_eq!(
        total,
        (0..500u64).map(|l| (1..=1 + l % 3).sum::<u64>()).sum()
    );
    // min on the ring's wait.
    q.trigger(1).unwrap();
    q.trigger(2).unwrap();
    assert_eq!(ring.wait_with(&Wait::timeout(LONG).min(2)).unwrap(), 2);
    assert_eq!(ring.drain().count(), 2);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_drain_or_wait_waits_only_when_empty() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::user(1), Kevent::user(2)])
        .unwrap()
        .check()
        .unwrap();
    let mut ring = Ring::new(&q, 4).unwrap();
    // Empty: it waits, and the wait copies both events.
    q.trigger(1).unwrap();
    q.trigger(2).unwrap();
    let mut events = ring.drain_or_wait(Some(LONG)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events.next().unwrap().id(), 1);
    drop(events);
    // One event left in the ring: returned without a wait, which would
    // have copied the new trigger of 1 behind it.
    q.trigger(1).unwrap();
    let ids: Vec<_> = ring.drain_or_wait(None).unwrap().map(|e| e.id()).collect();
    assert_eq!(ids, [2]);
    let ids: Vec<_> = ring
        .drain_or_wait(Some(Duration::ZERO))
        .unwrap()
        .map(|e| e.id())
        .collect();
    assert_eq!(ids, [1]);
    // Nothing anywhere: the timeout passes and the drain is empty.
    assert_eq!(ring.drain_or_wait(Some(MS)).unwrap().len(), 0);
    assert!(ring.is_empty());
    // With the wait's arguments: at least two events.
    q.trigger(1).unwrap();
    q.trigger(2).unwrap();
    let events = ring
        .drain_or_wait_with(&Wait::timeout(LONG).min(2))
        .unwrap();
    assert_eq!(events.len(), 2);
    drop(events);
    // A ring written at event time: the write alone puts the event
    // there, and the drain takes it (a wait would return at once too).
    if !kevent::features().unwrap().ring_at_event {
        return;
    }
    drop(ring);
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    q.add(Kevent::poll(b.as_fd(), PollFlags::IN).edge().user_data(7))
        .unwrap();
    let mut ring = Ring::builder(8).at_event().build(&q).unwrap();
    assert_eq!(ring.drain_or_wait(Some(Duration::ZERO)).unwrap().len(), 0);
    a.write_all(b"x").unwrap();
    assert_eq!(ring.len(), 1);
    let got: Vec<_> = ring
        .drain_or_wait(None)
        .unwrap()
        .map(|e| e.user_data())
        .collect();
    assert_eq!(got, [7]);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn full_ring_keeps_events() {
    require_kevent();
    let q = Queue::new().unwrap();
    let ids: Vec<_> = (1..=5).map(Kevent::user).collect();
    q.add_all(&ids).unwrap().check().unwrap();
    for id in 1..=5 {
        q.trigger(id).unwrap();
    }
    {
        let mut ring = Ring::new(&q, 2).unwrap();
        assert_eq!(ring.wait(None).unwrap(), 2);
        assert!(ring.overflowed());
        assert_eq!(errno(&ring.wait(None).unwrap_err()), libc::ENOSPC);
        assert_eq!(ring.drain().count(), 2);
        assert_eq!(ring.wait(None).unwrap(), 2);
        // Dropped with 2 undrained events: detached and freed.
    }
    // A new ring works; kevent_get_events sees the rest.
    let _ring = Ring::new(&q, 8).unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    // A ring larger than the kernel allows never reaches it.
    let too_big = kevent::features()
        .unwrap()
        .ring_max_entries
        .saturating_mul(2);
    assert_eq!(
        Ring::new(&q, too_big).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn many_threads_trigger_one_waiter_counts_all() {
    require_kevent();
    let q = Arc::new(Queue::new().unwrap());
    let ids: Vec<_> = (0..8).map(Kevent::user).collect();
    q.add_all(&ids).unwrap().check().unwrap();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..500u64 {
                    q.trigger((t * 2 + i) % 8).unwrap();
                }
            })
        })
        .collect();
    let mut ev = Events::with_capacity(8);
    let mut seen = 0u64;
    let start = Instant::now();
    while seen < 2000 {
        q.wait(&mut ev, Some(100 * MS)).unwrap();
        seen += ev.iter().map(|e| e.count()).sum::<u64>();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "saw {seen} of 2000"
        );
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(seen, 2000);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn fd_round_trips_and_buffers() {
    require_kevent();
    use std::os::fd::IntoRawFd;
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::user(1)]).unwrap().check().unwrap();
    let raw = q.into_raw_fd();
    // SAFETY: `raw` is the queue we just released, owned by nothing else.
    let q = unsafe { Queue::from_raw_fd(raw) };
    q.trigger(1).unwrap();
    let mut ev = Events::with_capacity(3);
    assert_eq!(ev.capacity(), 3);
    assert!(ev.is_empty());
    assert_eq!(q.wait(&mut ev, None).unwrap(), 1);
    assert_eq!(ev.len(), 1);
    let e = ev.iter().next().unwrap();
    assert!(e.flags().is_empty());
    assert!(format!("{e:?}").contains("User"));
    // A bad ring size never reaches the kernel.
    assert_eq!(
        Ring::new(&q, 3).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

/// A forked child's copy of a `Ring`, dropped, leaves the parent's ring
/// registered: the parent keeps waiting on it and a second ring is still
/// refused.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_copy_dropped_in_child_keeps_parents_ring() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::user(1)]).unwrap().check().unwrap();
    let mut ring = Ring::new(&q, 4).unwrap();
    // SAFETY: the child only drops its copy of the ring and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: reading the Ring out of our stack frame once; the
        // original is forgotten so it is dropped exactly once here.
        let copy = unsafe { std::ptr::read(&ring) };
        drop(copy);
        // SAFETY: exit without running the parent's destructors again.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    q.trigger(1).unwrap();
    assert_eq!(ring.wait(Some(Duration::from_secs(10))).unwrap(), 1);
    assert_eq!(ring.drain().count(), 1);
    assert_eq!(errno(&Ring::new(&q, 4).unwrap_err()), libc::EBUSY);
}

/// The system call a thread of ours is blocked in, from
/// `/proc/self/task/TID/syscall` (None while it runs).
fn blocked_in(tid: libc::pid_t) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn gettid() -> libc::pid_t {
    // SAFETY: no arguments, no memory.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// Spawns a thread that waits on `q` once (timeout `timeout`), and
/// returns once it sleeps in kevent_get_events.
fn sleeping_waiter(q: &Arc<Queue>, timeout: Duration) -> thread::JoinHandle<Vec<(Token, u64)>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let q = Arc::clone(q);
    let h = thread::spawn(move || {
        tx.send(gettid()).unwrap();
        let mut ev = Events::with_capacity(4);
        q.wait(&mut ev, Some(timeout)).unwrap();
        ev.iter().map(|e| (e.token(), e.count())).collect()
    });
    let tid = rx.recv().unwrap();
    let start = Instant::now();
    while blocked_in(tid) != Some(i64::from(sys::nr::KEVENT_GET_EVENTS as i32)) {
        assert!(
            start.elapsed() < LONG,
            "the waiter never slept in kevent_get_events"
        );
        thread::sleep(MS);
    }
    h
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn wake_one_is_fifo_and_wake_all_reaches_every_waiter() {
    require_kevent();
    // Wake-one (the default): one trigger wakes the longest waiter only;
    // the next trigger the next one.
    let q = Arc::new(Queue::new().unwrap());
    q.add(Kevent::user(1).token(Token(1))).unwrap();
    let first = sleeping_waiter(&q, LONG);
    let second = sleeping_waiter(&q, LONG);
    q.trigger(1).unwrap();
    assert_eq!(first.join().unwrap(), [(Token(1), 1)], "the first waiter");
    q.trigger(1).unwrap();
    assert_eq!(second.join().unwrap(), [(Token(1), 1)]);

    // WAKEUP_ALL on a level-triggered poll kevent: every sleeping waiter
    // is woken and reports it (it stays ready: nobody reads).
    let (mut a, b) = UnixStream::pair().unwrap();
    let q = Arc::new(Queue::new().unwrap());
    q.add(
        Kevent::poll(b.as_fd(), PollFlags::IN)
            .wake_all()
            .token(Token(7)),
    )
    .unwrap();
    let waiters: Vec<_> = (0..3).map(|_| sleeping_waiter(&q, LONG)).collect();
    a.write_all(b"x").unwrap();
    for w in waiters {
        assert_eq!(w.join().unwrap(), [(Token(7), 0)]);
    }
}

/// The kevents (type, id) fdinfo lists.
fn listed(q: &Queue) -> Vec<(u32, u64)> {
    fdinfo(q)
        .iter()
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap()
                    .to_owned()
            };
            (
                field("type:").parse().unwrap(),
                field("id:").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn fd_close_follows_dup2_and_close_range() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (_a, b) = UnixStream::pair().unwrap();
    let (c, _d) = UnixStream::pair().unwrap();
    // SAFETY: dups of descriptors we hold; each copy is owned here.
    let dup = |fd: RawFd| unsafe { OwnedFd::from_raw_fd(libc::dup(fd)) };
    let over = dup(b.as_raw_fd());
    let ranged = dup(b.as_raw_fd());
    let plain = dup(b.as_raw_fd());
    let (over_n, ranged_n, plain_n) = (over.as_raw_fd(), ranged.as_raw_fd(), plain.as_raw_fd());
    for fd in [&over, &ranged] {
        q.add(Kevent::poll(fd.as_fd(), PollFlags::IN).fd_close())
            .unwrap();
    }
    q.add(Kevent::poll(plain.as_fd(), PollFlags::IN)).unwrap();
    let poll = sys::KEVENT_POLL;
    let mut ids = listed(&q);
    ids.sort();
    let mut want = vec![
        (poll, over_n as u64),
        (poll, ranged_n as u64),
        (poll, plain_n as u64),
    ];
    want.sort();
    assert_eq!(ids, want);
    // dup2 over the number: an FD_CLOSE kevent goes with it.
    // SAFETY: `over` is ours; after dup2 the number holds c's file, still
    // owned by `over` and closed with it.
    assert_eq!(unsafe { libc::dup2(c.as_raw_fd(), over_n) }, over_n);
    assert!(
        !listed(&q).contains(&(poll, over_n as u64)),
        "{:?}",
        listed(&q)
    );
    // close_range over the number too.
    let ranged_n = std::os::fd::IntoRawFd::into_raw_fd(ranged);
    // SAFETY: closes the one number we just released.
    let r = unsafe { libc::syscall(libc::SYS_close_range, ranged_n as u32, ranged_n as u32, 0) };
    assert_eq!(r, 0);
    assert!(
        !listed(&q).contains(&(poll, ranged_n as u64)),
        "{:?}",
        listed(&q)
    );
    // Without FD_CLOSE, dup2 over the number leaves the kevent (epoll
    // semantics: the file is still open through `b`).
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(c.as_raw_fd(), plain_n) }, plain_n);
    assert_eq!(listed(&q), [(poll, plain_n as u64)]);
    drop((over, plain));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_eperm_in_a_child_and_enxio_once_detached() {
    require_kevent();
    let q = Queue::new().unwrap();
    q.add(Kevent::user(1)).unwrap();
    // No ring: kevent_wait is ENXIO.
    // SAFETY: no memory is passed.
    let r = unsafe { sys::kevent_wait(q.as_raw_fd(), 1, std::ptr::null(), 0) };
    assert_eq!(r, Err(sys::Error::Errno(libc::ENXIO)));
    let mut ring = Ring::new(&q, 4).unwrap();
    // SAFETY: the child only waits on its copy and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match ring.wait(Some(Duration::ZERO)) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => 0,
            _ => 1,
        };
        // SAFETY: exit without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child's wait was not EPERM"
    );
    // Detached behind the ring's back: ENXIO, and its drop still works.
    // SAFETY: detaching passes no memory; `ring` then holds memory the
    // kernel no longer writes.
    unsafe { sys::kevent_ring_init(q.as_raw_fd(), std::ptr::null_mut(), 0, 0) }.unwrap();
    q.trigger(1).unwrap();
    assert_eq!(
        errno(&ring.wait(Some(Duration::ZERO)).unwrap_err()),
        libc::ENXIO
    );
    drop(ring);
    // The event is still there for the queue's own wait.
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn ring_owns_or_shares_its_queue_and_drains_partially() {
    require_kevent();
    // Owned: the ring and its queue in one value.
    let q = Queue::new().unwrap();
    q.add_all(&[Kevent::user(1), Kevent::user(2), Kevent::user(3)])
        .unwrap()
        .check()
        .unwrap();
    let mut ring = Ring::builder(4).dontfork().build(q).unwrap();
    for id in 1..=3 {
        ring.queue().trigger(id).unwrap();
    }
    assert_eq!(ring.wait(Some(LONG)).unwrap(), 3);
    {
        let mut drain = ring.drain();
        assert_eq!(drain.len(), 3);
        assert_eq!(drain.next().unwrap().id(), 1);
    }
    // Published once: two left, and one entry free for the kernel.
    assert_eq!(ring.len(), 2);
    ring.queue().trigger(1).unwrap();
    ring.queue().trigger(2).unwrap();
    assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 2);
    let ids: Vec<u64> = ring.drain().map(|e| e.id()).collect();
    assert_eq!(ids, [2, 3, 1, 2]);
    // A forked child's copy of a dontfork ring reads as empty (the
    // parent's unread event is not there), cannot wait (EPERM), and
    // drops without touching the parent's ring.
    ring.queue().trigger(1).unwrap();
    assert_eq!(ring.wait(Some(LONG)).unwrap(), 1);
    // SAFETY: the child uses its copy of the ring (no allocation on
    // success), drops it and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut code = 0;
        if !ring.is_empty() || ring.overflowed() {
            code |= 1;
        }
        if ring.drain().next().is_some() {
            code |= 2;
        }
        if !matches!(ring.wait(Some(Duration::ZERO)), Err(e) if e.raw_os_error() == Some(libc::EPERM))
        {
            code |= 4;
        }
        // SAFETY: read once, dropped once, in the child.
        drop(unsafe { std::ptr::read(&ring) });
        // SAFETY: exit without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child died: status {status:#x}"
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "in the child (1: len/overflowed, 2: drain, 4: wait not EPERM)"
    );
    assert_eq!(ring.drain().map(|e| e.id()).collect::<Vec<_>>(), [1]);
    ring.queue().trigger(3).unwrap();
    assert_eq!(ring.wait(Some(LONG)).unwrap(), 1);
    assert_eq!(ring.drain().next().unwrap().id(), 3);

    // Shared: an Arc<Queue> for the ring and another thread.
    let q = Arc::new(Queue::new().unwrap());
    q.add(Kevent::user(9)).unwrap();
    let mut ring = Ring::new(Arc::clone(&q), 8).unwrap();
    let t = thread::spawn(move || q.trigger(9));
    assert_eq!(ring.wait(Some(LONG)).unwrap(), 1);
    t.join().unwrap().unwrap();
    assert_eq!(ring.drain().map(|e| e.id()).collect::<Vec<_>>(), [9]);
    // Detached: the queue comes back, its waits see events again, and
    // another ring may be registered.
    let q = ring.detach().unwrap();
    q.trigger(9).unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let ring = Ring::new(&*q, 4).unwrap();
    assert_eq!(ring.entries(), 4);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn single_entry_calls_tokens_and_readiness() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    let (mut a, b) = UnixStream::pair().unwrap();
    q.add_fd(&b, PollFlags::IN, Token(5)).unwrap();
    assert_eq!(
        errno(&q.add_fd(&b, PollFlags::IN, Token(6)).unwrap_err()),
        libc::EEXIST
    );
    a.write_all(b"x").unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.token(), Token(5));
    assert!(e.is_readable() && !e.is_writable() && !e.is_read_closed() && !e.is_error());
    // modify_fd: new interest, the token given again.
    q.modify_fd(&b, PollFlags::IN | PollFlags::OUT, Token(5))
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.token(), Token(5));
    assert!(e.is_readable() && e.is_writable());
    // The peer closes: read closed.
    drop(a);
    q.modify_fd(&b, PollFlags::IN | PollFlags::RDHUP, Token(5))
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert!(ev.iter().next().unwrap().is_read_closed());
    // Remove by key; again: ENOENT.
    q.remove(Key::poll(b.as_raw_fd())).unwrap();
    assert_eq!(errno(&q.remove_fd(&b).unwrap_err()), libc::ENOENT);
    // Timers by key, without a made-up period; a delay is a single expiry.
    q.add(Kevent::timer_after(3, 5 * MS).token(Token(3)))
        .unwrap();
    let e = next_timer_event(&q, 3);
    assert_eq!((e.token(), e.count()), (Token(3), 1));
    assert_eq!(
        q.wait(&mut ev, Some(50 * MS)).unwrap(),
        0,
        "a single expiry"
    );
    q.remove(Key::timer(3)).unwrap();
    q.add(Kevent::timer_at(4, Deadline::after(5 * MS))).unwrap();
    assert_eq!(next_timer_event(&q, 4).count(), 1);
    // Single calls report the entry's own error.
    assert_eq!(
        errno(&q.modify(Kevent::user(77).token(Token(77))).unwrap_err()),
        libc::ENOENT
    );
    let e = q
        .add(Kevent::timer(8, Duration::from_nanos(10)))
        .unwrap_err();
    assert_eq!(errno(&e), libc::EINVAL);
    // Batches: only failures are kept.
    let r = q
        .add_all(&[Kevent::user(1), Kevent::user(1), Kevent::user(2)])
        .unwrap();
    assert_eq!((r.len(), r.is_ok()), (3, false));
    let errs: Vec<_> = r
        .errors()
        .map(|e| (e.index().unwrap(), errno(&e)))
        .collect();
    assert_eq!(errs, [(1, libc::EEXIST)]);
    // A batch longer than one stack chunk (64): indices run on.
    let many: Vec<_> = (100..300).map(Kevent::user).collect();
    let mut with_dups = many.clone();
    with_dups.insert(150, Kevent::user(120));
    let r = q.add_all(&with_dups).unwrap();
    let errs: Vec<_> = r
        .errors()
        .map(|e| (e.index().unwrap(), errno(&e)))
        .collect();
    assert_eq!(errs, [(150, libc::EEXIST)]);
    let keys: Vec<Key> = many.iter().map(Kevent::key).collect();
    q.remove_all(&keys).unwrap().check().unwrap();
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn registered_removes_before_close_and_waker_wakes() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    // A duplicate keeps the file open, so closing the registered number
    // alone would leave the kevent (epoll semantics): the guard removes it.
    let b2 = b.try_clone().unwrap();
    let b2_n = b2.as_raw_fd();
    let guard = q.register(b2, PollFlags::IN, Token(1)).unwrap();
    assert_eq!(guard.key(), Key::poll(b2_n));
    assert_eq!(listed(&q), [(sys::KEVENT_POLL, b2_n as u64)]);
    drop(guard);
    assert!(listed(&q).is_empty());
    a.write_all(b"x").unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0);
    // The number is free and can be watched again; deregister gives the
    // descriptor back.
    let guard = q
        .register(b.try_clone().unwrap(), PollFlags::IN, Token(2))
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(2));
    let back = guard.deregister().unwrap();
    assert!(listed(&q).is_empty());
    drop(back);

    // Any handle to the queue: an Arc<Queue>, with the registration
    // moved into another thread and dropped there (which removes the
    // kevent from the shared queue), and an owned Queue.
    let shared = Arc::new(Queue::new().unwrap());
    let reg: Registered<UnixStream, Arc<Queue>> = Registered::new(
        Arc::clone(&shared),
        b.try_clone().unwrap(),
        PollFlags::IN,
        Token(3),
    )
    .unwrap();
    let n = reg.as_fd().as_raw_fd();
    assert_eq!(listed(&shared), [(sys::KEVENT_POLL, n as u64)]);
    assert_eq!(shared.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(3));
    thread::spawn(move || drop(reg)).join().unwrap();
    assert!(listed(&shared).is_empty());
    let owned = Registered::new(
        Queue::new().unwrap(),
        b.try_clone().unwrap(),
        PollFlags::IN,
        Token(4),
    )
    .unwrap();
    assert_eq!(owned.queue().wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(4));
    let back = owned.deregister().unwrap();
    drop(back);

    // A failed removal gives the registration back: the descriptor is
    // neither lost nor closed.
    let reg = q
        .register(b.try_clone().unwrap(), PollFlags::IN, Token(5))
        .unwrap();
    let n = reg.as_fd().as_raw_fd();
    q.remove(reg.key()).unwrap(); // behind the guard's back
    let err = reg.deregister().unwrap_err();
    assert_eq!(err.error().raw_os_error(), Some(libc::ENOENT));
    assert_eq!(err.error().key(), Some(Key::poll(n)));
    assert!(
        err.to_string()
            .starts_with(&format!("remove poll fd {n}: ")),
        "{err}"
    );
    // Still guarded: deregister again (ENOENT again), then take it out.
    let err = err.into_registered().deregister().unwrap_err();
    let mut back = err.into_inner();
    assert_eq!(back.as_raw_fd(), n);
    back.write_all(b"y").unwrap(); // open
    let mut byte = [0u8; 2];
    assert_eq!(a.read(&mut byte).unwrap(), 1);
    drop(back);
    // `?` into io::Error (and kevent::Error).
    fn deregister_io(reg: Registered<UnixStream, &Queue>) -> io::Result<UnixStream> {
        Ok(reg.deregister()?)
    }
    let reg = q
        .register(b.try_clone().unwrap(), PollFlags::IN, Token(6))
        .unwrap();
    q.remove(reg.key()).unwrap();
    let e = deregister_io(reg).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));

    // A Waker from another thread.
    let waker = kevent::Waker::new(&q, Token(42)).unwrap();
    assert_eq!(
        errno(&kevent::Waker::new(&q, Token(42)).unwrap_err()),
        libc::EEXIST
    );
    let t = thread::spawn(move || {
        waker.wake().unwrap();
        waker.wake().unwrap();
    });
    t.join().unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!((e.token(), e.count(), e.kind()), (Token(42), 2, Kind::User));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn waker_after_its_kevent_was_removed() {
    require_kevent();
    let q = Queue::new().unwrap();
    let waker = kevent::Waker::new(&q, Token(42)).unwrap();
    q.remove(Key::user(42)).unwrap();
    // As documented: ENOENT, naming the command and the key, and nothing
    // is reported.
    let e = waker.wake().unwrap_err();
    assert_eq!(
        (errno(&e), e.kind(), e.command(), e.key(), e.index()),
        (
            libc::ENOENT,
            io::ErrorKind::NotFound,
            kevent::Command::Trigger,
            Some(Key::user(42)),
            None
        )
    );
    assert!(e.to_string().starts_with("trigger user 42: "), "{e}");
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(20 * MS)).unwrap(), 0);
    // The waker does not add it back: a later user kevent with that id is
    // what it triggers.
    assert!(listed(&q).is_empty());
    q.add(Kevent::user(42).token(Token(7))).unwrap();
    waker.wake().unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(7));
    // The queue dropped: the waker's duplicate keeps it, wakes succeed.
    drop(q);
    waker.wake().unwrap();
}

/// A call that fails as a whole (the descriptor is not a kevent queue)
/// is the call's error, not the first entry's.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn whole_call_errors_are_not_an_entrys() {
    require_kevent();
    let (rd, _wr) = nix_pipe();
    // SAFETY: we own `rd`; the Queue closes it. It is no kevent queue,
    // which is what this test wants the kernel to say.
    let q = unsafe { Queue::from_raw_fd(rd.into_raw_fd()) };
    let (_a, b) = UnixStream::pair().unwrap();
    let e = q.add_fd(&b, PollFlags::IN, Token(1)).unwrap_err();
    assert!(e.is_call_error(), "{e}");
    assert_eq!(
        (e.raw_os_error(), e.key(), e.index()),
        (Some(libc::EINVAL), Some(Key::poll(b.as_raw_fd())), None)
    );
    let m = e.to_string();
    assert!(
        m.contains("the kevent_ctl call failed (no entry processed)")
            && m.contains("not a kevent queue"),
        "{m}"
    );
    let e = q.add_all(&[Kevent::user(1), Kevent::user(2)]).unwrap_err();
    assert!(e.is_call_error());
    assert_eq!((e.key(), e.index()), (None, Some(0)));
    assert!(
        e.to_string()
            .starts_with("add batch: the kevent_ctl call failed"),
        "{e}"
    );
    // An entry's EBADF is the entry's.
    let good = Queue::new().unwrap();
    // SAFETY: -1 is never an open descriptor; nothing is dereferenced.
    let e = good
        .add(unsafe { Kevent::poll_raw(-1, PollFlags::IN) })
        .unwrap_err();
    assert!(!e.is_call_error());
    assert!(
        e.to_string()
            .contains("fd -1 is not an open file descriptor"),
        "{e}"
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn errors_name_the_command_the_key_and_the_entry() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (_a, b) = UnixStream::pair().unwrap();
    let b_n = b.as_raw_fd();
    q.add_fd(&b, PollFlags::IN, Token(1)).unwrap();
    let e = q.add_fd(&b, PollFlags::IN, Token(1)).unwrap_err();
    assert_eq!(
        (errno(&e), e.command(), e.key()),
        (libc::EEXIST, kevent::Command::Add, Some(Key::poll(b_n)))
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "add poll fd {b_n}: the queue already has a kevent with this key: use modify"
        )),
        "{text}"
    );
    // Converted for `?` into io::Result: the errno and kind kept.
    let e2 = q.add_fd(&b, PollFlags::IN, Token(1)).unwrap_err();
    let io_err: io::Error = e.into();
    assert_eq!(
        (io_err.raw_os_error(), io_err.kind()),
        (Some(libc::EEXIST), io::ErrorKind::AlreadyExists)
    );
    // Or the words, with the errno reachable.
    let io_err = e2.into_io_with_message();
    assert_eq!(
        (io_err.kind(), io_err.to_string()),
        (io::ErrorKind::AlreadyExists, text)
    );
    assert_eq!(kevent::Error::os_error_of(&io_err), Some(libc::EEXIST));

    let e = q.remove(Key::timer(9)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("remove timer 9: the queue has no kevent with this key"),
        "{e}"
    );

    // A batch: each failure says its index, key and command.
    let file = std::fs::File::open("/dev/null").unwrap();
    let r = q
        .add_all(&[
            Kevent::user(1),
            // SAFETY: -1 is no file: the kernel answers EBADF.
            unsafe { Kevent::poll_raw(-1, PollFlags::IN) },
            Kevent::poll(file.as_fd(), PollFlags::IN), // EPERM: not pollable
            Kevent::signal(libc::SIGKILL),             // EINVAL
        ])
        .unwrap();
    assert_eq!(r.command(), kevent::Command::Add);
    let errs: Vec<_> = r
        .errors()
        .map(|e| (e.index(), e.key(), errno(&e), e.to_string()))
        .collect();
    let f_n = file.as_raw_fd();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert_eq!(
        errs[0],
        (
            Some(1),
            Some(Key::poll(-1)),
            libc::EBADF,
            "add poll fd -1 (batch entry 1): fd -1 is not an open file descriptor (os error 9)"
                .to_owned()
        )
    );
    assert_eq!(
        (errs[1].0, errs[1].1, errs[1].2),
        (Some(2), Some(Key::poll(f_n)), libc::EPERM)
    );
    assert!(
        errs[1].3.contains(&format!("fd {f_n} cannot be polled")),
        "{errs:?}"
    );
    assert_eq!((errs[2].0, errs[2].2), (Some(3), libc::EINVAL));
    assert!(errs[2].3.contains("cannot be watched"), "{errs:?}");
    let first = r.check().unwrap_err();
    assert_eq!((first.index(), errno(&first)), (Some(1), libc::EBADF));
}

#[cfg(feature = "tokio")]
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn tokio_async_queue_waits_without_blocking() {
    require_kevent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let q = Arc::new(kevent::AsyncQueue::new().unwrap());
        q.add(Kevent::timer_after(1, 20 * MS).token(Token(1)))
            .unwrap();
        q.add(Kevent::user(2).token(Token(2))).unwrap();
        // A task on the same (single) thread triggers the user event: the
        // wait must yield to it.
        let q2 = Arc::clone(&q);
        let trigger = tokio::spawn(async move {
            tokio::time::sleep(5 * MS).await;
            q2.trigger(2)
        });
        let mut ev = Events::with_capacity(4);
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let n = tokio::time::timeout(LONG, q.wait(&mut ev))
                .await
                .expect("the queue never became readable")
                .unwrap();
            assert!(n >= 1);
            seen.extend(ev.iter().map(|e| e.token()));
        }
        seen.sort();
        assert_eq!(seen, [Token(1), Token(2)]);
        trigger.await.unwrap().unwrap();
        // Level-triggered and still ready: reported on every wait.
        let (mut a, b) = UnixStream::pair().unwrap();
        q.add_fd(&b, PollFlags::IN, Token(3)).unwrap();
        a.write_all(b"x").unwrap();
        for _ in 0..3 {
            tokio::time::timeout(LONG, q.wait(&mut ev))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(ev.iter().next().unwrap().token(), Token(3));
        }
    });
}

#[cfg(feature = "mio")]
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn mio_polls_the_queue() {
    require_kevent();
    let mut poll = mio::Poll::new().unwrap();
    let mut q = Queue::new().unwrap();
    poll.registry()
        .register(&mut q, mio::Token(7), mio::Interest::READABLE)
        .unwrap();
    q.add(Kevent::user(1).token(Token(1))).unwrap();
    let mut mio_events = mio::Events::with_capacity(4);
    poll.poll(&mut mio_events, Some(Duration::ZERO)).unwrap();
    assert!(mio_events.is_empty());
    q.trigger(1).unwrap();
    poll.poll(&mut mio_events, Some(LONG)).unwrap();
    let tokens: Vec<_> = mio_events.iter().map(|e| e.token()).collect();
    assert_eq!(tokens, [mio::Token(7)]);
    assert!(mio_events.iter().next().unwrap().is_readable());
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(1));
    poll.registry().deregister(&mut q).unwrap();
    q.trigger(1).unwrap();
    poll.poll(&mut mio_events, Some(20 * MS)).unwrap();
    assert!(mio_events.is_empty(), "deregistered");
}

/// Counts this thread's heap allocations (other test threads' are not
/// counted), for the test that the hot paths allocate nothing.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's layout, passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// How many allocations `f` made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|n| n.get());
    f();
    ALLOCATIONS.with(|n| n.get()) - before
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn hot_paths_do_not_allocate() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let mut ev = Events::with_capacity(64);
    let waker = kevent::Waker::new(&q, Token(99)).unwrap();
    let batch: Vec<Kevent> = (1000..1100).map(Kevent::user).collect();
    let keys: Vec<Key> = batch.iter().map(Kevent::key).collect();
    let mut ring_q = Ring::new(Queue::new().unwrap(), 64).unwrap();
    ring_q.queue().add(Kevent::user(1)).unwrap();
    a.write_all(b"x").unwrap();
    // The counter sees allocations: a Vec allocates.
    assert_eq!(allocations(|| drop(vec![1u8; 10])), 1);
    let n = allocations(|| {
        q.add(Kevent::poll(b.as_fd(), PollFlags::IN).token(Token(1)))
            .unwrap();
        q.modify_fd(&b, PollFlags::IN | PollFlags::OUT, Token(1))
            .unwrap();
        q.add(Kevent::user(7)).unwrap();
        q.trigger(7).unwrap();
        waker.wake().unwrap();
        assert!(q.wait(&mut ev, Some(LONG)).unwrap() >= 1);
        let mut sum = 0;
        for e in &ev {
            sum += e.token().0;
        }
        assert!(sum > 0);
        q.disable(Key::user(7)).unwrap();
        q.enable(Key::user(7)).unwrap();
        q.remove(Key::user(7)).unwrap();
        q.remove_fd(&b).unwrap();
        // A batch that succeeds: the failures' Vec stays empty.
        q.add_all(&batch).unwrap().check().unwrap();
        q.remove_all(&keys).unwrap().check().unwrap();
        ring_q.queue().trigger(1).unwrap();
        assert_eq!(ring_q.wait(Some(LONG)).unwrap(), 1);
        assert_eq!(ring_q.drain().count(), 1);
    });
    assert_eq!(n, 0, "allocations on the hot paths");
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn modify_without_a_token_changes_nothing() {
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(4);
    q.add(Kevent::user(5).token(Token(50))).unwrap();
    // Refused before the kernel sees it: the kevent keeps its token and
    // stays a plain (not oneshot) user event.
    let e = q.modify(Kevent::user(5).oneshot()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = q.modify_all(&[Kevent::user(5).oneshot()]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(50));
    // With the token given, the modify goes through.
    q.modify(Kevent::user(5).token(Token(60))).unwrap();
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().token(), Token(60));
}

/// A pidfd for `pid` (pidfd_open(2)).
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; a returned descriptor is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A pipe: (read end, write end), close-on-exec.
fn nix_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: writes two new descriptors, which we own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: new descriptors nobody else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes one byte: releases a [`fork_child`] that waits on the pipe (it
/// holds the write end too, so closing ours would not do).
fn release(wr: OwnedFd) {
    let mut f = std::fs::File::from(wr);
    f.write_all(b"x").unwrap();
}

/// Forks a child that waits until `release` (a pipe's read end) reads a
/// byte, then exits with `code`. Returns its pid.
fn fork_child(release: Option<RawFd>, code: i32) -> libc::pid_t {
    // SAFETY: the child calls only async-signal-safe functions (read,
    // _exit) before it exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        if let Some(fd) = release {
            let mut b = 0u8;
            // SAFETY: reads one byte into our stack.
            unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Reaps `pid` and returns its wait status.
fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: writes our status.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", io::Error::last_os_error());
    status
}

fn one_event(q: &Queue, timeout: Duration) -> kevent::Event {
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(timeout)).unwrap(), 1);
    ev.iter().next().unwrap()
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn process_exit_reports_the_status() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (rd, wr) = nix_pipe();
    let pid = fork_child(Some(rd.as_raw_fd()), 3);
    drop(rd);
    let pidfd = pidfd_open(pid).unwrap();
    q.add(Kevent::process(pidfd.as_fd()).token(Token(33)))
        .unwrap();
    // The child waits for us: nothing to report yet.
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    // Closing the pidfd does not remove the kevent.
    let id = pidfd.as_raw_fd();
    drop(pidfd);
    release(wr); // the child exits with 3
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.kind(), e.id(), e.token()),
        (Kind::Proc, id as u64, Token(33))
    );
    assert_eq!(e.events(), sys::KEVENT_PROC_EXIT);
    assert!(e.is_eof());
    let status = e.exit_status().expect("a status");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3,
        "status {status:#x}"
    );
    assert_eq!(reap(pid), status);
    // Reported once.
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.remove(Key::process(id)).unwrap();

    // Not a pidfd: EBADF.
    let (a, _b) = UnixStream::pair().unwrap();
    assert_eq!(
        errno(&q.add(Kevent::process(a.as_fd())).unwrap_err()),
        libc::EBADF
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn process_by_pid_and_after_reaping() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (rd, wr) = nix_pipe();
    let pid = fork_child(Some(rd.as_raw_fd()), 0);
    drop(rd);
    q.add(Kevent::process_pid(pid).token(Token(1))).unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    // SAFETY: signals our own child, which we have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.kind(), e.id(), e.token()),
        (Kind::Proc, pid as u64, Token(1))
    );
    let status = e.exit_status().expect("a status");
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "status {status:#x}"
    );
    assert_eq!(reap(pid), status);
    drop(wr);

    // Exited but not reaped when added: reported at once, with the status.
    let pid2 = fork_child(None, 7);
    let pidfd2 = pidfd_open(pid2).unwrap();
    // Wait (without reaping) until the child has exited.
    // SAFETY: writes our siginfo; WNOWAIT leaves the child a zombie.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid2 as u32,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(r, 0);
    q.add(Kevent::process(pidfd2.as_fd()).token(Token(2)))
        .unwrap();
    let e = one_event(&q, Duration::ZERO);
    assert_eq!(e.token(), Token(2));
    assert_eq!(e.exit_status().map(|s| libc::WEXITSTATUS(s)), Some(7));
    assert_eq!(reap(pid2), e.exit_status().unwrap());
    // Reaped before the add: reported at once, without a status.
    let q2 = Queue::new().unwrap();
    q2.add(Kevent::process(pidfd2.as_fd()).token(Token(3)))
        .unwrap();
    let e = one_event(&q2, Duration::ZERO);
    assert!(e.flags().contains(kevent::EventFlags::NODATA), "{e:?}");
    assert_eq!((e.exit_status(), e.data()), (None, 0));
    // The reaped pid by number: ESRCH (pids are not reused this soon);
    // pid 0: EINVAL.
    assert_eq!(
        errno(&q2.add(Kevent::process_pid(pid)).unwrap_err()),
        libc::ESRCH
    );
    assert_eq!(
        errno(&q2.add(Kevent::process_pid(0)).unwrap_err()),
        libc::EINVAL
    );
}

/// Blocks `sig` in this thread until dropped.
struct Blocked(i32);

impl Blocked {
    fn new(sig: i32) -> Self {
        // SAFETY: plain signal-mask calls on our own sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
                0
            );
        }
        Blocked(sig)
    }

    /// Sends the signal to this thread (tgkill): other test threads do
    /// not block it, so a process-directed signal could kill the run.
    fn send(&self) {
        // SAFETY: plain system calls.
        let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), self.0) };
        assert_eq!(r, 0, "tgkill: {}", io::Error::last_os_error());
    }

    fn pending(&self) -> bool {
        // SAFETY: writes our set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            assert_eq!(libc::sigpending(&mut set), 0);
            libc::sigismember(&set, self.0) == 1
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: takes what is pending without waiting, then unblocks.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, self.0);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == self.0 {}
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn blocked_signal_counted_twice() {
    require_kevent();
    let q = Queue::new().unwrap();
    let blocked = Blocked::new(libc::SIGUSR1);
    q.add(Kevent::signal(libc::SIGUSR1).token(Token(10)))
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    blocked.send();
    blocked.send();
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.kind(), e.signal(), e.token()),
        (Kind::Signal, Some(libc::SIGUSR1), Token(10))
    );
    assert_eq!(e.events(), sys::KEVENT_SIGNAL_DELIVERED);
    // Two sends, one pending instance (a standard signal does not queue).
    assert_eq!(e.count(), 2);
    // Without consume, delivery is unchanged: still pending.
    assert!(blocked.pending());
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.remove(Key::signal(libc::SIGUSR1)).unwrap();
    // Signals nobody can catch, and numbers out of range: EINVAL.
    for bad in [libc::SIGKILL, libc::SIGSTOP, 0, 65] {
        assert_eq!(
            errno(&q.add(Kevent::signal(bad)).unwrap_err()),
            libc::EINVAL,
            "signal {bad}"
        );
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn consumed_signal_leaves_nothing_pending() {
    require_kevent();
    let q = Queue::new().unwrap();
    let blocked = Blocked::new(libc::SIGUSR2);
    q.add(Kevent::signal(libc::SIGUSR2).consume()).unwrap();
    blocked.send();
    assert!(blocked.pending());
    // The report happens in this thread, whose pending set holds it.
    let e = one_event(&q, LONG);
    assert_eq!((e.signal(), e.count()), (Some(libc::SIGUSR2), 1));
    assert!(!blocked.pending(), "the report took the signal");
}

/// A directory for inode tests: a tmpfs of its own when mounting works
/// (root in the VM), else a plain directory under /tmp. Unmounted and
/// removed when dropped.
struct TestDir {
    path: std::path::PathBuf,
    mounted: bool,
}

impl TestDir {
    fn new() -> Self {
        let mut tmpl = *b"/tmp/kevent-inode.XXXXXX\0";
        // SAFETY: mkdtemp rewrites the template in place.
        let p = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        assert!(!p.is_null(), "mkdtemp: {}", io::Error::last_os_error());
        let path = std::path::PathBuf::from(std::str::from_utf8(&tmpl[..tmpl.len() - 1]).unwrap());
        let cpath = std::ffi::CString::new(tmpl[..tmpl.len() - 1].to_vec()).unwrap();
        // SAFETY: NUL-terminated strings that outlive the call.
        let mounted = unsafe {
            libc::mount(
                c"kevent".as_ptr(),
                cpath.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            )
        } == 0;
        TestDir { path, mounted }
    }

    fn at(&self, name: &str) -> std::path::PathBuf {
        self.path.join(name)
    }

    /// Unmounts the tmpfs (false if there is none).
    fn unmount(&mut self) -> bool {
        if !self.mounted {
            return false;
        }
        let cpath = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(
            unsafe { libc::umount(cpath.as_ptr()) },
            0,
            "umount: {}",
            io::Error::last_os_error()
        );
        self.mounted = false;
        true
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if self.mounted {
            let cpath = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(cpath.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `fd` moved to the lowest free number at or above `min`.
fn high_fd(fd: OwnedFd, min: RawFd) -> OwnedFd {
    // SAFETY: duplicates a descriptor we own; the new one is ours.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    assert!(n >= min, "F_DUPFD: {}", io::Error::last_os_error());
    // SAFETY: a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(n) }
}

fn open_path(path: &std::path::Path) -> OwnedFd {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
        .unwrap()
        .into()
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn inode_directory_entries_created_and_removed() {
    use kevent::InodeEvents as I;
    require_kevent();
    assert!(kevent::features().unwrap().supports(Kind::Inode));
    let dir = TestDir::new();
    let q = Queue::new().unwrap();
    // A high number, which other test threads' opens do not take once we
    // close it: the number must still name the kevent at the end.
    let dfd = high_fd(std::fs::File::open(&dir.path).unwrap().into(), 900);
    let id = dfd.as_raw_fd();
    q.add(Kevent::inode(dfd.as_fd(), I::CREATE | I::REMOVE).token(Token(70)))
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    std::fs::write(dir.at("a"), b"").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.kind(), e.id(), e.token(), e.flags()),
        (
            Kind::Inode,
            id as u64,
            Token(70),
            kevent::EventFlags::empty()
        )
    );
    assert_eq!((e.inode_events(), e.count()), (Some(I::CREATE), 1));
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    // Four changes before the next wait: one report, both bits, count 4.
    std::fs::write(dir.at("b"), b"").unwrap();
    std::fs::create_dir(dir.at("c")).unwrap();
    std::fs::remove_file(dir.at("a")).unwrap();
    std::fs::remove_dir(dir.at("c")).unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.inode_events(), e.count()),
        (Some(I::CREATE | I::REMOVE), 4)
    );

    // Not asked for: a write to an entry is not reported.
    std::fs::write(dir.at("b"), b"x").unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    // The kevent watches the inode: closing the descriptor keeps it, and
    // the number still names it.
    drop(dfd);
    std::fs::write(dir.at("d"), b"").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.id(), e.inode_events()), (id as u64, Some(I::CREATE)));
    q.remove(Key::inode(id)).unwrap();
    std::fs::write(dir.at("e"), b"").unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
}

/// The number of a closed descriptor stays its inode kevent's id: adding
/// another directory under the reused number fails with EEXIST (the live
/// watch is not dropped), and works once the old kevent is removed.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn inode_reused_number_is_refused_not_replaced() {
    use kevent::InodeEvents as I;
    require_kevent();
    let dir = TestDir::new();
    std::fs::create_dir(dir.at("sub")).unwrap();
    let q = Queue::new().unwrap();
    let first = high_fd(std::fs::File::open(&dir.path).unwrap().into(), 910);
    let n = first.as_raw_fd();
    q.add(Kevent::inode(first.as_fd(), I::CREATE).token(Token(72)))
        .unwrap();
    drop(first);
    // The same number, now naming "sub".
    let sub: OwnedFd = std::fs::File::open(dir.at("sub")).unwrap().into();
    // SAFETY: n was closed above; dup2 makes it a copy of `sub`, owned here.
    assert_eq!(unsafe { libc::dup2(sub.as_raw_fd(), n) }, n);
    let reused = unsafe { OwnedFd::from_raw_fd(n) };
    let err = q
        .add(Kevent::inode(reused.as_fd(), I::CREATE).token(Token(73)))
        .unwrap_err();
    assert_eq!(errno(&err), libc::EEXIST, "{err}");
    assert!(err.to_string().contains("remove it first"), "{err}");
    // The first watch is live: it reports its directory, not "sub".
    std::fs::write(dir.at("sub/x"), b"").unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    std::fs::write(dir.at("y"), b"").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.token(), e.inode_events()), (Token(72), Some(I::CREATE)));
    q.remove(Key::inode(n)).unwrap();
    q.add(Kevent::inode(reused.as_fd(), I::CREATE).token(Token(73)))
        .unwrap();
    std::fs::write(dir.at("sub/z"), b"").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.token(), e.inode_events()), (Token(73), Some(I::CREATE)));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn inode_file_modify_then_delete_self_ends_it() {
    use kevent::InodeEvents as I;
    require_kevent();
    let dir = TestDir::new();
    let q = Queue::new().unwrap();
    let file = dir.at("f");
    std::fs::write(&file, b"").unwrap();
    // O_PATH is enough.
    let pfd = open_path(&file);
    let id = pfd.as_raw_fd();
    q.add(Kevent::inode(pfd.as_fd(), I::MODIFY).token(Token(71)))
        .unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all(b"x").unwrap();
    f.write_all(b"y").unwrap();
    f.set_len(0).unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.inode_events(), e.count()), (Some(I::MODIFY), 3));
    assert!(!e.is_eof());
    drop(f);

    // Deletion (last link gone, last open file closed: our O_PATH one
    // too) is reported though not asked for, with EOF, and ends the
    // kevent.
    drop(pfd);
    std::fs::remove_file(&file).unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.id(), e.token()), (id as u64, Token(71)));
    assert!(
        e.inode_events().unwrap().contains(I::DELETE_SELF) && e.is_eof(),
        "{e:?}"
    );
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    assert_eq!(errno(&q.remove(Key::inode(id)).unwrap_err()), libc::ENOENT);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn inode_unmount_revokes_and_bad_requests() {
    use kevent::InodeEvents as I;
    require_kevent();
    let mut dir = TestDir::new();
    let q = Queue::new().unwrap();
    let dfd: OwnedFd = std::fs::File::open(&dir.path).unwrap().into();
    // Changes are edges already; FD_CLOSE is for poll kevents; no events.
    for bad in [
        Kevent::inode(dfd.as_fd(), I::CREATE).edge(),
        Kevent::inode(dfd.as_fd(), I::CREATE).fd_close(),
        Kevent::inode(dfd.as_fd(), I::empty()),
        Kevent::inode(dfd.as_fd(), I::from_bits_retain(0x200)),
    ] {
        assert_eq!(errno(&q.add(bad).unwrap_err()), libc::EINVAL, "{bad:?}");
    }
    q.add(Kevent::inode(dfd.as_fd(), I::CREATE)).unwrap();
    assert_eq!(
        errno(&q.add(Kevent::inode(dfd.as_fd(), I::CREATE)).unwrap_err()),
        libc::EEXIST
    );
    let id = dfd.as_raw_fd();
    drop(dfd);
    if !dir.unmount() {
        eprintln!("no tmpfs (cannot mount): unmount not tested");
        return;
    }
    let e = one_event(&q, LONG);
    assert_eq!(e.inode_events(), Some(I::REVOKED), "{e:?}");
    assert!(e.is_eof());
    assert_eq!(errno(&q.remove(Key::inode(id)).unwrap_err()), libc::ENOENT);
}

/// Waits (level-triggered: every wait reports the kevent again) until
/// `done` accepts the socket kevent `token`'s event, or fails after LONG.
/// Amounts may grow between reports (a connection's last ACK, a segment
/// still in the loopback softirq), so only the final one is checked.
fn socket_event_until(
    q: &Queue,
    token: Token,
    done: impl Fn(&kevent::Event) -> bool,
) -> kevent::Event {
    let deadline = Instant::now() + LONG;
    let mut ev = Events::with_capacity(8);
    let mut last = None;
    while Instant::now() < deadline {
        q.wait(&mut ev, Some(100 * MS)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.token() == token) {
            if done(&e) {
                return e;
            }
            last = Some(e);
        }
    }
    panic!("no satisfying event for {token:?} within {LONG:?}; last: {last:?}");
}

fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    (client, server)
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn socket_recv_and_send_report_the_amounts() {
    use kevent::{EventFlags, SocketEvents as S};
    require_kevent();
    let (mut client, mut server) = tcp_pair();
    let q = Queue::new().unwrap();
    q.add(Kevent::socket(server.as_fd(), S::RECV).token(Token(80)))
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    client.write_all(b"hello").unwrap();
    let e = socket_event_until(&q, Token(80), |e| e.recv_amount() == Some(5));
    assert_eq!(
        (e.kind(), e.id(), e.key(), e.socket_events(), e.flags()),
        (
            Kind::Socket,
            server.as_raw_fd() as u64,
            Key::socket(server.as_raw_fd()),
            Some(S::RECV),
            EventFlags::empty()
        )
    );
    // SEND did not fire (nor was it asked for): no send space.
    assert_eq!(e.send_space(), None);
    assert!(e.error().is_none());
    // Level-triggered: reported again until read.
    assert_eq!(one_event(&q, Duration::ZERO).recv_amount(), Some(5));
    let mut buf = [0u8; 16];
    assert_eq!(server.read(&mut buf).unwrap(), 5);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    // Send space on the other end, as a oneshot: reported once.
    q.add(
        Kevent::socket(client.as_fd(), S::SEND)
            .oneshot()
            .token(Token(81)),
    )
    .unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.token(), e.socket_events()), (Token(81), Some(S::SEND)));
    assert!(e.send_space().is_some_and(|n| n > 0), "{e:?}");
    assert_eq!(e.recv_amount(), None);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    assert_eq!(
        errno(&q.remove(Key::socket(client.as_raw_fd())).unwrap_err()),
        libc::ENOENT
    );

    // The peer sends no more: RECV with EOF and nothing left to read.
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let e = socket_event_until(&q, Token(80), |e| e.is_eof());
    assert_eq!(
        (e.socket_events(), e.recv_amount()),
        (Some(S::RECV), Some(0))
    );
    q.remove(Key::socket(server.as_raw_fd())).unwrap();
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn socket_accept_counts_waiting_connections() {
    use kevent::SocketEvents as S;
    require_kevent();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let q = Queue::new().unwrap();
    q.add(Kevent::socket(l.as_fd(), S::ACCEPT).token(Token(82)))
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    let addr = l.local_addr().unwrap();
    let _c1 = std::net::TcpStream::connect(addr).unwrap();
    let _c2 = std::net::TcpStream::connect(addr).unwrap();
    let e = socket_event_until(&q, Token(82), |e| e.recv_amount() == Some(2));
    assert_eq!(
        (e.socket_events(), e.send_space(), e.is_eof()),
        (Some(S::ACCEPT), None, false)
    );
    let _s1 = l.accept().unwrap();
    assert_eq!(one_event(&q, Duration::ZERO).recv_amount(), Some(1));
    let _s2 = l.accept().unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
}

/// Unix stream, unix datagram and UDP sockets: the amounts a report
/// carries, read without the protocol's `->poll()` (what `unix_poll()`,
/// `unix_dgram_poll()` and `udp_poll()` would answer, the same way).
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn socket_kevents_on_unix_and_udp_sockets() {
    use kevent::{EventFlags, SocketEvents as S};
    use std::os::unix::net::{UnixDatagram, UnixStream};
    require_kevent();
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);

    // Unix stream: every byte queued counts, over several writes.
    let (mut a, mut b) = UnixStream::pair().unwrap();
    q.add(Kevent::socket(b.as_fd(), S::RECV | S::SEND).token(Token(83)))
        .unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(e.socket_events(), Some(S::SEND), "{e:?}");
    assert!(e.send_space().is_some_and(|n| n > 0), "{e:?}");
    a.write_all(b"abc").unwrap();
    a.write_all(b"defg").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.socket_events(), e.recv_amount(), e.flags()),
        (Some(S::RECV | S::SEND), Some(7), EventFlags::empty())
    );
    let mut buf = [0u8; 16];
    assert_eq!(b.read(&mut buf).unwrap(), 7);
    // The peer closes: RECV with EOF and nothing to read.
    drop(a);
    let e = socket_event_until(&q, Token(83), |e| e.is_eof());
    assert!(
        e.socket_events().is_some_and(|s| s.contains(S::RECV)),
        "{e:?}"
    );
    assert_eq!(e.recv_amount(), Some(0));
    q.remove(Key::socket(b.as_raw_fd())).unwrap();

    // Unix datagram: the size of the next datagram, not the sum.
    let (da, db) = UnixDatagram::pair().unwrap();
    q.add(Kevent::socket(db.as_fd(), S::RECV).token(Token(84)))
        .unwrap();
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    da.send(b"12345").unwrap();
    da.send(b"123").unwrap();
    assert_eq!(one_event(&q, LONG).recv_amount(), Some(5));
    assert_eq!(db.recv(&mut buf).unwrap(), 5);
    assert_eq!(one_event(&q, Duration::ZERO).recv_amount(), Some(3));
    assert_eq!(db.recv(&mut buf).unwrap(), 3);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    q.remove(Key::socket(db.as_raw_fd())).unwrap();

    // UDP: a zero-length datagram is readable, with amount 0.
    let ua = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ub = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    q.add(Kevent::socket(ub.as_fd(), S::RECV | S::SEND).token(Token(85)))
        .unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(e.socket_events(), Some(S::SEND), "{e:?}");
    assert!(e.send_space().is_some_and(|n| n > 0), "{e:?}");
    ua.send_to(b"", ub.local_addr().unwrap()).unwrap();
    let e = socket_event_until(&q, Token(85), |e| {
        e.socket_events().is_some_and(|s| s.contains(S::RECV))
    });
    assert_eq!(e.recv_amount(), Some(0), "{e:?}");
    assert_eq!(ub.recv(&mut buf).unwrap(), 0);
    ua.send_to(b"xy", ub.local_addr().unwrap()).unwrap();
    let e = socket_event_until(&q, Token(85), |e| e.recv_amount() == Some(2));
    assert_eq!(e.socket_events(), Some(S::RECV | S::SEND));
    assert_eq!(ub.recv(&mut buf).unwrap(), 2);
    assert_eq!(one_event(&q, Duration::ZERO).socket_events(), Some(S::SEND));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn socket_kevent_refuses_a_pipe() {
    use kevent::SocketEvents as S;
    require_kevent();
    let (rd, _wr) = nix_pipe();
    let q = Queue::new().unwrap();
    let err = q.add(Kevent::socket(rd.as_fd(), S::RECV)).unwrap_err();
    assert_eq!(errno(&err), libc::ENOTSOCK);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "add socket fd {0}: fd {0} is not a socket",
            rd.as_raw_fd()
        )),
        "{text}"
    );
    assert_eq!(
        errno(&q.remove(Key::socket(rd.as_raw_fd())).unwrap_err()),
        libc::ENOENT
    );
}

/// Edge-triggered socket kevents report each arrival once, with the
/// whole amount unread; a socket's pending error comes as `error()`
/// (the report's data), here a UDP port unreachable.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn socket_edge_triggered_and_pending_error() {
    use kevent::SocketEvents as S;
    require_kevent();
    let (mut client, server) = tcp_pair();
    let q = Queue::new().unwrap();
    q.add(
        Kevent::socket(server.as_fd(), S::RECV)
            .edge()
            .token(Token(83)),
    )
    .unwrap();
    let mut ev = Events::with_capacity(4);
    client.write_all(b"hello").unwrap();
    let e = one_event(&q, LONG);
    assert_eq!((e.token(), e.recv_amount()), (Token(83), Some(5)));
    // Nothing new arrived: not reported again, though unread.
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);
    client.write_all(b"abc").unwrap();
    let e = socket_event_until(&q, Token(83), |e| e.recv_amount() == Some(8));
    assert_eq!(e.socket_events(), Some(S::RECV));

    // A connected UDP socket whose datagram found no port: the ICMP
    // error is the socket's pending error, reported with RECV.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(dead_addr).unwrap();
    q.add(Kevent::socket(udp.as_fd(), S::RECV).token(Token(84)))
        .unwrap();
    udp.send(b"x").unwrap();
    let e = socket_event_until(&q, Token(84), |e| e.error().is_some());
    assert_eq!(
        e.error().and_then(|err| err.raw_os_error()),
        Some(libc::ECONNREFUSED),
        "{e:?}"
    );
    assert_eq!(e.recv_amount(), None, "{e:?}");
    q.remove(Key::socket(udp.as_raw_fd())).unwrap();
    q.remove(Key::socket(server.as_raw_fd())).unwrap();
}

/// Renames inside a watched directory, and a watched file's attribute
/// change and own move.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn inode_renames_and_attributes() {
    use kevent::InodeEvents as I;
    use std::os::unix::fs::PermissionsExt;
    require_kevent();
    let dir = TestDir::new();
    let q = Queue::new().unwrap();
    std::fs::write(dir.at("a"), b"").unwrap();
    let dfd = open_path(&dir.path);
    q.add(Kevent::inode(dfd.as_fd(), I::MOVED_FROM | I::MOVED_TO).token(Token(72)))
        .unwrap();
    let ffd = open_path(&dir.at("a"));
    q.add(Kevent::inode(ffd.as_fd(), I::ATTRIB | I::MOVE_SELF).token(Token(73)))
        .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    std::fs::set_permissions(dir.at("a"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = one_event(&q, LONG);
    assert_eq!(
        (e.token(), e.inode_events(), e.count()),
        (Token(73), Some(I::ATTRIB), 1)
    );
    assert_eq!(q.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0);

    // One rename inside the directory: the directory sees both halves,
    // the file its own move.
    std::fs::rename(dir.at("a"), dir.at("b")).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + LONG;
    while seen.len() < 2 && Instant::now() < deadline {
        q.wait(&mut ev, Some(100 * MS)).unwrap();
        seen.extend(ev.iter().map(|e| (e.token(), e.inode_events(), e.count())));
    }
    seen.sort_by_key(|s| s.0 .0);
    assert_eq!(
        seen,
        [
            (Token(72), Some(I::MOVED_FROM | I::MOVED_TO), 2),
            (Token(73), Some(I::MOVE_SELF), 1)
        ]
    );
    q.remove(Key::inode(dfd.as_raw_fd())).unwrap();
    q.remove(Key::inode(ffd.as_raw_fd())).unwrap();
}

// ---- KEVENT_NAIO: network I/O requests with owned buffers ----

use kevent::{
    Completion, EventFlags, IoBuf, Naio, NaioOp, NextStep, RecvFlags, RequestId, SendFlags, Sent,
};

/// These tests need a kernel whose probe lists `KEVENT_NAIO`.
fn require_naio() {
    require_kevent();
    let f = kevent::features().unwrap();
    assert!(
        f.supports(Kind::Naio),
        "this kernel's probe does not list KEVENT_NAIO (type 5): boot the naio kernel"
    );
}

/// Waits until `id` has completed (recorded by `Naio::wait`) and takes it;
/// fails if nothing completes it within LONG.
fn completion<B: IoBuf>(naio: &Naio<B>, id: RequestId) -> Completion<B> {
    let deadline = Instant::now() + LONG;
    let mut ev = Events::with_capacity(16);
    loop {
        if let Some(done) = naio.take_id(id) {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "request {id} did not complete within {LONG:?} ({} in flight)",
            naio.in_flight()
        );
        naio.wait(&mut ev, Some(100 * MS)).unwrap();
    }
}

/// Whether `id` completes on a wait that does not block (the kernel has
/// nothing to wait for): how a test tells "still in flight".
fn completes_now<B: IoBuf>(naio: &Naio<B>, id: RequestId) -> Option<Completion<B>> {
    let mut ev = Events::with_capacity(16);
    naio.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    naio.take_id(id)
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_recv_then_send_round_trip() {
    require_naio();
    let (mut client, server) = tcp_pair();
    let naio: Naio = Naio::new().unwrap();
    // Nothing to receive yet: in flight, completed by a later wait.
    let id = naio
        .recv(
            &server,
            Vec::with_capacity(64),
            RecvFlags::empty(),
            Token(7),
        )
        .unwrap();
    assert_eq!(naio.in_flight(), 1);
    assert!(completes_now(&naio, id).is_none(), "completed with no data");
    client.write_all(b"hello").unwrap();
    let mut ev = Events::with_capacity(8);
    let done = loop {
        assert!(naio.wait(&mut ev, Some(LONG)).unwrap() > 0, "no completion");
        // The completion is an event of the queue too: token, id, kind.
        if let Some(e) = ev.iter().find(|e| e.kind() == Kind::Naio) {
            assert_eq!((e.token(), e.id()), (Token(7), id.raw()));
            assert_eq!(e.naio_op(), Some(NaioOp::Recv));
            assert_eq!(e.naio_result().unwrap().unwrap(), 5);
            break naio.take(&e).expect("recorded by wait");
        }
    };
    assert!(naio.take_id(id).is_none(), "taken once");
    assert_eq!(
        (done.id(), done.token(), done.op()),
        (id, Token(7), NaioOp::Recv)
    );
    assert!(!done.is_eof());
    let (n, buf) = done.into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
    assert!(buf.capacity() >= 64);
    assert_eq!(naio.in_flight(), 0);
    // Send the same buffer back: it completes at the add (room to send),
    // reported by the next wait.
    let id = naio
        .send(&server, buf, SendFlags::NOSIGNAL, Token(8))
        .unwrap();
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
    let mut back = [0; 5];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    // A request's id is gone with its completion.
    assert_eq!(errno(&naio.cancel(id).unwrap_err()), libc::ENOENT);
    assert_eq!(naio.close(), 0);
}

/// A zero-copy send over TCP completes once, with every byte, after the
/// stack released the pages: the buffer comes back whole, the peer gets
/// the bytes in order, and a send behind it completes after it. On a unix
/// socket the flag is refused before anything is sent.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_zerocopy_send_over_tcp() {
    require_naio();
    let (client, server) = tcp_pair();
    let naio: Naio = Naio::new().unwrap();
    let big: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let reader = read_n_in_thread(server, big.len() + 5);
    let first = naio
        .send(&client, big.clone(), SendFlags::ZEROCOPY, Token(1))
        .unwrap();
    let second = naio
        .send(&client, b"after".to_vec(), SendFlags::empty(), Token(2))
        .unwrap();
    let (n, buf) = completion(&naio, first).into_parts();
    assert_eq!(n.unwrap(), big.len());
    assert!(buf == big, "the buffer comes back as it was");
    let (n, _) = completion(&naio, second).into_parts();
    assert_eq!(n.unwrap(), 5);
    let (_, got) = reader.join().unwrap();
    assert!(got[..big.len()] == big[..], "the zero-copy send's bytes");
    assert_eq!(&got[big.len()..], b"after");

    let (unix, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let e = naio
        .send(&unix, vec![1u8; 8], SendFlags::ZEROCOPY, Token(3))
        .unwrap_err();
    assert_eq!(
        e.error.raw_os_error(),
        Some(libc::EOPNOTSUPP),
        "{}",
        e.error
    );
    assert_eq!(e.buf, vec![1u8; 8], "the buffer comes back");
    assert_eq!(naio.in_flight(), 0);
    assert_eq!(naio.close(), 0);
}

/// Completions drained from a ring on the queue (`Naio::drain`) are
/// recorded as `Naio::wait` records them; other events pass through; a
/// drain dropped early leaves the rest for the next; a ring of another
/// queue is refused.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_completions_drained_from_a_ring() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    naio.queue().add(Kevent::user(99)).unwrap();
    let mut ring = Ring::new(naio.queue(), 16).unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let (mut c, d) = UnixStream::pair().unwrap();
    let first = naio
        .recv(&b, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap();
    let second = naio
        .recv(&d, Vec::with_capacity(8), RecvFlags::empty(), Token(2))
        .unwrap();
    a.write_all(b"ring").unwrap();
    c.write_all(b"drain").unwrap();
    naio.queue().trigger(99).unwrap();
    // Three events: two completions and the user kevent, in some order.
    let deadline = Instant::now() + LONG;
    while ring.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "{} of 3 events in the ring",
            ring.len()
        );
        ring.wait(Some(100 * MS)).unwrap();
    }
    let mut kinds = Vec::new();
    // Read one event, drop the drain: the others stay in the ring.
    {
        let mut drain = naio.drain(&mut ring).unwrap();
        assert_eq!(drain.len(), 3);
        kinds.push(drain.next().unwrap().kind());
    }
    assert_eq!(ring.len(), 2, "a dropped drain keeps what it did not read");
    kinds.extend(naio.drain(&mut ring).unwrap().map(|e| e.kind()));
    kinds.sort_by_key(|k| *k != Kind::User);
    assert_eq!(kinds, [Kind::User, Kind::Naio, Kind::Naio]);
    assert_eq!(naio.in_flight(), 0, "both completions recorded");
    let (n, buf) = naio.take_id(first).expect("recorded by drain").into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (4, &b"ring"[..]));
    let (n, buf) = naio
        .take_id(second)
        .expect("recorded by drain")
        .into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"drain"[..]));
    // A ring on another queue holds no completion of ours.
    let other = Queue::new().unwrap();
    let mut foreign = Ring::new(&other, 16).unwrap();
    let e = naio.drain(&mut foreign).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("naio.queue()"), "{e}");
    drop(ring);
    assert_eq!(naio.close(), 0);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_data_already_there_completes_at_once() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(b"ready").unwrap();
    let naio: Naio<Box<[u8]>> = Naio::new().unwrap();
    let id = naio
        .recv(
            &b,
            vec![0; 16].into_boxed_slice(),
            RecvFlags::empty(),
            Token(1),
        )
        .unwrap();
    // The add ran the receive: its completion needs no waiting.
    let done = completes_now(&naio, id).expect("not completed at the add");
    let (n, buf) = done.into_parts();
    let n = n.unwrap();
    assert_eq!((n, buf.len()), (5, 16), "a boxed slice keeps its length");
    assert_eq!(&buf[..n], b"ready");
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_requests_of_a_socket_complete_in_order() {
    require_naio();
    let (mut client, server) = tcp_pair();
    let naio: Naio = Naio::new().unwrap();
    let ids: Vec<RequestId> = (0..3)
        .map(|i| {
            naio.recv(&server, Vec::with_capacity(4), RecvFlags::WAITALL, Token(i))
                .unwrap()
        })
        .collect();
    client.write_all(b"abcdefghijkl").unwrap();
    // Each gets its own 4 bytes, in submission order, whatever wait
    // reports which.
    for (i, id) in ids.iter().enumerate() {
        let done = completion(&naio, *id);
        assert_eq!(done.token(), Token(i as u64));
        let (n, buf) = done.into_parts();
        assert_eq!(n.unwrap(), 4);
        assert_eq!(buf, b"abcdefghijkl"[4 * i..4 * i + 4], "request {i}");
    }
    // Sends in order too: a big one then a small one, on a socket whose
    // peer reads them in a thread.
    let big: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    let expected: Vec<u8> = big.iter().copied().chain(*b"tail").collect();
    let reader = thread::spawn(move || {
        let mut got = vec![0; (1 << 20) + 4];
        client.read_exact(&mut got).unwrap();
        got
    });
    let first = naio
        .send(&server, big, SendFlags::NOSIGNAL, Token(10))
        .unwrap();
    let second = naio
        .send(&server, b"tail".to_vec(), SendFlags::NOSIGNAL, Token(11))
        .unwrap();
    // A stream send completes when all of it is queued.
    let (n, _) = completion(&naio, first).into_parts();
    assert_eq!(n.unwrap(), 1 << 20);
    let (n, _) = completion(&naio, second).into_parts();
    assert_eq!(n.unwrap(), 4);
    assert!(
        reader.join().unwrap() == expected,
        "the peer got other bytes"
    );
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_waitall_and_end_of_file() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio = Naio::new().unwrap();
    let id = naio
        .recv(&b, Vec::with_capacity(8), RecvFlags::WAITALL, Token(1))
        .unwrap();
    a.write_all(b"1234").unwrap();
    // Half of it: still in flight with WAITALL (a wait that runs it).
    let mut ev = Events::with_capacity(8);
    naio.wait(&mut ev, Some(20 * MS)).unwrap();
    assert!(
        naio.take_id(id).is_none(),
        "WAITALL completed with 4 of 8 bytes"
    );
    a.write_all(b"5678").unwrap();
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (8, &b"12345678"[..]));
    // End of file: a receive of 0 bytes with the EOF flag.
    let id = naio.recv(&b, buf, RecvFlags::empty(), Token(2)).unwrap();
    drop(a);
    let done = completion(&naio, id);
    assert!(done.is_eof());
    let (n, buf) = done.into_parts();
    assert_eq!((n.unwrap(), buf.len()), (0, 0));
}

/// The bytes waiting to be read on `fd` (`FIONREAD`).
fn unread(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) },
        0
    );
    n as usize
}

/// A WAITALL receive of 8 bytes gets 3 and then end of file: it must
/// complete with the 3 ("fewer at end of file"). `taken_first`: a wait
/// runs the receive (the 3 bytes leave the socket) before the peer
/// closes; else the bytes and the end of file arrive together, before
/// any wait.
fn waitall_gets_fewer_at_eof(
    (mut peer, ours): (impl Write + 'static, impl AsFd + AsRawFd),
    taken_first: bool,
) {
    require_naio();
    let naio: Naio<Box<[u8]>> = Naio::new().unwrap();
    let id = naio
        .recv(
            &ours,
            vec![0; 8].into_boxed_slice(),
            RecvFlags::WAITALL,
            Token(3),
        )
        .unwrap();
    peer.write_all(b"xyz").unwrap();
    if taken_first {
        let deadline = Instant::now() + LONG;
        let mut ev = Events::with_capacity(8);
        while unread(&ours) > 0 {
            assert!(
                Instant::now() < deadline,
                "the receive never took the 3 bytes"
            );
            naio.wait(&mut ev, Some(10 * MS)).unwrap();
            assert!(
                naio.take_id(id).is_none(),
                "WAITALL completed with 3 of 8 bytes"
            );
        }
    }
    drop(peer);
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!((n.unwrap(), &buf[..3]), (3, &b"xyz"[..]));
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_waitall_partial_then_eof_unix() {
    waitall_gets_fewer_at_eof(UnixStream::pair().unwrap(), true);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_waitall_data_and_eof_together_unix() {
    waitall_gets_fewer_at_eof(UnixStream::pair().unwrap(), false);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_waitall_partial_then_eof_tcp() {
    waitall_gets_fewer_at_eof(tcp_pair(), true);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_waitall_data_and_eof_together_tcp() {
    waitall_gets_fewer_at_eof(tcp_pair(), false);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_cancel_and_close_cancel() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio = Naio::new().unwrap();
    let id = naio
        .recv(&b, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap();
    naio.cancel(id).unwrap();
    let done = completion(&naio, id);
    let (r, buf) = done.into_parts();
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    assert_eq!((buf.len(), buf.capacity() >= 8), (0, true));
    let e = naio.cancel(id).unwrap_err();
    assert_eq!(errno(&e), libc::ENOENT);
    assert!(
        e.to_string()
            .contains("no request with this id is in flight"),
        "{e}"
    );
    // Completed at the add, not yet reported: EALREADY, and the data
    // comes with the completion.
    a.write_all(b"ab").unwrap();
    let id = naio.recv(&b, buf, RecvFlags::empty(), Token(2)).unwrap();
    assert_eq!(errno(&naio.cancel(id).unwrap_err()), libc::EALREADY);
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (2, &b"ab"[..]));
    // Closing the socket's descriptor cancels its requests.
    let id = naio.recv(&b, buf, RecvFlags::empty(), Token(3)).unwrap();
    let id2 = naio
        .recv(&b, Vec::with_capacity(1), RecvFlags::empty(), Token(4))
        .unwrap();
    drop(b);
    for id in [id, id2] {
        let (r, _) = completion(&naio, id).into_parts();
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    }
    assert_eq!(naio.in_flight(), 0);
    drop(a);
}

/// A receive that stays (`Naio::recv_stay`): each run's completion says
/// it stays and hands the buffer over; `rearm` with that buffer starts
/// the next run (bytes that came between runs are found), refuses
/// another buffer and a request not between runs; end of file leaves it
/// in place; `cancel` ends it in flight (a last completion with the
/// buffer) or between runs (no completion; the id is free); so does the
/// close of its socket's descriptor; `close` leaks nothing.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_recv_stay_runs_rearm_and_ends() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio = Naio::new().unwrap();
    let id = naio
        .recv_stay(&b, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap();
    assert_eq!(naio.in_flight(), 1);
    assert!(completes_now(&naio, id).is_none(), "completed with no data");
    a.write_all(b"hello").unwrap();
    let done = completion(&naio, id);
    assert!(done.stays());
    assert_eq!(done.next_step(), NextStep::Rearm);
    assert_eq!(done.data(), b"hello");
    assert_eq!(naio.in_flight(), 0);
    let (n, mut buf) = done.into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
    // Only rearm() enables it: the queue's enables of a request would
    // start a run into the buffer we hold now.
    let key = Key::from(id);
    let e = naio.queue().enable(key).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    let e = naio.queue().enable_all(&[key]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    let mut changes = Changes::new();
    changes.enable(key);
    let mut ev = Events::with_capacity(8);
    let e = naio
        .queue()
        .wait_with_changes(&mut changes, &mut ev, &Wait::new(Some(Duration::ZERO)))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    // Between runs: another buffer is refused and comes back; so is a
    // second rearm while the run is in flight.
    a.write_all(b"xy").unwrap();
    let e = naio.rearm(id, Vec::with_capacity(8)).unwrap_err();
    assert_eq!(e.error.kind(), io::ErrorKind::InvalidInput);
    buf.clear();
    naio.rearm(id, buf).unwrap();
    assert_eq!(naio.in_flight(), 1);
    let e = naio.rearm(id, Vec::with_capacity(8)).unwrap_err();
    assert_eq!(e.error.raw_os_error(), Some(libc::EBUSY), "{}", e.error);
    assert!(
        e.error
            .to_string()
            .contains("a run of this receive is in flight"),
        "{}",
        e.error
    );
    let done = completion(&naio, id);
    assert!(done.stays());
    let (n, mut buf) = done.into_parts();
    assert_eq!(
        (n.unwrap(), &buf[..]),
        (2, &b"xy"[..]),
        "bytes that came between runs"
    );
    // Cancelled with a run in flight: a last completion, the buffer back.
    buf.clear();
    naio.rearm(id, buf).unwrap();
    naio.cancel(id).unwrap();
    let done = completion(&naio, id);
    assert!(!done.stays());
    assert_eq!(done.next_step(), NextStep::Done);
    let (r, buf) = done.into_parts();
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    let e = naio.rearm(id, buf).unwrap_err();
    assert_eq!(e.error.raw_os_error(), Some(libc::ENOENT), "{}", e.error);
    let m = e.error.to_string();
    assert!(
        m.contains("it has ended") && m.contains("drop the buffer"),
        "{m}"
    );
    let buf = e.buf;
    // Cancelled between runs: no completion to take; the id is free.
    let id = naio
        .recv_stay(&b, buf, RecvFlags::empty(), Token(2))
        .unwrap();
    a.write_all(b"z").unwrap();
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!(n.unwrap(), 1);
    naio.cancel(id).unwrap();
    naio.cancel(id).unwrap();
    // Before its last event is recorded: the kernel refuses the run, and
    // the buffer comes back.
    let e = naio.rearm(id, buf).unwrap_err();
    assert!(
        matches!(e.error.raw_os_error(), Some(libc::EBUSY | libc::ENOENT)),
        "{}",
        e.error
    );
    let buf = e.buf;
    assert!(completes_now(&naio, id).is_none(), "no completion to take");
    let e = naio.rearm(id, buf).unwrap_err();
    assert_eq!(e.error.raw_os_error(), Some(libc::ENOENT), "{}", e.error);
    assert_eq!(errno(&naio.cancel(id).unwrap_err()), libc::ENOENT);
    // End of file leaves it in place; closing the socket's descriptor
    // between runs ends it (its last event frees the id).
    let id = naio
        .recv_stay(&b, e.buf, RecvFlags::empty(), Token(3))
        .unwrap();
    drop(a);
    let done = completion(&naio, id);
    assert!(done.is_eof() && done.stays(), "{done:?}");
    assert_eq!(
        done.next_step(),
        NextStep::Cancel,
        "end of file: not to rearm"
    );
    let (n, buf) = done.into_parts();
    assert_eq!(n.unwrap(), 0);
    drop(b);
    // Its last event: no RECV_STAYS flag (KEVENT_EV_MORE), nothing to
    // take; then the id is free.
    let deadline = Instant::now() + LONG;
    loop {
        let mut ev = Events::with_capacity(8);
        naio.wait(&mut ev, Some(100 * MS)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.id() == id.raw()) {
            assert!(!e.flags().contains(EventFlags::RECV_STAYS), "{e:?}");
            assert!(naio.take(&e).is_none());
            break;
        }
        assert!(Instant::now() < deadline, "no last event after the close");
    }
    let e = naio.rearm(id, buf).unwrap_err();
    assert_eq!(e.error.raw_os_error(), Some(libc::ENOENT), "{}", e.error);
    // One between runs left at close: nothing is leaked.
    let (mut a, b) = UnixStream::pair().unwrap();
    let id = naio
        .recv_stay(&b, Vec::with_capacity(4), RecvFlags::empty(), Token(4))
        .unwrap();
    a.write_all(b"q").unwrap();
    assert!(completion(&naio, id).stays());
    assert_eq!(naio.close(), 0);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_errors_map_to_io_errors() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    // Not a socket: refused at the add, the buffer comes back.
    let (rd, _wr) = nix_pipe();
    let e = naio
        .recv(&rd, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap_err();
    assert_eq!(errno(&e.error), libc::ENOTSOCK);
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(e.buf.capacity(), 8);
    assert_eq!(naio.in_flight(), 0);
    // A send to a closed peer: EPIPE (never SIGPIPE), or
    // ECONNRESET if the reset came first; as send(2) reports them.
    let (client, server) = tcp_pair();
    drop(client);
    let mut last = None;
    for _ in 0..100 {
        let id = naio
            .send(&server, vec![7; 4096], SendFlags::NOSIGNAL, Token(2))
            .unwrap();
        match completion(&naio, id).into_parts() {
            (Ok(_), _) => continue, // queued before the reset arrived
            (Err(e), _) => {
                last = Some(e);
                break;
            }
        }
    }
    let e = last.expect("sends to a closed peer kept succeeding");
    assert!(
        matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)),
        "{e}"
    );
    // A datagram socket: one datagram per request, truncated to the room.
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(b"0123456789", rx.local_addr().unwrap()).unwrap();
    tx.send_to(b"xy", rx.local_addr().unwrap()).unwrap();
    let first = naio
        .recv(&rx, Vec::with_capacity(4), RecvFlags::empty(), Token(3))
        .unwrap();
    let second = naio
        .recv(&rx, Vec::with_capacity(64), RecvFlags::empty(), Token(4))
        .unwrap();
    let (n, buf) = completion(&naio, first).into_parts();
    let n = n.unwrap();
    assert_eq!(&buf[..n], &b"0123456789"[..n]);
    assert_eq!(n, buf.capacity().min(10));
    let (n, buf) = completion(&naio, second).into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (2, &b"xy"[..]));
}

/// A buffer that counts its drops.
struct Counted(Vec<u8>, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

/// What an `AsyncNaio<Counted>` future whose task stopped hands back in
/// place of a buffer the kernel may still use: an empty one, counted
/// apart.
impl Default for Counted {
    fn default() -> Self {
        Counted(Vec::new(), Arc::new(AtomicUsize::new(0)))
    }
}

// SAFETY: the Vec's heap bytes, as for Vec<u8>.
unsafe impl IoBuf for Counted {
    fn stable_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.len()
    }
    fn bytes_total(&self) -> usize {
        self.0.capacity()
    }
}

// SAFETY: as for Vec<u8>.
unsafe impl kevent::IoBufMut for Counted {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: as the caller vouches.
        unsafe { self.0.set_len(n) }
    }
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_close_frees_buffers_only_when_the_kernel_is_done() {
    require_naio();
    let drops = Arc::new(AtomicUsize::new(0));
    let buf = || Counted(Vec::with_capacity(32), Arc::clone(&drops));
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio<Counted> = Naio::new().unwrap();
    // In flight at close: cancelled, collected, freed (not leaked).
    naio.recv(&b, buf(), RecvFlags::empty(), Token(1)).unwrap();
    naio.recv(&b, buf(), RecvFlags::empty(), Token(2)).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "freed while in flight");
    assert_eq!(naio.close(), 0, "buffers leaked");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    // A completion taken by a plain Queue::wait is not recorded: the
    // buffer stays until close, which finds the request gone (ENOENT)
    // and frees it.
    let naio: Naio<Counted> = Naio::new().unwrap();
    let id = naio.recv(&b, buf(), RecvFlags::empty(), Token(3)).unwrap();
    a.write_all(b"z").unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(naio.queue().wait(&mut ev, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().id(), id.raw());
    assert_eq!(naio.in_flight(), 1, "not recorded");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(naio);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    // With a duplicate of the queue's descriptor alive, closing ours
    // does not end the requests: close cancels them and frees the
    // buffers once their completions are collected.
    let naio: Naio<Counted> = Naio::new().unwrap();
    let dup = naio.queue().as_fd().try_clone_to_owned().unwrap();
    naio.recv(&b, buf(), RecvFlags::empty(), Token(4)).unwrap();
    assert_eq!(naio.close(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    drop(dup);
}

#[cfg(feature = "tokio")]
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_async_round_trip_and_cancel_on_drop() {
    require_naio();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let naio: kevent::AsyncNaio = kevent::AsyncNaio::new().unwrap();
        let (client, server) = tcp_pair();
        // The receive waits in the queue's task while the send runs.
        let recv = naio.recv(&server, Vec::with_capacity(64));
        let id = recv.id().unwrap();
        let (res, buf) = tokio::time::timeout(LONG, naio.send(&client, b"ping".to_vec()))
            .await
            .unwrap();
        assert_eq!((res.unwrap(), &buf[..]), (4, &b"ping"[..]));
        let (res, buf) = tokio::time::timeout(LONG, recv).await.unwrap();
        assert_eq!((res.unwrap(), &buf[..]), (4, &b"ping"[..]));
        assert_eq!(naio.in_flight(), 0, "{id}");
        // A send with room completes in its submission (KEVENT_REQ_INLINE):
        // nothing in flight, ready at once; a full socket's is in flight.
        let inline = kevent::features().unwrap().completes_inline;
        let send = naio.send(&client, b"now".to_vec());
        assert_eq!(send.id().is_none(), inline, "{send:?}");
        assert_eq!(naio.in_flight(), usize::from(!inline));
        let (res, sent) = tokio::time::timeout(LONG, send).await.unwrap();
        assert_eq!((res.unwrap(), &sent[..]), (3, &b"now"[..]));
        let (res, got) = naio.recv(&server, Vec::with_capacity(16)).await;
        assert_eq!((res.unwrap(), &got[..]), (3, &b"now"[..]));
        let (full, mut full_peer) = UnixStream::pair().unwrap();
        fill(&full);
        let send = naio.send(&full, b"later".to_vec());
        assert!(send.id().is_some());
        let mut drain = vec![0u8; 1 << 20];
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            while !got.ends_with(b"later") {
                let n = std::io::Read::read(&mut full_peer, &mut drain).unwrap();
                assert!(n > 0, "EOF before the send's bytes");
                got.extend_from_slice(&drain[..n]);
                let keep = got.len().saturating_sub(8);
                got.drain(..keep);
            }
        });
        let (res, _) = tokio::time::timeout(LONG, send).await.unwrap();
        assert_eq!(res.unwrap(), 5);
        reader.join().unwrap();
        // Submission errors come back as the future's result, with the
        // buffer.
        let (rd, _wr) = nix_pipe();
        let (res, buf) = naio.recv(&rd, buf).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
        assert!(buf.capacity() >= 64);
        // Dropping a pending future cancels its request; the buffer stays
        // with the queue until the cancellation is reported, then goes.
        let drops = Arc::new(AtomicUsize::new(0));
        let naio_c: kevent::AsyncNaio<Counted> = kevent::AsyncNaio::new().unwrap();
        {
            let fut = naio_c.recv(&server, Counted(Vec::with_capacity(8), Arc::clone(&drops)));
            // Polled once (registered), then dropped.
            assert!(tokio::time::timeout(5 * MS, fut).await.is_err());
        }
        let deadline = Instant::now() + LONG;
        while naio_c.in_flight() > 0 {
            assert!(Instant::now() < deadline, "the cancellation never came");
            tokio::time::sleep(MS).await;
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // The data the peer sends next is not lost to the cancelled one.
        let (res, _) = naio.send(&client, b"next".to_vec()).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = naio.recv(&server, Vec::with_capacity(16)).await;
        assert_eq!((res.unwrap(), &buf[..]), (4, &b"next"[..]));
        // A dropped queue with a pending request frees its buffer.
        let pending = naio_c.recv(&server, Counted(Vec::with_capacity(8), Arc::clone(&drops)));
        drop(pending);
        drop(naio_c);
        // The aborted task is dropped by the runtime: let it run.
        let deadline = Instant::now() + LONG;
        while drops.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the closed queue kept the buffer"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(MS).await;
        }
    });
}

// ---- KEVENT_NAIO_SENDFILE: a file's pages sent over a stream socket ----

use kevent::{SendfileCompletion, SendfileFlags};

/// Waits until the sendfile `id` has completed and takes it; fails if
/// nothing completes it within LONG.
fn sendfile_completion<B: IoBuf>(naio: &Naio<B>, id: RequestId) -> SendfileCompletion {
    let deadline = Instant::now() + LONG;
    let mut ev = Events::with_capacity(16);
    loop {
        if let Some(done) = naio.take_sendfile_id(id) {
            return done;
        }
        assert!(
            naio.take_id(id).is_none(),
            "a sendfile's completion taken as a buffer's"
        );
        assert!(
            Instant::now() < deadline,
            "sendfile {id} did not complete within {LONG:?} ({} in flight)",
            naio.in_flight()
        );
        naio.wait(&mut ev, Some(100 * MS)).unwrap();
    }
}

/// A memfd (shmem: a page cache, splice_read, pread) holding `bytes`.
fn memfd_with(bytes: &[u8]) -> std::fs::File {
    // SAFETY: a NUL-terminated name; returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"kevent-sendfile".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: a new descriptor nobody else owns.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.write_all(bytes).unwrap();
    f
}

/// `n` bytes that differ from their neighbours' (a shifted or misordered
/// range does not compare equal).
fn pattern(n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i % 251) as u8 ^ (i >> 8) as u8)
        .collect()
}

/// Reads exactly `n` bytes from `peer` in a thread.
fn read_n_in_thread<R: Read + Send + 'static>(
    mut peer: R,
    n: usize,
) -> thread::JoinHandle<(R, Vec<u8>)> {
    thread::spawn(move || {
        let mut got = vec![0; n];
        peer.read_exact(&mut got).unwrap();
        (peer, got)
    })
}

/// A memfd sent over `ours` whole and then in part from an offset; the
/// peer gets exactly those bytes. The file's descriptor is closed right
/// after the add: the kernel holds the file.
fn sendfile_whole_and_from_an_offset<S, P>((ours, peer): (S, P))
where
    S: AsFd,
    P: Read + Send + 'static,
{
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    // More than a socket's buffer: the request goes on in later waits.
    let contents = pattern((1 << 20) + 123);
    let file = memfd_with(&contents);
    let reader = read_n_in_thread(peer, contents.len());
    let id = naio
        .sendfile(
            &ours,
            &file,
            0,
            contents.len(),
            SendfileFlags::empty(),
            Token(21),
        )
        .unwrap();
    drop(file);
    assert_eq!(naio.in_flight(), 1);
    let done = sendfile_completion(&naio, id);
    assert_eq!((done.id(), done.token()), (id, Token(21)));
    assert!(!done.is_eof(), "the whole file: no end of file");
    assert_eq!(done.into_result().unwrap(), contents.len());
    let (peer, got) = reader.join().unwrap();
    assert!(got == contents, "the peer got other bytes");
    // From an offset, MSG_MORE given: exactly that range.
    let file = memfd_with(&contents);
    let reader = read_n_in_thread(peer, 5000);
    let id = naio
        .sendfile(&ours, &file, 1000, 5000, SendfileFlags::MORE, Token(22))
        .unwrap();
    let done = sendfile_completion(&naio, id);
    assert!(!done.is_eof());
    assert_eq!(done.into_result().unwrap(), 5000);
    let (_peer, got) = reader.join().unwrap();
    assert!(got[..] == contents[1000..6000], "not the range at 1000");
    // The file's own offset was neither used nor moved.
    let mut file = file;
    assert_eq!(
        io::Seek::stream_position(&mut file).unwrap(),
        contents.len() as u64
    );
    assert_eq!(naio.in_flight(), 0);
    assert_eq!(naio.close(), 0);
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_memfd_over_a_unix_stream() {
    sendfile_whole_and_from_an_offset(UnixStream::pair().unwrap());
}

#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_memfd_over_tcp() {
    let (client, server) = tcp_pair();
    sendfile_whole_and_from_an_offset((server, client));
}

/// The file ends before the length asked for: the bytes up to its end,
/// with end of file; at or past the end, 0 with end of file.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_end_of_file_is_a_short_count() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let contents = pattern(100);
    let file = memfd_with(&contents);
    let id = naio
        .sendfile(&a, &file, 40, 1000, SendfileFlags::empty(), Token(1))
        .unwrap();
    let done = sendfile_completion(&naio, id);
    assert!(done.is_eof(), "60 of 1000 bytes without end of file");
    assert_eq!(done.into_result().unwrap(), 60);
    let mut got = [0; 60];
    b.read_exact(&mut got).unwrap();
    assert_eq!(got[..], contents[40..]);
    for offset in [100, 4096, 1 << 40] {
        let id = naio
            .sendfile(&a, &file, offset, 10, SendfileFlags::empty(), Token(2))
            .unwrap();
        let done = sendfile_completion(&naio, id);
        assert!(done.is_eof(), "offset {offset}");
        assert_eq!(done.into_result().unwrap(), 0, "offset {offset}");
    }
    // The event itself says so too.
    let id = naio
        .sendfile(&a, &file, 99, 2, SendfileFlags::empty(), Token(3))
        .unwrap();
    let mut ev = Events::with_capacity(8);
    let deadline = Instant::now() + LONG;
    let event = loop {
        assert!(Instant::now() < deadline, "no completion");
        naio.wait(&mut ev, Some(100 * MS)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.kind() == Kind::Naio) {
            break e;
        }
    };
    assert_eq!(event.naio_op(), Some(NaioOp::Sendfile));
    assert_eq!(event.naio_result().unwrap().unwrap(), 1);
    assert!(event.is_eof());
    assert!(naio.take(&event).is_none(), "not a buffer's completion");
    let done = naio.take_sendfile(&event).expect("recorded by wait");
    assert_eq!((done.id(), done.token()), (id, Token(3)));
    assert!(naio.take_sendfile(&event).is_none(), "taken once");
    // Unix stream sockets have no record boundaries: all 61 bytes.
    b.set_nonblocking(true).unwrap();
    let mut last = [0; 8];
    assert_eq!(b.read(&mut last).unwrap(), 1);
    assert_eq!(last[0], contents[99]);
    assert_eq!(naio.in_flight(), 0);
}

/// What the kernel refuses at the add, and what the crate refuses
/// before it.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_errors() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let file = memfd_with(b"some bytes");
    let (a, _b) = UnixStream::pair().unwrap();
    let refused = |socket: &dyn AsFd, file: &dyn AsFd, len: usize| {
        let e = naio
            .sendfile(&socket, &file, 0, len, SendfileFlags::empty(), Token(9))
            .unwrap_err();
        assert_eq!(naio.in_flight(), 0, "{e}");
        e
    };
    // Not a stream socket.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = refused(&udp, &file, 4);
    assert_eq!(errno(&e), libc::EOPNOTSUPP, "{e}");
    assert!(
        e.to_string().contains("a sendfile needs a stream socket"),
        "{e}"
    );
    let (dgram, _d2) = std::os::unix::net::UnixDatagram::pair().unwrap();
    assert_eq!(errno(&refused(&dgram, &file, 4)), libc::EOPNOTSUPP);
    // Files without a page cache: a pipe, a socket, a directory, a
    // character device.
    let (rd, _wr) = nix_pipe();
    let e = refused(&a, &rd, 4);
    assert_eq!(errno(&e), libc::EINVAL, "{e}");
    assert!(
        e.to_string()
            .contains("not a regular file or a block device"),
        "{e}"
    );
    let (c, _d) = UnixStream::pair().unwrap();
    assert_eq!(errno(&refused(&a, &c, 4)), libc::EINVAL);
    let dir = std::fs::File::open("/").unwrap();
    assert_eq!(errno(&refused(&a, &dir, 4)), libc::EINVAL);
    let null = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(errno(&refused(&a, &null, 4)), libc::EINVAL);
    // A file not open for reading.
    let path = std::env::temp_dir().join(format!("kevent-sendfile-{}", std::process::id()));
    let wronly = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let e = refused(&a, &wronly, 4);
    assert_eq!(errno(&e), libc::EBADF, "{e}");
    assert!(e.to_string().contains("not open for reading"), "{e}");
    // Not a socket (the arguments swapped).
    let e = refused(&file, &a, 4);
    assert_eq!(errno(&e), libc::ENOTSOCK, "{e}");
    assert!(e.to_string().contains("takes the socket first"), "{e}");
    // Refused by the crate: no system call.
    let e = refused(&a, &file, 0);
    assert_eq!(
        (e.kind(), e.raw_os_error()),
        (io::ErrorKind::InvalidInput, None)
    );
    let e = naio
        .sendfile(&a, &file, u64::MAX, 1, SendfileFlags::empty(), Token(9))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // A file whose reads the kernel cannot wait for without holding up
    // the queue (procfs here; also NFS, FUSE, 9p): refused.
    let proc_file = std::fs::File::open("/proc/version").unwrap();
    let e = refused(&a, &proc_file, 4);
    assert_eq!(errno(&e), libc::EOPNOTSUPP, "{e}");
    assert!(e.to_string().contains("cannot wait for"), "{e}");
}

/// Fills `ours`'s send buffer (its peer reads nothing): a request on it
/// then stays in flight.
fn fill(ours: &UnixStream) -> usize {
    ours.set_nonblocking(true).unwrap();
    let chunk = [0xeeu8; 4096];
    let mut n = 0;
    loop {
        match (&*ours).write(&chunk) {
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the socket: {e}"),
        }
    }
    ours.set_nonblocking(false).unwrap();
    n
}

/// `send_now`: a send with room completes at the add and comes back with
/// its buffer, no event and nothing in flight; a send on a full socket is
/// queued and completes through `wait`; a send on a socket whose peer is
/// gone completes at once with the error.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_send_now_done_queued_and_failed() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let inline = kevent::features().unwrap().completes_inline;
    assert!(
        inline,
        "this kernel's probe does not list KEVENT_REQ_INLINE"
    );

    // Room: done at the add.
    let sent = naio
        .send_now(&a, b"hello".to_vec(), SendFlags::NOSIGNAL, Token(3))
        .unwrap();
    let Sent::Done(done) = sent else {
        panic!("a send with room was queued: {sent:?}")
    };
    assert_eq!((done.token(), done.op()), (Token(3), NaioOp::Send));
    let (n, buf) = done.into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
    assert_eq!(naio.in_flight(), 0);
    let mut ev = Events::with_capacity(8);
    assert_eq!(
        naio.wait(&mut ev, Some(Duration::ZERO)).unwrap(),
        0,
        "an event for an inline send"
    );
    let mut got = [0u8; 5];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");

    // No room: queued, completed by a wait once the peer reads.
    let filled = fill(&a);
    let sent = naio
        .send_now(&a, vec![7u8; 100], SendFlags::NOSIGNAL, Token(4))
        .unwrap();
    let Sent::InFlight(id) = sent else {
        panic!("a send on a full socket completed at once: {sent:?}")
    };
    assert_eq!(naio.in_flight(), 1);
    assert!(
        completes_now(&naio, id).is_none(),
        "completed on a full socket"
    );
    // The kernel sends it during a wait: read the filling first.
    let mut sink = vec![0u8; filled];
    b.read_exact(&mut sink).unwrap();
    let (n, _) = completion(&naio, id).into_parts();
    assert_eq!(n.unwrap(), 100);
    let mut tail = [0u8; 100];
    b.read_exact(&mut tail).unwrap();
    assert_eq!(tail, [7u8; 100]);

    // The peer is gone: done at once, with the error.
    drop(b);
    let sent = naio
        .send_now(&a, b"late".to_vec(), SendFlags::NOSIGNAL, Token(5))
        .unwrap();
    let Sent::Done(done) = sent else {
        panic!("a send to a closed peer was queued: {sent:?}")
    };
    let (n, buf) = done.into_parts();
    assert_eq!(n.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    assert_eq!(&buf[..], b"late");
    assert_eq!(naio.in_flight(), 0);
}

/// A sendfile on a full socket waits; REMOVE cancels it (ECANCELED, no
/// byte queued), and so does closing the socket's descriptor. Sends and
/// sendfiles on one socket keep the order submitted.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_cancel_and_order_with_sends() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let contents = pattern(64 << 10);
    let file = memfd_with(&contents);
    let (a, b) = UnixStream::pair().unwrap();
    let filled = fill(&a);
    let id = naio
        .sendfile(
            &a,
            &file,
            0,
            contents.len(),
            SendfileFlags::empty(),
            Token(1),
        )
        .unwrap();
    assert!(
        completes_now(&naio, id).is_none() && naio.take_sendfile_id(id).is_none(),
        "completed on a full socket"
    );
    naio.cancel(id).unwrap();
    let done = sendfile_completion(&naio, id);
    assert!(!done.is_eof());
    assert_eq!(
        done.into_result().unwrap_err().raw_os_error(),
        Some(libc::ECANCELED)
    );
    assert_eq!(errno(&naio.cancel(id).unwrap_err()), libc::ENOENT);
    // One order for sends and sendfiles: a send, a sendfile, a send, all
    // waiting behind the filler bytes.
    let head = vec![b'A'; 3000];
    let tail = vec![b'Z'; 5000];
    let first = naio
        .send(&a, head.clone(), SendFlags::empty(), Token(2))
        .unwrap();
    let middle = naio
        .sendfile(
            &a,
            &file,
            0,
            contents.len(),
            SendfileFlags::empty(),
            Token(3),
        )
        .unwrap();
    let last = naio
        .send(&a, tail.clone(), SendFlags::empty(), Token(4))
        .unwrap();
    let total = filled + head.len() + contents.len() + tail.len();
    let reader = read_n_in_thread(b, total);
    let (n, _) = completion(&naio, first).into_parts();
    assert_eq!(n.unwrap(), head.len());
    assert_eq!(
        sendfile_completion(&naio, middle).into_result().unwrap(),
        contents.len()
    );
    let (n, _) = completion(&naio, last).into_parts();
    assert_eq!(n.unwrap(), tail.len());
    let (b, got) = reader.join().unwrap();
    assert!(got[..filled].iter().all(|&x| x == 0xee));
    let got = &got[filled..];
    assert!(got[..head.len()] == head[..], "the first send's bytes");
    let got = &got[head.len()..];
    assert!(
        got[..contents.len()] == contents[..],
        "the file's bytes, not interleaved with a send's"
    );
    assert!(got[contents.len()..] == tail[..], "the last send's bytes");
    // Closing the socket's descriptor cancels a waiting sendfile; the
    // file's descriptor need not stay open meanwhile.
    fill(&a);
    let id = naio
        .sendfile(&a, &file, 0, 10, SendfileFlags::empty(), Token(5))
        .unwrap();
    drop(file);
    assert!(completes_now(&naio, id).is_none() && naio.take_sendfile_id(id).is_none());
    drop(a);
    let done = sendfile_completion(&naio, id);
    assert_eq!(
        done.into_result().unwrap_err().raw_os_error(),
        Some(libc::ECANCELED)
    );
    assert_eq!(naio.in_flight(), 0);
    drop(b);
    assert_eq!(naio.close(), 0);
}

#[cfg(feature = "tokio")]
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_async_sendfile() {
    require_naio();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let naio: kevent::AsyncNaio = kevent::AsyncNaio::new().unwrap();
        let (client, server) = tcp_pair();
        let contents = pattern((256 << 10) + 7);
        let file = memfd_with(&contents);
        // The peer reads in a thread while the queue's task runs the
        // request.
        let reader = read_n_in_thread(client, contents.len());
        let sent = tokio::time::timeout(LONG, naio.sendfile(&server, &file, 0, contents.len()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sent, contents.len());
        let (client, got) = reader.join().unwrap();
        assert!(got == contents, "the peer got other bytes");
        // A short count at the end of the file; MSG_MORE taken.
        let reader = read_n_in_thread(client, 7);
        let sent = naio
            .sendfile_with(&server, &file, 256 << 10, 100, SendfileFlags::MORE)
            .await
            .unwrap();
        assert_eq!(sent, 7);
        let (client, got) = reader.join().unwrap();
        assert_eq!(got[..], contents[256 << 10..]);
        // Errors are the future's result.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fut = naio.sendfile(&udp, &file, 0, 1);
        assert!(fut.id().is_none());
        let e = fut.await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
        let e = naio.sendfile(&server, &file, 0, 0).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // Dropping a pending sendfile cancels it: on a full socket.
        let (a, _b) = UnixStream::pair().unwrap();
        fill(&a);
        {
            let fut = naio.sendfile(&a, &file, 0, 100);
            assert!(fut.id().is_some());
            assert!(tokio::time::timeout(5 * MS, fut).await.is_err());
        }
        let deadline = Instant::now() + LONG;
        while naio.in_flight() > 0 {
            assert!(Instant::now() < deadline, "the cancellation never came");
            tokio::time::sleep(MS).await;
        }
        drop(client);
    });
}

/// `Completion::next_step` on the kernel's own completions: a receive
/// that stays and ends with an error (a TCP reset) stays in the kernel
/// but is `Cancel`, and a rearm of it would complete again at once; an
/// empty datagram is `Rearm`; a loop that follows `next_step` cancels the
/// first and gets no more events of it.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_recv_stay_next_step_on_errors_and_empty_datagrams() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    // A reset: the peer closes with SO_LINGER 0.
    let (client, server) = tcp_pair();
    let id = naio
        .recv_stay(&server, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size given.
    let r = unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", io::Error::last_os_error());
    drop(client);
    let done = completion(&naio, id);
    assert!(done.stays(), "the kernel leaves it in place: {done:?}");
    assert_eq!(
        done.result().as_ref().unwrap_err().raw_os_error(),
        Some(libc::ECONNRESET),
        "{done:?}"
    );
    assert_eq!(done.next_step(), NextStep::Cancel);
    assert!(done.data().is_empty());
    // What a loop that rearmed it would get: another completion at once
    // (end of file after the reset), never data.
    let mut buf = done.into_buf();
    buf.clear();
    naio.rearm(id, buf).unwrap();
    let done = completion(&naio, id);
    assert_eq!(done.next_step(), NextStep::Cancel, "{done:?}");
    // Following next_step: cancel; its last event has nothing to take,
    // and the id is free.
    naio.cancel(id).unwrap();
    let mut ev = Events::with_capacity(8);
    let deadline = Instant::now() + LONG;
    loop {
        naio.wait(&mut ev, Some(100 * MS)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.id() == id.raw()) {
            assert!(naio.take(&e).is_none(), "{e:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no last event after the cancel");
    }
    assert_eq!(errno(&naio.cancel(id).unwrap_err()), libc::ENOENT);
    naio.wait(&mut ev, Some(50 * MS)).unwrap();
    assert!(ev.iter().all(|e| e.id() != id.raw()), "it spins: {ev:?}");
    // An empty datagram: 0 bytes without end of file, to rearm.
    let (da, db) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let id = naio
        .recv_stay(&db, Vec::with_capacity(8), RecvFlags::empty(), Token(2))
        .unwrap();
    da.send(b"").unwrap();
    let done = completion(&naio, id);
    assert_eq!(
        (*done.result().as_ref().unwrap(), done.is_eof()),
        (0, false)
    );
    assert_eq!(done.next_step(), NextStep::Rearm);
    let mut buf = done.into_buf();
    buf.clear();
    naio.rearm(id, buf).unwrap();
    da.send(b"dg").unwrap();
    let done = completion(&naio, id);
    assert_eq!(
        (done.data(), done.next_step()),
        (&b"dg"[..], NextStep::Rearm)
    );
    assert_eq!(naio.close(), 0);
}

/// `wait_rearming`: the next runs of several receives that stay start in
/// the wait's own call (the bytes already there are received by it); a
/// buffer at another address and a receive the kernel no longer has are
/// refused, with their buffers.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_wait_rearming_starts_runs_in_the_wait() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let pairs: Vec<_> = (0..3).map(|_| UnixStream::pair().unwrap()).collect();
    let ids: Vec<RequestId> = pairs
        .iter()
        .enumerate()
        .map(|(i, (_, b))| {
            naio.recv_stay(
                b,
                Vec::with_capacity(8),
                RecvFlags::empty(),
                Token(i as u64),
            )
            .unwrap()
        })
        .collect();
    let (mut rearms, mut refused) = (Vec::new(), Vec::new());
    let mut events = Events::with_capacity(16);
    for round in 0..3u8 {
        for (a, _) in &pairs {
            (&*a).write_all(&[b'a' + round]).unwrap();
        }
        let mut got = 0;
        let deadline = Instant::now() + LONG;
        while got < ids.len() {
            naio.wait_rearming(
                rearms.drain(..),
                &mut refused,
                &mut events,
                &Wait::new(Some(100 * MS)),
            )
            .unwrap();
            assert!(
                refused.is_empty(),
                "refused: {:?}",
                refused.iter().map(|r| r.id).collect::<Vec<_>>()
            );
            for event in &events {
                if let Some(done) = naio.take(&event) {
                    assert!(done.stays());
                    let id = done.id();
                    let (n, mut buf) = done.into_parts();
                    assert_eq!((n.unwrap(), &buf[..]), (1, &[b'a' + round][..]));
                    buf.clear();
                    rearms.push((id, buf));
                    got += 1;
                }
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: {got} runs completed"
            );
        }
        assert_eq!(naio.in_flight(), 0);
    }
    // A run refused before any system call (another buffer) does not
    // let the call sleep: it returns at once, long timeout or not, and
    // the refused entry has the receive's token and why.
    rearms.sort_by_key(|(id, _)| *id);
    let (id0, buf0) = rearms.remove(0);
    let token0 = ids.iter().position(|&id| id == id0).unwrap() as u64;
    let started = Instant::now();
    naio.wait_rearming(
        [(id0, Vec::with_capacity(8))],
        &mut refused,
        &mut events,
        &Wait::new(Some(LONG)),
    )
    .unwrap();
    assert!(
        started.elapsed() < LONG / 2,
        "slept {:?}",
        started.elapsed()
    );
    assert_eq!(refused.len(), 1);
    let r = refused.pop().unwrap();
    assert_eq!((r.id, r.token), (id0, Some(Token(token0))));
    assert_eq!(r.error.kind(), io::ErrorKind::InvalidInput, "{}", r.error);
    assert_eq!(r.error.command(), kevent::Command::Enable);
    // The first rearmed with another buffer again, the second cancelled
    // (its last event not recorded yet: the kernel refuses its run), the
    // third fine.
    let id1 = rearms[0].0;
    naio.cancel(id1).unwrap();
    rearms.insert(0, (id0, Vec::with_capacity(8)));
    naio.wait_rearming(
        rearms.drain(..),
        &mut refused,
        &mut events,
        &Wait::new(Some(LONG)),
    )
    .unwrap();
    assert!(
        started.elapsed() < LONG / 2,
        "slept {:?}",
        started.elapsed()
    );
    let refused_ids: Vec<RequestId> = refused.iter().map(|r| r.id).collect();
    assert!(
        refused_ids.contains(&id0) && refused_ids.contains(&id1),
        "{refused_ids:?}"
    );
    assert_eq!(refused.len(), 2);
    let r1 = refused.iter().find(|r| r.id == id1).unwrap();
    assert!(
        matches!(r1.error.raw_os_error(), Some(libc::EBUSY | libc::ENOENT)),
        "{}",
        r1.error
    );
    let token1 = ids.iter().position(|&id| id == id1).unwrap() as u64;
    assert_eq!(r1.token, Some(Token(token1)));
    assert_eq!(naio.in_flight(), 1, "the third is in flight");
    drop(buf0);
    assert_eq!(naio.close(), 0);
}

/// A `Naio` copied into a child by `fork` cannot rearm the parent's
/// receive that stays (its table is not the one the parent's buffers are
/// in); the parent still can.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_rearm_refused_in_a_forked_child() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio = Naio::new().unwrap();
    let id = naio
        .recv_stay(&b, Vec::with_capacity(8), RecvFlags::empty(), Token(1))
        .unwrap();
    a.write_all(b"x").unwrap();
    let (_, mut buf) = completion(&naio, id).into_parts();
    buf.clear();
    // SAFETY: the child calls rearm, which refuses before any lock or
    // system call, and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // The child's copy of the buffer is at the parent's address: all
        // but the fork check would let it through.
        let code = match naio.rearm(id, buf) {
            Err(e) if e.error.kind() == io::ErrorKind::Unsupported => {
                // wait_rearming too, and the buffer comes back.
                let mut refused = Vec::new();
                let mut events = Events::with_capacity(4);
                match naio.wait_rearming(
                    [(id, e.buf)],
                    &mut refused,
                    &mut events,
                    &Wait::new(Some(Duration::ZERO)),
                ) {
                    Err(e) if e.kind() == io::ErrorKind::Unsupported && refused.len() == 1 => 0,
                    _ => 4,
                }
            }
            Err(_) => 2,
            Ok(()) => 3,
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let status = reap(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's rearm: status {status:#x} (exit 2: another error, 3: it rearmed, \
         4: wait_rearming did not refuse)"
    );
    naio.rearm(id, buf).unwrap();
    a.write_all(b"y").unwrap();
    let (n, buf) = completion(&naio, id).into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (1, &b"y"[..]));
    assert_eq!(naio.close(), 0);
}

/// A `Naio` copied into a child by `fork` leaves the parent's requests
/// alone: in the child, `wait` and `cancel` are refused (`Unsupported`,
/// no system call) and dropping the copy neither cancels the parent's
/// receive nor takes its completion; the parent's receive then completes
/// with the data.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_copy_dropped_in_a_forked_child_leaves_the_parents_requests() {
    require_naio();
    let (mut a, b) = UnixStream::pair().unwrap();
    let naio: Naio = Naio::new().unwrap();
    let id = naio
        .recv(&b, Vec::with_capacity(16), RecvFlags::empty(), Token(1))
        .unwrap();
    // A receive that stays, between runs: its REMOVE at a close would
    // end it.
    let (mut c, d) = UnixStream::pair().unwrap();
    let stay = naio
        .recv_stay(&d, Vec::with_capacity(8), RecvFlags::empty(), Token(2))
        .unwrap();
    c.write_all(b"1").unwrap();
    let (n, mut stay_buf) = completion(&naio, stay).into_parts();
    assert_eq!(n.unwrap(), 1);
    assert!(completes_now(&naio, id).is_none(), "completed with no data");
    // SAFETY: the child uses its copy of the Naio (whose refusals make no
    // system call), drops it and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let refused = |kind: io::ErrorKind| kind == io::ErrorKind::Unsupported;
        let mut events = Events::with_capacity(4);
        let mut code = 0;
        if !naio
            .wait(&mut events, Some(Duration::ZERO))
            .is_err_and(|e| refused(e.kind()))
        {
            code |= 1;
        }
        if !naio.cancel(id).is_err_and(|e| refused(e.kind())) {
            code |= 2;
        }
        // SAFETY: the child's copy is read out once and dropped here; the
        // original is never dropped in the child (_exit).
        let copy = unsafe { std::ptr::read(&naio) };
        if copy.close() != 0 {
            code |= 4;
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let status = reap(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child: status {status:#x} (exit 1: wait not refused, 2: cancel not refused, \
         4: its close leaked)"
    );
    // The parent's receive is still in flight, and gets the data.
    assert_eq!(naio.in_flight(), 1);
    a.write_all(b"hello").unwrap();
    let done = completion(&naio, id);
    assert_eq!(done.next_step(), NextStep::Done);
    let (n, buf) = done.into_parts();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
    // The receive that stays was not removed: it runs again.
    stay_buf.clear();
    naio.rearm(stay, stay_buf).unwrap();
    c.write_all(b"2").unwrap();
    let done = completion(&naio, stay);
    assert_eq!(
        (done.next_step(), done.data()),
        (NextStep::Rearm, &b"2"[..])
    );
    naio.cancel(stay).unwrap();
    assert_eq!(naio.close(), 0);
}

/// Like a send or a receive, a sendfile runs only in its submitter's
/// address space (the reads it causes are charged there): a forked child
/// that reports the queue completes it with EXDEV, and nothing is sent.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn naio_sendfile_reported_by_another_process_gets_exdev() {
    require_naio();
    let naio: Naio = Naio::new().unwrap();
    let contents = pattern(100);
    let file = memfd_with(&contents);
    let (a, b) = UnixStream::pair().unwrap();
    let filled = fill(&a);
    let id = naio
        .sendfile(&a, &file, 0, 100, SendfileFlags::empty(), Token(1))
        .unwrap();
    assert!(completes_now(&naio, id).is_none() && naio.take_sendfile_id(id).is_none());
    // Everything the child uses is made before fork().
    let mut events = [sys::kevent_event::default(); 4];
    let args = sys::kevent_wait_args {
        timeout_ns: LONG.as_nanos() as u64,
        ..Default::default()
    };
    let qfd = naio.as_raw_fd();
    // SAFETY: the child makes only raw system calls (kevent_get_events
    // into memory made before the fork) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: 4 writable events; args is a kevent_wait_args of its
        // size.
        let r = unsafe {
            sys::kevent_get_events(
                qfd,
                events.as_mut_ptr(),
                4,
                &args,
                std::mem::size_of::<sys::kevent_wait_args>(),
            )
        };
        let code = match r {
            Ok(1) if events[0].id == id.raw() => match (events[0].data as i64, events[0].flags) {
                (d, f) if d == -(libc::EXDEV as i64) && f == sys::KEVENT_EV_ERROR as u16 => 0,
                (100, _) => 2,
                _ => 3,
            },
            Ok(0) => 4,
            _ => 5,
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    // The peer reads the filler: the socket gets room, and the child's
    // wait reports the request. This process does not wait on the queue.
    let (b, got) = read_n_in_thread(b, filled).join().unwrap();
    assert_eq!(got.len(), filled);
    let status = reap(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's report: status {status:#x} (exit 2: it ran there, 3: another result, \
         4: no event)"
    );
    // Nothing of the file was sent.
    b.set_nonblocking(true).unwrap();
    let mut more = [0u8; 16];
    assert_eq!(
        (&b).read(&mut more).map_err(|e| e.kind()).unwrap_err(),
        io::ErrorKind::WouldBlock
    );
    // The child took the completion: this Naio's slot is freed at close,
    // when REMOVE finds no request (ENOENT), with nothing leaked.
    assert_eq!(naio.in_flight(), 1);
    assert_eq!(naio.close(), 0);
    drop(a);
}

/// `wait_with_changes`: adds, a trigger and the wait in one call; then a
/// failed change returns 0 at once though events are ready, and the
/// changes after it are applied all the same.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn wait_with_changes_applies_then_waits() {
    require_kevent();
    let q = Queue::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    (&b).write_all(b"x").unwrap();
    let mut changes = Changes::with_capacity(4);
    let mut events = Events::with_capacity(8);
    changes
        .add(Kevent::poll(a.as_fd(), PollFlags::IN).token(Token(1)))
        .add(Kevent::user(2))
        .trigger(2)
        .add(Kevent::user(3));
    assert_eq!(changes.len(), 4);
    let wait = Wait::new(Some(Duration::from_secs(10)));
    let n = q
        .wait_with_changes(&mut changes, &mut events, &wait)
        .unwrap();
    changes.check().unwrap();
    assert_eq!(n, 2);
    let mut got: Vec<_> = events.iter().map(|e| (e.kind(), e.id())).collect();
    got.sort_by_key(|&(_, id)| id);
    let mut want = vec![(Kind::User, 2), (Kind::Poll, a.as_raw_fd() as u64)];
    want.sort_by_key(|&(_, id)| id);
    assert_eq!(got, want);

    // A change that fails: nothing reported, the rest applied.
    changes.clear();
    q.trigger(3).unwrap();
    changes.remove(Key::user(9)).disable(Key::user(2));
    let n = q
        .wait_with_changes(&mut changes, &mut events, &Wait::new(None))
        .unwrap();
    assert_eq!(n, 0);
    let err = changes.result(0).unwrap_err();
    assert_eq!((errno(&err), err.index()), (libc::ENOENT, Some(0)));
    changes.result(1).unwrap();
    assert_eq!(changes.errors().count(), 1);
    assert!(!changes.is_ok());
    // The poll kevent (level-triggered) and user 3 wait for the next call;
    // user 2 is disabled, so a trigger of it is dropped.
    q.trigger(2).unwrap();
    assert_eq!(q.wait(&mut events, Some(Duration::ZERO)).unwrap(), 2);
    assert!(events.iter().all(|e| e.id() != 2));

    // Recycled for other descriptors; a modify needs a token.
    let mut changes = changes.recycle();
    let (c, _d) = UnixStream::pair().unwrap();
    assert!(changes
        .modify(Kevent::poll(c.as_fd(), PollFlags::IN))
        .is_err());
    assert!(changes.is_empty());
    // (and the first socket's level-triggered kevent, still readable,
    // goes, so the one event is the new one's)
    changes
        .remove(Key::poll(a.as_raw_fd()))
        .add(Kevent::poll(c.as_fd(), PollFlags::IN).token(Token(3)))
        .modify(Kevent::poll(c.as_fd(), PollFlags::OUT).token(Token(4)))
        .unwrap();
    let n = q
        .wait_with_changes(&mut changes, &mut events, &Wait::new(Some(Duration::ZERO)))
        .unwrap();
    changes.check().unwrap();
    assert_eq!(n, 1);
    let e = events.iter().next().unwrap();
    assert_eq!((e.token(), e.readiness()), (Token(4), PollFlags::OUT));
}

/// An add with `update()` says whether it created its kevent: first yes,
/// then (the kevent exists) no; after the descriptor number was closed
/// and reused (`fd_close()` removed the kevent) yes again. Through
/// `wait_with_changes` and through `add_all`.
#[test]
#[ignore = "needs the kevent kernel: run with --include-ignored in the VM"]
fn update_says_whether_it_created() {
    fn upsert(fd: std::os::fd::BorrowedFd<'_>) -> Kevent<'_> {
        Kevent::poll(fd, PollFlags::IN).update().fd_close()
    }
    require_kevent();
    assert!(kevent::features().unwrap().reports_created);
    let q = Queue::new().unwrap();
    // A number of its own, above the other tests' (they run in threads):
    // nobody else gets it between the close and the dup2 below.
    let (a, _b) = UnixStream::pair().unwrap();
    let a = high_fd(a.into(), 930);
    let (c, _d) = UnixStream::pair().unwrap();
    let mut changes = Changes::with_capacity(2);
    let mut events = Events::with_capacity(8);
    let zero = Wait::new(Some(Duration::ZERO));
    changes.add(upsert(a.as_fd())).add(Kevent::user(1));
    q.wait_with_changes(&mut changes, &mut events, &zero)
        .unwrap();
    changes.check().unwrap();
    // The plain add says nothing: it always creates.
    assert_eq!((changes.created(0), changes.created(1)), (true, false));
    let r = q.add_all(&[upsert(a.as_fd())]).unwrap();
    assert!(r.is_ok());
    assert!(!r.created(0));
    // The number closed (the kernel removes the kevent) and reused.
    let mut changes = changes.recycle();
    let n = a.as_raw_fd();
    drop(a);
    // SAFETY: dup2 onto the number just closed, owned by `reused` below.
    let reused = unsafe { OwnedFd::from_raw_fd(libc::dup2(c.as_raw_fd(), n)) };
    assert_eq!(reused.as_raw_fd(), n);
    changes.add(upsert(reused.as_fd()));
    q.wait_with_changes(&mut changes, &mut events, &zero)
        .unwrap();
    changes.check().unwrap();
    assert!(changes.created(0));
    let r = q.add_all(&[upsert(reused.as_fd())]).unwrap();
    assert!(!r.created(0));
}
