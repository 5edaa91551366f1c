//! The `local` tracker's tables, records and write primitives: every change
//! is one transaction that also moves the issue to the end of the change feed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LocalTracker;
use crate::model::{Attachment, Comment, Issue};
use crate::tracker::{
    FieldChanges, Mark, Marked, NewIssue, ProjectInfo, TrackedIssue, TrackerError,
};

pub(super) const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("local_projects");
pub(super) const ISSUES: TableDefinition<u64, &[u8]> = TableDefinition::new("local_issues");
pub(super) const KEYS: TableDefinition<&str, u64> = TableDefinition::new("local_keys");
/// Change feed: sequence number -> issue id; an issue sits at its latest change.
pub(super) const CHANGES: TableDefinition<u64, u64> = TableDefinition::new("local_changes");
pub(super) const MARKS: TableDefinition<&str, &[u8]> = TableDefinition::new("local_marks");
pub(super) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("local_counters");

/// How many changed issues one poll returns at most.
pub(super) const PAGE: usize = 500;
/// Largest attachment the local tracker stores.
pub const MAX_ATTACHMENT_BYTES: usize = 100 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProjectRecord {
    pub(super) info: ProjectInfo,
    pub(super) next_number: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IssueRecord {
    pub(super) id: u64,
    pub(super) project: String,
    pub(super) updated: String,
    pub(super) seq: u64,
    pub(super) deleted: bool,
    pub(super) issue: Issue,
}

pub(super) fn db_err(e: impl std::fmt::Display) -> TrackerError {
    TrackerError::Unavailable(format!("local database: {e}"))
}

pub(super) fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl LocalTracker {
    pub(super) fn resolve(&self, key_or_id: &str) -> Result<u64, TrackerError> {
        let read = self.store.db().begin_read().map_err(db_err)?;
        if let Some(keys) = open_read(&read, KEYS)?
            && let Some(id) = keys.get(key_or_id).map_err(db_err)?
        {
            return Ok(id.value());
        }
        key_or_id
            .parse()
            .map_err(|_| TrackerError::NotFound(format!("issue {key_or_id}")))
    }

    pub(super) fn read(&self, id: &str) -> Result<TrackedIssue, TrackerError> {
        let record = self.record(id)?;
        if record.deleted {
            return Err(TrackerError::NotFound(format!(
                "issue {} (deleted)",
                record.issue.key
            )));
        }
        Ok(tracked(record))
    }

    pub(super) fn record(&self, id: &str) -> Result<IssueRecord, TrackerError> {
        let not_found = || TrackerError::NotFound(format!("issue {id}"));
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let read = self.store.db().begin_read().map_err(db_err)?;
        let issues = open_read(&read, ISSUES)?.ok_or_else(not_found)?;
        let value = issues.get(id).map_err(db_err)?.ok_or_else(not_found)?;
        from_json(value.value())
    }

    /// One transaction. A person's change commits durably; the sync's writes
    /// (`lazy`) become durable with the sync's next durable commit to the same
    /// file, which is what makes the local tracker's writes cheap to batch.
    pub(super) fn write<T>(
        &self,
        lazy: bool,
        f: impl FnOnce(&WriteTransaction) -> Result<T, TrackerError>,
    ) -> Result<T, TrackerError> {
        let mut tx = self.store.db().begin_write().map_err(db_err)?;
        if lazy {
            tx.set_durability(redb::Durability::None).map_err(db_err)?;
        }
        let out = f(&tx)?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    pub(super) fn create_marked(
        &self,
        new: &NewIssue,
        mark: Option<&Mark>,
    ) -> Result<u64, TrackerError> {
        if new.summary.trim().is_empty() {
            return Err(TrackerError::Rejected("an issue needs a summary".into()));
        }
        self.write(mark.is_some(), |tx| {
            let mut projects = tx.open_table(PROJECTS).map_err(db_err)?;
            let mut project: ProjectRecord =
                match projects.get(new.project.as_str()).map_err(db_err)? {
                    Some(v) => from_json(v.value())?,
                    None => {
                        return Err(TrackerError::NotFound(format!(
                            "project {} (create it with `tandem project create`)",
                            new.project
                        )));
                    }
                };
            if !project.info.issue_types.contains(&new.issue_type) {
                return Err(TrackerError::Rejected(format!(
                    "project {} has no issue type `{}` (it has {})",
                    new.project,
                    new.issue_type,
                    project.info.issue_types.join(", ")
                )));
            }
            let key = format!("{}-{}", new.project, project.next_number);
            project.next_number += 1;
            projects
                .insert(new.project.as_str(), to_json(&project).as_slice())
                .map_err(db_err)?;
            let id = next(tx, "issue")?;
            let record = IssueRecord {
                id,
                project: new.project.clone(),
                updated: String::new(),
                seq: 0,
                deleted: false,
                issue: Issue {
                    key: key.clone(),
                    summary: new.summary.clone(),
                    description: new.description.clone(),
                    issue_type: new.issue_type.clone(),
                    status: "Open".into(),
                    priority: new.priority.clone().unwrap_or_else(|| "Medium".into()),
                    labels: new.labels.clone(),
                    ..Issue::default()
                },
            };
            tx.open_table(KEYS)
                .map_err(db_err)?
                .insert(key.as_str(), id)
                .map_err(db_err)?;
            if let Some(mark) = mark {
                put_mark(
                    tx,
                    mark,
                    &Marked::Issue {
                        issue: id.to_string(),
                    },
                )?;
            }
            save(tx, record)?;
            Ok(id)
        })
    }

    /// Loads, changes and saves one issue in one transaction.
    pub(super) fn update<T>(
        &self,
        id: u64,
        lazy: bool,
        f: impl FnOnce(&mut IssueRecord) -> Result<T, TrackerError>,
    ) -> Result<T, TrackerError> {
        self.write(lazy, |tx| {
            let mut record: IssueRecord = {
                let issues = tx.open_table(ISSUES).map_err(db_err)?;
                let value = issues
                    .get(id)
                    .map_err(db_err)?
                    .ok_or_else(|| TrackerError::NotFound(format!("issue {id}")))?;
                from_json(value.value())?
            };
            if record.deleted {
                return Err(TrackerError::NotFound(format!(
                    "issue {} (deleted)",
                    record.issue.key
                )));
            }
            let out = f(&mut record)?;
            save(tx, record)?;
            Ok(out)
        })
    }

    pub(super) fn set(&self, id: u64, c: &FieldChanges, lazy: bool) -> Result<(), TrackerError> {
        let types = {
            let record = self.record(&id.to_string())?;
            self.project_info(&record.project)?.issue_types
        };
        if let Some(t) = c.issue_type.as_ref().filter(|t| !types.contains(t)) {
            return Err(TrackerError::Rejected(format!(
                "no issue type `{t}` here (there are {})",
                types.join(", ")
            )));
        }
        if c.summary.as_ref().is_some_and(|s| s.trim().is_empty()) {
            return Err(TrackerError::Rejected("an issue needs a summary".into()));
        }
        self.update(id, lazy, |r| {
            let i = &mut r.issue;
            let set = |field: &mut String, value: &Option<String>| {
                if let Some(v) = value {
                    field.clone_from(v);
                }
            };
            set(&mut i.summary, &c.summary);
            set(&mut i.description, &c.description);
            set(&mut i.issue_type, &c.issue_type);
            set(&mut i.status, &c.status);
            set(&mut i.priority, &c.priority);
            if let Some(labels) = &c.labels {
                i.labels.clone_from(labels);
            }
            for (name, value) in &c.fields {
                i.fields.insert(name.clone(), value.clone());
            }
            Ok(())
        })
    }

    pub(super) fn add_comment_marked(
        &self,
        id: u64,
        author: &str,
        body: &str,
        internal: bool,
        mark: Option<&Mark>,
    ) -> Result<String, TrackerError> {
        if body.trim().is_empty() {
            return Err(TrackerError::Rejected("a comment needs a body".into()));
        }
        self.write(mark.is_some(), |tx| {
            let comment_id = next(tx, "comment")?.to_string();
            let mut record = load(tx, id)?;
            record.issue.comments.push(Comment {
                id: comment_id.clone(),
                author: author.into(),
                body: body.into(),
                created: now(),
                internal,
            });
            if let Some(mark) = mark {
                put_mark(
                    tx,
                    mark,
                    &Marked::Comment {
                        issue: id.to_string(),
                        comment: comment_id.clone(),
                    },
                )?;
            }
            save(tx, record)?;
            Ok(comment_id)
        })
    }

    pub(super) fn upload_marked(
        &self,
        id: u64,
        filename: &str,
        bytes: &[u8],
        mark: Option<&Mark>,
    ) -> Result<String, TrackerError> {
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(TrackerError::Rejected(format!(
                "`{filename}` is larger than {} MiB",
                MAX_ATTACHMENT_BYTES >> 20
            )));
        }
        let name = Path::new(filename)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty());
        let name =
            name.ok_or_else(|| TrackerError::Rejected(format!("`{filename}` is not a file name")))?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        // The file goes first: a crash before the commit leaves an unreferenced
        // file (harmless, and reused by the next upload of the same bytes).
        self.store_file(&sha256, bytes)?;
        self.write(mark.is_some(), |tx| {
            let attachment_id = next(tx, "attachment")?.to_string();
            let mut record = load(tx, id)?;
            record.issue.attachments.push(Attachment {
                id: attachment_id.clone(),
                filename: name.into(),
                mime_type: mime_type(name).into(),
                size: bytes.len() as u64,
                sha256,
            });
            if let Some(mark) = mark {
                put_mark(
                    tx,
                    mark,
                    &Marked::Attachment {
                        issue: id.to_string(),
                        attachment: attachment_id.clone(),
                    },
                )?;
            }
            save(tx, record)?;
            Ok(attachment_id)
        })
    }

    pub(super) fn file_path(&self, sha256: &str) -> PathBuf {
        self.files.join(&sha256[..2]).join(sha256)
    }

    pub(super) fn store_file(&self, sha256: &str, bytes: &[u8]) -> Result<(), TrackerError> {
        let path = self.file_path(sha256);
        if path.exists() {
            return Ok(());
        }
        let io = |e: std::io::Error| {
            TrackerError::Unavailable(format!("attachment store {}: {e}", self.files.display()))
        };
        std::fs::create_dir_all(self.files.join(&sha256[..2])).map_err(io)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    pub(super) fn project_info(&self, key: &str) -> Result<ProjectInfo, TrackerError> {
        let read = self.store.db().begin_read().map_err(db_err)?;
        let not_found = || TrackerError::NotFound(format!("project {key}"));
        let projects = open_read(&read, PROJECTS)?.ok_or_else(not_found)?;
        let value = projects.get(key).map_err(db_err)?.ok_or_else(not_found)?;
        Ok(from_json::<ProjectRecord>(value.value())?.info)
    }
}

pub(super) fn tracked(record: IssueRecord) -> TrackedIssue {
    TrackedIssue {
        id: record.id.to_string(),
        project: record.project,
        updated: record.updated,
        issue: record.issue,
    }
}

pub(super) fn load(tx: &WriteTransaction, id: u64) -> Result<IssueRecord, TrackerError> {
    let issues = tx.open_table(ISSUES).map_err(db_err)?;
    let value = issues
        .get(id)
        .map_err(db_err)?
        .ok_or_else(|| TrackerError::NotFound(format!("issue {id}")))?;
    let record: IssueRecord = from_json(value.value())?;
    if record.deleted {
        return Err(TrackerError::NotFound(format!(
            "issue {} (deleted)",
            record.issue.key
        )));
    }
    Ok(record)
}

/// Stores an issue and moves it to the end of the change feed.
pub(super) fn save(tx: &WriteTransaction, mut record: IssueRecord) -> Result<(), TrackerError> {
    let seq = next(tx, "change")?;
    let mut changes = tx.open_table(CHANGES).map_err(db_err)?;
    if record.seq != 0 {
        changes.remove(record.seq).map_err(db_err)?;
    }
    changes.insert(seq, record.id).map_err(db_err)?;
    record.seq = seq;
    record.updated = now();
    let mut issues = tx.open_table(ISSUES).map_err(db_err)?;
    issues
        .insert(record.id, to_json(&record).as_slice())
        .map_err(db_err)?;
    Ok(())
}

pub(super) fn put_mark(
    tx: &WriteTransaction,
    mark: &Mark,
    marked: &Marked,
) -> Result<(), TrackerError> {
    let mut marks = tx.open_table(MARKS).map_err(db_err)?;
    marks
        .insert(mark.0.as_str(), to_json(marked).as_slice())
        .map_err(db_err)?;
    Ok(())
}

pub(super) fn next(tx: &WriteTransaction, counter: &str) -> Result<u64, TrackerError> {
    let mut counters = tx.open_table(COUNTERS).map_err(db_err)?;
    let value = counters
        .get(counter)
        .map_err(db_err)?
        .map_or(0, |v| v.value())
        + 1;
    counters.insert(counter, value).map_err(db_err)?;
    Ok(value)
}

pub(super) fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, TrackerError> {
    crate::store::open_read(read, table).map_err(db_err)
}

pub(super) fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, TrackerError> {
    serde_json::from_slice(bytes)
        .map_err(|e| TrackerError::Unavailable(format!("local database record is damaged: {e}")))
}

pub(super) fn mime_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let known: BTreeMap<&str, &str> = [
        ("txt", "text/plain"),
        ("log", "text/plain"),
        ("csv", "text/csv"),
        ("json", "application/json"),
        ("pdf", "application/pdf"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("zip", "application/zip"),
    ]
    .into_iter()
    .collect();
    known
        .get(ext.as_str())
        .copied()
        .unwrap_or("application/octet-stream")
}
