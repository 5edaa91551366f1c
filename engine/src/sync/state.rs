//! The sync pipeline's tables in the node's redb file: connections, twins,
//! intents, the replicas last sent and received, outbox and inbox, the
//! watcher's cursor and per-issue errors.
//!
//! Keys are `connection \0 id` strings so one connection's rows sit together;
//! values are JSON. Every function takes the transaction it runs in, so the
//! pipeline decides what commits together (twins with the seq they came from).

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SyncError;

pub(crate) type Table = TableDefinition<'static, &'static str, &'static [u8]>;

pub(crate) const CONNECTIONS: Table = TableDefinition::new("sync_connections");
/// (conn, local issue) -> IssueTwin.
pub(crate) const ISSUE_TWINS: Table = TableDefinition::new("sync_issue_twins");
/// (conn, remote issue) -> local issue id.
pub(crate) const REMOTE_ISSUES: Table = TableDefinition::new("sync_remote_issues");
/// (conn, remote comment) -> local comment id.
pub(crate) const COMMENT_TWINS: Table = TableDefinition::new("sync_comment_twins");
/// (conn, remote attachment) -> local attachment id.
pub(crate) const ATTACHMENT_TWINS: Table = TableDefinition::new("sync_attachment_twins");
/// mark -> Intent: a tracker create in flight.
pub(crate) const INTENTS: Table = TableDefinition::new("sync_intents");
/// (conn, local issue) -> the replica last sent, or last written by the sync.
pub(crate) const LAST_SENT: Table = TableDefinition::new("sync_last_sent");
/// (conn, remote issue) -> the replica last received (the "previous").
pub(crate) const LAST_RECEIVED: Table = TableDefinition::new("sync_last_received");
/// (conn, seq) -> Envelope waiting for the peer's ack.
pub(crate) const OUTBOX: Table = TableDefinition::new("sync_outbox");
/// (conn, seq) -> Envelope received, not yet applied.
pub(crate) const INBOX: Table = TableDefinition::new("sync_inbox");
/// (conn, "sent"|"received", n) -> Envelope: the last replicas each way,
/// which a dry run of new rules replays.
pub(crate) const HISTORY: Table = TableDefinition::new("sync_history");
/// (conn, issue) -> ErrorRecord.
pub(crate) const ERRORS: Table = TableDefinition::new("sync_errors");
/// name -> u64: outbox seq per connection, inbox high-water mark, versions.
pub(crate) const COUNTERS: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("sync_counters");
/// name -> text: watcher cursors.
pub(crate) const CURSORS: TableDefinition<'static, &'static str, &'static str> =
    TableDefinition::new("sync_cursors");

pub(crate) fn key(connection: &str, id: &str) -> String {
    format!("{connection}\0{id}")
}

/// Keys of a connection's queue sort by seq.
pub(crate) fn seq_key(connection: &str, seq: u64) -> String {
    format!("{connection}\0{seq:020}")
}

pub(crate) fn db(e: impl std::fmt::Display) -> SyncError {
    SyncError::Store(e.to_string())
}

/// A transaction that can read the pipeline's tables: a write transaction,
/// or a read transaction (no commit, no fsync) for lookups.
pub(crate) trait Reader {
    fn raw(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, SyncError>;
}

impl Reader for WriteTransaction {
    fn raw(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, SyncError> {
        let t = self.open_table(table).map_err(db)?;
        Ok(t.get(key).map_err(db)?.map(|v| v.value().to_vec()))
    }
}

impl Reader for redb::ReadTransaction {
    fn raw(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, SyncError> {
        let Some(t) = crate::store::open_read(self, table).map_err(db)? else {
            return Ok(None);
        };
        Ok(t.get(key).map_err(db)?.map(|v| v.value().to_vec()))
    }
}

pub(crate) fn get<T: DeserializeOwned>(
    tx: &impl Reader,
    table: Table,
    key: &str,
) -> Result<Option<T>, SyncError> {
    tx.raw(table, key)?
        .map(|v| serde_json::from_slice(&v).map_err(db))
        .transpose()
}

pub(crate) fn put<T: Serialize>(
    tx: &WriteTransaction,
    table: Table,
    key: &str,
    value: &T,
) -> Result<(), SyncError> {
    let bytes = serde_json::to_vec(value).map_err(db)?;
    tx.open_table(table)
        .map_err(db)?
        .insert(key, bytes.as_slice())
        .map_err(db)?;
    Ok(())
}

pub(crate) fn remove(tx: &WriteTransaction, table: Table, key: &str) -> Result<(), SyncError> {
    tx.open_table(table).map_err(db)?.remove(key).map_err(db)?;
    Ok(())
}

/// Rows of `table` whose key starts with `prefix`, in key order, at most `limit`.
pub(crate) fn scan<T: DeserializeOwned>(
    tx: &WriteTransaction,
    table: Table,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, T)>, SyncError> {
    let t = tx.open_table(table).map_err(db)?;
    let mut out = Vec::new();
    for row in t.range(prefix..).map_err(db)? {
        let (k, v) = row.map_err(db)?;
        if !k.value().starts_with(prefix) || out.len() >= limit {
            break;
        }
        out.push((
            k.value().to_string(),
            serde_json::from_slice(v.value()).map_err(db)?,
        ));
    }
    Ok(out)
}

pub(crate) fn counter(tx: &WriteTransaction, name: &str) -> Result<u64, SyncError> {
    let t = tx.open_table(COUNTERS).map_err(db)?;
    Ok(t.get(name).map_err(db)?.map_or(0, |v| v.value()))
}

pub(crate) fn set_counter(tx: &WriteTransaction, name: &str, value: u64) -> Result<(), SyncError> {
    tx.open_table(COUNTERS)
        .map_err(db)?
        .insert(name, value)
        .map_err(db)?;
    Ok(())
}

/// Increments and returns a counter.
pub(crate) fn bump(tx: &WriteTransaction, name: &str) -> Result<u64, SyncError> {
    let next = counter(tx, name)? + 1;
    set_counter(tx, name, next)?;
    Ok(next)
}

pub(crate) fn cursor(tx: &WriteTransaction, name: &str) -> Result<Option<String>, SyncError> {
    let t = tx.open_table(CURSORS).map_err(db)?;
    Ok(t.get(name).map_err(db)?.map(|v| v.value().to_string()))
}

pub(crate) fn set_cursor(tx: &WriteTransaction, name: &str, value: &str) -> Result<(), SyncError> {
    tx.open_table(CURSORS)
        .map_err(db)?
        .insert(name, value)
        .map_err(db)?;
    Ok(())
}

/// How many replicas each way a connection keeps for dry runs.
pub(crate) const HISTORY_LEN: u64 = 100;

/// Keeps `envelope` among the last [`HISTORY_LEN`] of its connection and direction.
pub(crate) fn remember(
    tx: &WriteTransaction,
    direction: &str,
    envelope: &super::Envelope,
    keep: u64,
) -> Result<(), SyncError> {
    let scope = format!("{}\0{direction}", envelope.connection);
    let n = bump(tx, &format!("history:{scope}"))?;
    put(tx, HISTORY, &seq_key(&scope, n), envelope)?;
    // Older entries go; scanning from the oldest copes with a shrunk `keep`.
    let prefix = seq_key(&scope, 0);
    let prefix = &prefix[..prefix.len() - 20];
    let held: Vec<(String, serde_json::Value)> = scan(tx, HISTORY, prefix, usize::MAX)?;
    let excess = held.len().saturating_sub(keep as usize);
    for (key, _) in held.into_iter().take(excess) {
        remove(tx, HISTORY, &key)?;
    }
    Ok(())
}
