//! `tandem issue …`: issues of the embedded `local` tracker, as a person uses them.

use std::path::PathBuf;

use clap::Subcommand;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::CliError;
use super::input::read_capped;
use crate::admin::{Reply, Request};
use crate::node::Node;
use crate::tracker::local::{LocalTracker, MAX_ATTACHMENT_BYTES};
use crate::tracker::{FieldChanges, NewIssue, TrackedIssue};

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Create an issue; prints its key (with --json, the issue).
    Create {
        #[arg(long)]
        project: String,
        #[arg(long = "type", value_name = "TYPE")]
        issue_type: String,
        #[arg(long)]
        summary: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        priority: Option<String>,
        /// A label (repeatable).
        #[arg(long = "label", value_name = "L")]
        labels: Vec<String>,
    },
    /// Change fields of an issue.
    Edit {
        key: String,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long = "type", value_name = "TYPE")]
        issue_type: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        priority: Option<String>,
    },
    /// Add a comment.
    Comment {
        key: String,
        #[arg(long)]
        body: String,
        /// Visible to this organisation only.
        #[arg(long)]
        internal: bool,
    },
    /// Attach a file.
    Attach { key: String, file: PathBuf },
    /// Delete an issue (its twin on the other side stays).
    Delete { key: String },
    /// Show an issue (with --json, DESIGN.md's issue shape, ids included).
    Show { key: String },
    /// List issues.
    List {
        #[arg(long)]
        project: Option<String>,
    },
}

/// `tandem issue` as data: the client has read the attached file already.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueRequest {
    Create(NewIssue),
    Edit {
        key: String,
        changes: FieldChanges,
    },
    Comment {
        key: String,
        body: String,
        internal: bool,
    },
    Attach {
        key: String,
        filename: String,
        bytes_base64: String,
    },
    Delete {
        key: String,
    },
    Show {
        key: String,
    },
    List {
        project: Option<String>,
    },
}

impl IssueCommand {
    pub fn request(self) -> Result<Request, CliError> {
        Ok(Request::Issue(match self {
            IssueCommand::Create {
                project,
                issue_type,
                summary,
                description,
                priority,
                labels,
            } => IssueRequest::Create(NewIssue {
                project,
                issue_type,
                summary,
                description,
                priority,
                labels,
            }),
            IssueCommand::Edit {
                key,
                summary,
                description,
                issue_type,
                status,
                priority,
            } => {
                let changes = FieldChanges {
                    summary,
                    description,
                    issue_type,
                    status,
                    priority,
                    labels: None,
                    fields: Default::default(),
                };
                if changes.is_empty() {
                    return Err(CliError::failed(
                        "usage",
                        "nothing to change: give --summary, --description, --type, --status or --priority",
                    ));
                }
                IssueRequest::Edit { key, changes }
            }
            IssueCommand::Comment {
                key,
                body,
                internal,
            } => IssueRequest::Comment {
                key,
                body,
                internal,
            },
            IssueCommand::Attach { key, file } => {
                let bytes = read_capped(&file, MAX_ATTACHMENT_BYTES as u64)?;
                let filename = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                IssueRequest::Attach {
                    key,
                    filename,
                    bytes_base64: B64.encode(bytes),
                }
            }
            IssueCommand::Delete { key } => IssueRequest::Delete { key },
            IssueCommand::Show { key } => IssueRequest::Show { key },
            IssueCommand::List { project } => IssueRequest::List { project },
        }))
    }
}

/// The embedded tracker, or a clear error on a node that serves another.
pub(crate) fn local_tracker(node: &Node) -> Result<&LocalTracker, CliError> {
    node.tracker.local().ok_or_else(|| {
        CliError::failed(
            "usage",
            format!(
                "this node serves a {} tracker; `tandem project` and `tandem issue` work on the embedded `local` tracker only (use the tracker's own UI)",
                node.config.tracker
            ),
        )
    })
}

