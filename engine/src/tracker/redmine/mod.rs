//! The Redmine connector (REST API, Redmine 5): issues, journals with notes as
//! comments (`private_notes` → internal; field-change journals are not
//! comments), attachments through uploads, trackers as issue types.
//!
//! Redmine cannot carry a sync mark without admin changes, so a write the
//! sync made is found again by who made it, when and what it says
//! ([`MarkHint`], in `marks`). Redmine stores `\r\n`: text is read back
//! with `\n` so it does not echo. Owns nothing on disk; `api` owns the HTTP,
//! `watch` the watcher's cursor.

mod api;
mod marks;
mod watch;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use api::{Api, IssueJson, Named, ProjectJson};

use super::{
    Changes, Cursor, FieldChanges, IssueId, Mark, MarkHint, Marked, NewIssue, ProjectInfo,
    TrackedIssue, Tracker, TrackerError,
};
use crate::model::{Attachment, Comment, Issue};

/// Issues per page (Redmine's maximum).
const PAGE: usize = 100;
/// How far the node's and Redmine's clocks may disagree when looking for a
/// write by its time.
const CLOCK_SLACK: Duration = Duration::from_secs(300);

/// A Redmine instance, as one API user sees it.
#[derive(Clone)]
pub struct RedmineTracker {
    api: Api,
    cache: std::sync::Arc<Cache>,
}

#[derive(Default)]
struct Cache {
    me: Mutex<Option<u64>>,
    trackers: Mutex<Vec<Named>>,
    statuses: Mutex<Vec<Named>>,
    priorities: Mutex<Vec<Named>>,
    projects: Mutex<HashMap<u64, String>>,
    /// Attachment id -> sha256 (attachments never change in Redmine).
    digests: Mutex<HashMap<u64, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Redmine keeps `\r\n`; the sync compares `\n`.
fn text(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// Who wrote a comment, and what: a note the API user wrote on someone's
/// behalf names them in its first line.
fn written_by(notes: &str, writer: &str, by_api_user: bool) -> (String, String) {
    match super::split_on_behalf(notes).filter(|_| by_api_user) {
        Some((author, body)) => (author.to_string(), body.to_string()),
        None => (writer.to_string(), notes.to_string()),
    }
}

fn id_of(issue: &str) -> Result<u64, TrackerError> {
    issue
        .trim_start_matches('#')
        .parse()
        .map_err(|_| TrackerError::NotFound(format!("`{issue}` is not a Redmine issue number")))
}

fn enc(s: &str) -> String {
    super::http::percent_encode(s)
}

impl RedmineTracker {
    /// A connector for the Redmine at `url`, authenticating with `key`.
    pub fn new(url: &str, key: String) -> Result<Self, TrackerError> {
        Ok(RedmineTracker {
            api: Api::new(url, key)?,
            cache: Default::default(),
        })
    }

    /// The API user's id; also checks the key (Redmine treats a wrong key as
    /// anonymous, which still reads public things).
    pub async fn me(&self) -> Result<u64, TrackerError> {
        if let Some(id) = *lock(&self.cache.me) {
            return Ok(id);
        }
        #[derive(Deserialize)]
        struct Current {
            user: Named,
        }
        let current: Current = self
            .api
            .get("/users/current.json", "checking the API key")
            .await?;
        *lock(&self.cache.me) = Some(current.user.id);
        Ok(current.user.id)
    }

    async fn named(
        &self,
        which: &Mutex<Vec<Named>>,
        path: &str,
        member: &str,
    ) -> Result<Vec<Named>, TrackerError> {
        if !lock(which).is_empty() {
            return Ok(lock(which).clone());
        }
        let value: serde_json::Value = self.api.get(path, &format!("reading {member}")).await?;
        let list: Vec<Named> = serde_json::from_value(value[member].clone()).unwrap_or_default();
        *lock(which) = list.clone();
        Ok(list)
    }

    async fn lookup(&self, kind: &str, name: &str) -> Result<u64, TrackerError> {
        let (cache, path, member) = match kind {
            "tracker" => (&self.cache.trackers, "/trackers.json", "trackers"),
            "status" => (
                &self.cache.statuses,
                "/issue_statuses.json",
                "issue_statuses",
            ),
            _ => (
                &self.cache.priorities,
                "/enumerations/issue_priorities.json",
                "issue_priorities",
            ),
        };
        let list = self.named(cache, path, member).await?;
        list.iter()
            .find(|n| n.name.eq_ignore_ascii_case(name))
            .map(|n| n.id)
            .ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
                TrackerError::Rejected(format!(
                    "Redmine has no {kind} `{name}` (there are {})",
                    names.join(", ")
                ))
            })
    }

