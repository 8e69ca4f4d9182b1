//! Flags of queues, requests and events.

use bitflags::bitflags;
use kevent_sys as sys;

bitflags! {
    /// Flags of [`Queue::with_flags`](crate::Queue::with_flags): those of
    /// `kevent_create()`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct QueueFlags: u32 {
        /// Close the queue on `exec` (`O_CLOEXEC`). [`Queue::new`](crate::Queue::new)
        /// sets it.
        const CLOEXEC = sys::KEVENT_CLOEXEC;
        /// `O_NONBLOCK`: [`Queue::read_events`](crate::Queue::read_events)
        /// fails with [`WouldBlock`](std::io::ErrorKind::WouldBlock) instead
        /// of sleeping. It does not change the wait calls, which sleep as
        /// their timeout says (as `epoll_wait` does).
        const NONBLOCK = sys::KEVENT_NONBLOCK;
    }
}

bitflags! {
    /// Readiness bits of a [`Kevent::poll`](crate::Kevent::poll) kevent:
    /// the `EPOLL*` bits of `<sys/epoll.h>`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PollFlags: u32 {
        /// Readable.
        const IN = libc::EPOLLIN as u32;
        /// Urgent data readable.
        const PRI = libc::EPOLLPRI as u32;
        /// Writable.
        const OUT = libc::EPOLLOUT as u32;
        /// Error; always reported, even when not asked for.
        const ERR = libc::EPOLLERR as u32;
        /// Hang-up; always reported, even when not asked for.
        const HUP = libc::EPOLLHUP as u32;
        /// Normal data readable.
        const RDNORM = libc::EPOLLRDNORM as u32;
        /// Priority band data readable.
        const RDBAND = libc::EPOLLRDBAND as u32;
        /// Normal data writable.
        const WRNORM = libc::EPOLLWRNORM as u32;
        /// Priority band data writable.
        const WRBAND = libc::EPOLLWRBAND as u32;
        /// Message available (unused by Linux files).
        const MSG = libc::EPOLLMSG as u32;
        /// The peer shut down its writing half.
        const RDHUP = libc::EPOLLRDHUP as u32;
    }
}

bitflags! {
    /// How a kevent is handled: `ukevent.req_flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ReqFlags: u32 {
        /// Remove the kevent after its first reported event.
        const ONESHOT = sys::KEVENT_REQ_ONESHOT;
        /// Wake every waiting thread, not one.
        const WAKEUP_ALL = sys::KEVENT_REQ_WAKEUP_ALL;
        /// Edge-triggered (poll and socket kevents only; the default is
        /// level).
        const EDGE = sys::KEVENT_REQ_ET;
        /// Disable the kevent after each report; it stays registered and
        /// [`Queue::enable`](crate::Queue::enable) re-arms it without
        /// allocating (kqueue's `EV_DISPATCH`). Not with `ONESHOT`.
        const DISPATCH = sys::KEVENT_REQ_DISPATCH;
        /// Add or modify the kevent disabled: registered, but reporting
        /// nothing (events meanwhile are dropped) until
        /// [`Queue::enable`](crate::Queue::enable).
        const DISABLED = sys::KEVENT_REQ_DISABLED;
        /// Add only: if the kevent (kind and id) exists, modify it (and
        /// enable it unless `DISABLED`) instead of failing with `EEXIST`.
        const UPDATE = sys::KEVENT_REQ_UPDATE;
        /// Poll and socket kevents only: remove the kevent when this process closes
        /// that descriptor number (`close`, `dup2` over it, `exec` with
        /// close-on-exec, exit), as kqueue does. Without it the kevent lives
        /// until the last descriptor of the open file is closed, as in epoll.
        const FD_CLOSE = sys::KEVENT_REQ_FD_CLOSE;
        /// Poll kevents only: a report on a socket carries its amounts
        /// in [`Event::data`](crate::Event::data), laid out as a socket
        /// kevent's (bits 0-31 the bytes to read or connections waiting
        /// when `EPOLLIN` fired, bits 32-63 the free send space when
        /// `EPOLLOUT` did; [`EventFlags::NODATA`] where the amount to
        /// read is unknown or the file is no socket), as kqueue's READ
        /// and WRITE filters report them. Kernels without it refuse it
        /// (`EINVAL`); [`Features::supports_flags`](crate::Features::supports_flags) tells.
        const AMOUNTS = sys::KEVENT_REQ_AMOUNTS;
        /// With `UPDATE`, poll and socket kevents only: an existing kevent
        /// keeps its readiness bits, its flags and whether it is enabled
        /// (kqueue's `EV_ADD` of an existing knote); it takes the new
        /// user data, `DISABLED` disables it, and an enabled one is
        /// checked again, so that an edge-triggered kevent whose file is
        /// ready reports once more. A kevent it creates is the request's.
        /// Kernels without it refuse it (`EINVAL`);
        /// [`Features::supports_flags`](crate::Features::supports_flags) tells.
        const KEEP = sys::KEVENT_REQ_KEEP;
    }
}

