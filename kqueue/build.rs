//! libkqueue.so's soname: `libkqueue.so.1`. The name is libkqueue's, the
//! major number is not: libkqueue 2.x on Linux (`libkqueue.so.0`) has a
//! 32-byte `struct kevent` without `ext[4]`, this library FreeBSD 12's
//! 64-byte one, so binaries built against libkqueue.so.0 must not load it.
//! Rebuilt from source, they link to it unchanged (`-lkqueue`).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkqueue.so.1");
}
