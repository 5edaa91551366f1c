//! Hostile and buggy components, built from source: each is stopped or refused
//! with an error naming it, and the host stays usable afterwards.

use tandem::model::Context;
use tandem::rules::RulesError;
use tandem_tests::guest;

use super::{assert_host_still_works, host, sample_issue};

#[test]
fn an_infinite_loop_stops_at_the_deadline() {
    let host = host();
    let rules = host.load_file(&guest!("LOOP_FOREVER"), None).unwrap();
    let issue = sample_issue("OPS-1", "spin");
    let err = rules
        .outgoing(&Context::for_test(&issue), &issue)
        .unwrap_err();
    assert!(matches!(err, RulesError::Deadline { .. }), "{err}");
    assert!(err.is_rule_failure());
    let line = err.to_string();
    assert!(
        line.contains("loop_forever.wasm")
            && line.contains("`outgoing`")
            && line.contains("100 ms"),
        "{line}"
    );
    assert_host_still_works(&host);
}

#[test]
fn a_memory_bomb_stops_at_the_cap() {
    // A generous deadline, so that only the cap can stop it.
    let limits = tandem::rules::Limits {
        deadline_ms: 5_000,
        ..Default::default()
    };
    let host = tandem::rules::RulesHost::new(limits, None).unwrap();
    let rules = host.load_file(&guest!("MEMORY_BOMB"), None).unwrap();
    let issue = sample_issue("OPS-1", "hoard");
    let err = rules
        .outgoing(&Context::for_test(&issue), &issue)
        .unwrap_err();
    assert!(matches!(err, RulesError::MemoryCap { .. }), "{err}");
    assert!(err.to_string().contains("64 MiB"), "{err}");
    assert_host_still_works(&host);
}

#[test]
fn a_component_importing_the_filesystem_is_refused_before_it_runs() {
    let host = host();
    let err = host
        .load_file(&guest!("READS_FILE"), None)
        .err()
        .expect("refused");
    assert!(matches!(err, RulesError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("wasi:filesystem/"), "{err}");
    assert_host_still_works(&host);
}

#[test]
fn a_component_importing_sockets_is_refused_before_it_runs() {
    let host = host();
    let err = host
        .load_file(&guest!("OPENS_SOCKET"), None)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("wasi:sockets/"), "{err}");
    assert_host_still_works(&host);
}

#[test]
fn a_panicking_guest_gives_an_error_with_its_panic_message() {
    let host = host();
    let rules = host.load_file(&guest!("PANICS"), None).unwrap();
    let issue = sample_issue("OPS-42", "anything");
    let err = rules
        .outgoing(&Context::for_test(&issue), &issue)
        .unwrap_err();
    assert!(matches!(err, RulesError::Trap { .. }), "{err}");
    assert!(
        err.to_string().contains("no rule for issue OPS-42"),
        "{err}"
    );
    assert!(err.is_rule_failure());
    assert_host_still_works(&host);
}

#[test]
fn a_rule_error_names_the_component_and_keeps_the_log() {
    let host = host();
    let rules = host.load_file(&guest!("REFUSES"), None).unwrap();
    let issue = sample_issue("OPS-9", "please refuse");
    let call = rules.outgoing_logged(&Context::for_test(&issue), &issue);
    let err = call.result.unwrap_err();
    assert!(matches!(err, RulesError::Rule { .. }), "{err}");
    assert!(
        err.to_string().contains("OPS-9 may not leave this side"),
        "{err}"
    );
    assert!(call.log.contains("refusing OPS-9"), "log: {:?}", call.log);
    // The same instance pre serves the next issue normally.
    let ok = sample_issue("OPS-10", "fine");
    assert_eq!(
        rules
            .outgoing(&Context::for_test(&ok), &ok)
            .unwrap()
            .summary
            .as_deref(),
        Some("fine")
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    let err = host()
        .load_file(&guest!("WRONG_WORLD"), None)
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("does not implement tandem:rules@1.0.0"),
        "{err}"
    );
}

#[test]
fn a_core_module_or_garbage_is_refused_with_a_hint() {
    let host = host();
    let core = b"\0asm\x01\0\0\0";
    let err = host.load("core.wasm", core, None).err().expect("refused");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    let err = host
        .load("notes.txt", b"hello, world", None)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a WebAssembly file"), "{err}");
}
