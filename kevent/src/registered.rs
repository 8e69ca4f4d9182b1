//! A descriptor watched by a queue, removed from it before it closes.

use std::fmt;
use std::io;
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
    pub fn new(queue: Q, fd: F, events: PollFlags, token: impl Into<Token>) -> Result<Self, Error> {
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
    pub fn modify(&self, events: PollFlags, token: impl Into<Token>) -> Result<(), Error> {
        self.queue().modify_fd(&*self.fd, events, token)
    }

    /// Removes the kevent and gives the descriptor back.
    ///
    /// # Errors
    ///
    /// If the removal fails, nothing is dropped: the [`DeregisterError`]
    /// holds the error and this registration, still guarding the
    /// descriptor. `ENOENT` (a oneshot kevent that fired, or one removed
    /// by key meanwhile) means there is nothing left to remove:
    /// [`into_inner`](DeregisterError::into_inner) then gives the
    /// descriptor back.
    ///
    /// ```no_run
    /// use kevent::{PollFlags, Queue, Token};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let b = queue.register(b, PollFlags::IN, Token(1))?;
    /// queue.remove(b.key())?; // behind the guard's back
    /// let err = b.deregister().unwrap_err();
    /// assert_eq!(err.error().raw_os_error(), Some(libc::ENOENT));
    /// let b = err.into_inner(); // the socket, still open
    /// # drop((a, b));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deregister(self) -> Result<F, DeregisterError<F, Q>> {
        match self.queue().remove(self.key()) {
            Ok(()) => Ok(self.into_parts().0),
            Err(error) => Err(DeregisterError {
                error,
                registered: self,
            }),
        }
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

/// The error of [`Registered::deregister`]: the kevent's removal failed,
/// and the registration comes back with the error, so the descriptor is
/// neither lost nor closed (as [`std::io::IntoInnerError`] gives a
/// writer back).
///
/// It converts into a [`kevent::Error`](Error) or an [`io::Error`] (for
/// `?`), dropping the registration: its drop tries the removal once more
/// and closes the descriptor if `F` owns it.
pub struct DeregisterError<F: AsFd, Q: QueueRef> {
    error: Error,
    registered: Registered<F, Q>,
}

impl<F: AsFd, Q: QueueRef> DeregisterError<F, Q> {
    /// Why the removal failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The registration, still guarding the descriptor: to try again, or
    /// to drop.
    pub fn into_registered(self) -> Registered<F, Q> {
        self.registered
    }

    /// The descriptor, without the guard and without removing anything
    /// more: what [`deregister`](Registered::deregister) would have given
    /// back. After `ENOENT` the queue has no kevent for it; after another
    /// error its kevent may still be in the queue.
    pub fn into_inner(self) -> F {
        self.registered.into_parts().0
    }

    /// The error and the registration.
    pub fn into_parts(self) -> (Error, Registered<F, Q>) {
        (self.error, self.registered)
    }
}

impl<F: AsFd, Q: QueueRef> fmt::Debug for DeregisterError<F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeregisterError")
            .field("error", &self.error)
            .field("key", &self.registered.key())
            .finish_non_exhaustive()
    }
}

/// The [`Error`]'s text.
impl<F: AsFd, Q: QueueRef> fmt::Display for DeregisterError<F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<F: AsFd, Q: QueueRef> std::error::Error for DeregisterError<F, Q> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// The error; the registration is dropped.
impl<F: AsFd, Q: QueueRef> From<DeregisterError<F, Q>> for Error {
    fn from(e: DeregisterError<F, Q>) -> Error {
        e.error
    }
}

/// The error, as `From<Error> for io::Error` converts it; the
/// registration is dropped.
impl<F: AsFd, Q: QueueRef> From<DeregisterError<F, Q>> for io::Error {
    fn from(e: DeregisterError<F, Q>) -> io::Error {
        e.error.into()
    }
}
