//! A descriptor watched by a queue, removed from it before it closes.

use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::error::Error;
use crate::flags::PollFlags;
use crate::interest::{Key, Token};
use crate::queue::Queue;

/// A descriptor (`F`: a socket, a pipe, an `OwnedFd`, or a reference to
/// one) with a poll kevent on a [`Queue`], made by [`Queue::register`].
///
/// Dropping it removes the kevent first, then drops `F` (closing it if `F`
/// owns the descriptor). So the kevent never outlives the registration,
/// even when a duplicate of the descriptor (`try_clone`, a forked child)
/// keeps the file open, and a later file with the same number can be added
/// again.
///
/// ```no_run
/// use std::net::TcpListener;
/// use kevent::{Events, PollFlags, Queue, Token};
///
/// let queue = Queue::new()?;
/// let listener = queue.register(TcpListener::bind("127.0.0.1:0")?, PollFlags::IN, Token(0))?;
/// let mut events = Events::with_capacity(8);
/// queue.wait(&mut events, Some(std::time::Duration::from_millis(10)))?;
/// let (_stream, _addr) = listener.get_ref().accept()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Registered<'q, F: AsFd> {
    queue: &'q Queue,
    fd: ManuallyDrop<F>,
}

impl<'q, F: AsFd> Registered<'q, F> {
    pub(crate) fn new(queue: &'q Queue, fd: F) -> Self {
        Registered {
            queue,
            fd: ManuallyDrop::new(fd),
        }
    }

    /// The descriptor.
    pub fn get_ref(&self) -> &F {
        &self.fd
    }

    /// The descriptor, mutably (e.g. to read from a socket). Do not close
    /// or replace it.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.fd
    }

    /// The queue.
    pub fn queue(&self) -> &'q Queue {
        self.queue
    }

    /// The kevent's key.
    pub fn key(&self) -> Key {
        Key::poll(self.fd.as_fd().as_raw_fd())
    }

    /// Changes what the descriptor is watched for, and its token.
    pub fn modify(&self, events: PollFlags, token: Token) -> Result<(), Error> {
        self.queue.modify_fd(&*self.fd, events, token)
    }

    /// Removes the kevent and gives the descriptor back. If the removal
    /// fails (`ENOENT`: a oneshot kevent that fired, or one removed by
    /// key meanwhile), the error is returned and the descriptor dropped.
    pub fn deregister(mut self) -> Result<F, Error> {
        let result = self.queue.remove(self.key());
        // SAFETY: `self` is forgotten right after, so `fd` is taken once
        // and never dropped by `Drop`.
        let fd = unsafe { ManuallyDrop::take(&mut self.fd) };
        std::mem::forget(self);
        result.map(|()| fd)
    }
}

impl<F: AsFd> AsFd for Registered<'_, F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<F: AsFd> Drop for Registered<'_, F> {
    fn drop(&mut self) {
        // Removed by number while the number is still ours; ENOENT (it was
        // ONESHOT, or modified away) is fine.
        let _ = self.queue.remove(self.key());
        // SAFETY: dropped once, here, after the removal.
        unsafe { ManuallyDrop::drop(&mut self.fd) };
    }
}
