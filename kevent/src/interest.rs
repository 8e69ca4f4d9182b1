//! What a kevent watches, and the events it reports.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use kevent_sys as sys;

use crate::flags::{EventFlags, InodeEvents, PollFlags, ReqFlags, SocketEvents};

/// The kind of a kevent: `ukevent.type`.
///
/// `#[non_exhaustive]`: the kernel side may add sources. A type this
/// version does not know comes as
/// [`Kind::Other`]; a later version of the crate may give it a variant of
/// its own, so match `Other(n)` only as a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Readiness of a pollable file.
    Poll,
    /// A periodic or single timer.
    Timer,
    /// An event another thread triggers.
    User,
    /// A signal sent to the process (`KEVENT_SIGNAL`).
    Signal,
    /// The exit of a process (`KEVENT_PROC`).
    Proc,
    /// Changes of a file or directory (`KEVENT_INODE`).
    Inode,
    /// Receive, accept and send readiness of a socket, with the amounts
    /// (`KEVENT_SOCKET`).
    Socket,
    /// A network I/O request's completion (`KEVENT_NAIO`): see
    /// [`Naio`](crate::Naio) and [`Event::naio_result`].
    Naio,
    /// A type this crate does not know yet (a newer kernel).
    Other(u32),
}

impl Kind {
    /// The `KEVENT_*` type number.
    pub fn raw(self) -> u32 {
        match self {
            Kind::Poll => sys::KEVENT_POLL,
            Kind::Timer => sys::KEVENT_TIMER,
            Kind::User => sys::KEVENT_USER,
            Kind::Signal => sys::KEVENT_SIGNAL,
            Kind::Proc => sys::KEVENT_PROC,
            Kind::Inode => sys::KEVENT_INODE,
            Kind::Socket => sys::KEVENT_SOCKET,
            Kind::Naio => sys::KEVENT_NAIO,
            Kind::Other(t) => t,
        }
    }

    /// The kind of a `KEVENT_*` type number.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            sys::KEVENT_POLL => Kind::Poll,
            sys::KEVENT_TIMER => Kind::Timer,
            sys::KEVENT_USER => Kind::User,
            sys::KEVENT_SIGNAL => Kind::Signal,
            sys::KEVENT_PROC => Kind::Proc,
            sys::KEVENT_INODE => Kind::Inode,
            sys::KEVENT_SOCKET => Kind::Socket,
            sys::KEVENT_NAIO => Kind::Naio,
            other => Kind::Other(other),
        }
    }
}

/// A clock that timers and deadlines are measured on (`KEVENT_CLOCK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: steady, stops while the system is suspended.
    #[default]
    Monotonic,
    /// `CLOCK_REALTIME`: wall-clock time since 1970; jumps when it is set.
    Realtime,
    /// `CLOCK_BOOTTIME`: like `Monotonic`, but counts suspended time too.
    Boottime,
}

impl Clock {
    /// The `KEVENT_CLOCK_*` number.
    pub fn raw(self) -> u32 {
        match self {
            Clock::Monotonic => sys::KEVENT_CLOCK_MONOTONIC,
            Clock::Realtime => sys::KEVENT_CLOCK_REALTIME,
            Clock::Boottime => sys::KEVENT_CLOCK_BOOTTIME,
        }
    }

    fn clockid(self) -> libc::clockid_t {
        match self {
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Realtime => libc::CLOCK_REALTIME,
            Clock::Boottime => libc::CLOCK_BOOTTIME,
        }
    }

    /// The clock's current time, since its epoch (see [`Deadline`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kevent::{Clock, Deadline};
    ///
    /// let in_a_second = Deadline::at(Clock::Realtime, Clock::Realtime.now() + Duration::from_secs(1));
    /// # let _ = in_a_second;
    /// ```
    pub fn now(self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes our timespec; the clock ids are valid on Linux.
        let ret = unsafe { libc::clock_gettime(self.clockid(), &mut ts) };
        assert_eq!(ret, 0, "clock_gettime({self:?})");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

/// Nanoseconds, saturating at `u64::MAX`.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds of a timer's period or start, clamped to `KTIME_MAX`
/// (`i64::MAX` ns, about 292 years): the kernel refuses more (`EINVAL`).
fn timer_nanos(d: Duration) -> u64 {
    nanos(d).min(i64::MAX as u64)
}

/// An absolute time on a [`Clock`]: when a timer first expires
/// ([`Kevent::timer_at`], [`Kevent::start_at`]) or a wait ends
/// ([`Queue::wait_until`](crate::Queue::wait_until)).
///
/// ```
/// use std::time::{Duration, Instant};
/// use kevent::{Clock, Deadline};
///
/// let soon = Deadline::after(Duration::from_millis(10)); // monotonic
/// let wall = Deadline::at(Clock::Realtime, Duration::from_secs(2_000_000_000)); // in 2033
/// let same = Deadline::from(Instant::now() + Duration::from_millis(10));
/// assert!(!soon.has_passed() && !wall.has_passed() && !same.has_passed());
/// assert_eq!(soon.clock(), Clock::Monotonic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deadline {
    clock: Clock,
    at: Duration,
}

impl Deadline {
    /// The time `at` since `clock`'s epoch (see [`Clock::now`]).
    pub const fn at(clock: Clock, at: Duration) -> Self {
        Deadline { clock, at }
    }

    /// `after` from now, on [`Clock::Monotonic`].
    pub fn after(after: Duration) -> Self {
        Self::after_on(Clock::Monotonic, after)
    }

    /// `after` from now, on `clock`.
    pub fn after_on(clock: Clock, after: Duration) -> Self {
        Deadline {
            clock,
            at: clock.now().saturating_add(after),
        }
    }

    /// The clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The time since the clock's epoch.
    pub fn time(&self) -> Duration {
        self.at
    }

    /// The time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_sub(self.clock.now())
    }

    /// Whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        self.clock.now() >= self.at
    }
}

impl From<Instant> for Deadline {
    /// The same moment on [`Clock::Monotonic`] (which `Instant` reads on
    /// Linux), to within the time between two clock reads.
    fn from(at: Instant) -> Self {
        let now = Instant::now();
        let mono = Clock::Monotonic.now();
        let at = match at.checked_duration_since(now) {
            Some(ahead) => mono.saturating_add(ahead),
            None => mono.saturating_sub(now - at),
        };
        Deadline::at(Clock::Monotonic, at)
    }
}

