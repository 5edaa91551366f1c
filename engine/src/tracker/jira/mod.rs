//! The Jira Server / Data Center connector (REST v2).
//!
//! Issues are addressed by Jira's numeric id (a key changes when an issue
//! moves). What the sync creates carries its mark where Jira keeps one
//! without admin changes: an entity property (`tandem.sync`) set in the
//! create request of an issue or comment, found again by a search or a
//! comment listing with `properties`; attachments, which have no
//! properties, are found by name, size, uploader and time. Comments with a
//! `visibility` restriction are internal. Owns nothing on disk; `api` owns
//! the HTTP, `watch` the change feed, `marks` finding marked writes again
//! and `links` the remote links to twins.

mod api;
mod links;
mod marks;
mod watch;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use api::Api;
pub use api::Auth;
pub use links::check_twin_link;
use wire::{AttachmentJson, CommentJson, CommentPage, Created, Named, User};

use super::{
    Changes, Cursor, FieldChanges, IssueId, Mark, MarkHint, Marked, NewIssue, ProjectInfo,
    TrackedIssue, Tracker, TrackerError, TwinLink,
};
use crate::model::{Attachment, Comment, Issue};

/// The entity property that carries a sync mark.
const MARK_PROPERTY: &str = "tandem.sync";
/// How far the node's and Jira's clocks may disagree when looking for a
/// write by its time.
const CLOCK_SLACK: Duration = Duration::from_secs(300);
/// Comments per page when an issue has more than its `comment` field holds.
const COMMENT_PAGE: usize = 100;
/// The project role internal comments are restricted to.
const INTERNAL_ROLE: &str = "Administrators";

/// A Jira, as one API user sees it.
#[derive(Clone)]
pub struct JiraTracker {
    api: Arc<Api>,
    default_types: Arc<BTreeMap<String, String>>,
    /// Connection name -> where its twins are seen ([`JiraTracker::with_twin_links`]).
    twin_links: Arc<BTreeMap<String, String>>,
    cache: Arc<Cache>,
}

#[derive(Default)]
struct Cache {
    me: Mutex<Option<String>>,
    /// Attachment id -> sha256 (attachments never change in Jira).
    digests: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Jira's v2 text may come back with `\r\n`; the sync compares `\n`.
fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().replace("\r\n", "\n")
}

/// A JQL string literal.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A path segment (issue ids and keys are plain, but never trust them).
fn seg(s: &str) -> Result<&str, TrackerError> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(s)
    } else {
        Err(TrackerError::NotFound(format!(
            "`{s}` is not a Jira issue id or key"
        )))
    }
}

impl JiraTracker {
    /// A connector for the Jira at `url` (its base, without `/rest`).
    /// `default_types` names each project's default issue type, which
    /// Jira's REST API does not tell; `max_download` caps an attachment.
    pub fn new(
        url: &str,
        auth: Auth,
        default_types: BTreeMap<String, String>,
        max_download: u64,
    ) -> Result<Self, TrackerError> {
        Ok(JiraTracker {
            api: Arc::new(Api::new(url, auth, max_download)?),
            default_types: Arc::new(default_types),
            twin_links: Default::default(),
            cache: Default::default(),
        })
    }

    /// The API user's name; also checks the credentials.
    pub async fn me(&self) -> Result<String, TrackerError> {
        if let Some(me) = lock(&self.cache.me).clone() {
            return Ok(me);
        }
        let user: User = self
            .api
            .get("/myself", "checking the Jira credentials")
            .await?;
        *lock(&self.cache.me) = Some(user.name.clone());
        Ok(user.name)
    }

    /// Every issue id this user can see, oldest first (`tandem sync --all`).
    pub async fn all(&self) -> Result<Vec<IssueId>, TrackerError> {
        watch::all(&self.api).await
    }

    async fn comments(&self, issue: &str, expand: bool) -> Result<Vec<CommentJson>, TrackerError> {
        let mut out = Vec::new();
        loop {
            let expand = if expand { "&expand=properties" } else { "" };
            let page: CommentPage = self
                .api
                .get(
                    &format!(
                        "/issue/{}/comment?startAt={}&maxResults={COMMENT_PAGE}{expand}",
                        seg(issue)?,
                        out.len()
                    ),
                    &format!("reading the comments of {issue}"),
                )
                .await?;
            let got = page.comments.len();
            out.extend(page.comments);
            if got == 0 || page.start_at + got >= page.total {
                return Ok(out);
            }
        }
    }

