//! The error of a change to a queue: which command, which kevent, which
//! entry of a batch, and what went wrong in words a user can act on.

use std::fmt;
use std::io;

use kevent_sys as sys;

use crate::interest::{Key, Kind};
use crate::naio::NaioOp;

/// A `kevent_ctl()` command: what a change asked the queue to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// [`Queue::add`](crate::Queue::add) and the other adds.
    Add,
    /// [`Queue::modify`](crate::Queue::modify) and the other modifies.
    Modify,
    /// [`Queue::remove`](crate::Queue::remove) and the other removes.
    Remove,
    /// [`Queue::trigger`](crate::Queue::trigger), [`Waker::wake`](crate::Waker::wake).
    Trigger,
    /// [`Queue::enable`](crate::Queue::enable).
    Enable,
    /// [`Queue::disable`](crate::Queue::disable).
    Disable,
}

impl Command {
    /// The `KEVENT_CTL_*` number.
    pub fn raw(self) -> u32 {
        match self {
            Command::Add => sys::KEVENT_CTL_ADD,
            Command::Modify => sys::KEVENT_CTL_MODIFY,
            Command::Remove => sys::KEVENT_CTL_REMOVE,
            Command::Trigger => sys::KEVENT_CTL_READY,
            Command::Enable => sys::KEVENT_CTL_ENABLE,
            Command::Disable => sys::KEVENT_CTL_DISABLE,
        }
    }

    /// The command's name: `add`, `modify`, `remove`, `trigger`,
    /// `enable` or `disable`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Add => "add",
            Command::Modify => "modify",
            Command::Remove => "remove",
            Command::Trigger => "trigger",
            Command::Enable => "enable",
            Command::Disable => "disable",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug)]
enum Cause {
    /// The kernel's error number for this entry, or for the whole call.
    Errno(i32),
    /// Anything else: the probe's `Unsupported`, a batch the kernel
    /// stopped early, a request refused before any system call.
    Io(io::Error),
}

/// Why a change to a queue failed: the [`Command`], the kevent's [`Key`],
/// its index in a batch, and the kernel's error.
///
/// Returned by [`Queue::add`](crate::Queue::add) and the other changes,
/// and by [`BatchResult`](crate::BatchResult) for each failed entry. It
/// is small and built only when a change fails (the message is formatted
/// when it is displayed), so the calls that succeed allocate nothing.
///
/// - [`raw_os_error`](Error::raw_os_error) and [`kind`](Error::kind) read
///   like [`io::Error`]'s: match on the errno here.
/// - `Display` says what went wrong and what to do:
///   `add poll fd 7 (batch entry 3): fd 7 is not an open file descriptor (os error 9)`.
/// - An error of the call as a whole (the queue's descriptor, the
///   kernel) is not an entry's: [`is_call_error`](Error::is_call_error),
///   and `Display` says so: `add poll fd 7: the kevent_ctl call failed
///   (no entry processed): the queue's descriptor is not open ... (os error 9)`.
/// - It converts into an [`io::Error`] (so `?` works in functions
///   returning `io::Result`) whose [`raw_os_error`](io::Error::raw_os_error)
///   and [`kind`](io::Error::kind) are this error's. std's `io::Error`
///   holds an OS error number or a message, not both, so an error with an
///   errno becomes a plain OS error (`File exists (os error 17)`,
///   without the command and the key): log this error before converting,
///   propagate it as itself (it is a `Send + Sync + 'static`
///   [`std::error::Error`], so `Box<dyn Error>` and anyhow take it), or
///   convert with [`into_io_with_message`](Error::into_io_with_message),
///   which keeps the words instead of the errno. An error without an
///   errno (e.g. `Unsupported`) keeps its words and kind either way.
///
/// ```no_run
/// use kevent::{Command, Kevent, Key, Queue};
///
/// let queue = Queue::new()?;
/// queue.add(Kevent::user(1))?;
/// let err = queue.add(Kevent::user(1)).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
/// assert_eq!((err.command(), err.key(), err.index()), (Command::Add, Some(Key::user(1)), None));
/// // "add user 1: the queue already has a kevent with this key: ..."
/// eprintln!("{err}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Error {
    command: Command,
    key: Option<Key>,
    index: Option<usize>,
    /// The `kevent_ctl()` call failed as a whole: no entry's result.
    call: bool,
    /// A NAIO add's operation (its key, the request id, does not say).
    naio_op: Option<NaioOp>,
    /// A NAIO add of a receive that stays (`KEVENT_REQ_DISPATCH`).
    naio_stays: bool,
    cause: Cause,
}

impl Error {
    /// The kernel's error `errno` for the entry `key`. Cold: kept out of
    /// the successful calls' code.
    #[cold]
    #[inline(never)]
    pub(crate) fn entry(command: Command, key: Key, index: Option<usize>, errno: i32) -> Self {
        Error {
            command,
            key: Some(key),
            index,
            call: false,
            naio_op: None,
            naio_stays: false,
            cause: Cause::Errno(errno),
        }
    }

