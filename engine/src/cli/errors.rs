//! `tandem errors …`: what failed, per issue or connection, with a hint, and
//! the person's answer to it: retry, or resolve (forget it).

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use super::CliError;
use crate::admin::{Reply, Request};
use crate::node::Node;
use crate::sync::ErrorRecord;

#[derive(Debug, Subcommand)]
pub enum ErrorsCommand {
    /// Every error recorded on this node.
    List,
    /// One error, with the message that failed.
    Show { id: String },
    /// Try the failed step again.
    Retry { id: String },
    /// Forget the error without retrying.
    Resolve { id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorsRequest {
    List,
    Show { id: String },
    Retry { id: String },
    Resolve { id: String },
}

impl ErrorsCommand {
    pub fn request(self) -> Request {
        Request::Errors(match self {
            ErrorsCommand::List => ErrorsRequest::List,
            ErrorsCommand::Show { id } => ErrorsRequest::Show { id },
            ErrorsCommand::Retry { id } => ErrorsRequest::Retry { id },
            ErrorsCommand::Resolve { id } => ErrorsRequest::Resolve { id },
        })
    }
}

/// An error's id: its connection's name and the issue it is about.
fn id_of(node: &Node, e: &ErrorRecord) -> String {
    let name = node
        .sync()
        .ok()
        .and_then(|s| s.connections().ok())
        .and_then(|all| all.into_iter().find(|c| c.id == e.connection))
        .map_or_else(|| e.connection.clone(), |c| c.name);
    format!("{name}/{}", e.issue)
}

fn shape(node: &Node, e: &ErrorRecord) -> serde_json::Value {
    serde_json::json!({
        "id": id_of(node, e), "connection": e.connection, "issue": e.issue, "kind": e.kind,
        "message": e.message, "first_seen": e.first_seen, "last_seen": e.last_seen,
        "count": e.count, "hint": e.hint,
    })
}

fn find(node: &Node, id: &str) -> Result<ErrorRecord, CliError> {
    let sync = node.sync()?;
    let errors = sync
        .errors()
        .map_err(|e| CliError::failed("store", e.to_string()))?;
    errors
        .into_iter()
        .find(|e| id_of(node, e) == id)
        .ok_or_else(|| {
            CliError::failed(
                "not_found",
                format!("no error `{id}` (see `tandem errors list`)"),
            )
        })
}

pub fn handle(node: &Node, request: ErrorsRequest) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let store = |e: crate::sync::SyncError| CliError::failed("store", e.to_string());
    match request {
        ErrorsRequest::List => {
            let errors = sync.errors().map_err(store)?;
            let value: Vec<_> = errors.iter().map(|e| shape(node, e)).collect();
            let text = if errors.is_empty() {
                "no errors".to_string()
            } else {
                errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{}\t{} x{}\t{}\n  hint: {}",
                            id_of(node, e),
                            e.kind,
                            e.count,
                            e.message,
                            e.hint
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Reply::new(value, text))
        }
        ErrorsRequest::Show { id } => {
            let e = find(node, &id)?;
            let value = shape(node, &e);
            Ok(Reply::new(
                &value,
                serde_json::to_string_pretty(&value).unwrap_or_default(),
            ))
        }
        ErrorsRequest::Retry { id } => {
            let e = find(node, &id)?;
            sync.retry(&e.connection, &e.issue).map_err(store)?;
            node.signals.inbox.notify_one();
            node.changed();
            Ok(Reply::new(
                serde_json::json!({ "retried": id }),
                format!("{id} queued for another try"),
            ))
        }
        ErrorsRequest::Resolve { id } => {
            let e = find(node, &id)?;
            sync.resolve(&e.connection, &e.issue).map_err(store)?;
            Ok(Reply::new(
                serde_json::json!({ "resolved": id }),
                format!("{id} resolved"),
            ))
        }
    }
}
