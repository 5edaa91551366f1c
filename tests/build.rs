//! Builds the guest components under `guests/` from source (wasm32-wasip2, so
//! each build is a component) and tells the tests where they are through
//! `GUEST_<NAME>` environment variables. Tests never commit a `.wasm` they
//! could build.

use std::path::PathBuf;
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
];

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guests = here.join("guests");
    // Its own target dir: the outer cargo holds the lock on ours.
    let target = here.join("../target/guests");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", here.join("../wit").display());

    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(guests.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo to build the guest components");
    assert!(
        status.success(),
        "building the guest components failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    for guest in GUESTS {
        let file = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", guest.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let var = format!("GUEST_{}", guest.replace('-', "_").to_uppercase());
        println!(
            "cargo:rustc-env={var}={}",
            file.canonicalize().unwrap().display()
        );
    }
}
