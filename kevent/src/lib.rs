//! Safe Rust API for kevent, the unified Linux event queue.
//!
//! A kevent queue lets one thread wait, with one call, for file readiness,
//! timers, user-triggered events and (later) socket, inode and network AIO
//! events. The queue is created by opening `/dev/kevent` on a kernel built
//! with the series in `kernel-patches/`.
//!
//! The API itself arrives with the kernel side; for now the crate offers
//! [`is_supported`], which tells whether the running kernel has kevent.

use std::path::Path;

/// Path of the character device that creates kevent queues.
pub const DEVICE_PATH: &str = "/dev/kevent";

/// Whether the running kernel offers kevent (its device node exists).
///
/// # Examples
///
/// ```
/// if !kevent::is_supported() {
///     eprintln!("no kevent here: boot the patched kernel (see README)");
/// }
/// ```
pub fn is_supported() -> bool {
    Path::new(DEVICE_PATH).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_matches_device_node() {
        assert_eq!(is_supported(), std::fs::metadata(DEVICE_PATH).is_ok());
    }
}
