//! Applying one replica: incoming rules, the three-way merge and conflict
//! rule, creates and edits on the tracker, and the bookkeeping that keeps what
//! the sync wrote from echoing back.

use sha2::{Digest, Sha256};

use super::intents::{Create, Creating, mark_of};
use super::state::{self, key};
use super::touched::Marker;
use super::{Body, Envelope, IssueTwin, SyncError, SyncNode, Transport, Twins, normalise};
use crate::model::{Context, Project, Replica, Update};
use crate::tracker::{FieldChanges, NewIssue, Tracker, TrackerError};

impl<T: Tracker> SyncNode<T> {
    pub(super) async fn apply_replica(
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
        // However this ends, the watcher learns the issue was written to.
        let mut written = Marker::new(&self.touched);
        written.issue.clone_from(&local_id);
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
        let mut update = self.rules_for(&conn)?.incoming(
            &ctx,
            replica,
            previous.as_ref(),
            local.as_ref().map(|l| &l.issue),
        )?;
        if local_id.is_none() && update == Update::default() {
            // The rules want nothing of a new remote issue here (a one-way
            // side, or a filter): no issue is created, and it is not an error.
            return done(self);
        }
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
            fields: update.fields.clone(),
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
                written.issue = Some(id.clone());
                self.write_lazy(|tx| {
                    let twin = IssueTwin {
                        remote: remote.into(),
                        remote_key: replica.key.clone(),
                        remote_removed: false,
                        linked: String::new(),
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
                    let expected = replica
                        .attachments
                        .iter()
                        .find(|m| m.id == a.remote_id)
                        .map(|m| m.sha256.as_str());
                    let bytes = transport
                        .fetch_attachment(&conn.id, remote, &a.remote_id, expected.unwrap_or(""))
                        .await?;
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
        let mut left = self.rules_for(&conn)?.outgoing(&own_ctx, &after.issue)?;
        normalise(&mut left);
        let before: Option<Replica> =
            self.read(|tx| state::get(tx, state::LAST_SENT, &key(&conn.id, &local_id)))?;
        let left = peer_view(left, before.as_ref(), &update, &twins);
        let mut received = replica.clone();
        normalise(&mut received);
        twins.state = Some(left.clone());
        let twin = self.write_lazy(|tx| {
            state::put(tx, state::LAST_RECEIVED, &key(&conn.id, remote), &received)?;
            state::put(tx, state::LAST_SENT, &key(&conn.id, &local_id), &left)?;
            // The twin's key changes when it moves to another project.
            let twin_key = key(&conn.id, &local_id);
            let mut twin = state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &twin_key)?;
            if let Some(twin) = twin.as_mut().filter(|t| t.remote_key != replica.key) {
                twin.remote_key.clone_from(&replica.key);
                state::put(tx, state::ISSUE_TWINS, &twin_key, twin)?;
            }
            self.append(tx, &conn.id, &local_id, Body::Twins(twins), envelope.urgent)?;
            state::set_counter(tx, &applied_mark, envelope.version)?;
            state::remove(tx, state::ERRORS, &key(&conn.id, remote))?;
            state::remove(tx, state::INBOX, inbox_key)?;
            Ok(twin)
        })?;
        self.link_twin(&conn.id, &local_id, twin).await
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
