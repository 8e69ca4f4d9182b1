//! Per-call costs, with criterion: adding and removing a watch, a wait
//! that finds nothing, and taking 64 ready events. The `kevent` and
//! `kevent-ring` rows make the raw system calls (kevent-sys), as the epoll
//! rows do through libc; the `kevent-crate` and `kevent-ring-crate` rows
//! go through the kevent crate, so its own cost shows as their difference.
//! The `kqueue` rows call libkqueue's `kevent()` (kqueue/, on the same
//! kernel queue), so the library's cost shows against `kevent`.
//! Run it in the patched kernel (`ci/main.sh` does, and folds the results
//! into its report):
//!
//! ```text
//! cargo bench -p kevent-benches --no-run      # then, in the VM:
//! CRITERION_HOME=DIR target/release/deps/per_call-* --bench
//! ```

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use io_uring::{opcode, types, IoUring};
use kevent::{Events, Kevent, Key, PollFlags, Queue, Ring, Wait};
use kevent_sys as sys;

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

/// A raw poll request for `fd` (POLLIN, user data the fd), as the crate
/// would build it.
fn raw_poll(fd: RawFd) -> sys::ukevent {
    sys::ukevent {
        id: fd as u64,
        type_: sys::KEVENT_POLL,
        event: libc::POLLIN as u32,
        user_data: fd as u64,
        ..Default::default()
    }
}

/// One raw `kevent_ctl(cmd)` over `batch`; panics unless every entry was
/// processed without error (the work the crate's `check()` does).
fn raw_ctl(q: RawFd, cmd: u32, batch: &mut [sys::ukevent]) {
    // SAFETY: the probe ran (Queue::new); `batch` is ours, read and
    // written by the kernel during the call only.
    let done = unsafe { sys::kevent_ctl(q, cmd, batch.len() as u32, batch.as_mut_ptr()) };
    assert_eq!(done, Ok(batch.len() as u32));
    for uk in batch.iter() {
        assert_eq!(
            uk.ret_flags & sys::KEVENT_RET_BROKEN,
            0,
            "{:?}",
            uk.ret_data
        );
    }
}

/// Zero-timeout wait arguments.
fn no_wait(min_nr: u32) -> sys::kevent_wait_args {
    sys::kevent_wait_args {
        timeout_ns: 0,
        min_nr,
        ..Default::default()
    }
}

/// `kevent_get_events()` through kevent-sys, no crate: up to
/// `events.len()` events of `q`, waiting as `args` says.
fn raw_get_events(
    q: &Queue,
    events: &mut [sys::kevent_event],
    args: &sys::kevent_wait_args,
) -> sys::Result<u32> {
    // SAFETY: the probe ran (Queue::new); `events` has room for its
    // length and `args` is a whole kevent_wait_args.
    unsafe {
        sys::kevent_get_events(
            q.as_raw_fd(),
            events.as_mut_ptr(),
            events.len() as u32,
            args,
            sys::KEVENT_WAIT_ARGS_SIZE,
        )
    }
}

/// One watch added and removed again; and 64 of them, in batches where
/// the mechanism has batches (kevent: one `kevent_ctl` each way).
/// A new kqueue (libkqueue).
fn kq() -> OwnedFd {
    owned(check(kqueue::kqueue()))
}

/// libkqueue's `kevent()` with a zero timeout; returns the event count.
fn kq_call(kq: RawFd, changes: &[kqueue::Kevent], events: &mut [kqueue::Kevent]) -> usize {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let evp = if events.is_empty() {
        std::ptr::null_mut()
    } else {
        events.as_mut_ptr()
    };
    // SAFETY: both lists are live slices of their lengths (a null event
    // list only with a count of 0); `zero` outlives the call.
    let n = unsafe {
        kqueue::kevent(
            kq,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            evp,
            events.len() as libc::c_int,
            &zero,
        )
    };
    check(n) as usize
}