bitflags! {
    /// Flags of a reported [`Event`](crate::Event): `kevent_event.flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct EventFlags: u16 {
        /// The other end is closed (`EPOLLHUP` or `EPOLLRDHUP` fired), a
        /// process kevent's process exited, an inode kevent's file was
        /// deleted or unmounted (its last report), or a socket kevent's
        /// peer sends no more (with RECV) or nothing more can be sent
        /// (with SEND).
        const EOF = sys::KEVENT_EV_EOF as u16;
        /// An error is pending (`EPOLLERR` fired); for a socket (poll or
        /// socket kevent), [`Event::data`](crate::Event::data) holds it.
        const ERROR = sys::KEVENT_EV_ERROR as u16;
        /// The source cannot tell [`Event::data`](crate::Event::data):
        /// a process reaped before its kevent was added (its exit status
        /// is gone, `data` is 0; [`Event::exit_status`](crate::Event::exit_status)
        /// is `None`) or whose status the adder may not learn (neither
        /// its parent nor allowed to ptrace-read it at the add, or it
        /// called `execve` since), or a socket whose protocol cannot tell the amount
        /// to read or accept ([`Event::recv_amount`](crate::Event::recv_amount)
        /// is `None`; [`Event::send_space`](crate::Event::send_space) is
        /// still given, as the kernel knows every socket's send space).
        const NODATA = sys::KEVENT_EV_NODATA as u16;
        /// `KEVENT_EV_MORE`: a network I/O receive that stays
        /// ([`Naio::recv_stay`](crate::Naio::recv_stay)) is not ended by
        /// this event: it waits, disabled, for its next run. (Not
        /// `MSG_MORE`, which is [`SendFlags::MORE`].)
        ///
        /// To decide what to do with a completion, use
        /// [`Completion::next_step`](crate::Completion::next_step) (or
        /// [`Completion::stays`](crate::Completion::stays)), not this
        /// flag: the flag is one event's, and the receive's last event
        /// (a cancel, or the close of its socket), recorded before the
        /// completion is taken, ends the request even though the
        /// completion's own event had the flag. The completion says
        /// what holds when it is taken.
        const RECV_STAYS = sys::KEVENT_EV_MORE as u16;
    }
}

bitflags! {
    /// Changes a [`Kevent::inode`](crate::Kevent::inode) kevent watches
    /// for and reports ([`Event::inode_events`](crate::Event::inode_events)):
    /// the `KEVENT_INODE_*` bits, inotify's without the names.
    ///
    /// `CREATE`, `REMOVE`, `MOVED_FROM` and `MOVED_TO` happen in a watched
    /// directory; `MODIFY` and `ATTRIB` to a watched file or to an entry of
    /// a watched directory; the rest to the watched file or directory
    /// itself. `DELETE_SELF` and `REVOKED` are reported whether asked for
    /// or not, with [`EventFlags::EOF`], and end the kevent.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct InodeEvents: u32 {
        /// An entry was created in the directory.
        const CREATE = sys::KEVENT_INODE_CREATE;
        /// An entry was removed from the directory (`unlink`, `rmdir`).
        const REMOVE = sys::KEVENT_INODE_REMOVE;
        /// An entry was renamed out of the directory (or within it).
        const MOVED_FROM = sys::KEVENT_INODE_MOVED_FROM;
        /// An entry was renamed into the directory (or within it).
        const MOVED_TO = sys::KEVENT_INODE_MOVED_TO;
        /// The file, or an entry of the directory, was written or truncated.
        const MODIFY = sys::KEVENT_INODE_MODIFY;
        /// The attributes of the file, or of an entry of the directory,
        /// changed (mode, owner, times, link count, extended attributes).
        const ATTRIB = sys::KEVENT_INODE_ATTRIB;
        /// The watched file or directory was renamed.
        const MOVE_SELF = sys::KEVENT_INODE_MOVE_SELF;
        /// The watched file or directory was deleted: its last report.
        const DELETE_SELF = sys::KEVENT_INODE_DELETE_SELF;
        /// Its file system was unmounted: its last report.
        const REVOKED = sys::KEVENT_INODE_REVOKED;
        /// The changes of a directory's entries: created, removed,
        /// renamed out and in.
        const ENTRIES = Self::CREATE.bits() | Self::REMOVE.bits()
            | Self::MOVED_FROM.bits() | Self::MOVED_TO.bits();
    }
}

