//! The Jira watcher's cursor: which issues changed since the last poll.
//!
//! JQL compares dates to the minute, in the Jira user's time zone. So the
//! query asks for a relative window (`updated >= "-5m"`, counted from Jira's
//! own clock, which no time zone changes) that reaches a minute further
//! back than the newest change seen, and the cursor remembers each issue's
//! `updated` within that overlap: an issue comes back when its `updated`
//! moved, never twice for the same change, and nothing edited in the
//! cursor's own minute or second is missed. Pages may be shorter than asked
//! (Jira caps `maxResults`); paging goes by `startAt` until `total`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::Api;
use crate::tracker::{Changes, Cursor, TrackerError};

/// Issues per search page asked for (Jira may return fewer).
const PAGE: usize = 100;
/// A poll returns at most this many issues; the rest come on the next one.
const MAX_CHANGES: usize = 1000;
/// How far past the newest change the next window reaches back.
const OVERLAP_MINUTES: i64 = 1;
/// `seen` entries older than this before the newest change can no longer
/// come back in a window, so they are dropped.
const KEEP_MS: i64 = 5 * 60_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct WatchCursor {
    /// The newest `updated` seen, Unix milliseconds.
    at: i64,
    /// Issue id -> the `updated` it was returned with.
    seen: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    total: usize,
    #[serde(default)]
    issues: Vec<Hit>,
}

#[derive(Deserialize)]
struct Hit {
    id: String,
    #[serde(default)]
    fields: HitFields,
}

#[derive(Deserialize, Default)]
struct HitFields {
    #[serde(default)]
    updated: Option<String>,
}

/// The JQL for changes since `at`.
fn window(api: &Api, at: i64) -> String {
    let now = unix_ms(api.jira_now());
    let minutes = ((now - at).max(0) + 59_999) / 60_000 + OVERLAP_MINUTES;
    format!("updated >= \"-{minutes}m\" ORDER BY updated ASC")
}

async fn search(api: &Api, jql: &str, start: usize, what: &str) -> Result<Page, TrackerError> {
    api.send_json(
        reqwest::Method::POST,
        "/search",
        &json!({ "jql": jql, "startAt": start, "maxResults": PAGE, "fields": ["updated"] }),
        what,
    )
    .await
}

/// Where a new watcher starts: at the newest change Jira has (or its now).
async fn start(api: &Api) -> Result<Changes, TrackerError> {
    let page = search(api, "ORDER BY updated DESC", 0, "finding the newest change").await?;
    let at = page
        .issues
        .first()
        .and_then(|hit| hit.fields.updated.as_deref())
        .and_then(parse_ms)
        .unwrap_or_else(|| unix_ms(api.jira_now()));
    let state = WatchCursor {
        at,
        seen: BTreeMap::new(),
    };
    Ok(Changes {
        issues: Vec::new(),
        cursor: Cursor(serde_json::to_string(&state).unwrap_or_default()),
    })
}

/// Every issue the user can see, oldest first (the bulk sync's list).
pub(super) async fn all(api: &Api) -> Result<Vec<String>, TrackerError> {
    let mut out: Vec<String> = Vec::new();
    loop {
        let page = search(
            api,
            "ORDER BY created ASC",
            out.len(),
            "listing every issue",
        )
        .await?;
        if page.issues.is_empty() {
            return Ok(out);
        }
        out.extend(page.issues.into_iter().map(|hit| hit.id));
        if out.len() >= page.total {
            out.dedup();
            return Ok(out);
        }
    }
}

pub(super) async fn changed_since(
    api: &Api,
    cursor: Option<&Cursor>,
) -> Result<Changes, TrackerError> {
    let Some(cursor) = cursor.filter(|c| !c.0.is_empty()) else {
        return start(api).await;
    };
    let mut state: WatchCursor = serde_json::from_str(&cursor.0).map_err(|e| {
        TrackerError::Rejected(format!("the Jira watcher's cursor is damaged ({e})"))
    })?;
    let jql = window(api, state.at);
    let mut issues = Vec::new();
    // A search is no snapshot: an issue edited while we page moves to the
    // end and shifts the rest, so one may be skipped. Seeing fewer distinct
    // issues than `total` says so; then the pass runs once more.
    for _pass in 0..2 {
        let (mut start, mut distinct, mut total) = (0usize, 0usize, None);
        loop {
            let page = search(api, &jql, start, "searching for changed issues").await?;
            total.get_or_insert(page.total);
            if page.issues.is_empty() {
                break;
            }
            start += page.issues.len();
            distinct += page.issues.len();
            for hit in page.issues {
                let updated = hit
                    .fields
                    .updated
                    .as_deref()
                    .and_then(parse_ms)
                    .unwrap_or(0);
                if state.seen.get(&hit.id) == Some(&updated) {
                    continue;
                }
                state.at = state.at.max(updated);
                state.seen.insert(hit.id.clone(), updated);
                if !issues.contains(&hit.id) {
                    issues.push(hit.id);
                }
            }
            if issues.len() >= MAX_CHANGES || start >= total.unwrap_or(0) {
                break;
            }
        }
        if issues.len() >= MAX_CHANGES || distinct >= total.unwrap_or(0) {
            break;
        }
    }
    let keep_from = state.at - KEEP_MS;
    state.seen.retain(|_, updated| *updated >= keep_from);
    let cursor = if issues.is_empty() {
        cursor.clone()
    } else {
        Cursor(serde_json::to_string(&state).unwrap_or_default())
    };
    Ok(Changes { issues, cursor })
}

pub(super) fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Jira's timestamp (`2024-01-02T03:04:05.000+0000`, also `+01:00` or `Z`)
/// as Unix milliseconds.
pub(super) fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (base, offset_minutes) = if let Some(base) = s.strip_suffix('Z') {
        (base, 0)
    } else {
        let at = s.rfind(['+', '-']).filter(|&i| i > 10)?;
        let (base, off) = s.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        if digits.len() != 4 {
            return None;
        }
        let h: i64 = digits[..2].parse().ok()?;
        let m: i64 = digits[2..].parse().ok()?;
        (base, sign * (h * 60 + m))
    };
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    Some(unix_ms(t) - offset_minutes * 60_000)
}

/// Unix milliseconds as RFC 3339 in UTC, as the sync compares times.
pub(super) fn rfc3339(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_timestamps_read_in_any_offset() {
        let utc = parse_ms("2024-01-02T03:04:05.000+0000").unwrap();
        assert_eq!(rfc3339(utc), "2024-01-02T03:04:05.000Z");
        assert_eq!(parse_ms("2024-01-02T04:04:05.000+0100"), Some(utc));
        assert_eq!(parse_ms("2024-01-01T22:04:05.000-05:00"), Some(utc));
        assert_eq!(parse_ms("2024-01-02T03:04:05.250Z"), Some(utc + 250));
        assert_eq!(parse_ms("yesterday"), None);
    }
}
