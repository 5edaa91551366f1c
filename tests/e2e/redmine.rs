//! Against real Redmine (`scripts/redmine`; gated by `TANDEM_REDMINE=1`): the
//! connector's contract, two Redmine nodes syncing over a private
//! connection, and a crash between a Redmine write and its twin record.

use std::time::Duration;

use serde_json::Value;
use tandem::tracker::redmine::RedmineTracker;
use tandem::tracker::{FieldChanges, Mark, MarkHint, Marked, NewIssue, Tracker};
use tandem_tests::drain;
use tandem_tests::node::{NodeProc, eventually};
use tandem_tests::redmine::{Redmine, instances, unique};

const SETTLE: Duration = Duration::from_secs(60);

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_redmine_connector_keeps_its_contract() {
    let Some((a, _)) = instances() else { return };
    let project = unique("contract");
    a.project(&project, &[1, 2]);
    let t = RedmineTracker::new(&a.url, a.key.clone()).unwrap();
    block(async {
        let info = t.project(&project).await.unwrap();
        assert_eq!(info.issue_types, ["Bug", "Feature"]);
        assert_eq!(info.default_issue_type.as_deref(), Some("Bug"));

        let new = NewIssue {
            project: project.clone(),
            issue_type: "Feature".into(),
            summary: "Export to CSV".into(),
            description: "line one\nline two".into(),
            ..Default::default()
        };
        let id = t.create_issue(&new, &Mark("m".into())).await.unwrap();
        let read = t.read_issue(&id).await.unwrap();
        assert_eq!(read.project, project);
        assert_eq!(read.issue.summary, "Export to CSV");
        assert_eq!(
            read.issue.description, "line one\nline two",
            "no \\r\\n comes back"
        );
        assert_eq!(read.issue.issue_type, "Feature");
        // Found again by its hint, as a crash recovery would look for it.
        let hint = MarkHint {
            project: project.clone(),
            text: "Export to CSV".into(),
            since: humantime::format_rfc3339_seconds(
                std::time::SystemTime::now() - Duration::from_secs(60),
            )
            .to_string(),
            ..Default::default()
        };
        assert_eq!(
            t.find_mark(&Mark("tandem:c:r:issue".into()), &hint)
                .await
                .unwrap(),
            Some(Marked::Issue { issue: id.clone() })
        );

        t.set_fields(
            &id,
            &FieldChanges {
                summary: Some("Export to CSV and XLSX".into()),
                status: Some("In Progress".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let public = t
            .add_comment(&id, "alice", "public note", false, &Mark("c1".into()))
            .await
            .unwrap();
        let internal = t
            .add_comment(&id, "alice", "internal note", true, &Mark("c2".into()))
            .await
            .unwrap();
        t.edit_comment(&id, &public, "public note, edited")
            .await
            .unwrap();
        let bytes: Vec<u8> = (0..=255u8).chain(b"\r\n\0end".iter().copied()).collect();
        let attachment = t
            .upload_attachment(&id, "data.bin", &bytes, &Mark("a1".into()))
            .await
            .unwrap();
        assert_eq!(
            t.download_attachment(&id, &attachment).await.unwrap(),
            bytes,
            "byte-identical"
        );

        let read = t.read_issue(&id).await.unwrap();
        assert_eq!(read.issue.summary, "Export to CSV and XLSX");
        assert_eq!(read.issue.status, "In Progress");
        let comments: Vec<(String, String, bool)> = read
            .issue
            .comments
            .iter()
            .map(|c| (c.id.clone(), c.body.clone(), c.internal))
            .collect();
        assert_eq!(
            comments,
            [
                (public.clone(), "public note, edited".to_string(), false),
                (internal.clone(), "internal note".to_string(), true)
            ],
            "field-change journals are not comments"
        );
        assert_eq!(
            read.issue.comments[0].author, "alice",
            "the author Redmine cannot set is read back from the note"
        );
        // (`Redmine::call` blocks: off this runtime's thread.)
        let raw = std::thread::scope(|s| {
            s.spawn(|| a.call("GET", &format!("/issues/{id}.json?include=journals"), None))
                .join()
                .unwrap()
        });
        assert!(
            notes(&raw["issue"]).contains(&"alice wrote:\npublic note, edited".to_string()),
            "an edit keeps who wrote it: {:?}",
            notes(&raw["issue"])
        );
        assert_eq!(
            read.issue.attachments[0].sha256,
            tandem::transport::auth::sha256_hex(&bytes)
        );

        // The writes are found again by their hints (what a crash recovery does).
        let since = humantime::format_rfc3339_seconds(
            std::time::SystemTime::now() - Duration::from_secs(60),
        )
        .to_string();
        let hint = |issue: Option<&str>, text: &str, size: Option<u64>| MarkHint {
            project: project.clone(),
            issue: issue.map(String::from),
            text: text.into(),
            size,
            since: since.clone(),
        };
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r:comment:9".into()),
                &hint(Some(&id), "internal note", None)
            )
            .await
            .unwrap(),
            Some(Marked::Comment {
                issue: id.clone(),
                comment: internal.clone()
            })
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r:attachment:9".into()),
                &hint(Some(&id), "data.bin", Some(bytes.len() as u64))
            )
            .await
            .unwrap(),
            Some(Marked::Attachment {
                issue: id.clone(),
                attachment: attachment.clone()
            })
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r:comment:9".into()),
                &hint(Some(&id), "never written", None)
            )
            .await
            .unwrap(),
            None
        );

        // The change feed: updates in the cursor's own second are not missed,
        // and nothing comes back forever.
        // Redmine filters `updated_on>=` to the minute: issues a second
        // older than the cursor come back and must not pull it back (the
        // drain fails if the feed never ends).
        let cursor = drain(&t, None).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second = t
            .create_issue(
                &NewIssue {
                    summary: "second".into(),
                    ..new.clone()
                },
                &Mark("m2".into()),
            )
            .await
            .unwrap();
        let cursor = drain(&t, cursor).await;
        t.set_fields(
            &id,
            &FieldChanges {
                description: Some("changed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        t.set_fields(
            &second,
            &FieldChanges {
                description: Some("changed too".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // Both come, at the latest once their second has passed on
        // Redmine's clock; then nothing comes back forever.
        let mut cursor = cursor;
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..12 {
            let changes = t.changed_since(cursor.as_ref()).await.unwrap();
            for issue in changes.issues {
                *seen.entry(issue).or_default() += 1;
            }
            cursor = Some(changes.cursor);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Other tests share this Redmine: only this test's issues are checked.
        let mut want = vec![id.clone(), second.clone()];
        want.sort();
        seen.retain(|issue, _| want.contains(issue));
        assert_eq!(
            seen.keys().cloned().collect::<Vec<_>>(),
            want,
            "updates in the cursor's second are seen"
        );
        assert!(
            seen.values().all(|n| *n <= 2),
            "an issue is returned at most once more after its second: {seen:?}"
        );
    });
}

/// Two Redmine-backed nodes, `a` public and `b` private; projects on each.
fn redmine_pair(
    root: &std::path::Path,
    a: &Redmine,
    b: &Redmine,
    pa: &str,
    pb: &str,
) -> (NodeProc, NodeProc) {
    let mut na = NodeProc::init_with(
        root,
        "ra",
        true,
        &[
            "--tracker",
            "redmine",
            "--redmine-url",
            &a.url,
            "--secret-env",
            "TANDEM_REDMINE_A_KEY",
        ],
    );
    let mut nb = NodeProc::init_with(
        root,
        "rb",
        false,
        &[
            "--tracker",
            "redmine",
            "--redmine-url",
            &b.url,
            "--secret-env",
            "TANDEM_REDMINE_B_KEY",
        ],
    );
    na.start();
    nb.start();
    let code = na.initiate("ra-rb", pa, &format!("project = {pa}"));
    nb.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        pb,
        "--trigger",
        &format!("project = {pb}"),
        "--name",
        "rb-ra",
    ]);
    (na, nb)
}

fn notes(issue: &Value) -> Vec<String> {
    issue["journals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["notes"].as_str())
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn two_redmines_sync_over_a_private_connection() {
    let Some((a, b)) = instances() else { return };
    let (pa, pb) = (unique("ra"), unique("rb"));
    a.project(&pa, &[1, 2, 3]);
    b.project(&pb, &[1, 2]); // no Support; Bug comes first, so it is the default
    let root = tempfile::tempdir().unwrap();
    let (na, nb) = redmine_pair(root.path(), &a, &b, &pa, &pb);

    let support = a.issue(&pa, 3, "Printer on fire", "It smokes\nbadly");
    a.note(support, "seen it", false);
    a.note(support, "our notes", true);
    eventually(
        "the issue arrives in Redmine B with both comments",
        SETTLE,
        || b.issues(&pb).first().is_some_and(|i| notes(i).len() == 2),
    );
    let on_b = b.issues(&pb).remove(0);
    assert_eq!(
        on_b["tracker"]["name"], "Bug",
        "Support is missing on B: the project's default tracker"
    );
    assert_eq!(
        on_b["description"].as_str().unwrap().replace("\r\n", "\n"),
        "It smokes\nbadly"
    );
    assert!(
        on_b["journals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["private_notes"] == false),
        "comments arrive public"
    );

    // Back the other way: a note on B reaches A once; descriptions do not echo.
    let b_id = on_b["id"].as_u64().unwrap();
    b.note(b_id, "fixed the fuser", false);
    eventually("B's note reaches A", SETTLE, || {
        notes(&a.issues(&pa)[0])
            .iter()
            .any(|n| n.ends_with(" wrote:\nfixed the fuser"))
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.issues(&pa).len(), 1);
    assert_eq!(b.issues(&pb).len(), 1);
    assert_eq!(
        notes(&a.issues(&pa)[0]).len(),
        3,
        "{:?}",
        notes(&a.issues(&pa)[0])
    );
    assert_eq!(notes(&b.issues(&pb)[0]).len(), 3);
    drop((na, nb));
}

#[test]
fn a_crash_after_a_redmine_write_makes_no_second_copy() {
    let Some((a, b)) = instances() else { return };
    let (pa, pb) = (unique("ca"), unique("cb"));
    a.project(&pa, &[1]);
    b.project(&pb, &[1]);
    let root = tempfile::tempdir().unwrap();
    let (na, mut nb) = redmine_pair(root.path(), &a, &b, &pa, &pb);
    // B dies right after each Redmine write, before recording the twin.
    nb.stop();
    nb.env("TANDEM_FAILPOINT", "after-tracker-write");
    let id = a.issue(&pa, 1, "Crash me", "once");
    a.note(id, "a comment", false);
    let crashes = crate::jira::crash_until_settled(&mut nb);
    assert!(
        crashes >= 2,
        "the failpoint was never reached:\n{}",
        nb.log()
    );
    nb.clear_env("TANDEM_FAILPOINT");
    nb.start();
    eventually("B settles with one issue and one comment", SETTLE, || {
        b.issues(&pb).first().is_some_and(|i| notes(i).len() == 1)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.issues(&pb).len(), 1, "no second issue");
    let once = notes(&b.issues(&pb)[0]);
    assert!(
        once.len() == 1 && once[0].ends_with(" wrote:\na comment"),
        "no second comment: {once:?}"
    );
    drop(na);
}

#[test]
fn jira_and_redmine_sync_over_a_private_connection() {
    let Some((a, _)) = instances() else { return };
    let jira = tandem_tests::jira::JiraServer::start(Default::default());
    jira.project("OPS", &["Bug", "Task", "Epic"]);
    let pa = unique("jr");
    a.project(&pa, &[2, 3]); // no Bug; Feature comes first: the project's default tracker
    let root = tempfile::tempdir().unwrap();
    let mut r = NodeProc::init_with(
        root.path(),
        "ra",
        true,
        &[
            "--tracker",
            "redmine",
            "--redmine-url",
            &a.url,
            "--secret-env",
            "TANDEM_REDMINE_A_KEY",
        ],
    );
    r.start();
    let mut j = crate::jira::jira_node(
        root.path(),
        "globex",
        &jira,
        false,
        &["--default-issue-type", "OPS=Task"],
    );
    j.start();
    let code = r.initiate("ra-globex", &pa, &format!("project = {pa}"));
    j.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "OPS",
        "--trigger",
        "project = OPS",
        "--name",
        "globex-ra",
    ]);

    let epic = jira.create("OPS", "Epic", "Migrate the printers", "all of them\nsoon");
    jira.comment(&epic, "plan attached", false);
    jira.comment(&epic, "budget is tight", true);
    jira.attach(&epic, "plan.txt", b"1. buy\n2. install\n");
    let support = a.issue(&pa, 3, "Toner empty", "on floor 3");
    a.note(support, "ordered more", false);

    eventually(
        "the Epic reaches Redmine with its notes and attachment",
        SETTLE,
        || {
            a.issues(&pa).iter().any(|i| {
                i["subject"] == "Migrate the printers"
                    && notes(i).len() == 2
                    && i["attachments"].as_array().is_some_and(|l| l.len() == 1)
            })
        },
    );
    eventually(
        "the Redmine issue reaches Jira with its note",
        SETTLE,
        || {
            jira.issues("OPS")
                .iter()
                .any(|i| i.summary == "Toner empty" && i.comments.len() == 1)
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let on_redmine = a.issues(&pa);
    assert_eq!(on_redmine.len(), 2, "no issue doubled in Redmine");
    let migrated = on_redmine
        .iter()
        .find(|i| i["subject"] == "Migrate the printers")
        .unwrap();
    assert_eq!(
        migrated["tracker"]["name"], "Feature",
        "Epic is missing in Redmine: the project's default tracker"
    );
    assert_eq!(
        migrated["description"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n"),
        "all of them\nsoon"
    );
    assert_eq!(
        notes(migrated),
        [
            "alice wrote:\nplan attached",
            "alice wrote:\nbudget is tight"
        ],
        "who wrote it stays visible"
    );
    assert!(
        migrated["journals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["private_notes"] == false),
        "comments arrive public"
    );
    let attachment = &migrated["attachments"][0];
    assert_eq!(
        (
            attachment["filename"].as_str(),
            attachment["filesize"].as_u64()
        ),
        (Some("plan.txt"), Some(18))
    );
    let ops = jira.issues("OPS");
    assert_eq!(ops.len(), 2, "no issue doubled in Jira");
    let toner = ops.iter().find(|i| i.summary == "Toner empty").unwrap();
    assert_eq!(
        toner.type_id, "10001",
        "Support is missing in OPS: the configured default, Task"
    );
    assert!(
        toner.comments.len() == 1 && toner.comments[0].body.ends_with(" wrote:\nordered more"),
        "{:?}",
        toner.comments
    );
    assert_eq!(
        ops.iter()
            .find(|i| i.summary == "Migrate the printers")
            .unwrap()
            .comments
            .len(),
        2,
        "nothing echoed back"
    );
    drop((r, j));
}