/// `EVFILT_READ` changes with `flags` for `fds`.
fn kq_changes(fds: &[OwnedFd], flags: u16) -> Vec<kqueue::Kevent> {
    fds.iter()
        .map(|fd| {
            let fd = fd.as_raw_fd() as usize;
            kqueue::Kevent::new(fd, kqueue::abi::EVFILT_READ, flags, 0, 0, fd)
        })
        .collect()
}

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
        let mut adds: Vec<sys::ukevent> = fds.iter().map(|fd| raw_poll(fd.as_raw_fd())).collect();
        let mut removes = adds.clone();
        g.bench_function("kevent", |b| {
            b.iter(|| {
                raw_ctl(q.as_raw_fd(), sys::KEVENT_CTL_ADD, &mut adds);
                raw_ctl(q.as_raw_fd(), sys::KEVENT_CTL_REMOVE, &mut removes);
            })
        });
        let interests: Vec<Kevent> = fds
            .iter()
            .map(|fd| Kevent::poll(fd.as_fd(), PollFlags::IN).user_data(fd.as_raw_fd() as u64))
            .collect();
        let keys: Vec<Key> = interests.iter().map(Kevent::key).collect();
        g.bench_function("kevent-crate", |b| {
            b.iter(|| {
                q.add_all(&interests).unwrap().check().unwrap();
                q.remove_all(&keys).unwrap().check().unwrap();
            })
        });
        let k = kq();
        let (adds, deletes) = (
            kq_changes(fds, kqueue::abi::EV_ADD),
            kq_changes(fds, kqueue::abi::EV_DELETE),
        );
        g.bench_function("kqueue", |b| {
            b.iter(|| {
                kq_call(k.as_raw_fd(), &adds, &mut []);
                kq_call(k.as_raw_fd(), &deletes, &mut []);
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
    let mut raw_events = vec![sys::kevent_event::default(); 64];
    let args = no_wait(0);
    g.bench_function("kevent", |b| {
        b.iter(|| {
            let n = raw_get_events(&q, &mut raw_events, &args);
            assert_eq!(n, Ok(0));
        })
    });
    let mut kevents = Events::with_capacity(64);
    g.bench_function("kevent-crate", |b| {
        b.iter(|| assert_eq!(q.wait(&mut kevents, Some(Duration::ZERO)).unwrap(), 0))
    });
    let q2 = Queue::new().expect("kevent");
    let mut ring = Ring::new(&q2, 64).unwrap();
    g.bench_function("kevent-ring", |b| {
        b.iter(|| {
            // SAFETY: the probe ran; the ring registered on q2 lives
            // (`ring`); `args` is a whole kevent_wait_args.
            let n =
                unsafe { sys::kevent_wait(q2.as_raw_fd(), 64, &args, sys::KEVENT_WAIT_ARGS_SIZE) };
            assert_eq!(n, Ok(0));
        })
    });
    g.bench_function("kevent-ring-crate", |b| {
        b.iter(|| assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 0))
    });
    let k = kq();
    let mut kq_events = vec![kqueue::Kevent::new(0, 0, 0, 0, 0, 0); 64];
    g.bench_function("kqueue", |b| {
        b.iter(|| assert_eq!(kq_call(k.as_raw_fd(), &[], &mut kq_events), 0))
    });
    let mut uring = IoUring::new(8).unwrap();
    // io_uring's check for completions is a load from shared memory, no
    // system call; this is that check.
    g.bench_function("io_uring", |b| {
        b.iter(|| assert!(uring.completion().is_empty()))
    });
    g.finish();
}

/// 64 level-triggered ready watches, reported in one call, and each
/// reported event read (its user data summed), by every mechanism.
fn ready_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("ready_64");
    let fds: Vec<OwnedFd> = (0..64).map(|_| eventfd(true)).collect();
    let ep = epoll();
    for fd in &fds {
        epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd());
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    g.bench_function("epoll", |b| {
        b.iter(|| {
            assert_eq!(epoll_wait(ep.as_raw_fd(), &mut events, 0), 64);
            black_box(events.iter().map(|e| e.u64).sum::<u64>())
        })
    });
    let interests: Vec<Kevent> = fds
        .iter()
        .map(|fd| Kevent::poll(fd.as_fd(), PollFlags::IN).user_data(fd.as_raw_fd() as u64))
        .collect();
    let q = Queue::new().expect("kevent");
    q.add_all(&interests).unwrap().check().unwrap();
    let mut raw_events = vec![sys::kevent_event::default(); 64];
    let args = no_wait(64);
    g.bench_function("kevent", |b| {
        b.iter(|| {
            let n = raw_get_events(&q, &mut raw_events, &args);
            assert_eq!(n, Ok(64));
            black_box(raw_events.iter().map(|e| e.user_data).sum::<u64>())
        })
    });
    let mut kevents = Events::with_capacity(64);
    g.bench_function("kevent-crate", |b| {
        b.iter(|| {
            assert_eq!(
                q.wait_with(&mut kevents, &Wait::timeout(Duration::ZERO).min(64))
                    .unwrap(),
                64
            );
            black_box(kevents.iter().map(|e| e.user_data()).sum::<u64>())
        })
    });
    let q2 = Queue::new().expect("kevent");
    q2.add_all(&interests).unwrap().check().unwrap();
    let mut ring = Ring::new(&q2, 64).unwrap();
    g.bench_function("kevent-ring", |b| {
        b.iter(|| {
            // SAFETY: the probe ran; the ring registered on q2 lives
            // (`ring`); `args` is a whole kevent_wait_args.
            let n =
                unsafe { sys::kevent_wait(q2.as_raw_fd(), 64, &args, sys::KEVENT_WAIT_ARGS_SIZE) };
            assert_eq!(n, Ok(64));
            // The drain reads the ring's memory: no system call.
            black_box(ring.drain().map(|e| e.user_data()).sum::<u64>())
        })
    });
    g.bench_function("kevent-ring-crate", |b| {
        b.iter(|| {
            assert_eq!(ring.wait(Some(Duration::ZERO)).unwrap(), 64);
            black_box(ring.drain().map(|e| e.user_data()).sum::<u64>())
        })
    });
    let k = kq();
    kq_call(
        k.as_raw_fd(),
        &kq_changes(&fds, kqueue::abi::EV_ADD),
        &mut [],
    );
    let mut kq_events = vec![kqueue::Kevent::new(0, 0, 0, 0, 0, 0); 64];
    g.bench_function("kqueue", |b| {
        b.iter(|| {
            assert_eq!(kq_call(k.as_raw_fd(), &[], &mut kq_events), 64);
            black_box(kq_events.iter().map(|e| e.udata as usize).sum::<usize>())
        })
    });
    g.finish();
}

criterion_group!(benches, ctl, empty_wait, ready_64);
criterion_main!(benches);
