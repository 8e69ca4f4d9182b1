//! A kqueue: one kevent queue and the library's table of knotes.
//!
//! `kevent()` turns the changelist into runs of kernel requests (one run
//! per stretch of changes with the same kernel command), waits with one
//! `kevent_get_events()` and turns each kernel event into kqueue events.
//! When the call waits, the runs go into that wait (`kevent_wait_args`'
//! `changes`): one system call for the changes and the wait, as on
//! FreeBSD. Otherwise each run is a `kevent_ctl()`. The table is locked
//! while changes are applied and events are translated, never during the
//! wait; see `Kq::submit_and_wait` for the changes that travel with it.

use std::collections::{HashMap, VecDeque};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use kevent_sys as sys;
use libc::c_int;

use crate::abi::*;
use crate::direct::{self, DirectNotes, Note};
use crate::fdtable::FdTable;
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::translate::{self, FdOp, FdState, Knote};
use crate::{file, proc_, signal, vnode};

/// `kevent_event.user_data` of the kernel's kevents: what they are.
pub const TAG_FD: u64 = 0;
/// An `EVFILT_VNODE` knote's `KEVENT_INODE` kevent.
pub const TAG_VNODE: u64 = 3;

/// Incremented in a child after `fork()`: queues of an older generation
/// are not inherited (FreeBSD semantics) and fail with `EBADF`.
static FORK_GEN: AtomicU64 = AtomicU64::new(0);

/// The count behind [`kernel_calls`].
static KERNEL_CALLS: AtomicU64 = AtomicU64::new(0);

/// Whether the kernel's wait calls take changes (`kevent_wait_args`
/// of 48 bytes); cleared at the first `E2BIG`, from a kernel before them.
static WAIT_TAKES_CHANGES: AtomicBool = AtomicBool::new(true);

/// How many system calls the library has made for `kevent()` in this
/// process so far: every `kevent_ctl()` and `kevent_get_events()`, and
/// the per-event calls of exact `data` (`ioctl`, `getsockopt`, `fcntl`),
/// not the reads and `fstat`s of the signal, process and vnode filters'
/// own descriptors. One relaxed atomic add per call (far less than the
/// call costs): the benchmarks' `syscalls_per_event` of the `kqueue`
/// mechanism is measured with it (the difference over a loop), not
/// derived from the batching rules.
pub fn kernel_calls() -> u64 {
    KERNEL_CALLS.load(Ordering::Relaxed)
}

thread_local! {
    /// This thread's [`ctl_one`] calls: whether a vnode change made one
    /// (see [`State::calls`]).
    static CTL_ONE_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// This thread's [`ctl_one`] calls that found the number no queue
    /// ([`NOT_A_QUEUE`]): whether one of a vnode change's did, even one
    /// whose result it does not need (see [`Kq::change`]).
    static CTL_ONE_REFUSED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_call() {
    KERNEL_CALLS.fetch_add(1, Ordering::Relaxed);
}

fn ctl_one_calls() -> u64 {
    CTL_ONE_CALLS.with(|c| c.get())
}

fn ctl_one_refused() -> u64 {
    CTL_ONE_REFUSED.with(|c| c.get())
}

/// A change's "errno" when the kernel refused the whole call because the
/// queue's number is no queue any more (`EBADF`, or `EINVAL`: another
/// file): `kevent()` then fails as a whole with `EBADF`, as FreeBSD does,
/// instead of an `EV_ERROR` per change. Never a real errno.
pub const NOT_A_QUEUE: c_int = -libc::EBADF;

/// The queues by descriptor number.
static REGISTRY: Mutex<Vec<Option<Arc<Kq>>>> = Mutex::new(Vec::new());

/// Bumped, with the registry locked, before every change of it (and in
/// `create()` before the new queue's number exists): a call that finds
/// the count it read in [`lookup`] knows its queue is still registered
/// without locking the registry (see [`Kq::registered`]).
static REGISTRY_CHANGES: AtomicU64 = AtomicU64::new(0);

/// The library's process-wide lock, held by the forking thread across
/// `fork()`.
type ForkGuards = MutexGuard<'static, Vec<Option<Arc<Kq>>>>;

thread_local! {
    static FORK_GUARDS: std::cell::RefCell<Option<ForkGuards>> =
        const { std::cell::RefCell::new(None) };
}

/// `pthread_atfork` prepare: takes the registry, so that no other thread
/// holds it at the fork. Otherwise a child (which
/// has only the forking thread) would wait forever for a lock whose
/// holder did not fork with it, in its first `kqueue()` or `kevent()`
/// (found while writing fuzz/kqueue-fuzz.c's fork step; the conformance
/// test `fork_while_threads_in_library` covers it).
extern "C" fn before_fork() {
    let guards = REGISTRY.lock();
    FORK_GUARDS.with(|g| *g.borrow_mut() = Some(guards));
}

extern "C" fn after_fork_in_parent() {
    FORK_GUARDS.with(|g| drop(g.borrow_mut().take()));
}

/// `pthread_atfork` child: the queues are not inherited (FreeBSD), so
/// the child's copies are closed. Only numbers that still name a kevent
/// queue: the table cannot see the application's `close()` of a queue,
/// so an entry may name a number that is another file now (a pipe, a
/// socket), which the child must keep. Closing those made the child of
/// the conformance test `signal_and_fork` lose its pipe and exit before
/// the parent looked (4 of 8 static runs, for h35); the test
/// `fork_closes_only_queues` covers it.
extern "C" fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, Ordering::SeqCst);
    let Some(mut reg) = FORK_GUARDS.with(|g| g.borrow_mut().take()) else {
        return;
    };
    REGISTRY_CHANGES.fetch_add(1, Ordering::SeqCst);
    for kq in reg.iter_mut().filter_map(Option::take) {
        if is_queue_file(kq.fd) {
            // SAFETY: the descriptor is the child's copy of a kevent
            // queue, which FreeBSD does not inherit.
            unsafe { libc::close(kq.fd) };
        }
    }
}

/// Whether `fd` names a kevent queue: `kevent_ctl()` of no entries is 0
/// on a queue, `EINVAL` on another file and `EBADF` on a closed number.
/// (A queue the application made itself with `kevent_create()` at the
/// number of a closed kqueue is not told apart: all queues share one
/// anonymous inode.)
fn is_queue_file(fd: RawFd) -> bool {
    // SAFETY: no entries: the kernel reads and writes nothing.
    unsafe { sys::kevent_ctl(fd, sys::KEVENT_CTL_ADD, 0, std::ptr::null_mut()) }.is_ok()
}

/// What the probe found, or an errno.
#[derive(Clone, Copy)]
struct Probed {
    /// The kernel's largest batch.
    max_batch: u32,
    /// The most runs of changes a wait takes; 0: none.
    max_changes: u32,
    /// An ADD with `KEVENT_REQ_UPDATE` says whether it created its kevent
    /// (`KEVENT_RET_CREATED`).
    upsert: bool,
    /// `KEVENT_POLL` reports a socket's amounts on request
    /// (`KEVENT_REQ_AMOUNTS`): exact `data` for READ and WRITE.
    amounts: bool,
    /// READ and WRITE knotes are kernel kevents of their own (the tag in
    /// a `KEVENT_POLL` id, `KEVENT_REQ_KEEP`): see [`crate::direct`].
    direct: bool,
}

fn probe() -> Result<Probed, c_int> {
    static PROBE: OnceLock<Result<Probed, c_int>> = OnceLock::new();
    *PROBE.get_or_init(|| {
        let mut p: sys::kevent_probe = unsafe_zeroed();
        match sys::probe(&mut p) {
            Ok(_) if p.magic == sys::KEVENT_PROBE_MAGIC && p.version == sys::KEVENT_ABI_VERSION => {
                // SAFETY: registers handlers that take and release the
                // library's process-wide lock, and in the child
                // close the queues' descriptors.
                unsafe {
                    libc::pthread_atfork(
                        Some(before_fork),
                        Some(after_fork_in_parent),
                        Some(after_fork_in_child),
                    )
                };
                // KQUEUE_WAIT_CHANGES=0: every run a kevent_ctl(), as
                // before the kernel took changes in the wait (for A/B
                // measurements, benches/README.md).
                let off = std::env::var_os("KQUEUE_WAIT_CHANGES").is_some_and(|v| v == "0");
                let max_changes = if !off && p.wait_args_size as usize >= sys::KEVENT_WAIT_ARGS_SIZE
                {
                    p.max_changes
                } else {
                    0
                };
                // KQUEUE_UPSERT=0: an EV_ADD on a known descriptor asks
                // with a MODIFY, as before the kernel said what an upsert
                // did (for A/B measurements).
                let upsert = p.ret_flags & sys::KEVENT_RET_CREATED != 0
                    && !std::env::var_os("KQUEUE_UPSERT").is_some_and(|v| v == "0");
                // KQUEUE_AMOUNTS=0: a socket's `data` as on a kernel without
                // KEVENT_REQ_AMOUNTS (for A/B measurements).
                let amounts = p.req_flags & sys::KEVENT_REQ_AMOUNTS != 0
                    && !std::env::var_os("KQUEUE_AMOUNTS").is_some_and(|v| v == "0");
                // KQUEUE_DIRECT=0: READ and WRITE knotes share their
                // descriptor's kevent in the table, as on a kernel
                // without KEVENT_REQ_KEEP (and the tag, of the same
                // series) (for A/B measurements).
                let direct = upsert
                    && p.req_flags & sys::KEVENT_REQ_KEEP != 0
                    && !std::env::var_os("KQUEUE_DIRECT").is_some_and(|v| v == "0");
                Ok(Probed {
                    max_batch: p.max_batch.max(1),
                    max_changes,
                    upsert,
                    amounts,
                    direct,
                })
            }
            _ => Err(libc::ENOSYS),
        }
    })
}

/// A zeroed plain-data kernel struct.
pub fn unsafe_zeroed<T: Copy>() -> T {
    // SAFETY: only used for the kevent-sys and libc C structs, for which
    // all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// One `kevent_ctl()` entry.
pub fn ukevent(
    id: u64,
    type_: u32,
    event: u32,
    req_flags: u32,
    data: u64,
    user_data: u64,
) -> sys::ukevent {
    let mut u: sys::ukevent = unsafe_zeroed();
    u.id = id;
    u.type_ = type_;
    u.event = event;
    u.req_flags = req_flags;
    u.data = data;
    u.user_data = user_data;
    u
}

/// Applies `cmd` to one entry now; the entry's errno on failure, or
/// [`NOT_A_QUEUE`].
pub fn ctl_one(kq: RawFd, cmd: u32, mut u: sys::ukevent) -> Result<(), c_int> {
    // SAFETY: one valid ukevent, read and written back by the kernel; the
    // probe found kevent before any queue existed.
    count_call();
    CTL_ONE_CALLS.with(|c| c.set(c.get() + 1));
    match unsafe { sys::kevent_ctl(kq, cmd, 1, &mut u) } {
        Ok(1) if u.ret_flags & sys::KEVENT_RET_BROKEN == 0 => Ok(()),
        Ok(1) => Err(-(u.ret_data[1] as i32)),
        Ok(_) => Err(libc::EIO),
        Err(sys::Error::Errno(libc::EBADF | libc::EINVAL)) => {
            CTL_ONE_REFUSED.with(|c| c.set(c.get() + 1));
            Err(NOT_A_QUEUE)
        }
        Err(sys::Error::Errno(e)) => Err(e),
        Err(_) => Err(libc::EIO),
    }
}

/// `EBADF` if `fd` is not open, else `ENOENT`.
pub(crate) fn absent_errno(fd: RawFd) -> c_int {
    // SAFETY: F_GETFD only reads the descriptor flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        libc::EBADF
    } else {
        libc::ENOENT
    }
}

/// A hasher for descriptor numbers and idents: one multiplication
/// (Fibonacci hashing), much cheaper than SipHash on the event path.
#[derive(Default, Clone, Copy)]
pub struct FastHash(u64);

impl std::hash::Hasher for FastHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x.into());
    }
    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as u32 as u64);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// A map keyed by a descriptor number or an ident.
pub(crate) type Map<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHash>>;

/// Applies the kernel's answer for a knote kept by id (timers, user
/// events, signals, processes): on success the table follows the request
/// (`None`: deleted). `ENOENT` means the kernel removed the kevent
/// already: a kernel ONESHOT kevent (`oneshot` says which knotes have
/// one) goes with its report, which another thread's wait took and has
/// not translated yet (a report this thread's table had seen would have
/// taken the knote with it). The knote stays for that thread to report,
/// as on FreeBSD, where the report came first and this change found
/// nothing; before, the knote left the table, so the report was dropped
/// too (helper-83's finding 7, F6's twin). Otherwise the knote goes.
/// Returns `err`, the change's errno.
///
/// `created`: the kernel made the kevent (`KEVENT_RET_CREATED`): the
/// knote is born of this request ([`Knote::born`], set when it was
/// planned); otherwise it keeps the birth of the knote it updates.
/// `oneshot`: which kevents of the map are ONESHOT in the kernel.
fn commit_keyed<V: Keyed>(
    map: &mut Map<usize, V>,
    id: usize,
    new: Option<V>,
    err: c_int,
    created: bool,
    oneshot: KernelOneshot,
) -> c_int {
    if err == 0 {
        match new {
            Some(mut v) => {
                if !created {
                    if let Some(old) = map.get(&id) {
                        v.note_mut().born = old.note().born;
                    }
                }
                map.insert(id, v);
            }
            None => {
                map.remove(&id);
            }
        }
    } else if err == libc::ENOENT
        && !map.get(&id).is_some_and(|v| match oneshot {
            KernelOneshot::Never => false,
            KernelOneshot::IfAsked => v.note().flags & EV_ONESHOT != 0,
            KernelOneshot::Always => true,
        })
    {
        map.remove(&id);
    }
    err
}

/// Which kevents of a map of knotes kept by id are `KEVENT_REQ_ONESHOT`
/// in the kernel, gone with their report ([`commit_keyed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KernelOneshot {
    /// None: signals (the library does their `EV_ONESHOT`, as it does
    /// their `EV_DISABLE`: [`crate::signal::add_request`]).
    Never,
    /// The `EV_ONESHOT` knotes' (timers, user events).
    IfAsked,
    /// All (processes).
    Always,
}

/// A knote kept by id: a timer's, signal's or process's [`Knote`], a
/// user event's [`User`].
trait Keyed {
    fn note(&self) -> &Knote;
    fn note_mut(&mut self) -> &mut Knote;
}

impl Keyed for Knote {
    fn note(&self) -> &Knote {
        self
    }
    fn note_mut(&mut self) -> &mut Knote {
        self
    }
}

impl Keyed for User {
    fn note(&self) -> &Knote {
        &self.note
    }
    fn note_mut(&mut self) -> &mut Knote {
        &mut self.note
    }
}

/// Whether a report of a knote kept by id comes from the kevent the knote
/// was born with (or a later update of it), not from one gone before
/// ([`Knote::born`]).
fn born_of(k: &Knote, ev: &sys::kevent_event) -> bool {
    ev.user_data >= k.born
}

/// The number of a new `EV_ADD` of a knote kept by id.
fn next_birth(st: &mut State) -> u64 {
    st.births += 1;
    st.births
}

/// Applies the kernel's answer to the `KEVENT_CTL_READY` that follows the
/// ADD (or ENABLE) of an `EV_ADD`/`EV_ENABLE` with `NOTE_TRIGGER`: two
/// `kevent_ctl()` calls, as a batch has one command. The queue's table
/// stays locked from the first to the second, so no other `kevent()` of
/// the library changes the knote in between; but another thread's wait
/// is a system call made without that lock, and the kernel reports a
/// kevent as soon as it is ready: an enabled `EV_ONESHOT` knote that was
/// triggered (and not yet reported) before this change stays triggered
/// through the ADD (an update of an existing kevent keeps its pending
/// trigger) or ENABLE, so such a wait may report it between the two
/// calls, and the kernel removes it with that report. The READY then
/// finds nothing (`ENOENT`). That is the only way the trigger can find
/// nothing: the first request succeeded, and nothing but a oneshot report
/// removes a user kevent while the table is locked (a disabled kevent
/// holds no trigger: the kernel drops it). On FreeBSD the change is
/// atomic: the knote is updated and triggered, and the other thread's
/// report is its one report. So the change succeeded, and the knote stays
/// in the table as the change left it, for that thread to translate its
/// report (it takes the table after this `kevent()`): reported once, with
/// this change's udata, fflags and data, then removed as a oneshot.
/// Before (the `fuzz/kqueue-fuzz.c` "user: add" -> `ENOENT` with 4
/// threads) the change failed with `ENOENT` and the knote left the table,
/// so that report was dropped as well. The same for a plain
/// `NOTE_TRIGGER` of an enabled oneshot knote already triggered, whose
/// report another thread's wait took: the trigger is that report's.
fn commit_trigger(map: &mut Map<usize, User>, id: usize, new: Option<User>, err: c_int) -> c_int {
    match new {
        // As if the READY had gone well; it makes no kevent, so the
        // knote keeps the ADD's birth.
        Some(u) if err == libc::ENOENT && u.note.flags & EV_ONESHOT != 0 && u.note.enabled => {
            commit_keyed(map, id, new, 0, false, KernelOneshot::IfAsked)
        }
        _ => commit_keyed(map, id, new, err, false, KernelOneshot::IfAsked),
    }
}