/// The value a kevent hands back with every event: `user_data`. Dispatch
/// on it, as on mio's `Token`: give each kevent its own
/// ([`Kevent::token`]) and [`Event::token`] says which one fired.
///
/// A kevent's [`Key`] (kind and id) is how the queue finds it for
/// [`Queue::modify`](crate::Queue::modify), [`Queue::remove`](crate::Queue::remove)
/// or [`Queue::enable`](crate::Queue::enable); for a poll kevent the id is
/// the descriptor number, which the process may reuse, so the token is the
/// better name for your connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Token(pub u64);

impl From<u64> for Token {
    fn from(v: u64) -> Self {
        Token(v)
    }
}

impl From<usize> for Token {
    fn from(v: usize) -> Self {
        Token(v as u64)
    }
}

impl From<Token> for u64 {
    fn from(t: Token) -> u64 {
        t.0
    }
}

/// A kevent to add, modify or remove: one `struct ukevent` request.
///
/// Build one with [`Kevent::poll`], [`Kevent::timer`] (periodic),
/// [`Kevent::timer_after`] or [`Kevent::timer_at`] (one expiry),
/// [`Kevent::user`], [`Kevent::signal`], [`Kevent::process`] (a pidfd),
/// [`Kevent::process_pid`], [`Kevent::inode`] (a file or directory) or
/// [`Kevent::socket`], then refine it. A poll, process, inode or socket
/// request borrows its
/// descriptor (the `'fd` lifetime): the descriptor cannot be closed while
/// the request that names it exists.
///
/// ```
/// use std::time::Duration;
/// use kevent::{Clock, Deadline, Kevent, Token};
///
/// let tick = Kevent::timer(1, Duration::from_millis(10)).token(Token(42));
/// // First expiry in 1 ms, then every 10 ms, on CLOCK_BOOTTIME.
/// let soon = Kevent::timer(2, Duration::from_millis(10))
///     .start_after(Duration::from_millis(1))
///     .clock(Clock::Boottime);
/// // Expires once, in 5 ms; once, at an absolute wall-clock time.
/// let delay = Kevent::timer_after(3, Duration::from_millis(5));
/// let at = Kevent::timer_at(4, Deadline::after_on(Clock::Realtime, Duration::from_secs(60)));
/// let once = Kevent::user(7).oneshot();
/// // SIGUSR1 sent to this process, counted and taken off the pending set.
/// let usr1 = Kevent::signal(libc::SIGUSR1).consume();
/// // The exit of process 1234 (by number; Kevent::process takes a pidfd).
/// let exit = Kevent::process_pid(1234).token(Token(9));
/// # let _ = (tick, soon, delay, at, once, usr1, exit);
/// ```
///
/// A poll request cannot outlive its descriptor:
///
/// ```compile_fail,E0597
/// use std::os::fd::AsFd;
/// use kevent::{Kevent, PollFlags};
///
/// let request = {
///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
///     Kevent::poll(a.as_fd(), PollFlags::IN) // `a` is closed here
/// };
/// # let _ = request;
/// ```
#[derive(Clone, Copy)]
#[must_use = "a Kevent does nothing until it is added to a Queue"]
pub struct Kevent<'fd> {
    pub(crate) raw: sys::ukevent,
    /// Whether [`token`](Kevent::token) or [`user_data`](Kevent::user_data)
    /// was called: a modify without it would reset the token to 0.
    pub(crate) token_set: bool,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

impl std::fmt::Debug for Kevent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Kevent");
        d.field("kind", &self.kind())
            .field("id", &self.raw.id)
            .field("event", &self.raw.event)
            .field("flags", &self.flags())
            .field("data", &self.raw.data)
            .field("token", &self.raw.user_data);
        match self.kind() {
            Kind::Timer => {
                let t = self.timer_fields();
                d.field("start", &t.start)
                    .field("clock", &t.clock)
                    .field("timer_flags", &t.flags);
            }
            Kind::Signal | Kind::Proc => {
                d.field("type_flags", &self.type_flags());
            }
            Kind::Inode => {
                d.field(
                    "inode_events",
                    &InodeEvents::from_bits_retain(self.raw.event),
                );
            }
            Kind::Socket => {
                d.field(
                    "socket_events",
                    &SocketEvents::from_bits_retain(self.raw.event),
                );
            }
            _ => {}
        }
        d.finish()
    }
}

