//! Level-triggered epoll: every connection watched for input; a ready
//! one gets one `recv()` and a `send()` of what came.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::server::{cvt, echo_ready, Calls, BATCH, BUF};

/// One `epoll_wait()` into `events`, waiting forever: the events
/// reported, or `None` if a signal interrupted the wait.
pub fn wait<'a>(
    ep: i32,
    events: &'a mut [libc::epoll_event],
    calls: &mut Calls,
) -> io::Result<Option<&'a [libc::epoll_event]>> {
    calls.n += 1;
    // SAFETY: events has room for its length.
    let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as libc::c_int, -1) };
    match cvt(n) {
        Ok(n) => Ok(Some(&events[..n as usize])),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn serve(conns: Vec<OwnedFd>, mut calls: Calls) -> io::Result<()> {
    // SAFETY: a new descriptor that we own.
    let ep = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
    for (i, c) in conns.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: ev is ours; both descriptors are open.
        cvt(unsafe {
            libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, c.as_raw_fd(), &mut ev)
        })?;
    }
    let mut live = conns.len();
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
    let mut buf = vec![0u8; BUF];
    while live > 0 {
        let Some(ready) = wait(ep.as_raw_fd(), &mut events, &mut calls)? else {
            continue;
        };
        for ev in ready {
            let i = ev.u64 as usize;
            let Some(fd) = conns[i].as_ref().map(|c| c.as_raw_fd()) else {
                continue;
            };
            if !echo_ready(fd, &mut buf, &mut calls)? {
                // Closing the last descriptor of the socket removes it
                // from the epoll set.
                conns[i] = None;
                live -= 1;
            }
        }
        calls.publish();
    }
    calls.publish();
    Ok(())
}
