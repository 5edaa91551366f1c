//! The watcher pass: what changed in the tracker becomes replicas in the
//! outbox of each connection that picks it up.

use std::collections::HashMap;

use futures::StreamExt;

use super::state::{self, key, seq_key};
use super::{Body, Connection, Envelope, IssueTwin, SyncError, SyncNode, normalise};
use crate::model::{Context, Project, Replica};
use crate::tracker::{ProjectInfo, TrackedIssue, Tracker, TrackerError};

const WATCHER_CURSOR: &str = "watcher";
/// A watcher page with fewer changes than this is people at work, not an
/// import or a bulk edit: its envelopes jump the receiver's queue.
const URGENT_BELOW: usize = 32;
/// Issue reads a watcher pass keeps in flight.
const READ_AHEAD: usize = 8;

/// What one outgoing step decided for an issue on a connection.
enum Outcome {
    Send(Box<Replica>, String),
    Removed,
    Skip,
    Failed(SyncError),
}

/// What a watcher pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    /// Changed issues the tracker reported.
    pub changed: usize,
    /// Envelopes appended to outboxes.
    pub queued: usize,
}

impl<T: Tracker> SyncNode<T> {
    /// One watcher pass: reads the changes since the last pass and queues
    /// replicas. The cursor moves in the same transaction as the outbox
    /// appends, so a crash repeats the pass rather than losing it.
    pub async fn poll(&self) -> Result<PollReport, SyncError> {
        let _one_pass = self.polling.lock().await;
        {
            // A create that crashed before its twin was recorded must be
            // resolved first, or the watcher would take the new issue for a
            // local one.
            let _alone = self.writing.write().await;
            self.reconcile_intents().await?;
        }
        let connections = self.connections()?;
        let mut report = PollReport::default();
        loop {
            let cursor = self
                .write(|tx| state::cursor(tx, WATCHER_CURSOR))?
                .map(crate::tracker::Cursor);
            let since = self.touched.now();
            let changes = self.tracker.changed_since(cursor.as_ref()).await?;
            if changes.issues.is_empty() {
                // A first poll of a remote tracker only marks where "now" is.
                if cursor.as_ref() != Some(&changes.cursor) && !changes.cursor.0.is_empty() {
                    self.write(|tx| state::set_cursor(tx, WATCHER_CURSOR, &changes.cursor.0))?;
                }
                return Ok(report);
            }
            report.changed += changes.issues.len();
            let mut projects = HashMap::new();
            let mut decided = Vec::new();
            // Reads go out several at a time (a remote tracker's latency
            // dominates); decisions stay in the tracker's order.
            let tracker = &self.tracker;
            let mut reads: Vec<_> = futures::stream::iter(changes.issues.clone())
                .map(|id| async move { tracker.read_issue(&id).await })
                .buffered(READ_AHEAD)
                .collect()
                .await;
            // Applies run while the watcher reads; it decides alone, on what
            // they left: an issue one wrote to meanwhile is read again.
            let _alone = self.writing.write().await;
            for (id, read) in changes.issues.iter().zip(reads.iter_mut()) {
                if self.touched.since(id, since) {
                    *read = self.tracker.read_issue(id).await;
                }
            }
            for (id, read) in changes.issues.iter().zip(reads) {
                let issue = match read {
                    Ok(issue) => Some(issue),
                    Err(TrackerError::NotFound(_)) => None,
                    Err(e) => return Err(e.into()),
                };
                for conn in &connections {
                    let outcome = self
                        .decide(conn, id, issue.as_ref(), &mut projects, false)
                        .await;
                    decided.push((conn.id.clone(), id.clone(), outcome));
                }
            }
            report.queued += self.write(|tx| {
                let urgent = changes.issues.len() < URGENT_BELOW;
                let queued = self.commit_outcomes(tx, decided, urgent)?;
                state::set_cursor(tx, WATCHER_CURSOR, &changes.cursor.0)?;
                Ok(queued)
            })?;
            self.touched.forget_until(since);
            crate::failpoint::hit("after-outbox-append");
        }
    }

    /// Syncs one issue now on a connection, trigger or not (the manual sync).
    pub async fn sync_issue(&self, connection: &str, issue: &str) -> Result<bool, SyncError> {
        self.queue_issue(connection, issue, true).await
    }