impl Kevent<'static> {
    fn new(kind: Kind, id: u64, event: u32) -> Self {
        let raw = sys::ukevent {
            id,
            type_: kind.raw(),
            event,
            ..Default::default()
        };
        Kevent {
            raw,
            token_set: false,
            _fd: PhantomData,
        }
    }

    /// [`poll`](Kevent::poll) by descriptor number.
    ///
    /// To remove or enable a kevent by number, use [`Key::poll`] instead,
    /// which is safe.
    ///
    /// # Safety
    ///
    /// If this request is added or modified, `fd` must be open and refer to
    /// the file you mean to watch at that time (I/O safety): the kernel
    /// takes a reference to whatever file the number holds then.
    pub unsafe fn poll_raw(fd: RawFd, events: PollFlags) -> Self {
        Self::new(Kind::Poll, fd as u64, events.bits())
    }

    /// A timer that fires every `period` (at least 1 µs), first one period
    /// from now unless [`start_after`](Self::start_after) or
    /// [`start_at`](Self::start_at) says otherwise, on
    /// [`Clock::Monotonic`] unless [`clock`](Self::clock) says otherwise.
    /// `id` is any value you choose (its [`Key`] is `Key::timer(id)`).
    ///
    /// A zero `period` is refused by the kernel (`EINVAL`) unless a start
    /// is given; for a single expiry use [`timer_after`](Self::timer_after)
    /// or [`timer_at`](Self::timer_at). A period longer than `i64::MAX`
    /// nanoseconds (about 292 years, the most the kernel takes) is
    /// clamped to it.
    pub fn timer(id: u64, period: Duration) -> Self {
        let mut this = Self::new(Kind::Timer, id, sys::KEVENT_TIMER_FIRED);
        this.raw.data = timer_nanos(period);
        this
    }

    /// A timer that expires once, `delay` from now (a zero delay: at
    /// once). It stays registered, disarmed, after it fired, unless
    /// [`oneshot`](Self::oneshot); adding it again with
    /// [`update`](Self::update) re-arms it.
    pub fn timer_after(id: u64, delay: Duration) -> Self {
        Self::timer(id, Duration::ZERO).start_after(delay)
    }

    /// A timer that expires once, at `deadline` (at once if it has
    /// passed), on the deadline's clock. See [`timer_after`](Self::timer_after).
    pub fn timer_at(id: u64, deadline: Deadline) -> Self {
        Self::timer(id, Duration::ZERO).start_at(deadline)
    }

    /// An event that [`Queue::trigger`](crate::Queue::trigger) (or a
    /// [`Waker`](crate::Waker)) makes ready. `id` is any value you choose.
    pub fn user(id: u64) -> Self {
        Self::new(Kind::User, id, sys::KEVENT_USER_TRIGGERED)
    }

    /// Signal `signo` (1 to 64) sent to this process, to it or to any of
    /// its threads, whether it is then handled, ignored or blocked
    /// (kqueue's `EVFILT_SIGNAL`); normal delivery does not change.
    /// [`Event::count`] is the number of sends since the last report. The
    /// id is the signal number ([`Key::signal`]). `SIGKILL`, `SIGSTOP` and
    /// numbers out of range are refused by the kernel (`EINVAL`).
    ///
    /// The kevent counts the signals of the process that adds it, even
    /// when the queue is later inherited or passed to another process.
    /// With [`consume`](Self::consume) a report also takes the pending
    /// signal, as reading a `signalfd` does.
    ///
    /// Since delivery does not change, a signal whose default action ends
    /// the process still ends it: block it in every thread (before any
    /// is spawned, e.g. with `pthread_sigmask` in `main`), handle it, or
    /// ignore it, as for a `signalfd`.
    pub fn signal(signo: i32) -> Self {
        Self::new(Kind::Signal, signo as u64, sys::KEVENT_SIGNAL_DELIVERED)
    }

    /// The exit of the process with id `pid` in this pid namespace (any
    /// process `pidfd_open` would give a pidfd for, child or not;
    /// `KEVENT_PROC_PID`; with a [`std::process::Child`], pass
    /// `child.id() as libc::pid_t`). The kevent holds the process, not the
    /// number, so a reused pid never confuses it. No such process (or one already
    /// reaped): `ESRCH`; a thread that is not a process, or 0: `EINVAL`.
    /// The id is `pid` ([`Key::process`]). See [`process`](Kevent::process)
    /// for what is reported.
    pub fn process_pid(pid: libc::pid_t) -> Self {
        let mut this = Self::new(Kind::Proc, pid as u32 as u64, sys::KEVENT_PROC_EXIT);
        this.set_type_flags(sys::KEVENT_PROC_PID);
        this
    }
}

impl<'fd> Kevent<'fd> {
    /// Readiness of `fd` for `events`. Level-triggered unless
    /// [`edge`](Self::edge). The kevent watches the open file, not the
    /// number: it goes away when the file's last descriptor is closed
    /// (with [`fd_close`](Self::fd_close): when this number is closed).
    /// Its id is the descriptor number ([`Key::poll`]).
    ///
    /// The request borrows `fd`, so it cannot name a closed descriptor
    /// (or the next file that gets its number) when it is added. After
    /// the add the borrow is not needed: the kernel holds the file, not
    /// the number, and removes the kevent when the file's last reference
    /// is closed, so the kevent never refers to a stale descriptor. If a
    /// duplicate keeps the file open after this number is closed, the
    /// kevent stays under the old number, still reporting the old file
    /// with its token, until it is removed or a new file with that number
    /// is added in its place: to remove the kevent before the descriptor
    /// closes, keep it in a
    /// [`Registered`](crate::Registered) guard
    /// ([`Queue::register`](crate::Queue::register)), or use
    /// [`fd_close`](Self::fd_close). [`Queue::add_fd`](crate::Queue::add_fd)
    /// says more.
    pub fn poll(fd: BorrowedFd<'fd>, events: PollFlags) -> Self {
        // SAFETY: `fd` is open and stays so while the result lives ('fd).
        let k = unsafe { Kevent::poll_raw(fd.as_raw_fd(), events) };
        Kevent {
            raw: k.raw,
            token_set: k.token_set,
            _fd: PhantomData,
        }
    }

    /// The exit of the process `pidfd` refers to (from `pidfd_open` or
    /// `clone` with `CLONE_PIDFD`). Reported once, with
    /// [`Event::exit_status`] the `wait` status of the exit, whoever
    /// reaps the process: a process that has exited already is reported
    /// at once (with no status if it was reaped already). The status is
    /// only for the parent, or a caller allowed to ptrace-read the process
    /// when it adds the kevent, until the process calls `execve` (unless
    /// the caller has `CAP_SYS_PTRACE`); others get the exit with
    /// [`EventFlags::NODATA`] and no status. The kevent
    /// holds the process: closing `pidfd` after the add does not remove
    /// it. The id is the descriptor number ([`Key::process`]); once the
    /// number names another pidfd, adding it fails with `EEXIST` until
    /// the old kevent is removed. Not a pidfd: `EBADF`.
    pub fn process(pidfd: BorrowedFd<'fd>) -> Self {
        let k = Kevent::new(Kind::Proc, pidfd.as_raw_fd() as u64, sys::KEVENT_PROC_EXIT);
        Kevent {
            raw: k.raw,
            token_set: k.token_set,
            _fd: PhantomData,
        }
    }

