//! The `tokio` feature's network I/O: owned-buffer sends and receives,
//! and sendfiles, as futures.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::flags::{RecvFlags, SendFlags, SendfileFlags};
use crate::interest::Token;
use crate::naio::{IoBuf, IoBufMut, Naio, RequestId, Sent, Taken};
use crate::queue::{Events, Queue};

/// Network I/O requests as futures, on a queue of their own in tokio's
/// reactor: `let (res, buf) = naio.recv(&socket, buf).await;` hands the
/// buffer back with the result, as tokio-uring and monoio do; `let n =
/// naio.sendfile(&socket, &file, offset, len).await?;` sends a file's
/// pages, with no buffer.
///
/// A task spawned by [`new`](AsyncNaio::new) waits on the queue (the
/// kernel runs the requests whose sockets are ready during that wait, in
/// this process) and wakes the futures whose requests completed. The
/// queue holds only this `AsyncNaio`'s requests.
///
/// Dropping a future before it completes cancels its request
/// (`KEVENT_CTL_REMOVE`); the buffer stays with the queue until the
/// kernel reports the request's completion, and is then freed. Bytes a
/// cancelled receive had already taken are lost with it. Dropping the
/// `AsyncNaio` stops its task and closes the queue as dropping a [`Naio`]
/// does (no future can outlive it: they borrow it).
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # async fn f() -> std::io::Result<()> {
/// use kevent::AsyncNaio;
///
/// let naio: AsyncNaio = AsyncNaio::new()?; // inside a tokio runtime
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// let (res, _buf) = naio.send(&a, b"ping".to_vec()).await;
/// assert_eq!(res?, 4);
/// let (res, buf) = naio.recv(&b, Vec::with_capacity(4096)).await;
/// assert_eq!(&buf[..res?], b"ping");
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncNaio<B: IoBuf + Send = Vec<u8>> {
    shared: Arc<AsyncFd<Naio<B>>>,
    driver: tokio::task::AbortHandle,
}

