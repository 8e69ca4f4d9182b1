//! A descriptor watched by a queue, removed from it before it closes.

use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr;

use crate::error::Error;
use crate::flags::PollFlags;
use crate::interest::{Key, Token};
use crate::queue::Queue;
use crate::ring::QueueRef;

/// A descriptor (`F`: a socket, a pipe, an `OwnedFd`, or a reference to
/// one) with a poll kevent on a queue, made by [`Queue::register`] or
/// [`Registered::new`].
///
/// The registration holds its queue as `Q`, any handle the sealed
/// [`QueueRef`] allows: a `&Queue` (what [`Queue::register`] gives), an
/// `Arc<Queue>` (to move the registration into another thread or task,
/// or keep it in a struct without a lifetime), or the [`Queue`] itself.
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
///
/// With a shared queue:
///
/// ```no_run
/// use std::os::unix::net::UnixStream;
/// use std::sync::Arc;
/// use kevent::{PollFlags, Queue, Registered, Token};
///
/// let queue = Arc::new(Queue::new()?);
/// let (a, b) = UnixStream::pair()?;
/// let b: Registered<UnixStream, Arc<Queue>> =
///     Registered::new(Arc::clone(&queue), b, PollFlags::IN, Token(1))?;
/// std::thread::spawn(move || drop(b)).join().unwrap(); // removed there
/// # drop(a);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Registered<F: AsFd, Q: QueueRef> {
    fd: ManuallyDrop<F>,
    /// Dropped after `Drop::drop` removed the kevent and dropped `fd`.
    queue: Q,
}

impl<F: AsFd, Q: QueueRef> Registered<F, Q> {
    /// Watches `fd` on `queue` as [`Queue::add_fd`] does, and returns the
    /// guard that removes the kevent before `fd` is dropped.
    ///
    /// # Errors
    ///
    /// As [`Queue::add_fd`]; `fd` and `queue` are then dropped.
    pub fn new(queue: Q, fd: F, events: PollFlags, token: Token) -> Result<Self, Error> {
        queue.queue().add_fd(&fd, events, token)?;
        Ok(Registered {
            fd: ManuallyDrop::new(fd),
            queue,
        })
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
    pub fn queue(&self) -> &Queue {
        self.queue.queue()
    }

    /// The kevent's key.
    pub fn key(&self) -> Key {
        Key::poll(self.fd.as_fd().as_raw_fd())
    }

    /// Changes what the descriptor is watched for, and its token.
    pub fn modify(&self, events: PollFlags, token: Token) -> Result<(), Error> {
        self.queue().modify_fd(&*self.fd, events, token)
    }

    /// Removes the kevent and gives the descriptor back. If the removal
    /// fails (`ENOENT`: a oneshot kevent that fired, or one removed by
    /// key meanwhile), the error is returned and the descriptor dropped.
    pub fn deregister(self) -> Result<F, Error> {
        let result = self.queue().remove(self.key());
        let (fd, _queue) = self.into_parts();
        result.map(|()| fd)
    }

    /// The descriptor and the queue, without removing the kevent.
    fn into_parts(self) -> (F, Q) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so each field is read out
        // exactly once and `Drop` does not run.
        let fd = unsafe { ManuallyDrop::take(&mut this.fd) };
        // SAFETY: as above.
        let queue = unsafe { ptr::read(&this.queue) };
        (fd, queue)
    }
}

impl<F: AsFd, Q: QueueRef> AsFd for Registered<F, Q> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<F: AsFd, Q: QueueRef> Drop for Registered<F, Q> {
    fn drop(&mut self) {
        // Removed by number while the number is still ours; ENOENT (it was
        // ONESHOT, or modified away) is fine.
        let _ = self.queue().remove(self.key());
        // SAFETY: dropped once, here, after the removal.
        unsafe { ManuallyDrop::drop(&mut self.fd) };
    }
}