    /// Changes of the file or directory `fd` refers to (`KEVENT_INODE`,
    /// as inotify reports them, without names): entries of a directory
    /// created, removed or renamed out and in, writes and attribute
    /// changes of a file or of a directory's entries, and the watched
    /// inode's own rename, deletion or unmount ([`InodeEvents`]). A
    /// report has every change since the last one in
    /// [`Event::inode_events`] and how many in [`Event::count`]; to know
    /// which entries changed, rescan the directory. An `O_PATH`
    /// descriptor is enough, but read permission on the inode is needed
    /// (`EACCES`). Not an open descriptor: `EBADF`. The id is the
    /// descriptor number ([`Key::inode`]).
    ///
    /// The kevent watches the inode, not the open file: closing `fd`
    /// after the add keeps it, and it holds a reference on the inode
    /// while it exists. The number stays its id ([`Key::inode`]): once
    /// the number names another file, adding that file fails with
    /// `EEXIST` (the kernel does not drop a live watch) until the old
    /// kevent is removed, so to watch several directories keep each
    /// descriptor open until its kevent is added. (It must be this way:
    /// Linux reports a deletion only when the inode's last reference
    /// goes, which a kevent ending with its descriptor could never see.) Deletion of the inode (its last link removed and
    /// its last open file closed, `fd` included) or unmount of its file
    /// system ends the kevent: it reports [`InodeEvents::DELETE_SELF`] or
    /// [`InodeEvents::REVOKED`] with [`EventFlags::EOF`], asked for or
    /// not, and that report removes it, as a [`oneshot`](Self::oneshot)
    /// one. Changes while the kevent is [`disabled`](Self::disabled) are
    /// dropped. The kernel refuses [`edge`](Self::edge) and
    /// [`fd_close`](Self::fd_close) (`EINVAL`): changes are edges already.
    ///
    /// The kevent holds the inode as an inotify watch does, and counts as
    /// one: against `/proc/sys/fs/inotify/max_user_watches` of the queue's
    /// creator (shared with that user's inotify watches) as well as
    /// `/proc/sys/fs/kevent/max_user_kevents`. Past either, the add fails
    /// with `ENOSPC`.
    ///
    /// ```
    /// use std::os::fd::{AsFd, AsRawFd};
    /// use kevent::{InodeEvents, Kevent, Key, Token};
    ///
    /// let dir = std::fs::File::open(".")?;
    /// // Entries created, removed or renamed in and out of `dir`.
    /// let watch = Kevent::inode(dir.as_fd(), InodeEvents::ENTRIES).token(Token(3));
    /// assert_eq!(watch.key(), Key::inode(dir.as_raw_fd()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn inode(fd: BorrowedFd<'fd>, events: InodeEvents) -> Self {
        let k = Kevent::new(Kind::Inode, fd.as_raw_fd() as u64, events.bits());
        Kevent {
            raw: k.raw,
            token_set: k.token_set,
            _fd: PhantomData,
        }
    }

    /// Receive, accept and send readiness of the socket `fd`
    /// (`KEVENT_SOCKET`, kqueue's `EVFILT_READ`/`EVFILT_WRITE` on a
    /// socket), with the amounts: [`Event::recv_amount`] is the bytes to
    /// read (the next datagram's size on a datagram socket) or the
    /// connections waiting to be accepted, [`Event::send_space`] the free
    /// send space. [`EventFlags::EOF`] when the peer sends no more (RECV
    /// then reports what is left) or nothing more can be sent (SEND);
    /// with [`EventFlags::ERROR`] every bit asked for is reported and
    /// [`Event::error`] is the pending error. The kernel knows the
    /// amounts to read or accept of TCP, UDP and unix sockets; for other
    /// protocols, and TCP under kTLS or sockmap, they are unknown
    /// ([`EventFlags::NODATA`], [`Event::recv_amount`] `None`). The send
    /// space is known for every socket.
    ///
    /// It is handled as a [`poll`](Self::poll) kevent: level-triggered
    /// unless [`edge`](Self::edge), with [`oneshot`](Self::oneshot),
    /// [`dispatch`](Self::dispatch) and [`fd_close`](Self::fd_close); it
    /// watches the open file and goes away at its last close. The id is
    /// the descriptor number ([`Key::socket`]). Not a socket: `ENOTSOCK`;
    /// not an open descriptor: `EBADF`.
    ///
    /// ```
    /// use std::os::fd::{AsFd, AsRawFd};
    /// use kevent::{Kevent, Key, SocketEvents, Token};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let accept = Kevent::socket(listener.as_fd(), SocketEvents::ACCEPT).token(Token(1));
    /// assert_eq!(accept.key(), Key::socket(listener.as_raw_fd()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn socket(fd: BorrowedFd<'fd>, events: SocketEvents) -> Self {
        let k = Kevent::new(Kind::Socket, fd.as_raw_fd() as u64, events.bits());
        Kevent {
            raw: k.raw,
            token_set: k.token_set,
            _fd: PhantomData,
        }
    }

    /// Signal kevents only: each report also takes up to
    /// [`Event::count`] pending instances of the signal off the reporting
    /// thread's pending set and then the process's
    /// (`KEVENT_SIGNAL_CONSUME`), as reading a `signalfd` does. Only a
    /// blocked signal stays pending long enough to be taken; a report in
    /// a thread of another process takes nothing.
    ///
    /// # Panics
    ///
    /// On a kevent that is not a signal kevent: the bit means something
    /// else to other types (`KEVENT_PROC_PID` for a process kevent).
    pub fn consume(mut self) -> Self {
        assert_eq!(
            self.kind(),
            Kind::Signal,
            "Kevent::consume is for signal kevents only"
        );
        let flags = self.type_flags() | sys::KEVENT_SIGNAL_CONSUME;
        self.set_type_flags(flags);
        self
    }

    /// The first word of the union: `signal.flags` or `proc.flags` (for
    /// a timer, the low half of `timer.start`).
    fn type_flags(&self) -> u32 {
        // SAFETY: every member of the union is plain integers, and every
        // Kevent starts zeroed.
        unsafe { self.raw.__bindgen_anon_1.signal.flags }
    }

    fn set_type_flags(&mut self, flags: u32) {
        // Both members have the flags first; write through the right one.
        match self.kind() {
            Kind::Proc => self.raw.__bindgen_anon_1.proc_.flags = flags,
            _ => self.raw.__bindgen_anon_1.signal.flags = flags,
        }
    }

    fn timer_fields(&self) -> sys::ukevent__bindgen_ty_1__bindgen_ty_1 {
        // SAFETY: both members of the union are plain integers, and every
        // Kevent starts zeroed.
        unsafe { self.raw.__bindgen_anon_1.timer }
    }

    fn set_timer(mut self, f: impl FnOnce(&mut sys::ukevent__bindgen_ty_1__bindgen_ty_1)) -> Self {
        // The union's other members share these bytes.
        assert_eq!(
            self.kind(),
            Kind::Timer,
            "Kevent::start_after, start_at and clock are for timers only"
        );
        let mut timer = self.timer_fields();
        f(&mut timer);
        self.raw.__bindgen_anon_1.timer = timer;
        self
    }

    /// Timers only: the first expiry `after` from now (then every period).
    /// A zero `after` means at once (1 ns); one longer than `i64::MAX`
    /// nanoseconds (about 292 years, the most the kernel takes) is
    /// clamped to it, so `Duration::MAX` is "never", in effect.
    ///
    /// # Panics
    ///
    /// On a kevent that is not a timer.
    pub fn start_after(self, after: Duration) -> Self {
        self.set_timer(|t| {
            t.start = timer_nanos(after).max(1);
            t.flags &= !sys::KEVENT_TIMER_ABSTIME;
        })
    }

    /// Timers only: the first expiry at `deadline` (then every period),
    /// on the deadline's clock, which the timer then runs on; a deadline
    /// already past expires at once. A deadline later than `i64::MAX`
    /// nanoseconds after the clock's epoch (about 292 years: the most the
    /// kernel takes) is clamped to it.
    ///
    /// # Panics
    ///
    /// On a kevent that is not a timer.
    pub fn start_at(self, deadline: Deadline) -> Self {
        self.set_timer(|t| {
            t.start = timer_nanos(deadline.at).max(1);
            t.clock = deadline.clock.raw();
            t.flags |= sys::KEVENT_TIMER_ABSTIME;
        })
    }

    /// Timers only: the clock the timer runs on (default
    /// [`Clock::Monotonic`]).
    ///
    /// # Panics
    ///
    /// On a kevent that is not a timer; after [`start_at`](Self::start_at)
    /// or with [`timer_at`](Self::timer_at),
    /// whose [`Deadline`] sets the clock: another clock would read the
    /// absolute time differently.
    pub fn clock(self, clock: Clock) -> Self {
        assert_eq!(self.kind(), Kind::Timer, "Kevent::clock is for timers only");
        assert!(
            self.timer_fields().flags & sys::KEVENT_TIMER_ABSTIME == 0
                || self.timer_fields().clock == clock.raw(),
            "Kevent::clock after start_at: the Deadline gives an absolute start's clock"
        );
        self.set_timer(|t| t.clock = clock.raw())
    }

    /// Removed after its first reported event.
    pub fn oneshot(self) -> Self {
        self.with_flags(ReqFlags::ONESHOT)
    }

    /// Edge-triggered (poll and socket kevents only; the kernel refuses
    /// it elsewhere).
    pub fn edge(self) -> Self {
        self.with_flags(ReqFlags::EDGE)
    }

    /// Wakes every waiting thread, not one.
    pub fn wake_all(self) -> Self {
        self.with_flags(ReqFlags::WAKEUP_ALL)
    }

    /// Disabled after each report, until [`Queue::enable`](crate::Queue::enable)
    /// ([`ReqFlags::DISPATCH`]).
    pub fn dispatch(self) -> Self {
        self.with_flags(ReqFlags::DISPATCH)
    }

    /// Registered disabled ([`ReqFlags::DISABLED`]).
    pub fn disabled(self) -> Self {
        self.with_flags(ReqFlags::DISABLED)
    }

    /// [`Queue::add`](crate::Queue::add) updates the kevent if it exists
    /// ([`ReqFlags::UPDATE`]).
    ///
    /// An update is a modify of whatever kevent has this key: it replaces
    /// that kevent's events, flags and token with this request's,
    /// unchecked (without [`token`](Self::token) the token becomes 0, and
    /// a kevent someone else added under the key, a [`Waker`](crate::Waker)'s
    /// included, is taken over). Use [`Queue::modify`](crate::Queue::modify),
    /// which requires the token, when the kevent is known to exist.
    pub fn update(self) -> Self {
        self.with_flags(ReqFlags::UPDATE)
    }

    /// Poll and socket kevents only: removed when this descriptor number
    /// is closed ([`ReqFlags::FD_CLOSE`]).
    pub fn fd_close(self) -> Self {
        self.with_flags(ReqFlags::FD_CLOSE)
    }

    /// Poll and socket kevents: `tag` in the id's high 32 bits (the low
    /// 32 are the descriptor), part of the key, so that one queue can
    /// watch one file with several kevents, each with its own flags and
    /// token (a kqueue's READ and WRITE filters of a descriptor), each
    /// reported under its own id; [`Key::tagged`] names it. Closing the
    /// descriptor removes each of them that has [`fd_close`](Self::fd_close).
    /// Kernels before the tag refuse a tagged id (`EBADF`). Other kinds
    /// keep their id: a tag means nothing to them.
    pub fn tag(mut self, tag: u32) -> Self {
        if matches!(self.kind(), Kind::Poll | Kind::Socket) {
            self.raw.id = with_tag(self.raw.id, tag);
        }
        self
    }

    /// Adds request flags.
    pub fn with_flags(mut self, flags: ReqFlags) -> Self {
        self.raw.req_flags |= flags.bits();
        self
    }

    /// The token every event of this kevent carries ([`Event::token`]).
    /// A [`Queue::modify`](crate::Queue::modify) replaces it too, so a
    /// modify requires it (`InvalidInput` without it): give it again.
    pub fn token(mut self, token: impl Into<Token>) -> Self {
        self.raw.user_data = token.into().0;
        self.token_set = true;
        self
    }

    /// The token as a raw `u64` (the same field as [`token`](Self::token)).
    pub fn user_data(mut self, data: u64) -> Self {
        self.raw.user_data = data;
        self.token_set = true;
        self
    }

    /// The kind of kevent.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(self.raw.type_)
    }

    /// The id: the descriptor number for poll kevents.
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// The token given with [`token`](Self::token) (0 if none).
    pub fn get_token(&self) -> Token {
        Token(self.raw.user_data)
    }

    /// Whether a token was given ([`token`](Self::token) or
    /// [`user_data`](Self::user_data)), even `Token(0)`: what
    /// [`Queue::modify`](crate::Queue::modify) requires.
    pub fn has_token(&self) -> bool {
        self.token_set
    }

    /// The request flags.
    pub fn flags(&self) -> ReqFlags {
        ReqFlags::from_bits_retain(self.raw.req_flags)
    }

    /// The kevent's key: kind and id.
    pub fn key(&self) -> Key {
        Key::new(self.kind(), self.raw.id)
    }
}

