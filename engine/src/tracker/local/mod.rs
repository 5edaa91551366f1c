//! The embedded `local` tracker: a real (small) tracker kept in the node's own
//! database, for trying tandem without Jira and for tests.
//!
//! Owns the `local_*` tables and the content-addressed attachment files under
//! `DATA/attachments/`. Every change is one redb transaction that also moves
//! the issue to the end of the change feed, whose sequence number is the
//! watcher's cursor; marks are recorded in the same transaction as the write
//! they stand for, which is exactly what an external tracker cannot offer.
//!
//! `records` holds the tables and the write primitives; this file the
//! person-facing operations and the `Tracker` implementation.

mod records;

use std::path::{Path, PathBuf};

use super::{
    Changes, Cursor, FieldChanges, IssueId, Mark, Marked, NewIssue, ProjectInfo, TrackedIssue,
    Tracker, TrackerError,
};
use crate::store::Store;
use records::{
    CHANGES, ISSUES, IssueRecord, MARKS, PAGE, PROJECTS, ProjectRecord, db_err, from_json,
    open_read, to_json, tracked,
};
use redb::{ReadableDatabase, ReadableTable};

pub use records::MAX_ATTACHMENT_BYTES;

/// The embedded tracker of one node.
#[derive(Clone)]
pub struct LocalTracker {
    store: Store,
    files: PathBuf,
    /// The name comments are created under (the node's name).
    user: String,
}

impl LocalTracker {
    /// The tracker in `store`, with attachment files under `files`.
    pub fn new(store: Store, files: &Path, user: &str) -> Self {
        LocalTracker {
            store,
            files: files.to_path_buf(),
            user: user.to_string(),
        }
    }

    /// Creates a project with its issue types.
    pub fn create_project(
        &self,
        key: &str,
        types: &[String],
        default: Option<&str>,
    ) -> Result<ProjectInfo, TrackerError> {
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && key.as_bytes()[0].is_ascii_uppercase();
        if !valid_key {
            return Err(TrackerError::Rejected(format!(
                "project key `{key}` must be capital letters and digits, starting with a letter (like OPS)"
            )));
        }
        if types.is_empty() || types.iter().any(|t| t.trim().is_empty()) {
            return Err(TrackerError::Rejected(
                "give the project at least one issue type, e.g. --types Bug,Task".into(),
            ));
        }
        if let Some(default) = default.filter(|d| !types.iter().any(|t| t == d)) {
            return Err(TrackerError::Rejected(format!(
                "the default type `{default}` is not one of the project's types"
            )));
        }
        let info = ProjectInfo {
            key: key.into(),
            issue_types: types.to_vec(),
            default_issue_type: default.map(Into::into),
        };
        self.write(false, |tx| {
            let mut projects = tx.open_table(PROJECTS).map_err(db_err)?;
            if projects.get(key).map_err(db_err)?.is_some() {
                return Err(TrackerError::Rejected(format!(
                    "project {key} already exists"
                )));
            }
            let record = ProjectRecord {
                info: info.clone(),
                next_number: 1,
            };
            projects
                .insert(key, to_json(&record).as_slice())
                .map_err(db_err)?;
            Ok(())
        })?;
        Ok(info)
    }

