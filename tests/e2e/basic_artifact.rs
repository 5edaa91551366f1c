//! The committed Basic artifact is what its sources build: a source change
//! without a rebuilt and re-signed artifact fails here (and so in CI).

#[test]
fn basic_artifact_is_stamped_with_the_current_sources() {
    let root = tandem_tests::repo_root();
    let recorded = xtask::recorded_hash(tandem::rules::BASIC_ARTIFACT)
        .unwrap()
        .expect("the Basic artifact carries a source stamp");
    let sources = xtask::basic_source_hash(&root).unwrap();
    assert_eq!(
        recorded, sources,
        "rules-basic/dist/basic.wasm is stale: rebuild and re-sign it (rules-basic/RELEASING.md)"
    );
}

#[test]
fn a_changed_source_changes_the_stamp() {
    let root = tandem_tests::repo_root();
    let copy = tempfile::tempdir().unwrap();
    for rel in xtask::basic_sources(&root).unwrap() {
        let to = copy.path().join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(&rel), &to).unwrap();
    }
    let before = xtask::basic_source_hash(copy.path()).unwrap();
    assert_eq!(before, xtask::basic_source_hash(&root).unwrap());
    let lib = copy.path().join("rules-basic/src/basic.rs");
    let mut text = std::fs::read_to_string(&lib).unwrap();
    text.push_str("\n// a harmless edit is still an edit\n");
    std::fs::write(&lib, text).unwrap();
    assert_ne!(before, xtask::basic_source_hash(copy.path()).unwrap());
}
