//! The tracker a node serves, whichever it is: one type for the node and the
//! pipeline, delegating to the connector its config names.

use super::jira::JiraTracker;
use super::local::LocalTracker;
use super::redmine::RedmineTracker;
use super::{
    Changes, Cursor, FieldChanges, IssueId, Mark, MarkHint, Marked, NewIssue, ProjectInfo,
    TrackedIssue, Tracker, TrackerError, TwinLink,
};

#[derive(Clone)]
pub enum AnyTracker {
    Local(LocalTracker),
    Redmine(RedmineTracker),
    Jira(JiraTracker),
}

macro_rules! delegate {
    ($self:ident, $t:ident => $call:expr) => {
        match $self {
            AnyTracker::Local($t) => $call,
            AnyTracker::Redmine($t) => $call,
            AnyTracker::Jira($t) => $call,
        }
    };
}

impl AnyTracker {
    /// The embedded tracker, if that is the one.
    pub fn local(&self) -> Option<&LocalTracker> {
        match self {
            AnyTracker::Local(t) => Some(t),
            _ => None,
        }
    }

    /// An issue by what a person types: a key (`OPS-1`) or an id (`#42`, `42`).
    pub async fn resolve(&self, key: &str) -> Result<TrackedIssue, TrackerError> {
        match self {
            AnyTracker::Local(t) => t.find(key),
            AnyTracker::Redmine(t) => t.read_issue(key).await,
            AnyTracker::Jira(t) => t.read_issue(key).await,
        }
    }

    /// Every issue (for `tandem sync --all`).
    pub async fn all(&self) -> Result<Vec<TrackedIssue>, TrackerError> {
        match self {
            AnyTracker::Local(t) => t.list(None),
            AnyTracker::Redmine(_) | AnyTracker::Jira(_) => {
                let ids = match self {
                    AnyTracker::Redmine(t) => t.all().await?,
                    AnyTracker::Jira(t) => t.all().await?,
                    AnyTracker::Local(_) => Vec::new(),
                };
                let mut out = Vec::new();
                for id in ids {
                    match self.read_issue(&id).await {
                        Ok(issue) => out.push(issue),
                        Err(TrackerError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            }
        }
    }
}

impl Tracker for AnyTracker {
    async fn changed_since(&self, cursor: Option<&Cursor>) -> Result<Changes, TrackerError> {
        delegate!(self, t => t.changed_since(cursor).await)
    }
    async fn read_issue(&self, id: &str) -> Result<TrackedIssue, TrackerError> {
        delegate!(self, t => t.read_issue(id).await)
    }
    async fn download_attachment(
        &self,
        issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        delegate!(self, t => t.download_attachment(issue, attachment).await)
    }
    async fn create_issue(&self, new: &NewIssue, mark: &Mark) -> Result<IssueId, TrackerError> {
        delegate!(self, t => t.create_issue(new, mark).await)
    }
    async fn set_fields(&self, issue: &str, changes: &FieldChanges) -> Result<(), TrackerError> {
        delegate!(self, t => t.set_fields(issue, changes).await)
    }
    async fn add_comment(
        &self,
        issue: &str,
        author: &str,
        body: &str,
        internal: bool,
        mark: &Mark,
    ) -> Result<String, TrackerError> {
        delegate!(self, t => t.add_comment(issue, author, body, internal, mark).await)
    }
    async fn edit_comment(
        &self,
        issue: &str,
        comment: &str,
        body: &str,
    ) -> Result<(), TrackerError> {
        delegate!(self, t => t.edit_comment(issue, comment, body).await)
    }
    async fn upload_attachment(
        &self,
        issue: &str,
        filename: &str,
        bytes: &[u8],
        mark: &Mark,
    ) -> Result<String, TrackerError> {
        delegate!(self, t => t.upload_attachment(issue, filename, bytes, mark).await)
    }
    async fn find_mark(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        delegate!(self, t => t.find_mark(mark, hint).await)
    }
    async fn project(&self, key: &str) -> Result<ProjectInfo, TrackerError> {
        delegate!(self, t => t.project(key).await)
    }
    async fn link_twin(&self, issue: &str, link: &TwinLink) -> Result<bool, TrackerError> {
        delegate!(self, t => t.link_twin(issue, link).await)
    }
    fn shares_store(&self) -> bool {
        delegate!(self, t => t.shares_store())
    }
}
