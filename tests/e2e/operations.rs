//! A person's hand on a running connection: manual and bulk sync, link and
//! unlink, errors, triggers, delete; and a copied data dir that must not sync.

use std::time::Duration;

use tandem_tests::node::{NodeProc, eventually};

const SETTLE: Duration = Duration::from_secs(30);

fn summaries(node: &NodeProc) -> Vec<String> {
    let mut s: Vec<String> = node
        .issues()
        .iter()
        .map(|i| i["summary"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

#[test]
fn manual_bulk_link_unlink_errors_and_delete() {
    let root = tempfile::tempdir().unwrap();
    let mut acme = NodeProc::init(root.path(), "acme", true);
    let mut globex = NodeProc::init(root.path(), "globex", false);
    acme.ok(&["project", "create", "OPS", "--types", "Bug,Task"]);
    globex.ok(&["project", "create", "SUP", "--types", "Bug,Task"]);
    globex.ok(&["project", "create", "HR", "--types", "Task"]);
    acme.start();
    globex.start();
    // No trigger on either side: only `tandem sync` and twins sync.
    let run = acme.ok(&[
        "connection",
        "initiate",
        "--no-url",
        "--mode",
        "basic",
        "--project",
        "OPS",
        "--name",
        "acme-globex",
    ]);
    let code = run.stdout.lines().last().unwrap().to_string();
    globex.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "SUP",
        "--name",
        "globex-acme",
    ]);

    for summary in ["one", "two", "three"] {
        acme.ok(&[
            "issue",
            "create",
            "--project",
            "OPS",
            "--type",
            "Task",
            "--summary",
            summary,
        ]);
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        globex.issues().is_empty(),
        "nothing syncs without a trigger"
    );

    // The manual sync of one issue.
    let run = acme.ok(&["--json", "sync", "OPS-2", "--connection", "acme-globex"]);
    assert_eq!(run.json()["queued"], true);
    eventually("OPS-2 arrives", SETTLE, || summaries(&globex) == ["two"]);

    // Bulk: every issue the trigger matches, with progress lines (no terminal).
    let run = acme.cli(&["sync", "--all", "--connection", "acme-globex"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("connection trigger"), "{}", run.stderr);
    acme.ok(&[
        "connection",
        "trigger",
        "acme-globex",
        "project = OPS AND type = Task",
    ]);
    let run = acme.ok(&["sync", "--all", "--connection", "acme-globex"]);
    assert!(run.stderr.contains("progress: 3/3"), "{}", run.stderr);
    assert!(run.stdout.contains("of 3 issues"), "{}", run.stdout);
    eventually("the bulk sync arrives once", SETTLE, || {
        summaries(&globex) == ["one", "three", "two"]
    });

    // Link two existing issues: no copy is made, edits then flow.
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Bug",
        "--summary",
        "printer (acme)",
    ]);
    let theirs = globex
        .ok(&[
            "--json",
            "issue",
            "create",
            "--project",
            "SUP",
            "--type",
            "Bug",
            "--summary",
            "printer (globex)",
        ])
        .json();
    let their_id = theirs["id"].as_str().unwrap();
    acme.ok(&["link", "OPS-4", their_id, "--connection", "acme-globex"]);
    let their_key = theirs["key"].as_str().unwrap();
    eventually("the linked issue takes acme's summary", SETTLE, || {
        globex.issue(their_key)["summary"] == "printer (acme)"
    });
    assert_eq!(globex.issues().len(), 4, "a link copies nothing");
    let shown = acme.issue("OPS-4");
    assert_eq!(shown["twins"][0]["connection"], "acme-globex");
    assert_eq!(shown["twins"][0]["remote_key"], their_key);

    // Unlink: both stay, edits stop flowing.
    acme.ok(&["unlink", "OPS-4", "--connection", "acme-globex"]);
    eventually("the other side drops the pair", SETTLE, || {
        globex.issue(their_key)["twins"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    acme.ok(&[
        "issue",
        "edit",
        "OPS-4",
        "--summary",
        "printer (acme, later)",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(globex.issue(their_key)["summary"], "printer (acme)");
    assert_eq!(acme.issues().len(), 4);

    // A link into an issue outside the other side's project is refused there
    // and shows as an error with a hint, until resolved.
    let hr = globex
        .ok(&[
            "--json",
            "issue",
            "create",
            "--project",
            "HR",
            "--type",
            "Task",
            "--summary",
            "payroll",
        ])
        .json();
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Bug",
        "--summary",
        "stray",
    ]);
    acme.ok(&[
        "link",
        "OPS-5",
        hr["id"].as_str().unwrap(),
        "--connection",
        "acme-globex",
    ]);
    eventually("the refused link shows as an error", SETTLE, || {
        globex
            .ok(&["--json", "errors", "list"])
            .json()
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let errors = globex.ok(&["--json", "errors", "list"]).json();
    let error = &errors[0];
    for field in [
        "id",
        "connection",
        "issue",
        "kind",
        "message",
        "first_seen",
        "last_seen",
        "count",
        "hint",
    ] {
        assert!(
            error.get(field).is_some(),
            "errors list --json lacks `{field}`: {error}"
        );
    }
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not in this side's project"),
        "{error}"
    );
    assert_eq!(
        globex.issue(hr["key"].as_str().unwrap())["summary"],
        "payroll",
        "the HR issue is untouched"
    );
    let id = error["id"].as_str().unwrap();
    globex.ok(&["errors", "show", id]);
    globex.ok(&["errors", "resolve", id]);
    assert_eq!(
        globex.ok(&["--json", "errors", "list"]).json(),
        serde_json::json!([])
    );

    // Delete: the connection and its twin links go; every issue stays.
    acme.ok(&["connection", "delete", "acme-globex"]);
    assert_eq!(
        acme.ok(&["--json", "connection", "list"]).json(),
        serde_json::json!([])
    );
    assert_eq!(acme.issues().len(), 5);
    assert!(acme.issue("OPS-2")["twins"].as_array().unwrap().is_empty());
    globex.stop();
    acme.stop();
}

#[test]
fn a_copied_data_dir_refuses_to_sync_until_told_which_node_it_is() {
    let root = tempfile::tempdir().unwrap();
    let acme = NodeProc::init(root.path(), "acme", false);
    let copy = root.path().join("staging");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&acme.data)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let run = tandem_tests::tandem(root.path(), &["--data", copy.to_str().unwrap(), "serve"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("must not sync as the original"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--relocated"), "{}", run.stderr);
}
