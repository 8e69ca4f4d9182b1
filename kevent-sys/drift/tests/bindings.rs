//! The checked-in `src/bindings.rs` must match what bindgen generates from
//! the series' uapi header today.
//!
//! The header is the file `KEVENT_UAPI_HEADER` names when it is set (e.g.
//! `$KEVENT_CACHE/linux/include/uapi/linux/kevent.h`, the patched kernel
//! tree while the series is being changed), else it is rebuilt from
//! `kernel-patches/` with `git apply`, so the test needs no kernel tree.
//! With `KEVENT_SYS_BLESS=1` it rewrites `src/bindings.rs` instead of
//! failing (see `regenerate.sh`).
//!
//! It compares the code, not the generator: bindgen's version line is left
//! out (a point release is not drift), and without `rustfmt` (which
//! bindgen formats with) the test says it cannot compare and passes
//! rather than report a false drift. It is a repository check, in this
//! unpublished crate, so that the packaged `kevent-sys` has neither the
//! test nor bindgen.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use bindgen::callbacks::{AttributeInfo, ParseCallbacks, TypeKind};

const HEADER: &str = "include/uapi/linux/kevent.h";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The uapi header as the whole series leaves it.
fn uapi_header(scratch: &Path) -> PathBuf {
    if let Some(path) = env::var_os("KEVENT_UAPI_HEADER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "KEVENT_UAPI_HEADER={} is not a file",
            path.display()
        );
        return path;
    }
    let mut patches: Vec<PathBuf> = fs::read_dir(repo_root().join("kernel-patches"))
        .expect("kernel-patches/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".patch") && !name.starts_with("0000-")
        })
        .collect();
    patches.sort();
    let status = Command::new("git")
        .arg("apply")
        .arg(format!("--include={HEADER}"))
        .args(&patches)
        .current_dir(scratch)
        .status()
        .expect("run git apply");
    assert!(
        status.success(),
        "git apply of the series' uapi header failed"
    );
    scratch.join(HEADER)
}

/// Gives every struct and union of the header `#[repr(align(8))]`.
///
/// The uapi is laid out so that 32-bit and 64-bit programs share it: every
/// 64-bit field sits at a multiple of 8 and every size is a multiple of 8,
/// and the header declares those fields `__aligned_u64`, so C gives every
/// struct alignment 8 on i386 too. bindgen turns `__aligned_u64` into a
/// plain `u64`, which Rust aligns to 4 on i386, so the x86-64 layout tests
/// (alignment 8) would fail there. With the alignment pinned to 8, as the
/// header's, one checked-in file (generated on x86-64) holds on every
/// target; bindgen's size and offset assertions
/// still check the rest, and would fail if a future struct with no
/// `__u64` grew padding from it.
#[derive(Debug)]
struct Align8;

/// The structs of the header with no `__u64`, by bindgen's names:
/// ukevent's `signal`, `proc` and `naio` members.
const U32_ONLY: [&str; 3] = [
    "ukevent__bindgen_ty_1__bindgen_ty_2",
    "ukevent__bindgen_ty_1__bindgen_ty_3",
    "ukevent__bindgen_ty_1__bindgen_ty_4",
];

impl ParseCallbacks for Align8 {
    fn add_attributes(&self, info: &AttributeInfo<'_>) -> Vec<String> {
        match info.kind {
            // ukevent's `signal`, `proc` and `naio` members hold only
            // 32-bit fields:
            // 4-aligned on every target, and forcing 8 would break their
            // layout tests (the union around them is 8-aligned anyway).
            _ if U32_ONLY.contains(&info.name) => vec![],
            TypeKind::Struct | TypeKind::Union => vec!["#[repr(align(8))]".to_owned()],
            _ => vec![],
        }
    }
}

/// What bindgen makes of the header. The options are part of the crate's
/// ABI: change them only together with the checked-in file.
fn generate(header: &Path, scratch: &Path) -> String {
    let linux_types = "typedef unsigned short __u16;\ntypedef unsigned int __u32;\n\
                       typedef int __s32;\ntypedef unsigned long long __u64;\n\
                       typedef __u64 __aligned_u64 __attribute__((aligned(8)));\n";
    // <linux/types.h> of the build host is not the point: pin the types
    // the header uses, identically on every ABI. The wrapper goes to the
    // scratch folder, never beside the header (a kernel tree).
    let wrapper = scratch.join("kevent_wrapper.h");
    let body = fs::read_to_string(header)
        .expect("read header")
        .replace("#include <linux/types.h>", "");
    fs::write(&wrapper, format!("{linux_types}{body}")).expect("write wrapper");
    let bindings = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .allowlist_type(
            "ukevent|kevent_event|kevent_wait_args|kevent_ctl_batch|kevent_probe|kevent_ring",
        )
        .allowlist_var("KEVENT_.*")
        .use_core()
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .generate_comments(true)
        .parse_callbacks(Box::new(Align8))
        .raw_line(
            "// Generated by kevent-sys/drift/tests/bindings.rs from include/uapi/linux/kevent.h.",
        )
        .raw_line("// Do not edit: run kevent-sys/regenerate.sh.")
        .generate()
        .expect("bindgen");
    bindings.to_string()
}