/// Which kevent: its kind and id, the key of a queue's kevents. What
/// [`Queue::remove`](crate::Queue::remove), [`Queue::enable`](crate::Queue::enable)
/// and [`Queue::disable`](crate::Queue::disable) take.
///
/// ```
/// use kevent::{Kevent, Key, Kind};
///
/// assert_eq!(Kevent::user(3).key(), Key::user(3));
/// assert_eq!(Key::user(3), Key::new(Kind::User, 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    kind: Kind,
    id: u64,
}

impl Key {
    /// The kevent of `kind` with `id`.
    pub fn new(kind: Kind, id: u64) -> Self {
        Key { kind, id }
    }

    /// The poll kevent of descriptor number `fd` (safe: removing or
    /// enabling by number hands the kernel no file).
    pub fn poll(fd: RawFd) -> Self {
        Key::new(Kind::Poll, fd as u64)
    }

    /// A poll or socket kevent's key with `tag` in the id's high 32 bits
    /// ([`Kevent::tag`]); other kinds' keys are returned as they are.
    pub fn tagged(self, tag: u32) -> Self {
        match self.kind {
            Kind::Poll | Kind::Socket => Key::new(self.kind, with_tag(self.id, tag)),
            _ => self,
        }
    }

    /// The timer kevent `id`.
    pub fn timer(id: u64) -> Self {
        Key::new(Kind::Timer, id)
    }

