//! Trackers: the [`Tracker`] trait every connector implements, and the
//! connectors: `local` (embedded), `jira` (Server/Data Center REST v2) and
//! `redmine`; `any` is the one a node's config names.
//!
//! The sync pipeline sees only this trait. Issues are addressed by the
//! tracker's own id ([`IssueId`]), never by the key a person sees: a Jira key
//! changes when an issue moves. Everything the sync creates carries a [`Mark`]
//! so that, after a crash between a tracker write and its twin record, the
//! write can be found again instead of made twice.

pub mod any;
mod http;
pub mod jira;
pub mod local;
pub mod redmine;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Issue;

/// A tracker's own, stable id for an issue.
pub type IssueId = String;

/// Where the last poll of changes ended; opaque outside the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Cursor(pub String);

/// What the sync stamps on what it creates (an id unique to that write).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mark(pub String);

/// Issues changed since a cursor, and the cursor to continue from.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub issues: Vec<IssueId>,
    pub cursor: Cursor,
}

/// An issue with what only the tracker knows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedIssue {
    pub id: IssueId,
    pub project: String,
    /// RFC 3339, as the tracker reports it.
    pub updated: String,
    #[serde(flatten)]
    pub issue: Issue,
}

/// What a new issue is created with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewIssue {
    pub project: String,
    pub issue_type: String,
    pub summary: String,
    pub description: String,
    pub priority: Option<String>,
    pub labels: Vec<String>,
}

/// Fields to set on an existing issue; `None` leaves one alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FieldChanges {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub issue_type: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub labels: Option<Vec<String>>,
    /// Custom fields to set (others stay as they are).
    #[serde(default, skip_serializing_if = "crate::model::Fields::is_empty")]
    pub fields: crate::model::Fields,
}

impl FieldChanges {
    pub fn is_empty(&self) -> bool {
        *self == FieldChanges::default()
    }
}

/// What a marked write was to create, kept with its intent: a tracker that
/// cannot store a mark (Redmine, without admin changes) finds the write by
/// its author, time and content instead.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MarkHint {
    /// The project an issue was created in.
    #[serde(default)]
    pub project: String,
    /// The issue a comment or attachment was added to.
    #[serde(default)]
    pub issue: Option<IssueId>,
    /// The summary, comment body or file name written.
    #[serde(default)]
    pub text: String,
    /// An attachment's size.
    #[serde(default)]
    pub size: Option<u64>,
    /// When the intent was recorded (RFC 3339): the write is no older.
    #[serde(default)]
    pub since: String,
}

/// The link an issue may carry to its twin on the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinLink {
    /// This side's name of the connection (what `twin_links` is keyed by).
    pub connection: String,
    /// The peer node's name.
    pub peer: String,
    /// The twin's key on the other side (`OPS-7`, `#12`).
    pub key: String,
    /// Stable per connection and twin: what makes linking again an update.
    pub global_id: String,
}

/// A comment the sync writes as the tracker's API user on someone else's
/// behalf starts with who wrote it (`alice wrote:`), since Jira and Redmine
/// cannot set a comment's author (with no author, the body as it is).
pub fn on_behalf(author: &str, body: &str) -> String {
    let author = author.trim();
    if author.is_empty() || author.contains('\n') {
        return body.to_string();
    }
    format!("{author} wrote:\n{body}")
}

/// The author and body of a comment [`on_behalf`] wrote; `None` for any
/// other text. Read back this way, a synced comment compares equal to what
/// was sent, so it neither echoes nor looks edited.
pub fn split_on_behalf(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = text.split_once('\n')?;
    let author = first.strip_suffix(" wrote:")?;
    (!author.trim().is_empty() && author.len() <= 200).then_some((author, rest))
}

/// What carries a given mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Marked {
    Issue { issue: IssueId },
    Comment { issue: IssueId, comment: String },
    Attachment { issue: IssueId, attachment: String },
}

