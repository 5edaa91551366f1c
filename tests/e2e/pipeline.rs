//! Two nodes with `local` trackers wired by the in-process transport: Basic
//! semantics end to end, edits both ways, no echoes or duplicates, three-way
//! merges, dedupe, and errors that stay with their issue.

use tandem::rules::{Limits, RulesHost};
use tandem::tracker::{FieldChanges, NewIssue, TrackedIssue, Tracker};
use tandem_tests::guest;
use tandem_tests::pair::{CONN, Node, Pair, Spec};

/// A pair in fresh temporary dirs (kept alive as long as the pair).
fn pair_with(spec: Spec) -> (Pair, [tempfile::TempDir; 2]) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    (Pair::open(dirs[0].path(), dirs[1].path(), spec), dirs)
}

fn pair() -> (Pair, [tempfile::TempDir; 2]) {
    pair_with(Spec::default())
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
    let (p, _dirs) = pair();
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
    let (p, _dirs) = pair();
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
    let (p, _dirs) = pair();
    let epic = create(&p.a, "OPS", "Epic", "An epic");
    p.settle().await;
    assert_eq!(p.twin_on_b(&epic).issue.issue_type, "Story");

    let (p, _dirs) = pair_with(Spec {
        b_types: &["Bug", "Task"],
        b_default: None,
        a_rules: None,
    });
    let epic = create(&p.a, "OPS", "Epic", "An epic");
    p.settle().await;
    assert_eq!(p.twin_on_b(&epic).issue.issue_type, "Task");
}

#[tokio::test]
async fn the_same_envelope_delivered_three_times_changes_the_tracker_once() {
    let (p, _dirs) = pair();
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
    let (p, _dirs) = pair_with(Spec {
        b_types: &["Bug", "Task"],
        b_default: None,
        a_rules: Some(picky),
    });
    for i in 0..105 {
        create(&p.a, "OPS", "Bug", &format!("fine {i}"));
    }
    let bad = create(&p.a, "OPS", "Bug", "please panic");
    p.settle().await;

    assert_eq!(p.b.tracker().list(None).unwrap().len(), 105);
    // The last 100 replicas each way are kept for dry runs, oldest first.
    let sent = p.a.history(CONN, "sent").unwrap();
    assert_eq!(sent.len(), 100);
    let first = match &sent[0].body {
        tandem::sync::Body::Replica { replica, .. } => replica.summary.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first.as_deref(), Some("fine 5"));
    assert_eq!(p.b.history(CONN, "received").unwrap().len(), 100);
    let errors = p.a.errors().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].issue, bad.id);
    assert_eq!(errors[0].kind, "issue");
    assert!(
        errors[0].message.contains("cannot cope with OPS-106"),
        "{}",
        errors[0].message
    );
    assert!(!errors[0].hint.is_empty());
}

#[tokio::test]
async fn an_interactive_change_is_applied_ahead_of_a_bulk_sync() {
    let (p, _dirs) = pair();
    let early = create(&p.a, "OPS", "Bug", "synced before the bulk");
    p.settle().await;
    for i in 0..1000 {
        create(&p.a, "OPS", "Task", &format!("bulk {i}"));
    }
    p.a.poll().await.unwrap();
    p.a.push(CONN, &p.to_b).await.unwrap();
    p.b.apply_up_to(&p.to_a, 10).await.unwrap();

    // A person edits a synced issue while B works through the bulk.
    edit(&p.a, &early.id, |c| {
        c.summary = Some("edited during the bulk".into())
    });
    p.a.poll().await.unwrap();
    p.a.push(CONN, &p.to_b).await.unwrap();
    p.b.apply_up_to(&p.to_a, 1).await.unwrap();
    assert_eq!(
        p.twin_on_b(&early).issue.summary,
        "edited during the bulk",
        "the very next apply is the edit"
    );
    assert!(
        p.b.tracker().list(None).unwrap().len() < 50,
        "the bulk is still under way"
    );

    p.settle().await;
    assert_eq!(p.b.tracker().list(None).unwrap().len(), 1001);
    assert_eq!(p.twin_on_b(&early).issue.summary, "edited during the bulk");
}

#[tokio::test]
async fn a_deleted_issue_stops_syncing_and_its_twin_shows_remote_removed() {
    let (p, _dirs) = pair();
    let a1 = create(&p.a, "OPS", "Bug", "short-lived");
    p.settle().await;
    let b1 = p.twin_on_b(&a1);
    p.a.tracker().delete(&a1.id).unwrap();
    p.settle().await;

    let twins = p.b.twins_of(&b1.id).unwrap();
    assert_eq!(twins.len(), 1);
    assert!(twins[0].1.remote_removed, "{twins:?}");
    assert_eq!(
        p.b.tracker().find(&b1.id).unwrap().issue.summary,
        "short-lived",
        "deletes are not propagated"
    );

    // Edits to the orphan stay home.
    edit(&p.b, &b1.id, |c| c.summary = Some("still here".into()));
    assert_eq!(p.b.poll().await.unwrap().queued, 0);
}

#[tokio::test]
async fn the_same_field_edited_on_both_sides_ends_equal_with_the_later_edit() {
    for later_on_b in [true, false] {
        let (p, _dirs) = pair();
        let a1 = create(&p.a, "OPS", "Bug", "Original");
        p.settle().await;
        let b1 = p.twin_on_b(&a1);
        let (first, second) = if later_on_b {
            (&p.a, &p.b)
        } else {
            (&p.b, &p.a)
        };
        let id = |n: &Node| {
            if std::sync::Arc::ptr_eq(n, &p.a) {
                a1.id.clone()
            } else {
                b1.id.clone()
            }
        };
        edit(first, &id(first), |c| {
            c.summary = Some("the earlier edit".into())
        });
        // The trackers' clocks count whole seconds.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        edit(second, &id(second), |c| {
            c.summary = Some("the later edit".into())
        });
        p.a.poll().await.unwrap();
        p.b.poll().await.unwrap();
        p.settle().await;
        let on_a = p.a.tracker().find(&a1.id).unwrap().issue.summary;
        let on_b = p.b.tracker().find(&b1.id).unwrap().issue.summary;
        assert_eq!(
            (on_a.as_str(), on_b.as_str()),
            ("the later edit", "the later edit"),
            "later edit on B: {later_on_b}"
        );
    }
}