    /// Queues one issue on a connection, trigger or not; `urgent` for a
    /// person's single sync, not for a bulk one. False when nothing changed
    /// since it was last sent.
    pub async fn queue_issue(
        &self,
        connection: &str,
        issue: &str,
        urgent: bool,
    ) -> Result<bool, SyncError> {
        let conn = self.connection(connection)?;
        let read = self.tracker.read_issue(issue).await?;
        let outcome = self
            .decide(&conn, &read.id, Some(&read), &mut HashMap::new(), true)
            .await;
        if let Outcome::Failed(e) = outcome {
            return Err(e);
        }
        Ok(self.write(|tx| {
            self.commit_outcomes(
                tx,
                vec![(conn.id.clone(), read.id.clone(), outcome)],
                urgent,
            )
        })? > 0)
    }

    async fn decide(
        &self,
        conn: &Connection,
        id: &str,
        issue: Option<&TrackedIssue>,
        projects: &mut HashMap<String, ProjectInfo>,
        forced: bool,
    ) -> Outcome {
        let twin: Option<IssueTwin> = match self.twin(&conn.id, id) {
            Ok(twin) => twin,
            Err(e) => return Outcome::Failed(e),
        };
        let Some(issue) = issue else {
            return match twin {
                Some(t) if !t.remote_removed => Outcome::Removed,
                _ => Outcome::Skip,
            };
        };
        if twin.as_ref().is_some_and(|t| t.remote_removed) {
            return Outcome::Skip;
        }
        let picked =
            forced || twin.is_some() || conn.trigger.as_ref().is_some_and(|q| q.matches(issue));
        if !picked {
            return Outcome::Skip;
        }
        if !projects.contains_key(&issue.project) {
            match self.tracker.project(&issue.project).await {
                Ok(info) => {
                    projects.insert(issue.project.clone(), info);
                }
                Err(e) => return Outcome::Failed(e.into()),
            }
        }
        let project = &projects[&issue.project];
        let ctx = Context {
            connection: conn.name.clone(),
            side: conn.side,
            first_sync: twin.is_none(),
            remote_key: twin.map(|t| t.remote_key),
            project: Project {
                key: project.key.clone(),
                issue_types: project.issue_types.clone(),
                default_issue_type: project.default_issue_type.clone(),
            },
        };
        let rules = match self.rules_for(conn) {
            Ok(rules) => rules,
            Err(e) => return Outcome::Failed(e),
        };
        match rules.outgoing(&ctx, &issue.issue) {
            Ok(mut replica) => {
                normalise(&mut replica);
                Outcome::Send(Box::new(replica), issue.updated.clone())
            }
            Err(e) => Outcome::Failed(e.into()),
        }
    }

    fn commit_outcomes(
        &self,
        tx: &redb::WriteTransaction,
        decided: Vec<(String, String, Outcome)>,
        urgent: bool,
    ) -> Result<usize, SyncError> {
        let mut queued = 0;
        for (conn, id, outcome) in decided {
            let twin_key = key(&conn, &id);
            let body = match outcome {
                Outcome::Skip => continue,
                Outcome::Failed(e) => {
                    self.record_error(tx, &conn, &id, &e, None)?;
                    continue;
                }
                Outcome::Removed => {
                    if let Some(mut twin) =
                        state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &twin_key)?
                    {
                        // Stop syncing this pair from our side too.
                        twin.remote_removed = true;
                        state::put(tx, state::ISSUE_TWINS, &twin_key, &twin)?;
                    }
                    Body::Removed
                }
                Outcome::Send(replica, updated) => {
                    let last: Option<Replica> = state::get(tx, state::LAST_SENT, &twin_key)?;
                    if last.as_ref() == Some(&*replica) {
                        continue;
                    }
                    state::put(tx, state::LAST_SENT, &twin_key, &*replica)?;
                    Body::Replica {
                        replica: *replica,
                        updated,
                    }
                }
            };
            self.append(tx, &conn, &id, body, urgent)?;
            state::remove(tx, state::ERRORS, &twin_key)?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Appends an envelope about local issue `id` to a connection's outbox.
    pub(crate) fn append(
        &self,
        tx: &redb::WriteTransaction,
        conn: &str,
        id: &str,
        body: Body,
        urgent: bool,
    ) -> Result<(), SyncError> {
        let seq = state::bump(tx, &format!("out:{conn}"))?;
        let version = state::bump(tx, &format!("version:{conn}\0{id}"))?;
        let envelope = Envelope {
            connection: conn.into(),
            origin_node: self.name.clone(),
            origin_issue: id.into(),
            version,
            seq,
            urgent,
            body,
        };
        if matches!(envelope.body, Body::Replica { .. }) {
            state::remember(tx, "sent", &envelope, self.history_len())?;
        }
        state::put(tx, state::OUTBOX, &seq_key(conn, seq), &envelope)
    }
}