    /// The user kevent `id`.
    pub fn user(id: u64) -> Self {
        Key::new(Kind::User, id)
    }

    /// The signal kevent of `signo`.
    pub fn signal(signo: i32) -> Self {
        Key::new(Kind::Signal, signo as u64)
    }

    /// The process kevent added with `id`: the pidfd's descriptor number
    /// for [`Kevent::process`], the pid for [`Kevent::process_pid`].
    pub fn process(id: i32) -> Self {
        Key::new(Kind::Proc, id as u32 as u64)
    }

    /// The inode kevent added with descriptor number `fd`
    /// ([`Kevent::inode`]); the number names it after it is closed (for
    /// [`Queue::remove`](crate::Queue::remove) whatever the number names
    /// now).
    pub fn inode(fd: RawFd) -> Self {
        Key::new(Kind::Inode, fd as u64)
    }

    /// The socket kevent of descriptor number `fd` ([`Kevent::socket`]).
    pub fn socket(fd: RawFd) -> Self {
        Key::new(Kind::Socket, fd as u64)
    }

    /// The network I/O request `id` ([`RequestId`](crate::RequestId)'s
    /// [`raw`](crate::RequestId::raw) value): what
    /// [`Naio::cancel`](crate::Naio::cancel) removes.
    pub fn naio(id: u64) -> Self {
        Key::new(Kind::Naio, id)
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A request with only the kind and id set: what REMOVE, READY,
    /// ENABLE and DISABLE take.
    pub(crate) fn raw(&self) -> sys::ukevent {
        sys::ukevent {
            id: self.id,
            type_: self.kind.raw(),
            ..Default::default()
        }
    }
}

impl From<&Kevent<'_>> for Key {
    fn from(i: &Kevent<'_>) -> Key {
        i.key()
    }
}

impl From<Kevent<'_>> for Key {
    fn from(i: Kevent<'_>) -> Key {
        i.key()
    }
}

impl From<&Event> for Key {
    fn from(e: &Event) -> Key {
        e.key()
    }
}

impl From<Event> for Key {
    fn from(e: Event) -> Key {
        e.key()
    }
}

/// One reported event (`struct kevent_event`), as read from an
/// [`Events`](crate::Events) buffer or a [`Ring`](crate::Ring).
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
pub struct Event {
    pub(crate) raw: sys::kevent_event,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("id", &self.id())
            .field("events", &format_args!("{:#x}", self.events()))
            .field("data", &self.data())
            .field("flags", &self.flags())
            .field("user_data", &self.user_data())
            .finish()
    }
}