impl<B: IoBuf + Send> fmt::Debug for AsyncNaio<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncNaio")
            .field("naio", self.shared.get_ref())
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf + Send> AsyncNaio<B> {
    /// A new queue for network I/O requests, in the current tokio
    /// runtime, with the task that waits on it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        // SAFETY: a new queue, which nothing else submits requests on (it
        // is never handed out).
        let naio = unsafe { Naio::from_queue(Queue::new()?) };
        // SAFETY: a Naio owns its queue's descriptor (an OwnedFd), returns
        // that same one from as_raw_fd() and never replaces it; it stays
        // open until the AsyncFd drops the Naio.
        let shared = unsafe { AsyncFd::register_with_interest(naio, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let shared = Arc::new(shared);
        let driver = tokio::spawn(drive(Arc::clone(&shared))).abort_handle();
        Ok(AsyncNaio { shared, driver })
    }

    fn naio(&self) -> &Naio<B> {
        self.shared.get_ref()
    }

    /// How many requests are in flight (futures pending, or dropped with
    /// their completion still to come).
    pub fn in_flight(&self) -> usize {
        self.naio().in_flight()
    }

    /// Sends `buf`'s initialised bytes on `socket` (a closed peer is
    /// `EPIPE`; a request never raises `SIGPIPE`). See [`Naio::send`].
    ///
    /// A send that the kernel completes at once (the socket has room) is
    /// done when this returns, in the one system call that submits it
    /// ([`Naio::send_now`]): the future is ready at its first poll, and
    /// its [`id`](Op::id) is `None`.
    pub fn send(&self, socket: &impl AsFd, buf: B) -> Op<'_, B> {
        self.send_with(socket, buf, SendFlags::NOSIGNAL)
    }

    /// [`send`](Self::send) with these flags.
    pub fn send_with(&self, socket: &impl AsFd, buf: B, flags: SendFlags) -> Op<'_, B> {
        let r = self.naio().send_now(socket, buf, flags, Token(0));
        self.op(r)
    }

    /// Receives into `buf` from its start (a `Vec`'s capacity is the room,
    /// its length becomes the count). See [`Naio::recv`].
    pub fn recv(&self, socket: &impl AsFd, buf: B) -> Op<'_, B>
    where
        B: IoBufMut,
    {
        self.recv_with(socket, buf, RecvFlags::empty())
    }

    /// [`recv`](Self::recv) with these flags.
    pub fn recv_with(&self, socket: &impl AsFd, buf: B, flags: RecvFlags) -> Op<'_, B>
    where
        B: IoBufMut,
    {
        let r = self.naio().recv(socket, buf, flags, Token(0));
        self.op(r.map(Sent::InFlight))
    }

    /// Sends `len` bytes of `file` from `offset` on the stream `socket`,
    /// the file's pages uncopied; resolves to the bytes queued: `len`, or
    /// fewer if the file ended first (or the socket's descriptor was
    /// closed meanwhile, which cancels the request: `ECANCELED` if no
    /// byte was queued). No buffer, and `file` is only borrowed for the
    /// call: the kernel holds it until the request completes. See
    /// [`Naio::sendfile`], whose errors are the future's (before any
    /// system call: `InvalidInput` for a `len` of 0 or an offset past
    /// `i64::MAX`).
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn f(naio: &kevent::AsyncNaio, socket: &std::net::TcpStream) -> std::io::Result<()> {
    /// let file = std::fs::File::open("index.html")?;
    /// let len = file.metadata()?.len() as usize;
    /// let sent = naio.sendfile(socket, &file, 0, len).await?;
    /// assert!(sent <= len);
    /// # Ok(()) }
    /// ```
    pub fn sendfile(
        &self,
        socket: &impl AsFd,
        file: &impl AsFd,
        offset: u64,
        len: usize,
    ) -> SendfileOp<'_, B> {
        self.sendfile_with(socket, file, offset, len, SendfileFlags::empty())
    }

    /// [`sendfile`](Self::sendfile) with these flags.
    pub fn sendfile_with(
        &self,
        socket: &impl AsFd,
        file: &impl AsFd,
        offset: u64,
        len: usize,
        flags: SendfileFlags,
    ) -> SendfileOp<'_, B> {
        let r = self
            .naio()
            .sendfile(socket, file, offset, len, flags, Token(0));
        SendfileOp {
            naio: self.naio(),
            state: match r {
                Ok(id) => FileState::InFlight(id),
                Err(e) => FileState::Failed(e.into()),
            },
        }
    }

    /// The future of a submitted request (or of one that completed or
    /// failed in its submission).
    fn op(&self, r: Result<Sent<B>, crate::naio::SubmitError<B>>) -> Op<'_, B> {
        Op {
            naio: self.naio(),
            state: match r {
                Ok(Sent::InFlight(id)) => State::InFlight(id),
                Ok(Sent::Done(done)) => {
                    let (res, buf) = done.into_parts();
                    State::Ready(res, buf)
                }
                Err(e) => State::Ready(Err(e.error.into()), e.buf),
            },
        }
    }
}

impl<B: IoBuf + Send> Drop for AsyncNaio<B> {
    fn drop(&mut self) {
        // The task's Arc goes when tokio drops the aborted task; the last
        // Arc closes the queue as Naio's drop does.
        self.driver.abort();
    }
}

/// Waits on the queue and records the completions, waking their futures.
async fn drive<B: IoBuf + Send>(shared: Arc<AsyncFd<Naio<B>>>) {
    let mut events = Events::with_capacity(64);
    loop {
        let Ok(mut guard) = shared.readable().await else {
            return;
        };
        let taken = guard.try_io(|fd| {
            match fd.get_ref().wait(&mut events, Some(Duration::ZERO)) {
                // Nothing ready (the kernel found a socket not ready after
                // all): tokio clears the readiness and waits again.
                Ok(0) => Err(io::ErrorKind::WouldBlock.into()),
                r => r,
            }
        });
        match taken {
            Ok(Err(e)) if e.kind() != io::ErrorKind::Interrupted => {
                // The queue cannot be waited on (it cannot happen to a
                // queue we own): the futures stay pending, their buffers
                // with the queue.
                return;
            }
            _ => {}
        }
    }
}