    /// The `kevent_ctl()` call itself failed (or was not made: no
    /// kevent), processing no entry: `key` is the single change's key
    /// (`None` for a batch), `index` the first entry of the failed call
    /// in a batch. Cold.
    #[cold]
    #[inline(never)]
    pub(crate) fn call(
        command: Command,
        key: Option<Key>,
        index: Option<usize>,
        err: io::Error,
    ) -> Self {
        Error {
            call: true,
            ..Error::io(command, key, index, err)
        }
    }

    /// Any other failure of a change.
    #[cold]
    #[inline(never)]
    pub(crate) fn io(
        command: Command,
        key: Option<Key>,
        index: Option<usize>,
        err: io::Error,
    ) -> Self {
        // An OS error stays a bare number: its message is ours to write.
        let cause = match err.raw_os_error() {
            Some(errno) if err.get_ref().is_none() => Cause::Errno(errno),
            _ => Cause::Io(err),
        };
        Error {
            command,
            key,
            index,
            call: false,
            naio_op: None,
            naio_stays: false,
            cause,
        }
    }

    /// The error of a NAIO add of `op`: its words can then name what the
    /// operation takes.
    pub(crate) fn with_naio_op(mut self, op: NaioOp) -> Self {
        self.naio_op = Some(op);
        self
    }

    /// The error of the add of a receive that stays
    /// ([`Naio::recv_stay`](crate::Naio::recv_stay)): its words can then
    /// name a kernel whose receives cannot stay.
    pub(crate) fn with_recv_stay(mut self) -> Self {
        self.naio_op = Some(NaioOp::Recv);
        self.naio_stays = true;
        self
    }

    /// What the change asked for.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The kevent the change was about (`None` only for a batch that
    /// failed as a whole: see [`is_call_error`](Error::is_call_error)).
    pub fn key(&self) -> Option<Key> {
        self.key
    }

    /// The entry's index in a batch ([`Queue::add_all`](crate::Queue::add_all)
    /// and the other `*_all`); `None` for a single change. For a batch
    /// whose call failed as a whole, the first entry of that call: the
    /// entries before it were processed (their results are lost), it and
    /// the rest were not.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Whether the `kevent_ctl()` call failed as a whole rather than one
    /// entry: the queue's descriptor is not open (`EBADF`) or not a
    /// kevent queue (`EINVAL`), the entries could not be read
    /// (`EFAULT`), the kernel processed no entry (`Interrupted`), or there
    /// is no kevent in this kernel (`Unsupported`). The error is then the
    /// call's, not the kevent's: [`key`](Error::key) is only the change
    /// that was asked for.
    ///
    /// ```
    /// # fn f(e: kevent::Error) {
    /// if e.is_call_error() {
    ///     // The queue (or the kernel) is the problem, not this kevent.
    /// }
    /// # }
    /// ```
    pub fn is_call_error(&self) -> bool {
        self.call
    }

    /// The OS error number (`EEXIST`, `ENOENT`...), as
    /// [`io::Error::raw_os_error`]; `None` for a failure that is not one
    /// (e.g. no kevent in this kernel: [`io::ErrorKind::Unsupported`]).
    pub fn raw_os_error(&self) -> Option<i32> {
        match &self.cause {
            Cause::Errno(e) => Some(*e),
            Cause::Io(e) => e.raw_os_error(),
        }
    }

    /// The error's kind, as [`io::Error::kind`].
    pub fn kind(&self) -> io::ErrorKind {
        match &self.cause {
            // An Os io::Error: no allocation.
            Cause::Errno(e) => io::Error::from_raw_os_error(*e).kind(),
            Cause::Io(e) => e.kind(),
        }
    }

    /// An [`io::Error`] that keeps the kind and this error's words, with
    /// this error as its [`get_ref`](io::Error::get_ref), but (std's
    /// `io::Error` holds one or the other) not the errno as its own
    /// `raw_os_error()`: read it with [`Error::os_error_of`]. The `From`
    /// conversion keeps the errno instead.
    ///
    /// ```
    /// # fn f(e: kevent::Error) {
    /// let errno = e.raw_os_error();
    /// let io = e.into_io_with_message();
    /// assert_eq!(kevent::Error::os_error_of(&io), errno);
    /// # }
    /// ```
    pub fn into_io_with_message(self) -> io::Error {
        io::Error::new(self.kind(), self)
    }

    /// The OS error number of an `io::Error`, whether it is a plain OS
    /// error (as `From<Error>` makes) or one made by
    /// [`into_io_with_message`](Error::into_io_with_message).
    ///
    /// ```
    /// let plain = std::io::Error::from_raw_os_error(libc::ENOENT);
    /// assert_eq!(kevent::Error::os_error_of(&plain), Some(libc::ENOENT));
    /// ```
    pub fn os_error_of(err: &io::Error) -> Option<i32> {
        err.raw_os_error().or_else(|| {
            err.get_ref()
                .and_then(|e| e.downcast_ref::<Error>())
                .and_then(Error::raw_os_error)
        })
    }

