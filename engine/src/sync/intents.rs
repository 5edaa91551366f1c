//! Intents and marks: every create on a tracker is announced in the store
//! first and carries a mark, so a crash between the tracker write and its twin
//! record is resolved by finding the mark instead of writing twice.

use serde::{Deserialize, Serialize};

use super::state::{self, key};
use super::{IssueTwin, SyncError, SyncNode};
use crate::tracker::{Mark, MarkHint, Marked, NewIssue, Tracker};

/// A tracker create in flight, recorded before the call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Intent {
    pub(super) connection: String,
    /// The remote issue this is for.
    remote_issue: String,
    remote_key: String,
    what: Creating,
    /// What the write creates, for trackers that find it by content.
    #[serde(default)]
    hint: MarkHint,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Creating {
    Issue,
    Comment { remote: String },
    Attachment { remote: String },
}

/// The create a marked write performs.
pub(super) enum Create<'a> {
    Issue(&'a NewIssue),
    Comment {
        issue: &'a str,
        author: &'a str,
        body: &'a str,
    },
    Attachment {
        issue: &'a str,
        filename: &'a str,
        bytes: &'a [u8],
    },
}

impl<T: Tracker> SyncNode<T> {
    pub(super) fn intent(
        &self,
        connection: &str,
        remote_issue: &str,
        remote_key: &str,
        what: Creating,
    ) -> Intent {
        Intent {
            connection: connection.into(),
            remote_issue: remote_issue.into(),
            remote_key: remote_key.into(),
            what,
            hint: MarkHint::default(),
        }
    }

    /// Creates once: records the intent, then writes with its mark. When an
    /// intent is already there (a crash in between), the mark is looked up
    /// first and an existing write is reused.
    pub(super) async fn create_marked(
        &self,
        intent: &Intent,
        create: Create<'_>,
    ) -> Result<String, SyncError> {
        let mark = mark_of(intent);
        let pending: Option<Intent> = self.read(|tx| state::get(tx, state::INTENTS, &mark.0))?;
        let mut intent = intent.clone();
        intent.hint = hint_of(&create);
        let intent = &intent;
        if let Some(pending) = pending {
            if let Some(found) = self.tracker.find_mark(&mark, &pending.hint).await? {
                return Ok(marked_id(found));
            }
        } else if self.tracker.shares_store() {
            // The tracker's own commit lands in the same file after this one,
            // so the intent is durable no later than the write it announces.
            self.write_lazy(|tx| state::put(tx, state::INTENTS, &mark.0, intent))?;
        } else {
            self.write(|tx| state::put(tx, state::INTENTS, &mark.0, intent))?;
        }
        let id = match create {
            Create::Issue(new) => self.tracker.create_issue(new, &mark).await?,
            Create::Comment {
                issue,
                author,
                body,
            } => {
                self.tracker
                    .add_comment(issue, author, body, false, &mark)
                    .await?
            }
            Create::Attachment {
                issue,
                filename,
                bytes,
            } => {
                self.tracker
                    .upload_attachment(issue, filename, bytes, &mark)
                    .await?
            }
        };
        crate::failpoint::hit("after-tracker-write");
        Ok(id)
    }

    /// Resolves creates left open by a crash: a write that carries its mark
    /// becomes a twin; one that never happened is forgotten (its envelope is
    /// still in the inbox and will create it).
    pub async fn reconcile_intents(&self) -> Result<usize, SyncError> {
        let open: Vec<(String, Intent)> =
            self.write(|tx| state::scan(tx, state::INTENTS, "", usize::MAX))?;
        let mut resolved = 0;
        for (mark, intent) in open {
            let found = self
                .tracker
                .find_mark(&Mark(mark.clone()), &intent.hint)
                .await?;
            self.write(|tx| {
                let conn = &intent.connection;
                match (&intent.what, found) {
                    (Creating::Issue, Some(Marked::Issue { issue })) => {
                        let twin = IssueTwin {
                            remote: intent.remote_issue.clone(),
                            remote_key: intent.remote_key.clone(),
                            remote_removed: false,
                            linked: String::new(),
                        };
                        state::put(tx, state::ISSUE_TWINS, &key(conn, &issue), &twin)?;
                        state::put(
                            tx,
                            state::REMOTE_ISSUES,
                            &key(conn, &intent.remote_issue),
                            &issue,
                        )?;
                    }
                    (Creating::Comment { remote }, Some(Marked::Comment { comment, .. })) => {
                        state::put(tx, state::COMMENT_TWINS, &key(conn, remote), &comment)?;
                    }
                    (
                        Creating::Attachment { remote },
                        Some(Marked::Attachment { attachment, .. }),
                    ) => {
                        state::put(tx, state::ATTACHMENT_TWINS, &key(conn, remote), &attachment)?;
                    }
                    _ => {}
                }
                state::remove(tx, state::INTENTS, &mark)
            })?;
            resolved += 1;
        }
        Ok(resolved)
    }
}

pub(super) fn mark_of(intent: &Intent) -> Mark {
    let what = match &intent.what {
        Creating::Issue => "issue".to_string(),
        Creating::Comment { remote } => format!("comment:{remote}"),
        Creating::Attachment { remote } => format!("attachment:{remote}"),
    };
    Mark(format!(
        "tandem:{}:{}:{what}",
        intent.connection, intent.remote_issue
    ))
}

fn hint_of(create: &Create<'_>) -> MarkHint {
    let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    match create {
        Create::Issue(new) => MarkHint {
            project: new.project.clone(),
            text: new.summary.clone(),
            since,
            ..MarkHint::default()
        },
        Create::Comment { issue, body, .. } => MarkHint {
            issue: Some(issue.to_string()),
            text: body.to_string(),
            since,
            ..MarkHint::default()
        },
        Create::Attachment {
            issue,
            filename,
            bytes,
        } => MarkHint {
            issue: Some(issue.to_string()),
            text: filename.to_string(),
            size: Some(bytes.len() as u64),
            since,
            ..MarkHint::default()
        },
    }
}

fn marked_id(marked: Marked) -> String {
    match marked {
        Marked::Issue { issue } => issue,
        Marked::Comment { comment, .. } => comment,
        Marked::Attachment { attachment, .. } => attachment,
    }
}