/// An `EVFILT_USER` knote.
#[derive(Debug, Clone, Copy)]
struct User {
    note: Knote,
    /// Reported without `EV_CLEAR`: stays triggered (reported by every
    /// `kevent()`) until it is deleted.
    sticky: bool,
    /// Triggered and not reported since. The kernel drops the trigger
    /// of a disabled kevent (and a pending one at its DISABLE); FreeBSD
    /// keeps it (`kn_hookid`) and reports it at `EV_ENABLE`, so the
    /// library triggers the kevent again when it enables it.
    triggered: bool,
}

/// The table of one queue.
#[derive(Default)]
pub struct State {
    fds: FdTable,
    /// What the library knows of its direct READ and WRITE knotes.
    direct: DirectNotes,
    /// What the library knew of a direct knote the table takes over,
    /// once its kevent is removed ([`DirectOp::Move`]).
    moved: Option<Note>,
    /// Descriptors whose kernel kevent must follow the table (the library
    /// did a ONESHOT or DISPATCH the kernel could not, or the kernel
    /// refused such a fix-up). Between calls the table and the kernel
    /// agree ([`FdState::op`] is `None`) for every other descriptor:
    /// [`Kq::translate`] computes a request only for a descriptor whose
    /// report changed the table.
    dirty: Vec<RawFd>,
    timers: Map<usize, Knote>,
    users: Map<usize, User>,
    /// `EVFILT_SIGNAL` knotes by signal number (`KEVENT_SIGNAL` kevents).
    signals: Map<usize, Knote>,
    /// `EVFILT_PROC` knotes by pid (`KEVENT_PROC` kevents).
    procs: Map<usize, Knote>,
    pub(crate) vnodes: vnode::Vnodes,
    /// READ and WRITE knotes on regular files and directories.
    files: file::Files,
    /// Events that did not fit in the caller's list.
    pending: VecDeque<Kevent>,
    /// The batch of `kevent_ctl()` requests, kept for its room: boxed, so
    /// that a call takes it and gives it back by moving a pointer (see
    /// [`take_batch`]).
    batch: Option<Box<Batch>>,
    /// The kernel calls `kevent()`s make on this queue before their
    /// checks (changes and waits; not the reports' own calls), counted
    /// with the table locked: whether a `kevent()`, which holds the lock
    /// but while it waits (when it has counted a call already), made one.
    /// (A thread-local count was a `__tls_get_addr()` call each time in
    /// the shared library: about 50 instructions per count.)
    calls: u64,
    /// The number of the last `EV_ADD` of a knote kept by id
    /// ([`Knote::born`]).
    births: u64,
    /// Changes travelling in threads' waits, not yet in the table: see
    /// [`Kq::submit_and_wait`] and [`Kq::gate`].
    inflight: Vec<InFlight>,
    /// Kernel kevents the table does not know (a reported `EV_ONESHOT`
    /// signal knote's, or one another table's change made through this
    /// queue's number): removed by the next `kevent()`, so that a
    /// level-triggered one does not wake every wait.
    orphans: Vec<(u32, u64)>,
    /// The kernel refused a batch: the number is no queue any more.
    gone: bool,
    /// Threads asleep on [`Kq::settled`]: a settle wakes them only if
    /// there are any (a `notify_all()` is a `futex()` call even when
    /// nobody waits, and every call whose changes travel settles).
    sleepers: u32,
}

/// Where translated events go: the caller's list, then `pending`.
pub struct Out<'a> {
    buf: &'a mut [Kevent],
    n: usize,
    pending: &'a mut VecDeque<Kevent>,
}

impl Out<'_> {
    /// Reports one event.
    pub fn push(&mut self, k: Kevent) {
        if self.n < self.buf.len() {
            self.buf[self.n] = k;
            self.n += 1;
        } else {
            self.pending.push_back(k);
        }
    }
}

/// A kqueue.
pub struct Kq {
    /// The kevent queue.
    pub fd: RawFd,
    gen: u64,
    max_batch: u32,
    /// The most runs of changes one wait takes; 0 if waits take none.
    max_changes: u32,
    /// An `EV_ADD` on a descriptor the table knows is one upsert (see
    /// [`Kq::change_fd`]).
    upsert: bool,
    /// READ and WRITE kevents ask for a socket's amounts (see [`Probed`]).
    amounts: bool,
    /// READ and WRITE knotes are kernel kevents of their own, but for
    /// those the table keeps (see [`Kq::goes_direct`]).
    direct: bool,
    st: Mutex<State>,
    /// Signalled when a thread settled its travelling changes (see
    /// [`Kq::gate`]).
    settled: Condvar,
    /// The next travelling batch's ticket.
    tickets: AtomicU64,
}

/// `kqueue1(flags)`: a new queue, close-on-exec.
pub fn create(flags: c_int) -> Result<RawFd, c_int> {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
        return Err(libc::EINVAL);
    }
    let Probed {
        max_batch,
        max_changes,
        upsert,
        amounts,
        direct,
    } = probe()?;
    // Held from the new number to its entry: see Kq::registered().
    let mut reg = REGISTRY.lock();
    REGISTRY_CHANGES.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the probe found kevent ABI v2.
    let fd = unsafe { sys::kevent_create(sys::KEVENT_CLOEXEC) }.map_err(|e| match e {
        sys::Error::Errno(e) => e,
        _ => libc::EIO,
    })?;
    let kq = Arc::new(Kq {
        fd,
        gen: FORK_GEN.load(Ordering::SeqCst),
        max_batch,
        max_changes,
        upsert,
        amounts,
        direct,
        st: Mutex::new(State::default()),
        settled: Condvar::new(),
        tickets: AtomicU64::new(0),
    });
    let i = fd as usize;
    if reg.len() <= i {
        reg.resize(i + 1, None);
    }
    // A queue found at this number was closed by the application.
    reg[i] = Some(kq);
    Ok(fd)
}

/// The queue at `fd`, if it is one of ours in this process, and the
/// registry's count of changes when it was found (for [`Kq::kevent`]).
/// Always inlined into `kevent()`: a call of its own cost about 10
/// instructions per `kevent()` more, and the compiler's choice flips with
/// unrelated changes.
#[inline(always)]
pub fn lookup(fd: c_int) -> Result<(Arc<Kq>, u64), c_int> {
    let reg = REGISTRY.lock();
    let seen = REGISTRY_CHANGES.load(Ordering::SeqCst);
    let kq = usize::try_from(fd)
        .ok()
        .and_then(|i| reg.get(i).cloned().flatten())
        .ok_or(libc::EBADF)?;
    if kq.gen != FORK_GEN.load(Ordering::Relaxed) {
        return Err(libc::EBADF);
    }
    Ok((kq, seen))
}

/// The errno of a call that failed as a whole on the queue descriptor of
/// `kq`: `EINVAL` or `EBADF` there means the application closed the
/// kqueue and the number is now another file (or none): `EBADF`, and the
/// table is dropped, unless the registry holds another queue at the number
/// by now (a `kqueue()` that took it since: helper-82). (The library's own
/// arguments are always valid.)
fn not_a_queue(kq: &Kq, e: c_int) -> c_int {
    if e != libc::EINVAL && e != libc::EBADF {
        return e;
    }
    let mut reg = REGISTRY.lock();
    if let Some(slot) = reg.get_mut(kq.fd as usize) {
        if slot
            .as_ref()
            .is_some_and(|a| std::ptr::eq(Arc::as_ptr(a), kq))
        {
            REGISTRY_CHANGES.fetch_add(1, Ordering::SeqCst);
            *slot = None;
        }
    }
    libc::EBADF
}

/// A kernel request of the changelist and what to do with its result.
#[derive(Clone, Copy)]
struct Entry {
    change: usize,
    key: (u32, u64),
    commit: Commit,
}

/// A descriptor's request: what [`Kq::commit_fd`] does with its result.
#[derive(Clone, Copy)]
struct FdCommit {
    fd: RawFd,
    new: FdState,
    op: FdOp,
    /// The change is an `EV_ADD`: done again as new if the descriptor was closed.
    add: bool,
    /// An `EV_ADD` sent as an upsert for a descriptor the table knew:
    /// its filter and the knote it makes on a new file. If the kernel
    /// created the kevent (`KEVENT_RET_CREATED`), or applied the
    /// request and it failed, the number was closed, and this knote
    /// is all that is left of the descriptor's.
    fresh: Option<(i16, Knote)>,
}

/// A direct READ or WRITE knote's request of the general path
/// ([`Kq::change_fd`]): what [`commit_direct`] does with its result.
#[derive(Clone, Copy)]
struct DirectCommit {
    /// The change.
    kev: Kevent,
    op: DirectOp,
    /// `ENOENT` is no error: an `EV_DELETE` of an `EV_ONESHOT` knote
    /// whose event waits in `pending` (see [`Kq::change`]).
    absent_ok: bool,
}

/// What a change of a direct knote asks of the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DirectOp {
    /// `EV_ADD`: an upsert (see [`Kq::direct_ukevent`]).
    Add,
    /// `EV_DELETE`.
    Remove,
    /// `EV_ENABLE`.
    Enable,
    /// `EV_DISABLE`.
    Disable,
    /// The ENABLE after the upsert of an `EV_ADD | EV_ENABLE` whose knote
    /// may be disabled ([`Note::enable_follows`]): the upsert's result is
    /// the change's.
    EnableAfterAdd,
    /// The REMOVE of a knote the table takes over (an `EV_ADD` with
    /// `NOTE_LOWAT`): what the library knew of it goes to
    /// [`State::moved`] if it was there.
    Move,
}

impl DirectOp {
    /// The request of a change's flags (`EV_DELETE` first, as FreeBSD
    /// applies it), or `None` for a change that makes none.
    #[inline(always)]
    fn of(f: u16) -> Option<DirectOp> {
        if f & EV_DELETE != 0 {
            Some(DirectOp::Remove)
        } else if f & EV_ADD != 0 {
            Some(DirectOp::Add)
        } else if f & EV_DISABLE != 0 {
            Some(DirectOp::Disable)
        } else if f & EV_ENABLE != 0 {
            Some(DirectOp::Enable)
        } else {
            None
        }
    }

    /// Its kernel command.
    #[inline(always)]
    fn cmd(self) -> u32 {
        match self {
            DirectOp::Add => sys::KEVENT_CTL_ADD,
            DirectOp::Remove | DirectOp::Move => sys::KEVENT_CTL_REMOVE,
            DirectOp::Enable | DirectOp::EnableAfterAdd => sys::KEVENT_CTL_ENABLE,
            DirectOp::Disable => sys::KEVENT_CTL_DISABLE,
        }
    }
}

#[derive(Clone, Copy)]
enum Commit {
    Fd(FdCommit),
    Direct(DirectCommit),
    Timer {
        id: usize,
        new: Option<Knote>,
    },
    User {
        id: usize,
        new: Option<User>,
        /// The `NOTE_TRIGGER` of an `EV_ADD` or `EV_ENABLE` whose first
        /// request succeeded: see [`commit_trigger`].
        trigger: bool,
    },
    Signal {
        id: usize,
        new: Option<Knote>,
    },
    Proc {
        id: usize,
        new: Option<Knote>,
        /// An `EV_ADD`: its errors as FreeBSD reports them.
        add: bool,
    },
    /// The REMOVE of the kevent of signal `id` whose report no knote took
    /// ([`Kq::fix_up`]): nothing in the table follows it. One the kernel
    /// did not apply (the call failed as a whole: `EINTR`, `ENOMEM`) is an
    /// orphan again, for the next call.
    Orphan {
        id: u64,
    },
}

/// A thread's changes travelling in its wait ([`Kq::submit_and_wait`]):
/// the kernel applies them, and writes each request's `KEVENT_RET_DONE`,
/// before that wait sleeps; the table gets their results when they are
/// settled, by that thread when its call returns or by any thread that
/// needs the table first ([`Kq::gate`]).
struct InFlight {
    /// The requests and what to do with their results, in the travelling
    /// thread's batch: it keeps them in place, and removes this record
    /// (under the table's lock) before it touches or drops them.
    reqs: *const sys::ukevent,
    entries: *const Entry,
    /// A direct call's record ([`Kq::kevent_direct`]; `entries` is null):
    /// the changes of the requests, in the travelling thread's list.
    changes: *const Kevent,
    n: usize,
    /// The record's identity (from `Kq::tickets`).
    ticket: u64,
    /// The results are in the table.
    settled: bool,
    /// What settling left for the travelling thread: the changes that
    /// failed (index, errno) and those to do again as new.
    errors: Vec<(usize, c_int)>,
    retry: Vec<usize>,
}

// SAFETY: the pointers are only read, under the table's lock, while the
// thread that owns what they point to keeps it alive (see the fields; a
// guard removes the record if that thread unwinds).
unsafe impl Send for InFlight {}

impl InFlight {
    /// Request `i`'s `ret_flags`, read atomically: the kernel may be
    /// writing them.
    fn flags(&self, i: usize) -> u32 {
        // SAFETY: `reqs` points to `n` requests that stay in place while
        // this record exists (see the field); a u32 at offset 20 of an
        // 8-aligned struct is aligned.
        unsafe {
            let p = std::ptr::addr_of!((*self.reqs.add(i)).ret_flags) as *mut u32;
            AtomicU32::from_ptr(p).load(Ordering::Acquire)
        }
    }

    /// Whether the kernel applied every request, and all of them
    /// succeeded: their results are known from the flags alone, so
    /// another thread can settle them. (A failed one's errno is written
    /// after its flags; the kernel returns at once after a failure, and
    /// the travelling thread settles it.)
    fn applied_ok(&self) -> bool {
        (0..self.n).all(|i| {
            self.flags(i) & (sys::KEVENT_RET_DONE | sys::KEVENT_RET_BROKEN) == sys::KEVENT_RET_DONE
        })
    }
}

/// The pending kernel requests, in runs of one command each, with
/// distinct keys (but for orphans' REMOVEs, under [`ORPHAN_KEY`], whose
/// real key a later run may have). Without `defer` there is one run, the current one;
/// with it, a change of command seals the current run and starts the
/// next, and the runs travel with the wait (`kevent_ctl_batch`es).
#[derive(Default)]
struct Batch {
    /// The command of the current run.
    cmd: u32,
    /// The sealed runs before it: their commands and where they end.
    runs: Vec<(u32, usize)>,
    /// Seal runs instead of flushing them (the call will wait).
    defer: bool,
    /// The runs as the wait call takes them; kept for its room.
    ctl: Vec<sys::kevent_ctl_batch>,
    reqs: Vec<sys::ukevent>,
    entries: Vec<Entry>,
    /// The entries' keys, for [`Kq::touch`]: a look-up per change instead
    /// of a scan of the batch (which made a changelist of n changes cost
    /// n²/2 key compares: 1,024 timer changes per `kevent()` in the
    /// benchmarks' timers workload). Built by the first look-up that
    /// needs it in a batch of [`SCAN_KEYS`] entries or more, and kept
    /// from then on; a smaller batch is scanned (no hashing per change,
    /// no set to clear per call).
    keys: KeySet,
    /// What the library knew of each direct knote before its request
    /// ([`Kq::kevent_direct`]), for [`settle_direct`].
    notes: Vec<Note>,
    /// A bit per key of the batch ([`key_bit`]): a change whose bit is
    /// clear is in no entry, without a scan or a look-up (nginx's EV_ADDs
    /// of new connections, 8 or more in one wait under load).
    key_bits: u64,
}

/// The batch size from which [`Batch::keys`] is used. Below it a change
/// scans the entries only if its [`key_bit`] is set: with 8 changes per
/// call the set cost about 65 instructions per change, and without the
/// bits a scan of 32 cost more than the set (`kqueue/bench/host-count`).
/// The set is built only when a look-up needs it, so that a batch whose
/// changes all have bits of their own never builds it (built at the
/// 32nd entry, it cost 32 changes about 3,000 instructions for nothing).
const SCAN_KEYS: usize = 32;

