//! Finding again what the sync created, after a crash between a Jira write
//! and its twin record: issues and comments carry the `tandem.sync` entity
//! property set in their create request; attachments, which keep no
//! properties, are matched by name, size, uploader and time.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{AttachmentJson, marked_by};
use super::{CLOCK_SLACK, JiraTracker, MARK_PROPERTY, quoted, seg, watch};
use crate::tracker::{Mark, MarkHint, Marked, TrackerError};

impl JiraTracker {
    /// What carries `mark`: an issue by a search with its properties, a
    /// comment by its properties, an attachment by name, size, uploader and time.
    pub(super) async fn find_marked(
        &self,
        mark: &Mark,
        hint: &MarkHint,
    ) -> Result<Option<Marked>, TrackerError> {
        if mark.0.ends_with(":issue") {
            if hint.project.is_empty() || hint.since.is_empty() {
                return Ok(None);
            }
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                issues: Vec<Hit>,
                #[serde(default)]
                total: usize,
            }
            #[derive(Deserialize)]
            struct Hit {
                id: String,
                #[serde(default)]
                properties: BTreeMap<String, Value>,
            }
            let jql = format!(
                "project = {} AND created >= \"-{}m\" ORDER BY created DESC",
                quoted(&hint.project),
                self.minutes_back(&hint.since)?
            );
            let mut start = 0;
            loop {
                let page: Page = self
                    .api
                    .send_json(
                        Method::POST,
                        "/search",
                        &json!({ "jql": jql, "startAt": start, "maxResults": 100, "fields": ["created"], "properties": [MARK_PROPERTY] }),
                        "looking for an issue the sync created",
                    )
                    .await?;
                if let Some(hit) = page.issues.iter().find(|h| {
                    h.properties
                        .get(MARK_PROPERTY)
                        .is_some_and(|v| v["mark"] == mark.0)
                }) {
                    return Ok(Some(Marked::Issue {
                        issue: hit.id.clone(),
                    }));
                }
                start += page.issues.len();
                if page.issues.is_empty() || start >= page.total {
                    return Ok(None);
                }
            }
        }
        let Some(issue) = &hint.issue else {
            return Ok(None);
        };
        if hint.size.is_none() {
            let comments = match self.comments(issue, true).await {
                Ok(c) => c,
                Err(TrackerError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            return Ok(comments
                .iter()
                .rev()
                .find(|c| marked_by(&c.properties, mark))
                .map(|c| Marked::Comment {
                    issue: issue.clone(),
                    comment: c.id.clone(),
                }));
        }
        // Attachments keep no properties: ours, that name and size, since the intent.
        #[derive(Deserialize)]
        struct Bean {
            fields: AttachmentFields,
        }
        #[derive(Deserialize)]
        struct AttachmentFields {
            #[serde(default)]
            attachment: Vec<AttachmentJson>,
        }
        let bean: Bean = match self
            .api
            .get(
                &format!("/issue/{}?fields=attachment", seg(issue)?),
                &format!("issue {issue}"),
            )
            .await
        {
            Ok(b) => b,
            Err(TrackerError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let me = self.me().await?;
        let since = humantime::parse_rfc3339_weak(&hint.since)
            .map(|t| watch::unix_ms(t - CLOCK_SLACK))
            .unwrap_or(0);
        Ok(bean
            .fields
            .attachment
            .iter()
            .rev()
            .find(|a| {
                a.filename == hint.text
                    && Some(a.size) == hint.size
                    && a.author.as_ref().is_some_and(|u| u.name == me)
                    && watch::parse_ms(&a.created).is_some_and(|c| c >= since)
            })
            .map(|a| Marked::Attachment {
                issue: issue.clone(),
                attachment: a.id.clone(),
            }))
    }
}