/// A project as the rules need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub key: String,
    pub issue_types: Vec<String>,
    pub default_issue_type: Option<String>,
}

/// What went wrong talking to a tracker; the sync decides by kind whether an
/// error belongs to one issue (not found, rejected) or pauses the connection.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrackerError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("rejected by the tracker: {0}")]
    Rejected(String),
    #[error("the tracker refused our credentials: {0}")]
    Unauthorised(String),
    #[error("rate-limited by the tracker; retry after {} s", .retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("the tracker is unavailable: {0}")]
    Unavailable(String),
}

/// An issue tracker, as the sync pipeline uses it.
pub trait Tracker: Send + Sync {
    /// Issues changed after `cursor`. With `None`, the embedded tracker
    /// returns every issue from the start; a remote one (Jira, Redmine)
    /// returns none and a cursor at its newest change: a node that starts
    /// next to a tracker with years of history does not read all of it
    /// (existing issues sync through `tandem sync --all`).
    fn changed_since(
        &self,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<Changes, TrackerError>> + Send;
    /// An issue with its comments and attachment metadata.
    fn read_issue(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<TrackedIssue, TrackerError>> + Send;
    /// The bytes of an attachment.
    fn download_attachment(
        &self,
        issue: &str,
        attachment: &str,
    ) -> impl Future<Output = Result<Vec<u8>, TrackerError>> + Send;
    /// Creates an issue carrying `mark`.
    fn create_issue(
        &self,
        new: &NewIssue,
        mark: &Mark,
    ) -> impl Future<Output = Result<IssueId, TrackerError>> + Send;
    /// Sets fields of an issue.
    fn set_fields(
        &self,
        issue: &str,
        changes: &FieldChanges,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
    /// Adds a comment carrying `mark`; returns its id.
    fn add_comment(
        &self,
        issue: &str,
        author: &str,
        body: &str,
        internal: bool,
        mark: &Mark,
    ) -> impl Future<Output = Result<String, TrackerError>> + Send;
    /// Changes a comment's body (never its visibility).
    fn edit_comment(
        &self,
        issue: &str,
        comment: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
    /// Uploads an attachment carrying `mark`; returns its id.
    fn upload_attachment(
        &self,
        issue: &str,
        filename: &str,
        bytes: &[u8],
        mark: &Mark,
    ) -> impl Future<Output = Result<String, TrackerError>> + Send;
    /// What carries `mark`, if the write it stands for happened.
    fn find_mark(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> impl Future<Output = Result<Option<Marked>, TrackerError>> + Send;
    /// Issue types and the default type of a project.
    fn project(&self, key: &str) -> impl Future<Output = Result<ProjectInfo, TrackerError>> + Send;
    /// Links `issue` to its twin where the tracker is set to keep such
    /// links (Jira's remote links, `[jira.twin_links]`); the same `global_id`
    /// updates the link instead of adding one. False when this tracker keeps
    /// no link for the connection.
    fn link_twin(
        &self,
        _issue: &str,
        _link: &TwinLink,
    ) -> impl Future<Output = Result<bool, TrackerError>> + Send {
        async { Ok(false) }
    }
    /// True when the tracker's writes commit into the node's own store (the
    /// `local` tracker): then the sync's bookkeeping may ride on them instead
    /// of needing an fsync of its own before each write.
    fn shares_store(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_written_on_someones_behalf_reads_back_as_theirs() {
        let written = on_behalf("alice", "seen it\nsecond line");
        assert_eq!(written, "alice wrote:\nseen it\nsecond line");
        assert_eq!(
            split_on_behalf(&written),
            Some(("alice", "seen it\nsecond line"))
        );
        assert_eq!(on_behalf("", "plain"), "plain");
        assert_eq!(split_on_behalf("no prefix\nhere"), None);
        assert_eq!(split_on_behalf(" wrote:\nnobody"), None);
    }
}
