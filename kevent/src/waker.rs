//! Waking a queue's waiter from another thread.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use kevent_sys as sys;

use crate::interest::{Kevent, Key, Token};
use crate::queue::{ctl_one, Queue};

/// Wakes a thread waiting on a [`Queue`], from any thread: a user kevent
/// with its own handle on the queue, as mio's `Waker`.
///
/// [`Waker::new`] adds the user kevent `Kevent::user(token.0)` with
/// `token`; each [`wake`](Waker::wake) makes it ready, and the waiter sees
/// one event with that token (wakes merge until reported, the count says
/// how many). The waker holds a duplicate of the queue's descriptor, so it
/// is `Send + Sync + 'static` and outlives a borrow of the queue; waking
/// allocates nothing.
///
/// ```no_run
/// use std::time::Duration;
/// use kevent::{Events, Queue, Token, Waker};
///
/// let queue = Queue::new()?;
/// let waker = Waker::new(&queue, Token(99))?;
/// std::thread::spawn(move || waker.wake());
/// let mut events = Events::with_capacity(8);
/// queue.wait(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(99)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    id: u64,
}

impl Waker {
    /// Adds the user kevent `token.0` to `queue`, reporting `token`.
    ///
    /// The waker's id shares the queue's `Kevent::user` ids: a collision
    /// is detected both ways by the kernel's `EEXIST` on ADD (this call
    /// fails if the id is taken; a later `queue.add(Kevent::user(id))`
    /// fails while the waker's kevent is there). Only an ADD with
    /// [`Kevent::update`] or a [`Queue::modify`] of that key can take it
    /// over, and a [`Queue::remove`] of it makes [`wake`](Self::wake) fail
    /// with `ENOENT`: keep the waker's token out of your own user ids.
    pub fn new(queue: &Queue, token: Token) -> io::Result<Self> {
        queue.add(Kevent::user(token.0).token(token))?;
        let fd = match queue.as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                let _ = queue.remove(Key::user(token.0));
                return Err(e);
            }
        };
        Ok(Waker { fd, id: token.0 })
    }

    /// Wakes the queue: its user kevent becomes ready.
    ///
    /// # Errors
    ///
    /// The entry's own error (`ENOENT` if the user kevent was removed), or
    /// `Interrupted` if the kernel processed no entry; as
    /// [`Queue::trigger`] reports them.
    pub fn wake(&self) -> io::Result<()> {
        ctl_one(
            self.fd.as_fd(),
            sys::KEVENT_CTL_READY,
            Key::user(self.id).raw(),
        )
    }
}
