//! Integration tests against a kernel with kevent. `ci/test.sh` runs them
//! inside the patched debug kernel (through `selftests/vm-suite.sh`) with
//! `KEVENT_REQUIRE=1`, where a missing kevent fails them; on a host
//! without kevent they return early.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kevent::{Events, Interest, Kind, PollFlags, Queue, Ring};

/// Whether to run: kevent present, or fail loudly where it is required.
fn kevent_here() -> bool {
    if kevent::is_supported() {
        return true;
    }
    assert!(
        std::env::var_os("KEVENT_REQUIRE").is_none(),
        "KEVENT_REQUIRE is set but this kernel has no kevent"
    );
    eprintln!("skipped: no kevent in this kernel");
    false
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

#[test]
fn queue_is_an_owned_cloexec_fd() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let fd = q.as_fd().as_raw_fd();
    assert_eq!(q.as_raw_fd(), fd);
    // SAFETY: F_GETFD on our own descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    let owned: std::os::fd::OwnedFd = q.into();
    assert_eq!(owned.as_raw_fd(), fd);
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
            let n = q.wait(&mut ev, 1, Some(Duration::from_secs(10))).unwrap();
            assert_eq!(n, 1);
            let e = ev.iter().next().unwrap();
            (e.kind(), e.id(), e.user_data(), e.count())
        })
    };
    thread::sleep(Duration::from_millis(100));
    q.trigger(7).unwrap();
    assert_eq!(waiter.join().unwrap(), (Kind::User, 7, 70, 1));
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
    q.add(&[Interest::timer(1, Duration::from_millis(5))])
        .unwrap()
        .check()
        .unwrap();
    thread::sleep(Duration::from_millis(40));
    let mut ev = Events::with_capacity(4);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::from_secs(5))).unwrap(), 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.kind(), Kind::Timer);
    assert!(e.count() >= 4, "count {}", e.count());
    // Oneshot: once, then gone.
    q.add(&[Interest::timer(2, Duration::from_millis(1)).oneshot()])
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
    let r = q
        .remove(&[Interest::timer(2, Duration::from_millis(1))])
        .unwrap();
    assert_eq!(errno(r.results()[0].as_ref().unwrap_err()), libc::ENOENT);
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
    assert_eq!(q.wait(&mut ev, 2, Some(Duration::from_secs(5))).unwrap(), 2);
    for e in &ev {
        assert!(e.readiness().contains(PollFlags::IN));
    }
    // Level: b is still readable; edge: d is not reported again.
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(ev.iter().next().unwrap().user_data(), 1);
    // Modify to oneshot: reported once, then removed.
    q.modify(&[Interest::poll(b.as_fd(), PollFlags::IN).oneshot()])
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::from_secs(5))).unwrap(), 1);
    assert_eq!(q.wait(&mut ev, 1, Some(Duration::ZERO)).unwrap(), 0);
    let r = q
        .remove(&[Interest::poll(b.as_fd(), PollFlags::IN)])
        .unwrap();
    assert_eq!(errno(r.results()[0].as_ref().unwrap_err()), libc::ENOENT);
    let mut buf = [0; 1];
    (&b).read_exact(&mut buf).unwrap();
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
            Interest::user(1),                                   // EEXIST
            Interest::poll_raw(-1, PollFlags::IN),               // EBADF
            Interest::timer(3, Duration::from_millis(1)).edge(), // EINVAL
            Interest::timer(4, Duration::from_nanos(10)),        // EINVAL: < 1 us
            Interest::user(5),
        ])
        .unwrap();
    let codes: Vec<i32> = r
        .results()
        .iter()
        .map(|r| r.as_ref().err().map_or(0, errno))
        .collect();
    assert_eq!(
        codes,
        [0, libc::EEXIST, libc::EBADF, libc::EINVAL, libc::EINVAL, 0]
    );
    assert!(r.check().is_err());
    let r = q
        .remove(&[Interest::user(1), Interest::user(2), Interest::user(5)])
        .unwrap();
    assert!(r.results()[0].is_ok() && r.results()[2].is_ok());
    assert_eq!(errno(r.results()[1].as_ref().unwrap_err()), libc::ENOENT);
}

#[test]
fn nonblocking_queue_would_block() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new_nonblocking().unwrap();
    let mut ev = Events::with_capacity(1);
    let e = q.wait(&mut ev, 1, None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    let e = q.wait(&mut Events::with_capacity(0), 1, None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn deadlines_are_absolute() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let now = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    let start = Instant::now();
    let mut ev = Events::with_capacity(1);
    assert_eq!(q.wait_deadline(&mut ev, 1, now + 50_000_000).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(40));
}

#[test]
fn ring_round_trips_and_wraps() {
    if !kevent_here() {
        return;
    }
    let q = Queue::new().unwrap();
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
            assert_eq!(e.count(), 1);
            total += e.id();
        }
        assert!(ring.is_empty());
    }
    assert_eq!(
        total,
        (0..500u64).map(|l| (1..=1 + l % 3).sum::<u64>()).sum()
    );
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
        q.wait(&mut ev, 1, Some(Duration::from_millis(100)))
            .unwrap();
        seen += ev.iter().map(|e| u64::from(e.count())).sum::<u64>();
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
        let q = Queue::new_nonblocking().unwrap();
        q.add(&[Interest::timer(1, Duration::from_millis(20))])
            .unwrap()
            .check()
            .unwrap();
        // SAFETY: the Queue owns its fd and keeps it until dropped.
        let q =
            unsafe { AsyncFd::register_with_interest(q, tokio::io::Interest::READABLE) }.unwrap();
        let mut ev = Events::with_capacity(4);
        // Nothing yet: a non-blocking wait would block.
        assert_eq!(
            q.get_ref().wait(&mut ev, 1, None).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let start = Instant::now();
        let n = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut guard = q.readable().await.unwrap();
                if let Ok(r) = guard.try_io(|q| q.get_ref().wait(&mut ev, 1, None)) {
                    return r.unwrap();
                }
            }
        })
        .await
        .expect("the queue never became readable");
        assert_eq!(n, 1);
        assert!(start.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn fd_round_trips_and_buffers() {
    if !kevent_here() {
        return;
    }
    use std::os::fd::{FromRawFd, IntoRawFd};
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
