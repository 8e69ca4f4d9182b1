//! The `tokio` feature's network I/O: owned-buffer sends and receives,
//! and sendfiles, as futures.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
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
/// If the task cannot wait on the queue (a wait fails with anything but
/// `Interrupted`, which should not happen to a queue it owns, or tokio's
/// reactor is gone), it stops, and every future resolves to an error
/// that says why: the pending ones at once, new ones without being
/// submitted (a new request's buffer comes back with the error). A
/// request in flight then may still be the kernel's, so its buffer cannot
/// be handed back: its future resolves to the error and `B::default()`
/// (an empty `Vec`, say) in the buffer's place, its request is
/// cancelled, and its buffer stays with the queue, freed when the queue
/// is closed if the kernel is done with it, else leaked (never freed
/// while the kernel may use it). That is what the `Default` bound is for.
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
pub struct AsyncNaio<B: IoBuf + Send + Default = Vec<u8>> {
    shared: Arc<Shared<B>>,
    driver: tokio::task::AbortHandle,
}

/// What the task that waits on the queue shares with the futures.
struct Shared<B: IoBuf> {
    naio: AsyncFd<Naio<B>>,
    /// Why the task stopped: set once, before it wakes the futures.
    stopped: OnceLock<Stopped>,
}

/// Why the task that waits on the queue stopped.
#[derive(Debug)]
struct Stopped {
    kind: io::ErrorKind,
    message: String,
}

