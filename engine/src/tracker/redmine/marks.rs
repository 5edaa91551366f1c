//! Finding again what the sync created, after a crash between a Redmine
//! write and its twin record. Redmine cannot carry a sync mark without admin
//! changes, so a write is recognised by who made it (the API user), when
//! (after the intent, give or take the clocks' disagreement) and what it says.

use super::api::IssuePage;
use super::{CLOCK_SLACK, PAGE, RedmineTracker, enc, id_of, text};
use crate::tracker::{Mark, MarkHint, Marked, TrackerError};

impl RedmineTracker {
    /// What carries `mark`: an issue by author, project, time and subject; a
    /// comment by author, time and text; an attachment by author, time, name and size.
    pub(super) async fn find_marked(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        if hint.since.is_empty() {
            return Ok(None);
        }
        let me = self.me().await?;
        let since = humantime::parse_rfc3339_weak(&hint.since)
            .map(|t| t - CLOCK_SLACK)
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .map_err(|e| TrackerError::Rejected(format!("bad intent time: {e}")))?;
        let recent = |created: &str| created >= since.as_str();
        if mark.0.ends_with(":issue") {
            let path = format!(
                "/issues.json?project_id={}&author_id={me}&status_id=*&sort=id:desc&limit={PAGE}&created_on={}",
                enc(&hint.project),
                enc(&format!(">={since}"))
            );
            let page: IssuePage = self
                .api
                .get(&path, "looking for an issue the sync created")
                .await?;
            return Ok(page
                .issues
                .iter()
                .find(|i| i.subject == hint.text && i.author.as_ref().is_some_and(|a| a.id == me))
                .map(|i| Marked::Issue {
                    issue: i.id.to_string(),
                }));
        }
        let Some(issue) = &hint.issue else {
            return Ok(None);
        };
        let found = match self.issue_json(id_of(issue)?).await {
            Ok(found) => found,
            Err(TrackerError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if hint.size.is_some() {
            return Ok(found
                .attachments
                .iter()
                .rev()
                .find(|a| {
                    a.filename == hint.text
                        && Some(a.filesize) == hint.size
                        && a.author.as_ref().is_some_and(|u| u.id == me)
                        && recent(&a.created_on)
                })
                .map(|a| Marked::Attachment {
                    issue: issue.clone(),
                    attachment: a.id.to_string(),
                }));
        }
        Ok(found
            .journals
            .iter()
            .rev()
            .find(|j| {
                let notes = text(j.notes.as_deref().unwrap_or_default());
                let body =
                    crate::tracker::split_on_behalf(&notes).map_or(notes.as_str(), |(_, b)| b);
                j.user.as_ref().is_some_and(|u| u.id == me)
                    && body == text(&hint.text)
                    && recent(&j.created_on)
            })
            .map(|j| Marked::Comment {
                issue: issue.clone(),
                comment: j.id.to_string(),
            }))
    }
}
