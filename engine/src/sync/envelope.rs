//! What travels between two nodes of a connection, and the narrow [`Transport`]
//! the pipeline hands it to. The network transport (public server, private
//! client) implements the same trait; tests wire two nodes in process.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::model::Replica;
use crate::tracker::IssueId;

/// One message of a connection, numbered by its origin's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The connection's id (the same on both sides).
    pub connection: String,
    /// The sending node's name.
    pub origin_node: String,
    /// The sender's tracker id of the issue this is about.
    pub origin_issue: IssueId,
    /// Per-issue version at the origin: later replaces earlier.
    pub version: u64,
    /// Position in the origin's outbox; the receiver dedupes by it.
    pub seq: u64,
    /// A person's change (not part of a bulk sync): the receiver applies it
    /// ahead of queued bulk work.
    #[serde(default)]
    pub urgent: bool,
    pub body: Body,
}

/// What an envelope carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A replica built by the sender's outgoing rules.
    Replica {
        replica: Replica,
        /// When the sender's tracker last changed the issue (RFC 3339): the
        /// later edit wins when both sides changed the same field.
        #[serde(default)]
        updated: String,
    },
    /// Twins the sender recorded while applying: the receiver records the
    /// same pairs, so what the sync created never comes back as new.
    Twins(Twins),
    /// The sender's issue was deleted; the receiver marks its twin.
    Removed,
    /// A person linked the sender's issue with the receiver's existing
    /// issue `issue` (`tandem link`): record the pair, copy nothing.
    Link { issue: IssueId, origin_key: String },
    /// A person unlinked the sender's issue: both issues stay, the pair ends.
    Unlinked,
}

/// Pairs of (receiver's id, sender's id), as seen from the receiver.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Twins {
    /// The receiver's issue the sender's `origin_issue` is the twin of.
    pub issue: IssueId,
    /// The sender's issue key, for display and rule context.
    pub origin_key: String,
    /// (receiver's comment id, sender's comment id).
    pub comments: Vec<(String, String)>,
    /// (receiver's attachment id, sender's attachment id).
    pub attachments: Vec<(String, String)>,
    /// The sender's issue as the sync left it: the receiver's "previous" for
    /// the next replica, so that only later edits count as changes.
    pub state: Option<Replica>,
}

/// Errors of the transport: connection-level, so the pipeline pauses and retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    #[error("peer refused: {0}")]
    Refused(String),
}

/// How the pipeline reaches the other node of a connection.
pub trait Transport: Send + Sync {
    /// Delivers envelopes in order; returns the highest seq the peer holds
    /// durably (everything up to it may leave the outbox).
    fn deliver(
        &self,
        envelopes: &[Envelope],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// The bytes of an attachment of the peer's issue, whose replica says
    /// `sha256` (the caller checks the bytes against it).
    fn fetch_attachment(
        &self,
        connection: &str,
        issue: &str,
        attachment: &str,
        sha256: &str,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}
