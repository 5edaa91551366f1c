//! Remote links from Jira issues to their twins (`[jira.twin_links]`): one
//! per issue and connection, upserted by its `globalId`, so linking again
//! after a crash or a move updates the link instead of adding a second one.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use super::{JiraTracker, seg};
use crate::tracker::{TrackerError, TwinLink};

/// What a twin-link template must look like: an http(s) URL naming `{key}`.
pub fn check_twin_link(template: &str) -> Result<(), String> {
    let template = template.trim();
    let web = template.starts_with("https://") || template.starts_with("http://");
    if !web || !template.contains("{key}") {
        return Err(format!(
            "twin link `{template}`: expected an http(s) URL with {{key}} where the twin's key goes, e.g. https://redmine.acme.example/issues/{{key}}"
        ));
    }
    Ok(())
}

/// A key as it goes into a URL: `#12` (Redmine) becomes `12`.
fn key_in_url(key: &str) -> String {
    crate::tracker::http::percent_encode(key.trim_start_matches('#'))
}

impl JiraTracker {
    /// Links each synced issue of the named connections to its twin, at the
    /// URL each template gives.
    pub fn with_twin_links(
        mut self,
        links: BTreeMap<String, String>,
    ) -> Result<Self, TrackerError> {
        for (connection, template) in &links {
            check_twin_link(template).map_err(|e| {
                TrackerError::Rejected(format!("[jira.twin_links] {connection}: {e}"))
            })?;
        }
        self.twin_links = Arc::new(links);
        Ok(self)
    }

    pub(super) async fn remote_link(
        &self,
        issue: &str,
        link: &TwinLink,
    ) -> Result<bool, TrackerError> {
        let Some(template) = self.twin_links.get(&link.connection) else {
            return Ok(false);
        };
        let peer = if link.peer.is_empty() {
            "the other side"
        } else {
            link.peer.as_str()
        };
        let body = json!({
            "globalId": link.global_id,
            "application": { "type": "tandem", "name": "tandem" },
            "relationship": "synced with",
            "object": {
                "url": template.trim().replace("{key}", &key_in_url(&link.key)),
                "title": link.key,
                "summary": format!("Synced by tandem with {peer}"),
            },
        });
        self.api
            .send_json::<Option<Value>>(
                Method::POST,
                &format!("/issue/{}/remotelink", seg(issue)?),
                &body,
                &format!("linking {issue} to its twin {}", link.key),
            )
            .await?;
        Ok(true)
    }
}
