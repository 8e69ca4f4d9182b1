//! Integration tests against a kernel with kevent ABI v2. `ci/test.sh`
//! runs them inside the patched debug kernel (through
//! `selftests/vm-suite.sh`) with `KEVENT_REQUIRE=1`, where a missing
//! kevent fails them; on a host without kevent they return early.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kevent::{
    Clock, Events, Interest, Key, Kind, PollFlags, Queue, QueueFlags, ReqFlags, Ring, Wait,
};
use kevent_sys as sys;

/// Whether to run: kevent present, or fail loudly where it is required.
fn kevent_here() -> bool {
    match kevent::features() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var_os("KEVENT_REQUIRE").is_none(),
                "KEVENT_REQUIRE is set but: {e}"
            );
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn entry_errno(r: &kevent::BatchResult, i: usize) -> i32 {
    r.results()[i].as_ref().err().map_or(0, errno)
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
fn probe_reports_abi_v2() {
    if !kevent_here() {
        return;
    }
    let f = kevent::features().unwrap();
    assert_eq!(f.version, 2);
    assert_eq!(f.event_size, 32);
    assert!(f.supports(Kind::Poll) && f.supports(Kind::Timer) && f.supports(Kind::User));
    for reserved in [0, 1, 2, 5, 7, 8] {
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
fn queue_is_an_owned_cloexec_fd() {
    if !kevent_here() {
        return;
    }
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
fn user_events_cross_threads() {
    if !kevent_here() {
        return;
    }
    let q = Arc::new(Queue::new().unwrap());
    q.add(&[Interest::user(7).user_data(70)])
        .unwrap()
        .check()
        .unwrap();
    let waiter = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let mut ev = Events::with_capacity(4);
            let n = q.wait(&mut ev, 1, Some(LONG)).unwrap();
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
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().count(), 2);
    // Unknown id
    assert_eq!(errno(&q.trigger(8).unwrap_err()), libc::ENOENT);
}

#[test]
fn timers_count_expirations() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    q.add(&[Interest::timer(1, 5 * MS)])
        .unwrap()
        .check()
        .unwrap();
    thread::sleep(40 * MS);
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::from_secs(5))).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.kind(), Kind::Timer);
    assert_eq!(e.events(), sys::KEVENT_TIMER_FIRED);
    assert!(e.count() >= 4, "count {}", e.count());
    // Oneshot: once, then gone.
    q.add(&[Interest::timer(2, MS).oneshot()])
        .unwrap()
        .check()
        .unwrap();
    let start = Instant::now();
    loop {
        q.wait(&mut ev, 1, Some(Duration::from_secs(5))).unwrap();
        if ev.iter().any(|e| e.id() == 2) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    let r = q.remove(&[Interest::timer(2, MS)]).unwrap();
    assert_eq!(entry_errno(&r, 0), libc::ENOENT);
}

#[test]
fn periodic_timers_count_every_period_once() {
    if !kevent_here() {
        return;
    }
    // 20 timers of 10 ms for about 500 ms: every period reported once,
    // counting missed ones, never more than the periods that passed.
    let q = Queue::new().unwrap();
    let timers: Vec<_> = (0..20).map(|id| Interest::timer(id, 10 * MS)).collect();
    let start = Instant::now();
    q.add(&timers).unwrap().check().unwrap();
    // As the benchmark's timer workload waits: a large buffer, the rest of
    // the window as the timeout.
    let mut ev = Events::with_capacity(4096);
    let mut per_timer = [0u64; 20];
    let mut counts = Vec::new();
    while let Some(left) = (500 * MS).checked_sub(start.elapsed()) {
        q.wait(&mut ev, 1, Some(left.max(MS))).unwrap();
        for e in &ev {
            per_timer[e.id() as usize] += e.count();
            counts.push(e.count());
        }
    }
    let periods = (start.elapsed().as_nanos() / (10 * MS).as_nanos()) as u64;
    for (id, n) in per_timer.iter().enumerate() {
        assert!(
            *n <= periods && *n * 2 >= periods,
            "timer {id}: {n} expirations in {periods} periods; counts reported: {counts:?}"
        );
    }
}

/// Waits for the next event of timer `id` (other events are dropped).
fn next_timer_event(q: &Queue, id: u64) -> kevent::Event {
    let mut ev = Events::with_capacity(8);
    let start = Instant::now();
    loop {
        q.wait(&mut ev, 1, Some(LONG)).unwrap();
        if let Some(e) = ev.iter().find(|e| e.id() == id) {
            return e;
        }
        assert!(start.elapsed() < LONG, "timer {id} never fired");
    }
}