    /// Every project.
    pub fn projects(&self) -> Result<Vec<ProjectInfo>, TrackerError> {
        let read = self.store.db().begin_read().map_err(db_err)?;
        let Some(projects) = open_read(&read, PROJECTS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in projects.iter().map_err(db_err)? {
            let (_, value) = row.map_err(db_err)?;
            out.push(from_json::<ProjectRecord>(value.value())?.info);
        }
        Ok(out)
    }

    /// Creates an issue as a person would (no mark).
    pub fn create(&self, new: &NewIssue) -> Result<TrackedIssue, TrackerError> {
        let id = self.create_marked(new, None)?;
        self.read(&id.to_string())
    }

    /// An issue by key (`OPS-12`) or id.
    pub fn find(&self, key_or_id: &str) -> Result<TrackedIssue, TrackerError> {
        let id = self.resolve(key_or_id)?;
        self.read(&id.to_string())
    }

    /// Issues, optionally of one project, in key order.
    pub fn list(&self, project: Option<&str>) -> Result<Vec<TrackedIssue>, TrackerError> {
        let read = self.store.db().begin_read().map_err(db_err)?;
        let Some(issues) = open_read(&read, ISSUES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in issues.iter().map_err(db_err)? {
            let (_, value) = row.map_err(db_err)?;
            let record: IssueRecord = from_json(value.value())?;
            if !record.deleted && project.is_none_or(|p| p == record.project) {
                out.push(tracked(record));
            }
        }
        Ok(out)
    }

    /// Deletes an issue (it stays in the feed, so watchers notice).
    pub fn delete(&self, key_or_id: &str) -> Result<(), TrackerError> {
        let id = self.resolve(key_or_id)?;
        self.update(id, false, |record| {
            record.deleted = true;
            Ok(())
        })
    }

    /// Adds a comment as a person would (by this node's user).
    pub fn comment(
        &self,
        key_or_id: &str,
        body: &str,
        internal: bool,
    ) -> Result<String, TrackerError> {
        let id = self.resolve(key_or_id)?;
        self.add_comment_marked(id, &self.user.clone(), body, internal, None)
    }

    /// Attaches bytes as a person would.
    pub fn attach(
        &self,
        key_or_id: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<String, TrackerError> {
        let id = self.resolve(key_or_id)?;
        self.upload_marked(id, filename, bytes, None)
    }

    /// Edits fields as a person would.
    pub fn edit(
        &self,
        key_or_id: &str,
        changes: &FieldChanges,
    ) -> Result<TrackedIssue, TrackerError> {
        let id = self.resolve(key_or_id)?;
        self.set(id, changes, false)?;
        self.read(&id.to_string())
    }
}

impl Tracker for LocalTracker {
    async fn changed_since(&self, cursor: Option<&Cursor>) -> Result<Changes, TrackerError> {
        let after: u64 = match cursor {
            Some(c) if !c.0.is_empty() => {
                c.0.parse()
                    .map_err(|_| TrackerError::Rejected(format!("bad cursor `{}`", c.0)))?
            }
            _ => 0,
        };
        let read = self.store.db().begin_read().map_err(db_err)?;
        let mut out = Changes {
            issues: Vec::new(),
            cursor: Cursor(after.to_string()),
        };
        let Some(changes) = open_read(&read, CHANGES)? else {
            return Ok(out);
        };
        for row in changes.range(after + 1..).map_err(db_err)?.take(PAGE) {
            let (seq, id) = row.map_err(db_err)?;
            out.issues.push(id.value().to_string());
            out.cursor = Cursor(seq.value().to_string());
        }
        Ok(out)
    }

    async fn read_issue(&self, id: &str) -> Result<TrackedIssue, TrackerError> {
        self.read(id)
    }

    async fn download_attachment(
        &self,
        issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        let record = self.read(issue)?;
        let meta = record.issue.attachments.iter().find(|a| a.id == attachment);
        let meta = meta.ok_or_else(|| {
            TrackerError::NotFound(format!("attachment {attachment} of {}", record.issue.key))
        })?;
        std::fs::read(self.file_path(&meta.sha256))
            .map_err(|e| TrackerError::Unavailable(format!("attachment {attachment}: {e}")))
    }

    async fn create_issue(&self, new: &NewIssue, mark: &Mark) -> Result<IssueId, TrackerError> {
        self.create_marked(new, Some(mark)).map(|id| id.to_string())
    }

    async fn set_fields(&self, issue: &str, changes: &FieldChanges) -> Result<(), TrackerError> {
        let id = self.resolve(issue)?;
        self.set(id, changes, true)
    }

    async fn add_comment(
        &self,
        issue: &str,
        author: &str,
        body: &str,
        internal: bool,
        mark: &Mark,
    ) -> Result<String, TrackerError> {
        let id = self.resolve(issue)?;
        self.add_comment_marked(id, author, body, internal, Some(mark))
    }

    async fn edit_comment(
        &self,
        issue: &str,
        comment: &str,
        body: &str,
    ) -> Result<(), TrackerError> {
        let id = self.resolve(issue)?;
        self.update(id, true, |r| {
            let c = r.issue.comments.iter_mut().find(|c| c.id == comment);
            let c = c.ok_or_else(|| TrackerError::NotFound(format!("comment {comment}")))?;
            c.body = body.into();
            Ok(())
        })
    }

    async fn upload_attachment(
        &self,
        issue: &str,
        filename: &str,
        bytes: &[u8],
        mark: &Mark,
    ) -> Result<String, TrackerError> {
        let id = self.resolve(issue)?;
        self.upload_marked(id, filename, bytes, Some(mark))
    }

    async fn find_mark(
        &self,
        mark: &Mark,
        _hint: &crate::tracker::MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        let read = self.store.db().begin_read().map_err(db_err)?;
        let Some(marks) = open_read(&read, MARKS)? else {
            return Ok(None);
        };
        let found = marks.get(mark.0.as_str()).map_err(db_err)?;
        found.map(|v| from_json(v.value())).transpose()
    }

    async fn project(&self, key: &str) -> Result<ProjectInfo, TrackerError> {
        self.project_info(key)
    }

    fn shares_store(&self) -> bool {
        true
    }
}