impl Event {
    /// The kind of kevent that fired.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(u32::from(self.raw.type_))
    }

    /// Its id (the descriptor number for poll kevents; see
    /// [`token`](Self::token) for what to dispatch on).
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// Its key (kind and id), e.g. to [`enable`](crate::Queue::enable) a
    /// [`dispatch`](Kevent::dispatch) kevent again.
    pub fn key(&self) -> Key {
        Key::new(self.kind(), self.raw.id)
    }

    /// The event bits that fired, as the kernel reported them.
    pub fn events(&self) -> u32 {
        self.raw.events
    }

    /// The readiness bits that fired, for poll kevents.
    pub fn readiness(&self) -> PollFlags {
        PollFlags::from_bits_retain(self.raw.events)
    }

    /// The type-specific result: timer expirations, user triggers,
    /// signals or inode changes since the last report; a process's `wait` status (see
    /// [`exit_status`](Self::exit_status)); for a poll kevent on a socket
    /// with [`is_error`](Self::is_error), its pending error (a positive
    /// errno), else 0; for a socket kevent the amounts (bits 0-31 to read
    /// or accept, 32-63 send space: [`recv_amount`](Self::recv_amount),
    /// [`send_space`](Self::send_space)) or, with the error flag, the
    /// error.
    pub fn data(&self) -> u64 {
        self.raw.data
    }

    /// Timer expirations, user triggers, signals sent or inode changes
    /// since the last report: the same as [`data`](Self::data), named for
    /// timers, user, signal and inode kevents.
    pub fn count(&self) -> u64 {
        self.raw.data
    }

    /// The signal number of a signal kevent ([`Kevent::signal`]), `None`
    /// for other kinds. [`count`](Self::count) says how often it was sent.
    pub fn signal(&self) -> Option<i32> {
        (self.kind() == Kind::Signal).then_some(self.raw.id as i32)
    }

    /// The changes an inode kevent ([`Kevent::inode`]) reports: every
    /// kind seen since its last report ([`count`](Self::count) says how
    /// many changes). `None` for other kinds. With
    /// [`InodeEvents::DELETE_SELF`] or [`InodeEvents::REVOKED`] (and
    /// [`is_eof`](Self::is_eof)) it is the kevent's last report: the
    /// kernel removed it.
    pub fn inode_events(&self) -> Option<InodeEvents> {
        (self.kind() == Kind::Inode).then(|| InodeEvents::from_bits_retain(self.raw.events))
    }

    /// The readiness a socket kevent ([`Kevent::socket`]) reports;
    /// `None` for other kinds.
    pub fn socket_events(&self) -> Option<SocketEvents> {
        (self.kind() == Kind::Socket).then(|| SocketEvents::from_bits_retain(self.raw.events))
    }

    /// Whether this socket event's amount for `bits` is valid: one of
    /// `bits` fired, and no [`EventFlags::ERROR`] (then
    /// [`data`](Self::data) is the error). [`EventFlags::NODATA`] is
    /// about the receive amount only: the kernel knows every socket's
    /// send space.
    fn socket_amounts(&self, bits: SocketEvents, unknown: EventFlags) -> bool {
        self.socket_events().is_some_and(|e| e.intersects(bits))
            && !self.flags().intersects(EventFlags::ERROR | unknown)
    }

    /// A socket kevent's bytes to read (the next datagram's size on a
    /// datagram socket) with [`SocketEvents::RECV`], or connections
    /// waiting with [`SocketEvents::ACCEPT`], saturating at `u32::MAX`.
    /// `None` for other kinds, when neither bit fired, when the protocol
    /// cannot tell ([`EventFlags::NODATA`]: not TCP, UDP or unix, or a
    /// TCP socket under kTLS or sockmap) and with [`EventFlags::ERROR`]
    /// ([`error`](Self::error) has the error).
    pub fn recv_amount(&self) -> Option<u32> {
        self.socket_amounts(
            SocketEvents::RECV | SocketEvents::ACCEPT,
            EventFlags::NODATA,
        )
        .then_some(self.raw.data as u32)
    }

    /// A socket kevent's free send space in bytes with
    /// [`SocketEvents::SEND`], saturating at `u32::MAX` (0 with
    /// [`is_eof`](Self::is_eof): nothing more can be sent). Known for
    /// every socket, [`EventFlags::NODATA`] or not. `None` for other
    /// kinds, when SEND did not fire, and with [`EventFlags::ERROR`].
    pub fn send_space(&self) -> Option<u32> {
        self.socket_amounts(SocketEvents::SEND, EventFlags::empty())
            .then_some((self.raw.data >> 32) as u32)
    }

    /// The operation of a network I/O completion ([`Kind::Naio`]);
    /// `None` for other kinds (or an operation bit this crate does not
    /// know).
    pub fn naio_op(&self) -> Option<crate::NaioOp> {
        if self.kind() != Kind::Naio {
            return None;
        }
        crate::NaioOp::from_raw(self.raw.events)
    }

    /// The result of a network I/O request ([`Kind::Naio`]): the bytes
    /// sent or received (0 for a receive: end of file, with
    /// [`is_eof`](Self::is_eof)), or with [`EventFlags::ERROR`] the error
    /// (`data` is a negative errno: `ECANCELED` for a cancelled request,
    /// `EXDEV` for one reported in another process...). `None` for other
    /// kinds. With the error flag but a `data` that is no errno (a kernel
    /// bug), an [`io::ErrorKind::Other`] error that says so.
    ///
    /// ```
    /// # fn f(event: kevent::Event) {
    /// match event.naio_result() {
    ///     Some(Ok(n)) => println!("{n} bytes"),
    ///     Some(Err(e)) => println!("failed: {e}"),
    ///     None => {} // not a NAIO completion
    /// }
    /// # }
    /// ```
    pub fn naio_result(&self) -> Option<io::Result<usize>> {
        (self.kind() == Kind::Naio).then(|| naio_result(self.raw.data, self.flags()))
    }

    /// A process kevent's exit status, encoded as `wait(2)` encodes it
    /// (`libc::WIFEXITED`, `libc::WEXITSTATUS`, `libc::WTERMSIG`...; or
    /// `std::os::unix::process::ExitStatusExt::from_raw`). `None` for
    /// other kinds, when the process was reaped before the kevent was
    /// added, so its status is gone, and when the caller may not learn it:
    /// only the parent, or a caller with ptrace read access to the process
    /// when it added the kevent (and no `execve` by the process since,
    /// unless the caller has `CAP_SYS_PTRACE`), gets the status
    /// ([`EventFlags::NODATA`] otherwise).
    pub fn exit_status(&self) -> Option<i32> {
        (self.kind() == Kind::Proc && !self.flags().contains(EventFlags::NODATA))
            .then_some(self.raw.data as i32)
    }

    /// The token of the kevent that fired ([`Kevent::token`]): what to
    /// dispatch on.
    pub fn token(&self) -> Token {
        Token(self.raw.user_data)
    }

    /// The token as a raw `u64`.
    pub fn user_data(&self) -> u64 {
        self.raw.user_data
    }

    fn poll_bits(&self) -> u32 {
        if self.kind() == Kind::Poll {
            self.raw.events
        } else {
            0
        }
    }

    /// A poll kevent whose file is readable (`EPOLLIN` or `EPOLLPRI`).
    /// Always false for other kinds: a socket kevent's readiness is in
    /// [`socket_events`](Self::socket_events).
    pub fn is_readable(&self) -> bool {
        self.poll_bits() & (libc::EPOLLIN | libc::EPOLLPRI) as u32 != 0
    }

    /// A poll kevent whose file is writable (`EPOLLOUT`).
    pub fn is_writable(&self) -> bool {
        self.poll_bits() & libc::EPOLLOUT as u32 != 0
    }

    /// A poll kevent whose reading side is closed: `EPOLLHUP`, or
    /// `EPOLLIN` with `EPOLLRDHUP` (as mio's `is_read_closed`).
    pub fn is_read_closed(&self) -> bool {
        let e = self.poll_bits();
        e & libc::EPOLLHUP as u32 != 0
            || (e & libc::EPOLLIN as u32 != 0 && e & libc::EPOLLRDHUP as u32 != 0)
    }

    /// A poll kevent whose writing side is closed: `EPOLLHUP`, or
    /// `EPOLLERR` (as mio's `is_write_closed`).
    pub fn is_write_closed(&self) -> bool {
        let e = self.poll_bits();
        e & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }

    /// A poll kevent with urgent data (`EPOLLPRI`).
    pub fn is_priority(&self) -> bool {
        self.poll_bits() & libc::EPOLLPRI as u32 != 0
    }

    /// The event's flags ([`EventFlags::EOF`], [`EventFlags::ERROR`],
    /// [`EventFlags::NODATA`]).
    pub fn flags(&self) -> EventFlags {
        EventFlags::from_bits_retain(self.raw.flags)
    }

    /// The other end is closed: `EPOLLHUP` or `EPOLLRDHUP` fired; or a
    /// process kevent's process exited; or an inode kevent's file was
    /// deleted or unmounted; or a socket kevent's peer sends no more
    /// (RECV) or nothing more can be sent (SEND).
    pub fn is_eof(&self) -> bool {
        self.flags().contains(EventFlags::EOF)
    }

    /// An error is pending: `EPOLLERR` fired ([`EventFlags::ERROR`]).
    pub fn is_error(&self) -> bool {
        self.flags().contains(EventFlags::ERROR) || self.poll_bits() & libc::EPOLLERR as u32 != 0
    }

    /// The pending error of a socket, when [`is_error`](Self::is_error)
    /// and the kernel reported which; a network I/O request's error
    /// (see [`naio_result`](Self::naio_result)).
    pub fn error(&self) -> Option<io::Error> {
        if self.kind() == Kind::Naio {
            return self.naio_result().and_then(Result::err);
        }
        if self.kind() == Kind::Socket && !self.flags().contains(EventFlags::ERROR) {
            return None; // data holds the amounts
        }
        let errno = i32::try_from(self.raw.data).ok().filter(|&e| e > 0)?;
        self.is_error().then(|| io::Error::from_raw_os_error(errno))
    }
}