#[test]
fn timers_start_clock_and_absolute_time() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    // A first expiry long before the period.
    let start = Instant::now();
    q.add(&[Interest::timer(1, Duration::from_secs(30)).start_after(5 * MS)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(next_timer_event(&q, 1).count(), 1);
    assert!(start.elapsed() < Duration::from_secs(20));
    q.remove(&[Interest::timer(1, MS)])
        .unwrap()
        .check()
        .unwrap();

    // Period 0: one expiry at an absolute monotonic time; stays
    // registered (without ONESHOT) and fires no more.
    let at = Clock::Monotonic.now() + 50 * MS;
    q.add(&[Interest::timer(2, Duration::ZERO).start_at(Clock::Monotonic, at)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(next_timer_event(&q, 2).count(), 1);
    assert!(Clock::Monotonic.now() >= at, "fired before its time");
    assert_eq!(q.wait(&mut ev, 1, Some(100 * MS)).unwrap(), 0);
    assert_eq!(state(&q, Kind::Timer, 2), "idle");
    q.remove(&[Interest::timer(2, MS)])
        .unwrap()
        .check()
        .unwrap();

    // On CLOCK_REALTIME, absolute; and an absolute time already past
    // fires at once.
    let at = Clock::Realtime.now() + 30 * MS;
    q.add(&[
        Interest::timer(3, Duration::ZERO)
            .start_at(Clock::Realtime, at)
            .oneshot(),
        Interest::timer(4, Duration::ZERO)
            .start_at(Clock::Boottime, Clock::Boottime.now() - 10 * MS)
            .oneshot(),
    ])
    .unwrap()
    .check()
    .unwrap();
    assert_eq!(next_timer_event(&q, 4).count(), 1);
    assert_eq!(next_timer_event(&q, 3).count(), 1);
    assert!(Clock::Realtime.now() >= at);

    // Relative on CLOCK_BOOTTIME, periodic.
    q.add(&[Interest::timer(5, 5 * MS).clock(Clock::Boottime)])
        .unwrap()
        .check()
        .unwrap();
    let e = next_timer_event(&q, 5);
    assert!(e.count() >= 1);
    q.remove(&[Interest::timer(5, MS)])
        .unwrap()
        .check()
        .unwrap();

    // What the kernel refuses.
    let (sock, _peer) = UnixStream::pair().unwrap();
    let r = q
        .add(&[
            Interest::timer(10, Duration::ZERO),           // no start
            Interest::timer(11, MS).oneshot().dispatch(),  // both
            Interest::timer(12, Duration::from_nanos(10)), // < 1 us
            Interest::user(13).start_after(MS),            // timer fields
            Interest::poll(sock.as_fd(), PollFlags::IN).clock(Clock::Boottime), // timer fields
            Interest::user(14).fd_close(),                 // POLL only
        ])
        .unwrap();
    for i in 0..6 {
        assert_eq!(entry_errno(&r, i), libc::EINVAL, "entry {i}");
    }
}

#[test]
fn poll_level_edge_and_oneshot() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let (mut c, d) = UnixStream::pair().unwrap();
    q.add(&[
        Interest::poll(b.as_fd(), PollFlags::IN).user_data(1),
        Interest::poll(d.as_fd(), PollFlags::IN).edge().user_data(2),
    ])
    .unwrap()
    .check()
    .unwrap();
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    a.write_all(b"x").unwrap();
    c.write_all(b"y").unwrap();
    assert_eq!(q.wait(&mut ev, 2, Some(LONG)).unwrap(), 2);
    for e in &ev {
        assert!(e.readiness().contains(PollFlags::IN));
        assert_eq!(e.kind(), Kind::Poll);
        assert!(!e.is_eof() && !e.is_error());
        assert_eq!(e.data(), 0);
    }
    // Level: b is still readable; edge: d is not reported again.
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 1);
    // Modify to oneshot: reported once, then removed.
    q.modify(&[Interest::poll(b.as_fd(), PollFlags::IN).oneshot()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    let r = q
        .remove(&[Interest::poll(b.as_fd(), PollFlags::IN)])
        .unwrap();
    assert_eq!(entry_errno(&r, 0), libc::ENOENT);
    let mut buf = [0; 1];
    (&b).read_exact(&mut buf).unwrap();
}

#[test]
fn dispatch_enable_and_disable() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    let (mut a, b) = UnixStream::pair().unwrap();
    q.add(&[Interest::poll(b.as_fd(), PollFlags::IN)
        .dispatch()
        .user_data(9)])
        .unwrap()
        .check()
        .unwrap();
    a.write_all(b"x").unwrap();
    // Reported once, then disabled although still readable.
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!((e.user_data(), e.key()), (9, Key::poll(b.as_raw_fd())));
    assert_eq!(q.wait(&mut ev, 1, Some(20 * MS)).unwrap(), 0);
    assert_eq!(state(&q, Kind::Poll, b.as_raw_fd() as u64), "disabled");
    // ENABLE re-checks the level-triggered source: ready now, reported.
    q.enable(e.key()).unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 9);
    // Still DISPATCH: disabled again.
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    // Drained and enabled: nothing until new data.
    let mut buf = [0; 1];
    (&b).read_exact(&mut buf).unwrap();
    q.enable(Key::poll(b.as_raw_fd())).unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    a.write_all(b"y").unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);

    // DISABLE a user kevent: triggers meanwhile are dropped.
    q.add(&[Interest::user(5)]).unwrap().check().unwrap();
    q.disable(Key::user(5)).unwrap();
    assert_eq!(state(&q, Kind::User, 5), "disabled");
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    q.enable(Key::user(5)).unwrap();
    assert_eq!(state(&q, Kind::User, 5), "idle");
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    q.trigger(5).unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().count(), 1);

    // Added DISABLED: nothing until enabled; a ready level source then
    // is reported at once.
    let (mut c, d) = UnixStream::pair().unwrap();
    c.write_all(b"z").unwrap();
    q.add(&[
        Interest::user(6).disabled(),
        Interest::poll(d.as_fd(), PollFlags::IN).disabled(),
    ])
    .unwrap()
    .check()
    .unwrap();
    q.trigger(6).unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(20 * MS)).unwrap(), 0);
    let r = q
        .enable_all(&[Key::user(6), Key::poll(d.as_raw_fd()), Key::user(99)])
        .unwrap();
    assert_eq!(
        (entry_errno(&r, 0), entry_errno(&r, 1), entry_errno(&r, 2)),
        (0, 0, libc::ENOENT)
    );
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().key(), Key::poll(d.as_raw_fd()));
    q.remove(&[Interest::poll(d.as_fd(), PollFlags::IN)])
        .unwrap()
        .check()
        .unwrap();
    let r = q.disable_all(&[Key::user(6), Key::timer(6)]).unwrap();
    assert_eq!((entry_errno(&r, 0), entry_errno(&r, 1)), (0, libc::ENOENT));
    assert_eq!(errno(&q.disable(Key::user(77)).unwrap_err()), libc::ENOENT);
    assert_eq!(errno(&q.enable(Key::timer(77)).unwrap_err()), libc::ENOENT);
    drop(c);

    // A disabled periodic timer keeps running; its expirations are dropped.
    q.add(&[Interest::timer(7, 10 * MS).disabled()])
        .unwrap()
        .check()
        .unwrap();
    thread::sleep(200 * MS);
    q.enable(Key::timer(7)).unwrap();
    let e = next_timer_event(&q, 7);
    assert!(
        e.count() < 5,
        "{} expirations kept while disabled",
        e.count()
    );
}

