//! Changes that travel with a wait ([`Queue::wait_with_changes`]): an
//! event loop's changes and its wait in one system call, as kqueue's
//! `kevent()` takes them.

use std::io;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use kevent_sys as sys;

use crate::error::{Command, Error};
use crate::interest::{Kevent, Key, Kind};
#[cfg(doc)]
use crate::Queue;

/// A list of changes (adds, removes, enables, disables, triggers) for
/// [`Queue::wait_with_changes`], which the kernel applies in order before
/// it waits, in the same system call; then each change's result.
///
/// Consecutive changes with the same command go to the kernel as one
/// batch (a `struct kevent_ctl_batch`); any mix of commands is still one
/// call. The list keeps its room across [`clear`](Self::clear) and
/// [`recycle`](Self::recycle), so an event loop that reuses one allocates
/// nothing once it has grown. The lifetime `'fd` is that of the
/// descriptors its kevents borrow (poll, socket, inode and process
/// kevents name descriptors): the kernel uses them during the call.
/// [`recycle`](Self::recycle) empties the list and ends those borrows, for
/// a loop whose descriptors come and go.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use kevent::{Changes, Events, Kevent, PollFlags, Queue, Wait};
///
/// let queue = Queue::new()?;
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// let mut changes = Changes::new();
/// let mut events = Events::with_capacity(64);
/// changes.add(Kevent::poll(a.as_fd(), PollFlags::IN)).add(Kevent::user(1)).trigger(1);
/// // One system call: two adds, a trigger, then the wait.
/// let n = queue.wait_with_changes(&mut changes, &mut events, &Wait::new(None))?;
/// changes.check()?; // a failed change returns at once, with no event
/// assert_eq!(n, 1); // the user event
/// # drop(b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Changes<'fd> {
    pub(crate) raw: Vec<sys::ukevent>,
    /// Each run's command and where it ends in `raw`.
    pub(crate) runs: Vec<(Command, usize)>,
    /// The runs as the kernel takes them, rebuilt by each call.
    pub(crate) batches: Vec<sys::kevent_ctl_batch>,
    _fds: PhantomData<BorrowedFd<'fd>>,
}

impl std::fmt::Debug for Changes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("len", &self.raw.len())
            .field("runs", &self.runs)
            .finish()
    }
}

impl<'fd> Changes<'fd> {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `n` changes.
    pub fn with_capacity(n: usize) -> Self {
        Changes {
            raw: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    fn push(&mut self, cmd: Command, mut raw: sys::ukevent) -> &mut Self {
        raw.ret_flags = 0;
        raw.ret_data = [0; 2];
        self.raw.push(raw);
        match self.runs.last_mut() {
            Some((c, end)) if *c == cmd => *end = self.raw.len(),
            _ => self.runs.push((cmd, self.raw.len())),
        }
        self
    }

    /// Adds a kevent ([`Queue::add`]).
    pub fn add(&mut self, kevent: Kevent<'fd>) -> &mut Self {
        self.push(Command::Add, kevent.raw)
    }

    /// Replaces a kevent's interest and token ([`Queue::modify`]). Like
    /// `Queue::modify` it needs a token: without one it fails with
    /// `InvalidInput`, and nothing is added to the list.
    pub fn modify(&mut self, kevent: Kevent<'fd>) -> Result<&mut Self, Error> {
        crate::queue::require_token(&kevent, Some(self.raw.len()))?;
        Ok(self.push(Command::Modify, kevent.raw))
    }

    /// Removes a kevent ([`Queue::remove`]).
    pub fn remove(&mut self, key: impl Into<Key>) -> &mut Self {
        self.push(Command::Remove, key.into().raw())
    }

    /// Enables a kevent ([`Queue::enable`]).
    pub fn enable(&mut self, key: impl Into<Key>) -> &mut Self {
        self.push(Command::Enable, key.into().raw())
    }

    /// Disables a kevent ([`Queue::disable`]).
    pub fn disable(&mut self, key: impl Into<Key>) -> &mut Self {
        self.push(Command::Disable, key.into().raw())
    }

    /// Triggers user kevent `id` ([`Queue::trigger`]).
    pub fn trigger(&mut self, id: u64) -> &mut Self {
        self.push(Command::Trigger, Key::user(id).raw())
    }

    /// How many changes the list holds.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Empties the list, keeping its room.
    pub fn clear(&mut self) {
        self.raw.clear();
        self.runs.clear();
        self.batches.clear();
    }

    /// Empties the list and ends its borrows of descriptors, keeping its
    /// room: the list can then take kevents on other descriptors, with
    /// another lifetime.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use kevent::{Changes, Kevent, PollFlags};
    ///
    /// let mut changes = Changes::with_capacity(64);
    /// for _ in 0..3 {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    ///     let mut round = changes.recycle();
    ///     round.add(Kevent::poll(a.as_fd(), PollFlags::IN));
    ///     // ... queue.wait_with_changes(&mut round, ...)
    ///     changes = round.recycle();
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recycle<'b>(mut self) -> Changes<'b> {
        self.clear();
        Changes {
            raw: self.raw,
            runs: self.runs,
            batches: self.batches,
            _fds: PhantomData,
        }
    }

    /// Keeps the first `len` changes (all of them if there are fewer).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.raw.len() {
            return;
        }
        self.raw.truncate(len);
        // The runs that start before `len`; the last one now ends there.
        let keep = self.runs.partition_point(|&(_, end)| end < len);
        self.runs.truncate(keep + 1);
        match self.runs.last_mut() {
            Some((_, end)) if len > 0 => *end = len,
            _ => self.runs.clear(),
        }
        self.batches.clear();
    }

