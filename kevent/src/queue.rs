//! The queue: `kevent_create()`, `kevent_ctl()` and `kevent_get_events()`.

use std::ffi::c_uint;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use kevent_sys as sys;

use crate::changes::Changes;
use crate::error::{Command, Error};
use crate::flags::{PollFlags, QueueFlags};
use crate::interest::{Deadline, Event, Kevent, Key, Token};
use crate::probe::features;
use crate::registered::{RegisterError, Registered};
use crate::wait::Wait;

/// Entries copied per `kevent_ctl()` call of a batch: on the stack, so a
/// batch allocates nothing (4 KiB).
const CHUNK: usize = 64;

/// A raw call's error as an `io::Error`.
pub(crate) fn os_error(e: sys::Error) -> io::Error {
    match e {
        sys::Error::Errno(errno) => io::Error::from_raw_os_error(errno),
        e => io::Error::other(e.to_string()),
    }
}

/// A modify replaces the token: refuse one without a token rather than
/// set it to 0 behind the caller's back.
pub(crate) fn require_token(kevent: &Kevent<'_>, index: Option<usize>) -> Result<(), Error> {
    if kevent.has_token() {
        Ok(())
    } else {
        Err(Error::io(
            Command::Modify,
            Some(kevent.key()),
            index,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "modify needs the kevent's token (Kevent::token), or the token would become 0",
            ),
        ))
    }
}

/// A kevent queue, made by `kevent_create()`.
///
/// The queue is a file descriptor ([`OwnedFd`]), closed on drop. The
/// queue itself, with every kevent in it, goes away when its last
/// descriptor is closed: a [`Waker`](crate::Waker) holds a duplicate (as
/// may a forked child), so while one lives the queue and its kevents stay
/// (and can still be woken) after the `Queue` is dropped. It is pollable, so it can sit in epoll,
/// in another queue, or in an async runtime (the `mio` and `tokio`
/// features). `&Queue` may be shared between threads: one can wait while
/// others add kevents or [`trigger`](Queue::trigger) them.
///
/// Adding, modifying, removing and triggering allocate nothing; a batch
/// ([`add_all`](Queue::add_all)...) allocates only to record the entries
/// that failed.
///
/// ```no_run
/// use std::time::Duration;
/// use kevent::{Events, Kevent, Queue, Token};
///
/// let queue = Queue::new()?;
/// queue.add(Kevent::timer(1, Duration::from_millis(10)).token(Token(7)))?;
/// let mut events = Events::with_capacity(16);
/// queue.wait(&mut events, Some(Duration::from_secs(1)))?;
/// for event in &events {
///     assert_eq!(event.token(), Token(7));
///     println!("{:?} fired {} times", event.kind(), event.count());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
}

/// The per-entry results of a batch of changes ([`Queue::add_all`] and
/// the other `*_all` calls), in order. Only failures are stored: a batch
/// that succeeds allocates nothing.
///
/// ```no_run
/// use kevent::{Kevent, Queue};
///
/// let queue = Queue::new()?;
/// let result = queue.add_all(&[Kevent::user(1), Kevent::user(1)])?;
/// for err in result.errors() {
///     // "add user 1 (batch entry 1): the queue already has a kevent with this key: ..."
///     eprintln!("{err}");
///     assert_eq!((err.index(), err.raw_os_error()), (Some(1), Some(libc::EEXIST)));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a batch's entries fail one by one: check() or look at errors()"]
pub struct BatchResult {
    command: Command,
    len: usize,
    /// (index, key, errno) of every failed entry, in order.
    failed: Vec<(usize, Key, i32)>,
    /// The indices of the adds with `update()` that created their
    /// kevent, in order (empty, unallocated, for every other batch).
    created: Vec<usize>,
    /// Where the kernel stopped, when it did not process every entry.
    stop: Option<Stop>,
}

/// The first entry of a batch the kernel did not process, and why: a
/// later chunk's call failed as a whole (`errno`), or the kernel returned
/// early (a fatal signal; `errno` is `None`).
#[derive(Debug, Clone, Copy)]
struct Stop {
    index: usize,
    key: Key,
    errno: Option<i32>,
}

