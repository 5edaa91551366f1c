//! `tandem issue …`: issues of the embedded `local` tracker, as a person uses them.

use std::path::PathBuf;

use clap::Subcommand;

use super::input::read_capped;
use super::node::Node;
use super::{CliError, output};
use crate::tracker::local::MAX_ATTACHMENT_BYTES;
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

impl IssueCommand {
    pub fn run(self, node: Node, json: bool) -> Result<(), CliError> {
        let tracker = node.local_tracker()?;
        match self {
            IssueCommand::Create {
                project,
                issue_type,
                summary,
                description,
                priority,
                labels,
            } => {
                let new = NewIssue {
                    project,
                    issue_type,
                    summary,
                    description,
                    priority,
                    labels,
                };
                let issue = tracker.create(&new)?;
                output(json, &issue, &issue.issue.key);
            }
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
                };
                if changes.is_empty() {
                    return Err(CliError::failed(
                        "usage",
                        "nothing to change: give --summary, --description, --type, --status or --priority",
                    ));
                }
                let issue = tracker.edit(&key, &changes)?;
                output(json, &issue, format!("{} updated", issue.issue.key));
            }
            IssueCommand::Comment {
                key,
                body,
                internal,
            } => {
                let id = tracker.comment(&key, &body, internal)?;
                output(
                    json,
                    &serde_json::json!({ "id": id }),
                    format!("comment {id} added to {key}"),
                );
            }
            IssueCommand::Attach { key, file } => {
                let bytes = read_capped(&file, MAX_ATTACHMENT_BYTES as u64)?;
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let id = tracker.attach(&key, &name, &bytes)?;
                output(
                    json,
                    &serde_json::json!({ "id": id }),
                    format!("attachment {id} ({name}) added to {key}"),
                );
            }
            IssueCommand::Delete { key } => {
                tracker.delete(&key)?;
                output(
                    json,
                    &serde_json::json!({ "deleted": key }),
                    format!("{key} deleted"),
                );
            }
            IssueCommand::Show { key } => {
                let issue = tracker.find(&key)?;
                let twins = crate::sync::twins_of(&node.store, &issue.id)
                    .map_err(|e| CliError::failed("store", e.to_string()))?;
                if json {
                    let mut value = serde_json::to_value(&issue).unwrap_or_default();
                    value["twins"] = twins
                        .iter()
                        .map(|(conn, t)| {
                            serde_json::json!({ "connection": conn, "remote_key": t.remote_key, "remote_removed": t.remote_removed })
                        })
                        .collect();
                    print_json(&value);
                } else {
                    print_issue(&issue);
                    for (conn, t) in &twins {
                        let removed = if t.remote_removed {
                            " (remote removed: no longer synced)"
                        } else {
                            ""
                        };
                        println!("-- synced on {conn} with {}{removed}", t.remote_key);
                    }
                }
            }
            IssueCommand::List { project } => {
                let issues = tracker.list(project.as_deref())?;
                if json {
                    print_json(&issues);
                } else {
                    for i in issues {
                        println!(
                            "{}\t{}\t{}\t{}",
                            i.issue.key, i.issue.issue_type, i.issue.status, i.issue.summary
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn print_issue(t: &TrackedIssue) {
    let i = &t.issue;
    println!("{}  {}", i.key, i.summary);
    println!(
        "type: {}   status: {}   priority: {}   updated: {}",
        i.issue_type, i.status, i.priority, t.updated
    );
    if !i.labels.is_empty() {
        println!("labels: {}", i.labels.join(", "));
    }
    if !i.description.is_empty() {
        println!("\n{}", i.description);
    }
    for c in &i.comments {
        let vis = if c.internal { " (internal)" } else { "" };
        println!(
            "\n-- comment {} by {} at {}{vis}\n{}",
            c.id, c.author, c.created, c.body
        );
    }
    for a in &i.attachments {
        println!(
            "-- attachment {} {} ({} bytes, {})",
            a.id, a.filename, a.size, a.mime_type
        );
    }
}
