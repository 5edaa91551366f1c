//! A small shadow stack: Basic needs a few KiB of it, and every page of the
//! default 1 MiB a fresh instance touches is a page fault on the hot path.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=65536");
    }
}
