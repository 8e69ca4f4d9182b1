//! Raw bindings to the Linux kevent interface.
//!
//! The bindings will be generated with bindgen from the series' uapi header,
//! `include/uapi/linux/kevent.h` (see `kernel-patches/`), together with the
//! system call numbers and raw `unsafe` wrappers. Until then this crate only
//! fixes its place in the workspace; most users want the safe `kevent` crate.
#![no_std]
