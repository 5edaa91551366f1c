//! The `tandem:rules@1.0.0` ABI as wasmtime sees it, and the conversions between
//! its generated records and the engine's own [`crate::model`] types.
//!
//! Nothing outside `rules` touches these generated types: the rest of the engine
//! speaks `model`. Custom field values cross the boundary as JSON text.

use crate::model;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "rules",
});

pub use self::tandem::rules::types as wit;

/// The WIT package and version this host speaks.
pub const WIT_PACKAGE: &str = "tandem:rules";
pub const WIT_VERSION: &str = "1.0.0";
/// The interface that carries the contract's types; components import it.
pub const TYPES_INTERFACE: &str = "tandem:rules/types@1.0.0";

impl From<&model::Context> for wit::Context {
    fn from(c: &model::Context) -> Self {
        wit::Context {
            connection: c.connection.clone(),
            side: match c.side {
                model::Side::Public => wit::Side::Public,
                model::Side::Private => wit::Side::Private,
            },
            first_sync: c.first_sync,
            remote_key: c.remote_key.clone(),
            project: wit::Project {
                key: c.project.key.clone(),
                issue_types: c.project.issue_types.clone(),
                default_issue_type: c.project.default_issue_type.clone(),
            },
        }
    }
}

impl From<&model::Comment> for wit::Comment {
    fn from(c: &model::Comment) -> Self {
        wit::Comment {
            id: c.id.clone(),
            author: c.author.clone(),
            body: c.body.clone(),
            created: c.created.clone(),
            internal: c.internal,
        }
    }
}

impl From<wit::Comment> for model::Comment {
    fn from(c: wit::Comment) -> Self {
        model::Comment {
            id: c.id,
            author: c.author,
            body: c.body,
            created: c.created,
            internal: c.internal,
        }
    }
}

impl From<&model::Attachment> for wit::Attachment {
    fn from(a: &model::Attachment) -> Self {
        wit::Attachment {
            id: a.id.clone(),
            filename: a.filename.clone(),
            mime_type: a.mime_type.clone(),
            size: a.size,
            sha256: a.sha256.clone(),
        }
    }
}

impl From<wit::Attachment> for model::Attachment {
    fn from(a: wit::Attachment) -> Self {
        model::Attachment {
            id: a.id,
            filename: a.filename,
            mime_type: a.mime_type,
            size: a.size,
            sha256: a.sha256,
        }
    }
}

fn fields_to_wit(fields: &model::Fields) -> Vec<wit::Field> {
    fields
        .iter()
        .map(|(name, value)| wit::Field {
            name: name.clone(),
            value: value.to_string(),
        })
        .collect()
}

/// Custom field values come back as JSON text written by the component; text
/// that is not JSON is the component's fault and is reported as such.
fn fields_from_wit(fields: Vec<wit::Field>) -> Result<model::Fields, String> {
    fields
        .into_iter()
        .map(|f| match serde_json::from_str(&f.value) {
            Ok(value) => Ok((f.name, value)),
            Err(e) => Err(format!("custom field `{}` is not JSON text: {e}", f.name)),
        })
        .collect()
}

impl From<&model::Issue> for wit::Issue {
    fn from(i: &model::Issue) -> Self {
        wit::Issue {
            key: i.key.clone(),
            summary: i.summary.clone(),
            description: i.description.clone(),
            issue_type: i.issue_type.clone(),
            status: i.status.clone(),
            priority: i.priority.clone(),
            labels: i.labels.clone(),
            comments: i.comments.iter().map(Into::into).collect(),
            attachments: i.attachments.iter().map(Into::into).collect(),
            fields: fields_to_wit(&i.fields),
        }
    }
}

impl From<&model::Replica> for wit::Replica {
    fn from(r: &model::Replica) -> Self {
        wit::Replica {
            key: r.key.clone(),
            summary: r.summary.clone(),
            description: r.description.clone(),
            issue_type: r.issue_type.clone(),
            status: r.status.clone(),
            priority: r.priority.clone(),
            labels: r.labels.clone(),
            comments: r.comments.iter().map(Into::into).collect(),
            attachments: r.attachments.iter().map(Into::into).collect(),
            fields: fields_to_wit(&r.fields),
        }
    }
}

impl TryFrom<wit::Replica> for model::Replica {
    type Error = String;
    fn try_from(r: wit::Replica) -> Result<Self, String> {
        Ok(model::Replica {
            key: r.key,
            summary: r.summary,
            description: r.description,
            issue_type: r.issue_type,
            status: r.status,
            priority: r.priority,
            labels: r.labels,
            comments: r.comments.into_iter().map(Into::into).collect(),
            attachments: r.attachments.into_iter().map(Into::into).collect(),
            fields: fields_from_wit(r.fields)?,
        })
    }
}

impl TryFrom<wit::Update> for model::Update {
    type Error = String;
    fn try_from(u: wit::Update) -> Result<Self, String> {
        Ok(model::Update {
            summary: u.summary,
            description: u.description,
            issue_type: u.issue_type,
            status: u.status,
            priority: u.priority,
            labels: u.labels,
            fields: fields_from_wit(u.fields)?,
            comments: u
                .comments
                .into_iter()
                .map(|c| model::CommentUpdate {
                    remote_id: c.remote_id,
                    author: c.author,
                    body: c.body,
                    internal: c.internal,
                })
                .collect(),
            attachments: u
                .attachments
                .into_iter()
                .map(|a| model::AttachmentUpdate {
                    remote_id: a.remote_id,
                    filename: a.filename,
                })
                .collect(),
        })
    }
}
