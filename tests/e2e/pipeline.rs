//! Two nodes with `local` trackers wired by the in-process transport: Basic
//! semantics end to end, edits both ways, no echoes or duplicates, three-way
//! merges, dedupe, and errors that stay with their issue.

use std::path::Path;
use std::sync::Arc;

use tandem::model::Side;
use tandem::rules::{Limits, RulesComponent, RulesHost};
use tandem::store::Store;
use tandem::sync::{Connection, InProcess, Query, SyncNode};
use tandem::tracker::local::LocalTracker;
use tandem::tracker::{FieldChanges, NewIssue, TrackedIssue, Tracker};
use tandem_tests::guest;

const CONN: &str = "acme-globex";

type Node = Arc<SyncNode<LocalTracker>>;

struct Pair {
    a: Node,
    b: Node,
    to_b: InProcess<LocalTracker>,
    to_a: InProcess<LocalTracker>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn node(
    dir: &Path,
    name: &str,
    project: &str,
    types: &[&str],
    default: Option<&str>,
    trigger: Option<&str>,
    rules: RulesComponent,
) -> Node {
    let store = Store::open(&dir.join("tandem.redb")).unwrap();
    let tracker = LocalTracker::new(store.clone(), &dir.join("attachments"), name);
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    tracker.create_project(project, &types, default).unwrap();
    let node = SyncNode::new(name, store, tracker, rules);
    node.add_connection(&Connection {
        id: CONN.into(),
        name: format!("{name}-side"),
        project: project.into(),
        trigger: trigger.map(|t| Query::parse(t).unwrap()),
        side: Side::Public,
    })
    .unwrap();
    Arc::new(node)
}

fn pair_with(b_types: &[&str], b_default: Option<&str>, a_rules: Option<RulesComponent>) -> Pair {
    let host = RulesHost::new(Limits::default(), None).unwrap();
    let basic = host.load_basic().unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(
        da.path(),
        "acme",
        "OPS",
        &["Bug", "Task", "Epic"],
        None,
        Some("project = OPS"),
        a_rules.unwrap_or_else(|| basic.clone()),
    );
    let b = node(db.path(), "globex", "SUP", b_types, b_default, None, basic);
    Pair {
        to_b: InProcess::new(b.clone()),
        to_a: InProcess::new(a.clone()),
        a,
        b,
        _dirs: (da, db),
    }
}

fn pair() -> Pair {
    pair_with(&["Bug", "Task", "Story"], Some("Story"), None)
}

impl Pair {
    /// Runs both pipelines until nothing moves; returns the rounds it took.
    async fn settle(&self) -> usize {
        for round in 1..=20 {
            let mut moved = self.a.poll().await.unwrap().queued;
            moved += self.a.push(CONN, &self.to_b).await.unwrap();
            moved += self.b.apply_inbox(&self.to_a).await.unwrap().applied;
            moved += self.b.poll().await.unwrap().queued;
            moved += self.b.push(CONN, &self.to_a).await.unwrap();
            moved += self.a.apply_inbox(&self.to_b).await.unwrap().applied;
            if moved == 0 {
                return round;
            }
        }
        panic!("the pair did not settle in 20 rounds (an echo loop?)");
    }

