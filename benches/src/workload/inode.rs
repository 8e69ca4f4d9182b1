//! File creations in a watched directory: kevent's KEVENT_INODE against
//! inotify in an epoll set, and the creations with no watch (the bound).
//! One thread creates `n` files and counts the reported creations, in
//! one of two orders, so that no count depends on scheduling:
//! `each`: every creation is waited for before the next (a wake-up per
//! creation: the notification path per event); `burst`: all `n` are
//! created, then the waiter collects them (what piles up in between).
//! kevent reports how many entries were created since the last report
//! (no names: a program would rescan the directory); inotify queues one
//! record with the name per creation, which the waiter reads.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kevent::{Events, InodeEvents, Kevent, Queue};

/// What one run measured.
pub struct InodeRun {
    /// From the first creation until the waiter has counted all.
    pub per_creation: Duration,
    /// The time in the creations alone (the notification's cost on the
    /// creating side included), per creation.
    pub creator_per_creation: Duration,
    /// Waits that returned (epoll_wait or kevent waits).
    pub wakeups: u64,
    /// The waiter's system calls: waits, and inotify's reads.
    pub syscalls: u64,
    /// Records delivered: kevent events, inotify events.
    pub reports: u64,
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A fresh directory under the temporary directory (a tmpfs in the VM),
/// removed with its files when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> io::Result<Self> {
        let tmpl = std::env::temp_dir().join("kevent-bench-inode.XXXXXX");
        let mut t = CString::new(tmpl.as_os_str().as_bytes())?.into_bytes_with_nul();
        // SAFETY: mkdtemp rewrites our NUL-terminated template in place.
        let p = unsafe { libc::mkdtemp(t.as_mut_ptr().cast()) };
        if p.is_null() {
            return Err(io::Error::last_os_error());
        }
        t.pop();
        Ok(Dir(PathBuf::from(std::ffi::OsStr::from_bytes(&t))))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates `paths` (O_CREAT | O_EXCL, closed at once); returns the time
/// it took.
fn create_all(paths: &[CString]) -> io::Result<Duration> {
    let start = Instant::now();
    for p in paths {
        // SAFETY: a NUL-terminated path; the descriptor is closed at once.
        let fd = check(unsafe {
            libc::open(
                p.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            )
        } as libc::c_long)?;
        // SAFETY: ours, closed once.
        unsafe { libc::close(fd as i32) };
    }
    Ok(start.elapsed())
}

/// The waiter's side: returns (wakeups, syscalls, reports) once it has
/// counted `n` creations.
type Waiter = Box<dyn FnMut(u64) -> io::Result<(u64, u64, u64)>>;

fn kevent_waiter(dir: &Path) -> io::Result<Waiter> {
    let q = Queue::new()?;
    let dfd = std::fs::File::open(dir)?;
    q.add(Kevent::inode(dfd.as_fd(), InodeEvents::CREATE))?;
    // The kevent watches the inode: the descriptor may go.
    drop(dfd);
    let mut events = Events::with_capacity(64);
    Ok(Box::new(move |n| {
        let (mut seen, mut wakeups, mut reports) = (0, 0, 0);
        while seen < n {
            q.wait(&mut events, None)?;
            wakeups += 1;
            for e in &events {
                if e.inode_events() != Some(InodeEvents::CREATE) {
                    return Err(io::Error::other(format!("unexpected {e:?}")));
                }
                seen += e.count();
                reports += 1;
            }
        }
        if seen != n {
            return Err(io::Error::other(format!("{seen} creations for {n}")));
        }
        Ok((wakeups, wakeups, reports))
    }))
}

fn inotify_waiter(dir: &Path) -> io::Result<Waiter> {
    // SAFETY: new descriptors, ours.
    let ifd = check(
        unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) } as libc::c_long,
    )?;
    // SAFETY: as above.
    let ifd = unsafe { OwnedFd::from_raw_fd(ifd as i32) };
    let cdir = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path.
    check(
        unsafe { libc::inotify_add_watch(ifd.as_raw_fd(), cdir.as_ptr(), libc::IN_CREATE) }
            as libc::c_long,
    )?;
    // SAFETY: as above.
    let ep = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } as libc::c_long)?;
    // SAFETY: as above.
    let ep = unsafe { OwnedFd::from_raw_fd(ep as i32) };
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: plain system call on our struct.
    check(unsafe {
        libc::epoll_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            ifd.as_raw_fd(),
            &mut ev,
        )
    } as libc::c_long)?;
    // 64 KiB, aligned for struct inotify_event: about 2,000 records with
    // these names.
    let mut buf = vec![0u64; 8192];
    Ok(Box::new(move |n| {
        let (mut seen, mut wakeups, mut syscalls) = (0, 0, 0);
        while seen < n {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: one event into our struct.
            let r = unsafe { libc::epoll_wait(ep.as_raw_fd(), &mut ev, 1, -1) };
            syscalls += 1;
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            wakeups += 1;
            // One read per wake-up; level-triggered epoll wakes again at
            // once if records are left.
            let size = std::mem::size_of_val(&buf[..]);
            // SAFETY: reads into our buffer.
            let got = unsafe { libc::read(ifd.as_raw_fd(), buf.as_mut_ptr().cast(), size) };
            syscalls += 1;
            if got < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    continue;
                }
                return Err(e);
            }
            // SAFETY: the kernel wrote `got` bytes of records.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got as usize) };
            let mut off = 0;
            let head = std::mem::size_of::<libc::inotify_event>();
            while off + head <= bytes.len() {
                // SAFETY: a record header inside what the kernel wrote
                // (read_unaligned: no alignment assumed).
                let e: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(bytes[off..].as_ptr().cast()) };
                if e.mask & libc::IN_Q_OVERFLOW != 0 {
                    return Err(io::Error::other(
                        "inotify queue overflow (fs.inotify.max_queued_events)",
                    ));
                }
                if e.mask & libc::IN_CREATE != 0 {
                    seen += 1;
                }
                off += head + e.len as usize;
            }
        }
        if seen != n {
            return Err(io::Error::other(format!("{seen} creations for {n}")));
        }
        Ok((wakeups, syscalls, seen))
    }))
}

