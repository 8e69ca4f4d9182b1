//! Waking a queue's waiter from another thread.

#[cfg(doc)]
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Command, Error};
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
/// allocates nothing. Dropping the waker leaves its user kevent in the
/// queue (the id may be someone else's by then, so it is not removed
/// blindly): to make a new `Waker` with the same token, first
/// [`Queue::remove`] `Key::user(token.0)`, or a second `Waker::new` fails
/// with `EEXIST`.
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
    ///
    /// # Errors
    ///
    /// The add's ([`Queue::add`]: `EEXIST` if the id is taken), or
    /// `EMFILE`/`ENFILE` from duplicating the queue's descriptor (then the
    /// kevent is removed again).
    pub fn new(queue: &Queue, token: Token) -> Result<Self, Error> {
        queue.add(Kevent::user(token.0).token(token))?;
        let fd = match queue.as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                let _ = queue.remove(Key::user(token.0));
                return Err(Error::io(Command::Add, Some(Key::user(token.0)), None, e));
            }
        };
        Ok(Waker { fd, id: token.0 })
    }

    /// Wakes the queue: its user kevent becomes ready.
    ///
    /// # Errors
    ///
    /// After the waker's kevent was removed ([`Queue::remove`] of
    /// `Key::user(token.0)`), every wake fails with `ENOENT`
    /// ([`io::ErrorKind::NotFound`]) and wakes nobody: the waker does not
    /// add the kevent back, since the id may be someone else's by then.
    /// Make a new `Waker` to wake that queue again. If a later
    /// `Kevent::user` with the same id was added, the wake triggers that
    /// one (the key is all the kernel knows). Otherwise the entry's own
    /// error, or `Interrupted` if the kernel processed no entry, as
    /// [`Queue::trigger`] reports them. Dropping the `Queue` does not make
    /// wakes fail: the waker's duplicate keeps the queue alive.
    pub fn wake(&self) -> Result<(), Error> {
        ctl_one(self.fd.as_fd(), Command::Trigger, Key::user(self.id).raw())
    }
}
