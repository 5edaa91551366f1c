//! The receiving half: envelopes land durably in the inbox (and are acked),
//! then incoming rules decide and the tracker is changed, with an intent and
//! a mark around every create so a crash never makes a second copy.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::state::{self, key, seq_key};
use super::{Body, Envelope, IssueTwin, SyncError, SyncNode, Transport, Twins, normalise};
use crate::model::{Context, Project, Replica, Update};
use crate::tracker::{FieldChanges, Mark, Marked, NewIssue, Tracker, TrackerError};

/// A tracker create in flight, recorded before the call.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    connection: String,
    /// The remote issue this is for.
    remote_issue: String,
    remote_key: String,
    what: Creating,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Creating {
    Issue,
    Comment { remote: String },
    Attachment { remote: String },
}

/// The create a marked write performs.
enum Create<'a> {
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

/// What an inbox pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: usize,
    pub failed: usize,
}

impl<T: Tracker> SyncNode<T> {
    /// Takes envelopes into the inbox durably and returns the highest seq now
    /// held for their connection (the ack). Duplicates are dropped here.
    pub fn receive(&self, envelopes: &[Envelope]) -> Result<u64, SyncError> {
        self.write(|tx| {
            let mut high = 0;
            for envelope in envelopes {
                let conn = &envelope.connection;
                if state::get::<super::Connection>(tx, state::CONNECTIONS, conn)?.is_none() {
                    return Err(SyncError::NoConnection(conn.clone()));
                }
                let mark = format!("in:{conn}");
                high = state::counter(tx, &mark)?;
                if envelope.seq <= high {
                    continue;
                }
                state::put(tx, state::INBOX, &inbox_key(envelope), envelope)?;
                if matches!(envelope.body, Body::Replica { .. }) {
                    state::remember(tx, "received", envelope)?;
                }
                high = envelope.seq;
                state::set_counter(tx, &mark, high)?;
            }
            Ok(high)
        })
        .inspect(|_| crate::failpoint::hit("before-ack"))
    }

    /// Applies everything in the inbox: urgent envelopes first, then the
    /// rest, each lane oldest first. An error that belongs to one issue is
    /// recorded against it and the rest go on; a connection-level error stops
    /// the pass (the envelope stays queued).
    pub async fn apply_inbox(&self, transport: &impl Transport) -> Result<ApplyReport, SyncError> {
        self.apply_up_to(transport, usize::MAX).await
    }

