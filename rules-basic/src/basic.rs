//! The Basic mapping itself, free of any export glue.

use crate::{AttachmentUpdate, CommentUpdate, Context, Issue, Replica, Update};

/// The issue type every tracker is expected to have when nothing else fits.
pub const LAST_RESORT_TYPE: &str = "Task";

/// Builds the replica: the five Basic members, nothing else leaves this side.
pub fn outgoing(_ctx: &Context, issue: Issue) -> Replica {
    Replica {
        key: issue.key,
        summary: Some(issue.summary),
        description: Some(issue.description),
        issue_type: Some(issue.issue_type),
        status: None,
        priority: None,
        labels: None,
        comments: issue.comments,
        attachments: issue.attachments,
        fields: Vec::new(),
    }
}

/// Decides what to set on this side from a replica of the other side's issue.
pub fn incoming(
    ctx: &Context,
    replica: Replica,
    previous: Option<&Replica>,
    local: Option<&Issue>,
) -> Update {
    let prev = |pick: fn(&Replica) -> &Option<String>| previous.and_then(|p| pick(p).as_deref());
    let summary = changed(replica.summary, prev(|p| &p.summary), local.map(|l| l.summary.as_str()));
    let description = changed(
        replica.description,
        prev(|p| &p.description),
        local.map(|l| l.description.as_str()),
    );
    let issue_type = changed(
        replica.issue_type,
        prev(|p| &p.issue_type),
        // The local type is compared after mapping, below.
        None,
    )
    .map(|remote| mirror_type(ctx, &remote))
    .filter(|mapped| local.is_none_or(|l| l.issue_type != *mapped));

    let comments = replica
        .comments
        .into_iter()
        .map(|c| CommentUpdate {
            remote_id: c.id,
            author: c.author,
            body: c.body,
            internal: false,
        })
        .collect();
    let attachments = replica
        .attachments
        .into_iter()
        .map(|a| AttachmentUpdate {
            remote_id: a.id,
            filename: a.filename,
        })
        .collect();

    Update {
        summary,
        description,
        issue_type,
        status: None,
        priority: None,
        labels: None,
        fields: Vec::new(),
        comments,
        attachments,
    }
}

/// Three-way merge of one field: take the remote value only when the other side
/// changed it since the previous replica, and only when it differs from ours.
fn changed(remote: Option<String>, previous: Option<&str>, local: Option<&str>) -> Option<String> {
    let remote = remote?;
    if previous == Some(remote.as_str()) || local == Some(remote.as_str()) {
        return None;
    }
    Some(remote)
}

/// The issue type by name; the project's default when this side lacks it; `Task`
/// when the project has no default.
pub fn mirror_type(ctx: &Context, remote: &str) -> String {
    let types = &ctx.project.issue_types;
    if let Some(same) = types.iter().find(|t| t.as_str() == remote) {
        return same.clone();
    }
    // Trackers disagree on capitalisation ("bug" on Redmine, "Bug" on Jira).
    if let Some(alike) = types.iter().find(|t| t.eq_ignore_ascii_case(remote)) {
        return alike.clone();
    }
    match ctx.project.default_issue_type.as_deref() {
        Some(default) if !default.is_empty() => default.to_string(),
        _ => LAST_RESORT_TYPE.to_string(),
    }
}
