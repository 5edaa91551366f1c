//! The sync pipeline: watcher → outgoing rules → outbox ⇒ inbox → incoming
//! rules → apply → twins, for one node and all its connections.
//!
//! Owns the decisions of the data flow in DESIGN.md: which issues a
//! connection picks up (twinned, or matching the trigger), echo suppression
//! (a replica equal to what was last sent or written is dropped), dedupe by
//! origin seq, intents and marks around every tracker create, twins recorded
//! with the state they came from. It drives a [`Transport`] and a
//! [`crate::tracker::Tracker`] through their traits and never opens a socket.
//!
//! - `outgoing`: the watcher pass and `sync_issue`.
//! - `incoming`: receiving into the inbox, the apply passes, Twins messages.
//! - `apply`: applying one replica (rules, merge, tracker writes, echo state).
//! - `intents`: intents and marks around every tracker create.
//! - `touched`: which issues applies wrote while the watcher was reading.
//! - `links`: each issue's link to its twin, where the tracker keeps one.
//! - `state`: the tables.
//! - `envelope`: what travels, and the `Transport` trait.

mod apply;
mod envelope;
mod in_process;
mod incoming;
mod intents;
mod links;
mod outgoing;
mod pairs;
pub mod query;
mod state;
mod touched;

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

pub use envelope::{Body, Envelope, Transport, TransportError, Twins};
pub use in_process::InProcess;
pub use query::Query;

/// The table of connection records (the connection module writes them with
/// their secrets in one transaction).
pub(crate) const CONNECTIONS_TABLE: state::Table = state::CONNECTIONS;

use crate::connection::{Mode, State};
use crate::model::{Replica, Side};
use crate::rules::{RulesComponent, RulesError};
use crate::store::Store;
use crate::tracker::{Tracker, TrackerError};

/// One side's record of a connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Connection {
    /// The same on both sides.
    pub id: String,
    /// This side's name for it.
    pub name: String,
    /// The project incoming issues are created in.
    pub project: String,
    /// This side's trigger: issues matching it sync by themselves.
    pub trigger: Option<Query>,
    /// This side's role: public (serves HTTP) or private (calls out only).
    pub side: Side,
    /// The other node's name; unknown until accepted.
    #[serde(default)]
    pub peer: Option<String>,
    /// Where this side reaches the peer (the private side, and both sides of
    /// a public-public connection).
    #[serde(default)]
    pub peer_url: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub state: State,
    /// This side made the invitation code.
    #[serde(default)]
    pub initiator: bool,
    #[serde(default)]
    pub created: String,
    /// Script mode: the sha256 of the component installed by `upgrade`; a
    /// component file that does not match is not loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_sha256: Option<String>,
}

/// The twin of a local issue on a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueTwin {
    pub remote: String,
    pub remote_key: String,
    /// The other side deleted its issue; this one stops syncing.
    pub remote_removed: bool,
    /// The twin's key the tracker's link to the twin shows (empty: no link).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub linked: String,
}

/// An error recorded against one issue (or a connection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub connection: String,
    pub issue: String,
    pub kind: String,
    pub message: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    pub hint: String,
    /// The message whose applying failed, kept for a retry.
    pub envelope: Option<Envelope>,
}

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("store: {0}")]
    Store(String),
    #[error("no connection `{0}`")]
    NoConnection(String),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("attachment `{0}` arrived damaged (sha256 differs)")]
    Damaged(String),
}

impl SyncError {
    /// True when the error belongs to one issue (record it, go on); false when
    /// the connection or node cannot proceed (pause and retry later).
    pub fn is_issue_level(&self) -> bool {
        match self {
            SyncError::Rules(_) | SyncError::Damaged(_) => true,
            SyncError::Tracker(e) => {
                matches!(e, TrackerError::NotFound(_) | TrackerError::Rejected(_))
            }
            _ => false,
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            SyncError::Rules(e) if e.is_rule_failure() => {
                "fix the rules (try them with `tandem rules test`), then retry"
            }
            SyncError::Tracker(TrackerError::Rejected(_)) => {
                "the tracker refused the change; check the project's types and fields, then retry"
            }
            SyncError::Damaged(_) => "retry; if it persists, check the peer's attachment store",
            _ => "retry once the cause is fixed",
        }
    }
}

