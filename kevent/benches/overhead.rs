//! The crate's cost per call over the raw `kevent-sys` calls: the same
//! system call made through `Queue` and straight through `kevent_sys`,
//! side by side. The difference is what the safe API adds (probe check,
//! request building, result decoding); the system call itself dominates
//! both. Needs the kevent kernel (the VM):
//!
//! ```text
//! cargo bench -p kevent --bench overhead --no-run   # then, in the VM:
//! target/release/deps/overhead-* --bench
//! ```
//!
//! On a kernel without kevent it prints why and exits 0.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kevent::{Events, Kevent, Key, PollFlags, Queue, Ring};
use kevent_sys as sys;

fn eventfd(ready: bool) -> OwnedFd {
    // SAFETY: plain system call; the new descriptor is owned here.
    let fd = unsafe { libc::eventfd(u32::from(ready), libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: just created, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// One raw `kevent_ctl` of one entry; panics on any error.
fn raw_ctl(q: &Queue, cmd: u32, uk: sys::ukevent) {
    let mut uk = [uk];
    // SAFETY: kevent is here (the queue exists); one ukevent we own.
    let n = unsafe { sys::kevent_ctl(q.as_raw_fd(), cmd, 1, uk.as_mut_ptr()) }.unwrap();
    assert!(n == 1 && uk[0].ret_flags & sys::KEVENT_RET_BROKEN == 0);
}

fn ctl(c: &mut Criterion) {
    let q = Queue::new().unwrap();
    let fd = eventfd(false);
    let mut g = c.benchmark_group("add_remove_poll");
    g.bench_function("raw", |b| {
        let add = sys::ukevent {
            id: fd.as_raw_fd() as u64,
            type_: sys::KEVENT_POLL,
            event: libc::EPOLLIN as u32,
            ..Default::default()
        };
        let remove = sys::ukevent {
            id: fd.as_raw_fd() as u64,
            type_: sys::KEVENT_POLL,
            ..Default::default()
        };
        b.iter(|| {
            raw_ctl(&q, sys::KEVENT_CTL_ADD, black_box(add));
            raw_ctl(&q, sys::KEVENT_CTL_REMOVE, black_box(remove));
        })
    });
    g.bench_function("crate", |b| {
        b.iter(|| {
            q.add(black_box(Kevent::poll(fd.as_fd(), PollFlags::IN)))
                .unwrap();
            q.remove(black_box(Key::poll(fd.as_raw_fd()))).unwrap();
        })
    });
    g.bench_function("crate_batch_of_1", |b| {
        let k = [Kevent::poll(fd.as_fd(), PollFlags::IN)];
        let key = [Key::poll(fd.as_raw_fd())];
        b.iter(|| {
            q.add_all(black_box(&k)).unwrap().check().unwrap();
            q.remove_all(black_box(&key)).unwrap().check().unwrap();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("trigger");
    q.add(Kevent::user(1)).unwrap();
    g.bench_function("raw", |b| {
        let uk = sys::ukevent {
            id: 1,
            type_: sys::KEVENT_USER,
            ..Default::default()
        };
        b.iter(|| raw_ctl(&q, sys::KEVENT_CTL_READY, black_box(uk)))
    });
    g.bench_function("crate", |b| b.iter(|| q.trigger(black_box(1)).unwrap()));
    g.finish();
}

fn wait(c: &mut Criterion) {
    let q = Queue::new().unwrap();
    let mut g = c.benchmark_group("empty_wait");
    let args = sys::kevent_wait_args {
        timeout_ns: 0,
        min_nr: 1,
        ..Default::default()
    };
    let mut raw = vec![sys::kevent_event::default(); 64];
    g.bench_function("raw", |b| {
        b.iter(|| {
            // SAFETY: kevent is here; 64 events of room; args on the stack.
            let n = unsafe {
                sys::kevent_get_events(
                    q.as_raw_fd(),
                    raw.as_mut_ptr(),
                    64,
                    &args,
                    sys::KEVENT_WAIT_ARGS_SIZE,
                )
            };
            assert_eq!(n, Ok(0));
        })
    });
    let mut events = Events::with_capacity(64);
    g.bench_function("crate", |b| {
        b.iter(|| assert_eq!(q.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0))
    });
    g.finish();

    // 64 ready level-triggered kevents, reported and iterated.
    let fds: Vec<OwnedFd> = (0..64).map(|_| eventfd(true)).collect();
    let q = Queue::new().unwrap();
    for fd in &fds {
        q.add(Kevent::poll(fd.as_fd(), PollFlags::IN)).unwrap();
    }
    let mut g = c.benchmark_group("ready_64");
    g.bench_function("raw", |b| {
        b.iter(|| {
            // SAFETY: as above.
            let n = unsafe {
                sys::kevent_get_events(
                    q.as_raw_fd(),
                    raw.as_mut_ptr(),
                    64,
                    &args,
                    sys::KEVENT_WAIT_ARGS_SIZE,
                )
            }
            .unwrap();
            raw[..n as usize].iter().map(|e| e.id).sum::<u64>()
        })
    });
    g.bench_function("crate", |b| {
        b.iter(|| {
            q.wait(&mut events, Some(Duration::ZERO)).unwrap();
            events.iter().map(|e| e.id()).sum::<u64>()
        })
    });
    g.finish();

    // The ring: wait plus drain of 64 events.
    let q2 = Queue::new().unwrap();
    for fd in &fds {
        q2.add(Kevent::poll(fd.as_fd(), PollFlags::IN)).unwrap();
    }
    let mut ring = Ring::new(q2, 64).unwrap();
    let mut g = c.benchmark_group("ring_64");
    g.bench_function("crate", |b| {
        b.iter(|| {
            ring.wait(Some(Duration::ZERO)).unwrap();
            ring.drain().map(|e| e.id()).sum::<u64>()
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    if let Err(e) = kevent::features() {
        eprintln!("overhead: skipped: {e}");
        return;
    }
    ctl(c);
    wait(c);
}

criterion_group!(overhead, benches);
criterion_main!(overhead);