    async fn digest(&self, a: &AttachmentJson) -> Result<String, TrackerError> {
        if let Some(sha) = lock(&self.cache.digests).get(&a.id) {
            return Ok(sha.clone());
        }
        let bytes = self
            .api
            .download(&a.content, &format!("attachment {}", a.filename))
            .await?;
        let sha = hex::encode(Sha256::digest(&bytes));
        lock(&self.cache.digests).insert(a.id.clone(), sha.clone());
        Ok(sha)
    }

    /// Minutes back from Jira's now to reach `since` (RFC 3339), with slack.
    fn minutes_back(&self, since: &str) -> Result<i64, TrackerError> {
        let since = humantime::parse_rfc3339_weak(since)
            .map_err(|e| TrackerError::Rejected(format!("bad intent time: {e}")))?;
        let back = watch::unix_ms(self.api.jira_now()) - watch::unix_ms(since - CLOCK_SLACK);
        Ok((back.max(0) + 59_999) / 60_000 + 1)
    }

    async fn transition(&self, issue: &str, status: &str) -> Result<(), TrackerError> {
        #[derive(Deserialize)]
        struct Transitions {
            #[serde(default)]
            transitions: Vec<Transition>,
        }
        #[derive(Deserialize)]
        struct Transition {
            id: String,
            #[serde(default)]
            to: Named,
        }
        let path = format!("/issue/{}/transitions", seg(issue)?);
        let found: Transitions = self
            .api
            .get(&path, &format!("reading the transitions of {issue}"))
            .await?;
        let Some(t) = found
            .transitions
            .iter()
            .find(|t| t.to.name.eq_ignore_ascii_case(status))
        else {
            let names: Vec<&str> = found
                .transitions
                .iter()
                .map(|t| t.to.name.as_str())
                .collect();
            return Err(TrackerError::Rejected(format!(
                "{issue} cannot move to status `{status}` from where it is (it can go to: {})",
                names.join(", ")
            )));
        };
        self.api
            .send_json::<Option<Value>>(
                Method::POST,
                &path,
                &json!({ "transition": { "id": t.id } }),
                &format!("moving {issue} to {status}"),
            )
            .await
            .map(|_| ())
    }
}

impl Tracker for JiraTracker {
    async fn changed_since(&self, cursor: Option<&Cursor>) -> Result<Changes, TrackerError> {
        watch::changed_since(&self.api, cursor).await
    }

