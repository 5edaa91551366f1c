//! Service-desk rules: Basic, plus what a help desk needs when it syncs with
//! a customer's or a vendor's tracker.
//!
//! - Internal comments stay home: outgoing sends public comments only.
//! - Status and priority travel, and incoming ones are mapped through the
//!   tables below into this side's words (unknown values are left alone).
//! - Every issue the sync touches here carries the label `synced`.
//! - The other side's key goes into the custom field `remote_key`.
//!
//! Starts from the Basic rules (`rules-basic/src/basic.rs`) and changes only
//! what it must; `tandem rules new` gives the same starting point.

wit_bindgen::generate!({ path: "../../wit", world: "rules" });

#[path = "../../../rules-basic/src/basic.rs"]
mod basic;

// `basic` names these at the crate root.
use tandem::rules::types::{AttachmentUpdate, CommentUpdate, Field};

/// The other side's status -> this side's.
const STATUS: &[(&str, &str)] = &[
    ("Open", "New"),
    ("To Do", "New"),
    ("In Progress", "Working"),
    ("Waiting for customer", "Pending"),
    ("Done", "Resolved"),
    ("Closed", "Resolved"),
];

/// This side's status -> the words the other side knows.
const STATUS_OUT: &[(&str, &str)] = &[
    ("New", "Open"),
    ("Working", "In Progress"),
    ("Pending", "Waiting for customer"),
    ("Resolved", "Done"),
];

/// The other side's priority -> this side's.
const PRIORITY: &[(&str, &str)] = &[
    ("Highest", "P1"),
    ("High", "P1"),
    ("Medium", "P2"),
    ("Low", "P3"),
    ("Lowest", "P3"),
];

/// The label on every issue the sync touches here.
const SYNCED: &str = "synced";
/// The custom field that holds the other side's key.
const REMOTE_KEY_FIELD: &str = "remote_key";

fn map(table: &[(&str, &str)], value: &str) -> String {
    table
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(value))
        .map_or_else(|| value.to_string(), |(_, to)| to.to_string())
}

struct ServiceDesk;

impl Guest for ServiceDesk {
    fn outgoing(ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        let status = map(STATUS_OUT, &issue.status);
        let priority = issue.priority.clone();
        let mut replica = basic::outgoing(&ctx, issue);
        replica.comments.retain(|c| !c.internal);
        replica.status = Some(status);
        replica.priority = Some(priority);
        Ok(replica)
    }

    fn incoming(
        ctx: Context,
        replica: Replica,
        previous: Option<Replica>,
        local: Option<Issue>,
    ) -> Result<Update, RuleError> {
        let status = replica.status.as_deref().map(|s| map(STATUS, s));
        let priority = replica.priority.as_deref().map(|p| map(PRIORITY, p));
        let mut update = basic::incoming(&ctx, replica, previous.as_ref(), local.as_ref());
        update.status = status.filter(|s| local.as_ref().is_none_or(|l| l.status != *s));
        update.priority = priority.filter(|p| local.as_ref().is_none_or(|l| l.priority != *p));
        let mut labels = local.as_ref().map(|l| l.labels.clone()).unwrap_or_default();
        if !labels.iter().any(|l| l == SYNCED) {
            labels.push(SYNCED.into());
            update.labels = Some(labels);
        }
        if let Some(key) = &ctx.remote_key {
            let value = format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
            let held = local
                .as_ref()
                .and_then(|l| l.fields.iter().find(|f| f.name == REMOTE_KEY_FIELD))
                .map(|f| f.value.as_str());
            if held != Some(value.as_str()) {
                update.fields.push(Field { name: REMOTE_KEY_FIELD.into(), value });
            }
        }
        Ok(update)
    }
}

export!(ServiceDesk);