enum State<B> {
    InFlight(RequestId),
    /// Failed at submission, or completed in it (a send with room).
    Ready(io::Result<usize>, B),
    Finished,
}

/// A network I/O request in flight: resolves to the result and the
/// buffer. Dropping it cancels the request (the buffer is freed when the
/// kernel reports the cancellation).
#[must_use = "a request is cancelled when its future is dropped"]
pub struct Op<'a, B: IoBuf> {
    naio: &'a Naio<B>,
    state: State<B>,
}

impl<B: IoBuf> Op<'_, B> {
    /// The request's id: `None` if it could not be submitted (the future
    /// resolves to the error and the buffer) or a send completed in its
    /// submission (to the count and the buffer).
    pub fn id(&self) -> Option<RequestId> {
        match self.state {
            State::InFlight(id) => Some(id),
            _ => None,
        }
    }
}

impl<B: IoBuf> fmt::Debug for Op<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op").field("id", &self.id()).finish()
    }
}

// The buffer is never pinned: the future only moves it out.
impl<B: IoBuf> Unpin for Op<'_, B> {}

impl<B: IoBuf> Future for Op<'_, B> {
    type Output = (io::Result<usize>, B);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match mem::replace(&mut this.state, State::Finished) {
            State::InFlight(id) => match this.naio.poll_id(id, cx.waker(), false) {
                Some(Taken::Buf(done)) => Poll::Ready(done.into_parts()),
                // Not a sendfile's id: it is never taken here.
                Some(Taken::File(_)) | None => {
                    this.state = State::InFlight(id);
                    Poll::Pending
                }
            },
            State::Ready(res, buf) => Poll::Ready((res, buf)),
            State::Finished => panic!("kevent::Op polled after it completed"),
        }
    }
}

impl<B: IoBuf> Drop for Op<'_, B> {
    fn drop(&mut self) {
        if let State::InFlight(id) = self.state {
            self.naio.abandon(id);
        }
    }
}

enum FileState {
    InFlight(RequestId),
    Failed(io::Error),
    Finished,
}

/// A sendfile in flight ([`AsyncNaio::sendfile`]): resolves to the bytes
/// queued. Dropping it cancels the request.
#[must_use = "a request is cancelled when its future is dropped"]
pub struct SendfileOp<'a, B: IoBuf> {
    naio: &'a Naio<B>,
    state: FileState,
}

impl<B: IoBuf> SendfileOp<'_, B> {
    /// The request's id (`None` if it could not be submitted: the future
    /// resolves to the error).
    pub fn id(&self) -> Option<RequestId> {
        match self.state {
            FileState::InFlight(id) => Some(id),
            _ => None,
        }
    }
}

impl<B: IoBuf> fmt::Debug for SendfileOp<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendfileOp")
            .field("id", &self.id())
            .finish()
    }
}

impl<B: IoBuf> Future for SendfileOp<'_, B> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match mem::replace(&mut this.state, FileState::Finished) {
            FileState::InFlight(id) => match this.naio.poll_id(id, cx.waker(), true) {
                Some(Taken::File(done)) => Poll::Ready(done.into_result()),
                // A buffered request's id: it is never taken here.
                Some(Taken::Buf(_)) | None => {
                    this.state = FileState::InFlight(id);
                    Poll::Pending
                }
            },
            FileState::Failed(e) => Poll::Ready(Err(e)),
            FileState::Finished => panic!("kevent::SendfileOp polled after it completed"),
        }
    }
}

impl<B: IoBuf> Drop for SendfileOp<'_, B> {
    fn drop(&mut self) {
        if let FileState::InFlight(id) = self.state {
            self.naio.abandon(id);
        }
    }
}