/// `n` files created in a fresh watched directory; `mechanism`: `None`
/// (no watch: the bound), `Some(true)` kevent, `Some(false)`
/// inotify+epoll; `each`: wait for every creation before the next, else
/// create all, then collect.
pub fn inode_creates(mechanism: Option<bool>, n: usize, each: bool) -> io::Result<InodeRun> {
    let dir = Dir::new()?;
    let paths = (0..n)
        .map(|i| CString::new(dir.0.join(format!("f{i}")).as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut waiter = match mechanism {
        None => None,
        Some(true) => Some(kevent_waiter(&dir.0)?),
        Some(false) => Some(inotify_waiter(&dir.0)?),
    };
    let (mut creating, mut wakeups, mut syscalls, mut reports) = (Duration::ZERO, 0, 0, 0);
    let mut collect = |k: u64| -> io::Result<()> {
        if let Some(w) = waiter.as_mut() {
            let (w, s, r) = w(k)?;
            wakeups += w;
            syscalls += s;
            reports += r;
        }
        Ok(())
    };
    let start = Instant::now();
    if each {
        for p in paths.chunks(1) {
            creating += create_all(p)?;
            collect(1)?;
        }
    } else {
        creating = create_all(&paths)?;
        collect(n as u64)?;
    }
    let elapsed = start.elapsed();
    // The watch goes before the files are removed (untimed).
    drop(waiter);
    Ok(InodeRun {
        per_creation: elapsed / n as u32,
        creator_per_creation: creating / n as u32,
        wakeups,
        syscalls,
        reports,
    })
}