/// The file without bindgen's version line.
fn without_version(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("/* automatically generated by rust-bindgen"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether bindgen can format its output as the checked-in file is.
fn have_rustfmt() -> bool {
    let rustfmt = env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    Command::new(rustfmt)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn bindings_match_the_uapi_header() {
    if !repo_root().join("kernel-patches").is_dir() && env::var_os("KEVENT_UAPI_HEADER").is_none() {
        eprintln!(
            "skipped: no kernel-patches/ (not in the kevent repository) and no KEVENT_UAPI_HEADER"
        );
        return;
    }
    if !have_rustfmt() {
        eprintln!(
            "skipped: no rustfmt, so bindgen's output cannot be compared with src/bindings.rs"
        );
        return;
    }
    let scratch = env::temp_dir().join(format!("kevent-sys-bindings-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let header = uapi_header(&scratch);
    let generated = generate(&header, &scratch);
    let checked_in = repo_root().join("kevent-sys/src/bindings.rs");
    if env::var_os("KEVENT_SYS_BLESS").is_some() {
        fs::write(&checked_in, &generated).expect("write src/bindings.rs");
    } else {
        let current = fs::read_to_string(&checked_in).unwrap_or_default();
        let from_patches = env::var_os("KEVENT_UAPI_HEADER").map_or(true, |p| p.is_empty());
        assert!(
            without_version(&current) == without_version(&generated),
            "src/bindings.rs has drifted from {}{}: run kevent-sys/regenerate.sh{}",
            header.display(),
            if from_patches {
                " (the header as kernel-patches/ leaves it)"
            } else {
                ""
            },
            if from_patches {
                ", or set KEVENT_UAPI_HEADER to compare with a kernel tree's header"
            } else {
                ""
            }
        );
    }
    let _ = fs::remove_dir_all(&scratch);
}

/// `kevent_sys::nr` against the series' syscall tables (x86 32- and
/// 64-bit, the generic `unistd.h` and `scripts/syscall.tbl`): every
/// kevent call has the crate's number in each.
#[test]
fn syscall_numbers_match_the_series() {
    let dir = repo_root().join("kernel-patches");
    if !dir.is_dir() {
        eprintln!("skipped: no kernel-patches/ (not in the kevent repository)");
        return;
    }
    let base = kevent_sys::nr::KEVENT_CREATE - 500;
    let ours = [
        ("kevent_create", kevent_sys::nr::KEVENT_CREATE - base),
        ("kevent_ctl", kevent_sys::nr::KEVENT_CTL - base),
        (
            "kevent_get_events",
            kevent_sys::nr::KEVENT_GET_EVENTS - base,
        ),
        ("kevent_ring_init", kevent_sys::nr::KEVENT_RING_INIT - base),
        ("kevent_wait", kevent_sys::nr::KEVENT_WAIT - base),
    ];
    let mut found: Vec<(String, String, i64)> = Vec::new();
    let mut file = String::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().map_or(true, |e| e != "patch") {
            continue;
        }
        for line in fs::read_to_string(&path).unwrap().lines() {
            if let Some(f) = line.strip_prefix("+++ b/") {
                file = f.to_owned();
                continue;
            }
            let Some(added) = line.strip_prefix('+') else {
                continue;
            };
            let words: Vec<&str> = added.split_whitespace().collect();
            // "NNN <abi> kevent_x sys_kevent_x" in a .tbl file.
            if file.ends_with(".tbl") && words.len() >= 3 && words[2].starts_with("kevent_") {
                if let Ok(n) = words[0].parse() {
                    found.push((file.clone(), words[2].to_owned(), n));
                }
            }
            // "#define __NR_kevent_x NNN" in unistd.h.
            if file.ends_with("unistd.h") && words.len() == 3 && words[0] == "#define" {
                if let Some(name) = words[1].strip_prefix("__NR_") {
                    if let Ok(n) = words[2].parse() {
                        found.push((file.clone(), name.to_owned(), n));
                    }
                }
            }
        }
    }
    let files: std::collections::BTreeSet<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert!(files.len() >= 3, "syscall tables in the series: {files:?}");
    for (file, name, n) in &found {
        if let Some((_, want)) = ours.iter().find(|(o, _)| o == name) {
            assert_eq!(i64::from(*want as i32), *n, "{name} in {file}");
        }
    }
    for (name, _) in ours {
        for f in &files {
            assert!(
                found.iter().any(|(ff, nn, _)| ff == f && nn == name),
                "{name} missing from {f}"
            );
        }
    }
}
