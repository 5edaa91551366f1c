//! Builds the components the tests run from source (wasm32-wasip2, so each
//! build is a component) and tells the tests where they are through
//! environment variables: the hostile and test guests under `guests/` as
//! `GUEST_<NAME>`, the script-mode examples under `../examples/` as
//! `EXAMPLE_<NAME>`. Tests never commit a `.wasm` they could build.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &[
    "loop-forever",
    "memory-bomb",
    "reads-file",
    "opens-socket",
    "panics",
    "clock-random",
    "refuses",
    "wrong-world",
    "future-version",
];

const EXAMPLES: &[&str] = &["service-desk", "one-way"];

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", here.join("../wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        here.join("../rules-basic/src").display()
    );
    build(
        &here.join("guests"),
        &here.join("../target/guests"),
        GUESTS,
        "GUEST",
    );
    build(
        &here.join("../examples"),
        &here.join("../target/examples"),
        EXAMPLES,
        "EXAMPLE",
    );
}

/// Builds the cargo workspace at `dir` into `target` (its own target dir: the
/// outer cargo holds the lock on ours) and exports each crate's component.
fn build(dir: &Path, target: &Path, crates: &[&str], prefix: &str) {
    for name in crates {
        println!("cargo:rerun-if-changed={}", dir.join(name).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("Cargo.toml").display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo to build components");
    assert!(
        status.success(),
        "building the components in {} failed; is the target installed? `rustup target add wasm32-wasip2`",
        dir.display()
    );
    for name in crates {
        let file = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let var = format!("{prefix}_{}", name.replace('-', "_").to_uppercase());
        println!(
            "cargo:rustc-env={var}={}",
            file.canonicalize().unwrap().display()
        );
    }
}
