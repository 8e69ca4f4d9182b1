//! Per-call costs, with criterion: adding and removing a watch, a wait
//! that finds nothing, and taking 64 ready events. Run it in the patched
//! kernel (`ci/main.sh` does, and folds the results into its report):
//!
//! ```text
//! cargo bench -p kevent-benches --no-run      # then, in the VM:
//! CRITERION_HOME=DIR target/release/deps/per_call-* --bench
//! ```

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use io_uring::{opcode, types, IoUring};
use kevent::{Events, Kevent, Key, PollFlags, Queue, Ring, Wait};

fn check(ret: libc::c_int) -> libc::c_int {
    assert!(ret >= 0, "{}", std::io::Error::last_os_error());
    ret
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: a descriptor just created, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(check(fd)) }
}

fn epoll() -> OwnedFd {
    // SAFETY: plain system call.
    owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// An eventfd, readable (level-triggered ready) when `ready`.
fn eventfd(ready: bool) -> OwnedFd {
    // SAFETY: plain system call.
    owned(unsafe { libc::eventfd(u32::from(ready), libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
}

fn epoll_ctl(epfd: RawFd, op: libc::c_int, fd: RawFd) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: `ev` lives across the call.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) });
}

fn epoll_wait(epfd: RawFd, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
    // SAFETY: `events` has room for its length.
    check(unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, timeout_ms) })
        as usize
}

/// One watch added and removed again; and 64 of them, in batches where
/// the mechanism has batches.
fn ctl(c: &mut Criterion) {
    let fds: Vec<OwnedFd> = (0..64).map(|_| eventfd(false)).collect();
    for (group, n) in [("ctl_add_remove_1", 1), ("ctl_add_remove_64", 64)] {
        let mut g = c.benchmark_group(group);
        let fds = &fds[..n];
        let ep = epoll();
        g.bench_function("epoll", |b| {
            b.iter(|| {
                for fd in fds {
                    epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd());
                }
                for fd in fds {
                    epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd());
                }
            })
        });
        let q = Queue::new().expect("kevent");
        let interests: Vec<Kevent> = fds
            .iter()
            .map(|fd| Kevent::poll(fd.as_fd(), PollFlags::IN))
            .collect();
        let keys: Vec<Key> = interests.iter().map(Kevent::key).collect();
        g.bench_function("kevent", |b| {
            b.iter(|| {
                q.add_all(&interests).unwrap().check().unwrap();
                q.remove_all(&keys).unwrap().check().unwrap();
            })
        });
        let mut ring = IoUring::new(128).unwrap();
        g.bench_function("io_uring", |b| {
            b.iter(|| {
                for (i, fd) in fds.iter().enumerate() {
                    let add = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), libc::POLLIN as u32)
                        .build()
                        .user_data(i as u64);
                    let remove = opcode::PollRemove::new(i as u64)
                        .build()
                        .user_data(u64::MAX);
                    // SAFETY: the requests refer to no memory.
                    unsafe {
                        ring.submission().push(&add).unwrap();
                        ring.submission().push(&remove).unwrap();
                    }
                }
                ring.submit_and_wait(2 * n).unwrap();
                ring.completion().for_each(drop);
            })
        });
        g.finish();
    }
}

/// A wait with a zero timeout that finds nothing.
fn empty_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("empty_wait");
    let ep = epoll();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    g.bench_function("epoll", |b| {
        b.iter(|| assert_eq!(epoll_wait(ep.as_raw_fd(), &mut events, 0), 0))
    });
    let q = Queue::new().expect("kevent");
    let mut kevents = Events::with_capacity(64);
    g.bench_function("kevent", |b| {
        b.iter(|| assert_eq!(q.wait(&mut kevents, Some(Duration::ZERO)).unwrap(), 0))
    });
    let q2 = Queue::new().expect("kevent");
    let mut ring = Ring::new(&q2, 64).unwrap();
    g.bench_function("kevent-ring", |b| {
        b.iter(|| assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 0))
    });
    let mut uring = IoUring::new(8).unwrap();
    // io_uring's check for completions is a load from shared memory, no
    // system call; this is that check.
    g.bench_function("io_uring", |b| {
        b.iter(|| assert!(uring.completion().is_empty()))
    });
    g.finish();
}

/// 64 level-triggered ready watches, reported in one call (and, for the
/// ring, drained).
fn ready_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("ready_64");
    let fds: Vec<OwnedFd> = (0..64).map(|_| eventfd(true)).collect();
    let ep = epoll();
    for fd in &fds {
        epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd());
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    g.bench_function("epoll", |b| {
        b.iter(|| assert_eq!(epoll_wait(ep.as_raw_fd(), &mut events, 0), 64))
    });
    let interests: Vec<Kevent> = fds
        .iter()
        .map(|fd| Kevent::poll(fd.as_fd(), PollFlags::IN))
        .collect();
    let q = Queue::new().expect("kevent");
    q.add_all(&interests).unwrap().check().unwrap();
    let mut kevents = Events::with_capacity(64);
    g.bench_function("kevent", |b| {
        b.iter(|| {
            assert_eq!(
                q.wait_with(&mut kevents, &Wait::timeout(Duration::ZERO).min(64))
                    .unwrap(),
                64
            )
        })
    });
    let q2 = Queue::new().expect("kevent");
    q2.add_all(&interests).unwrap().check().unwrap();
    let mut ring = Ring::new(&q2, 64).unwrap();
    g.bench_function("kevent-ring", |b| {
        b.iter(|| {
            assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 64);
            assert_eq!(ring.drain().count(), 64);
        })
    });
    g.finish();
}

criterion_group!(benches, ctl, empty_wait, ready_64);
criterion_main!(benches);