/// `key`'s bit in [`Batch::key_bits`]: one of 64, by a multiplicative
/// hash (descriptors are small consecutive numbers).
fn key_bit(key: (u32, u64)) -> u64 {
    let h = (key.1 ^ (u64::from(key.0) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    1 << (h >> 58)
}

/// The key of an orphan's REMOVE in the batch: no change's (no type has
/// this number), so [`Kq::touch`] never flushes for it.
const ORPHAN_KEY: (u32, u64) = (u32::MAX, u64::MAX);

impl Batch {
    /// Whether a request for `key` is pending.
    fn holds(&mut self, key: (u32, u64)) -> bool {
        if self.key_bits & key_bit(key) == 0 {
            false
        } else if self.entries.len() < SCAN_KEYS {
            self.entries.iter().any(|e| e.key == key)
        } else {
            if self.keys.is_empty() {
                self.keys.extend(self.entries.iter().map(|e| e.key));
            }
            self.keys.contains(&key)
        }
    }

    /// Notes the key of the entry just pushed.
    fn add_key(&mut self) {
        let key = self.entries.last().expect("just pushed").key;
        self.key_bits |= key_bit(key);
        if !self.keys.is_empty() {
            // Built by a look-up: kept whole.
            self.keys.insert(key);
        }
    }

    /// Forgets the keys; a set never built (no look-up needed it) is not
    /// cleared, which would write its whole control array.
    fn clear_keys(&mut self) {
        self.key_bits = 0;
        if !self.keys.is_empty() {
            self.keys.clear();
        }
    }

    /// Drops the pending requests, keeping the room.
    fn clear(&mut self) {
        self.runs.clear();
        self.ctl.clear();
        self.notes.clear();
        self.reqs.clear();
        self.entries.clear();
        self.clear_keys();
    }

    /// Where the current run starts.
    fn run_start(&self) -> usize {
        self.runs.last().map_or(0, |&(_, end)| end)
    }

    /// Run `k` of `0..=runs.len()`, the last being the current one: its
    /// command and where it ends.
    fn run(&self, k: usize) -> (u32, usize) {
        self.runs
            .get(k)
            .copied()
            .unwrap_or((self.cmd, self.reqs.len()))
    }
}

/// Whether [`Kq::change_one_fd`] can do `kev`, the only change of a
/// `kevent()` without an event list: a READ or WRITE change without
/// `EV_RECEIPT`, the table owes the kernel nothing (no fix-up, no
/// orphan, no request pending), holds no event a DELETE or DISABLE must
/// take back, and has not found the number closed (`gone`).
fn can_change_one_fd(st: &State, kev: &Kevent) -> bool {
    matches!(kev.filter, EVFILT_READ | EVFILT_WRITE)
        && kev.flags & EV_RECEIPT == 0
        && st.dirty.is_empty()
        && st.orphans.is_empty()
        && st.pending.is_empty()
        && !st.gone
        && !st.batch.as_ref().is_some_and(|b| !b.reqs.is_empty())
}

/// The descriptor a change of a descriptor's filter names; `EBADF` if
/// its ident is beyond an int (an ident is unsigned: never negative).
pub(crate) fn fd_ident(kev: &Kevent) -> Result<RawFd, c_int> {
    RawFd::try_from(kev.ident).map_err(|_| libc::EBADF)
}

/// Whether the wait must not block: a sticky user knote or a ready file
/// knote has an event already.
fn must_not_block(st: &mut State) -> bool {
    // (An empty map's iterator still costs about 10 instructions.)
    let mut sticky = !st.users.is_empty() && st.users.values().any(|u| u.sticky && u.note.enabled);
    // An enabled signal knote with a count held from while it was
    // disabled (Kq::add_held_signals()).
    sticky |= !st.signals.is_empty() && st.signals.values().any(|k| k.enabled && k.data > 0);
    if !st.files.is_empty() {
        sticky |= st.files.collect(None) > 0;
    }
    sticky
}

/// The queue's batch, taken out of the table for a call (a new one if
/// another call has it: a travelling one, or a huge one not kept).
fn take_batch(st: &mut State) -> Box<Batch> {
    st.batch.take().unwrap_or_default()
}

/// Gives the batch back to the table for its room, unless a huge
/// changelist grew it (`keep`: it holds requests that travel, and must
/// stay whatever its size).
fn keep_batch(st: &mut State, batch: Box<Batch>, keep: bool) {
    if keep || batch.reqs.capacity() <= 1024 {
        st.batch = Some(batch);
    }
}

/// Removes a travelling batch's record if its thread unwinds during the
/// wait (a panic caught at the C boundary), so that no record points into
/// freed memory; forgotten on the normal path.
struct Travelling<'a> {
    kq: &'a Kq,
    ticket: u64,
}

impl Drop for Travelling<'_> {
    fn drop(&mut self) {
        let mut st = self.kq.st.lock();
        st.inflight.retain(|f| f.ticket != self.ticket);
        self.kq.wake_settled(&st);
    }
}

/// A request's errno from its call's result and its `ret_flags`.
fn entry_errno<T>(r: &sys::Result<T>, req: &sys::ukevent) -> c_int {
    let done = req.ret_flags & sys::KEVENT_RET_DONE != 0;
    match r {
        // Applied before the call failed (a wait interrupted after its
        // changes): the entry's own result.
        Err(_) if done => entry_errno(&Ok(()), req),
        Err(sys::Error::Errno(libc::EBADF | libc::EINVAL)) => NOT_A_QUEUE,
        Err(sys::Error::Errno(err)) => *err,
        Err(_) => libc::EIO,
        Ok(_) if req.ret_flags & sys::KEVENT_RET_BROKEN != 0 => -(req.ret_data[1] as i32),
        Ok(_) if !done => libc::EIO,
        Ok(_) => 0,
    }
}

/// A set of kernel keys (type, id).
type KeySet = std::collections::HashSet<(u32, u64), std::hash::BuildHasherDefault<FastHash>>;

