//! `--help` reads like the steps a person takes. (Being an integration test of
//! this package, it also makes `cargo test --workspace` build the `tandem`
//! binary that the end-to-end tests in `tests/` run.)

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rules_help_lists_test_sign_and_verify() {
    let text = help(&["rules"]);
    for word in ["test", "keygen", "sign", "verify"] {
        assert!(
            text.contains(word),
            "`tandem rules --help` lacks {word}:\n{text}"
        );
    }
    let text = help(&["rules", "test", "incoming"]);
    assert!(
        text.contains("--previous") && text.contains("--local") && text.contains("--context"),
        "{text}"
    );
}

#[test]
fn connection_help_reads_like_the_console_steps() {
    let text = help(&["connection"]);
    for word in [
        "initiate",
        "accept",
        "list",
        "show",
        "trigger",
        "deactivate",
        "activate",
        "delete",
    ] {
        assert!(
            text.contains(word),
            "`tandem connection --help` lacks {word}:\n{text}"
        );
    }
    let text = help(&["connection", "initiate"]);
    assert!(text.contains("I don't have a URL"), "{text}");
    for flag in [
        "--no-url",
        "--url",
        "--mode",
        "--project",
        "--trigger",
        "--name",
    ] {
        assert!(
            text.contains(flag),
            "`connection initiate --help` lacks {flag}:\n{text}"
        );
    }
    let text = help(&[]);
    for word in ["serve", "status", "sync", "link", "unlink", "errors"] {
        assert!(text.contains(word), "`tandem --help` lacks {word}:\n{text}");
    }
}