/// The twins of a local issue on every connection, read straight from the
/// store (so `tandem issue show` works without a running node).
pub fn twins_of(store: &Store, local: &str) -> Result<Vec<(String, IssueTwin)>, SyncError> {
    use redb::{ReadableDatabase, ReadableTable};
    let read = store.db().begin_read().map_err(state::db)?;
    let Some(table) = crate::store::open_read(&read, state::ISSUE_TWINS).map_err(state::db)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(state::db)? {
        let (k, v) = row.map_err(state::db)?;
        if let Some((conn, id)) = k.value().split_once('\0')
            && id == local
        {
            out.push((
                conn.to_string(),
                serde_json::from_slice(v.value()).map_err(state::db)?,
            ));
        }
    }
    Ok(out)
}

/// The pipeline of one node.
pub struct SyncNode<T> {
    name: String,
    store: Store,
    tracker: T,
    /// The Basic rules: every connection in Basic mode runs them.
    basic: RulesComponent,
    /// Script components by connection id, or why one cannot run (then that
    /// connection's issues fail with the reason; never a silent fallback to
    /// Basic, which could send what the script keeps home).
    scripts: std::sync::RwLock<std::collections::HashMap<String, Result<RulesComponent, String>>>,
    /// How many replicas each way a connection keeps for dry runs.
    history_len: std::sync::atomic::AtomicU64,
    /// Apply batches hold it shared, the watcher's decisions alone: a
    /// tracker that keeps no sync marks (Redmine) would otherwise show the
    /// watcher an issue the sync just created before its twin is recorded,
    /// and it would go back to the peer as a new one.
    writing: tokio::sync::RwLock<()>,
    /// What applies wrote while the watcher was reading (see `touched`).
    touched: touched::Touched,
    /// One watcher pass at a time.
    polling: tokio::sync::Mutex<()>,
}

impl<T: Tracker> SyncNode<T> {
    /// A pipeline over `tracker`, running `rules` for every connection.
    pub fn new(name: &str, store: Store, tracker: T, rules: RulesComponent) -> Self {
        SyncNode {
            name: name.into(),
            store,
            tracker,
            basic: rules,
            scripts: Default::default(),
            history_len: state::HISTORY_LEN.into(),
            writing: Default::default(),
            touched: Default::default(),
            polling: Default::default(),
        }
    }

