//! `tandem rules …` as a person runs it: JSON on stdout, one line on stderr,
//! and DESIGN.md's exit codes (0 ok, 1 failed, 2 usage, 3 the rules failed).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tandem_tests::{guest, repo_root, tandem};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn rules_test_outgoing_on_basic_prints_the_replica() {
    let examples = repo_root().join("examples/basic");
    let dir = tempfile::tempdir().unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            "basic",
            "--issue",
            s(&examples.join("issue.json")),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let replica = run.json();
    assert_eq!(replica["summary"], "Printer on fire");
    assert_eq!(
        replica["comments"][0]["internal"], true,
        "outgoing sends comments as they are"
    );
    assert!(
        replica.get("status").is_none() && replica.get("fields").is_none(),
        "{replica}"
    );
}

#[test]
fn rules_test_incoming_on_basic_falls_back_to_the_default_type() {
    let examples = repo_root().join("examples/basic");
    let dir = tempfile::tempdir().unwrap();
    let out = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            "basic",
            "--issue",
            s(&examples.join("issue.json")),
        ],
    );
    let replica = dir.path().join("replica.json");
    std::fs::write(&replica, &out.stdout).unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "incoming",
            "--rules",
            "basic",
            "--replica",
            s(&replica),
            "--context",
            s(&examples.join("context.json")),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let update = run.json();
    assert_eq!(
        update["issue_type"], "Story",
        "Epic is missing on SUP, whose default is Story"
    );
    assert_eq!(
        update["comments"][0]["internal"], false,
        "comments arrive public"
    );
    assert_eq!(update["attachments"][0]["remote_id"], "20001");
}

#[test]
fn invalid_json_names_the_file_and_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "{\n  \"key\": \"OPS-1\",\n  \"summary\": \n}").unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            "basic",
            "--issue",
            s(&bad),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("broken.json") && run.stderr.contains("line 4"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );

    let typo = dir.path().join("typo.json");
    std::fs::write(
        &typo,
        r#"{"key": "OPS-1", "summary": "s", "sumary": "typo"}"#,
    )
    .unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            "basic",
            "--issue",
            s(&typo),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("unknown field `sumary`"),
        "{}",
        run.stderr
    );

    let missing = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            "basic",
            "--issue",
            "nope.json",
        ],
    );
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("nope.json"), "{}", missing.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "incoming",
            "--rules",
            "basic",
            "--replica",
            "r.json",
        ],
    );
    assert_eq!(
        run.code, 2,
        "--context is required for incoming: {}",
        run.stderr
    );
}

#[test]
fn rules_that_fail_exit_3_and_say_why() {
    let examples = repo_root().join("examples/basic");
    let issue = examples.join("issue.json");
    let dir = tempfile::tempdir().unwrap();

    let looped = guest!("LOOP_FOREVER");
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            s(&looped),
            "--issue",
            s(&issue),
            "--deadline-ms",
            "50",
        ],
    );
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("50 ms deadline"), "{}", run.stderr);

    let run = tandem(
        dir.path(),
        &[
            "--json",
            "rules",
            "test",
            "outgoing",
            "--rules",
            s(&looped),
            "--issue",
            s(&issue),
        ],
    );
    assert_eq!(run.code, 3);
    assert_eq!(run.json()["error"]["kind"], "deadline");

    let refused = dir.path().join("refuse.json");
    std::fs::write(&refused, r#"{"key": "OPS-2", "summary": "refuse me"}"#).unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            s(&guest!("REFUSES")),
            "--issue",
            s(&refused),
        ],
    );
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("OPS-2 may not leave this side"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("refusing OPS-2"),
        "the rule log is shown: {}",
        run.stderr
    );
}

#[test]
fn a_forbidden_import_exits_1_naming_it() {
    let issue = repo_root().join("examples/basic/issue.json");
    let dir = tempfile::tempdir().unwrap();
    let run = tandem(
        dir.path(),
        &[
            "rules",
            "test",
            "outgoing",
            "--rules",
            s(&guest!("READS_FILE")),
            "--issue",
            s(&issue),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("wasi:filesystem/"), "{}", run.stderr);
}

#[test]
fn keygen_sign_verify_and_trusted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let issue = repo_root().join("examples/basic/issue.json");
    let key = dir.path().join("ops.key");
    let run = tandem(dir.path(), &["rules", "keygen", "--out", s(&key)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public = dir.path().join("ops.key.pub");
    assert!(public.exists());
    let again = tandem(dir.path(), &["rules", "keygen", "--out", s(&key)]);
    assert_eq!(again.code, 1, "an existing key is never overwritten");

    let other = dir.path().join("other.key");
    assert_eq!(
        tandem(dir.path(), &["rules", "keygen", "--out", s(&other)]).code,
        0
    );

    let unsigned = guest!("REFUSES");
    let signed = dir.path().join("refuses.signed.wasm");
    let sign = || {
        tandem(
            dir.path(),
            &[
                "rules",
                "sign",
                "--key-file",
                s(&key),
                s(&unsigned),
                "-o",
                s(&signed),
            ],
        )
    };
    let run = sign();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let ok = tandem(
        dir.path(),
        &["rules", "verify", "--pub", s(&public), s(&signed)],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let wrong = tandem(
        dir.path(),
        &[
            "rules",
            "verify",
            "--pub",
            s(&dir.path().join("other.key.pub")),
            s(&signed),
        ],
    );
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("trusted key"), "{}", wrong.stderr);
    let bare = tandem(
        dir.path(),
        &["rules", "verify", "--pub", s(&public), s(&unsigned)],
    );
    assert_eq!(bare.code, 1);
    assert!(bare.stderr.contains("not signed"), "{}", bare.stderr);

    let test = |rules: &Path, trusted: &Path| {
        tandem(
            dir.path(),
            &[
                "rules",
                "test",
                "outgoing",
                "--rules",
                s(rules),
                "--issue",
                s(&issue),
                "--trusted-key",
                s(trusted),
            ],
        )
    };
    assert_eq!(test(&signed, &public).code, 0);
    let refused = test(&unsigned, &public);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("not signed"), "{}", refused.stderr);
    assert_eq!(test(&signed, &dir.path().join("other.key.pub")).code, 1);

    // A secret key others can read is refused rather than used.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = sign();
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
}
