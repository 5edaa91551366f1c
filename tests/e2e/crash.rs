//! Crash safety: the pair runs as a child process and dies at a failpoint
//! (an abrupt exit, as `kill -9` would); after a restart it converges with no
//! issue, comment or attachment lost or doubled.

use std::path::Path;
use std::process::Command;

use tandem::tracker::Tracker;
use tandem_tests::pair::{Pair, Spec};

fn child(a: &Path, b: &Path, command: &str, failpoint: Option<&str>) -> i32 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem-pair"));
    cmd.arg(a)
        .arg(b)
        .arg(command)
        .env_remove("TANDEM_FAILPOINT");
    if let Some(fp) = failpoint {
        cmd.env("TANDEM_FAILPOINT", fp);
    }
    cmd.status().expect("run tandem-pair").code().unwrap_or(-1)
}

fn crash_then_converge(failpoint: &str) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (a, b) = (dirs[0].path(), dirs[1].path());
    assert_eq!(child(a, b, "setup", None), 0);
    assert_eq!(
        child(a, b, "run", Some(failpoint)),
        86,
        "the child died at `{failpoint}`"
    );
    assert_eq!(child(a, b, "run", None), 0, "the restarted child converges");

    let pair = Pair::open(a, b, Spec::default());
    let on_a = pair.a.tracker().list(None).unwrap();
    let on_b = pair.b.tracker().list(None).unwrap();
    assert_eq!(on_a.len(), 5, "nothing doubled on A after `{failpoint}`");
    assert_eq!(
        on_b.len(),
        5,
        "every issue arrived once on B after `{failpoint}`"
    );
    for issue in &on_a {
        let twin = pair.twin_on_b(issue);
        assert_eq!(twin.issue.summary, issue.issue.summary);
        assert_eq!(issue.issue.comments.len(), 3, "A: {issue:?}");
        assert_eq!(twin.issue.comments.len(), 3, "B: {twin:?}");
        assert_eq!(issue.issue.attachments.len(), 1);
        assert_eq!(twin.issue.attachments.len(), 1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(pair.settle().await, 1, "converged: nothing left to move");
        let a1 = &on_a[0];
        let twin = pair.twin_on_b(a1);
        let bytes = pair
            .b
            .tracker()
            .download_attachment(&twin.id, &twin.issue.attachments[0].id)
            .await
            .unwrap();
        assert_eq!(bytes, b"log of issue 0");
    });
}

#[test]
fn a_crash_right_after_the_outbox_append_loses_nothing() {
    crash_then_converge("after-outbox-append");
}

#[test]
fn a_crash_between_a_tracker_write_and_its_twin_record_makes_no_second_copy() {
    crash_then_converge("after-tracker-write");
}

#[test]
fn a_crash_before_the_ack_is_sent_delivers_once() {
    crash_then_converge("before-ack");
}
