//! libkqueue.so's soname is libkqueue's: `libkqueue.so.0`, so programs
//! linked against the libkqueue of a Linux distribution load this one.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkqueue.so.0");
}
