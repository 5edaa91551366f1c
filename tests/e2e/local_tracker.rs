//! The embedded `local` tracker: a person's `tandem init|project|issue`, data
//! that survives between processes, and the `Tracker` contract the sync uses.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tandem::store::Store;
use tandem::tracker::local::LocalTracker;
use tandem::tracker::{FieldChanges, Mark, Marked, NewIssue, Tracker, TrackerError};

use tandem_tests::tandem;

fn at(data: &Path, args: &[&str]) -> tandem_tests::Run {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    tandem(data.parent().unwrap(), &all)
}

#[test]
fn init_creates_a_private_secret_and_never_clobbers_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("acme");
    let run = at(&data, &["init", "--name", "acme", "--tracker", "local"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mode = std::fs::metadata(data.join("node.secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(data.join("tandem.toml"))
            .unwrap()
            .contains("name = \"acme\"")
    );

    assert_eq!(
        at(&data, &["project", "create", "OPS", "--types", "Bug,Task"]).code,
        0
    );
    assert_eq!(
        at(
            &data,
            &[
                "issue",
                "create",
                "--project",
                "OPS",
                "--type",
                "Bug",
                "--summary",
                "keep me"
            ]
        )
        .stdout
        .trim(),
        "OPS-1"
    );
    let secret = std::fs::read(data.join("node.secret")).unwrap();

    let again = at(&data, &["init", "--name", "other"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);

    let forced = at(&data, &["init", "--name", "acme2", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        std::fs::read(data.join("node.secret")).unwrap(),
        secret,
        "the secret is kept"
    );
    let show = at(&data, &["issue", "show", "OPS-1", "--json"]);
    assert_eq!(show.json()["summary"], "keep me", "data is kept");
}

#[test]
fn a_person_creates_comments_attaches_edits_and_deletes_issues() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("acme");
    assert_eq!(at(&data, &["init", "--name", "acme"]).code, 0);
    let run = at(
        &data,
        &[
            "project",
            "create",
            "OPS",
            "--types",
            "Bug,Task,Story",
            "--default-type",
            "Story",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let created = at(
        &data,
        &[
            "--json",
            "issue",
            "create",
            "--project",
            "OPS",
            "--type",
            "Bug",
            "--summary",
            "Printer on fire",
            "--description",
            "It smokes",
            "--label",
            "hw",
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(created.json()["key"], "OPS-1");
    assert_eq!(
        at(
            &data,
            &[
                "issue",
                "comment",
                "OPS-1",
                "--body",
                "seen it",
                "--internal"
            ]
        )
        .code,
        0
    );
    assert_eq!(
        at(&data, &["issue", "comment", "OPS-1", "--body", "on my way"]).code,
        0
    );
    let file = dir.path().join("log.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(
        at(&data, &["issue", "attach", "OPS-1", file.to_str().unwrap()]).code,
        0
    );
    assert_eq!(
        at(
            &data,
            &[
                "issue",
                "edit",
                "OPS-1",
                "--status",
                "In Progress",
                "--summary",
                "Printer still on fire"
            ]
        )
        .code,
        0
    );

    let issue = at(&data, &["--json", "issue", "show", "OPS-1"]).json();
    assert_eq!(issue["summary"], "Printer still on fire");
    assert_eq!(issue["status"], "In Progress");
    assert_eq!(issue["labels"][0], "hw");
    assert_eq!(issue["comments"][0]["internal"], true);
    assert_eq!(issue["comments"][1]["internal"], false);
    assert!(issue["id"].is_string() && issue["comments"][0]["id"].is_string());
    let sha = issue["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(issue["attachments"][0]["size"], 300_000);
    let stored = data.join("attachments").join(&sha[..2]).join(&sha);
    assert_eq!(
        std::fs::read(stored).unwrap(),
        bytes,
        "stored content-addressed, byte-identical"
    );

    let bad_type = at(
        &data,
        &[
            "issue",
            "create",
            "--project",
            "OPS",
            "--type",
            "Epic",
            "--summary",
            "x",
        ],
    );
    assert_eq!(bad_type.code, 1);
    assert!(
        bad_type.stderr.contains("Bug, Task, Story"),
        "{}",
        bad_type.stderr
    );
    let no_project = at(
        &data,
        &[
            "issue",
            "create",
            "--project",
            "NOPE",
            "--type",
            "Bug",
            "--summary",
            "x",
        ],
    );
    assert!(
        no_project.stderr.contains("tandem project create"),
        "{}",
        no_project.stderr
    );

    assert_eq!(at(&data, &["issue", "delete", "OPS-1"]).code, 0);
    let gone = at(&data, &["issue", "show", "OPS-1"]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("deleted"), "{}", gone.stderr);
    assert_eq!(
        at(&data, &["--json", "issue", "list"]).json(),
        serde_json::json!([])
    );
}

fn tracker(dir: &Path) -> LocalTracker {
    let store = Store::open(&dir.join("tandem.redb")).unwrap();
    let tracker = LocalTracker::new(store, &dir.join("attachments"), "acme");
    tracker
        .create_project("OPS", &["Bug".into(), "Task".into()], Some("Task"))
        .unwrap();
    tracker
}

fn new_issue(summary: &str) -> NewIssue {
    NewIssue {
        project: "OPS".into(),
        issue_type: "Bug".into(),
        summary: summary.into(),
        ..NewIssue::default()
    }
}

#[tokio::test]
async fn changes_since_a_cursor_are_each_seen_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = tracker(dir.path());
    let ids: Vec<String> = (0..3)
        .map(|i| t.create(&new_issue(&format!("issue {i}"))).unwrap().id)
        .collect();

    let first = t.changed_since(None).await.unwrap();
    assert_eq!(first.issues, ids);
    let quiet = t.changed_since(Some(&first.cursor)).await.unwrap();
    assert!(
        quiet.issues.is_empty(),
        "no endless loop of the same issues"
    );
    assert_eq!(quiet.cursor, first.cursor);

    // Two edits right after the cursor, in the same second: both seen, once.
    t.edit(
        &ids[1],
        &FieldChanges {
            summary: Some("edited".into()),
            ..Default::default()
        },
    )
    .unwrap();
    t.comment(&ids[1], "and commented", false).unwrap();
    t.edit(
        &ids[0],
        &FieldChanges {
            status: Some("Done".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let next = t.changed_since(Some(&first.cursor)).await.unwrap();
    assert_eq!(next.issues, vec![ids[1].clone(), ids[0].clone()]);
    assert!(
        t.changed_since(Some(&next.cursor))
            .await
            .unwrap()
            .issues
            .is_empty()
    );
}

#[tokio::test]
async fn what_the_sync_creates_carries_a_mark_it_can_find_again() {
    let dir = tempfile::tempdir().unwrap();
    let t = tracker(dir.path());
    let issue = t
        .create_issue(&new_issue("from the other side"), &Mark("m-issue".into()))
        .await
        .unwrap();
    let comment = t
        .add_comment(
            &issue,
            "alice",
            "alice wrote: hi",
            false,
            &Mark("m-comment".into()),
        )
        .await
        .unwrap();
    let attachment = t
        .upload_attachment(&issue, "a.txt", b"bytes", &Mark("m-att".into()))
        .await
        .unwrap();

    assert_eq!(
        t.find_mark(&Mark("m-issue".into()), &Default::default())
            .await
            .unwrap(),
        Some(Marked::Issue {
            issue: issue.clone()
        })
    );
    assert_eq!(
        t.find_mark(&Mark("m-comment".into()), &Default::default())
            .await
            .unwrap(),
        Some(Marked::Comment {
            issue: issue.clone(),
            comment: comment.clone()
        })
    );
    assert_eq!(
        t.find_mark(&Mark("m-att".into()), &Default::default())
            .await
            .unwrap(),
        Some(Marked::Attachment {
            issue: issue.clone(),
            attachment: attachment.clone()
        })
    );
    assert_eq!(
        t.find_mark(&Mark("never-written".into()), &Default::default())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        t.download_attachment(&issue, &attachment).await.unwrap(),
        b"bytes"
    );

    t.edit_comment(&issue, &comment, "alice wrote: hi (edited)")
        .await
        .unwrap();
    let read = t.read_issue(&issue).await.unwrap();
    assert_eq!(read.issue.comments[0].body, "alice wrote: hi (edited)");
    assert!(
        !read.issue.comments[0].internal,
        "editing never changes visibility"
    );

    let project = t.project("OPS").await.unwrap();
    assert_eq!(project.default_issue_type.as_deref(), Some("Task"));
    assert!(matches!(
        t.project("NOPE").await,
        Err(TrackerError::NotFound(_))
    ));
    let rejected = t
        .set_fields(
            &issue,
            &FieldChanges {
                issue_type: Some("Epic".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(rejected, Err(TrackerError::Rejected(_))),
        "{rejected:?}"
    );
}

#[test]
fn a_database_from_a_newer_tandem_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tandem.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        tx.commit().unwrap();
    }
    let err = Store::open(&path).err().expect("refused");
    assert!(err.to_string().contains("newer tandem"), "{err}");
}