    async fn project_identifier(&self, id: u64) -> Result<String, TrackerError> {
        if let Some(identifier) = lock(&self.cache.projects).get(&id) {
            return Ok(identifier.clone());
        }
        #[derive(Deserialize)]
        struct P {
            project: ProjectJson,
        }
        let p: P = self
            .api
            .get(&format!("/projects/{id}.json"), "reading a project")
            .await?;
        lock(&self.cache.projects).insert(id, p.project.identifier.clone());
        Ok(p.project.identifier)
    }

    async fn issue_json(&self, id: u64) -> Result<IssueJson, TrackerError> {
        #[derive(Deserialize)]
        struct One {
            issue: IssueJson,
        }
        let one: One = self
            .api
            .get(
                &format!("/issues/{id}.json?include=journals,attachments"),
                &format!("issue #{id}"),
            )
            .await?;
        Ok(one.issue)
    }

    async fn digest(&self, a: &api::AttachmentJson) -> Result<String, TrackerError> {
        if let Some(sha) = lock(&self.cache.digests).get(&a.id) {
            return Ok(sha.clone());
        }
        let bytes = self
            .api
            .get_bytes(&a.content_url, &format!("attachment {}", a.filename))
            .await?;
        let sha = hex::encode(Sha256::digest(&bytes));
        lock(&self.cache.digests).insert(a.id, sha.clone());
        Ok(sha)
    }
}

impl Tracker for RedmineTracker {
    async fn changed_since(&self, cursor: Option<&Cursor>) -> Result<Changes, TrackerError> {
        self.changes_after(cursor).await
    }

    async fn read_issue(&self, id: &str) -> Result<TrackedIssue, TrackerError> {
        let issue = self.issue_json(id_of(id)?).await?;
        let project = self.project_identifier(issue.project.id).await?;
        let me = self.me().await?;
        let comments = issue
            .journals
            .iter()
            .filter(|j| j.notes.as_deref().is_some_and(|n| !n.trim().is_empty()))
            .map(|j| {
                let notes = text(j.notes.as_deref().unwrap_or_default());
                let writer = j.user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
                let (author, body) =
                    written_by(&notes, &writer, j.user.as_ref().is_some_and(|u| u.id == me));
                Comment {
                    id: j.id.to_string(),
                    author,
                    body,
                    created: j.created_on.clone(),
                    internal: j.private_notes,
                }
            })
            .collect();
        let mut attachments = Vec::new();
        for a in &issue.attachments {
            attachments.push(Attachment {
                id: a.id.to_string(),
                filename: a.filename.clone(),
                mime_type: a
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: a.filesize,
                sha256: self.digest(a).await?,
            });
        }
        Ok(TrackedIssue {
            id: issue.id.to_string(),
            project,
            updated: issue.updated_on.clone(),
            issue: Issue {
                key: format!("#{}", issue.id),
                summary: issue.subject.clone(),
                description: text(issue.description.as_deref().unwrap_or_default()),
                issue_type: issue.tracker.name.clone(),
                status: issue.status.name.clone(),
                priority: issue.priority.name.clone(),
                labels: Vec::new(),
                comments,
                attachments,
                fields: Default::default(),
            },
        })
    }

    async fn download_attachment(
        &self,
        _issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        #[derive(Deserialize)]
        struct A {
            attachment: api::AttachmentJson,
        }
        let a: A = self
            .api
            .get(
                &format!("/attachments/{}.json", id_of(attachment)?),
                &format!("attachment {attachment}"),
            )
            .await?;
        self.api
            .get_bytes(
                &a.attachment.content_url,
                &format!("attachment {}", a.attachment.filename),
            )
            .await
    }

    async fn create_issue(&self, new: &NewIssue, _mark: &Mark) -> Result<IssueId, TrackerError> {
        let tracker_id = self.lookup("tracker", &new.issue_type).await?;
        let mut issue = json!({
            "project_id": new.project,
            "tracker_id": tracker_id,
            "subject": new.summary,
            "description": new.description,
        });
        if let Some(p) = &new.priority {
            issue["priority_id"] = json!(self.lookup("priority", p).await?);
        }
        #[derive(Deserialize)]
        struct Created {
            issue: Named,
        }
        let created: Created = self
            .api
            .post(
                "/issues.json",
                &json!({ "issue": issue }),
                &format!("creating an issue in {}", new.project),
            )
            .await?;
        Ok(created.issue.id.to_string())
    }

