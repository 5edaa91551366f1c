//! Pairs a person makes or breaks: `tandem link` (two existing issues become
//! twins, nothing is copied), `tandem unlink` (the pair ends, both issues
//! stay), and removing a connection with every pair and queue it had.
//!
//! A peer's link is accepted only for an issue in this side's project for the
//! connection or matching its trigger, and only when neither issue is paired
//! otherwise: a peer cannot pull an unrelated issue into the sync. Two people
//! linking the same two issues from both sides at once end with one pair.

use super::state::{self, key};
use super::{Body, Envelope, IssueTwin, SyncError, SyncNode};
use crate::tracker::{Tracker, TrackerError};

impl<T: Tracker> SyncNode<T> {
    /// Links local issue `local` with the peer's issue `remote` and tells the
    /// peer. Refused when either is already paired with another issue.
    pub fn link(
        &self,
        connection: &str,
        local: &str,
        local_key: &str,
        remote: &str,
    ) -> Result<(), SyncError> {
        self.write(|tx| {
            let twin: Option<IssueTwin> = state::get(tx, state::ISSUE_TWINS, &key(connection, local))?;
            if let Some(t) = twin.filter(|t| t.remote != remote) {
                return Err(SyncError::Store(format!(
                    "{local_key} is already synced with {} on this connection; `tandem unlink` it first",
                    t.remote_key
                )));
            }
            let other: Option<String> = state::get(tx, state::REMOTE_ISSUES, &key(connection, remote))?;
            if other.as_deref().is_some_and(|o| o != local) {
                return Err(SyncError::Store(format!(
                    "the other side's {remote} is already synced with another issue here"
                )));
            }
            pair(tx, connection, local, remote, remote)?;
            let body = Body::Link {
                issue: remote.into(),
                origin_key: local_key.into(),
            };
            self.append(tx, connection, local, body, true)
        })
    }

    /// Ends the pair of local issue `local` on both sides.
    pub fn unlink(&self, connection: &str, local: &str) -> Result<bool, SyncError> {
        self.write(|tx| {
            let twin: Option<IssueTwin> =
                state::get(tx, state::ISSUE_TWINS, &key(connection, local))?;
            let Some(twin) = twin else {
                return Ok(false);
            };
            state::remove(tx, state::ISSUE_TWINS, &key(connection, local))?;
            state::remove(tx, state::REMOTE_ISSUES, &key(connection, &twin.remote))?;
            state::remove(tx, state::LAST_SENT, &key(connection, local))?;
            state::remove(tx, state::LAST_RECEIVED, &key(connection, &twin.remote))?;
            self.append(tx, connection, local, Body::Unlinked, true)?;
            Ok(true)
        })
    }

    /// The peer linked its issue with our `issue`.
    pub(super) async fn accept_link(
        &self,
        inbox_key: &str,
        envelope: &Envelope,
        issue: &str,
        origin_key: &str,
    ) -> Result<(), SyncError> {
        let conn = self.connection(&envelope.connection)?;
        let found = self.tracker.read_issue(issue).await;
        let in_scope = match &found {
            Ok(t) => {
                t.project == conn.project || conn.trigger.as_ref().is_some_and(|q| q.matches(t))
            }
            Err(TrackerError::NotFound(_)) => false,
            Err(e) => return Err(e.clone().into()),
        };
        if !in_scope {
            return Err(TrackerError::Rejected(format!(
                "the other side linked its {origin_key} with {issue}, which is not in this side's project {} or trigger; link it here too with `tandem link` if that is right",
                conn.project
            ))
            .into());
        }
        self.write_lazy(|tx| {
            let ours: Option<String> = state::get(tx, state::REMOTE_ISSUES, &key(&conn.id, &envelope.origin_issue))?;
            let theirs: Option<IssueTwin> = state::get(tx, state::ISSUE_TWINS, &key(&conn.id, issue))?;
            let clash = ours.as_deref().is_some_and(|o| o != issue)
                || theirs.as_ref().is_some_and(|t| t.remote != envelope.origin_issue);
            if clash {
                return Err(TrackerError::Rejected(format!(
                    "the other side linked its {origin_key} with {issue}, but one of them is already paired otherwise; unlink first"
                ))
                .into());
            }
            pair(tx, &conn.id, issue, &envelope.origin_issue, origin_key)?;
            state::remove(tx, state::INBOX, inbox_key)
        })
    }

    /// Removes a connection: its record, pairs, queues, history and errors;
    /// `also` removes what other modules keep about it, in the same transaction.
    pub fn delete_connection(
        &self,
        connection: &str,
        also: impl FnOnce(&redb::WriteTransaction) -> Result<(), SyncError>,
    ) -> Result<(), SyncError> {
        self.write(|tx| {
            let prefix = key(connection, "");
            for table in [
                state::ISSUE_TWINS,
                state::REMOTE_ISSUES,
                state::COMMENT_TWINS,
                state::ATTACHMENT_TWINS,
                state::LAST_SENT,
                state::LAST_RECEIVED,
                state::OUTBOX,
                state::HISTORY,
                state::ERRORS,
            ] {
                remove_prefix(tx, table, &prefix)?;
            }
            for lane in ["0", "1"] {
                remove_prefix(tx, state::INBOX, &format!("{lane}\0{prefix}"))?;
            }
            let intents: Vec<(String, super::intents::Intent)> =
                state::scan(tx, state::INTENTS, "", usize::MAX)?;
            for (mark, intent) in intents {
                if intent.connection == connection {
                    state::remove(tx, state::INTENTS, &mark)?;
                }
            }
            state::remove(tx, state::CONNECTIONS, connection)?;
            also(tx)
        })
    }
}

fn remove_prefix(
    tx: &redb::WriteTransaction,
    table: state::Table,
    prefix: &str,
) -> Result<(), SyncError> {
    for (k, _) in state::scan::<serde_json::Value>(tx, table, prefix, usize::MAX)? {
        state::remove(tx, table, &k)?;
    }
    Ok(())
}

fn pair(
    tx: &redb::WriteTransaction,
    connection: &str,
    local: &str,
    remote: &str,
    remote_key: &str,
) -> Result<(), SyncError> {
    let twin = IssueTwin {
        remote: remote.into(),
        remote_key: remote_key.into(),
        remote_removed: false,
        linked: String::new(),
    };
    state::put(tx, state::ISSUE_TWINS, &key(connection, local), &twin)?;
    state::put(tx, state::REMOTE_ISSUES, &key(connection, remote), &local)
}

/// The peer unlinked its issue: end our side of the pair.
pub(super) fn drop_pair_of_remote(
    tx: &redb::WriteTransaction,
    connection: &str,
    remote: &str,
) -> Result<(), SyncError> {
    let local: Option<String> = state::get(tx, state::REMOTE_ISSUES, &key(connection, remote))?;
    if let Some(local) = local {
        state::remove(tx, state::ISSUE_TWINS, &key(connection, &local))?;
        state::remove(tx, state::LAST_SENT, &key(connection, &local))?;
    }
    state::remove(tx, state::REMOTE_ISSUES, &key(connection, remote))?;
    state::remove(tx, state::LAST_RECEIVED, &key(connection, remote))
}
