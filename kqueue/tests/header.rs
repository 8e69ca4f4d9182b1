//! The C header `include/sys/event.h` as C programs see it, on any kernel
//! and without the library: `tests/header/event_h.c` is compiled and run
//! (`EV_SET`, a pure macro, through a pointer named `kevp` and with an
//! argument of side effects; the layout of `struct kevent`, compared here
//! with the library's [`Kevent`]), and checked at compile time for each
//! x86 ABI the C compiler has (`-m64`, `-m32`, `-mx32`);
//! `tests/header/libkqueue2.c`, written for libkqueue 2.x's header, must
//! compile. The C compiler is `$CC`, else `cc` (the Rust linker's).

use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kqueue::Kevent;

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `$CC ARGS -I include`; panics if the compiler cannot be run.
fn compile(args: &[&str], extra: &[&Path]) -> Output {
    Command::new(cc())
        .args(args)
        .arg("-I")
        .arg(here("include"))
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", cc()))
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ev_set_and_layout_in_c() {
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kqueue-event_h");
    let src = here("tests/header/event_h.c");
    let warn = [
        "-std=c11",
        "-pedantic",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-O0",
    ];
    let out = compile(&warn, &[&src, Path::new("-o"), &exe]);
    assert_ok("compile event_h.c", &out);
    let out = Command::new(&exe).output().expect("run event_h");
    assert_ok("event_h", &out);
    let text = String::from_utf8(out.stdout).unwrap();
    let layout: Vec<usize> = text
        .lines()
        .find_map(|l| l.strip_prefix("layout "))
        .expect("event_h prints its layout")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        layout,
        [
            size_of::<Kevent>(),
            offset_of!(Kevent, ident),
            offset_of!(Kevent, filter),
            offset_of!(Kevent, flags),
            offset_of!(Kevent, fflags),
            offset_of!(Kevent, data),
            offset_of!(Kevent, udata),
            offset_of!(Kevent, ext),
        ],
        "the header's struct kevent (size, offsets) is the library's"
    );
}

#[test]
fn layout_per_x86_abi() {
    if !cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let probe = dir.join("kqueue-abi-probe.c");
    std::fs::write(&probe, "#include <sys/types.h>\n#include <stdint.h>\n").unwrap();
    let src = here("tests/header/event_h.c");
    for abi in ["-m64", "-m32", "-mx32"] {
        // Without that ABI's C library headers (gcc-multilib, clang with
        // libc6-dev-i386/-x32) there is nothing to check.
        if !compile(&[abi, "-fsyntax-only"], &[&probe]).status.success() {
            eprintln!(
                "layout_per_x86_abi: {} {abi}: no C library headers, skipped",
                cc()
            );
            continue;
        }
        let out = compile(&[abi, "-std=c11", "-Werror", "-fsyntax-only"], &[&src]);
        assert_ok(&format!("event_h.c {abi}"), &out);
    }
}

#[test]
fn libkqueue_2_program_compiles() {
    let src = here("tests/header/libkqueue2.c");
    let out = compile(&["-Wall", "-Wextra", "-Werror", "-fsyntax-only"], &[&src]);
    assert_ok("libkqueue2.c", &out);
}