    async fn read_issue(&self, id: &str) -> Result<TrackedIssue, TrackerError> {
        #[derive(Deserialize)]
        struct Bean {
            id: String,
            key: String,
            fields: serde_json::Map<String, Value>,
        }
        let bean: Bean = self
            .api
            .get(
                &format!("/issue/{}?fields=*all", seg(id)?),
                &format!("issue {id}"),
            )
            .await?;
        let f = &bean.fields;
        let name = |field: &str| {
            f.get(field)
                .and_then(|v| v["name"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let first: Option<CommentPage> = f
            .get("comment")
            .and_then(|c| serde_json::from_value(c.clone()).ok());
        let comments = match first {
            Some(page) if page.comments.len() >= page.total => page.comments,
            // The `comment` field holds the first page only.
            _ => self.comments(&bean.id, false).await?,
        };
        let me = self.me().await?;
        let attachments_json: Vec<AttachmentJson> = f
            .get("attachment")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        let mut attachments = Vec::new();
        for a in &attachments_json {
            attachments.push(Attachment {
                id: a.id.clone(),
                filename: a.filename.clone(),
                mime_type: a
                    .mime_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: a.size,
                sha256: self.digest(a).await?,
            });
        }
        let fields = f
            .iter()
            .filter(|(k, v)| k.starts_with("customfield_") && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let updated = f
            .get("updated")
            .and_then(Value::as_str)
            .and_then(watch::parse_ms)
            .map(watch::rfc3339)
            .unwrap_or_default();
        Ok(TrackedIssue {
            id: bean.id,
            project: f
                .get("project")
                .and_then(|p| p["key"].as_str())
                .unwrap_or_default()
                .to_string(),
            updated,
            issue: Issue {
                key: bean.key,
                summary: f
                    .get("summary")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                description: text(f.get("description").and_then(Value::as_str)),
                issue_type: name("issuetype"),
                status: name("status"),
                priority: name("priority"),
                labels: f
                    .get("labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default(),
                comments: comments
                    .into_iter()
                    .map(|c| {
                        let by_me = c.author.as_ref().is_some_and(|a| a.name == me);
                        let writer = c
                            .author
                            .map(|a| {
                                if a.display_name.is_empty() {
                                    a.name
                                } else {
                                    a.display_name
                                }
                            })
                            .unwrap_or_default();
                        let body = text(c.body.as_deref());
                        // A comment we wrote on someone's behalf names them first.
                        let (author, body) = match super::split_on_behalf(&body).filter(|_| by_me) {
                            Some((author, rest)) => (author.to_string(), rest.to_string()),
                            None => (writer, body),
                        };
                        Comment {
                            id: c.id,
                            author,
                            body,
                            created: watch::parse_ms(&c.created)
                                .map(watch::rfc3339)
                                .unwrap_or(c.created),
                            internal: c.visibility.is_some_and(|v| !v.is_null()),
                        }
                    })
                    .collect(),
                attachments,
                fields,
            },
        })
    }

    async fn download_attachment(
        &self,
        _issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        let meta: AttachmentJson = self
            .api
            .get(
                &format!("/attachment/{}", seg(attachment)?),
                &format!("attachment {attachment}"),
            )
            .await?;
        self.api
            .download(&meta.content, &format!("attachment {}", meta.filename))
            .await
    }

    async fn create_issue(&self, new: &NewIssue, mark: &Mark) -> Result<IssueId, TrackerError> {
        let mut fields = json!({
            "project": { "key": new.project },
            "issuetype": { "name": new.issue_type },
            "summary": new.summary,
            "description": new.description,
        });
        if let Some(p) = &new.priority {
            fields["priority"] = json!({ "name": p });
        }
        if !new.labels.is_empty() {
            fields["labels"] = json!(new.labels);
        }
        // The mark rides in the create request itself: there is no moment
        // when the issue exists without it.
        let body = json!({
            "fields": fields,
            "properties": [ { "key": MARK_PROPERTY, "value": { "mark": mark.0 } } ],
        });
        let created: Created = self
            .api
            .send_json(
                Method::POST,
                "/issue",
                &body,
                &format!("creating an issue in {}", new.project),
            )
            .await?;
        Ok(created.id)
    }

    async fn set_fields(&self, issue: &str, changes: &FieldChanges) -> Result<(), TrackerError> {
        let mut fields = serde_json::Map::new();
        if let Some(s) = &changes.summary {
            fields.insert("summary".into(), json!(s));
        }
        if let Some(d) = &changes.description {
            fields.insert("description".into(), json!(d));
        }
        if let Some(t) = &changes.issue_type {
            fields.insert("issuetype".into(), json!({ "name": t }));
        }
        if let Some(p) = &changes.priority {
            fields.insert("priority".into(), json!({ "name": p }));
        }
        if let Some(l) = &changes.labels {
            fields.insert("labels".into(), json!(l));
        }
        for (k, v) in &changes.fields {
            fields.insert(k.clone(), v.clone());
        }
        if !fields.is_empty() {
            self.api
                .send_json::<Option<Value>>(
                    Method::PUT,
                    &format!("/issue/{}", seg(issue)?),
                    &json!({ "fields": fields }),
                    &format!("editing {issue}"),
                )
                .await?;
        }
        // Status is not a field in Jira: it moves by a workflow transition.
        if let Some(status) = &changes.status {
            self.transition(issue, status).await?;
        }
        Ok(())
    }

    async fn add_comment(
        &self,
        issue: &str,
        author: &str,
        body: &str,
        internal: bool,
        mark: &Mark,
    ) -> Result<String, TrackerError> {
        let mut comment = json!({
            "body": super::on_behalf(author, body),
            "properties": [ { "key": MARK_PROPERTY, "value": { "mark": mark.0 } } ],
        });
        if internal {
            comment["visibility"] = json!({ "type": "role", "value": INTERNAL_ROLE });
        }
        let created: Created = self
            .api
            .send_json(
                Method::POST,
                &format!("/issue/{}/comment", seg(issue)?),
                &comment,
                &format!("commenting on {issue}"),
            )
            .await?;
        Ok(created.id)
    }

    async fn edit_comment(
        &self,
        issue: &str,
        comment: &str,
        body: &str,
    ) -> Result<(), TrackerError> {
        // Keep the `alice wrote:` line the comment started with.
        let path = format!("/issue/{}/comment/{}", seg(issue)?, seg(comment)?);
        let old: CommentJson = self
            .api
            .get(&path, &format!("comment {comment} on {issue}"))
            .await?;
        let old = text(old.body.as_deref());
        let body = match super::split_on_behalf(&old) {
            Some((author, _)) => super::on_behalf(author, body),
            None => body.to_string(),
        };
        let body = body.as_str();
        self.api
            .send_json::<Option<Value>>(
                Method::PUT,
                &format!("/issue/{}/comment/{}", seg(issue)?, seg(comment)?),
                &json!({ "body": body }),
                &format!("editing comment {comment} on {issue}"),
            )
            .await
            .map(|_| ())
    }

    async fn upload_attachment(
        &self,
        issue: &str,
        filename: &str,
        bytes: &[u8],
        _mark: &Mark,
    ) -> Result<String, TrackerError> {
        let created: Vec<AttachmentJson> = self
            .api
            .upload(
                &format!("/issue/{}/attachments", seg(issue)?),
                filename,
                bytes,
                &format!("attaching {filename} to {issue}"),
            )
            .await?;
        let first = created.into_iter().next().ok_or_else(|| {
            TrackerError::Unavailable(format!("Jira took {filename} but listed no attachment"))
        })?;
        lock(&self.cache.digests).insert(first.id.clone(), hex::encode(Sha256::digest(bytes)));
        Ok(first.id)
    }

    async fn find_mark(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        self.find_marked(mark, hint).await
    }

    async fn link_twin(&self, issue: &str, link: &TwinLink) -> Result<bool, TrackerError> {
        self.remote_link(issue, link).await
    }

    async fn project(&self, key: &str) -> Result<ProjectInfo, TrackerError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct TypePage {
            #[serde(default)]
            values: Vec<TypeJson>,
            #[serde(default)]
            is_last: Option<bool>,
            #[serde(default)]
            total: Option<usize>,
        }
        #[derive(Deserialize, Clone)]
        struct TypeJson {
            #[serde(default)]
            name: String,
            #[serde(default)]
            subtask: bool,
        }
        let mut types: Vec<TypeJson> = Vec::new();
        let mut fallback = false;
        loop {
            // Jira 9+: paged; the older `createmeta?projectKeys=` is gone there.
            let path = format!(
                "/issue/createmeta/{}/issuetypes?startAt={}&maxResults=50",
                seg(key)?,
                types.len()
            );
            match self
                .api
                .get::<TypePage>(&path, &format!("the issue types of project {key}"))
                .await
            {
                Ok(page) => {
                    let got = page.values.len();
                    types.extend(page.values);
                    let done = got == 0
                        || page.is_last.unwrap_or(false)
                        || page.total.is_some_and(|t| types.len() >= t)
                        || (page.is_last.is_none() && page.total.is_none());
                    if done {
                        break;
                    }
                }
                Err(TrackerError::NotFound(_)) if types.is_empty() => {
                    fallback = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if fallback {
            // Jira 8.x.
            #[derive(Deserialize)]
            struct Meta {
                #[serde(default)]
                projects: Vec<MetaProject>,
            }
            #[derive(Deserialize)]
            struct MetaProject {
                #[serde(default)]
                issuetypes: Vec<TypeJson>,
            }
            let meta: Meta = self
                .api
                .get(
                    &format!(
                        "/issue/createmeta?projectKeys={}&expand=projects.issuetypes",
                        seg(key)?
                    ),
                    &format!("the issue types of project {key}"),
                )
                .await?;
            let Some(project) = meta.projects.into_iter().next() else {
                return Err(TrackerError::NotFound(format!(
                    "Jira has no project {key} this user may create issues in"
                )));
            };
            types = project.issuetypes;
        }
        let issue_types: Vec<String> = types
            .into_iter()
            .filter(|t| !t.subtask)
            .map(|t| t.name)
            .collect();
        Ok(ProjectInfo {
            key: key.to_string(),
            default_issue_type: self.default_types.get(key).cloned(),
            issue_types,
        })
    }
}
