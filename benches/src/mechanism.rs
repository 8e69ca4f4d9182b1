//! The mechanisms under comparison, one module each behind one trait, so
//! that another (a kqueue-compatible layer, say) plugs in as one more
//! implementation.

use std::io;
use std::os::fd::RawFd;

use kevent::{Events, Interest, PollFlags, Queue, Ring};

/// A readiness mechanism watching the read ends of a workload's sockets.
pub trait Mechanism {
    /// Its name in the report.
    fn name(&self) -> &'static str;
    /// Starts watching `fd` for input; `token` comes back with its events.
    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()>;
    /// Waits for at least one event; appends the tokens of ready fds.
    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()>;
    /// Whether it is edge-triggered (the workload must then drain fds).
    fn edge(&self) -> bool {
        false
    }
}

/// Both kevent mechanisms watch the same way: a level-triggered poll
/// kevent carrying the token.
fn watch_poll(queue: &Queue, fd: RawFd, token: usize) -> io::Result<()> {
    let interest = Interest::poll_raw(fd, PollFlags::IN).user_data(token as u64);
    queue.add(&[interest])?.check()
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// epoll, level- or edge-triggered.
pub struct Epoll {
    fd: RawFd,
    edge: bool,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(edge: bool) -> io::Result<Self> {
        // SAFETY: plain system call.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            fd,
            edge,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
        })
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: our descriptor.
        unsafe { libc::close(self.fd) };
    }
}

impl Mechanism for Epoll {
    fn name(&self) -> &'static str {
        if self.edge {
            "epoll-et"
        } else {
            "epoll"
        }
    }

    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | if self.edge { libc::EPOLLET } else { 0 }) as u32,
            u64: token as u64,
        };
        // SAFETY: `ev` lives across the call.
        cvt(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        // SAFETY: `events` has room for its length.
        let n = cvt(unsafe {
            libc::epoll_wait(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                -1,
            )
        })?;
        ready.extend(self.events[..n as usize].iter().map(|e| e.u64 as usize));
        Ok(())
    }

    fn edge(&self) -> bool {
        self.edge
    }
}

/// kevent through kevent_get_events(), level-triggered.
pub struct KeventGet {
    queue: Queue,
    events: Events,
}

impl KeventGet {
    pub fn new() -> io::Result<Self> {
        Ok(KeventGet {
            queue: Queue::new()?,
            events: Events::with_capacity(256),
        })
    }
}

impl Mechanism for KeventGet {
    fn name(&self) -> &'static str {
        "kevent"
    }

    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        watch_poll(&self.queue, fd, token)
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.queue.wait(&mut self.events, 1, None)?;
        ready.extend(self.events.iter().map(|e| e.user_data() as usize));
        Ok(())
    }
}

/// kevent through the ring: kevent_wait() and a drain without system calls.
pub struct KeventRing {
    // Declared first: dropped (detached) before the queue closes.
    ring: Ring<'static>,
    queue: &'static Queue,
}

impl KeventRing {
    pub fn new() -> io::Result<Self> {
        // The ring borrows its queue; a leaked queue per run is a few bytes
        // and one descriptor, closed when the benchmark process exits.
        let queue: &'static Queue = Box::leak(Box::new(Queue::new()?));
        Ok(KeventRing {
            ring: Ring::new(queue, 256)?,
            queue,
        })
    }
}

impl Mechanism for KeventRing {
    fn name(&self) -> &'static str {
        "kevent-ring"
    }

    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        watch_poll(self.queue, fd, token)
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.ring.wait(256, None)?;
        ready.extend(self.ring.drain().map(|e| e.user_data() as usize));
        Ok(())
    }
}

/// io_uring with one multishot poll request per fd: every wake-up of the
/// file posts a completion (edge-like, so the workload drains).
pub struct IoUringPoll {
    ring: io_uring::IoUring,
    /// The fd of every token, to re-arm a multishot poll that ended.
    fds: Vec<RawFd>,
}

impl IoUringPoll {
    pub fn new() -> io::Result<Self> {
        Ok(IoUringPoll {
            ring: io_uring::IoUring::builder().setup_cqsize(4096).build(256)?,
            fds: Vec::new(),
        })
    }
}

impl Mechanism for IoUringPoll {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn watch(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, -1);
        }
        self.fds[token] = fd;
        let sqe = io_uring::opcode::PollAdd::new(io_uring::types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(token as u64);
        // SAFETY: the request refers to no memory, only to `fd`, which the
        // workload keeps open while the ring lives.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            self.ring.submit()?;
        }
        Ok(())
    }

    fn wait(&mut self, ready: &mut Vec<usize>) -> io::Result<()> {
        self.ring.submit_and_wait(1)?;
        let mut ended = Vec::new();
        for cqe in self.ring.completion() {
            if cqe.result() < 0 {
                return Err(io::Error::from_raw_os_error(-cqe.result()));
            }
            let token = cqe.user_data() as usize;
            ready.push(token);
            // The kernel may end a multishot poll (it says so by leaving
            // out IORING_CQE_F_MORE): arm it again.
            if !io_uring::cqueue::more(cqe.flags()) {
                ended.push(token);
            }
        }
        for token in ended {
            self.watch(self.fds[token], token)?;
        }
        Ok(())
    }

    fn edge(&self) -> bool {
        true
    }
}