bitflags! {
    /// Readiness a [`Kevent::socket`](crate::Kevent::socket) kevent
    /// watches for and reports ([`Event::socket_events`](crate::Event::socket_events)):
    /// the `KEVENT_SOCKET_*` bits. Level-triggered unless
    /// [`edge`](crate::Kevent::edge); the amounts come with the event
    /// ([`Event::recv_amount`](crate::Event::recv_amount),
    /// [`Event::send_space`](crate::Event::send_space)).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SocketEvents: u32 {
        /// Data to read (or, on a datagram socket, a datagram), or the
        /// peer shut down its sending side ([`EventFlags::EOF`]).
        const RECV = sys::KEVENT_SOCKET_RECV;
        /// A listening socket has connections waiting to be accepted.
        const ACCEPT = sys::KEVENT_SOCKET_ACCEPT;
        /// Data can be sent, or nothing more can be ([`EventFlags::EOF`]).
        const SEND = sys::KEVENT_SOCKET_SEND;
    }
}

bitflags! {
    /// `MSG_*` flags of a network I/O send ([`Naio::send`](crate::Naio::send)):
    /// those `KEVENT_NAIO_SEND` takes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SendFlags: u32 {
        /// More data follows (`MSG_MORE`): TCP may hold back a partial
        /// segment.
        const MORE = libc::MSG_MORE as u32;
        /// `MSG_NOSIGNAL`: accepted for symmetry with send(2), but implied:
        /// a network I/O send never raises `SIGPIPE`; a closed peer is an
        /// `EPIPE` completion.
        const NOSIGNAL = libc::MSG_NOSIGNAL as u32;
        /// End of record (`MSG_EOR`), for sockets that have records.
        const EOR = libc::MSG_EOR as u32;
        /// Zero-copy (`MSG_ZEROCOPY`), on TCP and UDP sockets only
        /// (`EOPNOTSUPP` on others): the network stack sends the buffer's
        /// pages instead of a copy, and the request completes only when
        /// every byte is queued *and* the stack has released the pages
        /// (TCP: when the peer acknowledged them), so the buffer comes
        /// back with the completion as always, and is then free to reuse.
        /// The pages count against `RLIMIT_MEMLOCK` until then (`ENOBUFS`
        /// beyond, without `CAP_IPC_LOCK`). Sends behind it on the same
        /// socket move their bytes once its bytes are queued (on a
        /// datagram socket, once it completed), and their completions
        /// come after its own. Worth it for large buffers
        /// (above about 10 KB), not for small messages. Kernels before it
        /// refuse the flag with `EINVAL`.
        const ZEROCOPY = libc::MSG_ZEROCOPY as u32;
    }
}

bitflags! {
    /// `MSG_*` flags of a network I/O receive ([`Naio::recv`](crate::Naio::recv)):
    /// those `KEVENT_NAIO_RECV` takes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RecvFlags: u32 {
        /// Complete only when the whole buffer is filled
        /// (`MSG_WAITALL`), or at end of file or an error.
        const WAITALL = libc::MSG_WAITALL as u32;
    }
}

bitflags! {
    /// `MSG_*` flags of a network I/O sendfile ([`Naio::sendfile`](crate::Naio::sendfile)):
    /// those `KEVENT_NAIO_SENDFILE` takes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SendfileFlags: u32 {
        /// More data follows (`MSG_MORE`, sendfile(2)'s `SPLICE_F_MORE`):
        /// TCP may hold back the last partial segment.
        const MORE = libc::MSG_MORE as u32;
    }
}
