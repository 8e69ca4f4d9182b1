//! `EVFILT_PROC` on the kernel's `KEVENT_PROC` source (type 8), by pid
//! (`KEVENT_PROC_PID`): one kevent per queue and process, id = the pid,
//! batched with the other changes of a `kevent()` call. The kernel holds
//! the process, not the number, takes the wait status at the exit (for
//! any process, child of the caller or not, whoever reaps it), reports a
//! zombie at once with its status, and reports the exit once. The
//! library adds it with `KEVENT_REQ_ONESHOT`: the kernel kevent goes with
//! the report, as FreeBSD's knote does (`EV_EOF | EV_ONESHOT`).
//!
//! Only `NOTE_EXIT` is supported (`NOTE_FORK`, `NOTE_EXEC` and
//! `NOTE_TRACK` are refused with `EINVAL`).

use kevent_sys as sys;
use libc::{c_int, pid_t};

use crate::abi::*;
use crate::queue::ukevent;
use crate::translate::Knote;

/// `NOTE_FORK`, `NOTE_EXEC`, `NOTE_TRACK` and its error bits.
pub const NOTE_UNSUPPORTED: u32 = 0x4000_0000 | 0x2000_0000 | 0x7;

/// The kernel id of an `EVFILT_PROC` ident: a positive pid, else `ESRCH`
/// (FreeBSD finds no such process).
pub fn pid(ident: usize) -> Result<u64, c_int> {
    match pid_t::try_from(ident) {
        Ok(p) if p > 0 => Ok(p as u64),
        _ => Err(libc::ESRCH),
    }
}

/// The `KEVENT_CTL_ADD` (with `KEVENT_REQ_UPDATE`) request of a process
/// knote: by pid, oneshot.
pub fn add_request(pid: u64, k: &Knote) -> sys::ukevent {
    let mut req_flags = sys::KEVENT_REQ_ONESHOT | sys::KEVENT_REQ_UPDATE;
    if !k.enabled {
        req_flags |= sys::KEVENT_REQ_DISABLED;
    }
    let mut u = ukevent(
        pid,
        sys::KEVENT_PROC,
        sys::KEVENT_PROC_EXIT,
        req_flags,
        0,
        0,
    );
    u.__bindgen_anon_1.proc_.flags = sys::KEVENT_PROC_PID;
    u
}

/// The errno of a failed process ADD as FreeBSD reports it: the kernel's
/// `EINVAL` for a pid that names a thread, not a process, is `ESRCH`
/// (FreeBSD's `pfind()` finds processes only).
pub fn add_errno(e: c_int) -> c_int {
    if e == libc::EINVAL {
        libc::ESRCH
    } else {
        e
    }
}

/// The kqueue event of a kernel exit report, or `None` when the knote
/// did not ask for `NOTE_EXIT` (FreeBSD drops it: `EV_DROP`).
pub fn exit_event(pid: usize, k: &Knote, ev: &sys::kevent_event) -> Option<Kevent> {
    if k.fflags & NOTE_EXIT == 0 {
        return None;
    }
    // KEVENT_EV_NODATA: reaped before the add, the status is gone (0).
    let data = if ev.flags & sys::KEVENT_EV_NODATA as u16 != 0 {
        0
    } else {
        i64::from(ev.data as u32 as i32)
    };
    Some(Kevent::new(
        pid,
        EVFILT_PROC,
        k.flags | EV_EOF | EV_ONESHOT,
        NOTE_EXIT,
        data,
        k.udata,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        assert_eq!(pid(1), Ok(1));
        assert_eq!(pid(0), Err(libc::ESRCH));
        assert_eq!(pid(usize::MAX), Err(libc::ESRCH));
        assert_eq!(pid(1 << 40), Err(libc::ESRCH));
        assert_eq!(add_errno(libc::EINVAL), libc::ESRCH);
        assert_eq!(add_errno(libc::ENOMEM), libc::ENOMEM);
    }

    #[test]
    fn requests_and_reports() {
        let kev = Kevent::new(42, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 9);
        let k = Knote::new(&kev);
        let u = add_request(42, &k);
        assert_eq!(
            (u.id, u.type_, u.event),
            (42, sys::KEVENT_PROC, sys::KEVENT_PROC_EXIT)
        );
        assert_eq!(
            u.req_flags,
            sys::KEVENT_REQ_ONESHOT | sys::KEVENT_REQ_UPDATE
        );
        // SAFETY: every member of the union is plain integers.
        assert_eq!(
            unsafe { u.__bindgen_anon_1.proc_.flags },
            sys::KEVENT_PROC_PID
        );
        let mut ev: sys::kevent_event = crate::queue::unsafe_zeroed();
        ev.id = 42;
        ev.type_ = sys::KEVENT_PROC as _;
        ev.data = 7 << 8; // exit(7)
        ev.flags = sys::KEVENT_EV_EOF as _;
        let e = exit_event(42, &k, &ev).expect("asked for NOTE_EXIT");
        assert_eq!(
            (e.ident, e.filter, e.fflags, e.data),
            (42, EVFILT_PROC, NOTE_EXIT, 7 << 8)
        );
        assert_eq!(e.flags & (EV_EOF | EV_ONESHOT), EV_EOF | EV_ONESHOT);
        assert_eq!(e.udata as usize, 9);
        ev.flags |= sys::KEVENT_EV_NODATA as u16;
        assert_eq!(exit_event(42, &k, &ev).map(|e| e.data), Some(0));
        let none = Knote::new(&Kevent::new(42, EVFILT_PROC, EV_ADD, 0, 0, 0));
        assert!(exit_event(42, &none, &ev).is_none());
    }
}