    /// What the kernel's `errno` means for a call that failed as a whole,
    /// in words; `None` where the system's own text says it.
    fn explain_call(f: &mut fmt::Formatter<'_>, errno: i32) -> Option<fmt::Result> {
        Some(match errno {
            libc::EBADF => {
                f.write_str("the queue's descriptor is not open (closed behind the Queue's back?)")
            }
            libc::EINVAL => f.write_str(
                "the kernel refused the call: the queue's descriptor is not a kevent queue, \
                 or the batch is larger than max_batch",
            ),
            libc::EFAULT => f.write_str("the kernel could not read the entries"),
            libc::ENOSYS => f.write_str(
                "kernel without kevent: boot a kernel built with the kevent patch series \
                 (see the kevent crate's README)",
            ),
            _ => return None,
        })
    }

    /// What the kernel's `errno` means for this change, in words; `None`
    /// where the system's own text says it (`strerror`).
    fn explain(&self, f: &mut fmt::Formatter<'_>, errno: i32) -> Option<fmt::Result> {
        let kind = self.key.map(|k| k.kind());
        let id = self.key.map_or(0, |k| k.id());
        // A descriptor number as the caller wrote it (Key::poll(-1)).
        let fd = id as i64;
        let cmd = self.command;
        if kind == Some(Kind::Naio) {
            if let Some(r) = explain_naio(f, cmd, self.naio_op, self.naio_stays, errno) {
                return Some(r);
            }
        }
        Some(match errno {
            libc::EBADF if matches!(kind, Some(Kind::Poll | Kind::Inode | Kind::Socket)) => {
                write!(f, "fd {fd} is not an open file descriptor")
            }
            libc::EACCES if kind == Some(Kind::Inode) => write!(
                f,
                "no read permission on the file or directory of fd {fd} (as inotify requires)"
            ),
            libc::EBADF if kind == Some(Kind::Proc) => write!(
                f,
                "fd {fd} is not an open pidfd (pidfd_open(2); Kevent::process_pid takes a pid)"
            ),
            libc::ENOTSOCK if kind == Some(Kind::Socket) => {
                write!(
                    f,
                    "fd {fd} is not a socket (a socket kevent needs one: watch other files \
                     with Kevent::poll)"
                )
            }
            libc::EPERM if kind == Some(Kind::Poll) => write!(
                f,
                "fd {fd} cannot be polled (a regular file or a directory is always ready: \
                 read it instead)"
            ),
            libc::EEXIST if matches!(kind, Some(Kind::Inode | Kind::Proc)) => write!(
                f,
                "the queue already has a kevent with this key: fd {fd} was added before, or \
                 its number was closed and reused, and that kevent still watches the old \
                 {what} (it outlives its fd): remove it first, or keep each fd open until \
                 its kevent is added",
                what = if kind == Some(Kind::Inode) {
                    "inode"
                } else {
                    "process"
                }
            ),
            libc::EEXIST => f.write_str(
                "the queue already has a kevent with this key: use modify, or add it with \
                 Kevent::update to add or modify",
            ),
            libc::ENOENT => match cmd {
                Command::Remove => f.write_str(
                    "the queue has no kevent with this key (removed already, a oneshot that \
                     fired, or a poll kevent whose file was closed)",
                ),
                Command::Trigger => f.write_str(
                    "the queue has no user kevent with this id: add Kevent::user(id) first \
                     (or it, or the Waker's, was removed)",
                ),
                _ if matches!(kind, Some(Kind::Poll | Kind::Socket)) => f.write_str(
                    "the queue has no kevent with this key, or only a stale one whose \
                     descriptor number now names another file: add the new file (which \
                     replaces it) or remove it",
                ),
                _ => f.write_str("the queue has no kevent with this key: add it first"),
            },
            libc::EINVAL => match kind {
                Some(Kind::Timer) => f.write_str(
                    "the kernel refused this timer: a period below 1 us or above 2^63-1 ns, \
                     neither a period nor a start, or edge()/fd_close() on a timer",
                ),
                Some(Kind::Signal) => write!(
                    f,
                    "signal {id} cannot be watched (0, above 64, SIGKILL and SIGSTOP cannot), \
                     or edge()/fd_close() on a signal kevent"
                ),
                Some(Kind::Proc) => write!(
                    f,
                    "the kernel refused this process kevent: edge()/fd_close() on a process \
                     kevent, or (process_pid) pid {id} is 0, above INT_MAX or a thread that \
                     is not a process"
                ),
                Some(Kind::Poll) => write!(
                    f,
                    "the kernel refused this poll request: fd {fd} is this queue itself, no \
                     events were asked for, or fd_close() was changed by a modify"
                ),
                Some(Kind::Socket) => write!(
                    f,
                    "the kernel refused this socket request: fd {fd} is this queue itself, no \
                     or unknown SocketEvents, or fd_close() was changed by a modify"
                ),
                Some(Kind::Inode) => f.write_str(
                    "the kernel refused this inode kevent: no or unknown InodeEvents, or \
                     edge()/fd_close() on an inode kevent",
                ),
                Some(Kind::User) if cmd == Command::Trigger => f.write_str(
                    "the kernel refused the trigger (only user kevents can be triggered)",
                ),
                _ => f.write_str(
                    "the kernel refused the request as invalid (see kevent_ctl(2), ERRORS: \
                     e.g. oneshot() with dispatch(), update() on anything but an add)",
                ),
            },
            libc::ENOSPC if kind == Some(Kind::Inode) => f.write_str(
                "too many watches for this queue's owner: /proc/sys/fs/kevent/max_user_kevents \
                 or /proc/sys/fs/inotify/max_user_watches (inode kevents count as inotify \
                 watches, with the user's inotify watches) is reached: raise it, or remove \
                 kevents or watches",
            ),
            libc::ENOSPC => f.write_str(
                "too many kevents for this user: /proc/sys/fs/kevent/max_user_kevents \
                 (max_user_timers for timers) is reached",
            ),
            libc::ESRCH => write!(f, "no process {id} (it exited and was reaped already?)"),
            libc::EOPNOTSUPP => match kind {
                Some(k) => write!(
                    f,
                    "this kernel does not support kevents of type {} (see kevent::features)",
                    k.raw()
                ),
                None => f.write_str("this kernel does not support this kevent type"),
            },
            // kevent_ctl(2) lists ENOTSOCK for socket kevents only: for
            // another type the descriptor need not be a socket, so do not
            // say it should be one.
            libc::ENOTSOCK => match kind {
                Some(k) => write!(
                    f,
                    "the kernel answered ENOTSOCK for {}, which does not watch sockets \
                     (kevent_ctl(2) lists ENOTSOCK for socket kevents only: a kernel bug or a \
                     newer kernel?)",
                    KindNoun(k)
                ),
                None => return None,
            },
            libc::ENOMEM => f.write_str("the kernel is out of memory"),
            libc::ENOSYS => f.write_str(
                "kernel without kevent: boot a kernel built with the kevent patch series \
                 (see the kevent crate's README)",
            ),
            _ => return None,
        })
    }
}