    fn twin_on_b(&self, a_issue: &TrackedIssue) -> TrackedIssue {
        let id = self
            .b
            .local_twin_of(CONN, &a_issue.id)
            .unwrap()
            .expect("a twin on B");
        self.b.tracker().find(&id).unwrap()
    }
}

fn create(node: &Node, project: &str, issue_type: &str, summary: &str) -> TrackedIssue {
    let new = NewIssue {
        project: project.into(),
        issue_type: issue_type.into(),
        summary: summary.into(),
        description: "It smokes".into(),
        ..Default::default()
    };
    node.tracker().create(&new).unwrap()
}

fn edit(node: &Node, id: &str, f: impl FnOnce(&mut FieldChanges)) {
    let mut changes = FieldChanges::default();
    f(&mut changes);
    node.tracker().edit(id, &changes).unwrap();
}

#[tokio::test]
async fn an_issue_with_comments_and_attachments_arrives_and_edits_flow_both_ways_without_echo() {
    let p = pair();
    let a1 = create(&p.a, "OPS", "Bug", "Printer on fire");
    let t = p.a.tracker();
    t.comment(&a1.id, "seen it", true).unwrap();
    t.comment(&a1.id, "on my way", false).unwrap();
    t.comment(&a1.id, "fixed?", false).unwrap();
    let log: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    t.attach(&a1.id, "log.bin", &log).unwrap();
    t.attach(&a1.id, "same.txt", b"same bytes").unwrap();
    p.settle().await;

    let b1 = p.twin_on_b(&a1);
    assert_eq!(b1.issue.summary, "Printer on fire");
    assert_eq!(b1.issue.description, "It smokes");
    assert_eq!(b1.issue.issue_type, "Bug");
    assert_eq!(b1.issue.comments.len(), 3);
    assert!(
        b1.issue.comments.iter().all(|c| !c.internal),
        "every comment arrives public"
    );
    assert_eq!(b1.issue.attachments.len(), 2);
    let got =
        p.b.tracker()
            .download_attachment(&b1.id, &b1.issue.attachments[0].id)
            .await
            .unwrap();
    assert_eq!(got, log, "attachment bytes identical");

    for round in 0..10 {
        edit(&p.a, &a1.id, |c| {
            c.summary = Some(format!("Printer on fire, round {round}"))
        });
        edit(&p.b, &b1.id, |c| {
            c.description = Some(format!("Description from B, round {round}\r\n"))
        });
        if round % 3 == 0 {
            p.b.tracker()
                .comment(&b1.id, &format!("B says {round}"), false)
                .unwrap();
            p.a.tracker()
                .attach(
                    &a1.id,
                    &format!("r{round}.txt"),
                    format!("round {round}").as_bytes(),
                )
                .unwrap();
        }
        p.settle().await;
    }
    let a_now = p.a.tracker().find(&a1.id).unwrap().issue;
    let b_now = p.b.tracker().find(&b1.id).unwrap().issue;
    assert_eq!(a_now.summary, "Printer on fire, round 9");
    assert_eq!(b_now.summary, a_now.summary);
    assert_eq!(a_now.description.trim_end(), "Description from B, round 9");
    assert_eq!(a_now.comments.len(), 3 + 4, "no comment doubled");
    assert_eq!(b_now.comments.len(), 3 + 4, "no comment doubled");
    assert_eq!(a_now.attachments.len(), 2 + 4);
    assert_eq!(b_now.attachments.len(), 2 + 4, "no attachment doubled");
    assert!(
        a_now.comments[0].internal,
        "the internal comment on A is still internal"
    );

    // Settled means quiet: nothing is queued again, on either side.
    assert_eq!(
        p.a.poll().await.unwrap().queued + p.b.poll().await.unwrap().queued,
        0,
        "nothing echoes"
    );
}

#[tokio::test]
async fn concurrent_edits_to_different_fields_both_survive() {
    let p = pair();
    let a1 = create(&p.a, "OPS", "Bug", "Original summary");
    p.settle().await;
    let b1 = p.twin_on_b(&a1);

    edit(&p.a, &a1.id, |c| {
        c.summary = Some("Summary edited on A".into())
    });
    edit(&p.b, &b1.id, |c| {
        c.description = Some("Description edited on B".into())
    });
    // Both sides pick up their own edit before seeing the other's.
    p.a.poll().await.unwrap();
    p.b.poll().await.unwrap();
    p.settle().await;

    for issue in [
        p.a.tracker().find(&a1.id).unwrap(),
        p.b.tracker().find(&b1.id).unwrap(),
    ] {
        assert_eq!(issue.issue.summary, "Summary edited on A");
        assert_eq!(issue.issue.description, "Description edited on B");
    }
}

#[tokio::test]
async fn a_type_missing_on_b_lands_as_its_default_or_task() {
    let p = pair();
    let epic = create(&p.a, "OPS", "Epic", "An epic");
    p.settle().await;
    assert_eq!(p.twin_on_b(&epic).issue.issue_type, "Story");

    let p = pair_with(&["Bug", "Task"], None, None);
    let epic = create(&p.a, "OPS", "Epic", "An epic");
    p.settle().await;
    assert_eq!(p.twin_on_b(&epic).issue.issue_type, "Task");
}

#[tokio::test]
async fn the_same_envelope_delivered_three_times_changes_the_tracker_once() {
    let p = pair();
    let a1 = create(&p.a, "OPS", "Bug", "Once");
    p.a.tracker().comment(&a1.id, "only once", false).unwrap();
    p.a.poll().await.unwrap();
    let envelopes = p.a.outbox(CONN, 100).unwrap();
    assert_eq!(envelopes.len(), 1);
    for _ in 0..3 {
        p.b.receive(&envelopes).unwrap();
        p.b.apply_inbox(&p.to_a).await.unwrap();
    }
    let issues = p.b.tracker().list(None).unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].issue.comments.len(), 1);
}

#[tokio::test]
async fn a_trapping_rule_is_recorded_against_its_issue_while_a_hundred_others_sync() {
    let host = RulesHost::new(Limits::default(), None).unwrap();
    let picky = host.load_file(&guest!("REFUSES"), None).unwrap();
    let p = pair_with(&["Bug", "Task"], None, Some(picky));
    for i in 0..100 {
        create(&p.a, "OPS", "Bug", &format!("fine {i}"));
    }
    let bad = create(&p.a, "OPS", "Bug", "please panic");
    p.settle().await;

    assert_eq!(p.b.tracker().list(None).unwrap().len(), 100);
    let errors = p.a.errors().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].issue, bad.id);
    assert_eq!(errors[0].kind, "issue");
    assert!(
        errors[0].message.contains("cannot cope with OPS-101"),
        "{}",
        errors[0].message
    );
    assert!(!errors[0].hint.is_empty());
}
