//! Verify before load: the Basic artifact with any byte changed, without its
//! signature, or signed by another key is refused; a tampered compile-cache
//! entry is refused and rebuilt from the verified artifact.

use tandem::model::Context;
use tandem::rules::{
    BASIC_ARTIFACT, CacheOutcome, CompileCache, Limits, RulesError, RulesHost, TrustedKeys, signing,
};

use super::{host, sample_issue};

#[test]
fn flipping_any_byte_of_the_basic_artifact_is_refused() {
    let host = host();
    let mut bytes = BASIC_ARTIFACT.to_vec();
    for i in 0..bytes.len() {
        bytes[i] ^= 0x01;
        let refused = host.load_basic_from(&bytes);
        assert!(
            matches!(refused, Err(RulesError::Rejected { .. })),
            "flipping byte {i} of {} was not refused",
            bytes.len()
        );
        bytes[i] ^= 0x01;
    }
    host.load_basic_from(&bytes)
        .expect("the untouched artifact loads");
}

/// The artifact without its signature section (the first section).
fn stripped() -> Vec<u8> {
    let sections = tandem::rules::artifact_sections(BASIC_ARTIFACT).unwrap();
    assert_eq!(
        sections[0].0, 0,
        "the signature is the first (custom) section"
    );
    let sig_end =
        sections[0].1.as_ptr() as usize - BASIC_ARTIFACT.as_ptr() as usize + sections[0].1.len();
    let mut bytes = BASIC_ARTIFACT[..8].to_vec();
    bytes.extend_from_slice(&BASIC_ARTIFACT[sig_end..]);
    bytes
}

#[test]
fn the_basic_artifact_without_its_signature_is_refused() {
    let err = host().load_basic_from(&stripped()).err().expect("refused");
    assert!(err.to_string().contains("not signed"), "{err}");
}

#[test]
fn basic_signed_by_an_untrusted_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("mallory.key");
    let pub_path = signing::keygen(&key_path).unwrap();
    let key = signing::read_secret_key(&key_path).unwrap();
    let forged = signing::sign(&key, &stripped()).unwrap();

    let err = host().load_basic_from(&forged).err().expect("refused");
    assert!(err.to_string().contains("trusted key"), "{err}");
    // The same bytes are fine for whoever trusts that key: the refusal above is
    // about trust, not about a broken file.
    let trust = TrustedKeys::from_files(&[pub_path]).unwrap();
    host()
        .load("forged.wasm", &forged, Some(&trust))
        .expect("valid for its own key");
}

#[test]
fn a_tampered_cache_entry_is_refused_and_recompiled() {
    let data = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(data.path().join("cache"), b"node secret for this test");
    let host = RulesHost::new(Limits::default(), Some(cache)).unwrap();

    assert_eq!(
        host.load_basic().unwrap().cache_outcome(),
        CacheOutcome::Miss
    );
    assert_eq!(
        host.load_basic().unwrap().cache_outcome(),
        CacheOutcome::Hit
    );

    let entries: Vec<_> = std::fs::read_dir(data.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut native = std::fs::read(&entries[0]).unwrap();
    let middle = native.len() / 2;
    native[middle] ^= 0xff;
    std::fs::write(&entries[0], &native).unwrap();

    let rules = host.load_basic().unwrap();
    assert_eq!(rules.cache_outcome(), CacheOutcome::Refused);
    let issue = sample_issue("OPS-3", "recompiled");
    assert_eq!(
        rules
            .outgoing(&Context::for_test(&issue), &issue)
            .unwrap()
            .summary
            .as_deref(),
        Some("recompiled")
    );
    assert_eq!(
        host.load_basic().unwrap().cache_outcome(),
        CacheOutcome::Hit
    );

    // A node with another secret cannot use (or be fooled by) this cache.
    let other = CompileCache::new(data.path().join("cache"), b"another node");
    let host = RulesHost::new(Limits::default(), Some(other)).unwrap();
    assert_eq!(
        host.load_basic().unwrap().cache_outcome(),
        CacheOutcome::Refused
    );
}