/// The NAIO request errors in words (the key is the request's id, not
/// the socket's descriptor); `op`, when known, names a sendfile's own
/// causes, and `stays` a receive that stays. An ENABLE of a request is
/// always a rearm of a receive that stays (the crate sends no other).
fn explain_naio(
    f: &mut fmt::Formatter<'_>,
    cmd: Command,
    op: Option<NaioOp>,
    stays: bool,
    errno: i32,
) -> Option<fmt::Result> {
    if cmd == Command::Add && op == Some(NaioOp::Sendfile) {
        if let Some(r) = explain_sendfile(f, errno) {
            return Some(r);
        }
    }
    Some(match (cmd, errno) {
        (Command::Add, libc::EINVAL) if stays => f.write_str(
            "the kernel refused this receive that stays: a length of 0, flags a receive does \
             not take, or a kernel whose receives cannot stay (one before KEVENT_EV_MORE \
             refuses KEVENT_REQ_DISPATCH on a request): there, receive with Naio::recv, one \
             request per message",
        ),
        (Command::Enable, libc::ENOENT) => f.write_str(
            "no receive that stays has this id: it has ended (cancelled, its socket's \
             descriptor closed, or its last completion taken: NextStep::Done) and its id is \
             free; there is no run to start and nothing to cancel: drop the buffer, or start \
             a new receive with Naio::recv_stay",
        ),
        (Command::Enable, libc::EBUSY) => f.write_str(
            "no run can start now: a run of this receive is in flight, or its completion is \
             not taken yet (take it, and rearm when its next_step() is NextStep::Rearm); or \
             the receive is ending (cancelled, or its socket's descriptor closed) and its \
             last event is still to come: it is over, drop the buffer (a wait records that \
             event; nothing to cancel)",
        ),
        (Command::Enable, libc::EINVAL) => f.write_str(
            "the kernel starts runs only of a receive that stays (Naio::recv_stay): this \
             request is another",
        ),
        (Command::Add, libc::EBADF) => f.write_str("the socket is not an open file descriptor"),
        (Command::Add, libc::ENOTSOCK) => {
            f.write_str("the descriptor is not a socket (network I/O requests need one)")
        }
        (Command::Add, libc::EOPNOTSUPP) => f.write_str(
            "the socket is not one network I/O requests take (a stream, datagram or \
             seqpacket socket of AF_INET, AF_INET6 or AF_UNIX), or this kernel has no \
             KEVENT_NAIO (see kevent::features)",
        ),
        (Command::Add, libc::EINVAL) => f.write_str(
            "the kernel refused this network I/O request: a length of 0, flags the \
             operation does not take, or request flags other than oneshot/wake_all",
        ),
        (Command::Add, libc::EAGAIN) => f.write_str(
            "too many network I/O requests in flight on this queue: \
             /proc/sys/fs/kevent/max_queue_requests is reached",
        ),
        (Command::Add, libc::EEXIST) => {
            f.write_str("a request with this id is already in flight on the queue")
        }
        (Command::Remove, libc::ENOENT) => f.write_str(
            "no request with this id is in flight (it completed and was reported already)",
        ),
        (Command::Remove, libc::EALREADY) => {
            f.write_str("the request has completed already; its completion is still to be reported")
        }
        _ => return None,
    })
}

