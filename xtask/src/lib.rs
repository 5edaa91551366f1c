//! Release chores for the Basic component, shared by the `xtask` binary and the
//! test that keeps the committed artifact honest.
//!
//! The artifact records a SHA-256 of what it was built from (the rules-basic
//! crate, its Cargo.lock and the WIT) in a custom section added before signing.
//! Anyone can recompute it from a checkout; a mismatch means the sources moved
//! and the artifact was not rebuilt and re-signed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use tandem::rules::{SOURCE_STAMP_SECTION, append_custom_section, custom_section};

/// The repository root (this crate lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Files the Basic artifact is built from, relative to the repository root, sorted.
pub fn basic_sources(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = vec![
        PathBuf::from("rules-basic/Cargo.toml"),
        PathBuf::from("rules-basic/Cargo.lock"),
        PathBuf::from("rules-basic/build.rs"),
    ];
    for dir in ["rules-basic/src", "wit"] {
        collect(root, Path::new(dir), &mut files)?;
    }
    files.sort();
    Ok(files)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(root.join(dir)).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let rel = dir.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            collect(root, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// SHA-256 (hex) over each source's path and content, in order.
pub fn basic_source_hash(root: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for rel in basic_sources(root)? {
        let bytes =
            std::fs::read(root.join(&rel)).with_context(|| format!("reading {}", rel.display()))?;
        let name = rel.to_string_lossy().replace('\\', "/");
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The source hash recorded in an artifact, if any.
pub fn recorded_hash(artifact: &[u8]) -> anyhow::Result<Option<String>> {
    let section = custom_section(artifact, SOURCE_STAMP_SECTION).map_err(anyhow::Error::msg)?;
    Ok(section.map(|s| String::from_utf8_lossy(s).into_owned()))
}

/// Builds rules-basic for `wasm32-unknown-unknown`, wraps the module into a
/// component (it then imports nothing) and stamps it. The result is unsigned.
pub fn build_basic(root: &Path) -> anyhow::Result<Vec<u8>> {
    let manifest = root.join("rules-basic/Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
            "--manifest-path",
        ])
        .arg(&manifest)
        // Its own target dir: sharing ours would deadlock on cargo's lock when
        // called from a build of this workspace.
        .env("CARGO_TARGET_DIR", root.join("rules-basic/target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("running cargo for rules-basic")?;
    if !status.success() {
        bail!(
            "building rules-basic failed (is the target installed? `rustup target add wasm32-unknown-unknown`)"
        );
    }
    let module_path =
        root.join("rules-basic/target/wasm32-unknown-unknown/release/tandem_rules_basic.wasm");
    let module = std::fs::read(&module_path)
        .with_context(|| format!("reading {}", module_path.display()))?;
    let mut component = wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()?;
    let hash = basic_source_hash(root)?;
    append_custom_section(&mut component, SOURCE_STAMP_SECTION, hash.as_bytes());
    Ok(component)
}
