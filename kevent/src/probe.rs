//! The probe: is this kernel's kevent the ABI this crate speaks?

use std::io;
use std::sync::OnceLock;

use kevent_sys as sys;

use crate::flags::ReqFlags;
use crate::interest::Kind;

/// What the running kernel's kevent supports, as `KEVENT_CTL_PROBE`
/// reported it. [`features`] returns it.
///
/// ```no_run
/// let f = kevent::features()?;
/// println!(
///     "kevent ABI {}: up to {} entries per call, rings up to {} entries, timers: {}",
///     f.version,
///     f.max_batch,
///     f.ring_max_entries,
///     f.supports(kevent::Kind::Timer)
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// The ABI version: always `KEVENT_ABI_VERSION` (2) here.
    pub version: u32,
    /// Bit n set: event type n is supported (see [`Features::supports`]).
    pub types: u64,
    /// The request flags this kernel takes.
    pub req_flags: ReqFlags,
    /// Bit n set: `kevent_ctl()` command n (`KEVENT_CTL_*`) is supported.
    pub commands: u32,
    /// The `KEVENT_WAIT_*` flags supported.
    pub wait_flags: u32,
    /// The most entries one `kevent_ctl()` or wait takes. The crate
    /// splits larger batches of [`Queue::add_all`](crate::Queue::add_all)
    /// and the other `*_all` calls, caps the events of a wait at it, and
    /// starts the rearms of [`Naio::wait_rearming`](crate::Naio::wait_rearming)
    /// beyond it with batches of their own; the changes of one
    /// [`Queue::wait_with_changes`](crate::Queue::wait_with_changes) must
    /// fit in it (`InvalidInput` otherwise: apply the rest with the
    /// `*_all` calls).
    pub max_batch: u32,
    /// The most entries a [`Ring`](crate::Ring) may have.
    pub ring_max_entries: u32,
    /// `sizeof(struct kevent_event)`: 32.
    pub event_size: u32,
    /// The most runs of changes one
    /// [`wait_with_changes`](crate::Queue::wait_with_changes) takes (the
    /// kernel's `max_changes`); 0 if this kernel's waits take no changes.
    pub max_changes: u32,
    /// An add with [`Kevent::update`](crate::Kevent::update) says whether it
    /// created the kevent or updated one ([`Changes::created`](crate::Changes::created));
    /// false on kernels before `KEVENT_RET_CREATED`.
    pub reports_created: bool,
    /// A network send can complete at its add, with no event
    /// ([`Naio::send_now`](crate::Naio::send_now) returns
    /// [`Sent::Done`](crate::Sent::Done)); false on kernels before
    /// `KEVENT_REQ_INLINE`, where every send is in flight until a wait.
    pub completes_inline: bool,
    /// A [`Ring`](crate::Ring) can be written at event time
    /// ([`RingBuilder::at_event`](crate::RingBuilder::at_event)); false on
    /// kernels before `KEVENT_RING_AT_EVENT`.
    pub ring_at_event: bool,
}

impl Features {
    /// Whether kevents of `kind` can be added.
    pub fn supports(&self, kind: Kind) -> bool {
        let t = kind.raw();
        t < 64 && self.types & (1 << t) != 0
    }

    /// Whether every flag of `flags` is supported.
    pub fn supports_flags(&self, flags: ReqFlags) -> bool {
        self.req_flags.contains(flags)
    }

    /// Whether `kevent_ctl()` command `cmd` (`KEVENT_CTL_*`) is supported.
    pub fn supports_command(&self, cmd: u32) -> bool {
        cmd < 32 && self.commands & (1 << cmd) != 0
    }

    /// Checks a probe's answer: `Err` says why it is not kevent ABI v2.
    pub(crate) fn from_probe(
        ret: Result<usize, sys::Error>,
        p: &sys::kevent_probe,
    ) -> Result<Features, String> {
        let size = ret.map_err(|e| match e {
            sys::Error::Errno(errno) => format!(
                "kevent_ctl(KEVENT_CTL_PROBE) failed: {}",
                io::Error::from_raw_os_error(errno)
            ),
            e => e.to_string(),
        })?;
        if p.magic != sys::KEVENT_PROBE_MAGIC {
            return Err(format!(
                "the call returned {size} but magic {:#x}, not kevent's {:#x}",
                p.magic,
                sys::KEVENT_PROBE_MAGIC
            ));
        }
        if p.version != sys::KEVENT_ABI_VERSION {
            return Err(format!(
                "kevent ABI version {}, this crate speaks version {}",
                p.version,
                sys::KEVENT_ABI_VERSION
            ));
        }
        let event_size = std::mem::size_of::<sys::kevent_event>();
        if p.event_size as usize != event_size || p.max_batch == 0 {
            return Err(format!(
                "inconsistent answer: event_size {} (expected {event_size}), max_batch {}",
                p.event_size, p.max_batch
            ));
        }
        Ok(Features {
            version: p.version,
            types: p.types,
            req_flags: ReqFlags::from_bits_retain(p.req_flags),
            commands: p.cmds,
            wait_flags: p.wait_flags,
            max_batch: p.max_batch,
            ring_max_entries: p.ring_max_entries,
            event_size: p.event_size,
            max_changes: if p.wait_args_size as usize >= sys::KEVENT_WAIT_ARGS_SIZE {
                p.max_changes
            } else {
                0
            },
            reports_created: p.ret_flags & sys::KEVENT_RET_CREATED != 0,
            completes_inline: p.req_flags & sys::KEVENT_REQ_INLINE != 0,
            ring_at_event: p.ring_flags & sys::KEVENT_RING_AT_EVENT != 0,
        })
    }
}

/// The message of every constructor's error on a kernel without kevent
/// ABI v2, `detail` saying what the probe found.
pub(crate) fn unsupported_message(detail: &str) -> String {
    format!(
        "this kernel has no kevent ABI v2 (probe: {detail}): boot a kernel with the kevent \
         patch series (see the kevent crate's README)"
    )
}

static PROBE: OnceLock<Result<Features, String>> = OnceLock::new();

/// Probes the running kernel, once per process (the answer is cached):
/// `kevent_ctl(-1, KEVENT_CTL_PROBE, ...)` must answer with kevent's magic
/// and ABI version 2. The crate does this before any other kevent system
/// call, since on kernels without kevent the call numbers may belong to
/// other calls.
///
/// Fails with [`io::ErrorKind::Unsupported`] and a message that says what
/// the probe found and how to run the patched kernel.
///
/// ```
/// match kevent::features() {
///     Ok(f) => println!("kevent ABI v{}", f.version),
///     Err(e) => eprintln!("{e}"), // "this kernel has no kevent ABI v2 (probe: ...): boot ..."
/// }
/// ```
pub fn features() -> io::Result<&'static Features> {
    let probed = PROBE.get_or_init(|| {
        let mut p = sys::kevent_probe::default();
        let ret = sys::probe(&mut p);
        Features::from_probe(ret, &p).map_err(|detail| unsupported_message(&detail))
    });
    probed
        .as_ref()
        .map_err(|msg| io::Error::new(io::ErrorKind::Unsupported, msg.clone()))
}

/// Whether the running kernel has kevent ABI v2 ([`features`] succeeds).
///
/// ```
/// if !kevent::is_supported() {
///     eprintln!("no kevent here: boot the patched kernel (see README)");
/// }
/// ```
pub fn is_supported() -> bool {
    features().is_ok()
}