impl BatchResult {
    /// How many entries the batch had.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every entry was processed and succeeded.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && self.stop.is_none()
    }

    /// How many entries, from the first, the kernel processed: [`len`](Self::len)
    /// unless the batch stopped early (a later chunk's `kevent_ctl()`
    /// failed as a whole, or a fatal signal ended it). The entries from
    /// here on were not applied; [`result`](Self::result) says so for
    /// each, and [`check`](Self::check) fails.
    pub fn processed(&self) -> usize {
        self.stop.map_or(self.len, |s| s.index)
    }

    /// The command every entry asked for.
    pub fn command(&self) -> Command {
        self.command
    }

    fn error(&self, &(index, key, errno): &(usize, Key, i32)) -> Error {
        Error::entry(self.command, key, Some(index), errno)
    }

    /// The error of entry `index`, at or after where the batch stopped.
    #[cold]
    fn not_processed(&self, stop: Stop, index: usize) -> Error {
        if index == stop.index {
            if let Some(errno) = stop.errno {
                return Error::call(
                    self.command,
                    Some(stop.key),
                    Some(index),
                    io::Error::from_raw_os_error(errno),
                );
            }
        }
        Error::io(
            self.command,
            (index == stop.index).then_some(stop.key),
            Some(index),
            io::Error::new(
                io::ErrorKind::Interrupted,
                format!(
                    "not processed: kevent_ctl processed {} of the batch's {} entries \
                     and stopped{}; apply this entry and the ones after it again",
                    stop.index,
                    self.len,
                    if stop.errno.is_some() {
                        format!(" when the call for entry {} failed", stop.index)
                    } else {
                        " early (a fatal signal)".to_string()
                    }
                ),
            ),
        )
    }

    /// The result of entry `index`: its [`Error`] says the command, the
    /// key, the index and why.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len).
    pub fn result(&self, index: usize) -> Result<(), Error> {
        assert!(index < self.len, "entry {index} of a batch of {}", self.len);
        if let Some(stop) = self.stop.filter(|s| index >= s.index) {
            return Err(self.not_processed(stop, index));
        }
        match self.failed.binary_search_by_key(&index, |&(i, _, _)| i) {
            Ok(at) => Err(self.error(&self.failed[at])),
            Err(_) => Ok(()),
        }
    }

    /// The result of every entry, in the order given.
    pub fn results(&self) -> impl ExactSizeIterator<Item = Result<(), Error>> + '_ {
        (0..self.len).map(|i| self.result(i))
    }

    /// Whether entry `index`, an add with
    /// [`Kevent::update`](crate::Kevent::update), created its kevent rather
    /// than updated one (see [`Changes::created`](crate::Changes::created)).
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len).
    pub fn created(&self, index: usize) -> bool {
        assert!(index < self.len, "entry {index} of a batch of {}", self.len);
        self.created.binary_search(&index).is_ok()
    }

    /// The errors of the entries that failed, in order
    /// ([`Error::index`] is the entry's index), then, if the batch stopped
    /// early, one for the first entry not processed (see
    /// [`processed`](Self::processed)).
    pub fn errors(&self) -> impl ExactSizeIterator<Item = Error> + '_ {
        let failed = self.failed.len();
        (0..failed + usize::from(self.stop.is_some())).map(move |k| match self.failed.get(k) {
            Some(f) => self.error(f),
            None => {
                let stop = self.stop.expect("counted above");
                self.not_processed(stop, stop.index)
            }
        })
    }

    /// `Ok` if every entry was processed and succeeded, else the first
    /// failed entry's error, or the error of the first entry not processed.
    pub fn check(self) -> Result<(), Error> {
        match self.errors().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// The error of an entry the kernel marked `KEVENT_RET_BROKEN`.
pub(crate) fn entry_errno(uk: &sys::ukevent) -> Option<i32> {
    if uk.ret_flags & sys::KEVENT_RET_BROKEN == 0 {
        return None;
    }
    // ret_data[1] is -errno; a broken kernel's 0 or i32::MIN becomes EIO.
    let e = (uk.ret_data[1] as i32).wrapping_neg();
    Some(if e > 0 { e } else { libc::EIO })
}

/// One `kevent_ctl()` on the queue `fd` for `raw` (at most `max_batch`
/// entries). Returns how many entries the kernel processed.
pub(crate) fn ctl_raw(
    fd: BorrowedFd<'_>,
    cmd: Command,
    raw: &mut [sys::ukevent],
) -> io::Result<usize> {
    features()?;
    let num = raw.len() as c_uint;
    // SAFETY: the probe found kevent ABI v2; `raw` is `num` initialised
    // ukevents we borrow mutably for the call; the kernel reads them and
    // writes back ret_flags and ret_data only.
    let ret = unsafe { sys::kevent_ctl(fd.as_raw_fd(), cmd.raw(), num, raw.as_mut_ptr()) }
        .map_err(os_error)?;
    Ok(ret as usize)
}

/// `items` as `kevent_ctl()` calls of `chunk_len` (at most [`CHUNK`])
/// entries, each made by `ctl`, which returns how many entries the kernel
/// processed.
///
/// `Err` only when the kernel processed no entry at all; a batch it
/// stopped after some keeps their results, and records the stop.
fn apply_batch<T>(
    cmd: Command,
    items: &[T],
    raw_of: impl Fn(&T) -> sys::ukevent,
    chunk_len: usize,
    mut ctl: impl FnMut(&mut [sys::ukevent]) -> io::Result<usize>,
) -> Result<BatchResult, Error> {
    debug_assert!((1..=CHUNK).contains(&chunk_len));
    // Not zeroed as a whole (4 KiB per call): each chunk writes the
    // entries it sends.
    let mut buf = [MaybeUninit::<sys::ukevent>::uninit(); CHUNK];
    let mut result = BatchResult {
        command: cmd,
        len: items.len(),
        failed: Vec::new(),
        created: Vec::new(),
        stop: None,
    };
    for (c, chunk) in items.chunks(chunk_len).enumerate() {
        for (r, item) in buf.iter_mut().zip(chunk) {
            r.write(raw_of(item));
        }
        // SAFETY: the first `chunk.len()` entries were just written
        // (MaybeUninit<T> has T's layout).
        let raw = unsafe {
            std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<sys::ukevent>(), chunk.len())
        };
        let base = c * chunk_len;
        let (done, errno) = match ctl(raw) {
            Ok(done) => (done.min(chunk.len()), None),
            Err(e) if base == 0 => return Err(Error::call(cmd, None, Some(0), e)),
            Err(e) => (0, Some(e.raw_os_error().unwrap_or(libc::EIO))),
        };
        for (i, uk) in raw[..done].iter().enumerate() {
            if let Some(e) = entry_errno(uk) {
                result.failed.push((base + i, key_of(uk), e));
            } else if uk.ret_flags & sys::KEVENT_RET_CREATED != 0 {
                result.created.push(base + i);
            }
        }
        if done < chunk.len() {
            let stop = Stop {
                index: base + done,
                key: key_of(&raw[done]),
                errno,
            };
            if stop.index == 0 {
                // Nothing was applied: the call as a whole failed.
                return Err(result.not_processed(stop, 0));
            }
            result.stop = Some(stop);
            break;
        }
    }
    Ok(result)
}