    /// Keeps the last `n` replicas each way per connection (default 100).
    pub fn set_history_len(&self, n: u64) {
        self.history_len
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn history_len(&self) -> u64 {
        self.history_len.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the script component of a connection in Script mode (or why it
    /// cannot be loaded).
    pub fn set_script(&self, connection: &str, component: Result<RulesComponent, String>) {
        self.scripts
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection.into(), component);
    }

    /// The rules a connection runs on this side.
    pub fn rules_for(&self, conn: &Connection) -> Result<RulesComponent, SyncError> {
        if conn.mode == Mode::Basic {
            return Ok(self.basic.clone());
        }
        let scripts = self.scripts.read().unwrap_or_else(|p| p.into_inner());
        match scripts.get(&conn.id) {
            Some(Ok(component)) => Ok(component.clone()),
            Some(Err(reason)) => Err(RulesError::Rejected {
                component: format!("the script rules of `{}`", conn.name),
                reason: reason.clone(),
            }
            .into()),
            None => Err(RulesError::Rejected {
                component: format!("the script rules of `{}`", conn.name),
                reason: "not loaded".into(),
            }
            .into()),
        }
    }

    /// The tracker this node serves.
    pub fn tracker(&self) -> &T {
        &self.tracker
    }

    /// Records a connection (the network handshake is the connection module's).
    pub fn add_connection(&self, connection: &Connection) -> Result<(), SyncError> {
        self.write(|tx| state::put(tx, state::CONNECTIONS, &connection.id, connection))
    }

    /// Every connection of this node.
    pub fn connections(&self) -> Result<Vec<Connection>, SyncError> {
        self.write(|tx| {
            Ok(state::scan(tx, state::CONNECTIONS, "", usize::MAX)?
                .into_iter()
                .map(|(_, c)| c)
                .collect())
        })
    }

    fn connection(&self, id: &str) -> Result<Connection, SyncError> {
        self.read(|tx| state::get(tx, state::CONNECTIONS, id))?
            .ok_or_else(|| SyncError::NoConnection(id.into()))
    }

    /// The twin of a local issue, if any.
    pub fn twin(&self, connection: &str, local: &str) -> Result<Option<IssueTwin>, SyncError> {
        self.read(|tx| state::get(tx, state::ISSUE_TWINS, &state::key(connection, local)))
    }

    /// The twins of a local issue on every connection.
    pub fn twins_of(&self, local: &str) -> Result<Vec<(String, IssueTwin)>, SyncError> {
        twins_of(&self.store, local)
    }

    /// The local issue twinned with a remote one, if any.
    pub fn local_twin_of(
        &self,
        connection: &str,
        remote: &str,
    ) -> Result<Option<String>, SyncError> {
        self.read(|tx| state::get(tx, state::REMOTE_ISSUES, &state::key(connection, remote)))
    }

    /// Up to `limit` envelopes waiting for the peer, oldest first.
    pub fn outbox(&self, connection: &str, limit: usize) -> Result<Vec<Envelope>, SyncError> {
        let prefix = state::key(connection, "");
        // Reading only: nothing to make durable.
        self.write_lazy(|tx| {
            Ok(state::scan(tx, state::OUTBOX, &prefix, limit)?
                .into_iter()
                .map(|(_, e)| e)
                .collect())
        })
    }

    /// The highest seq of `connection` this node holds durably in its inbox
    /// (what it acks when it long-polls).
    pub fn received_up_to(&self, connection: &str) -> Result<u64, SyncError> {
        self.write_lazy(|tx| state::counter(tx, &format!("in:{connection}")))
    }

    /// The peer holds everything up to `seq`: drop it from the outbox.
    pub fn acked(&self, connection: &str, seq: u64) -> Result<(), SyncError> {
        let prefix = state::key(connection, "");
        self.write(|tx| {
            for (key, envelope) in state::scan::<Envelope>(tx, state::OUTBOX, &prefix, usize::MAX)?
            {
                if envelope.seq > seq {
                    break;
                }
                state::remove(tx, state::OUTBOX, &key)?;
            }
            Ok(())
        })
    }

    /// Sends the outbox of `connection` through `transport` until it is empty.
    pub async fn push(
        &self,
        connection: &str,
        transport: &impl Transport,
    ) -> Result<usize, SyncError> {
        let mut sent = 0;
        loop {
            let batch = self.outbox(connection, 256)?;
            if batch.is_empty() {
                return Ok(sent);
            }
            let ack = transport.deliver(&batch).await?;
            self.acked(connection, ack)?;
            sent += batch.len();
        }
    }

    /// The last replicas sent (`"sent"`) or received (`"received"`) on a
    /// connection, oldest first: what a dry run of new rules replays.
    pub fn history(&self, connection: &str, direction: &str) -> Result<Vec<Envelope>, SyncError> {
        let prefix = state::key(&state::key(connection, direction), "");
        self.write_lazy(|tx| {
            Ok(state::scan(tx, state::HISTORY, &prefix, usize::MAX)?
                .into_iter()
                .map(|(_, e)| e)
                .collect())
        })
    }

    /// Makes everything committed lazily so far durable (one fsync).
    pub fn flush(&self) -> Result<(), SyncError> {
        self.write(|_| Ok(()))
    }

    /// Errors recorded on this node.
    pub fn errors(&self) -> Result<Vec<ErrorRecord>, SyncError> {
        self.write(|tx| {
            Ok(state::scan(tx, state::ERRORS, "", usize::MAX)?
                .into_iter()
                .map(|(_, e)| e)
                .collect())
        })
    }

    /// (outbox, inbox) depths of one connection.
    pub fn queue_depths(&self, connection: &str) -> Result<(usize, usize), SyncError> {
        let prefix = state::key(connection, "");
        self.write_lazy(|tx| {
            let outbox =
                state::scan::<serde_json::Value>(tx, state::OUTBOX, &prefix, usize::MAX)?.len();
            let mut inbox = 0;
            for lane in ["0", "1"] {
                inbox += state::scan::<serde_json::Value>(
                    tx,
                    state::INBOX,
                    &format!("{lane}\0{prefix}"),
                    usize::MAX,
                )?
                .len();
            }
            Ok((outbox, inbox))
        })
    }

    /// Forgets an error without retrying it.
    pub fn resolve(&self, connection: &str, issue: &str) -> Result<bool, SyncError> {
        self.write(|tx| {
            let key = state::key(connection, issue);
            let found = state::get::<ErrorRecord>(tx, state::ERRORS, &key)?.is_some();
            state::remove(tx, state::ERRORS, &key)?;
            Ok(found)
        })
    }

    /// Envelopes received and not yet applied.
    pub fn inbox_len(&self) -> Result<usize, SyncError> {
        let read = self.store.db().begin_read().map_err(state::db)?;
        match crate::store::open_read(&read, state::INBOX).map_err(state::db)? {
            Some(t) => Ok(redb::ReadableTableMetadata::len(&t).map_err(state::db)? as usize),
            None => Ok(0),
        }
    }

    /// A durable transaction: committed with an fsync.
    fn write<R>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<R, SyncError>,
    ) -> Result<R, SyncError> {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// A transaction that becomes durable with the next durable one (group
    /// commit). Only for steps that are redone from durable state when lost:
    /// applying is redone from the inbox, twins from open intents.
    fn write_lazy<R>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<R, SyncError>,
    ) -> Result<R, SyncError> {
        self.write_with(redb::Durability::None, f)
    }

    fn write_with<R>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<R, SyncError>,
    ) -> Result<R, SyncError> {
        let mut tx = self.store.db().begin_write().map_err(state::db)?;
        tx.set_durability(durability).map_err(state::db)?;
        let out = f(&tx)?;
        tx.commit().map_err(state::db)?;
        Ok(out)
    }