pub fn handle(node: &Node, request: IssueRequest) -> Result<Reply, CliError> {
    let tracker = local_tracker(node)?;
    let writes = !matches!(
        request,
        IssueRequest::Show { .. } | IssueRequest::List { .. }
    );
    let reply = match request {
        IssueRequest::Create(new) => {
            let issue = tracker.create(&new)?;
            Reply::new(&issue, &issue.issue.key)
        }
        IssueRequest::Edit { key, changes } => {
            let issue = tracker.edit(&key, &changes)?;
            Reply::new(&issue, format!("{} updated", issue.issue.key))
        }
        IssueRequest::Comment {
            key,
            body,
            internal,
        } => {
            let id = tracker.comment(&key, &body, internal)?;
            Reply::new(
                serde_json::json!({ "id": id }),
                format!("comment {id} added to {key}"),
            )
        }
        IssueRequest::Attach {
            key,
            filename,
            bytes_base64,
        } => {
            let bytes = B64.decode(bytes_base64).map_err(|e| {
                CliError::failed(
                    "usage",
                    format!("the attachment did not arrive intact: {e}"),
                )
            })?;
            let id = tracker.attach(&key, &filename, &bytes)?;
            Reply::new(
                serde_json::json!({ "id": id }),
                format!("attachment {id} ({filename}) added to {key}"),
            )
        }
        IssueRequest::Delete { key } => {
            tracker.delete(&key)?;
            Reply::new(
                serde_json::json!({ "deleted": key }),
                format!("{key} deleted"),
            )
        }
        IssueRequest::Show { key } => {
            let issue = tracker.find(&key)?;
            let twins = crate::sync::twins_of(&node.store, &issue.id)
                .map_err(|e| CliError::failed("store", e.to_string()))?;
            // Connections by the name people gave them, not their ids.
            let names: std::collections::HashMap<String, String> = node
                .sync()?
                .connections()
                .map_err(|e| CliError::failed("store", e.to_string()))?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect();
            let twins: Vec<_> = twins
                .into_iter()
                .map(|(id, t)| (names.get(&id).cloned().unwrap_or(id), t))
                .collect();
            let mut value = serde_json::to_value(&issue).unwrap_or_default();
            value["twins"] = twins
                .iter()
                .map(|(conn, t)| {
                    serde_json::json!({ "connection": conn, "remote_id": t.remote, "remote_key": t.remote_key, "remote_removed": t.remote_removed })
                })
                .collect();
            let mut text = issue_text(&issue);
            for (conn, t) in &twins {
                let removed = if t.remote_removed {
                    " (remote removed: no longer synced)"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "\n-- synced on {conn} with {}{removed}",
                    t.remote_key
                ));
            }
            Reply { value, text }
        }
        IssueRequest::List { project } => {
            let issues = tracker.list(project.as_deref())?;
            let text = issues
                .iter()
                .map(|i| {
                    format!(
                        "{}\t{}\t{}\t{}",
                        i.issue.key, i.issue.issue_type, i.issue.status, i.issue.summary
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Reply::new(&issues, text)
        }
    };
    if writes {
        // The watcher picks the change up now rather than at its next tick.
        node.changed();
    }
    Ok(reply)
}

fn issue_text(t: &TrackedIssue) -> String {
    use std::fmt::Write;
    let i = &t.issue;
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", i.key, i.summary);
    let _ = write!(
        out,
        "type: {}   status: {}   priority: {}   updated: {}",
        i.issue_type, i.status, i.priority, t.updated
    );
    if !i.labels.is_empty() {
        let _ = write!(out, "\nlabels: {}", i.labels.join(", "));
    }
    if !i.description.is_empty() {
        let _ = write!(out, "\n\n{}", i.description);
    }
    for c in &i.comments {
        let vis = if c.internal { " (internal)" } else { "" };
        let _ = write!(
            out,
            "\n\n-- comment {} by {} at {}{vis}\n{}",
            c.id, c.author, c.created, c.body
        );
    }
    for a in &i.attachments {
        let _ = write!(
            out,
            "\n-- attachment {} {} ({} bytes, {})",
            a.id, a.filename, a.size, a.mime_type
        );
    }
    out
}
