//! `EVFILT_SIGNAL` on the kernel's `KEVENT_SIGNAL` source (type 7): one
//! kevent per queue and signal, id = the signal number, batched with the
//! other changes of a `kevent()` call. No system call beyond the batch
//! and the wait, and no signal table in the library.
//!
//! The kernel counts every attempt to send the signal to the process
//! that added the kevent (to the process or to any of its threads),
//! whether the signal is then handled, ignored or blocked, and reports
//! the count since the last report in `data`: FreeBSD's semantics. The
//! library does not ask for `KEVENT_SIGNAL_CONSUME` (kqueue does not take
//! the signal: a handler still runs, a blocked signal stays pending) and
//! does not change the signal mask. Every queue watching a signal counts
//! each delivery (each has its own kevent). `EV_DISABLE`, `EV_ENABLE`,
//! `EV_DISPATCH` and `EV_ONESHOT` are the library's ([`add_request`]): a
//! disabled signal knote's kernel kevent still wakes `kevent()`, which
//! then reports nothing for it, and the count waits for `EV_ENABLE`.

use kevent_sys as sys;
use libc::c_int;

use crate::queue::ukevent;

/// The kernel id of an `EVFILT_SIGNAL` ident: signals 1 to 64 except
/// `SIGKILL` and `SIGSTOP` (which nobody can catch, block or ignore: the
/// kernel refuses them too); other idents `EINVAL`.
pub fn signo(ident: usize) -> Result<u64, c_int> {
    let sig = c_int::try_from(ident).map_err(|_| libc::EINVAL)?;
    if !(1..=64).contains(&sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
        return Err(libc::EINVAL);
    }
    Ok(sig as u64)
}

/// The `KEVENT_CTL_ADD` (with `KEVENT_REQ_UPDATE`) request of a signal
/// knote: counted, not consumed (a count is reported once anyway: no
/// `KEVENT_REQ_ET`). Never disabled, never `KEVENT_REQ_DISPATCH` or
/// `KEVENT_REQ_ONESHOT`: a disabled kevent drops what happens, a
/// disabled FreeBSD knote keeps counting and reports the count when it
/// is enabled, so the library disables signal knotes in its table and
/// keeps their counts there; and a oneshot kevent would go with the
/// first signal that comes while its knote is disabled, taking the count
/// with it. The library does `EV_ONESHOT`: it drops the knote at its
/// report and removes the kevent.
pub fn add_request(sig: u64) -> sys::ukevent {
    ukevent(
        sig,
        sys::KEVENT_SIGNAL,
        sys::KEVENT_SIGNAL_DELIVERED,
        sys::KEVENT_REQ_UPDATE,
        0,
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_numbers() {
        assert_eq!(signo(libc::SIGUSR1 as usize), Ok(libc::SIGUSR1 as u64));
        assert_eq!(signo(64), Ok(64));
        for bad in [
            0,
            65,
            libc::SIGKILL as usize,
            libc::SIGSTOP as usize,
            usize::MAX,
        ] {
            assert_eq!(signo(bad), Err(libc::EINVAL), "{bad}");
        }
    }

    #[test]
    fn requests() {
        let u = add_request(10);
        assert_eq!((u.id, u.type_), (10, sys::KEVENT_SIGNAL));
        assert_eq!(u.event, sys::KEVENT_SIGNAL_DELIVERED);
        // DISABLE, DISPATCH and ONESHOT are the library's: whatever the
        // knote's flags, the kevent is plain and counting.
        assert_eq!(u.req_flags, sys::KEVENT_REQ_UPDATE);
        // SAFETY: every member of the union is plain integers.
        assert_eq!(unsafe { u.__bindgen_anon_1.signal.flags }, 0, "no CONSUME");
    }
}