    /// A read-only view: no commit, no fsync.
    fn read<R>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<R, SyncError>,
    ) -> Result<R, SyncError> {
        let tx = self.store.db().begin_read().map_err(state::db)?;
        f(&tx)
    }

    fn record_error(
        &self,
        tx: &redb::WriteTransaction,
        connection: &str,
        issue: &str,
        error: &SyncError,
        envelope: Option<Envelope>,
    ) -> Result<(), SyncError> {
        let key = state::key(connection, issue);
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let mut record =
            state::get::<ErrorRecord>(tx, state::ERRORS, &key)?.unwrap_or_else(|| ErrorRecord {
                connection: connection.into(),
                issue: issue.into(),
                kind: "issue".into(),
                message: String::new(),
                first_seen: now.clone(),
                last_seen: String::new(),
                count: 0,
                hint: String::new(),
                envelope: None,
            });
        tracing::warn!(connection, issue, "sync error: {error}");
        record.message = error.to_string();
        record.last_seen = now;
        record.count += 1;
        record.hint = error.hint().into();
        if envelope.is_some() {
            record.envelope = envelope;
        }
        state::put(tx, state::ERRORS, &key, &record)
    }
}

/// Line endings and trailing whitespace differ between trackers (Redmine
/// stores `\r\n`); comparing normalised replicas keeps them from echoing.
pub fn normalise(replica: &mut Replica) {
    fn text(s: &mut String) {
        if s.contains('\r') || s.ends_with(char::is_whitespace) || s.contains(" \n") {
            let lines: Vec<&str> = s.split('\n').map(|l| l.trim_end()).collect();
            *s = lines.join("\n").trim_end().to_string();
        }
    }
    for field in [&mut replica.summary, &mut replica.description]
        .into_iter()
        .flatten()
    {
        text(field);
    }
    for comment in &mut replica.comments {
        text(&mut comment.body);
    }
}