/// The errors of a sendfile's add in words: the file's (`naio.in_fd`)
/// checks, and a socket that is not a stream.
fn explain_sendfile(f: &mut fmt::Formatter<'_>, errno: i32) -> Option<fmt::Result> {
    Some(match errno {
        libc::EBADF => f.write_str(
            "the socket or the file is not an open file descriptor, or the file is not \
             open for reading (opened write-only, or with O_PATH)",
        ),
        libc::ENOTSOCK => f.write_str(
            "the socket's descriptor is not a socket (a sendfile takes the socket first, \
             then the file)",
        ),
        libc::EOPNOTSUPP => f.write_str(
            "a sendfile needs a stream socket (TCP, or a Unix stream socket), not a \
             datagram or seqpacket one; sockets other than AF_INET, AF_INET6 and AF_UNIX \
             are refused too; or the file is on a file system whose reads the kernel \
             cannot wait for without holding up the queue (only tmpfs, ext4, xfs, btrfs, \
             f2fs and block devices are taken: not NFS, FUSE, procfs or 9p), or is \
             O_DIRECT",
        ),
        libc::EINVAL => f.write_str(
            "the kernel refused this sendfile: the file is not a regular file or a block \
             device (a pipe, a socket, a directory, or anything else without a page cache: \
             read it and send the bytes instead), the range offset + len ends past \
             i64::MAX, or this kernel's KEVENT_NAIO has no sendfile",
        ),
        libc::ESPIPE => f.write_str(
            "the file cannot be read at an offset (no pread): a sendfile reads the file \
             at the offset given",
        ),
        _ => return None,
    })
}

/// `a poll kevent`, `a process kevent`, `a kevent of type 42`.
struct KindNoun(Kind);

impl fmt::Display for KindNoun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Kind::Poll => "a poll",
            Kind::Timer => "a timer",
            Kind::User => "a user",
            Kind::Signal => "a signal",
            Kind::Proc => "a process",
            Kind::Inode => "an inode",
            Kind::Socket => "a socket",
            Kind::Naio => "a network I/O",
            Kind::Other(t) => return write!(f, "a kevent of type {t}"),
        };
        write!(f, "{name} kevent")
    }
}

/// `poll fd 7`, `timer 3`, `user 1`, `signal 10`, `process 1234`,
/// `inode fd 5`, `socket fd 6` (`poll fd -1` for `Key::poll(-1)`).
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Poll => write!(f, "poll fd {}", self.id() as i64),
            Kind::Timer => write!(f, "timer {}", self.id()),
            Kind::User => write!(f, "user {}", self.id()),
            Kind::Signal => write!(f, "signal {}", self.id()),
            Kind::Proc => write!(f, "process {}", self.id()),
            Kind::Inode => write!(f, "inode fd {}", self.id() as i64),
            Kind::Socket => write!(f, "socket fd {}", self.id() as i64),
            Kind::Naio => write!(f, "naio request {:#x}", self.id()),
            Kind::Other(t) => write!(f, "type {t} id {}", self.id()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.command)?;
        match (self.key, self.index) {
            (Some(key), None) => write!(f, " {key}")?,
            (Some(key), Some(i)) => write!(f, " {key} (batch entry {i})")?,
            (None, Some(i)) if i > 0 => write!(f, " batch (entries {i} on)")?,
            (None, _) => f.write_str(" batch")?,
        }
        f.write_str(": ")?;
        match &self.cause {
            Cause::Errno(e) if self.call => {
                f.write_str("the kevent_ctl call failed (no entry processed): ")?;
                match Self::explain_call(f, *e) {
                    Some(r) => {
                        r?;
                        write!(f, " (os error {e})")
                    }
                    None => write!(f, "{}", io::Error::from_raw_os_error(*e)),
                }
            }
            Cause::Errno(e) => match self.explain(f, *e) {
                Some(r) => {
                    r?;
                    write!(f, " (os error {e})")
                }
                None => write!(f, "{}", io::Error::from_raw_os_error(*e)),
            },
            Cause::Io(e) => write!(f, "{e}"),
        }
    }
}

/// No [`source`](std::error::Error::source): `Display` already prints
/// the cause (the errno's words, or the underlying error's message), and
/// an error reporter that prints the chain would print it twice.
impl std::error::Error for Error {}