/// The key a request names.
fn key_of(raw: &sys::ukevent) -> Key {
    Key::new(crate::interest::Kind::from_raw(raw.type_), raw.id)
}

/// A network I/O request is enabled only by
/// [`Naio::rearm`](crate::Naio::rearm) and
/// [`Naio::wait_rearming`](crate::Naio::wait_rearming), which first put
/// the buffer the kernel writes into back in the slot table's hands: an
/// ENABLE from anywhere else could start a run of a receive that stays
/// into a buffer its owner holds, or has freed. Refused before any
/// system call.
fn refuse_naio_enable(cmd: Command, raw: &sys::ukevent, index: Option<usize>) -> Result<(), Error> {
    if cmd != Command::Enable || raw.type_ != sys::KEVENT_NAIO {
        return Ok(());
    }
    Err(Error::io(
        cmd,
        Some(Key::naio(raw.id)),
        index,
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a network I/O request is enabled only by Naio::rearm or Naio::wait_rearming, \
             which hand the kernel its buffer back first",
        ),
    ))
}

/// One entry on the queue `fd`: its own result. A call that processed no
/// entry (a fatal signal) is `Interrupted`, never success.
pub(crate) fn ctl_one(fd: BorrowedFd<'_>, cmd: Command, raw: sys::ukevent) -> Result<(), Error> {
    ctl_one_entry(fd, cmd, raw).map(drop)
}

/// [`ctl_one`], returning the entry as the kernel wrote it back
/// (`ret_flags`, `ret_data`).
pub(crate) fn ctl_one_entry(
    fd: BorrowedFd<'_>,
    cmd: Command,
    raw: sys::ukevent,
) -> Result<sys::ukevent, Error> {
    let mut raw = [raw];
    let done =
        ctl_raw(fd, cmd, &mut raw).map_err(|e| Error::call(cmd, Some(key_of(&raw[0])), None, e))?;
    match done {
        1 => match entry_errno(&raw[0]) {
            None => Ok(raw[0]),
            Some(e) => Err(Error::entry(cmd, key_of(&raw[0]), None, e)),
        },
        _ => Err(Error::call(
            cmd,
            Some(key_of(&raw[0])),
            None,
            io::Error::new(io::ErrorKind::Interrupted, "kevent_ctl processed no entry"),
        )),
    }
}

