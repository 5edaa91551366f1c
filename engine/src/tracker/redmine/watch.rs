//! The Redmine watcher's cursor: which issues changed since the last poll,
//! and every issue for `tandem sync --all`.
//!
//! Redmine's clock has seconds, but its `updated_on>=` filter compares to
//! the minute (Redmine 5, seen against the real server here): answers start
//! earlier than asked, and the cursor must neither go back nor skip an issue
//! changed again within its own second.

use serde::{Deserialize, Serialize};

use super::api::IssuePage;
use super::{PAGE, RedmineTracker, enc};
use crate::tracker::{Changes, Cursor, IssueId, TrackerError};

/// Where the watcher stopped: the last `updated_on` seen, and the issues
/// already returned with exactly that time (Redmine's clock has seconds,
/// its `updated_on>=` filter only minutes).
///
/// While that second is still running on Redmine's clock (`open`), an issue
/// already returned can change again within it and keep the same
/// `updated_on`; so the issues of an open second are returned once more
/// after it has passed. Nothing is missed, and nothing repeats for ever.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WatchCursor {
    at: String,
    seen: Vec<u64>,
    #[serde(default)]
    open: bool,
}

impl RedmineTracker {
    /// Every issue id this user can see, oldest first (`tandem sync --all`).
    pub async fn all(&self) -> Result<Vec<IssueId>, TrackerError> {
        let mut out: Vec<IssueId> = Vec::new();
        loop {
            let path = format!(
                "/issues.json?status_id=*&sort=id&limit={PAGE}&offset={}",
                out.len()
            );
            let page: IssuePage = self.api.get(&path, "listing every issue").await?;
            if page.issues.is_empty() {
                return Ok(out);
            }
            out.extend(page.issues.iter().map(|i| i.id.to_string()));
            if out.len() as u64 >= page.total_count {
                return Ok(out);
            }
        }
    }

    /// Where a new watcher starts: at the newest change Redmine has.
    async fn start(&self) -> Result<Changes, TrackerError> {
        let (page, now): (IssuePage, String) = self
            .api
            .get_dated(
                "/issues.json?status_id=*&sort=updated_on:desc&limit=1",
                "finding the newest change",
            )
            .await?;
        let at = page
            .issues
            .first()
            .map(|i| i.updated_on.clone())
            .unwrap_or(now);
        let start = WatchCursor {
            at,
            seen: Vec::new(),
            open: true,
        };
        Ok(Changes {
            issues: Vec::new(),
            cursor: Cursor(serde_json::to_string(&start).unwrap_or_default()),
        })
    }

    /// The issues changed after `cursor`, oldest change first.
    pub(super) async fn changes_after(
        &self,
        cursor: Option<&Cursor>,
    ) -> Result<Changes, TrackerError> {
        let Some(cursor) = cursor.filter(|c| !c.0.is_empty()) else {
            return self.start().await;
        };
        let from: WatchCursor = serde_json::from_str(&cursor.0).map_err(|e| {
            TrackerError::Rejected(format!("the Redmine watcher's cursor is damaged ({e})"))
        })?;
        let mut out = Changes {
            issues: Vec::new(),
            cursor: cursor.clone(),
        };
        let mut next = WatchCursor {
            at: from.at.clone(),
            seen: from.seen.clone(),
            open: from.open,
        };
        let mut offset = 0;
        loop {
            // Closed issues too (`status_id=*`); `>=` so that a change in the
            // cursor's own second is not missed; what was already returned at
            // that second is skipped, so the same issue does not come back forever.
            let path = format!(
                "/issues.json?status_id=*&sort=updated_on&limit={PAGE}&offset={offset}&updated_on={}",
                enc(&format!(">={}", from.at))
            );
            let (page, now): (IssuePage, String) =
                self.api.get_dated(&path, "listing changed issues").await?;
            // The cursor's second has passed since it was open: look again.
            let recheck = from.open && from.at < now;
            let count = page.issues.len();
            for issue in page.issues {
                // Redmine compares `updated_on` to the minute: the answer
                // starts earlier than asked, and those must not pull the
                // cursor back.
                if issue.updated_on < from.at {
                    continue;
                }
                if issue.updated_on == from.at && from.seen.contains(&issue.id) && !recheck {
                    continue;
                }
                if issue.updated_on != next.at {
                    next.at = issue.updated_on.clone();
                    next.seen.clear();
                }
                if !next.seen.contains(&issue.id) {
                    next.seen.push(issue.id);
                }
                out.issues.push(issue.id.to_string());
            }
            next.open = next.at >= now;
            offset += count;
            if !out.issues.is_empty() || count < PAGE || offset as u64 >= page.total_count {
                break;
            }
        }
        if !out.issues.is_empty() {
            out.cursor = Cursor(serde_json::to_string(&next).unwrap_or_default());
        }
        Ok(out)
    }
}
