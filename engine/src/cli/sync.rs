//! `tandem sync`, `tandem link`, `tandem unlink`: a person's hand on what
//! syncs — one issue now (the manual "exalate"), every issue the trigger
//! matches (the bulk sync, with progress), or two existing issues made twins.

use std::sync::Arc;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::CliError;
use super::connection::by_name;
use crate::admin::{Progress, Reply, Request};
use crate::node::Node;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The issue to sync now (its key).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    issue: Option<String>,
    /// Every issue the connection's trigger matches (the bulk sync).
    #[arg(long)]
    all: bool,
    #[arg(long, value_name = "NAME")]
    connection: String,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The issue on this side (its key).
    issue: String,
    /// The other side's issue id, as its `tandem issue show --json` gives it.
    remote_id: String,
    #[arg(long, value_name = "NAME")]
    connection: String,
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    issue: String,
    #[arg(long, value_name = "NAME")]
    connection: String,
}

/// These commands as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRequest {
    Issue {
        connection: String,
        issue: String,
    },
    All {
        connection: String,
    },
    Link {
        connection: String,
        issue: String,
        remote: String,
    },
    Unlink {
        connection: String,
        issue: String,
    },
}

impl SyncArgs {
    pub fn request(self) -> Request {
        Request::Sync(match self.issue {
            Some(issue) if !self.all => SyncRequest::Issue {
                connection: self.connection,
                issue,
            },
            _ => SyncRequest::All {
                connection: self.connection,
            },
        })
    }
}

impl LinkArgs {
    pub fn request(self) -> Request {
        Request::Sync(SyncRequest::Link {
            connection: self.connection,
            issue: self.issue,
            remote: self.remote_id,
        })
    }
}

impl UnlinkArgs {
    pub fn request(self) -> Request {
        Request::Sync(SyncRequest::Unlink {
            connection: self.connection,
            issue: self.issue,
        })
    }
}

fn failed(e: crate::sync::SyncError) -> CliError {
    match e {
        crate::sync::SyncError::Rules(r) => r.into(),
        crate::sync::SyncError::Tracker(t) => t.into(),
        other => CliError::failed("sync", other.to_string()),
    }
}

pub async fn handle(
    node: &Arc<Node>,
    request: SyncRequest,
    progress: Progress,
) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let reply = match request {
        SyncRequest::Issue { connection, issue } => {
            let conn = by_name(node, &connection)?;
            let found = node.tracker.resolve(&issue).await?;
            let queued = sync
                .queue_issue(&conn.id, &found.id, true)
                .await
                .map_err(failed)?;
            let text = if queued {
                format!("{issue} queued on `{connection}`")
            } else {
                format!(
                    "{issue} is already in sync on `{connection}` (nothing changed since it was last sent)"
                )
            };
            Reply::new(
                serde_json::json!({ "issue": issue, "queued": queued }),
                text,
            )
        }
        SyncRequest::All { connection } => {
            let conn = by_name(node, &connection)?;
            let Some(trigger) = conn.trigger.clone() else {
                return Err(CliError::failed(
                    "no_trigger",
                    format!(
                        "`{connection}` has no trigger to say which issues to sync; set one with `tandem connection trigger {connection} QUERY`"
                    ),
                ));
            };
            let issues: Vec<_> = node
                .tracker
                .all()
                .await?
                .into_iter()
                .filter(|i| trigger.matches(i))
                .collect();
            let total = issues.len() as u64;
            progress(0, total);
            let (mut queued, mut failures) = (0u64, Vec::new());
            for (n, issue) in issues.iter().enumerate() {
                match sync.queue_issue(&conn.id, &issue.id, false).await {
                    Ok(true) => queued += 1,
                    Ok(false) => {}
                    Err(e) => failures.push(format!("{}: {e}", issue.issue.key)),
                }
                if n % 16 == 15 {
                    // Let the links send while the bulk goes on.
                    node.signals.bump_outbox();
                }
                progress(n as u64 + 1, total);
            }
            let mut text =
                format!("{queued} of {total} issues matching `{trigger}` queued on `{connection}`");
            for f in &failures {
                text.push_str(&format!("\nfailed: {f}"));
            }
            Reply::new(
                serde_json::json!({ "matched": total, "queued": queued, "failed": failures }),
                text,
            )
        }
        SyncRequest::Link {
            connection,
            issue,
            remote,
        } => {
            let conn = by_name(node, &connection)?;
            let found = node.tracker.resolve(&issue).await?;
            sync.link(&conn.id, &found.id, &found.issue.key, &remote)
                .map_err(failed)?;
            sync.queue_issue(&conn.id, &found.id, true)
                .await
                .map_err(failed)?;
            Reply::new(
                serde_json::json!({ "issue": issue, "remote": remote, "connection": connection }),
                format!(
                    "{issue} is linked with the other side's {remote} on `{connection}`; no copy was made"
                ),
            )
        }
        SyncRequest::Unlink { connection, issue } => {
            let conn = by_name(node, &connection)?;
            let found = node.tracker.resolve(&issue).await?;
            let unlinked = sync.unlink(&conn.id, &found.id).map_err(failed)?;
            if !unlinked {
                return Err(CliError::failed(
                    "not_found",
                    format!("{issue} is not synced on `{connection}`"),
                ));
            }
            Reply::new(
                serde_json::json!({ "issue": issue, "connection": connection }),
                format!("{issue} no longer syncs on `{connection}`; both issues stay"),
            )
        }
    };
    node.signals.bump_outbox();
    Ok(reply)
}