impl Queue {
    /// Creates a new queue (close-on-exec).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::Unsupported`] with a message saying what the probe
    /// found when this kernel has no kevent ABI v2 (see
    /// [`features`](crate::features)); `EMFILE`/`ENFILE`/`ENOMEM` from
    /// `kevent_create()`.
    ///
    /// ```no_run
    /// let queue = kevent::Queue::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Self> {
        Self::with_flags(QueueFlags::CLOEXEC)
    }

    /// Creates a new queue with `flags` (`kevent_create(flags)`).
    ///
    /// ```no_run
    /// use kevent::{Queue, QueueFlags};
    ///
    /// // read_events() on it fails with WouldBlock instead of sleeping.
    /// let queue = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_flags(flags: QueueFlags) -> io::Result<Self> {
        features()?;
        // SAFETY: the probe found kevent ABI v2.
        let fd = unsafe { sys::kevent_create(flags.bits()) }.map_err(os_error)?;
        // SAFETY: a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Queue { fd })
    }

    /// One `kevent_ctl()` on `raw` (at most `max_batch` entries). Returns
    /// how many entries the kernel processed.
    fn ctl_raw(&self, cmd: Command, raw: &mut [sys::ukevent]) -> io::Result<usize> {
        ctl_raw(self.fd.as_fd(), cmd, raw)
    }

    /// One entry: its own result.
    fn ctl_one(&self, cmd: Command, raw: sys::ukevent) -> Result<(), Error> {
        refuse_naio_enable(cmd, &raw, None)?;
        ctl_one(self.fd.as_fd(), cmd, raw)
    }

    /// A batch, copied `CHUNK` entries at a time into a buffer on the
    /// stack.
    fn ctl_batch<T>(
        &self,
        cmd: Command,
        items: &[T],
        raw_of: impl Fn(&T) -> sys::ukevent,
    ) -> Result<BatchResult, Error> {
        if cmd == Command::Enable {
            for (i, item) in items.iter().enumerate() {
                refuse_naio_enable(cmd, &raw_of(item), Some(i))?;
            }
        }
        let max_batch = features()
            .map_err(|e| Error::call(cmd, None, None, e))?
            .max_batch;
        let chunk_len = CHUNK.min(max_batch as usize);
        apply_batch(cmd, items, raw_of, chunk_len, |raw| self.ctl_raw(cmd, raw))
    }

    /// Adds one kevent. No allocation.
    ///
    /// # Errors
    ///
    /// The entry's own error: `EEXIST` (the key is taken: use
    /// [`Kevent::update`] to add or modify), `EBADF`, `EPERM` (a file that
    /// cannot be polled, e.g. a regular file), `EINVAL` (a request the
    /// kernel refuses, e.g. a timer period below 1 µs), `ENOSPC` (too many
    /// timers), `ENOMEM`; or the call's (`Unsupported` without kevent).
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use kevent::{Kevent, PollFlags, Queue, Token};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// queue.add(Kevent::poll(b.as_fd(), PollFlags::IN).token(Token(1)))?;
    /// # drop(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add(&self, kevent: Kevent<'_>) -> Result<(), Error> {
        self.ctl_one(Command::Add, kevent.raw)
    }

    /// Replaces the events, flags, timer settings and token of the kevent
    /// with `kevent`'s key (a modified timer restarts). The token is
    /// replaced too, so it must be given again ([`Kevent::token`], even
    /// `Token(0)`), or [`modify_fd`](Self::modify_fd) used, which takes it.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before any system call, if `kevent` has no token
    /// (the kevent's token would silently become 0); `ENOENT` if there is
    /// no such kevent; as [`add`](Self::add) otherwise.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use kevent::{Kevent, PollFlags, Queue, Token};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// queue.add(Kevent::poll(b.as_fd(), PollFlags::IN).token(Token(1)))?;
    /// // Also watch for room to write, same token.
    /// queue.modify(Kevent::poll(b.as_fd(), PollFlags::IN | PollFlags::OUT).token(Token(1)))?;
    /// # drop(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn modify(&self, kevent: Kevent<'_>) -> Result<(), Error> {
        require_token(&kevent, None)?;
        self.ctl_one(Command::Modify, kevent.raw)
    }

    /// Removes the kevent with `key` (a [`Key`], or anything with one: a
    /// [`Kevent`], an [`Event`]). `ENOENT` if there is none.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Kevent, Key, Queue};
    ///
    /// let queue = Queue::new()?;
    /// queue.add(Kevent::timer(5, Duration::from_secs(1)))?;
    /// queue.remove(Key::timer(5))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remove(&self, key: impl Into<Key>) -> Result<(), Error> {
        self.ctl_one(Command::Remove, key.into().raw())
    }

    /// Watches `fd` for `events`, level-triggered, reporting `token`: the
    /// short form of `add(Kevent::poll(fd.as_fd(), events).token(token))`.
    ///
    /// # Why a borrow for the call is enough
    ///
    /// `fd` is borrowed only for this call, as rustix's `epoll::add`
    /// borrows it: the kernel looks the number up once, during the add, and
    /// from then on the kevent holds the open file, not the number. When
    /// the file's last reference is closed the kernel removes the kevent
    /// itself, so it never holds a stale descriptor and never reports
    /// another file's readiness; no lifetime has to tie the kevent to `fd`.
    ///
    /// The reused-number case: if a duplicate (`try_clone`, `dup`, a
    /// forked child) keeps the file open after `fd` is closed, the kevent
    /// stays, keyed by the old number and still watching the old file, so
    /// its events keep coming with the old token. When the number comes to
    /// name a new file the kevent is stale (`kevent_ctl(2)`, "Reused file
    /// descriptor numbers"): an add of the new file replaces it, a
    /// [`remove_fd`](Self::remove_fd) removes it whatever file it watches,
    /// and [`modify_fd`](Self::modify_fd), [`enable`](Self::enable) and
    /// [`disable`](Self::disable) fail with `ENOENT`, so they never change
    /// a kevent of another file. To rule the case out, remove the kevent
    /// before the number closes: [`register`](Self::register) returns a
    /// guard that does, or use [`Kevent::fd_close`] (the kernel removes
    /// the kevent when this number is closed).
    pub fn add_fd(
        &self,
        fd: &impl AsFd,
        events: PollFlags,
        token: impl Into<Token>,
    ) -> Result<(), Error> {
        self.add(Kevent::poll(fd.as_fd(), events).token(token))
    }

    /// Changes what `fd` is watched for; the token must be given again, so
    /// that it cannot be lost.
    pub fn modify_fd(
        &self,
        fd: &impl AsFd,
        events: PollFlags,
        token: impl Into<Token>,
    ) -> Result<(), Error> {
        self.modify(Kevent::poll(fd.as_fd(), events).token(token))
    }

    /// Stops watching `fd` (its poll kevent, by descriptor number).
    pub fn remove_fd(&self, fd: &impl AsFd) -> Result<(), Error> {
        self.remove(Key::poll(fd.as_fd().as_raw_fd()))
    }

    /// Watches `fd` as [`add_fd`](Self::add_fd) does and returns a guard
    /// that owns (or borrows) it and removes the kevent when dropped,
    /// before `fd` closes: the kevent can neither outlive its descriptor
    /// nor be left behind when a duplicate keeps the file open. The guard
    /// borrows the queue; [`Registered::new`] takes any handle to it (an
    /// `Arc<Queue>`, the `Queue` itself).
    ///
    /// ```no_run
    /// use kevent::{PollFlags, Queue, Token};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let b = queue.register(b, PollFlags::IN, Token(1))?;
    /// b.get_ref().set_nonblocking(true)?;
    /// drop(b); // removed from the queue, then closed
    /// # drop(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`add_fd`](Self::add_fd), in a [`RegisterError`] that gives `fd`
    /// back.
    pub fn register<F: AsFd>(
        &self,
        fd: F,
        events: PollFlags,
        token: impl Into<Token>,
    ) -> Result<Registered<F, &Queue>, RegisterError<F, &Queue>> {
        Registered::new(self, fd, events, token)
    }

    /// Adds kevents, with a result per entry, in one system call per 64
    /// entries (copied on the stack).
    ///
    /// The call fails only if the kernel processed no entry (the queue's
    /// descriptor is bad, a fatal signal). Each entry's own result
    /// (`EEXIST`, `EBADF`, `EINVAL`, `ENOSPC`...) is in the
    /// [`BatchResult`], and so is a batch the kernel stopped part of the
    /// way (a later call of a batch of more than 64 entries failed, or a
    /// fatal signal): [`BatchResult::processed`] says how far it got, and
    /// the entries after are errors that say they were not applied.
    pub fn add_all(&self, kevents: &[Kevent<'_>]) -> Result<BatchResult, Error> {
        self.ctl_batch(Command::Add, kevents, |k| k.raw)
    }

    /// [`modify`](Self::modify) for many kevents, with a result per entry.
    /// Every entry must have a token: if one has none, nothing is sent and
    /// the call fails with `InvalidInput`.
    pub fn modify_all(&self, kevents: &[Kevent<'_>]) -> Result<BatchResult, Error> {
        for (i, k) in kevents.iter().enumerate() {
            require_token(k, Some(i))?;
        }
        self.ctl_batch(Command::Modify, kevents, |k| k.raw)
    }

    /// [`remove`](Self::remove) for many kevents, with a result per entry.
    pub fn remove_all(&self, keys: &[Key]) -> Result<BatchResult, Error> {
        self.ctl_batch(Command::Remove, keys, Key::raw)
    }

    /// Enables a disabled kevent ([`Kevent::disabled`], or reported with
    /// [`Kevent::dispatch`]). A level-triggered poll kevent whose file is
    /// ready now is reported at once, and so is a timer that expires once
    /// ([`Kevent::timer_after`], [`Kevent::timer_at`]) and expired without
    /// being reported. `ENOENT` if there is no such kevent.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use kevent::{Events, Kevent, PollFlags, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// queue.add(Kevent::poll(b.as_fd(), PollFlags::IN).dispatch())?;
    /// let mut events = Events::with_capacity(16);
    /// queue.wait(&mut events, None)?;
    /// for event in &events {
    ///     // ... read from the socket, then watch it again:
    ///     queue.enable(event.key())?;
    /// }
    /// # drop(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// `InvalidInput` for a network I/O request ([`Key::naio`]): only
    /// [`Naio::rearm`](crate::Naio::rearm) starts its runs.
    pub fn enable(&self, key: impl Into<Key>) -> Result<(), Error> {
        self.ctl_one(Command::Enable, key.into().raw())
    }

    /// Disables a kevent: it stays registered but reports nothing, and
    /// events meanwhile are dropped (a periodic timer keeps running and
    /// its expirations are dropped; a timer that expires once keeps its
    /// expiry for [`enable`](Self::enable)). `ENOENT` if there is no such
    /// kevent.
    pub fn disable(&self, key: impl Into<Key>) -> Result<(), Error> {
        self.ctl_one(Command::Disable, key.into().raw())
    }

    /// [`enable`](Queue::enable) for many kevents, with a result per
    /// entry.
    pub fn enable_all(&self, keys: &[Key]) -> Result<BatchResult, Error> {
        self.ctl_batch(Command::Enable, keys, Key::raw)
    }

    /// [`disable`](Queue::disable) for many kevents, with a result per
    /// entry.
    pub fn disable_all(&self, keys: &[Key]) -> Result<BatchResult, Error> {
        self.ctl_batch(Command::Disable, keys, Key::raw)
    }

    /// Triggers the user kevent `id` ([`Kevent::user`]): it becomes ready
    /// and wakes a waiter. Callable from any thread; no allocation. See
    /// also [`Waker`](crate::Waker).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use kevent::{Events, Kevent, Queue};
    ///
    /// let queue = Arc::new(Queue::new()?);
    /// queue.add(Kevent::user(1))?;
    /// let q = Arc::clone(&queue);
    /// std::thread::spawn(move || q.trigger(1));
    /// let mut events = Events::with_capacity(1);
    /// queue.wait(&mut events, None)?; // woken by the other thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn trigger(&self, id: u64) -> Result<(), Error> {
        self.ctl_one(Command::Trigger, Key::user(id).raw())
    }

    /// Waits until a kevent is ready or `timeout` passes (`None`:
    /// forever), then fills `events` with up to its capacity. Returns how
    /// many events it holds now (0 on timeout).
    ///
    /// Interrupted by signals with [`io::ErrorKind::Interrupted`]. To wait
    /// for more than one event, or on another clock, use
    /// [`wait_with`](Queue::wait_with).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// if queue.wait(&mut events, Some(Duration::from_millis(100)))? == 0 {
    ///     println!("timed out");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        self.wait_with(events, &Wait::new(timeout))
    }

    /// Like [`wait`](Queue::wait), until `deadline`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Deadline, Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// let deadline = Deadline::after(Duration::from_millis(50));
    /// while queue.wait_until(&mut events, deadline)? > 0 {
    ///     // handle events until the deadline
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_until(&self, events: &mut Events, deadline: Deadline) -> io::Result<usize> {
        self.wait_with(events, &Wait::deadline(deadline))
    }

    /// Like [`wait`](Queue::wait), with the signal mask `mask` installed
    /// for the wait (as `epoll_pwait2`): a signal that `mask` unblocks runs
    /// its handler and ends the wait with [`io::ErrorKind::Interrupted`];
    /// the thread's mask is restored afterwards.
    ///
    /// ```no_run
    /// use kevent::{Events, Queue};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// // Wait with every signal unblocked (e.g. SIGINT kept blocked otherwise).
    /// // SAFETY: sigemptyset initialises the set.
    /// let mut empty = unsafe { std::mem::zeroed::<libc::sigset_t>() };
    /// unsafe { libc::sigemptyset(&mut empty) };
    /// match queue.wait_with_sigmask(&mut events, None, &empty) {
    ///     Err(e) if e.kind() == std::io::ErrorKind::Interrupted => println!("signal"),
    ///     r => println!("{} events", r?),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with_sigmask(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        mask: &libc::sigset_t,
    ) -> io::Result<usize> {
        self.wait_with(events, &Wait::new(timeout).sigmask(mask))
    }

    /// Waits as `how` says (timeout or deadline, clock, minimum number of
    /// events, signal mask), then fills `events` with up to its capacity
    /// (and at most [`max_batch`](crate::Features::max_batch)). Returns how
    /// many events it holds now (0 on timeout).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Events, Queue, Wait};
    ///
    /// let queue = Queue::new()?;
    /// let mut events = Events::with_capacity(64);
    /// queue.wait_with(&mut events, &Wait::timeout(Duration::from_millis(5)).min(16))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with(&self, events: &mut Events, how: &Wait<'_>) -> io::Result<usize> {
        let max = events_room(events)?;
        let args = how.raw(max);
        let (args_ptr, args_size) = match &args {
            Some(a) => (
                a as *const sys::kevent_wait_args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            ),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: the probe found kevent ABI v2; `events.buf` holds `max`
        // Events (repr(transparent) kevent_events) we own mutably; `args`
        // lives across the call, and its sigmask points into `how`'s
        // borrowed sigset_t.
        let n = unsafe {
            sys::kevent_get_events(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr().cast::<sys::kevent_event>(),
                max as c_uint,
                args_ptr,
                args_size,
            )
        }
        .map_err(os_error)?;
        events.len = n as usize;
        Ok(events.len)
    }

    /// Applies `changes` and then waits as [`wait_with`](Self::wait_with)
    /// does, in one system call: the changes travel in the wait's
    /// arguments (`kevent_wait_args.changes`), as kqueue's `kevent()`
    /// takes its changelist. Returns how many events `events` holds now.
    ///
    /// The kernel applies every change, in order, and writes each one's
    /// result back into `changes` ([`Changes::result`],
    /// [`Changes::check`]). If a change fails, the call returns 0 at once,
    /// without waiting and without taking events, so that a failure is
    /// seen before the loop sleeps: check the changes when it returns 0.
    ///
    /// # Errors
    ///
    /// Those of [`wait_with`](Self::wait_with), which then say nothing of
    /// the changes: look at `changes` (the ones applied before the error
    /// have their results; `Interrupted` says a change was not applied;
    /// an `Interrupted` wait applied its changes: do not send them again);
    /// `InvalidInput` for more than [`max_batch`](crate::Features::max_batch)
    /// changes or [`max_changes`](crate::Features::max_changes) runs of
    /// one command; `Unsupported` on a kernel whose waits take no changes
    /// (apply them with [`add_all`](Self::add_all) and the other batch
    /// calls there).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kevent::{Changes, Events, Kevent, Queue, Wait};
    ///
    /// let queue = Queue::new()?;
    /// let mut changes = Changes::new();
    /// let mut events = Events::with_capacity(64);
    /// changes.add(Kevent::timer(1, Duration::from_millis(10)));
    /// loop {
    ///     let n = queue.wait_with_changes(&mut changes, &mut events, &Wait::new(None))?;
    ///     changes.check()?;
    ///     changes.clear();
    ///     for event in events.iter().take(n) {
    ///         // ... and the next iteration's changes go into `changes`.
    ///         changes.remove(event.key());
    ///     }
    ///     # break;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_with_changes(
        &self,
        changes: &mut Changes<'_>,
        events: &mut Events,
        how: &Wait<'_>,
    ) -> io::Result<usize> {
        self.wait_changes(changes, events, how, false)
    }

    /// [`wait_with_changes`](Self::wait_with_changes) without its check
    /// for network I/O enables: for [`Naio`](crate::Naio), which moves
    /// their buffers back first.
    pub(crate) fn wait_with_naio_changes(
        &self,
        changes: &mut Changes<'_>,
        events: &mut Events,
        how: &Wait<'_>,
    ) -> io::Result<usize> {
        self.wait_changes(changes, events, how, true)
    }

    /// Both: `naio_enables` lets network I/O enables through.
    fn wait_changes(
        &self,
        changes: &mut Changes<'_>,
        events: &mut Events,
        how: &Wait<'_>,
        naio_enables: bool,
    ) -> io::Result<usize> {
        // Results of an earlier call must not pass for this one's, even if
        // this one fails before the kernel sees them.
        for r in changes.raw.iter_mut() {
            r.ret_flags = 0;
        }
        if !naio_enables {
            let mut start = 0;
            for &(cmd, end) in changes.runs.iter() {
                for (i, raw) in changes.raw[start..end].iter().enumerate() {
                    refuse_naio_enable(cmd, raw, Some(start + i))?;
                }
                start = end;
            }
        }
        let max = events_room(events)?;
        let f = features()?;
        if !changes.is_empty() && f.max_changes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel's wait calls take no changes (its kevent predates them): \
                 apply them with add_all() and the other batch calls",
            ));
        }
        if changes.runs.len() > f.max_changes as usize || changes.len() > f.max_batch as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} changes in {} runs of one command: a wait takes at most {} changes \
                     in {} runs; apply the rest with add_all() and the other batch calls",
                    changes.len(),
                    changes.runs.len(),
                    f.max_batch,
                    f.max_changes
                ),
            ));
        }
        let mut args = how.raw(max).unwrap_or(sys::kevent_wait_args {
            timeout_ns: sys::KEVENT_TIMEOUT_INFINITE,
            ..Default::default()
        });
        let Changes {
            raw, runs, batches, ..
        } = changes;
        batches.clear();
        // One pointer for every run: a reborrow of `raw` per run would
        // invalidate the pointers handed out for the runs before it.
        let base = raw.as_mut_ptr();
        let mut start = 0;
        for &(cmd, end) in runs.iter() {
            batches.push(sys::kevent_ctl_batch {
                cmd: cmd.raw(),
                num: (end - start) as u32,
                // Within the list: start <= raw.len().
                entries: base.wrapping_add(start) as usize as u64,
            });
            start = end;
        }
        if !batches.is_empty() {
            args.changes = batches.as_ptr() as usize as u64;
            args.nr_changes = batches.len() as u32;
        }
        // SAFETY: the probe found kevent ABI v2; `events.buf` holds `max`
        // Events we own mutably; `args` lives across the call, its sigmask
        // points into `how`'s borrowed sigset_t, its changes to `batches`,
        // whose entries point into `raw`: ukevents borrowed mutably for
        // the call, which the kernel reads and whose ret_flags and
        // ret_data it writes; their descriptors are borrowed for 'fd.
        let n = unsafe {
            sys::kevent_get_events(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr().cast::<sys::kevent_event>(),
                max as c_uint,
                &args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            )
        }
        .map_err(os_error)?;
        events.len = n as usize;
        Ok(events.len)
    }

    /// Takes ready events with `read(2)` on the queue: sleeps until one is
    /// ready, unless the queue was created with [`QueueFlags::NONBLOCK`],
    /// which makes it fail with [`io::ErrorKind::WouldBlock`] instead.
    /// Returns how many events `events` holds now.
    ///
    /// ```no_run
    /// use kevent::{Events, Kevent, Queue, QueueFlags};
    ///
    /// let queue = Queue::with_flags(QueueFlags::CLOEXEC | QueueFlags::NONBLOCK)?;
    /// queue.add(Kevent::user(1))?;
    /// let mut events = Events::with_capacity(8);
    /// assert_eq!(queue.read_events(&mut events).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// queue.trigger(1)?;
    /// assert_eq!(queue.read_events(&mut events)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_events(&self, events: &mut Events) -> io::Result<usize> {
        let max = events_room(events)?;
        let size = std::mem::size_of::<sys::kevent_event>();
        let len = max * size;
        // SAFETY: `events.buf` holds `max` kevent_events (`len` bytes) we
        // own mutably; the kernel writes whole records into it.
        let ret = unsafe { libc::read(self.fd.as_raw_fd(), events.buf.as_mut_ptr().cast(), len) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let ret = ret as usize;
        if ret > len || ret % size != 0 {
            return Err(io::Error::other(format!(
                "read(2) on the kevent queue returned {ret} bytes, not whole events up to {len}"
            )));
        }
        events.len = ret / size;
        Ok(events.len)
    }
}

impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Queue {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<Queue> for OwnedFd {
    fn from(q: Queue) -> OwnedFd {
        q.fd
    }
}

impl FromRawFd for Queue {
    /// # Safety
    ///
    /// `fd` must be an open kevent queue that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        Queue {
            fd: OwnedFd::from_raw_fd(fd),
        }
    }
}

/// A reusable buffer of reported events, filled by [`Queue::wait`] and
/// the other waits; iterating it yields [`Event`]s without allocating.
#[derive(Debug)]
pub struct Events {
    buf: Vec<Event>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Self {
        Events {
            buf: vec![Event::default(); capacity],
            len: 0,
        }
    }

    /// The events of the last wait.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.as_slice().iter())
    }

    /// The events of the last wait, as a slice.
    pub fn as_slice(&self) -> &[Event] {
        &self.buf[..self.len]
    }

    /// How many events the last wait reported.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait reported nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many events one wait can report.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Forgets the events of the last wait.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// The iterator of [`Events::iter`]: each [`Event`] of the last wait, by
/// value (32 bytes, `Copy`).
#[derive(Debug, Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, Event>);

impl Iterator for Iter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.0.next().copied()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Event> {
        self.0.next_back().copied()
    }
}

impl std::iter::FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Empties `events` and returns how many records one call may fill: its
/// capacity, at most this kernel's batch limit.
fn events_room(events: &mut Events) -> io::Result<usize> {
    events.len = 0;
    let max = events.buf.len().min(features()?.max_batch as usize);
    if max == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Events has no capacity",
        ));
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_naio_rearm_enables_a_network_io_request() {
        let key = |type_: u32| sys::ukevent {
            type_,
            id: 7,
            ..Default::default()
        };
        let e = refuse_naio_enable(Command::Enable, &key(sys::KEVENT_NAIO), Some(3)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("Naio::rearm"), "{e}");
        // Its other commands, and every other type's enable, pass.
        for cmd in [Command::Remove, Command::Disable, Command::Add] {
            refuse_naio_enable(cmd, &key(sys::KEVENT_NAIO), None).unwrap();
        }
        refuse_naio_enable(Command::Enable, &key(sys::KEVENT_POLL), None).unwrap();
        refuse_naio_enable(Command::Enable, &key(sys::KEVENT_USER), None).unwrap();
        // Through the queue's calls, before any system call.
        let q = not_a_queue();
        let naio = Key::naio(7);
        assert_eq!(
            q.enable(naio).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let e = q.enable_all(&[Key::user(1), naio]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let mut changes = Changes::new();
        changes.add(Kevent::user(1)).enable(naio);
        let mut events = Events::with_capacity(4);
        let e = q
            .wait_with_changes(&mut changes, &mut events, &Wait::new(None))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    /// A `Queue` around a pipe: enough for checks made before any system
    /// call (no kevent kernel needed).
    /// A fake kernel for `apply_batch()`: entry `broken` fails with
    /// `EEXIST`, entry `created` is marked created, and the call for the
    /// chunk that starts at `stop_base` processes `stop_done` entries, or
    /// fails as a whole with `stop_errno`.
    fn fake_batch(
        len: usize,
        stop_base: usize,
        stop_done: usize,
        stop_errno: Option<i32>,
    ) -> Result<BatchResult, Error> {
        let items: Vec<Kevent<'_>> = (0..len as u64).map(Kevent::user).collect();
        let (broken, created) = (5, 10);
        apply_batch(
            Command::Add,
            &items,
            |k| k.raw,
            CHUNK,
            |raw| {
                let base = raw[0].id as usize;
                if base == stop_base {
                    if let Some(e) = stop_errno {
                        return Err(io::Error::from_raw_os_error(e));
                    }
                }
                for uk in raw.iter_mut() {
                    match uk.id as usize {
                        i if i == broken => {
                            uk.ret_flags = sys::KEVENT_RET_BROKEN;
                            uk.ret_data[1] = (-libc::EEXIST) as u32;
                        }
                        i if i == created => uk.ret_flags = sys::KEVENT_RET_CREATED,
                        _ => {}
                    }
                }
                Ok(if base == stop_base {
                    stop_done
                } else {
                    raw.len()
                })
            },
        )
    }

    #[test]
    fn a_batch_stopped_part_of_the_way_keeps_the_results_before() {
        // The second call (entries 64..128) processes 20 of its 64.
        let r = fake_batch(150, 64, 20, None).unwrap();
        assert_eq!((r.len(), r.processed(), r.is_ok()), (150, 84, false));
        assert_eq!(r.result(5).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        assert!(r.created(10) && r.result(10).is_ok() && r.result(83).is_ok());
        let first = r.result(84).unwrap_err();
        assert_eq!(first.kind(), io::ErrorKind::Interrupted);
        assert_eq!(
            (first.key(), first.index()),
            (Some(Key::user(84)), Some(84))
        );
        assert!(
            first
                .to_string()
                .contains("processed 84 of the batch's 150"),
            "{first}"
        );
        let later = r.result(149).unwrap_err();
        assert_eq!(
            (later.kind(), later.index()),
            (io::ErrorKind::Interrupted, Some(149))
        );
        let errors: Vec<_> = r.errors().map(|e| e.index()).collect();
        assert_eq!(errors, [Some(5), Some(84)]);
        assert_eq!(r.errors().len(), 2);
        assert_eq!(r.check().unwrap_err().index(), Some(5));

        // Without an entry error, check() names the first one not applied.
        let r = fake_batch(150, 128, 0, None).unwrap();
        assert_eq!(r.processed(), 128);
        assert!(r.result(127).is_ok());
        assert_eq!(r.errors().last().unwrap().index(), Some(128));
    }

    #[test]
    fn a_batch_whose_later_call_fails_keeps_the_results_before() {
        let r = fake_batch(150, 128, 0, Some(libc::ENOMEM)).unwrap();
        assert_eq!((r.processed(), r.is_ok()), (128, false));
        assert!(r.created(10) && r.result(127).is_ok());
        let e = r.result(128).unwrap_err();
        assert!(e.is_call_error(), "{e}");
        assert_eq!(
            (e.raw_os_error(), e.index()),
            (Some(libc::ENOMEM), Some(128))
        );
        let later = r.result(140).unwrap_err();
        assert_eq!(later.kind(), io::ErrorKind::Interrupted);
        assert!(
            later.to_string().contains("the call for entry 128 failed"),
            "{later}"
        );
    }

    #[test]
    fn a_batch_the_kernel_applied_nothing_of_is_an_error() {
        let e = fake_batch(150, 0, 0, Some(libc::EBADF)).unwrap_err();
        assert!(e.is_call_error());
        assert_eq!((e.raw_os_error(), e.index()), (Some(libc::EBADF), Some(0)));
        let e = fake_batch(150, 0, 0, None).unwrap_err();
        assert_eq!((e.kind(), e.index()), (io::ErrorKind::Interrupted, Some(0)));
        // Every entry processed: no stop.
        let r = fake_batch(150, usize::MAX, 0, None).unwrap();
        assert_eq!((r.processed(), r.errors().len()), (150, 1));
        assert!(fake_batch(0, 0, 0, None).unwrap().is_ok());
    }

    fn not_a_queue() -> Queue {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the write end is ours and closed once, here.
        unsafe { libc::close(fds[1]) };
        Queue {
            // SAFETY: the read end is ours, owned from here on.
            fd: unsafe { OwnedFd::from_raw_fd(fds[0]) },
        }
    }

    #[test]
    fn modify_without_a_token_is_refused() {
        let q = not_a_queue();
        let e = q.modify(Kevent::user(1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains("modify needs the kevent's token"),
            "{e}"
        );
        let e = q
            .modify_all(&[Kevent::user(1).token(Token(1)), Kevent::user(2).oneshot()])
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            (e.command(), e.key(), e.index()),
            (Command::Modify, Some(Key::user(2)), Some(1))
        );
        assert!(
            e.to_string()
                .starts_with("modify user 2 (batch entry 1): modify needs"),
            "{e}"
        );
    }

    #[test]
    fn a_token_even_zero_is_enough_to_modify() {
        assert!(!Kevent::user(1).oneshot().has_token());
        for k in [
            Kevent::user(1).token(Token(0)),
            Kevent::user(1).user_data(0),
            Kevent::timer(1, Duration::from_secs(1))
                .token(7u64)
                .oneshot(),
        ] {
            assert!(k.has_token());
            require_token(&k, None).unwrap();
        }
        // Kevent::poll keeps the flag of the request it wraps.
        let stdin = std::io::stdin();
        let p = Kevent::poll(stdin.as_fd(), PollFlags::IN);
        assert!(!p.has_token() && p.token(Token(2)).has_token());
    }
}