impl Stopped {
    /// The error every future resolves to now (`io::Error` is not `Clone`).
    fn error(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

impl<B: IoBuf + Send + Default> fmt::Debug for AsyncNaio<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncNaio")
            .field("naio", self.naio())
            .field("stopped", &self.shared.stopped.get())
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf + Send + Default> AsyncNaio<B> {
    /// A new queue for network I/O requests, in the current tokio
    /// runtime, with the task that waits on it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        // SAFETY: a new queue, which nothing else submits requests on (it
        // is never handed out).
        Self::with_naio(unsafe { Naio::from_queue(Queue::new()?) })
    }

    /// `naio` in the current runtime, with the task that waits on it.
    fn with_naio(naio: Naio<B>) -> io::Result<Self> {
        // SAFETY: a Naio owns its queue's descriptor (an OwnedFd), returns
        // that same one from as_raw_fd() and never replaces it; it stays
        // open until the AsyncFd drops the Naio.
        let naio = unsafe { AsyncFd::register_with_interest(naio, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let shared = Arc::new(Shared {
            naio,
            stopped: OnceLock::new(),
        });
        let driver = tokio::spawn(drive(Arc::clone(&shared))).abort_handle();
        Ok(AsyncNaio { shared, driver })
    }

    fn naio(&self) -> &Naio<B> {
        self.shared.naio.get_ref()
    }

    /// Why the task that waits on the queue stopped, if it did: then no
    /// request is submitted.
    fn stopped(&self) -> Option<io::Error> {
        self.shared.stopped.get().map(Stopped::error)
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
        if let Some(e) = self.stopped() {
            return self.ready(Err(e), buf);
        }
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
        if let Some(e) = self.stopped() {
            return self.ready(Err(e), buf);
        }
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
        let state = match self.stopped() {
            Some(e) => FileState::Failed(e),
            None => match self
                .naio()
                .sendfile(socket, file, offset, len, flags, Token(0))
            {
                Ok(id) => FileState::InFlight(id),
                Err(e) => FileState::Failed(e.into()),
            },
        };
        SendfileOp {
            naio: self.naio(),
            stopped: &self.shared.stopped,
            state,
        }
    }

    /// The future of a submitted request (or of one that completed or
    /// failed in its submission).
    fn op(&self, r: Result<Sent<B>, crate::naio::SubmitError<B>>) -> Op<'_, B> {
        match r {
            Ok(Sent::InFlight(id)) => Op {
                naio: self.naio(),
                stopped: &self.shared.stopped,
                state: State::InFlight(id),
            },
            Ok(Sent::Done(done)) => {
                let (res, buf) = done.into_parts();
                self.ready(res, buf)
            }
            Err(e) => self.ready(Err(e.error.into()), e.buf),
        }
    }

    /// The future of a request that is done before it was in flight.
    fn ready(&self, res: io::Result<usize>, buf: B) -> Op<'_, B> {
        Op {
            naio: self.naio(),
            stopped: &self.shared.stopped,
            state: State::Ready(res, buf),
        }
    }
}

impl<B: IoBuf + Send + Default> Drop for AsyncNaio<B> {
    fn drop(&mut self) {
        // The task's Arc goes when tokio drops the aborted task; the last
        // Arc closes the queue as Naio's drop does.
        self.driver.abort();
    }
}

/// Waits on the queue and records the completions, waking their futures;
/// if it cannot, stops and fails them ([`stop`]).
async fn drive<B: IoBuf + Send>(shared: Arc<Shared<B>>) {
    let mut events = Events::with_capacity(64);
    let error = loop {
        let mut guard = match shared.naio.readable().await {
            Ok(guard) => guard,
            // The reactor is gone.
            Err(e) => break e,
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
            Ok(Err(e)) if e.kind() != io::ErrorKind::Interrupted => break e,
            _ => {}
        }
    };
    stop(shared.naio.get_ref(), &shared.stopped, &error);
}

/// Records why the task stopped in `stopped`, then wakes every future
/// waiting for a completion of `naio`: each finds `stopped` set and
/// resolves to the error. A future registers its waker under the slot
/// table's lock and then looks at `stopped`: if it registered after the
/// wakers were taken here, that lock orders its look after the `set`.
fn stop<B: IoBuf>(naio: &Naio<B>, stopped: &OnceLock<Stopped>, error: &io::Error) {
    let _ = stopped.set(Stopped {
        kind: error.kind(),
        message: format!(
            "kevent::AsyncNaio cannot wait on its queue ({error}): its requests will not \
             complete; a request in flight keeps its buffer, which the kernel may still use"
        ),
    });
    for waker in naio.take_wakers() {
        waker.wake();
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
///
/// If the [`AsyncNaio`]'s task stopped (see there) while the request was
/// in flight, it resolves to that error and `B::default()`: the buffer
/// stays with the queue, which frees it only once the kernel is done
/// with it (or leaks it).
#[must_use = "a request is cancelled when its future is dropped"]
pub struct Op<'a, B: IoBuf> {
    naio: &'a Naio<B>,
    stopped: &'a OnceLock<Stopped>,
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

impl<B: IoBuf + Default> Future for Op<'_, B> {
    type Output = (io::Result<usize>, B);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match mem::replace(&mut this.state, State::Finished) {
            State::InFlight(id) => match this.naio.poll_id(id, cx.waker(), false) {
                Some(Taken::Buf(done)) => Poll::Ready(done.into_parts()),
                // Not a sendfile's id: it is never taken here.
                Some(Taken::File(_)) | None => {
                    // After the waker is registered: see stop().
                    if let Some(stopped) = this.stopped.get() {
                        // No completion will come to prove the kernel is
                        // done with the buffer: it stays with the queue,
                        // cancelled, freed if that completion ever comes.
                        this.naio.abandon(id);
                        return Poll::Ready((Err(stopped.error()), B::default()));
                    }
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
/// queued, or to the error of the [`AsyncNaio`]'s task if it stopped
/// meanwhile. Dropping it cancels the request.
#[must_use = "a request is cancelled when its future is dropped"]
pub struct SendfileOp<'a, B: IoBuf> {
    naio: &'a Naio<B>,
    stopped: &'a OnceLock<Stopped>,
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
                    // After the waker is registered: see stop().
                    if let Some(stopped) = this.stopped.get() {
                        this.naio.abandon(id);
                        return Poll::Ready(Err(stopped.error()));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naio::NaioOp;

    /// A task that cannot wait on its queue stops and fails every future:
    /// the pending ones (a buffered request's with `B::default()`, its
    /// buffer left to the queue) and the new ones (not submitted, their
    /// buffer back). The queue here is a pipe with its write end closed:
    /// readable at once, and a kevent wait on it fails (`Unsupported`
    /// without kevent, `EINVAL` on a kevent kernel: not a queue).
    #[test]
    fn futures_fail_when_the_task_stops() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let naio: AsyncNaio = AsyncNaio::with_naio(Naio::on_a_pipe()).unwrap();
            let recv_id = naio
                .naio()
                .fake_in_flight(Some(Vec::with_capacity(8)), NaioOp::Recv, 8);
            let file_id = naio.naio().fake_in_flight(None, NaioOp::Sendfile, 8);
            let recv = Op {
                naio: naio.naio(),
                stopped: &naio.shared.stopped,
                state: State::InFlight(recv_id),
            };
            let file = SendfileOp {
                naio: naio.naio(),
                stopped: &naio.shared.stopped,
                state: FileState::InFlight(file_id),
            };
            let stopped = |e: &io::Error| {
                assert_ne!(e.kind(), io::ErrorKind::Interrupted);
                assert!(e.to_string().contains("cannot wait on its queue"), "{e}");
            };
            let long = Duration::from_secs(10);
            let (res, buf) = tokio::time::timeout(long, recv)
                .await
                .expect("the receive stayed pending");
            stopped(&res.unwrap_err());
            assert_eq!(buf.capacity(), 0, "B::default(), not the kernel's buffer");
            let res = tokio::time::timeout(long, file)
                .await
                .expect("the sendfile stayed pending");
            stopped(&res.unwrap_err());
            // Both left to the queue, abandoned: freed if their
            // completions come, else at close.
            assert_eq!(naio.in_flight(), 2);
            // New requests are not submitted; a buffer comes back whole.
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            let (res, buf) = naio.recv(&a, Vec::with_capacity(16)).await;
            stopped(&res.unwrap_err());
            assert!(buf.capacity() >= 16);
            let send = naio.send(&a, b"abc".to_vec());
            assert!(send.id().is_none(), "submitted after the task stopped");
            let (res, buf) = send.await;
            stopped(&res.unwrap_err());
            assert_eq!(buf, b"abc");
            let file = std::fs::File::open("/dev/null").unwrap();
            stopped(&naio.sendfile(&a, &file, 0, 1).await.unwrap_err());
            assert_eq!(naio.in_flight(), 2);
        });
    }
}
