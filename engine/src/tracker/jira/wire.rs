//! Jira's v2 JSON as the connector reads it: only the members it uses, each
//! tolerant of what Data Center and the published schema disagree on.

use serde::Deserialize;
use serde_json::Value;

use super::MARK_PROPERTY;
use crate::tracker::Mark;

#[derive(Deserialize)]
pub(super) struct Created {
    pub(super) id: String,
}

#[derive(Deserialize, Default)]
pub(super) struct Named {
    #[serde(default)]
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct User {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default, rename = "displayName")]
    pub(super) display_name: String,
}

#[derive(Deserialize)]
pub(super) struct CommentJson {
    pub(super) id: String,
    #[serde(default)]
    pub(super) author: Option<User>,
    #[serde(default)]
    pub(super) body: Option<String>,
    #[serde(default)]
    pub(super) created: String,
    #[serde(default)]
    pub(super) visibility: Option<Value>,
    #[serde(default)]
    pub(super) properties: Vec<Property>,
}

#[derive(Deserialize)]
pub(super) struct Property {
    pub(super) key: String,
    #[serde(default)]
    pub(super) value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommentPage {
    #[serde(default)]
    pub(super) start_at: usize,
    #[serde(default)]
    pub(super) total: usize,
    #[serde(default)]
    pub(super) comments: Vec<CommentJson>,
}

/// An id Jira writes as a string in one place and a number in another
/// (`Attachment` vs `AttachmentMetadata` in Atlassian's own schema).
fn any_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("an id, not {other}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AttachmentJson {
    #[serde(deserialize_with = "any_id")]
    pub(super) id: String,
    pub(super) filename: String,
    #[serde(default)]
    pub(super) size: u64,
    #[serde(default)]
    pub(super) mime_type: Option<String>,
    #[serde(default)]
    pub(super) content: String,
    #[serde(default)]
    pub(super) author: Option<User>,
    #[serde(default)]
    pub(super) created: String,
}

pub(super) fn marked_by(properties: &[Property], mark: &Mark) -> bool {
    properties
        .iter()
        .any(|p| p.key == MARK_PROPERTY && p.value["mark"] == mark.0)
}