    /// [`SyncNode::apply_inbox`], stopping after `max` envelopes.
    pub async fn apply_up_to(
        &self,
        transport: &impl Transport,
        max: usize,
    ) -> Result<ApplyReport, SyncError> {
        let mut report = ApplyReport::default();
        loop {
            // Small batches, rescanned from the front: an urgent envelope that
            // arrives meanwhile waits for at most one batch.
            let left = max - (report.applied + report.failed);
            let batch: Vec<(String, Envelope)> =
                self.write_lazy(|tx| state::scan(tx, state::INBOX, "", left.min(16)))?;
            if batch.is_empty() || left == 0 {
                // One fsync makes the whole pass durable (group commit).
                self.write(|_| Ok(()))?;
                return Ok(report);
            }
            // Different issues proceed concurrently (bounded by the batch); one
            // issue's envelopes stay in order within its group.
            let mut groups: Vec<Vec<(String, Envelope)>> = Vec::new();
            for item in batch {
                let same = |g: &Vec<(String, Envelope)>| {
                    g[0].1.connection == item.1.connection
                        && g[0].1.origin_issue == item.1.origin_issue
                };
                match groups.iter_mut().find(|g| same(g)) {
                    Some(group) => group.push(item),
                    None => groups.push(vec![item]),
                }
            }
            let outcomes = futures::future::join_all(groups.into_iter().map(|group| async move {
                let mut done = Vec::new();
                for (inbox_key, envelope) in group {
                    let outcome = self.apply_one(&inbox_key, &envelope, transport).await;
                    let stop = outcome.as_ref().is_err_and(|e| !e.is_issue_level());
                    done.push((inbox_key, envelope, outcome));
                    if stop {
                        break;
                    }
                }
                done
            }))
            .await;
            for (inbox_key, envelope, outcome) in outcomes.into_iter().flatten() {
                match outcome {
                    Ok(()) => report.applied += 1,
                    Err(e) if e.is_issue_level() => {
                        self.write(|tx| {
                            self.record_error(
                                tx,
                                &envelope.connection,
                                &envelope.origin_issue,
                                &e,
                                Some(envelope.clone()),
                            )?;
                            state::remove(tx, state::INBOX, &inbox_key)
                        })?;
                        report.failed += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Puts a failed envelope back in the inbox (the retry of `errors retry`).
    pub fn retry(&self, connection: &str, issue: &str) -> Result<bool, SyncError> {
        self.write(|tx| {
            let key = key(connection, issue);
            let Some(record) = state::get::<super::ErrorRecord>(tx, state::ERRORS, &key)? else {
                return Ok(false);
            };
            state::remove(tx, state::ERRORS, &key)?;
            if let Some(envelope) = record.envelope {
                state::put(tx, state::INBOX, &inbox_key(&envelope), &envelope)?;
            }
            Ok(true)
        })
    }

    async fn apply_one(
        &self,
        inbox_key: &str,
        envelope: &Envelope,
        transport: &impl Transport,
    ) -> Result<(), SyncError> {
        let conn = &envelope.connection;
        match &envelope.body {
            Body::Twins(twins) => self.write_lazy(|tx| {
                record_twins(tx, conn, &envelope.origin_issue, twins)?;
                state::remove(tx, state::INBOX, inbox_key)
            }),
            Body::Removed => self.write_lazy(|tx| {
                if let Some(local) = state::get::<String>(
                    tx,
                    state::REMOTE_ISSUES,
                    &key(conn, &envelope.origin_issue),
                )? {
                    let twin_key = key(conn, &local);
                    if let Some(mut twin) =
                        state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &twin_key)?
                    {
                        twin.remote_removed = true;
                        state::put(tx, state::ISSUE_TWINS, &twin_key, &twin)?;
                    }
                }
                state::remove(tx, state::INBOX, inbox_key)
            }),
            Body::Replica { replica, updated } => {
                self.apply_replica(inbox_key, envelope, replica, updated, transport)
                    .await
            }
        }
    }

    async fn apply_replica(
        &self,
        inbox_key: &str,
        envelope: &Envelope,
        replica: &Replica,
        updated: &str,
        transport: &impl Transport,
    ) -> Result<(), SyncError> {
        let conn = self.connection(&envelope.connection)?;
        let remote = envelope.origin_issue.as_str();
        let (local_id, previous): (Option<String>, Option<Replica>) = self.read(|tx| {
            Ok((
                state::get(tx, state::REMOTE_ISSUES, &key(&conn.id, remote))?,
                state::get(tx, state::LAST_RECEIVED, &key(&conn.id, remote))?,
            ))
        })?;
        let done = |this: &Self| this.write_lazy(|tx| state::remove(tx, state::INBOX, inbox_key));
        // Replicas are whole snapshots: one older than what was applied (it
        // lost a race with an urgent one) has nothing left to say.
        let applied_mark = format!("applied:{}\0{remote}", conn.id);
        if envelope.version <= self.write_lazy(|tx| state::counter(tx, &applied_mark))? {
            return done(self);
        }

        let local = match &local_id {
            Some(id) => {
                if self.twin(&conn.id, id)?.is_some_and(|t| t.remote_removed) {
                    return done(self);
                }
                match self.tracker.read_issue(id).await {
                    Ok(issue) => Some(issue),
                    // Deleted here: it stops syncing.
                    Err(TrackerError::NotFound(_)) => return done(self),
                    Err(e) => return Err(e.into()),
                }
            }
            None => None,
        };
        let project = self.tracker.project(&conn.project).await?;
        let ctx = Context {
            connection: conn.name.clone(),
            side: conn.side,
            first_sync: local.is_none(),
            remote_key: Some(replica.key.clone()),
            project: Project {
                key: project.key.clone(),
                issue_types: project.issue_types.clone(),
                default_issue_type: project.default_issue_type.clone(),
            },
        };
        let mut update = self.rules.incoming(
            &ctx,
            replica,
            previous.as_ref(),
            local.as_ref().map(|l| &l.issue),
        )?;
        if let (Some(local), Some(previous)) = (&local, &previous) {
            // Both sides changed the same field since the last exchange: the
            // later edit by the trackers' clocks wins, the node name breaks a
            // tie, and both sides reach the same verdict.
            let remote_wins = (updated, envelope.origin_node.as_str())
                > (local.updated.as_str(), self.name.as_str());
            if !remote_wins {
                let text = |s: &str| s.replace('\r', "").trim_end().to_string();
                let changed_here = |mine: &str, before: &Option<String>| {
                    before.as_deref().map(text) != Some(text(mine))
                };
                if changed_here(&local.issue.summary, &previous.summary) {
                    update.summary = None;
                }
                if changed_here(&local.issue.description, &previous.description) {
                    update.description = None;
                }
            }
        }

        let mut fields = FieldChanges {
            summary: update.summary.clone(),
            description: update.description.clone(),
            issue_type: update.issue_type.clone(),
            status: update.status.clone(),
            priority: update.priority.clone(),
            labels: update.labels.clone(),
        };
        let local_id = match local_id {
            Some(id) => id,
            None => {
                let new = NewIssue {
                    project: conn.project.clone(),
                    issue_type: fields.issue_type.take().unwrap_or_else(|| {
                        project
                            .default_issue_type
                            .clone()
                            .unwrap_or_else(|| crate::rules::LAST_RESORT_TYPE.into())
                    }),
                    summary: fields
                        .summary
                        .take()
                        .or_else(|| replica.summary.clone())
                        .unwrap_or_else(|| replica.key.clone()),
                    description: fields.description.take().unwrap_or_default(),
                    priority: None,
                    labels: Vec::new(),
                };
                let intent = self.intent(&conn.id, remote, &replica.key, Creating::Issue);
                let id = self.create_marked(&intent, Create::Issue(&new)).await?;
                self.write_lazy(|tx| {
                    let twin = IssueTwin {
                        remote: remote.into(),
                        remote_key: replica.key.clone(),
                        remote_removed: false,
                    };
                    state::put(tx, state::ISSUE_TWINS, &key(&conn.id, &id), &twin)?;
                    state::put(tx, state::REMOTE_ISSUES, &key(&conn.id, remote), &id)?;
                    state::remove(tx, state::INTENTS, &mark_of(&intent).0)
                })?;
                id
            }
        };
        if !fields.is_empty() {
            self.tracker.set_fields(&local_id, &fields).await?;
        }

        let mut twins = Twins {
            issue: remote.into(),
            origin_key: String::new(),
            ..Twins::default()
        };
        let current = match &local {
            Some(l) => l.issue.comments.clone(),
            None => Vec::new(),
        };
        for c in &update.comments {
            let twin: Option<String> =
                self.read(|tx| state::get(tx, state::COMMENT_TWINS, &key(&conn.id, &c.remote_id)))?;
            let id = match twin {
                Some(id) => {
                    let existing = current.iter().find(|l| l.id == id);
                    // Bodies compare normalised; visibility is never touched.
                    if existing.is_some_and(|l| {
                        l.body.trim_end().replace('\r', "") != c.body.trim_end().replace('\r', "")
                    }) {
                        self.tracker.edit_comment(&local_id, &id, &c.body).await?;
                    }
                    id
                }
                None => {
                    let intent = self.intent(
                        &conn.id,
                        remote,
                        &replica.key,
                        Creating::Comment {
                            remote: c.remote_id.clone(),
                        },
                    );
                    let author = if c.author.is_empty() {
                        "tandem"
                    } else {
                        &c.author
                    };
                    let id = self
                        .create_marked(
                            &intent,
                            Create::Comment {
                                issue: &local_id,
                                author,
                                body: &c.body,
                            },
                        )
                        .await?;
                    self.write_lazy(|tx| {
                        state::put(tx, state::COMMENT_TWINS, &key(&conn.id, &c.remote_id), &id)?;
                        state::remove(tx, state::INTENTS, &mark_of(&intent).0)
                    })?;
                    id
                }
            };
            twins.comments.push((c.remote_id.clone(), id));
        }
        for a in &update.attachments {
            let twin: Option<String> = self
                .read(|tx| state::get(tx, state::ATTACHMENT_TWINS, &key(&conn.id, &a.remote_id)))?;
            let id = match twin {
                Some(id) => id,
                None => {
                    let bytes = transport
                        .fetch_attachment(&conn.id, remote, &a.remote_id)
                        .await?;
                    let expected = replica
                        .attachments
                        .iter()
                        .find(|m| m.id == a.remote_id)
                        .map(|m| m.sha256.as_str());
                    if expected.is_some_and(|sha| {
                        !sha.is_empty() && sha != hex::encode(Sha256::digest(&bytes))
                    }) {
                        return Err(SyncError::Damaged(a.filename.clone()));
                    }
                    let intent = self.intent(
                        &conn.id,
                        remote,
                        &replica.key,
                        Creating::Attachment {
                            remote: a.remote_id.clone(),
                        },
                    );
                    let id = self
                        .create_marked(
                            &intent,
                            Create::Attachment {
                                issue: &local_id,
                                filename: &a.filename,
                                bytes: &bytes,
                            },
                        )
                        .await?;
                    self.write_lazy(|tx| {
                        state::put(
                            tx,
                            state::ATTACHMENT_TWINS,
                            &key(&conn.id, &a.remote_id),
                            &id,
                        )?;
                        state::remove(tx, state::INTENTS, &mark_of(&intent).0)
                    })?;
                    id
                }
            };
            twins.attachments.push((a.remote_id.clone(), id));
        }

        // The state as the sync left it: the next outgoing replica equal to it
        // is an echo and is not sent.
        let after = self.tracker.read_issue(&local_id).await?;
        twins.origin_key = after.issue.key.clone();
        let mut own_ctx = ctx.clone();
        own_ctx.first_sync = false;
        let mut left = self.rules.outgoing(&own_ctx, &after.issue)?;
        normalise(&mut left);
        let before: Option<Replica> =
            self.read(|tx| state::get(tx, state::LAST_SENT, &key(&conn.id, &local_id)))?;
        let left = peer_view(left, before.as_ref(), &update, &twins);
        let mut received = replica.clone();
        normalise(&mut received);
        twins.state = Some(left.clone());
        self.write_lazy(|tx| {
            state::put(tx, state::LAST_RECEIVED, &key(&conn.id, remote), &received)?;
            state::put(tx, state::LAST_SENT, &key(&conn.id, &local_id), &left)?;
            self.append(tx, &conn.id, &local_id, Body::Twins(twins), envelope.urgent)?;
            state::set_counter(tx, &applied_mark, envelope.version)?;
            state::remove(tx, state::ERRORS, &key(&conn.id, remote))?;
            state::remove(tx, state::INBOX, inbox_key)
        })
    }

    fn intent(
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
        }
    }

    /// Creates once: records the intent, then writes with its mark. When an
    /// intent is already there (a crash in between), the mark is looked up
    /// first and an existing write is reused.
    async fn create_marked(
        &self,
        intent: &Intent,
        create: Create<'_>,
    ) -> Result<String, SyncError> {
        let mark = mark_of(intent);
        let pending: Option<Intent> = self.read(|tx| state::get(tx, state::INTENTS, &mark.0))?;
        if pending.is_some() {
            if let Some(found) = self.tracker.find_mark(&mark).await? {
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
            let found = self.tracker.find_mark(&Mark(mark.clone())).await?;
            self.write(|tx| {
                let conn = &intent.connection;
                match (&intent.what, found) {
                    (Creating::Issue, Some(Marked::Issue { issue })) => {
                        let twin = IssueTwin {
                            remote: intent.remote_issue.clone(),
                            remote_key: intent.remote_key.clone(),
                            remote_removed: false,
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

    /// The bytes of a local attachment, for the peer of `connection` only, and
    /// only of an issue this node sent on it.
    pub async fn serve_attachment(
        &self,
        connection: &str,
        issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, SyncError> {
        let sent: Option<Replica> =
            self.read(|tx| state::get(tx, state::LAST_SENT, &key(connection, issue)))?;
        if sent.is_none() {
            return Err(TrackerError::NotFound(format!(
                "issue {issue} on connection {connection}"
            ))
            .into());
        }
        Ok(self.tracker.download_attachment(issue, attachment).await?)
    }
}

/// What the peer knows of this issue after an apply: the fields we took from
/// it, and for the rest what we sent before. A local edit made while the
/// peer's change was in flight is thereby still "unsent" and goes out on the
/// next pass, instead of being mistaken for an echo.
fn peer_view(
    mut left: Replica,
    before: Option<&Replica>,
    update: &Update,
    twins: &Twins,
) -> Replica {
    fn keep<V: Clone>(field: &mut Option<V>, applied: bool, before: Option<&Option<V>>) {
        if !applied {
            *field = before.and_then(|b| b.clone());
        }
    }
    keep(
        &mut left.summary,
        update.summary.is_some(),
        before.map(|b| &b.summary),
    );
    keep(
        &mut left.description,
        update.description.is_some(),
        before.map(|b| &b.description),
    );
    keep(
        &mut left.issue_type,
        update.issue_type.is_some(),
        before.map(|b| &b.issue_type),
    );
    keep(
        &mut left.status,
        update.status.is_some(),
        before.map(|b| &b.status),
    );
    keep(
        &mut left.priority,
        update.priority.is_some(),
        before.map(|b| &b.priority),
    );
    keep(
        &mut left.labels,
        update.labels.is_some(),
        before.map(|b| &b.labels),
    );
    let sent_comment = |id: &str| before.is_some_and(|b| b.comments.iter().any(|c| c.id == id));
    left.comments
        .retain(|c| twins.comments.iter().any(|(_, ours)| *ours == c.id) || sent_comment(&c.id));
    let sent_attachment =
        |id: &str| before.is_some_and(|b| b.attachments.iter().any(|a| a.id == id));
    left.attachments.retain(|a| {
        twins.attachments.iter().any(|(_, ours)| *ours == a.id) || sent_attachment(&a.id)
    });
    left
}

/// Inbox keys sort urgent envelopes first, then by connection and seq.
fn inbox_key(envelope: &Envelope) -> String {
    let lane = if envelope.urgent { "0" } else { "1" };
    format!("{lane}\0{}", seq_key(&envelope.connection, envelope.seq))
}

fn mark_of(intent: &Intent) -> Mark {
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

fn marked_id(marked: Marked) -> String {
    match marked {
        Marked::Issue { issue } => issue,
        Marked::Comment { comment, .. } => comment,
        Marked::Attachment { attachment, .. } => attachment,
    }
}

/// Records the twins the peer made, for issues this node sent only (a peer
/// cannot pull an unrelated issue into the sync by claiming it).
fn record_twins(
    tx: &redb::WriteTransaction,
    conn: &str,
    peer_issue: &str,
    twins: &Twins,
) -> Result<(), SyncError> {
    let local_key = key(conn, &twins.issue);
    if state::get::<Replica>(tx, state::LAST_SENT, &local_key)?.is_none() {
        return Ok(());
    }
    let mut twin =
        state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &local_key)?.unwrap_or(IssueTwin {
            remote: peer_issue.into(),
            remote_key: String::new(),
            remote_removed: false,
        });
    twin.remote = peer_issue.into();
    twin.remote_key.clone_from(&twins.origin_key);
    state::put(tx, state::ISSUE_TWINS, &local_key, &twin)?;
    state::put(
        tx,
        state::REMOTE_ISSUES,
        &key(conn, peer_issue),
        &twins.issue,
    )?;
    for (ours, theirs) in &twins.comments {
        state::put(tx, state::COMMENT_TWINS, &key(conn, theirs), ours)?;
    }
    for (ours, theirs) in &twins.attachments {
        state::put(tx, state::ATTACHMENT_TWINS, &key(conn, theirs), ours)?;
    }
    if let Some(left) = &twins.state {
        state::put(tx, state::LAST_RECEIVED, &key(conn, peer_issue), left)?;
    }
    Ok(())
}