#[test]
fn update_adds_or_modifies() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(8);
    q.add(&[Interest::user(1).user_data(10)])
        .unwrap()
        .check()
        .unwrap();
    let r = q
        .add(&[
            Interest::user(1).user_data(20),          // EEXIST
            Interest::user(1).user_data(30).update(), // modified
            Interest::user(2).user_data(40).update(), // added
        ])
        .unwrap();
    assert_eq!(
        (entry_errno(&r, 0), entry_errno(&r, 1), entry_errno(&r, 2)),
        (libc::EEXIST, 0, 0)
    );
    q.trigger(1).unwrap();
    q.trigger(2).unwrap();
    assert_eq!(q.wait(&mut ev, 2, Some(LONG)).unwrap(), 2);
    let mut data: Vec<_> = ev.iter().map(|e| (e.id(), e.user_data())).collect();
    data.sort();
    assert_eq!(data, [(1, 30), (2, 40)]);
    // UPDATE enables a disabled kevent, unless it says DISABLED.
    q.disable(Key::user(1)).unwrap();
    q.add(&[Interest::user(1).update()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(state(&q, Kind::User, 1), "idle");
    q.add(&[Interest::user(1).update().disabled()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(state(&q, Kind::User, 1), "disabled");
    // UPDATE changes a timer's period.
    q.add(&[Interest::timer(3, Duration::from_secs(3600))])
        .unwrap()
        .check()
        .unwrap();
    q.add(&[Interest::timer(3, 5 * MS).update()])
        .unwrap()
        .check()
        .unwrap();
    assert!(next_timer_event(&q, 3).count() >= 1);
    // UPDATE is for ADD only.
    let r = q.modify(&[Interest::user(2).update()]).unwrap();
    assert_eq!(entry_errno(&r, 0), libc::EINVAL);
}

#[test]
fn eof_and_error_flags() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let mut ev = Events::with_capacity(4);
    let (a, b) = UnixStream::pair().unwrap();
    q.add(&[Interest::poll(b.as_fd(), PollFlags::IN | PollFlags::RDHUP)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    drop(a);
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert!(e.is_eof(), "{e:?}");
    assert!(!e.is_error(), "{e:?}");
    assert!(e.readiness().intersects(PollFlags::HUP | PollFlags::RDHUP));
    // Level-triggered: it would be reported with everything below.
    q.remove(&[Interest::poll(b.as_fd(), PollFlags::IN)])
        .unwrap()
        .check()
        .unwrap();

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
    q.add(&[Interest::poll(s.as_fd(), PollFlags::OUT)])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert!(e.is_error(), "{e:?}");
    assert_eq!(e.data(), libc::ECONNREFUSED as u64, "{e:?}");
    assert_eq!(e.error().unwrap().raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn fd_close_removes_with_the_number() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    let dup = |fd: RawFd| {
        // SAFETY: dup of a descriptor we hold; the copy is owned here.
        unsafe { OwnedFd::from_raw_fd(libc::dup(fd)) }
    };
    let with = dup(b.as_raw_fd());
    let without = dup(b.as_raw_fd());
    let (with_n, without_n) = (with.as_raw_fd(), without.as_raw_fd());
    q.add(&[
        Interest::poll(with.as_fd(), PollFlags::IN).fd_close(),
        Interest::poll(without.as_fd(), PollFlags::IN),
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
    assert_eq!(q.wait(&mut ev, 1, Some(LONG)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().id(), without_n as u64);
    let r = q
        .remove(&[
            Interest::poll_raw(with_n, PollFlags::IN),
            Interest::poll_raw(without_n, PollFlags::IN),
        ])
        .unwrap();
    assert_eq!((entry_errno(&r, 0), entry_errno(&r, 1)), (libc::ENOENT, 0));
    assert!(fdinfo(&q).is_empty());
}

#[test]
fn batches_report_every_entry() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let r = q
        .add(&[
            Interest::user(1),
            Interest::user(1),                            // EEXIST
            Interest::poll_raw(-1, PollFlags::IN),        // EBADF
            Interest::timer(3, MS).edge(),                // EINVAL
            Interest::timer(4, Duration::from_nanos(10)), // EINVAL: < 1 us
            Interest::user(5),
        ])
        .unwrap();
    let codes: Vec<i32> = (0..6).map(|i| entry_errno(&r, i)).collect();
    assert_eq!(
        codes,
        [0, libc::EEXIST, libc::EBADF, libc::EINVAL, libc::EINVAL, 0]
    );
    assert!(r.check().is_err());
    let r = q
        .remove(&[Interest::user(1), Interest::user(2), Interest::user(5)])
        .unwrap();
    assert!(r.results()[0].is_ok() && r.results()[2].is_ok());
    assert_eq!(entry_errno(&r, 1), libc::ENOENT);
    // Reserved types (1, 2, 5, 7, 8) are refused like unknown ones.
    let mut raw: Vec<sys::ukevent> = [1, 2, 5, 7, 8, 9]
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
        assert_eq!(
            uk.ret_data[1] as i32,
            -libc::EOPNOTSUPP,
            "type {}",
            uk.type_
        );
    }
}

#[test]
fn read_and_nonblocking_queue() {
    if !kevent_here() {
        return;
    }
    let q = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK).unwrap();
    q.add(&[Interest::user(1).user_data(11)])
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
    assert_eq!(q.wait(&mut ev, 1, Some(50 * MS)).unwrap(), 0);
    assert!(start.elapsed() >= 40 * MS);
    q.trigger(1).unwrap();
    assert_eq!(q.read_events(&mut ev).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(
        (e.kind(), e.id(), e.user_data(), e.count()),
        (Kind::User, 1, 11, 1)
    );
    let e = q.wait(&mut Events::with_capacity(0), 1, None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // A blocking queue's read sleeps until an event.
    let q = Arc::new(Queue::new().unwrap());
    q.add(&[Interest::user(2)]).unwrap().check().unwrap();
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
fn deadlines_clocks_and_min() {
    if !kevent_here() {
        return;
    }
    let q = Arc::new(Queue::new().unwrap());
    let mut ev = Events::with_capacity(4);
    for clock in [Clock::Monotonic, Clock::Realtime, Clock::Boottime] {
        let start = Instant::now();
        let deadline = clock.now() + 50 * MS;
        assert_eq!(q.wait_deadline(&mut ev, 1, clock, deadline).unwrap(), 0);
        assert!(start.elapsed() >= 40 * MS, "{clock:?}");
        assert!(clock.now() >= deadline, "{clock:?}");
        // Already past: returns at once.
        assert_eq!(
            q.wait_deadline(&mut ev, 1, clock, clock.now() - 10 * MS)
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
    q.add(&[Interest::user(1), Interest::user(2)])
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
fn sigmask_wait_lets_a_blocked_signal_in() {
    if !kevent_here() {
        return;
    }
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
        .wait_with(4, &Wait::timeout(LONG).sigmask(&unblocked))
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
fn ring_round_trips_and_wraps() {
    if !kevent_here() {
        return;
    }
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
    q.add(&[Interest::user(1), Interest::user(2), Interest::user(3)])
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
        assert_eq!(ring.wait(4, Some(Duration::ZERO)).unwrap(), k as usize);
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
    assert_eq!(ring.wait_with(4, &Wait::timeout(LONG).min(2)).unwrap(), 2);
    assert_eq!(ring.drain().count(), 2);
}

#[test]
fn full_ring_keeps_events() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let ids: Vec<_> = (1..=5).map(Interest::user).collect();
    q.add(&ids).unwrap().check().unwrap();
    for id in 1..=5 {
        q.trigger(id).unwrap();
    }
    {
        let mut ring = Ring::new(&q, 2).unwrap();
        assert_eq!(ring.wait(8, None).unwrap(), 2);
        assert!(ring.overflowed());
        assert_eq!(errno(&ring.wait(8, None).unwrap_err()), libc::ENOSPC);
        assert_eq!(ring.drain().count(), 2);
        assert_eq!(ring.wait(8, None).unwrap(), 2);
        // Dropped with 2 undrained events: detached and freed.
    }
    // A new ring works; kevent_get_events sees the rest.
    let _ring = Ring::new(&q, 8).unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 1);
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
fn many_threads_trigger_one_waiter_counts_all() {
    if !kevent_here() {
        return;
    }
    let q = Arc::new(Queue::new().unwrap());
    let ids: Vec<_> = (0..8).map(Interest::user).collect();
    q.add(&ids).unwrap().check().unwrap();
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
        q.wait(&mut ev, 1, Some(100 * MS)).unwrap();
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
fn tokio_async_fd_sees_the_queue() {
    if !kevent_here() {
        return;
    }
    use tokio::io::unix::AsyncFd;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let q = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK).unwrap();
        q.add(&[Interest::timer(1, 20 * MS)])
            .unwrap()
            .check()
            .unwrap();
        // SAFETY: the Queue owns its fd and keeps it until dropped.
        let q =
            unsafe { AsyncFd::register_with_interest(q, tokio::io::Interest::READABLE) }.unwrap();
        let mut ev = Events::with_capacity(4);
        // Nothing yet: a non-blocking read would block.
        assert_eq!(
            q.get_ref().read_events(&mut ev).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let start = Instant::now();
        let n = tokio::time::timeout(LONG, async {
            loop {
                let mut guard = q.readable().await.unwrap();
                if let Ok(r) = guard.try_io(|q| q.get_ref().read_events(&mut ev)) {
                    return r.unwrap();
                }
            }
        })
        .await
        .expect("the queue never became readable");
        assert_eq!(n, 1);
        assert!(start.elapsed() >= 15 * MS);
    });
}

#[test]
fn fd_round_trips_and_buffers() {
    if !kevent_here() {
        return;
    }
    use std::os::fd::IntoRawFd;
    let q = Queue::new().unwrap();
    q.add(&[Interest::user(1)]).unwrap().check().unwrap();
    let raw = q.into_raw_fd();
    // SAFETY: `raw` is the queue we just released, owned by nothing else.
    let q = unsafe { Queue::from_raw_fd(raw) };
    q.trigger(1).unwrap();
    let mut ev = Events::with_capacity(3);
    assert_eq!(ev.capacity(), 3);
    assert!(ev.is_empty());
    assert_eq!(q.wait(&mut ev, 1, None).unwrap(), 1);
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
fn ring_copy_dropped_in_child_keeps_parents_ring() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    q.add(&[Interest::user(1)]).unwrap().check().unwrap();
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
    assert_eq!(ring.wait(4, Some(Duration::from_secs(10))).unwrap(), 1);
    assert_eq!(ring.drain().count(), 1);
    assert_eq!(errno(&Ring::new(&q, 4).unwrap_err()), libc::EBUSY);
}