/// Keeps the errno (`raw_os_error()`) and so the kind; an error without
/// an errno keeps its kind and words, with the [`Error`] inside. See
/// [`Error::into_io_with_message`] to keep the words of an errno.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e.cause {
            // No allocation: an Os io::Error.
            Cause::Errno(errno) => io::Error::from_raw_os_error(errno),
            Cause::Io(_) => e.into_io_with_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cmd: Command, key: Key, index: Option<usize>, errno: i32) -> String {
        Error::entry(cmd, key, index, errno).to_string()
    }

    /// A NAIO add's error text for `op`.
    fn naio_msg(op: NaioOp, errno: i32) -> String {
        Error::entry(Command::Add, Key::naio(1), None, errno)
            .with_naio_op(op)
            .to_string()
    }

    #[test]
    fn sendfile_errors_name_the_file_and_the_stream() {
        let m = naio_msg(NaioOp::Sendfile, libc::EOPNOTSUPP);
        assert!(
            m.starts_with("add naio request 0x1: a sendfile needs a stream socket"),
            "{m}"
        );
        assert!(
            m.ends_with(&format!("(os error {})", libc::EOPNOTSUPP)),
            "{m}"
        );
        let m = naio_msg(NaioOp::Sendfile, libc::EINVAL);
        assert!(
            m.contains("not a regular file or a block device (a pipe, a socket"),
            "{m}"
        );
        assert!(m.contains("past i64::MAX"), "{m}");
        assert!(m.contains("has no sendfile"), "{m}");
        let m = naio_msg(NaioOp::Sendfile, libc::ESPIPE);
        assert!(m.contains("cannot be read at an offset (no pread)"), "{m}");
        let m = naio_msg(NaioOp::Sendfile, libc::EBADF);
        assert!(m.contains("the socket or the file is not an open"), "{m}");
        assert!(m.contains("not open for reading"), "{m}");
        let m = naio_msg(NaioOp::Sendfile, libc::ENOTSOCK);
        assert!(m.contains("takes the socket first, then the file"), "{m}");
        // The errors every request shares keep their words.
        let m = naio_msg(NaioOp::Sendfile, libc::EAGAIN);
        assert!(m.contains("max_queue_requests"), "{m}");
        // A send's or receive's EOPNOTSUPP and EINVAL are not a file's.
        for op in [NaioOp::Send, NaioOp::Recv] {
            let m = naio_msg(op, libc::EOPNOTSUPP);
            assert!(m.contains("AF_INET, AF_INET6 or AF_UNIX"), "{m}");
            assert!(!m.contains("sendfile"), "{m}");
            let m = naio_msg(op, libc::EINVAL);
            assert!(m.contains("a length of 0"), "{m}");
            assert!(!m.contains("regular file"), "{m}");
            let m = naio_msg(op, libc::EBADF);
            assert!(
                m.contains("the socket is not an open file descriptor"),
                "{m}"
            );
        }
        // ESPIPE only means something for a sendfile.
        let m = naio_msg(NaioOp::Send, libc::ESPIPE);
        assert_eq!(
            m,
            format!(
                "add naio request 0x1: {}",
                io::Error::from_raw_os_error(libc::ESPIPE)
            )
        );
        // Without the operation (a batch made by hand), the shared words.
        let m = msg(Command::Add, Key::naio(1), None, libc::EOPNOTSUPP);
        assert!(m.contains("AF_INET, AF_INET6 or AF_UNIX"), "{m}");
        // A receive that stays: EINVAL may be a kernel without them.
        let e = Error::entry(Command::Add, Key::naio(1), None, libc::EINVAL).with_recv_stay();
        let m = e.to_string();
        assert!(m.contains("receive that stays"), "{m}");
        assert!(
            m.contains("receive with Naio::recv, one request per message"),
            "{m}"
        );
        assert!(!naio_msg(NaioOp::Recv, libc::EINVAL).contains("Naio::recv,"));
        // A rearm's (an ENABLE's) errors say what to do.
        let m = msg(Command::Enable, Key::naio(1), None, libc::ENOENT);
        assert!(
            m.starts_with("enable naio request 0x1: no receive that stays"),
            "{m}"
        );
        assert!(m.contains("drop the buffer, or start a new receive"), "{m}");
        assert!(!m.contains("add it first"), "{m}");
        let m = msg(Command::Enable, Key::naio(1), None, libc::EBUSY);
        assert!(m.contains("a run of this receive is in flight"), "{m}");
        assert!(m.contains("it is over, drop the buffer"), "{m}");
        assert!(m.ends_with(&format!("(os error {})", libc::EBUSY)), "{m}");
        let m = msg(Command::Enable, Key::naio(1), None, libc::EINVAL);
        assert!(m.contains("only of a receive that stays"), "{m}");
        // A REMOVE's words do not depend on the operation.
        let e = Error::entry(Command::Remove, Key::naio(1), None, libc::ENOENT)
            .with_naio_op(NaioOp::Sendfile);
        assert!(e.to_string().contains("no request with this id"), "{e}");
    }

    #[test]
    fn messages_name_the_command_the_key_and_the_entry() {
        assert_eq!(
            msg(Command::Add, Key::poll(7), Some(3), libc::EBADF),
            "add poll fd 7 (batch entry 3): fd 7 is not an open file descriptor (os error 9)"
        );
        let m = msg(Command::Add, Key::user(1), None, libc::EEXIST);
        assert!(
            m.starts_with("add user 1: the queue already has a kevent with this key: use modify"),
            "{m}"
        );
        let m = msg(Command::Remove, Key::timer(4), Some(0), libc::ENOENT);
        assert!(
            m.starts_with("remove timer 4 (batch entry 0): the queue has no kevent with this key"),
            "{m}"
        );
        let m = msg(Command::Trigger, Key::user(9), None, libc::ENOENT);
        assert!(m.contains("no user kevent with this id"), "{m}");
        let m = msg(Command::Enable, Key::poll(3), None, libc::ENOENT);
        assert!(
            m.contains("descriptor number now names another file"),
            "{m}"
        );
        let m = msg(Command::Add, Key::poll(5), None, libc::EPERM);
        assert!(m.starts_with("add poll fd 5: fd 5 cannot be polled"), "{m}");
        // Inode and process kevents outlive their fd: EEXIST may mean a
        // reused number.
        let m = msg(Command::Add, Key::inode(4), None, libc::EEXIST);
        assert!(m.contains("reused") && m.contains("old inode"), "{m}");
        let m = msg(Command::Add, Key::process(4), None, libc::EEXIST);
        assert!(m.contains("old process"), "{m}");
        let m = msg(Command::Add, Key::poll(4), None, libc::EEXIST);
        assert!(!m.contains("reused"), "{m}");
        // ENOTSOCK is worded for the entry's type: only a socket kevent
        // needs a socket.
        let m = msg(Command::Add, Key::process(3), None, libc::ENOTSOCK);
        assert_eq!(
            m,
            "add process 3: the kernel answered ENOTSOCK for a process kevent, which does \
             not watch sockets (kevent_ctl(2) lists ENOTSOCK for socket kevents only: a \
             kernel bug or a newer kernel?) (os error 88)"
        );
        let m = msg(Command::Add, Key::poll(5), None, libc::ENOTSOCK);
        assert!(
            !m.contains("is not a socket") && m.contains("for a poll kevent"),
            "{m}"
        );
        let m = msg(
            Command::Add,
            Key::new(Kind::Other(9), 1),
            None,
            libc::ENOTSOCK,
        );
        assert!(m.contains("for a kevent of type 9,"), "{m}");
        assert_eq!(Key::poll(-1).to_string(), "poll fd -1");
        let m = msg(Command::Add, Key::poll(-1), None, libc::EBADF);
        assert!(m.starts_with("add poll fd -1: fd -1 is not an open"), "{m}");
        let m = msg(Command::Add, Key::socket(6), None, libc::ENOTSOCK);
        assert!(
            m.starts_with("add socket fd 6: fd 6 is not a socket (a socket kevent needs one"),
            "{m}"
        );
        let m = msg(Command::Add, Key::socket(-1), None, libc::EBADF);
        assert!(
            m.starts_with("add socket fd -1: fd -1 is not an open"),
            "{m}"
        );
        let m = msg(Command::Add, Key::socket(6), None, libc::EINVAL);
        assert!(m.contains("refused this socket request"), "{m}");
        let m = msg(Command::Add, Key::signal(9), None, libc::EINVAL);
        assert!(
            m.starts_with("add signal 9: signal 9 cannot be watched"),
            "{m}"
        );
        let m = msg(Command::Add, Key::process(3), None, libc::EBADF);
        assert!(m.contains("fd 3 is not an open pidfd"), "{m}");
        let m = msg(Command::Add, Key::process(77), None, libc::ESRCH);
        assert!(m.contains("no process 77"), "{m}");
        let m = msg(
            Command::Disable,
            Key::new(Kind::Other(42), 1),
            None,
            libc::EOPNOTSUPP,
        );
        assert!(
            m.starts_with("disable type 42 id 1: this kernel does not support kevents of type 42"),
            "{m}"
        );
        // A NAIO request's EOPNOTSUPP names the sockets it takes.
        let m = msg(Command::Add, Key::naio(4), None, libc::EOPNOTSUPP);
        assert!(m.contains("AF_INET, AF_INET6 or AF_UNIX"), "{m}");
        let m = msg(Command::Add, Key::timer(1), None, libc::ENOSPC);
        assert!(m.contains("max_user_kevents"), "{m}");
        // An inode kevent also counts as an inotify watch.
        let m = msg(Command::Add, Key::inode(3), None, libc::ENOSPC);
        assert!(m.contains("fs/inotify/max_user_watches"), "{m}");
        let m = msg(Command::Modify, Key::user(1), None, libc::ENOSYS);
        assert!(
            m.contains("kernel without kevent: boot a kernel built with the kevent patch series"),
            "{m}"
        );
        // An errno without words of ours: the system's.
        let m = msg(Command::Add, Key::user(1), None, libc::EIO);
        assert_eq!(
            m,
            format!("add user 1: {}", io::Error::from_raw_os_error(libc::EIO))
        );
    }

    #[test]
    fn whole_call_failures_are_not_the_entrys() {
        // EBADF for the queue's descriptor: not "fd 7 is not open".
        let e = Error::call(
            Command::Add,
            Some(Key::poll(7)),
            None,
            io::Error::from_raw_os_error(libc::EBADF),
        );
        assert!(e.is_call_error());
        assert_eq!(
            (e.raw_os_error(), e.key(), e.index()),
            (Some(libc::EBADF), Some(Key::poll(7)), None)
        );
        assert_eq!(
            e.to_string(),
            "add poll fd 7: the kevent_ctl call failed (no entry processed): the queue's \
             descriptor is not open (closed behind the Queue's back?) (os error 9)"
        );
        // The same errno for the entry.
        let e = Error::entry(Command::Add, Key::poll(7), None, libc::EBADF);
        assert!(!e.is_call_error());
        assert!(e
            .to_string()
            .contains("fd 7 is not an open file descriptor"));
        // A batch's call: no key, the first entry of the failed call.
        let e = Error::call(
            Command::Remove,
            None,
            Some(64),
            io::Error::from_raw_os_error(libc::EFAULT),
        );
        assert_eq!(
            e.to_string(),
            "remove batch (entries 64 on): the kevent_ctl call failed (no entry processed): \
             the kernel could not read the entries (os error 14)"
        );
        let e = Error::call(
            Command::Add,
            None,
            Some(0),
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        let m = e.to_string();
        assert!(
            m.starts_with("add batch: the kevent_ctl call failed (no entry processed): ")
                && m.contains("not a kevent queue"),
            "{m}"
        );
        // EINVAL of a timer entry stays the timer's.
        let m = msg(Command::Add, Key::timer(1), None, libc::EINVAL);
        assert!(m.contains("refused this timer"), "{m}");
        // Errors that are not errnos keep their words, flagged.
        let e = Error::call(
            Command::Trigger,
            Some(Key::user(1)),
            None,
            io::Error::new(io::ErrorKind::Interrupted, "kevent_ctl processed no entry"),
        );
        assert!(e.is_call_error());
        assert_eq!(
            e.to_string(),
            "trigger user 1: kevent_ctl processed no entry"
        );
    }

    /// Everything `Display` prints once: a reporter that walks the
    /// `source()` chain (anyhow's `{:#}`, eyre) must not repeat it.
    #[test]
    fn the_cause_is_displayed_once() {
        use std::error::Error as _;
        let errors = [
            Error::io(
                Command::Add,
                Some(Key::user(1)),
                None,
                io::Error::new(io::ErrorKind::Unsupported, "no kevent here"),
            ),
            Error::call(
                Command::Add,
                None,
                Some(0),
                io::Error::new(io::ErrorKind::Interrupted, "stopped"),
            ),
            Error::entry(Command::Add, Key::user(1), None, libc::EEXIST),
        ];
        for e in errors {
            let mut chain = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            assert_eq!(chain, e.to_string(), "the chain repeats the message");
        }
    }

    #[test]
    fn errno_and_kind_survive() {
        let e = Error::entry(Command::Remove, Key::user(1), Some(2), libc::ENOENT);
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            (e.command(), e.key(), e.index()),
            (Command::Remove, Some(Key::user(1)), Some(2))
        );
        let text = e.to_string();
        // `?` into io::Error keeps the errno, as raw_os_error().
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert_eq!(Error::os_error_of(&io), Some(libc::ENOENT));
        fn question_mark() -> io::Result<()> {
            Err(Error::entry(Command::Add, Key::user(1), None, libc::EEXIST))?;
            Ok(())
        }
        assert_eq!(
            question_mark().unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
        // The words instead, on request.
        let e = Error::entry(Command::Remove, Key::user(1), Some(2), libc::ENOENT);
        let io = e.into_io_with_message();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert_eq!(io.to_string(), text);
        assert_eq!(Error::os_error_of(&io), Some(libc::ENOENT));
        let inner = io.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.index(), Some(2));
        // Box<dyn Error> (and so anyhow) takes the error itself.
        fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err(Error::entry(Command::Add, Key::user(1), None, libc::EEXIST))?;
            Ok(())
        }
        let b = boxed().unwrap_err();
        assert_eq!(
            b.downcast_ref::<Error>().unwrap().raw_os_error(),
            Some(libc::EEXIST)
        );
        // A plain OS io::Error becomes an errno with our words.
        let e = Error::io(
            Command::Add,
            Some(Key::poll(4)),
            None,
            io::Error::from_raw_os_error(libc::EBADF),
        );
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert!(e
            .to_string()
            .contains("fd 4 is not an open file descriptor"));
        // Others keep their message and kind.
        let e = Error::io(
            Command::Add,
            Some(Key::user(1)),
            None,
            io::Error::new(io::ErrorKind::Unsupported, "no kevent here"),
        );
        assert_eq!(
            (e.kind(), e.raw_os_error()),
            (io::ErrorKind::Unsupported, None)
        );
        assert_eq!(e.to_string(), "add user 1: no kevent here");
        let io: io::Error = e.into();
        assert_eq!(
            (io.kind(), io.raw_os_error(), io.to_string()),
            (
                io::ErrorKind::Unsupported,
                None,
                "add user 1: no kevent here".to_owned()
            )
        );
        assert_eq!(Command::Trigger.raw(), sys::KEVENT_CTL_READY);
    }
}
