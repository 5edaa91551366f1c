//! The compiled-component cache in the data dir.
//!
//! Compiling a component takes far longer than verifying it, so the native code
//! is kept, keyed by the verified artifact's SHA-256 and wasmtime's
//! compatibility hash. A cache file is native code the engine will run without
//! further checks, so each entry carries an HMAC made with the node secret over
//! its key and bytes: a file planted or edited by anyone without the secret is
//! refused, deleted and compiled again from the verified artifact. The cache
//! never sees an artifact before its signature was checked.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;
const TAG_LEN: usize = 32;

/// What the cache did for one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache configured.
    Off,
    /// Loaded from a valid entry.
    Hit,
    /// Compiled and stored.
    Miss,
    /// An entry was there but failed authentication; it was replaced.
    Refused,
}

/// A directory of authenticated compiled components.
#[derive(Clone)]
pub struct CompileCache {
    dir: PathBuf,
    secret: Vec<u8>,
}

impl CompileCache {
    /// `secret` is the node secret; it never leaves this struct.
    pub fn new(dir: impl Into<PathBuf>, secret: &[u8]) -> Self {
        CompileCache {
            dir: dir.into(),
            secret: secret.to_vec(),
        }
    }

    /// The component for `artifact`, from cache when a valid entry exists,
    /// otherwise compiled (and stored).
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        artifact: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = cache_key(engine, artifact);
        let path = self.dir.join(format!("{key}.cwasm"));
        let mut outcome = CacheOutcome::Miss;
        if let Ok(file) = std::fs::read(&path) {
            match self.open(&key, &file) {
                // SAFETY: the bytes were produced by `Component::serialize` on an
                // engine with the same compatibility hash (it is in the key) and
                // carry a tag only this node's secret can make.
                Some(native) => match unsafe { Component::deserialize(engine, native) } {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(e) => tracing::warn!(cache = %path.display(), "cache entry unusable: {e}"),
                },
                None => {
                    tracing::warn!(cache = %path.display(), "cache entry failed authentication; recompiling");
                    outcome = CacheOutcome::Refused;
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        let component = Component::new(engine, artifact)?;
        if let Err(e) = self.store(&key, &path, &component) {
            // A read-only or full disk costs a recompile next time, nothing more.
            tracing::warn!(cache = %path.display(), "could not write cache entry: {e}");
        }
        Ok((component, outcome))
    }

    fn tag(&self, key: &str, native: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.update(native);
        mac
    }

    fn open<'a>(&self, key: &str, file: &'a [u8]) -> Option<&'a [u8]> {
        let (tag, native) = file.split_at_checked(TAG_LEN)?;
        self.tag(key, native).verify_slice(tag).ok()?;
        Some(native)
    }

    fn store(&self, key: &str, path: &PathBuf, component: &Component) -> wasmtime::Result<()> {
        let native = component.serialize()?;
        let tag = self.tag(key, &native).finalize().into_bytes();
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename, so a crash never leaves a half entry under the key.
        let tmp = path.with_extension("tmp");
        let mut bytes = Vec::with_capacity(TAG_LEN + native.len());
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(&native);
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Path of the entry for `artifact` (tests tamper with it).
    pub fn entry_path(&self, engine_key: &str) -> PathBuf {
        self.dir.join(format!("{engine_key}.cwasm"))
    }
}

/// Lower-case hex of sha256(artifact) and of wasmtime's compatibility hash.
pub(crate) fn cache_key(engine: &Engine, artifact: &[u8]) -> String {
    let mut compat = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let compat = compat.0.finalize();
    let artifact = Sha256::digest(artifact);
    format!("{}-{}", hex::encode(artifact), hex::encode(&compat[..8]))
}

/// Feeds `Hash` impls into SHA-256, which (unlike `DefaultHasher`) is stable
/// across Rust releases and processes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Only the digest is read; `Hash` impls never call this.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
