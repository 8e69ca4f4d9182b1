//! kevent readiness: a level-triggered `KEVENT_SOCKET` kevent (receive
//! readiness, reported from the socket's state without `->poll()` for
//! TCP) or `KEVENT_POLL` kevent per connection, through the kevent crate;
//! a ready connection gets one `recv()` and a `send()`, as with epoll.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use kevent::{Events, Kevent, PollFlags, Queue, SocketEvents};

use crate::server::{echo_ready, Calls, BATCH, BUF};

pub fn serve(conns: Vec<OwnedFd>, mut calls: Calls, socket: bool) -> io::Result<()> {
    let queue = Queue::new()?;
    let interests: Vec<Kevent<'_>> = conns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if socket {
                Kevent::socket(c.as_fd(), SocketEvents::RECV)
            } else {
                Kevent::poll(c.as_fd(), PollFlags::IN)
            }
            .user_data(i as u64)
        })
        .collect();
    queue.add_all(&interests)?.check()?;
    drop(interests);
    let mut live = conns.len();
    let mut conns: Vec<Option<OwnedFd>> = conns.into_iter().map(Some).collect();
    let mut events = Events::with_capacity(BATCH);
    let mut buf = vec![0u8; BUF];
    while live > 0 {
        calls.n += 1;
        match queue.wait(&mut events, None) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let i = ev.user_data() as usize;
            let Some(fd) = conns[i].as_ref().map(|c| c.as_raw_fd()) else {
                continue;
            };
            if !echo_ready(fd, &mut buf, &mut calls)? {
                // The kevent goes away with the socket's last close.
                conns[i] = None;
                live -= 1;
            }
        }
        calls.publish();
    }
    calls.publish();
    Ok(())
}