impl Kq {
    /// `kevent()` on this queue, found by [`lookup`] with the registry's
    /// count `seen`.
    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<u64>,
        seen: u64,
    ) -> Result<usize, c_int> {
        let mut st = self.gate(self.st.lock());
        if self.direct && self.fits_direct(&mut st, changes, events) {
            match (changes, events.is_empty()) {
                ([kev], true) => return self.change_one_direct(st, kev, seen),
                ([], false) => return self.wait_direct(st, events, timeout, seen),
                _ => {}
            }
            return self.kevent_direct(st, changes, events, timeout, seen);
        }
        match changes {
            [kev] if events.is_empty() && can_change_one_fd(&st, kev) => {
                self.change_one_fd(st, changes, seen)
            }
            _ => self.kevent_lists(st, changes, events, timeout, seen),
        }
    }

    /// A `kevent()` of one READ or WRITE change and no event list (each
    /// of lighttpd's changes is one), when the table has nothing else to
    /// send ([`can_change_one_fd`]): [`Kq::kevent_lists`]'s work and
    /// checks without its batch, its runs and its lists (but for an
    /// `EV_ADD` done again as new, which goes through the batch): about
    /// 1,000 instructions less per connection of
    /// lighttpd's pattern (`kqueue/bench/overhead.c kq-delete`, an ADD
    /// and a DELETE each a call of its own: 9814 -> 8794 under `-icount`).
    fn change_one_fd(
        &self,
        mut st: MutexGuard<'_, State>,
        changes: &[Kevent],
        seen: u64,
    ) -> Result<usize, c_int> {
        let kev = &changes[0];
        if self.direct
            && fd_ident(kev).is_ok_and(|fd| {
                self.goes_direct(&mut st, fd, kev) || st.direct.get(fd, kev.filter).exists()
            })
        {
            // A direct knote's change that Kq::kevent_direct() does not
            // take (one the table answers, or two requests), or one the
            // table takes over (Kq::change_fd()).
            return self.kevent_lists(st, changes, &mut [], None, seen);
        }
        let planned = fd_ident(kev).and_then(|fd| self.plan_fd(&mut st, fd, 0, kev));
        let (e, mut req) = match planned {
            Ok(Some(planned)) => planned,
            done => {
                // Answered from the table: the number must still be a
                // queue (see the `early` check of kevent_lists()).
                drop(st);
                self.still_a_queue()?;
                return done.map(|_| 0);
            }
        };
        let cmd = e_cmd(&e, &req);
        req.ret_flags = 0;
        let r = self.ctl(&mut st, cmd, std::slice::from_mut(&mut req));
        let mut retry = Vec::new();
        let err = entry_errno(&r, &req);
        let Commit::Fd(c) = e.commit else {
            unreachable!("plan_fd() plans a descriptor's request")
        };
        let mut results = [self.commit_fd(&mut st, 0, c, err, req.ret_flags, &mut retry)];
        if !retry.is_empty() {
            // An EV_ADD that found its number closed: done again as new.
            let mut batch = take_batch(&mut st);
            self.redo(&mut st, &mut batch, changes, &mut results, &mut retry);
            keep_batch(&mut st, batch, false);
        }
        if st.gone || results[0] == NOT_A_QUEUE {
            // (The batch is empty: a redo flushed it.)
            return Err(not_a_queue(self, libc::EBADF));
        }
        if !self.registered(seen) {
            // See kevent_lists().
            return Err(libc::EBADF);
        }
        match results[0] {
            0 => Ok(0),
            err => Err(err),
        }
    }

    /// Whether [`Kq::kevent_direct`] can do a call: its changes are all
    /// of direct knotes ([`Kq::goes_direct`]), each one request
    /// (`EV_ADD`, `EV_DELETE`, `EV_ENABLE` or `EV_DISABLE`, without
    /// `EV_RECEIPT`; not an `EV_ADD | EV_ENABLE` that must enable too,
    /// nor an `EV_ENABLE` or `EV_DISABLE` of a reported `EV_ONESHOT`
    /// knote, which the table answers), at most a kernel call's batch of
    /// them in runs a wait takes, and the table owes the kernel nothing,
    /// holds no event, and has nothing that forbids sleeping
    /// ([`must_not_block`]).
    #[inline(always)]
    fn fits_direct(&self, st: &mut State, changes: &[Kevent], events: &[Kevent]) -> bool {
        if changes.len() > self.max_batch as usize
            || (changes.is_empty() && events.is_empty())
            || !st.dirty.is_empty()
            || !st.orphans.is_empty()
            || !st.pending.is_empty()
            || st.gone
            || st.batch.as_ref().is_some_and(|b| !b.reqs.is_empty())
        {
            return false;
        }
        let mut runs = 0;
        let mut last = u32::MAX;
        for kev in changes {
            if !matches!(kev.filter, EVFILT_READ | EVFILT_WRITE) || kev.flags & EV_RECEIPT != 0 {
                return false;
            }
            let Ok(fd) = fd_ident(kev) else {
                return false;
            };
            let Some(op) = DirectOp::of(kev.flags) else {
                return false;
            };
            if !self.goes_direct(st, fd, kev) {
                return false;
            }
            let note = st.direct.get(fd, kev.filter);
            match op {
                DirectOp::Add if note.enable_follows(kev.flags) => return false,
                DirectOp::Enable | DirectOp::Disable if note.fired() => return false,
                _ => {}
            }
            if op.cmd() != last {
                runs += 1;
                last = op.cmd();
            }
        }
        if events.is_empty() {
            return true;
        }
        (changes.is_empty()
            || (runs <= self.max_changes && WAIT_TAKES_CHANGES.load(Ordering::Relaxed)))
            && !must_not_block(st)
    }

    /// A `kevent()` whose changes are all of direct knotes
    /// ([`crate::direct`], [`Kq::fits_direct`]): each change one kernel
    /// request, made with `kevent_ctl()`s or travelling in the wait, whose
    /// events are translated as any call's, and whose results update what
    /// the library keeps of the knotes ([`commit_direct`]) in the order of
    /// the changes, as the table's commits do: by this thread, or by
    /// another that needs the table first (see [`Kq::gate`]). No table of
    /// knotes, no plan. (The requests are in the queue's batch, for its
    /// room.)
    ///
    /// A wait whose every event was dropped (knotes deleted since the
    /// kernel reported them) waits again for its whole timeout: the
    /// clock is not read before a wait, to know what is left of it.
    ///
    /// Not inlined: its frame (the room for a wait's records) would add
    /// to that of [`Kq::kevent_lists`].
    #[inline(never)]
    fn kevent_direct<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<u64>,
        seen: u64,
    ) -> Result<usize, c_int> {
        let mut batch = take_batch(&mut st);
        for (i, kev) in changes.iter().enumerate() {
            let op = DirectOp::of(kev.flags).expect("fits_direct() checked");
            let note = st.direct.get(kev.ident as RawFd, kev.filter);
            batch.reqs.push(self.direct_ukevent(note, kev, op));
            match batch.ctl.last_mut() {
                Some(run) if run.cmd == op.cmd() => run.num += 1,
                _ => batch.ctl.push(sys::kevent_ctl_batch {
                    cmd: op.cmd(),
                    num: 1,
                    // An index until the requests are in place.
                    entries: i as u64,
                }),
            }
        }
        let (mut st, r) = self.direct_requests(st, &mut batch, changes, events, timeout, seen);
        batch.clear();
        keep_batch(&mut st, batch, false);
        match r {
            Ok(Some(k)) => Ok(k),
            Err(e) => Err(e),
            Ok(None) => self.kevent_lists(st, &[], events, timeout, seen),
        }
    }

    /// The kernel request of `op` on the direct knote of `kev`, which the
    /// library knows as `note`. An `EV_ADD` is an upsert that keeps an
    /// existing kevent (`KEVENT_REQ_KEEP`: FreeBSD keeps an existing
    /// knote's flags and enabled state), but for a reported `EV_ONESHOT`
    /// knote, whose kevent stays disabled: that knote is gone, and the
    /// upsert makes the new one of the change.
    #[inline(always)]
    fn direct_ukevent(&self, note: Note, kev: &Kevent, op: DirectOp) -> sys::ukevent {
        let (fd, filter, f) = (kev.ident as RawFd, kev.filter, kev.flags);
        let mut req = ukevent(direct::id(fd, filter), sys::KEVENT_POLL, 0, 0, 0, 0);
        if op == DirectOp::Add {
            req.event = direct::events(filter);
            req.req_flags = sys::KEVENT_REQ_FD_CLOSE | sys::KEVENT_REQ_UPDATE | direct::mode_req(f);
            if !note.fired() {
                req.req_flags |= sys::KEVENT_REQ_KEEP;
            }
            if self.amounts {
                req.req_flags |= sys::KEVENT_REQ_AMOUNTS;
            }
            if f & EV_DISABLE != 0 {
                req.req_flags |= sys::KEVENT_REQ_DISABLED;
            }
            req.user_data = kev.udata as u64;
        }
        req
    }

    /// [`Kq::kevent_direct`] of one change and no event list (each of
    /// lighttpd's changes is one): one request, one `kevent_ctl()`.
    #[inline(always)]
    fn change_one_direct(
        &self,
        mut st: MutexGuard<'_, State>,
        kev: &Kevent,
        seen: u64,
    ) -> Result<usize, c_int> {
        let op = DirectOp::of(kev.flags).expect("fits_direct() checked");
        let note = st.direct.get(kev.ident as RawFd, kev.filter);
        let mut req = self.direct_ukevent(note, kev, op);
        let r = self.ctl(&mut st, op.cmd(), std::slice::from_mut(&mut req));
        let err = entry_errno(&r, &req);
        let err = commit_direct(&mut st, kev, op, false, err, req.ret_flags);
        if st.gone || err == NOT_A_QUEUE {
            return Err(not_a_queue(self, libc::EBADF));
        }
        if !self.registered(seen) {
            // See kevent_lists().
            return Err(libc::EBADF);
        }
        match err {
            0 => Ok(0),
            err => Err(err),
        }
    }

    /// [`Kq::kevent_direct`] of no changes: a wait (each of nginx's calls
    /// without new connections).
    #[inline(never)]
    fn wait_direct<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        events: &mut [Kevent],
        timeout: Option<u64>,
        seen: u64,
    ) -> Result<usize, c_int> {
        let mut stack = [MaybeUninit::<sys::kevent_event>::uninit(); STACK_ROOM];
        let mut big = BigRoom(Vec::new());
        let room = self.room(&mut stack, &mut big, events.len());
        st.calls += 1;
        drop(st);
        let r = self.wait(room, timeout, None, &[]);
        let mut st = self.gate(self.st.lock());
        if !self.registered(seen) {
            return Err(libc::EBADF);
        }
        let got = r.map_err(|e| self.wait_errno(e))?;
        let k = self.collect(&mut st, got, events);
        if k > 0 || got.is_empty() || timeout == Some(0) {
            return Ok(k);
        }
        // Only events the library dropped: wait again (for the whole
        // timeout: see kevent_direct()).
        self.kevent_lists(st, &[], events, timeout, seen)
    }

    /// Commits the results of `reqs[from..to]` (the requests of
    /// `changes[from..to]`, `r` the result of their call) in order; each
    /// change's errno goes where the caller finds it (as in
    /// [`Kq::flush`]): its request's `ret_data[0]`. Returns whether one
    /// failed.
    fn commit_direct_run<T>(
        st: &mut State,
        changes: &[Kevent],
        reqs: &mut [sys::ukevent],
        r: &sys::Result<T>,
        from: usize,
        to: usize,
    ) -> bool {
        let mut failed = false;
        for i in from..to {
            let kev = &changes[i];
            let op = DirectOp::of(kev.flags).expect("fits_direct() checked");
            let err = entry_errno(r, &reqs[i]);
            let err = commit_direct(st, kev, op, false, err, reqs[i].ret_flags);
            reqs[i].ret_data[0] = err as u32;
            failed |= err != 0;
        }
        failed
    }

    /// The `kevent_ctl()`s of `reqs[from..]`, a call per run of one
    /// command, each committed; returns whether a change failed.
    fn ctl_direct_rest(
        &self,
        st: &mut State,
        changes: &[Kevent],
        reqs: &mut [sys::ukevent],
        mut from: usize,
    ) -> bool {
        let n = changes.len();
        let mut failed = false;
        while from < n && !st.gone {
            let cmd = DirectOp::of(changes[from].flags)
                .expect("fits_direct() checked")
                .cmd();
            let to = (from..n)
                .find(|&j| DirectOp::of(changes[j].flags).map(DirectOp::cmd) != Some(cmd))
                .unwrap_or(n);
            let r = self.ctl(st, cmd, &mut reqs[from..to]);
            failed |= Self::commit_direct_run(st, changes, reqs, &r, from, to);
            from = to;
        }
        failed
    }

    /// [`Kq::kevent_direct`] once its requests are made, in `batch`;
    /// `Ok(None)`: the caller waits (the general way).
    #[inline(always)]
    fn direct_requests<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        batch: &mut Batch,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<u64>,
        seen: u64,
    ) -> (MutexGuard<'a, State>, Result<Option<usize>, c_int>) {
        let n = changes.len();
        let reqs = &mut batch.reqs[..];
        if events.is_empty() {
            let failed = self.ctl_direct_rest(&mut st, changes, reqs, 0);
            let first = reqs
                .iter()
                .map(|q| q.ret_data[0] as c_int)
                .find(|&e| e != 0);
            if st.gone || first == Some(NOT_A_QUEUE) {
                return (st, Err(not_a_queue(self, libc::EBADF)));
            }
            if !self.registered(seen) {
                // See kevent_lists().
                return (st, Err(libc::EBADF));
            }
            return (
                st,
                if failed {
                    Err(first.unwrap_or(libc::EIO))
                } else {
                    Ok(Some(0))
                },
            );
        }
        let base = reqs.as_mut_ptr();
        for run in batch.ctl.iter_mut() {
            run.entries = base.wrapping_add(run.entries as usize) as u64;
        }
        let mut stack = [MaybeUninit::<sys::kevent_event>::uninit(); STACK_ROOM];
        let mut big = BigRoom(Vec::new());
        let room = self.room(&mut stack, &mut big, events.len());
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            // Others wait (Kq::gate) until the kernel has the requests,
            // and commit them if they need the table first.
            st.inflight.push(InFlight {
                reqs: base,
                entries: std::ptr::null(),
                changes: changes.as_ptr(),
                n,
                ticket,
                settled: false,
                errors: Vec::new(),
                retry: Vec::new(),
            });
        }
        let guard = Travelling { kq: self, ticket };
        st.calls += 1;
        drop(st);
        let r = self.wait(room, timeout, None, &batch.ctl);
        let mut st = self.st.lock();
        std::mem::forget(guard);
        let mut settled = false;
        if n > 0 {
            if let Some(at) = st.inflight.iter().position(|f| f.ticket == ticket) {
                settled = st.inflight.swap_remove(at).settled;
            }
            self.wake_settled(&st);
        }
        let unsupported = matches!(r, Err(sys::Error::Errno(libc::E2BIG)));
        if unsupported {
            WAIT_TAKES_CHANGES.store(false, Ordering::Relaxed);
        } else if matches!(r, Err(sys::Error::Errno(libc::EBADF | libc::EINVAL))) {
            st.gone = true;
        }
        // Whether the kernel returned without waiting (a request failed;
        // or it took none: E2BIG).
        let mut stopped = unsupported;
        let mut failed = false;
        if n > 0 && !settled {
            // The kernel stops at a failed request: the requests after it
            // are made now (all of them after E2BIG).
            let mut next = if unsupported { 0 } else { n };
            if r.is_ok() {
                next = reqs
                    .iter()
                    .position(|q| q.ret_flags & sys::KEVENT_RET_DONE == 0)
                    .unwrap_or(n);
            }
            stopped |= reqs[..next.min(n)]
                .iter()
                .any(|q| q.ret_flags & sys::KEVENT_RET_BROKEN != 0);
            failed |= Self::commit_direct_run(&mut st, changes, reqs, &r, 0, next.min(n));
            failed |= self.ctl_direct_rest(&mut st, changes, reqs, next);
        }
        // Others' changes that flew meanwhile: in the table before the
        // reports are translated.
        let mut st = self.gate(st);
        if !self.registered(seen) {
            return (st, Err(libc::EBADF));
        }
        let errno = |q: &sys::ukevent| q.ret_data[0] as c_int;
        if st.gone || (failed && reqs.iter().any(|q| errno(q) == NOT_A_QUEUE)) {
            return (st, Err(not_a_queue(self, libc::EBADF)));
        }
        if failed {
            // FreeBSD: the errors go to the event list, and the call
            // returns without waiting (the kernel did not wait either).
            // (No EV_RECEIPT here: fits_direct() refused it.)
            let r = report_changes(changes, reqs.iter().map(errno), events);
            return (st, r.map(Some));
        }
        if stopped {
            // A failure the library turned into a knote of its own (a
            // regular file's EPERM), or no changes taken: no wait yet.
            return (st, Ok(None));
        }
        let got = match r {
            Ok(got) => got,
            Err(e) => {
                let e = self.wait_errno(e);
                return (st, Err(e));
            }
        };
        let k = self.collect(&mut st, got, events);
        if k > 0 || got.is_empty() || timeout == Some(0) {
            return (st, Ok(Some(k)));
        }
        // Only events the library dropped: the caller waits again.
        (st, Ok(None))
    }

    /// [`Kq::kevent`] in general.
    #[inline]
    fn kevent_lists<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<u64>,
        seen: u64,
    ) -> Result<usize, c_int> {
        // Room for the kernel's records of a wait: on the stack for the
        // usual event lists, this thread's buffer for longer ones.
        let mut stack = [MaybeUninit::<sys::kevent_event>::uninit(); STACK_ROOM];
        let mut big = BigRoom(Vec::new());
        let room = self.room(&mut stack, &mut big, events.len());
        // Unchanged at the checks below unless this call made a kernel
        // call: the lock is held until then, or dropped only after this
        // call counted one (its wait).
        let calls = st.calls;
        // Change results: 0 or an errno, per change; on the stack for the
        // usual few changes (no allocation per call).
        let mut few = [0; 16];
        let mut many;
        let results: &mut [c_int] = if changes.len() <= few.len() {
            &mut few[..changes.len()]
        } else {
            many = vec![0; changes.len()];
            &mut many
        };
        // The changes may travel with the wait if the call is to wait:
        // room for events, none left over, no EV_RECEIPT (which returns
        // at once).
        let defer = !events.is_empty()
            && st.pending.is_empty()
            && self.max_changes > 0
            && WAIT_TAKES_CHANGES.load(Ordering::Relaxed)
            && changes.iter().all(|k| k.flags & EV_RECEIPT == 0);
        if !changes.is_empty() || !st.dirty.is_empty() || !st.orphans.is_empty() {
            self.apply(&mut st, changes, results, defer);
        }
        // (`contains()` sets up a chunked search even for no results.)
        if st.gone || (!results.is_empty() && results.contains(&NOT_A_QUEUE)) {
            if let Some(b) = &mut st.batch {
                b.clear();
            }
            return Err(not_a_queue(self, libc::EBADF));
        }
        let deadline = match timeout {
            Some(t) if t > 0 => Some(monotonic_ns().saturating_add(t)),
            _ => None,
        };
        if st.batch.as_ref().is_some_and(|b| !b.reqs.is_empty()) {
            let r;
            (st, r) =
                self.submit_and_wait(st, room, changes, results, events, timeout, deadline, seen);
            if let Some(n) = r? {
                return Ok(n);
            }
            if st.gone || results.contains(&NOT_A_QUEUE) {
                return Err(not_a_queue(self, libc::EBADF));
            }
        }
        if st.calls != calls && !self.registered(seen) {
            // Another thread closed the queue during this call and a
            // kqueue() took its number: the kernel calls after that went
            // to the new queue (they are made by number), where a
            // NOTE_TRIGGER following its EV_ADD found nothing (ENOENT,
            // fuzz/kqueue-fuzz.c with 4 threads). FreeBSD applies a call's
            // changes to the queue it looked up; that queue is gone here,
            // so the call fails as if the close had come first. (The new
            // queue's table is not touched.)
            return Err(libc::EBADF);
        }
        // A call answered from the table alone must still fail on a
        // number that is no queue any more (closed, maybe reused): one
        // kevent_ctl() of no entries, only when no other call was made.
        // Checked before the results are used: a change the library
        // refused itself (ENOENT, EINVAL) must not hide the EBADF.
        let early = events.is_empty()
            || !st.pending.is_empty()
            || changes
                .iter()
                .zip(results.iter())
                .any(|(k, &e)| e != 0 || k.flags & EV_RECEIPT != 0);
        if early && st.calls == calls {
            drop(st);
            self.still_a_queue()?;
            st = self.gate(self.st.lock());
        }
        // FreeBSD: errors (and EV_RECEIPT) go to the event list while it
        // has room, and then kevent() returns without waiting.
        let mut n = report_changes(changes, results.iter().copied(), events)?;
        if n > 0 || events.is_empty() {
            return Ok(n);
        }
        // Events that did not fit last time come first.
        if !st.pending.is_empty() {
            while n < events.len() {
                match st.pending.pop_front() {
                    Some(e) => {
                        events[n] = e;
                        n += 1;
                    }
                    None => break,
                }
            }
            return Ok(n);
        }
        loop {
            let sticky = must_not_block(&mut st);
            st.calls += 1;
            drop(st);
            let got = self
                .wait(room, if sticky { Some(0) } else { timeout }, deadline, &[])
                .map_err(|e| self.wait_errno(e))?;
            st = self.gate(self.st.lock());
            let n = self.collect(&mut st, got, events);
            if n > 0 || timeout == Some(0) || sticky {
                return Ok(n);
            }
            if deadline.is_some_and(|d| monotonic_ns() >= d) {
                return Ok(0);
            }
            // Only events the table dropped: bring the kernel up to date
            // and wait again.
            let mut none: [c_int; 0] = [];
            self.apply(&mut st, &[], &mut none, false);
        }
    }

    /// Settles every thread's travelling changes ([`Kq::submit_and_wait`])
    /// into the table before the table is used: a change computed from a
    /// table without them could reach the kernel after them and undo them
    /// (an ADD overtaken by the REMOVE it follows), and a report of a
    /// kevent they added would find no knote. The kernel applies them
    /// before the travelling thread's wait sleeps, so this waits (the
    /// table unlocked, yielding) for the kernel's work of one system call
    /// at most, never for another thread's wait; if that call returned
    /// without applying them (an error), their thread settles them.
    ///
    /// Every user of the table waits so, whatever keys it touches.
    #[inline]
    fn gate<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        if st.inflight.is_empty() {
            return st;
        }
        self.gate_wait(st)
    }

    /// [`Kq::gate`] when changes travel.
    #[cold]
    fn gate_wait<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let mut spins = 0u32;
        loop {
            let mut busy = false;
            let mut inflight = std::mem::take(&mut st.inflight);
            for f in inflight.iter_mut().filter(|f| !f.settled) {
                if f.applied_ok() {
                    self.settle(&mut st, f, |_| 0);
                } else {
                    busy = true;
                }
            }
            // Records pushed meanwhile: none (the lock is held).
            st.inflight = inflight;
            if !busy {
                return st;
            }
            // A few yields (the travelling thread is about to enter the
            // kernel), then short sleeps, so that a thread of higher
            // priority cannot starve it; woken early when it settles.
            spins += 1;
            if spins < 16 {
                drop(st);
                std::thread::yield_now();
                st = self.st.lock();
            } else {
                st.sleepers += 1;
                st = self
                    .settled
                    .wait_timeout(st, std::time::Duration::from_micros(200));
                st.sleepers -= 1;
            }
        }
    }

    /// Wakes the threads [`Kq::gate`] put to sleep, if any; with the
    /// table locked, so that none can be about to sleep unseen.
    fn wake_settled(&self, st: &State) {
        if st.sleepers > 0 {
            self.settled.notify_all();
        }
    }

    /// Commits the results of travelling changes into the table, as
    /// [`Kq::flush`] commits a `kevent_ctl()`'s; `errno(j)` is request
    /// `j`'s result.
    fn settle(&self, st: &mut State, f: &mut InFlight, errno: impl Fn(usize) -> c_int) {
        if f.entries.is_null() {
            // A direct call's record (Kq::kevent_direct): settled by
            // another thread only when every request succeeded.
            for j in 0..f.n {
                // SAFETY: `changes` points to `n` changes that stay in
                // place while the record exists (see the field).
                let kev = unsafe { &*f.changes.add(j) };
                let op = DirectOp::of(kev.flags).expect("fits_direct() checked");
                let err = commit_direct(st, kev, op, false, errno(j), f.flags(j));
                if err != 0 {
                    f.errors.push((j, err));
                }
            }
            f.settled = true;
            return;
        }
        for j in 0..f.n {
            // SAFETY: `entries` points to `n` entries that stay in place
            // while the record exists (see the field); nothing writes them.
            let e = unsafe { *f.entries.add(j) };
            let err = self.commit(st, e.change, e.commit, errno(j), f.flags(j), &mut f.retry);
            if err != 0 && e.change != usize::MAX {
                f.errors.push((e.change, err));
            }
        }
        f.settled = true;
    }

    /// The kernel events of the last wait, the sticky user knotes and the
    /// ready file knotes, into `events`; returns how many.
    fn collect(&self, st: &mut State, got: &[sys::kevent_event], events: &mut [Kevent]) -> usize {
        let n = self.translate(st, got, events);
        let n = self.add_sticky(st, events, n);
        let mut n = self.add_held_signals(st, events, n);
        if !st.files.is_empty() {
            let State { files, pending, .. } = st;
            let mut out = Out {
                buf: &mut events[n..],
                n: 0,
                pending,
            };
            files.collect(Some(&mut out));
            n += out.n;
        }
        n
    }

    /// The wait of a `kevent()` that carries the changelist's kernel
    /// requests (the queue's batch, kept by [`Kq::apply`]): one system
    /// call for the changes and the wait.
    ///
    /// The table is not locked during the wait, and the requests' results
    /// are known only once the kernel applied them: the batch is recorded
    /// in the table as travelling, and whoever needs the table first
    /// settles it ([`Kq::gate`]): another thread as soon as the kernel
    /// has applied the requests, or this one when its call returns. The
    /// kernel returns at once, without reporting, when a request fails,
    /// so its error comes back as FreeBSD returns it: in the event list,
    /// without a wait. A kernel before the changes (`E2BIG`) gets the runs
    /// as `kevent_ctl()` calls, now and after.
    ///
    /// Returns the number of events when the call is done, `None` when it
    /// goes on as a call without changes: a change failed (its errno is
    /// in `results`), or every event was dropped and the wait continues.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn submit_and_wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        room: &mut [MaybeUninit<sys::kevent_event>],
        changes: &[Kevent],
        results: &mut [c_int],
        events: &mut [Kevent],
        timeout: Option<u64>,
        deadline: Option<u64>,
        seen: u64,
    ) -> (MutexGuard<'a, State>, Result<Option<usize>, c_int>) {
        if must_not_block(&mut st) {
            // A wait that must not block, as the table stands before the
            // changes: they may change that (an EV_DISABLE of the knote
            // that made it so), so they are applied first, as before.
            let mut batch = take_batch(&mut st);
            let mut retry = Vec::new();
            self.flush(&mut st, &mut batch, results, &mut retry);
            self.redo(&mut st, &mut batch, changes, results, &mut retry);
            keep_batch(&mut st, batch, false);
            return (st, Ok(None));
        }
        let mut batch = take_batch(&mut st);
        // One pointer for the kernel and the other threads: the requests
        // are not touched through the vector until the record is gone.
        let reqs = batch.reqs.as_mut_ptr();
        batch.ctl.clear();
        let mut start = 0;
        for k in 0..=batch.runs.len() {
            let (cmd, end) = batch.run(k);
            if end > start {
                let mut c: sys::kevent_ctl_batch = unsafe_zeroed();
                c.cmd = cmd;
                c.num = (end - start) as u32;
                c.entries = reqs.wrapping_add(start) as u64;
                batch.ctl.push(c);
            }
            start = end;
        }
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        st.inflight.push(InFlight {
            reqs,
            entries: batch.entries.as_ptr(),
            changes: std::ptr::null(),
            n: batch.reqs.len(),
            ticket,
            settled: false,
            errors: Vec::new(),
            retry: Vec::new(),
        });
        // Declared after the batch, so dropped before it if the wait
        // unwinds: no record may point into freed memory.
        let guard = Travelling { kq: self, ticket };
        st.calls += 1;
        drop(st);
        let r = self.wait(room, timeout, deadline, &batch.ctl);
        let mut st = self.st.lock();
        std::mem::forget(guard);
        let at = st
            .inflight
            .iter()
            .position(|f| f.ticket == ticket)
            .expect("this call's record");
        let mut mine = st.inflight.swap_remove(at);
        let unsupported = matches!(r, Err(sys::Error::Errno(libc::E2BIG)));
        if unsupported {
            WAIT_TAKES_CHANGES.store(false, Ordering::Relaxed);
        } else if !mine.settled {
            let reqs = &batch.reqs;
            self.settle(&mut st, &mut mine, |j| entry_errno(&r, &reqs[j]));
        }
        self.wake_settled(&st);
        if matches!(r, Err(sys::Error::Errno(libc::EBADF | libc::EINVAL))) {
            st.gone = true;
        }
        let failed = batch.reqs.iter().any(|q| {
            q.ret_flags & sys::KEVENT_RET_BROKEN != 0 || q.ret_flags & sys::KEVENT_RET_DONE == 0
        });
        for &(i, err) in &mine.errors {
            results[i] = err;
        }
        let mut retry = std::mem::take(&mut mine.retry);
        batch.ctl.clear();
        if unsupported {
            // Applied now, one kevent_ctl() per run.
            self.flush(&mut st, &mut batch, results, &mut retry);
        }
        batch.clear();
        // Others' changes that flew since ours were applied, settled
        // before the retries and the reports are computed from the table.
        let mut st = self.gate(st);
        // A MODIFY that found the descriptor closed: done again as new.
        self.redo(&mut st, &mut batch, changes, results, &mut retry);
        keep_batch(&mut st, batch, false);
        if !self.registered(seen) {
            // Closed during the call, maybe another queue at its number.
            return (st, Err(libc::EBADF));
        }
        if failed || unsupported {
            return (st, Ok(None));
        }
        let got = match r {
            Ok(got) => got,
            Err(e) => return (st, Err(self.wait_errno(e))),
        };
        let n = self.collect(&mut st, got, events);
        if n > 0 || timeout == Some(0) || deadline.is_some_and(|d| monotonic_ns() >= d) {
            return (st, Ok(Some(n)));
        }
        // Only events the table dropped: bring the kernel up to date; the
        // caller waits again.
        let mut none: [c_int; 0] = [];
        self.apply(&mut st, &[], &mut none, false);
        (st, Ok(None))
    }

    /// `EBADF` unless the queue's number still names a kevent queue: the
    /// check of a call the table answered alone (one `kevent_ctl()` of
    /// no entries; called with the table unlocked).
    fn still_a_queue(&self) -> Result<(), c_int> {
        count_call();
        if is_queue_file(self.fd) {
            Ok(())
        } else {
            Err(not_a_queue(self, libc::EBADF))
        }
    }

    /// Whether the registry still has this queue at its number: not if
    /// the application closed it and `kqueue()` returned the number again
    /// (`create()` holds the registry from `kevent_create()` to its entry,
    /// so a kernel call that reached the new queue is followed by a look
    /// here that sees it), or a failed call found the number no queue.
    /// `seen`: the registry's count of changes when the call found this
    /// queue; if it is still that, nothing changed (no lock): `create()`
    /// bumps it before `kevent_create()`, so a call that reached a new
    /// queue at this number sees the bump.
    #[inline(always)]
    fn registered(&self, seen: u64) -> bool {
        if REGISTRY_CHANGES.load(Ordering::SeqCst) == seen {
            return true;
        }
        REGISTRY
            .lock()
            .get(self.fd as usize)
            .and_then(|s| s.as_ref())
            .is_some_and(|a| std::ptr::eq(Arc::as_ptr(a), self))
    }

    /// The errno of a failed wait.
    fn wait_errno(&self, e: sys::Error) -> c_int {
        match e {
            sys::Error::Errno(e) => not_a_queue(self, e),
            _ => libc::EIO,
        }
    }

    /// Room for the kernel's records of a wait for `wanted` events (at
    /// most a kernel call's batch): on the caller's stack for the usual
    /// event lists, this thread's buffer for longer ones.
    #[inline(always)]
    fn room<'r>(
        &self,
        stack: &'r mut [MaybeUninit<sys::kevent_event>; STACK_ROOM],
        big: &'r mut BigRoom,
        wanted: usize,
    ) -> &'r mut [MaybeUninit<sys::kevent_event>] {
        let wanted = wanted.min(self.max_batch as usize);
        if wanted <= STACK_ROOM {
            &mut stack[..wanted]
        } else {
            big.take(wanted)
        }
    }

    /// One `kevent_get_events()` into `room` (for as many records as it
    /// holds), applying `changes` first; returns the records the kernel
    /// wrote.
    fn wait<'r>(
        &self,
        room: &'r mut [MaybeUninit<sys::kevent_event>],
        timeout: Option<u64>,
        deadline: Option<u64>,
        changes: &[sys::kevent_ctl_batch],
    ) -> sys::Result<&'r [sys::kevent_event]> {
        // At most max_batch (a u32): kevent() sized the room so.
        let want = room.len() as u32;
        let mut args: sys::kevent_wait_args = unsafe_zeroed();
        if !changes.is_empty() {
            args.changes = changes.as_ptr() as u64;
            args.nr_changes = changes.len() as u32;
        }
        match (timeout, deadline) {
            (None, _) => args.timeout_ns = sys::KEVENT_TIMEOUT_INFINITE,
            (Some(0), _) => args.timeout_ns = 0,
            (Some(_), Some(d)) => {
                args.timeout_ns = d;
                args.clock = sys::KEVENT_CLOCK_MONOTONIC;
                args.flags = sys::KEVENT_WAIT_ABSTIME;
            }
            (Some(t), None) => args.timeout_ns = t,
        }
        // SAFETY: `room` has `want` writable records; `args` is a valid
        // kevent_wait_args of the size passed, without a signal mask; its
        // changes, if any, point to runs of valid requests the kernel
        // reads and writes back (the caller's batch, untouched until this
        // returns).
        count_call();
        let got = unsafe {
            sys::kevent_get_events(
                self.fd,
                room.as_mut_ptr().cast(),
                want,
                &args,
                sys::KEVENT_WAIT_ARGS_SIZE,
            )
        }?;
        // SAFETY: the kernel wrote the first `got` records (at most `want`:
        // kevent_sys checks the count).
        Ok(unsafe { std::slice::from_raw_parts(room.as_ptr().cast(), got as usize) })
    }

    /// The fix-ups [`Kq::apply`] owes before a call's changes: the
    /// descriptors whose kernel kevent must follow what the table did
    /// after reports (`dirty`), and the kevents of reports no knote took
    /// (`orphans`), removed.
    fn fix_up(
        &self,
        st: &mut State,
        batch: &mut Batch,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        for fd in std::mem::take(&mut st.dirty) {
            if let Some(s) = st.fds.get(&fd).copied() {
                if let Some(op) = s.op() {
                    let e = Entry {
                        change: usize::MAX,
                        key: (sys::KEVENT_POLL, fd as u64),
                        commit: Commit::Fd(FdCommit {
                            fd,
                            new: s,
                            op,
                            add: false,
                            fresh: None,
                        }),
                    };
                    self.push(st, batch, e, self.fd_req(fd, &op), results, retry);
                }
            }
        }
        let mut orphans = std::mem::take(&mut st.orphans);
        for (i, &(type_, id)) in orphans.iter().enumerate() {
            // Unless another thread registered it since, or it is here
            // twice (two threads' waits reported a level-triggered one).
            let known = match type_ {
                sys::KEVENT_POLL => match direct::of_id(id) {
                    Some((fd, filter)) => st.direct.get(fd, filter).exists(),
                    None if id >> 32 == 0 => st.fds.contains_key(&(id as RawFd)),
                    None => false,
                },
                sys::KEVENT_SIGNAL => st.signals.contains_key(&(id as usize)),
                sys::KEVENT_USER => st.users.contains_key(&(id as usize)),
                _ => st.timers.contains_key(&(id as usize)),
            };
            if known || orphans[..i].contains(&(type_, id)) {
                continue;
            }
            if type_ == sys::KEVENT_SIGNAL {
                // A signal's kevent (never ONESHOT, no descriptor) is
                // there until removed, so its REMOVE can travel with the
                // call's wait, as the changes do: one system call where a
                // re-added oneshot signal made two. (It fails only if
                // another thread's wait reported the kevent again before
                // an earlier REMOVE: the failed entry ends the wait at
                // once, and the call waits again, as it does for a
                // change that failed.) In the batch after the dirty
                // descriptors' fix-ups and before the changes, which the
                // kernel applies after it; under a key no change has, so
                // that a change of the same key (the signal added again)
                // does not flush it.
                let mut req = ukevent(id, type_, 0, 0, 0, 0);
                req.ret_flags = sys::KEVENT_CTL_REMOVE; // cleared by push()
                let e = Entry {
                    change: usize::MAX,
                    key: ORPHAN_KEY,
                    commit: Commit::Orphan { id },
                };
                self.push(st, batch, e, req, results, retry);
                continue;
            }
            // Others may be gone already (a descriptor's closed, a
            // oneshot one reported): a kevent_ctl() of their own.
            st.calls += 1;
            let r = ctl_one(
                self.fd,
                sys::KEVENT_CTL_REMOVE,
                ukevent(id, type_, 0, 0, 0, 0),
            );
            // This call made a kernel call, so it skips the check of a
            // call the table answered alone: the number being no queue
            // any more must be seen here, or a change refused by the
            // table (ENOENT) would fail the call instead of EBADF.
            if r == Err(NOT_A_QUEUE) {
                st.gone = true;
            }
        }
        // The vector's room back, for the next reports (unless a flush
        // in push() made orphans again meanwhile).
        orphans.clear();
        if st.orphans.is_empty() {
            st.orphans = orphans;
        }
    }

    /// Applies the changelist (and the kernel updates the table owes),
    /// batching kernel requests; `results[i]` gets change i's errno.
    ///
    /// With `defer`, the requests may stay in the queue's batch, in runs,
    /// for the wait to carry (see [`Kq::submit_and_wait`]): if every
    /// change went well so far and none needs another's result.
    fn apply(&self, st: &mut State, changes: &[Kevent], results: &mut [c_int], defer: bool) {
        // The queue's batch, empty between calls, keeps its room: no
        // allocation per kevent() once it has grown.
        let mut batch = take_batch(st);
        batch.defer = defer;
        let mut retry = Vec::new();
        // Usually neither is owed: no take (and drop) of empty vectors.
        if !st.dirty.is_empty() || !st.orphans.is_empty() {
            self.fix_up(st, &mut batch, results, &mut retry);
        }
        for (i, kev) in changes.iter().enumerate() {
            self.change(st, &mut batch, i, kev, results, &mut retry);
        }
        batch.defer = false;
        // (Only with no event waiting in the table: the call returns
        // with those, without waiting.)
        let keep = defer
            && !batch.reqs.is_empty()
            && retry.is_empty()
            && st.pending.is_empty()
            && results.iter().all(|&e| e == 0);
        if !keep {
            self.flush(st, &mut batch, results, &mut retry);
        }
        // A MODIFY that found the descriptor closed (and its kevent gone
        // with it): the table forgot it; an EV_ADD is done again as new.
        self.redo(st, &mut batch, changes, results, &mut retry);
        keep_batch(st, batch, keep);
    }

    /// The changes `retry` names (a MODIFY that found its descriptor
    /// closed: done again as new), until none is left.
    #[inline]
    fn redo(
        &self,
        st: &mut State,
        batch: &mut Batch,
        changes: &[Kevent],
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        if !retry.is_empty() {
            self.redo_all(st, batch, changes, results, retry);
        }
    }

    /// [`Kq::redo`]'s work, apart so that the usual call (nothing to do
    /// again) is one inline test: about 80 instructions less per
    /// connection than one function, inlined or not (`overhead.c`).
    #[cold]
    fn redo_all(
        &self,
        st: &mut State,
        batch: &mut Batch,
        changes: &[Kevent],
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        while !retry.is_empty() {
            for i in std::mem::take(retry) {
                self.change(st, batch, i, &changes[i], results, retry);
            }
            self.flush(st, batch, results, retry);
        }
    }

    fn push(
        &self,
        st: &mut State,
        batch: &mut Batch,
        e: Entry,
        req: sys::ukevent,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        let cmd = e_cmd(&e, &req);
        let mut req = req;
        req.ret_flags = 0;
        let run_len = batch.reqs.len() - batch.run_start();
        if batch.reqs.len() >= self.max_batch as usize {
            // A call takes at most max_batch entries, in all its runs.
            self.flush(st, batch, results, retry);
        } else if batch.cmd != cmd && run_len > 0 {
            if batch.defer && batch.runs.len() + 1 < self.max_changes as usize {
                batch.runs.push((batch.cmd, batch.reqs.len()));
            } else {
                self.flush(st, batch, results, retry);
            }
        }
        batch.cmd = cmd;
        batch.reqs.push(req);
        batch.entries.push(e);
        batch.add_key();
    }

    /// Flushes the batch if it holds a request for `key`, so that a change
    /// sees the table as the kernel left it.
    fn touch(
        &self,
        st: &mut State,
        batch: &mut Batch,
        key: (u32, u64),
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        if batch.holds(key) {
            self.flush(st, batch, results, retry);
        }
    }

    /// One `kevent_ctl()` of `reqs`, all of command `cmd`, counted; a
    /// refusal of the whole call (`EBADF`, `EINVAL`) marks the number no
    /// queue (`gone`).
    #[inline]
    fn ctl(&self, st: &mut State, cmd: u32, reqs: &mut [sys::ukevent]) -> sys::Result<u32> {
        count_call();
        st.calls += 1;
        // SAFETY: `reqs` holds valid entries the kernel reads and writes
        // back.
        let r = unsafe { sys::kevent_ctl(self.fd, cmd, reqs.len() as u32, reqs.as_mut_ptr()) };
        if matches!(r, Err(sys::Error::Errno(libc::EBADF | libc::EINVAL))) {
            st.gone = true;
        }
        r
    }

    fn flush(
        &self,
        st: &mut State,
        batch: &mut Batch,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        if batch.reqs.is_empty() {
            batch.runs.clear();
            return;
        }
        // One kevent_ctl() per run; the results are committed after the
        // last, in order (a run's keys are not in any other run, but for
        // an orphan's REMOVE, whose commit touches no knote).
        let nruns = batch.runs.len();
        let mut start = 0;
        for k in 0..=nruns {
            let (cmd, end) = batch.run(k);
            if end <= start {
                continue;
            }
            let reqs = &mut batch.reqs[start..end];
            let r = self.ctl(st, cmd, reqs);
            for req in reqs.iter_mut() {
                // The errno, kept where the commit below finds it (the
                // kernel writes 0 there).
                req.ret_data[0] = entry_errno(&r, req) as u32;
            }
            start = end;
        }
        batch.runs.clear();
        batch.clear_keys();
        // Drained, not taken: the vectors keep their room for the next run.
        for (e, req) in batch.entries.drain(..).zip(batch.reqs.drain(..)) {
            let err = self.commit(
                st,
                e.change,
                e.commit,
                req.ret_data[0] as c_int,
                req.ret_flags,
                retry,
            );
            if err != 0 && e.change != usize::MAX {
                results[e.change] = err;
            }
        }
    }

    /// Applies a request's result to the table; returns the change's errno.
    /// `ret_flags`: what the kernel wrote back (`KEVENT_RET_DONE` if it
    /// applied the request, `KEVENT_RET_CREATED`).
    fn commit(
        &self,
        st: &mut State,
        change: usize,
        c: Commit,
        err: c_int,
        ret_flags: u32,
        retry: &mut Vec<usize>,
    ) -> c_int {
        match c {
            Commit::Fd(c) => self.commit_fd(st, change, c, err, ret_flags, retry),
            Commit::Direct(c) => commit_direct(st, &c.kev, c.op, c.absent_ok, err, ret_flags),
            Commit::Timer { id, new } => {
                let created = ret_flags & sys::KEVENT_RET_CREATED != 0;
                commit_keyed(
                    &mut st.timers,
                    id,
                    new,
                    err,
                    created,
                    KernelOneshot::IfAsked,
                )
            }
            Commit::User { id, new, trigger } => {
                if trigger {
                    commit_trigger(&mut st.users, id, new, err)
                } else {
                    let created = ret_flags & sys::KEVENT_RET_CREATED != 0;
                    commit_keyed(&mut st.users, id, new, err, created, KernelOneshot::IfAsked)
                }
            }
            Commit::Signal { id, new } => {
                let created = ret_flags & sys::KEVENT_RET_CREATED != 0;
                commit_keyed(&mut st.signals, id, new, err, created, KernelOneshot::Never)
            }
            Commit::Orphan { id } => {
                if ret_flags & sys::KEVENT_RET_DONE == 0 {
                    st.orphans.push((sys::KEVENT_SIGNAL, id));
                }
                0
            }
            Commit::Proc { id, new, add } => {
                // Always ONESHOT in the kernel (proc_.rs).
                let created = ret_flags & sys::KEVENT_RET_CREATED != 0;
                let err = commit_keyed(&mut st.procs, id, new, err, created, KernelOneshot::Always);
                if add {
                    proc_::add_errno(err)
                } else {
                    err
                }
            }
        }
    }

    /// [`Kq::commit`] of a descriptor's request (inlined into the short
    /// path of one change, [`Kq::change_one_fd`]).
    #[inline(always)]
    fn commit_fd(
        &self,
        st: &mut State,
        change: usize,
        c: FdCommit,
        err: c_int,
        ret_flags: u32,
        retry: &mut Vec<usize>,
    ) -> c_int {
        let FdCommit {
            fd,
            mut new,
            op,
            add,
            fresh,
        } = c;
        let created = ret_flags & sys::KEVENT_RET_CREATED != 0;
        let applied = ret_flags & sys::KEVENT_RET_DONE != 0;
        if let Some((filter, knote)) = fresh.filter(|_| created || (applied && err != 0)) {
            // The number was closed, and maybe reused: the close
            // removed the kevent and the knotes (as on FreeBSD),
            // so the change's knote is the descriptor's only one.
            // (An upsert that failed found no kevent to update:
            // only an add fails.)
            forget_fd_events(st, fd);
            new = FdState::default();
            *new.slot(filter) = Some(knote);
            if err != 0 {
                st.fds.remove(&fd);
            }
        }
        if err == 0 {
            new.kernel = op.result();
            if new.is_empty() && new.kernel.is_none() {
                st.fds.remove(&fd);
            } else {
                st.fds.insert(fd, new);
            }
            return 0;
        }
        if err == libc::EPERM && matches!(op, FdOp::Add(_)) && file::is_vnode(fd) {
            // A regular file or a directory: FreeBSD's vnode
            // READ/WRITE, kept by the library (file.rs).
            st.fds.remove(&fd);
            st.files.insert(fd, new.read, new.write);
            return 0;
        }
        if err == libc::ENOENT && !matches!(op, FdOp::Add(_)) {
            // The descriptor was closed: the kernel removed the
            // kevent (KEVENT_REQ_FD_CLOSE), so do the knotes.
            st.fds.remove(&fd);
            forget_fd_events(st, fd);
            if change == usize::MAX {
                return 0;
            }
            if add {
                retry.push(change);
                return 0;
            }
            return absent_errno(fd);
        }
        if change == usize::MAX && !matches!(op, FdOp::Add(_)) && !st.dirty.contains(&fd) {
            // A fix-up the call did not apply (ENOMEM, EINTR): the
            // kernel still reports what the table drops, so the
            // next call tries again. (A failed ADD left no kevent.)
            st.dirty.push(fd);
        }
        err
    }

    /// One change of the changelist.
    fn change(
        &self,
        st: &mut State,
        batch: &mut Batch,
        i: usize,
        kev: &Kevent,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) {
        // FreeBSD's kqueue_kevent() skips a change whose filter is 0
        // (`if (!kevp->filter) continue;`): no error, no receipt, so a
        // zeroed slot of a changelist is harmless.
        if kev.filter == 0 {
            return;
        }
        let f = kev.flags;
        let mut pending_oneshot = false;
        if f & (EV_DELETE | EV_DISABLE) != 0 && !st.pending.is_empty() {
            st.pending.retain(|e| {
                let same = e.filter == kev.filter && e.ident == kev.ident;
                pending_oneshot |= same && e.flags & EV_ONESHOT != 0;
                !same
            });
        }
        let r = match kev.filter {
            EVFILT_READ | EVFILT_WRITE => {
                self.change_fd(st, batch, i, kev, pending_oneshot, results, retry)
            }
            EVFILT_TIMER => self.change_timer(st, batch, i, kev, results, retry),
            EVFILT_USER => self.change_user(st, batch, i, kev, results, retry),
            EVFILT_SIGNAL | EVFILT_PROC => self.change_keyed(st, batch, i, kev, results, retry),
            EVFILT_VNODE => {
                // It does its own system calls, in changelist order.
                self.flush(st, batch, results, retry);
                let (before, refused) = (ctl_one_calls(), ctl_one_refused());
                let r = st.vnodes.change(self.fd, kev);
                st.calls += ctl_one_calls() - before;
                // A call made, so no check of the number afterwards: a
                // refusal it ignored (a stale watch's REMOVE) must count.
                if ctl_one_refused() != refused {
                    st.gone = true;
                }
                r
            }
            _ => Err(libc::EINVAL),
        };
        match r {
            // An EV_ONESHOT knote whose event waited in `pending` (the
            // caller's list was full) left the table with its report, but
            // on FreeBSD it is there until the event is collected: the
            // EV_DELETE deletes it (and the event).
            Err(libc::ENOENT) if pending_oneshot && f & EV_DELETE != 0 => {}
            Err(e) => results[i] = e,
            Ok(()) => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn change_fd(
        &self,
        st: &mut State,
        batch: &mut Batch,
        i: usize,
        kev: &Kevent,
        held_oneshot: bool,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) -> Result<(), c_int> {
        let fd = fd_ident(kev)?;
        let mut moved;
        let mut kev = kev;
        if self.direct {
            let key = (sys::KEVENT_POLL, direct::id(fd, kev.filter));
            if self.goes_direct(st, fd, kev) {
                self.touch(st, batch, key, results, retry);
                let note = st.direct.get(fd, kev.filter);
                let op = match DirectOp::of(kev.flags) {
                    Some(DirectOp::Enable | DirectOp::Disable) if note.fired() => {
                        // A reported EV_ONESHOT knote is gone.
                        return Err(absent_errno(fd));
                    }
                    Some(op) => op,
                    // FreeBSD finds the knote and does nothing.
                    None if note.exists() => return Ok(()),
                    None => return Err(absent_errno(fd)),
                };
                let then_enable = op == DirectOp::Add && note.enable_follows(kev.flags);
                let absent_ok = held_oneshot && op == DirectOp::Remove;
                let req = self.direct_ukevent(note, kev, op);
                self.push(
                    st,
                    batch,
                    direct_entry(i, kev, op, absent_ok),
                    req,
                    results,
                    retry,
                );
                if then_enable {
                    let op = DirectOp::EnableAfterAdd;
                    let req = self.direct_ukevent(note, kev, op);
                    self.push(
                        st,
                        batch,
                        direct_entry(i, kev, op, false),
                        req,
                        results,
                        retry,
                    );
                }
                return Ok(());
            }
            if st.direct.get(fd, kev.filter).exists() {
                // An EV_ADD with NOTE_LOWAT of a direct knote: the table
                // takes it over (the mark is the library's), with the
                // flags it was made with and disabled if it was (FreeBSD
                // keeps both), if its kevent was still there: the REMOVE
                // is made now, to know.
                self.touch(st, batch, key, results, retry);
                let op = DirectOp::Move;
                let req = self.direct_ukevent(Note::default(), kev, op);
                self.push(
                    st,
                    batch,
                    direct_entry(usize::MAX, kev, op, true),
                    req,
                    results,
                    retry,
                );
                self.flush(st, batch, results, retry);
                if let Some(note) = st.moved.take() {
                    moved = *kev;
                    moved.flags = (kev.flags & !translate::KEPT_FLAGS) | note.kept();
                    if note.maybe_off() && note.kept() & EV_DISPATCH == 0 {
                        // Disabled for sure (a DISPATCH knote may be
                        // either: enabled, as the change leaves it).
                        moved.flags |= EV_DISABLE;
                    }
                    kev = &moved;
                }
            }
        }
        self.touch(st, batch, (sys::KEVENT_POLL, fd as u64), results, retry);
        if let Some((e, req)) = self.plan_fd(st, fd, i, kev)? {
            self.push(st, batch, e, req, results, retry);
        }
        Ok(())
    }

    /// Whether a READ or WRITE change of `fd` goes to a direct knote
    /// ([`crate::direct`]): unless the table has the knote (one with
    /// `NOTE_LOWAT`, or on a regular file) or the change is an `EV_ADD`
    /// with `NOTE_LOWAT` (a mark the library keeps: [`lowat_mark`]).
    #[inline(always)]
    fn goes_direct(&self, st: &mut State, fd: RawFd, kev: &Kevent) -> bool {
        if fd as usize >= direct::MAX_FD {
            return false;
        }
        if kev.filter == EVFILT_READ
            && kev.fflags & NOTE_LOWAT != 0
            && kev.flags & (EV_ADD | EV_DELETE) == EV_ADD
        {
            return false;
        }
        if !st.files.is_empty() && st.files.owns(fd) {
            return false;
        }
        match st.fds.get(&fd) {
            Some(s) if kev.filter == EVFILT_READ => s.read.is_none(),
            Some(s) => s.write.is_none(),
            None => true,
        }
    }

    /// A READ or WRITE change of descriptor `fd` (change `i`), on a table
    /// with no request pending for it: done in the table if the kernel
    /// need not hear of it, else the kernel request to make and what to
    /// do with its result.
    #[inline(always)]
    fn plan_fd(
        &self,
        st: &mut State,
        fd: RawFd,
        i: usize,
        kev: &Kevent,
    ) -> Result<Option<(Entry, sys::ukevent)>, c_int> {
        if !st.files.is_empty() && st.files.owns(fd) {
            return st.files.change(fd, kev).map(|()| None);
        }
        let mut new = st.fds.get(&fd).copied().unwrap_or_default();
        let slot = new.slot(kev.filter);
        let f = kev.flags;
        if f & EV_DELETE != 0 {
            if slot.take().is_none() {
                return Err(absent_errno(fd));
            }
        } else if f & EV_ADD != 0 {
            match slot {
                None => *slot = Some(Knote::new(kev)),
                Some(k) => k.update(kev),
            }
            if kev.fflags & NOTE_LOWAT != 0 && kev.filter == EVFILT_READ {
                lowat_mark(fd, slot.as_mut().expect("just set"));
            }
        } else {
            let k = slot.as_mut().ok_or_else(|| absent_errno(fd))?;
            if f & EV_DISABLE != 0 {
                k.enabled = false;
            } else if f & EV_ENABLE != 0 {
                k.enabled = true;
            }
        }
        if kev.filter == EVFILT_READ {
            // A changed READ knote is looked at afresh (level-triggered).
            new.parked = false;
        }
        let desired = new.desired();
        let mut op = new.op_to(desired);
        let mut fresh = None;
        if f & EV_ADD != 0 && f & EV_DELETE == 0 && new.kernel.is_some() {
            // An EV_ADD on a descriptor the table knows asks the kernel
            // even if it changes nothing there: the number may have been
            // closed (which removed the kevent and, on FreeBSD, the
            // knotes) and reused. One upsert tells (KEVENT_RET_CREATED:
            // see commit()), if the kevent it makes is right either way:
            // when the change's knote alone needs the kevent the table's
            // knotes need (nginx's lone READ on every new connection).
            // Otherwise a MODIFY fails with ENOENT if the number was
            // closed, and the change is done again as new.
            let mut alone = FdState::default();
            let mut knote = Knote::new(kev);
            if kev.fflags & NOTE_LOWAT != 0 {
                // The mark lowat_mark() set (0 on a datagram socket).
                if let Some(k) = *new.slot(kev.filter) {
                    knote.data = k.data;
                }
            }
            *alone.slot(kev.filter) = Some(knote);
            if self.upsert && alone.desired() == desired {
                op = desired.map(FdOp::Add);
                fresh = alone.slot(kev.filter).take().map(|k| (kev.filter, k));
            } else if op.is_none() {
                op = new.kernel.map(FdOp::Modify);
            }
        }
        let Some(op) = op else {
            if new.is_empty() && new.kernel.is_none() {
                st.fds.remove(&fd);
            } else {
                st.fds.insert(fd, new);
            }
            return Ok(None);
        };
        let e = Entry {
            change: i,
            key: (sys::KEVENT_POLL, fd as u64),
            commit: Commit::Fd(FdCommit {
                fd,
                new,
                op,
                add: f & EV_ADD != 0,
                fresh,
            }),
        };
        Ok(Some((e, self.fd_req(fd, &op))))
    }

    fn change_timer(
        &self,
        st: &mut State,
        batch: &mut Batch,
        i: usize,
        kev: &Kevent,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) -> Result<(), c_int> {
        let id = kev.ident;
        let key = (sys::KEVENT_TIMER, id as u64);
        self.touch(st, batch, key, results, retry);
        let cur = st.timers.get(&id).copied();
        let f = kev.flags;
        let (req, new) = if f & EV_DELETE != 0 {
            cur.ok_or(libc::ENOENT)?;
            (ukevent(id as u64, sys::KEVENT_TIMER, 0, 0, 0, 0), None)
        } else if f & EV_ADD != 0 {
            // An existing timer keeps its mode (Knote::update()): the new
            // period applies to a single timer as single, to a periodic
            // one as periodic (FreeBSD's filt_timertouch() restarts it
            // with its kn_flags).
            let mut k = Knote::added_clear(cur, kev);
            let (period, start, tflags) = translate::timer_request(&Kevent {
                flags: k.flags,
                ..*kev
            })?;
            let mut req_flags = k.mode_req() & !sys::KEVENT_REQ_ET | sys::KEVENT_REQ_UPDATE;
            if !k.enabled {
                req_flags |= sys::KEVENT_REQ_DISABLED;
            }
            k.born = next_birth(st);
            let mut u = ukevent(
                id as u64,
                sys::KEVENT_TIMER,
                sys::KEVENT_TIMER_FIRED,
                req_flags,
                period,
                k.born,
            );
            u.__bindgen_anon_1.timer.start = start;
            u.__bindgen_anon_1.timer.flags = tflags;
            u.__bindgen_anon_1.timer.clock = if tflags != 0 {
                sys::KEVENT_CLOCK_REALTIME
            } else {
                sys::KEVENT_CLOCK_MONOTONIC
            };
            (u, Some(k))
        } else if f & (EV_ENABLE | EV_DISABLE) != 0 {
            let mut k = cur.ok_or(libc::ENOENT)?;
            k.enabled = f & EV_DISABLE == 0;
            (ukevent(id as u64, sys::KEVENT_TIMER, 0, 0, 0, 0), Some(k))
        } else {
            cur.ok_or(libc::ENOENT)?;
            return Ok(());
        };
        let mut req = req;
        req.ret_flags = keyed_cmd(f); // carried to push(); cleared there
        let e = Entry {
            change: i,
            key,
            commit: Commit::Timer { id, new },
        };
        self.push(st, batch, e, req, results, retry);
        Ok(())
    }

    /// An `EVFILT_SIGNAL` or `EVFILT_PROC` change: one kernel request of
    /// the kernel's signal or process source, batched as timers are.
    fn change_keyed(
        &self,
        st: &mut State,
        batch: &mut Batch,
        i: usize,
        kev: &Kevent,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) -> Result<(), c_int> {
        let signal = kev.filter == EVFILT_SIGNAL;
        let (type_, id) = if signal {
            (sys::KEVENT_SIGNAL, signal::signo(kev.ident)?)
        } else {
            (sys::KEVENT_PROC, proc_::pid(kev.ident)?)
        };
        let f = kev.flags;
        if !signal && f & EV_ADD != 0 && kev.fflags & proc_::NOTE_UNSUPPORTED != 0 {
            return Err(libc::EINVAL);
        }
        let key = (type_, id);
        self.touch(st, batch, key, results, retry);
        let map = if signal { &st.signals } else { &st.procs };
        let cur = map.get(&(id as usize)).copied();
        let bare = ukevent(id, type_, 0, 0, 0, 0);
        let (req, new) = if f & EV_DELETE != 0 {
            cur.ok_or(libc::ENOENT)?;
            (bare, None)
        } else if f & EV_ADD != 0 {
            // FreeBSD: an EV_ADD of an existing knote updates udata and
            // fflags; its mode flags stay, and so does a disabled state
            // unless EV_ENABLE comes with it.
            let mut k = match cur {
                Some(mut k) => {
                    k.udata = kev.udata as usize;
                    k.fflags = kev.fflags;
                    if !signal {
                        k.data = kev.data;
                    }
                    k
                }
                None => {
                    let mut k = Knote::new(kev);
                    if signal {
                        k.flags |= EV_CLEAR; // reported with it, as FreeBSD
                        k.data = 0; // the signals counted while disabled
                    }
                    k
                }
            };
            // (A signal knote enabled with a count held: reported by
            // this call's collection, Kq::add_held_signals().)
            if f & EV_DISABLE != 0 {
                k.enabled = false;
            } else if f & EV_ENABLE != 0 {
                k.enabled = true;
            }
            k.born = next_birth(st);
            let mut req = if signal {
                signal::add_request(id)
            } else {
                proc_::add_request(id, &k)
            };
            req.user_data = k.born;
            (req, Some(k))
        } else if f & (EV_ENABLE | EV_DISABLE) != 0 {
            let mut k = cur.ok_or(libc::ENOENT)?;
            k.enabled = f & EV_DISABLE == 0;
            if signal {
                // The kernel kevent stays enabled and counting (a disabled
                // kevent drops its events, a disabled knote counts): the
                // table holds what comes while disabled, and the call's
                // collection reports it once the knote is enabled
                // (Kq::add_held_signals()).
                st.signals.insert(id as usize, k);
                return Ok(());
            }
            (bare, Some(k))
        } else {
            cur.ok_or(libc::ENOENT)?;
            return Ok(());
        };
        let mut req = req;
        req.ret_flags = keyed_cmd(f); // carried to push(); cleared there
        let id = id as usize;
        let commit = if signal {
            Commit::Signal { id, new }
        } else {
            Commit::Proc {
                id,
                new,
                add: f & EV_ADD != 0,
            }
        };
        let e = Entry {
            change: i,
            key,
            commit,
        };
        self.push(st, batch, e, req, results, retry);
        Ok(())
    }

    fn change_user(
        &self,
        st: &mut State,
        batch: &mut Batch,
        i: usize,
        kev: &Kevent,
        results: &mut [c_int],
        retry: &mut Vec<usize>,
    ) -> Result<(), c_int> {
        let id = kev.ident;
        let key = (sys::KEVENT_USER, id as u64);
        self.touch(st, batch, key, results, retry);
        let cur = st.users.get(&id).copied();
        let f = kev.flags;
        let trigger = kev.fflags & NOTE_TRIGGER != 0;
        let new: Option<User>;
        let cmd;
        let mut req = ukevent(id as u64, sys::KEVENT_USER, 0, 0, 0, 0);
        if f & EV_DELETE != 0 {
            cur.ok_or(libc::ENOENT)?;
            cmd = sys::KEVENT_CTL_REMOVE;
            new = None;
        } else if f & EV_ADD != 0 {
            let mut u = match cur {
                Some(mut u) => {
                    u.note.udata = kev.udata as usize;
                    u.note.data = kev.data;
                    if f & EV_DISABLE != 0 {
                        u.note.enabled = false;
                    } else if f & EV_ENABLE != 0 {
                        u.note.enabled = true;
                    }
                    u
                }
                None => {
                    let mut n = Knote::new(kev);
                    n.fflags = 0;
                    User {
                        note: n,
                        sticky: false,
                        triggered: false,
                    }
                }
            };
            u.note.fflags = translate::user_fflags(u.note.fflags, kev.fflags);
            let mut req_flags = u.note.mode_req() & !sys::KEVENT_REQ_ET | sys::KEVENT_REQ_UPDATE;
            if !u.note.enabled {
                req_flags |= sys::KEVENT_REQ_DISABLED;
            }
            u.note.born = next_birth(st);
            req.user_data = u.note.born;
            req.event = sys::KEVENT_USER_TRIGGERED;
            req.req_flags = req_flags;
            cmd = sys::KEVENT_CTL_ADD;
            new = Some(u);
        } else if f & (EV_ENABLE | EV_DISABLE) != 0 {
            let mut u = cur.ok_or(libc::ENOENT)?;
            u.note.enabled = f & EV_DISABLE == 0;
            u.note.fflags = translate::user_fflags(u.note.fflags, kev.fflags);
            // Every change but EV_DELETE sets the data the knote reports,
            // as FreeBSD's filt_usertouch() sets kn_sdata.
            u.note.data = kev.data;
            cmd = if f & EV_DISABLE != 0 {
                sys::KEVENT_CTL_DISABLE
            } else {
                sys::KEVENT_CTL_ENABLE
            };
            new = Some(u);
        } else {
            let mut u = cur.ok_or(libc::ENOENT)?;
            u.note.fflags = translate::user_fflags(u.note.fflags, kev.fflags);
            u.note.data = kev.data;
            if !trigger {
                st.users.insert(id, u);
                return Ok(());
            }
            // The table takes the new fflags at the commit, as the trigger
            // lands: a READY that finds the oneshot kevent gone (a report
            // another thread's wait took) is the trigger of the knote that
            // report stands for (commit_trigger()), not a failed change
            // whose fflags that report would carry (helper-84's finding 5).
            cmd = sys::KEVENT_CTL_READY;
            req.event = sys::KEVENT_USER_TRIGGERED;
            u.triggered = true;
            new = Some(u);
            req.ret_flags = cmd;
            let e = Entry {
                change: i,
                key,
                commit: Commit::User {
                    id,
                    new,
                    trigger: true,
                },
            };
            self.push(st, batch, e, req, results, retry);
            return Ok(());
        }
        req.ret_flags = cmd;
        let e = Entry {
            change: i,
            key,
            commit: Commit::User {
                id,
                new,
                trigger: false,
            },
        };
        self.push(st, batch, e, req, results, retry);
        // A trigger the kernel dropped while the knote was disabled (or
        // that was pending at its EV_DISABLE) is reported once it is
        // enabled, as on FreeBSD: trigger the kevent again.
        let held = cur.is_some_and(|c| c.triggered && !c.note.enabled)
            && new.is_some_and(|u| u.note.enabled);
        if (trigger || held) && new.is_some() {
            // EV_ADD/EV_ENABLE with NOTE_TRIGGER, or a trigger held: then
            // trigger it.
            let new = new.map(|mut u| {
                u.triggered = true;
                u
            });
            self.flush(st, batch, results, retry);
            if results[i] == 0 {
                let mut req = ukevent(
                    id as u64,
                    sys::KEVENT_USER,
                    sys::KEVENT_USER_TRIGGERED,
                    0,
                    0,
                    0,
                );
                req.ret_flags = sys::KEVENT_CTL_READY;
                let e = Entry {
                    change: i,
                    key,
                    commit: Commit::User {
                        id,
                        new,
                        trigger: true,
                    },
                };
                self.push(st, batch, e, req, results, retry);
            }
        }
        Ok(())
    }

    /// Kernel events into kqueue events; returns how many are in `events`.
    fn translate(
        &self,
        st: &mut State,
        kevs: &[sys::kevent_event],
        events: &mut [Kevent],
    ) -> usize {
        let State {
            fds,
            direct: notes,
            moved: _,
            dirty,
            timers,
            users,
            signals,
            procs,
            vnodes,
            pending,
            orphans,
            batch: _,
            inflight: _,
            files: _,
            gone: _,
            sleepers: _,
            calls: _,
            births: _,
        } = st;
        let mut out = Out {
            buf: events,
            n: 0,
            pending,
        };
        for ev in kevs {
            match ev.type_ as u32 {
                // A direct knote's ([`crate::direct`]): its id has a tag.
                sys::KEVENT_POLL if ev.id >> 32 != 0 => {
                    let Some((fd, filter)) = direct::of_id(ev.id) else {
                        // A tag the library never uses (another table's
                        // change through this queue's number).
                        orphans.push((sys::KEVENT_POLL, ev.id));
                        continue;
                    };
                    let note = notes.get(fd, filter);
                    if note.fired() {
                        // A reported EV_ONESHOT knote's, disabled: a
                        // report from before, taken by another wait.
                        continue;
                    }
                    if !note.exists() {
                        // Deleted since the kernel reported it (the
                        // REMOVE took the kevent), or made through this
                        // queue's number by another table (a kqueue
                        // closed, its number dup2()ed): dropped, and
                        // removed by the next call, as the table's
                        // orphans are (a level-triggered one would end
                        // every wait).
                        orphans.push((sys::KEVENT_POLL, ev.id));
                        continue;
                    }
                    let eof_bits = if filter == EVFILT_READ {
                        (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32
                    } else {
                        (libc::EPOLLHUP | libc::EPOLLERR) as u32
                    };
                    let mut flags = note.kept();
                    let mut fflags = 0;
                    if ev.events & eof_bits != 0 {
                        flags |= EV_EOF;
                        if ev.flags & sys::KEVENT_EV_ERROR as u16 != 0 {
                            fflags = ev.data as u32;
                        }
                    }
                    let data = fd_data(fd, filter, ev.events, 0, self.amounts_of(ev));
                    if flags & EV_ONESHOT != 0 {
                        // Gone, as FreeBSD's; its kevent stays, disabled
                        // (direct::mode_req()).
                        notes.set(fd, filter, Note::reported_oneshot());
                    }
                    out.push(Kevent::new(
                        fd as usize,
                        filter,
                        flags,
                        fflags,
                        data,
                        ev.user_data as usize,
                    ));
                }
                sys::KEVENT_POLL if ev.user_data & 0xff == TAG_FD => {
                    let fd = ev.id as RawFd;
                    // Three arms, not two: the two-arm form of the same
                    // test cost 7 instructions more per event (overhead.c
                    // kq-wait, session 49).
                    let s = match fds.get_mut(&fd) {
                        // No knote: the disabled kevent a reported lone
                        // EV_ONESHOT knote left (Knote::fd_mode_req()).
                        // Enabled again, it reports only if a request
                        // enabled it before this report's predecessor was
                        // translated (another thread's EV_ADD between a
                        // wait's kernel call and its translation: that
                        // report stands for the EV_ADD's, as if the
                        // EV_ADD had come first), or came from elsewhere:
                        // removed, as a kevent of no descriptor is.
                        Some(s) if s.is_empty() => {
                            fds.remove(&fd);
                            orphans.push((sys::KEVENT_POLL, ev.id));
                            continue;
                        }
                        Some(s) => s,
                        None => {
                            orphans.push((sys::KEVENT_POLL, ev.id));
                            continue;
                        }
                    };
                    // Whether the table changed: only then can the kernel
                    // need a request (the table and the kernel agree
                    // between calls but for the descriptors in `dirty`).
                    let mut changed = s.kernel_reported();
                    let fired = s.fired(ev.events);
                    let err = if ev.flags & sys::KEVENT_EV_ERROR as u16 != 0 {
                        ev.data as u32
                    } else {
                        0
                    };
                    let amounts = self.amounts_of(ev);
                    // Each filter in its own inlined call, READ first: a
                    // loop over an array of the two cost about 65
                    // instructions more per event (overhead.c kq-wait).
                    let (mut reported, mut below) = (false, false);
                    if fired.read {
                        match report_fd(
                            s,
                            &mut out,
                            fd,
                            EVFILT_READ,
                            fired.read_eof,
                            err,
                            ev.events,
                            amounts,
                        ) {
                            Some(c) => (changed, reported) = (changed | c, true),
                            None => below = true,
                        }
                    }
                    if fired.write {
                        if let Some(c) = report_fd(
                            s,
                            &mut out,
                            fd,
                            EVFILT_WRITE,
                            fired.write_eof,
                            err,
                            ev.events,
                            amounts,
                        ) {
                            (changed, reported) = (changed | c, true);
                        }
                    }
                    if reported {
                        // The call returns with it: level-triggered again.
                        changed |= std::mem::take(&mut s.parked);
                    } else if below {
                        // A READ below its NOTE_LOWAT mark, and nothing
                        // else: park the kevent (edge-triggered) until
                        // more data comes, or this report would come
                        // back at every wait (FdState::parked).
                        changed |= !std::mem::replace(&mut s.parked, true);
                    } else if !fired.read && !fired.write {
                        changed |= s.resync_if_level();
                    }
                    if s.is_empty() && s.kernel.is_none() {
                        fds.remove(&fd);
                    } else if changed && !s.lingers() && s.op().is_some() {
                        dirty.push(fd);
                    }
                }
                sys::KEVENT_INODE => vnodes.report(self.fd, ev, &mut out),
                t @ (sys::KEVENT_TIMER | sys::KEVENT_SIGNAL) => {
                    let (map, filter) = if t == sys::KEVENT_TIMER {
                        (&mut *timers, EVFILT_TIMER)
                    } else {
                        (&mut *signals, EVFILT_SIGNAL)
                    };
                    if report_count(map, filter, ev, &mut out) {
                        orphans.push((t, ev.id));
                    }
                }
                sys::KEVENT_PROC => {
                    // Oneshot in the kernel: its kevent went with the report.
                    let id = ev.id as usize;
                    match procs.get(&id) {
                        // (One born before: gone with its own report.)
                        Some(k) if k.enabled && born_of(k, ev) => {
                            if let Some(e) = proc_::exit_event(id, k, ev) {
                                out.push(e);
                            }
                            procs.remove(&id);
                        }
                        _ => {}
                    }
                }
                sys::KEVENT_USER => {
                    let id = ev.id as usize;
                    let Some(u) = users.get_mut(&id) else {
                        // A kevent no knote has (another table's change
                        // through this queue's number): removed, or it
                        // stayed until the queue closed.
                        orphans.push((sys::KEVENT_USER, ev.id));
                        continue;
                    };
                    if !u.note.enabled || !born_of(&u.note, ev) {
                        continue;
                    }
                    report_user(id, u, &mut out);
                    if u.note.flags & EV_ONESHOT != 0 {
                        users.remove(&id);
                    }
                }
                _ => {}
            }
        }
        out.n
    }

    /// Enabled signal knotes that hold a count from while they were
    /// disabled, which no kernel event of this wait reported (a report
    /// takes the held count with its own: [`report_count`]): reported
    /// now, once, with their `EV_ONESHOT` (the knote dropped, its kevent
    /// removed by the next call) or `EV_DISPATCH` applied, as FreeBSD
    /// queues such a knote at `EV_ENABLE` and applies them when the event
    /// is collected. Until then the knote is there: another `EV_DISABLE`
    /// keeps the count, a signal adds to it, an `EV_ADD` updates udata.
    fn add_held_signals(&self, st: &mut State, events: &mut [Kevent], n: usize) -> usize {
        if st.signals.is_empty() {
            return n;
        }
        let State {
            signals,
            pending,
            orphans,
            ..
        } = st;
        let mut out = Out {
            buf: &mut events[n..],
            n: 0,
            pending,
        };
        signals.retain(|&sig, k| {
            if !k.enabled || k.data <= 0 {
                return true;
            }
            let count = std::mem::take(&mut k.data);
            if report_keyed(&mut out, sig, EVFILT_SIGNAL, k, count) {
                orphans.push((sys::KEVENT_SIGNAL, sig as u64));
                return false;
            }
            true
        });
        n + out.n
    }

    /// Triggered `EVFILT_USER` knotes without `EV_CLEAR` stay triggered.
    fn add_sticky(&self, st: &mut State, events: &mut [Kevent], mut n: usize) -> usize {
        if st.users.is_empty() {
            // (Most queues: an empty map's iterator is not free.)
            return n;
        }
        for (&id, u) in st.users.iter_mut() {
            if n >= events.len() {
                break;
            }
            if !u.sticky
                || !u.note.enabled
                || events[..n]
                    .iter()
                    .any(|e| e.filter == EVFILT_USER && e.ident == id)
            {
                continue;
            }
            let mut out = Out {
                buf: &mut events[n..n + 1],
                n: 0,
                pending: &mut st.pending,
            };
            report_user(id, u, &mut out);
            n += out.n;
        }
        n
    }

    /// The request of a descriptor's [`FdOp`]; ADD and MODIFY ask for a
    /// socket's amounts if the kernel gives them.
    /// A socket's amounts in a `KEVENT_POLL` report, where the kernel gave
    /// them: every READ and WRITE kevent asks for them ([`Kq::fd_req`],
    /// [`Kq::plan_direct`]) once the probe said the kernel has them.
    /// `KEVENT_EV_NODATA`: the amount to read is unknown (or the file is
    /// no socket: the send space is 0 then too).
    #[inline(always)]
    fn amounts_of(&self, ev: &sys::kevent_event) -> Amounts {
        Amounts {
            read: (self.amounts
                && ev.flags & (sys::KEVENT_EV_ERROR | sys::KEVENT_EV_NODATA) as u16 == 0)
                .then_some(ev.data as u32),
            write: (self.amounts
                && ev.flags & sys::KEVENT_EV_ERROR as u16 == 0
                && ev.data >> 32 != 0)
                .then_some((ev.data >> 32) as u32),
        }
    }

    fn fd_req(&self, fd: RawFd, op: &FdOp) -> sys::ukevent {
        let (events, amounts) = match op {
            FdOp::Add(k) | FdOp::Modify(k) if self.amounts => (k.events, sys::KEVENT_REQ_AMOUNTS),
            FdOp::Add(k) | FdOp::Modify(k) => (k.events, 0),
            FdOp::Remove => (0, 0),
        };
        ukevent(
            fd as u64,
            sys::KEVENT_POLL,
            events,
            op.req_flags() | amounts,
            0,
            TAG_FD,
        )
    }
}

/// FreeBSD's report of a changelist's results: each failed change, and
/// each with `EV_RECEIPT`, goes to the event list as `EV_ERROR` with its
/// errno in `data` while the list has room; a failure that finds no
/// room is the call's errno. `errnos`: each change's, in order. Returns
/// how many entries were written.
fn report_changes(
    changes: &[Kevent],
    errnos: impl Iterator<Item = c_int>,
    events: &mut [Kevent],
) -> Result<usize, c_int> {
    let mut n = 0;
    for (kev, err) in changes.iter().zip(errnos) {
        // A change of filter 0 was skipped (Kq::change): nothing to say.
        if kev.filter != 0 && (err != 0 || kev.flags & EV_RECEIPT != 0) {
            if n < events.len() {
                let mut e = *kev;
                e.flags = EV_ERROR;
                e.data = err.into();
                e.ext = [0; 4];
                events[n] = e;
                n += 1;
            } else if err != 0 {
                return Err(err);
            }
        }
    }
    Ok(n)
}

/// The batch entry of `op` for the change `kev` of a direct knote (change
/// number `change`); its request is [`Kq::direct_ukevent`]'s.
fn direct_entry(change: usize, kev: &Kevent, op: DirectOp, absent_ok: bool) -> Entry {
    Entry {
        change,
        key: (sys::KEVENT_POLL, direct::id(kev.ident as RawFd, kev.filter)),
        commit: Commit::Direct(DirectCommit {
            kev: *kev,
            op,
            absent_ok,
        }),
    }
}

/// Applies the result of a direct knote's request (`op`, for the change
/// `kev`) to what the library keeps of the knote ([`DirectNotes`]), in
/// the order of the changes; returns the change's errno.
#[inline]
fn commit_direct(
    st: &mut State,
    kev: &Kevent,
    op: DirectOp,
    absent_ok: bool,
    err: c_int,
    ret_flags: u32,
) -> c_int {
    let (fd, filter, f) = (kev.ident as RawFd, kev.filter, kev.flags);
    let note = st.direct.get(fd, filter);
    let absent = |fd| if absent_ok { 0 } else { absent_errno(fd) };
    match op {
        DirectOp::Add if err == 0 => {
            let new = if ret_flags & sys::KEVENT_RET_CREATED != 0 || !note.exists() {
                // New, or its descriptor was closed since (which removed
                // the old kevent), or it replaced a reported EV_ONESHOT
                // knote's: the change's flags.
                Note::made(f)
            } else {
                // Kept (KEVENT_REQ_KEEP), as FreeBSD keeps the knote:
                // enabled or not as it was, unless the change disables it.
                if f & EV_DISABLE != 0 {
                    note.switched(true)
                } else {
                    note
                }
            };
            st.direct.set(fd, filter, new);
            0
        }
        DirectOp::Add => {
            // A failed upsert leaves no kevent of the key.
            st.direct.set(fd, filter, Note::default());
            if err == libc::EPERM && file::is_vnode(fd) {
                // A regular file or a directory: FreeBSD's vnode
                // READ/WRITE, kept by the library (file.rs).
                let k = Some(Knote::new(kev));
                let (read, write) = if filter == EVFILT_READ {
                    (k, None)
                } else {
                    (None, k)
                };
                st.files.insert(fd, read, write);
                return 0;
            }
            if err == libc::EBADF {
                st.direct.forget(fd);
            }
            err
        }
        DirectOp::Move => {
            if err == 0 {
                st.moved = Some(note);
            }
            st.direct.set(fd, filter, Note::default());
            0
        }
        DirectOp::Remove if err == 0 => {
            st.direct.set(fd, filter, Note::default());
            // A reported EV_ONESHOT knote was gone already (its kevent
            // stayed, disabled): FreeBSD's ENOENT.
            if note.fired() {
                absent(fd)
            } else {
                0
            }
        }
        DirectOp::EnableAfterAdd => {
            if err == 0 && note.exists() {
                st.direct.set(fd, filter, note.switched(false));
            }
            0
        }
        DirectOp::Enable | DirectOp::Disable if err == 0 => {
            if note.exists() {
                st.direct
                    .set(fd, filter, note.switched(op == DirectOp::Disable));
            }
            0
        }
        _ if err == libc::ENOENT => {
            // Deleted, or its descriptor was closed (which removed the
            // kevent, KEVENT_REQ_FD_CLOSE).
            st.direct.set(fd, filter, Note::default());
            absent(fd)
        }
        _ => err,
    }
}

/// Reports the fired filter `filter` of descriptor `fd` and applies its
/// `EV_ONESHOT` or `EV_DISPATCH`; returns whether that may have changed
/// the state (see [`FdState::mark_reported`]), or `None` if a READ is
/// below its `NOTE_LOWAT` mark (not reported).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn report_fd(
    s: &mut FdState,
    out: &mut Out<'_>,
    fd: RawFd,
    filter: i16,
    eof: bool,
    err: u32,
    events: u32,
    amounts: Amounts,
) -> Option<bool> {
    let k = (*s.slot(filter)).expect("fired filters exist");
    let data = fd_data(fd, filter, events, k.fflags, amounts);
    // An error fires whatever the mark (FreeBSD's filt_soread).
    let error = events & libc::EPOLLERR as u32 != 0;
    if filter == EVFILT_READ && k.fflags & NOTE_LOWAT != 0 && data < k.data && !eof && !error {
        return None;
    }
    let mut flags = k.flags;
    let mut fflags = 0;
    if eof {
        flags |= EV_EOF;
        fflags = err;
    }
    out.push(Kevent::new(
        fd as usize,
        filter,
        flags,
        fflags,
        data,
        k.udata,
    ));
    Some(s.mark_reported(filter))
}

/// Reports a timer's or a signal's count (`data`) for the knote of the
/// kernel event's id; returns whether the kernel's kevent must be
/// removed: the table has no such knote, or the report ended a signal
/// knote's `EV_ONESHOT` (the library's: [`crate::signal::add_request`]).
/// A disabled signal knote keeps the count (in its `data`) for when it is
/// enabled ([`Kq::add_held_signals`]): its kernel kevent is never
/// disabled, as FreeBSD counts while disabled (a disabled timer's
/// expirations are dropped, as the kernel drops them).
fn report_count(
    map: &mut Map<usize, Knote>,
    filter: i16,
    ev: &sys::kevent_event,
    out: &mut Out<'_>,
) -> bool {
    let id = ev.id as usize;
    let Some(k) = map.get_mut(&id) else {
        return true;
    };
    if !born_of(k, ev) {
        // A report of a oneshot kevent gone before this knote's was made
        // (another thread's wait took it before an EV_ADD made the new
        // one): as on FreeBSD when the EV_ADD comes first, which restarts
        // a timer and resets what it had counted.
        return false;
    }
    if !k.enabled {
        if filter == EVFILT_SIGNAL {
            // Held for EV_ENABLE, EV_ONESHOT or not: FreeBSD reports a
            // disabled oneshot knote's count when it is enabled.
            k.data = k.data.saturating_add(ev.data as i64);
        }
        return false;
    }
    let mut data = ev.data as i64;
    if filter == EVFILT_SIGNAL {
        data = data.saturating_add(std::mem::take(&mut k.data));
    }
    if report_keyed(out, id, filter, k, data) {
        map.remove(&id);
        // A timer's oneshot kevent went with its report; a signal's
        // stays, counting, until removed.
        return filter == EVFILT_SIGNAL;
    }
    false
}

/// Reports timer or signal knote `k` of `id` with count `data`, and
/// applies its `EV_DISPATCH`; returns whether its `EV_ONESHOT` ended it
/// (the caller drops the knote). [`report_count`]'s and
/// [`Kq::add_held_signals`]'s report.
#[inline]
fn report_keyed(out: &mut Out<'_>, id: usize, filter: i16, k: &mut Knote, data: i64) -> bool {
    out.push(Kevent::new(id, filter, k.flags, 0, data, k.udata));
    if k.flags & EV_ONESHOT != 0 {
        return true;
    }
    if k.flags & EV_DISPATCH != 0 {
        k.enabled = false;
    }
    false
}

/// Reports a triggered user knote: `EV_CLEAR` resets its trigger, without
/// it it stays triggered; `EV_DISPATCH` disables it. Its fflags are a
/// word the changes operate on, reported as they stand and kept, as
/// FreeBSD's `kn_sfflags` (its `EV_CLEAR` resets `kn_fflags`, which the
/// report does not show).
fn report_user(id: usize, u: &mut User, out: &mut Out<'_>) {
    u.triggered = false;
    out.push(Kevent::new(
        id,
        EVFILT_USER,
        u.note.flags,
        u.note.fflags,
        u.note.data,
        u.note.udata,
    ));
    u.sticky = u.note.flags & EV_CLEAR == 0;
    if u.note.flags & EV_DISPATCH != 0 {
        u.note.enabled = false;
    }
}

/// The kernel command of a change of a knote kept by id (`EV_DELETE`
/// first, as FreeBSD applies it).
fn keyed_cmd(f: u16) -> u32 {
    if f & EV_DELETE != 0 {
        sys::KEVENT_CTL_REMOVE
    } else if f & EV_ADD != 0 {
        sys::KEVENT_CTL_ADD
    } else if f & EV_DISABLE != 0 {
        sys::KEVENT_CTL_DISABLE
    } else {
        sys::KEVENT_CTL_ENABLE
    }
}

/// This thread's errno.
pub fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn is_fd_filter(f: i16) -> bool {
    f == EVFILT_READ || f == EVFILT_WRITE
}

/// Drops the READ and WRITE events of `fd` the library still holds: the
/// descriptor was closed, and its knotes went with it.
fn forget_fd_events(st: &mut State, fd: RawFd) {
    // Usually nothing is held: no retain() of an empty queue.
    if !st.pending.is_empty() {
        st.pending
            .retain(|e| !is_fd_filter(e.filter) || e.ident != fd as usize);
    }
}

/// The command a batch entry carries (in `ret_flags` until it is sent).
fn e_cmd(e: &Entry, req: &sys::ukevent) -> u32 {
    match &e.commit {
        Commit::Fd(c) => c.op.cmd(),
        Commit::Direct(c) => c.op.cmd(),
        _ => req.ret_flags,
    }
}

/// The longest event list whose wait's records go on the stack of
/// `kevent()` (4 KiB): no thread-local look-up or allocation per call.
/// Not more: the frame of `kevent()` must stay well inside the smallest
/// thread stacks (glibc's `PTHREAD_STACK_MIN` is 16 KiB), though 512
/// (nginx's event lists) would save 65 instructions per such wait
/// (`overhead.c kq-wait-512`, 3430 against 3495 with the thread's
/// buffer, one boot, `-icount`).
const STACK_ROOM: usize = 128;

thread_local! {
    /// The room for the records of waits with longer event lists; taken
    /// by a call ([`BigRoom`]), given back when it returns.
    static BIG_ROOM: std::cell::Cell<Vec<MaybeUninit<sys::kevent_event>>> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's [`BIG_ROOM`] while a `kevent()` uses it.
struct BigRoom(Vec<MaybeUninit<sys::kevent_event>>);

impl BigRoom {
    /// Room for `n` records.
    fn take(&mut self, n: usize) -> &mut [MaybeUninit<sys::kevent_event>] {
        self.0 = BIG_ROOM.take();
        if self.0.len() < n {
            self.0.resize(n, MaybeUninit::uninit());
        }
        &mut self.0[..n]
    }
}

impl Drop for BigRoom {
    fn drop(&mut self) {
        if self.0.capacity() > 0 {
            BIG_ROOM.set(std::mem::take(&mut self.0));
        }
    }
}

/// Whether `kevent()` computes exact `data` for READ and WRITE with an
/// `ioctl()` per event (`KQUEUE_EXACT_DATA=1`); else only knotes with
/// `NOTE_LOWAT` do.
fn exact_data() -> bool {
    static EXACT: OnceLock<bool> = OnceLock::new();
    *EXACT.get_or_init(|| std::env::var_os("KQUEUE_EXACT_DATA").is_some_and(|v| v == "1"))
}

/// A socket's amounts in a report (`KEVENT_REQ_AMOUNTS`), each where
/// known.
#[derive(Clone, Copy)]
struct Amounts {
    /// The bytes to read (the next datagram's size), or on a listening
    /// socket the connections waiting.
    read: Option<u32>,
    /// The free send space.
    write: Option<u32>,
}

/// `data` of a READ or WRITE event. A socket's, as FreeBSD's, from the
/// kernel's report where it has it ([`Amounts`]). Else, without an
/// `ioctl()`: 1 when the filter's bit fired (at least one byte, or
/// room), 0 when only a hang-up or error did; READ with `EV_EOF` is exact
/// (`FIONREAD`, so that 0 tells the end). Exact (`FIONREAD`; `SO_SNDBUF`
/// minus `SIOCOUTQ` for sockets, the pipe's free room) with
/// `KQUEUE_EXACT_DATA=1` or `NOTE_LOWAT`.
fn fd_data(fd: RawFd, filter: i16, events: u32, fflags: u32, amounts: Amounts) -> i64 {
    let bit = if filter == EVFILT_READ {
        libc::EPOLLIN
    } else {
        libc::EPOLLOUT
    } as u32;
    if events & bit == 0 {
        return 0;
    }
    let known = if filter == EVFILT_READ {
        amounts.read
    } else {
        amounts.write
    };
    if let Some(v) = known {
        return v.into();
    }
    let eof = events & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0;
    if !exact_data() && fflags & NOTE_LOWAT == 0 && !(eof && filter == EVFILT_READ) {
        return 1;
    }
    let mut v: c_int = 0;
    count_call();
    if filter == EVFILT_READ {
        // SAFETY: FIONREAD writes one int.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut v) } == 0 {
            return v.into();
        }
        return 1;
    }
    let mut size: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one int into `size`; the ioctls one int.
    unsafe {
        if libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut size as *mut c_int).cast(),
            &mut len,
        ) == 0
        {
            count_call();
            if libc::ioctl(fd, libc::TIOCOUTQ, &mut v) == 0 {
                return (size - v).max(0).into();
            }
            return size.into();
        }
        count_call();
        let cap = libc::fcntl(fd, libc::F_GETPIPE_SZ);
        if cap > 0 && {
            count_call();
            libc::ioctl(fd, libc::FIONREAD, &mut v) == 0
        } {
            return (cap - v).max(0).into();
        }
    }
    1
}