/// A NAIO completion's `data` and flags as a result: with
/// [`EventFlags::ERROR`] a negative errno, else a count.
pub(crate) fn naio_result(data: u64, flags: EventFlags) -> io::Result<usize> {
    let value = data as i64;
    if flags.contains(EventFlags::ERROR) {
        return match value.checked_neg() {
            Some(e @ 1..=4095) => Err(io::Error::from_raw_os_error(e as i32)),
            _ => Err(io::Error::other(format!(
                "the kernel reported a failed network I/O request with data {value}, \
                 not a negative errno"
            ))),
        };
    }
    usize::try_from(value).map_err(|_| {
        io::Error::other(format!(
            "the kernel reported a network I/O result of {value} without the error flag"
        ))
    })
}

/// `id` (a poll or socket kevent's: the descriptor in the low 32 bits)
/// with `tag` in its high 32 bits.
fn with_tag(id: u64, tag: u32) -> u64 {
    (id & 0xffff_ffff) | u64::from(tag) << 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn consume_sets_the_signal_flag() {
        let k = Kevent::signal(libc::SIGUSR1).consume();
        assert_eq!(k.type_flags(), sys::KEVENT_SIGNAL_CONSUME);
    }

    /// `KEVENT_SIGNAL_CONSUME` is `KEVENT_PROC_PID`'s bit: on a pidfd
    /// kevent it would silently watch a pid instead.
    #[test]
    #[should_panic(expected = "signal kevents only")]
    fn consume_refuses_a_process_kevent() {
        let (fd, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let _ = Kevent::process(fd.as_fd()).consume();
    }

    /// A timer's start shares the union's bytes with the other types'
    /// flags.
    #[test]
    #[should_panic(expected = "timers only")]
    fn start_after_refuses_a_process_kevent() {
        let _ = Kevent::process_pid(1).start_after(Duration::from_nanos(2));
    }

    /// The kernel refuses a period or a start above `KTIME_MAX` (EINVAL):
    /// the longest durations are clamped to it, not saturated at u64::MAX.
    #[test]
    fn timer_periods_and_starts_are_clamped_to_ktime_max() {
        const KTIME_MAX: u64 = i64::MAX as u64;
        let period = |k: &Kevent<'_>| k.raw.data;
        let start = |k: &Kevent<'_>| k.timer_fields().start;
        let abstime = |k: &Kevent<'_>| k.timer_fields().flags & sys::KEVENT_TIMER_ABSTIME != 0;

        let k = Kevent::timer(1, Duration::MAX);
        assert_eq!((period(&k), start(&k)), (KTIME_MAX, 0));
        let k = Kevent::timer_after(1, Duration::MAX);
        assert_eq!((period(&k), start(&k), abstime(&k)), (0, KTIME_MAX, false));
        let k = Kevent::timer_at(2, Deadline::after(Duration::MAX));
        assert_eq!((period(&k), start(&k), abstime(&k)), (0, KTIME_MAX, true));
        let k = Kevent::timer(3, Duration::from_secs(1)).start_at(Deadline::at(
            Clock::Realtime,
            Duration::from_nanos(u64::MAX),
        ));
        assert_eq!((period(&k), start(&k)), (1_000_000_000, KTIME_MAX));
        // Exactly KTIME_MAX is kept; just below and ordinary values are
        // as given.
        let max = Duration::from_nanos(KTIME_MAX);
        assert_eq!(period(&Kevent::timer(4, max)), KTIME_MAX);
        let k = Kevent::timer_after(5, max - Duration::from_nanos(1));
        assert_eq!(start(&k), KTIME_MAX - 1);
        let k = Kevent::timer(6, Duration::from_millis(20)).start_after(Duration::from_nanos(7));
        assert_eq!((period(&k), start(&k)), (20_000_000, 7));
        // A zero delay is still "at once", 1 ns.
        assert_eq!(start(&Kevent::timer_after(7, Duration::ZERO)), 1);
    }

    #[test]
    #[should_panic(expected = "timers only")]
    fn clock_refuses_a_signal_kevent() {
        let _ = Kevent::signal(libc::SIGUSR1).clock(Clock::Boottime);
    }
}
