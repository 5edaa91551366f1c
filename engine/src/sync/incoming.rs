//! The receiving half: envelopes land durably in the inbox (and are acked),
//! then each is applied (`apply`) with an intent around every create
//! (`intents`). Owns the inbox, its lanes and the Twins messages' effect.

use super::state::{self, key, seq_key};
use super::{Body, Envelope, IssueTwin, SyncError, SyncNode, Transport, Twins};
use crate::model::Replica;
use crate::tracker::{Tracker, TrackerError};

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
                    state::remember(tx, "received", envelope, self.history_len())?;
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
            let batch_guard = self.writing.read().await;
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
            drop(batch_guard);
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
            Body::Twins(twins) => {
                let twin = self.write_lazy(|tx| {
                    let twin = record_twins(tx, conn, &envelope.origin_issue, twins)?;
                    state::remove(tx, state::INBOX, inbox_key)?;
                    Ok(twin)
                })?;
                self.link_twin(conn, &twins.issue, twin).await
            }
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
            Body::Link { issue, origin_key } => {
                self.accept_link(inbox_key, envelope, issue, origin_key)
                    .await
            }
            Body::Unlinked => self.write_lazy(|tx| {
                super::pairs::drop_pair_of_remote(tx, conn, &envelope.origin_issue)?;
                state::remove(tx, state::INBOX, inbox_key)
            }),
            Body::Replica { replica, updated } => {
                self.apply_replica(inbox_key, envelope, replica, updated, transport)
                    .await
            }
        }
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

/// Inbox keys sort urgent envelopes first, then by connection and seq.
fn inbox_key(envelope: &Envelope) -> String {
    let lane = if envelope.urgent { "0" } else { "1" };
    format!("{lane}\0{}", seq_key(&envelope.connection, envelope.seq))
}

/// Records the twins the peer made, for issues this node sent only (a peer
/// cannot pull an unrelated issue into the sync by claiming it); the issue's
/// twin record as it now stands.
fn record_twins(
    tx: &redb::WriteTransaction,
    conn: &str,
    peer_issue: &str,
    twins: &Twins,
) -> Result<Option<IssueTwin>, SyncError> {
    let local_key = key(conn, &twins.issue);
    if state::get::<Replica>(tx, state::LAST_SENT, &local_key)?.is_none() {
        return Ok(None);
    }
    let mut twin =
        state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &local_key)?.unwrap_or(IssueTwin {
            remote: peer_issue.into(),
            remote_key: String::new(),
            remote_removed: false,
            linked: String::new(),
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
    Ok(Some(twin))
}