/// A READ knote's `NOTE_LOWAT` mark, just set by an `EV_ADD`: kept by the
/// library, which filters reports by it ([`report_fd`], parking the
/// descriptor below it), as FreeBSD's `kn_sdata`; the socket's
/// `SO_RCVLOWAT` is left alone (set by the library, it went on silencing
/// the socket's other watchers, and its blocking reads, after the knote
/// went: helper-83's and helper-84's reviews). On a datagram socket the
/// mark is 0: the amount is the next datagram's size (Linux counts no
/// more), so a mark above it would never be reached while datagrams that
/// together pass it wait (helper-81's F7); a mark of 0 is never above it,
/// and `NOTE_LOWAT` still asks for the exact amount ([`fd_data`]).
#[cold]
#[inline(never)]
fn lowat_mark(fd: RawFd, k: &mut Knote) {
    if is_datagram_socket(fd) {
        k.data = 0;
    }
}

/// Whether `fd` is a socket whose amount to read is the next datagram's
/// or message's size: `SOCK_DGRAM` (UDP, unix datagram), `SOCK_RAW` (raw
/// IP, packet, netlink), SCTP's `SOCK_SEQPACKET` (a unix `SOCK_SEQPACKET`
/// counts the whole queue).
fn is_datagram_socket(fd: RawFd) -> bool {
    let int = |name: c_int| {
        let mut v: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes one int into `v`; on a non-socket it
        // fails.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&mut v as *mut c_int).cast(),
                &mut len,
            )
        };
        (r == 0).then_some(v)
    };
    // Not counted in kernel_calls(): a change's call, not the event path's.
    match int(libc::SO_TYPE) {
        Some(libc::SOCK_DGRAM | libc::SOCK_RAW) => true,
        Some(libc::SOCK_SEQPACKET) => int(libc::SO_PROTOCOL) == Some(libc::IPPROTO_SCTP),
        _ => false,
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (vDSO: no system call).
pub fn monotonic_ns() -> u64 {
    let mut ts: libc::timespec = unsafe_zeroed();
    // SAFETY: writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kev(filter: i16, flags: u16) -> Kevent {
        Kevent::new(5, filter, flags, 0, 0, 0)
    }

    #[test]
    fn a_change_of_filter_0_reports_nothing() {
        // FreeBSD skips it: no EV_ERROR entry even with EV_RECEIPT, and
        // the entries of the other changes keep their order.
        let changes = [
            kev(EVFILT_READ, EV_ADD | EV_RECEIPT),
            kev(0, EV_ADD | EV_RECEIPT),
            kev(EVFILT_WRITE, EV_DELETE),
        ];
        let mut events = [kev(0, 0); 3];
        let n = report_changes(&changes, [0, 0, libc::ENOENT].into_iter(), &mut events).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            (events[0].filter, events[0].flags, events[0].data),
            (EVFILT_READ, EV_ERROR, 0)
        );
        assert_eq!(events[1].filter, EVFILT_WRITE);
        assert_eq!(events[1].data, libc::ENOENT.into());
    }

    #[test]
    fn a_batch_holds_every_key_it_was_given_and_no_other() {
        // Through the bits alone, the scan (below SCAN_KEYS) and the set,
        // for descriptors' keys and others, and again after a clear.
        let mut batch = Batch::default();
        for round in 0..2u64 {
            let key = |i: u64| {
                if i % 3 == 0 {
                    (sys::KEVENT_TIMER, i + round)
                } else {
                    (sys::KEVENT_POLL, i + round)
                }
            };
            for n in 0..100 {
                for i in 0..200 {
                    assert_eq!(batch.holds(key(i)), i < n, "{n} entries, key {i}");
                }
                batch.entries.push(Entry {
                    change: n as usize,
                    key: key(n),
                    commit: Commit::Orphan { id: n },
                });
                batch.add_key();
            }
            batch.clear();
            assert_eq!(batch.key_bits, 0);
            assert!(batch.keys.is_empty());
            assert!(!batch.holds(key(0)));
        }
    }

    #[test]
    fn a_oneshot_knote_kept_by_id_stays_for_the_report_in_flight() {
        let knote = |flags| Knote::new(&Kevent::new(1, EVFILT_TIMER, EV_ADD | flags, 0, 1, 0));
        let mut map: Map<usize, Knote> = Map::default();
        map.insert(1, knote(EV_ONESHOT));
        map.insert(2, knote(0));
        // ENOENT: the kernel's ONESHOT kevent went with a report that
        // another thread translates next; the knote waits for it.
        assert_eq!(
            commit_keyed(
                &mut map,
                1,
                None,
                libc::ENOENT,
                false,
                KernelOneshot::IfAsked
            ),
            libc::ENOENT
        );
        assert!(map.contains_key(&1));
        // Any other knote's kevent gone: so is the knote; a process's
        // kevent is always oneshot.
        assert_eq!(
            commit_keyed(
                &mut map,
                2,
                None,
                libc::ENOENT,
                false,
                KernelOneshot::IfAsked
            ),
            libc::ENOENT
        );
        assert!(!map.contains_key(&2));
        map.insert(2, knote(0));
        commit_keyed(
            &mut map,
            2,
            None,
            libc::ENOENT,
            false,
            KernelOneshot::Always,
        );
        assert!(map.contains_key(&2));
        // A signal's never is: the library does its EV_ONESHOT.
        map.insert(3, knote(EV_ONESHOT));
        commit_keyed(&mut map, 3, None, libc::ENOENT, false, KernelOneshot::Never);
        assert!(!map.contains_key(&3));
        // Success: the table follows the request.
        assert_eq!(
            commit_keyed(&mut map, 1, None, 0, false, KernelOneshot::IfAsked),
            0
        );
        assert!(!map.contains_key(&1));
    }

    #[test]
    fn a_knote_kept_by_id_is_born_of_the_add_that_made_its_kevent() {
        let mut knote = Knote::new(&Kevent::new(1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 1, 0));
        knote.born = 3;
        let mut map: Map<usize, Knote> = Map::default();
        commit_keyed(&mut map, 1, Some(knote), 0, true, KernelOneshot::IfAsked);
        assert_eq!(map[&1].born, 3);
        // An EV_ADD that updated the kevent (not created): the birth stays.
        knote.born = 5;
        commit_keyed(&mut map, 1, Some(knote), 0, false, KernelOneshot::IfAsked);
        assert_eq!(map[&1].born, 3);
        // One that made a new kevent (the old one gone with a report that
        // another thread holds): that report is not this knote's.
        knote.born = 7;
        commit_keyed(&mut map, 1, Some(knote), 0, true, KernelOneshot::IfAsked);
        let mut ev: sys::kevent_event = unsafe_zeroed();
        ev.user_data = 5;
        assert!(!born_of(&map[&1], &ev));
        ev.user_data = 7;
        assert!(born_of(&map[&1], &ev));
    }

    /// The short path's conditions, each alone.
    #[test]
    fn can_change_one_fd_conditions() {
        let read = kev(EVFILT_READ, EV_ADD);
        let st = State::default();
        assert!(can_change_one_fd(&st, &read));
        assert!(can_change_one_fd(&st, &kev(EVFILT_WRITE, EV_DELETE)));
        assert!(!can_change_one_fd(&st, &kev(EVFILT_TIMER, EV_ADD)));
        assert!(!can_change_one_fd(&st, &kev(EVFILT_USER, EV_ADD)));
        assert!(!can_change_one_fd(
            &st,
            &kev(EVFILT_READ, EV_ADD | EV_RECEIPT)
        ));
        let blocked: [fn(&mut State); 5] = [
            |st| st.dirty.push(5),
            |st| st.orphans.push((sys::KEVENT_POLL, 5)),
            |st| st.pending.push_back(kev(EVFILT_READ, EV_ADD)),
            |st| st.gone = true,
            |st| {
                let mut b = Box::<Batch>::default();
                b.reqs.push(unsafe_zeroed());
                st.batch = Some(b);
            },
        ];
        for (i, block) in blocked.iter().enumerate() {
            let mut st = State::default();
            block(&mut st);
            assert!(!can_change_one_fd(&st, &read), "condition {i}");
        }
        // An empty batch kept for its room, or one another call has taken.
        let st = State {
            batch: Some(Box::default()),
            ..State::default()
        };
        assert!(can_change_one_fd(&st, &read));
    }
}
