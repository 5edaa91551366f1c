//! One Basic round (`outgoing` then `incoming`) on an issue with 10 comments and
//! 2 attachments: through the signed component (a fresh Store from the
//! InstancePre for each call, as the pipeline does) and through the same
//! mapping written natively, to show what the sandbox costs.
//!
//! `cargo bench -p tandem --bench rules_round`

use criterion::{Criterion, criterion_group, criterion_main};
use tandem::model::{
    Attachment, AttachmentUpdate, Comment, CommentUpdate, Context, Issue, Project, Replica, Side,
    Update,
};
use tandem::rules::{Limits, RulesHost};

fn issue() -> Issue {
    Issue {
        key: "OPS-12".into(),
        summary: "Printer on fire".into(),
        description: "It smokes, and the paper tray is melting into the carpet.".into(),
        issue_type: "Bug".into(),
        status: "Open".into(),
        priority: "High".into(),
        labels: vec!["hw".into()],
        comments: (0..10)
            .map(|i| Comment {
                id: format!("{}", 10_000 + i),
                author: "alice".into(),
                body: format!("Comment number {i}: still smoking, please send help."),
                created: "2026-12-01T10:00:00Z".into(),
                internal: i % 3 == 0,
            })
            .collect(),
        attachments: (0..2)
            .map(|i| Attachment {
                id: format!("{}", 20_000 + i),
                filename: format!("log-{i}.txt"),
                mime_type: "text/plain".into(),
                size: 1234,
                sha256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03".into(),
            })
            .collect(),
        fields: Default::default(),
    }
}

fn context() -> Context {
    Context {
        connection: "acme-globex".into(),
        side: Side::Private,
        first_sync: true,
        remote_key: Some("OPS-12".into()),
        project: Project {
            key: "SUP".into(),
            issue_types: vec!["Bug".into(), "Task".into(), "Story".into()],
            default_issue_type: Some("Story".into()),
        },
    }
}

/// The Basic mapping in plain Rust, as the baseline.
fn native_round(ctx: &Context, issue: &Issue) -> Update {
    let replica = Replica {
        key: issue.key.clone(),
        summary: Some(issue.summary.clone()),
        description: Some(issue.description.clone()),
        issue_type: Some(issue.issue_type.clone()),
        comments: issue.comments.clone(),
        attachments: issue.attachments.clone(),
        ..Replica::default()
    };
    let types = &ctx.project.issue_types;
    let wanted = replica.issue_type.clone().unwrap_or_default();
    let issue_type = types
        .iter()
        .find(|t| t.eq_ignore_ascii_case(&wanted))
        .cloned()
        .or_else(|| ctx.project.default_issue_type.clone())
        .unwrap_or_else(|| "Task".into());
    Update {
        summary: replica.summary,
        description: replica.description,
        issue_type: Some(issue_type),
        comments: replica
            .comments
            .into_iter()
            .map(|c| CommentUpdate {
                remote_id: c.id,
                author: c.author,
                body: c.body,
                internal: false,
            })
            .collect(),
        attachments: replica
            .attachments
            .into_iter()
            .map(|a| AttachmentUpdate {
                remote_id: a.id,
                filename: a.filename,
            })
            .collect(),
        ..Update::default()
    }
}

fn bench(c: &mut Criterion) {
    let host = RulesHost::new(Limits::default(), None).expect("host");
    let basic = host.load_basic().expect("basic");
    let ctx = context();
    let issue = issue();

    // Both ways must agree, or the comparison means nothing.
    let replica = basic.outgoing(&ctx, &issue).unwrap();
    assert_eq!(
        basic.incoming(&ctx, &replica, None, None).unwrap(),
        native_round(&ctx, &issue)
    );

    let mut group = c.benchmark_group("basic_round_10_comments_2_attachments");
    group.bench_function("component", |b| {
        b.iter(|| {
            let replica = basic.outgoing(&ctx, &issue).unwrap();
            basic.incoming(&ctx, &replica, None, None).unwrap()
        })
    });
    group.bench_function("native", |b| b.iter(|| native_round(&ctx, &issue)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
