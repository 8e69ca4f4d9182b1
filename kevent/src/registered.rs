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
    /// As [`Queue::add_fd`]; the [`RegisterError`] gives `fd` and `queue`
    /// back ([`into_parts`](RegisterError::into_parts)), so a failed
    /// registration does not close the descriptor. `?` converts it into
    /// [`Error`] or `io::Error`, dropping them.
    pub fn new(
        queue: Q,
        fd: F,
        events: PollFlags,
        token: impl Into<Token>,
    ) -> Result<Self, RegisterError<F, Q>> {
        match queue.queue().add_fd(&fd, events, token) {
            Ok(()) => Ok(Registered {
                fd: ManuallyDrop::new(fd),
                queue,
            }),
            Err(error) => Err(RegisterError { error, fd, queue }),
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

/// The error of [`Registered::new`] and [`Queue::register`]: why the add
/// failed, with the descriptor and the queue, which are not dropped (as
/// tokio's `AsyncFd::try_new` gives its inner value back).
pub struct RegisterError<F: AsFd, Q: QueueRef> {
    error: Error,
    fd: F,
    queue: Q,
}

impl<F: AsFd, Q: QueueRef> RegisterError<F, Q> {
    /// Why the add failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The descriptor, still open.
    pub fn into_inner(self) -> F {
        self.fd
    }

    /// The error, the descriptor and the queue.
    pub fn into_parts(self) -> (Error, F, Q) {
        (self.error, self.fd, self.queue)
    }
}

impl<F: AsFd, Q: QueueRef> fmt::Debug for RegisterError<F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterError")
            .field("error", &self.error)
            .field("fd", &self.fd.as_fd().as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// The [`Error`]'s text.
impl<F: AsFd, Q: QueueRef> fmt::Display for RegisterError<F, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<F: AsFd, Q: QueueRef> std::error::Error for RegisterError<F, Q> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// The error; the descriptor and the queue are dropped.
impl<F: AsFd, Q: QueueRef> From<RegisterError<F, Q>> for Error {
    fn from(e: RegisterError<F, Q>) -> Error {
        e.error
    }
}

/// The error, as `From<Error> for io::Error` converts it; the descriptor
/// and the queue are dropped.
impl<F: AsFd, Q: QueueRef> From<RegisterError<F, Q>> for io::Error {
    fn from(e: RegisterError<F, Q>) -> io::Error {
        e.error.into()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, OwnedFd};

    /// The add fails (a pipe is no queue; on a kernel without kevent, no
    /// kevent at all), and the descriptor comes back open.
    #[test]
    fn a_failed_registration_gives_the_descriptor_back() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the read end is ours, owned from here on (a kevent call
        // on it fails: no kevent, or not a queue).
        let queue = unsafe { Queue::from_raw_fd(fds[0]) };
        // SAFETY: the write end is ours, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        let raw = fd.as_raw_fd();
        let e = Registered::new(&queue, fd, PollFlags::IN, Token(0)).unwrap_err();
        assert!(e.to_string().contains("poll"), "{e}");
        let (_, fd, _) = e.into_parts();
        assert_eq!(fd.as_raw_fd(), raw);
        // SAFETY: a query of a descriptor we own.
        assert_ne!(unsafe { libc::fcntl(raw, libc::F_GETFD) }, -1);
    }
}
