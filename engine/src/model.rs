//! The words of DESIGN.md as data: [`Issue`], [`Replica`], [`Update`], [`Context`].
//!
//! One definition each, shared by every module; their JSON form is the public
//! contract of `tandem rules test` fixtures and `tandem issue show --json`.
//! Unknown members are refused so that a typo in a fixture is an error, not a
//! silently ignored field. This module owns no behaviour: conversions to the
//! rules ABI live in `rules`, to trackers in `tracker`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Custom fields by name; values are any JSON.
pub type Fields = BTreeMap<String, serde_json::Value>;

/// An issue as a tracker holds it, as the rules see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    pub key: String,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub issue_type: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub fields: Fields,
}

/// A comment, keyed by the tracker's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    pub id: String,
    #[serde(default)]
    pub author: String,
    pub body: String,
    /// RFC 3339.
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub internal: bool,
}

/// Attachment metadata; the bytes travel separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    #[serde(default)]
    pub sha256: String,
}

/// The tracker-neutral snapshot that outgoing rules build and send. A member
/// that is absent was not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: Fields,
}

/// What incoming rules want set on this side; absent members stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: Fields,
    /// The desired comments, keyed by the remote comment's id.
    #[serde(default)]
    pub comments: Vec<CommentUpdate>,
    /// The desired attachments, keyed by the remote attachment's id.
    #[serde(default)]
    pub attachments: Vec<AttachmentUpdate>,
}

/// A comment incoming rules want on this side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentUpdate {
    pub remote_id: String,
    #[serde(default)]
    pub author: String,
    pub body: String,
    #[serde(default)]
    pub internal: bool,
}

/// An attachment incoming rules want on this side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpdate {
    pub remote_id: String,
    pub filename: String,
}

/// Which end of a connection this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    #[default]
    Public,
    Private,
}

/// The project a side syncs into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub key: String,
    #[serde(default)]
    pub issue_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_issue_type: Option<String>,
}

/// What rules are told about where they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub connection: String,
    #[serde(default)]
    pub side: Side,
    #[serde(default)]
    pub first_sync: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_key: Option<String>,
    pub project: Project,
}

impl Context {
    /// The context `rules test outgoing` uses when none is given: a first sync
    /// on a connection named `test`, in the issue's own project.
    pub fn for_test(issue: &Issue) -> Self {
        let project = issue
            .key
            .split_once('-')
            .map_or(issue.key.as_str(), |(p, _)| p);
        Context {
            connection: "test".into(),
            side: Side::Public,
            first_sync: true,
            remote_key: None,
            project: Project {
                key: project.into(),
                issue_types: Vec::new(),
                default_issue_type: None,
            },
        }
    }
}