    async fn set_fields(&self, issue: &str, changes: &FieldChanges) -> Result<(), TrackerError> {
        let id = id_of(issue)?;
        let mut fields = serde_json::Map::new();
        if let Some(s) = &changes.summary {
            fields.insert("subject".into(), json!(s));
        }
        if let Some(d) = &changes.description {
            fields.insert("description".into(), json!(d));
        }
        if let Some(t) = &changes.issue_type {
            fields.insert("tracker_id".into(), json!(self.lookup("tracker", t).await?));
        }
        if let Some(s) = &changes.status {
            fields.insert("status_id".into(), json!(self.lookup("status", s).await?));
        }
        if let Some(p) = &changes.priority {
            fields.insert(
                "priority_id".into(),
                json!(self.lookup("priority", p).await?),
            );
        }
        // Redmine has no labels; custom fields need their ids (Script mode).
        if fields.is_empty() {
            return Ok(());
        }
        self.api
            .put(
                &format!("/issues/{id}.json"),
                &json!({ "issue": fields }),
                &format!("editing #{id}"),
            )
            .await
    }

    async fn add_comment(
        &self,
        issue: &str,
        author: &str,
        body: &str,
        internal: bool,
        _mark: &Mark,
    ) -> Result<String, TrackerError> {
        let id = id_of(issue)?;
        let notes = super::on_behalf(author, body);
        self.api
            .put(
                &format!("/issues/{id}.json"),
                &json!({ "issue": { "notes": notes, "private_notes": internal } }),
                &format!("commenting on #{id}"),
            )
            .await?;
        // Redmine does not answer with the journal: find it (ours, newest, same text).
        let me = self.me().await?;
        let journals = self.issue_json(id).await?.journals;
        journals
            .iter()
            .rev()
            .find(|j| {
                j.user.as_ref().is_some_and(|u| u.id == me)
                    && j.notes.as_deref().map(text) == Some(text(&notes))
            })
            .map(|j| j.id.to_string())
            .ok_or_else(|| {
                TrackerError::Unavailable(format!("the comment on #{id} did not show up"))
            })
    }

    async fn edit_comment(
        &self,
        issue: &str,
        comment: &str,
        body: &str,
    ) -> Result<(), TrackerError> {
        let id = id_of(comment)?;
        // Keep the `alice wrote:` line the note started with.
        let journals = self.issue_json(id_of(issue)?).await?.journals;
        let old = journals
            .iter()
            .find(|j| j.id == id)
            .and_then(|j| j.notes.as_deref())
            .map(text)
            .unwrap_or_default();
        let notes = match super::split_on_behalf(&old) {
            Some((author, _)) => super::on_behalf(author, body),
            None => body.to_string(),
        };
        self.api
            .put(
                &format!("/journals/{id}.json"),
                &json!({ "journal": { "notes": notes } }),
                &format!("editing comment {id}"),
            )
            .await
    }

    async fn upload_attachment(
        &self,
        issue: &str,
        filename: &str,
        bytes: &[u8],
        _mark: &Mark,
    ) -> Result<String, TrackerError> {
        let id = id_of(issue)?;
        let upload = self.api.upload(filename, bytes).await?;
        self.api
            .put(
                &format!("/issues/{id}.json"),
                &json!({ "issue": { "uploads": [ { "token": upload.token, "filename": filename } ] } }),
                &format!("attaching {filename} to #{id}"),
            )
            .await?;
        lock(&self.cache.digests).clear();
        if let Some(attachment) = upload.id {
            lock(&self.cache.digests).insert(attachment, hex::encode(Sha256::digest(bytes)));
            return Ok(attachment.to_string());
        }
        let issue = self.issue_json(id).await?;
        issue
            .attachments
            .iter()
            .rev()
            .find(|a| a.filename == filename && a.filesize == bytes.len() as u64)
            .map(|a| a.id.to_string())
            .ok_or_else(|| {
                TrackerError::Unavailable(format!("{filename} did not show up on #{id}"))
            })
    }

    async fn find_mark(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        self.find_marked(mark, hint).await
    }

    async fn project(&self, key: &str) -> Result<ProjectInfo, TrackerError> {
        #[derive(Deserialize)]
        struct P {
            project: ProjectJson,
        }
        let p: P = self
            .api
            .get(
                &format!("/projects/{}.json?include=trackers", enc(key)),
                &format!("project {key}"),
            )
            .await?;
        let issue_types: Vec<String> = p.project.trackers.iter().map(|t| t.name.clone()).collect();
        lock(&self.cache.projects).insert(p.project.id, p.project.identifier.clone());
        // Redmine's new-issue form starts with the project's first tracker.
        let default_issue_type = issue_types.first().cloned();
        Ok(ProjectInfo {
            key: p.project.identifier,
            issue_types,
            default_issue_type,
        })
    }
}