    fn command(&self, index: usize) -> Command {
        let run = self.runs.partition_point(|&(_, end)| end <= index);
        self.runs[run].0
    }

    /// The result of change `index` in the last
    /// [`wait_with_changes`](Queue::wait_with_changes): its [`Error`]
    /// says the command, the key, the index and why. A change the call
    /// did not apply (it failed before, or the list was changed since)
    /// is an `Interrupted` error.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len).
    pub fn result(&self, index: usize) -> Result<(), Error> {
        let raw = &self.raw[index];
        let cmd = self.command(index);
        let key = Key::new(Kind::from_raw(raw.type_), raw.id);
        if raw.ret_flags & sys::KEVENT_RET_DONE == 0 {
            return Err(Error::io(
                cmd,
                Some(key),
                Some(index),
                io::Error::new(io::ErrorKind::Interrupted, "the change was not applied"),
            ));
        }
        match crate::queue::entry_errno(raw) {
            None => Ok(()),
            Some(e) => Err(Error::entry(cmd, key, Some(index), e)),
        }
    }

    /// Whether change `index`, an add with
    /// [`Kevent::update`](crate::Kevent::update), created its kevent rather than
    /// updated one: none had the key (never added, removed, or closed
    /// with [`fd_close`](crate::Kevent::fd_close)), or a poll or socket
    /// kevent's number names another file now. False for every other
    /// change, and on kernels without
    /// [`Features::reports_created`](crate::Features::reports_created).
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len).
    pub fn created(&self, index: usize) -> bool {
        self.raw[index].ret_flags & sys::KEVENT_RET_CREATED != 0
    }

    /// The errors of the changes that failed or were not applied, in
    /// order ([`Error::index`] is the change's index).
    pub fn errors(&self) -> impl Iterator<Item = Error> + '_ {
        (0..self.raw.len()).filter_map(|i| self.result(i).err())
    }

    /// Whether every change was applied and succeeded.
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// `Ok` if every change succeeded, else the first error.
    pub fn check(&self) -> Result<(), Error> {
        match self.errors().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_the_first_changes_and_their_runs() {
        let mut c = Changes::new();
        c.enable(Key::naio(1)).enable(Key::naio(2)).trigger(3);
        c.remove(Key::user(4)).remove(Key::user(5));
        assert_eq!(c.runs.len(), 3);
        c.truncate(9);
        assert_eq!((c.len(), c.runs.len()), (5, 3));
        c.truncate(4);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c.runs,
            [
                (Command::Enable, 2),
                (Command::Trigger, 3),
                (Command::Remove, 4)
            ]
        );
        c.truncate(2);
        assert_eq!(c.runs, [(Command::Enable, 2)]);
        c.truncate(1);
        assert_eq!((c.len(), &c.runs[..]), (1, &[(Command::Enable, 1)][..]));
        c.truncate(0);
        assert!(c.is_empty() && c.runs.is_empty());
        // Pushing after a truncate goes on from there.
        c.enable(Key::naio(6));
        assert_eq!(c.runs, [(Command::Enable, 1)]);
    }
}
