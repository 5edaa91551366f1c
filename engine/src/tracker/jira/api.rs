//! Jira's REST v2 as the connector uses it: authenticated calls (a Personal
//! Access Token as Bearer, or Basic), a cap on requests in flight, 429s
//! honoured by pausing every caller until `Retry-After` has passed, and
//! Jira's `errorMessages`/`errors` turned into one clear line.
//!
//! Owns the HTTP and nothing else: what the calls mean is `super`'s.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::tracker::{TrackerError, http};

/// A JSON answer is at most this large (a search page, an issue with its
/// comments).
const MAX_JSON: usize = 64 << 20;
/// Requests in flight at once: enough to hide a LAN's latency, few enough
/// not to trip a Data Center's rate limiter by ourselves.
const IN_FLIGHT: usize = 8;
/// How many 429s in a row one call sits out before it reports the limit.
const RATE_RETRIES: u32 = 20;
/// A `Retry-After` longer than this is waited for in several turns, so a
/// node stopping is not held up by one long pause.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// How the connector authenticates; never printed.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    Basic { user: String, password: String },
}

impl Auth {
    fn header(&self) -> String {
        match self {
            Auth::Bearer(token) => format!("Bearer {token}"),
            Auth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        }
    }
}

pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
    slots: tokio::sync::Semaphore,
    /// No request leaves before this (set by a 429).
    paused_until: Mutex<Option<Instant>>,
    /// Jira's clock minus ours, in milliseconds (from `Date` headers): JQL's
    /// relative dates count from Jira's "now".
    skew_ms: AtomicI64,
    max_download: u64,
}

/// A request, built again for each retry.
pub(super) enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
    /// A multipart upload: field `file`, this name, these bytes.
    File(&'a str, &'a [u8]),
}

impl Api {
    pub(super) fn new(base: &str, auth: Auth, max_download: u64) -> Result<Self, TrackerError> {
        let http = http::client(Duration::from_secs(300))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').into(),
            auth: auth.header(),
            slots: tokio::sync::Semaphore::new(IN_FLIGHT),
            paused_until: Mutex::new(None),
            skew_ms: AtomicI64::new(0),
            max_download,
        })
    }

    /// Jira's clock now, as far as its last answer told.
    pub(super) fn jira_now(&self) -> SystemTime {
        let skew = self.skew_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if skew >= 0 {
            now + Duration::from_millis(skew as u64)
        } else {
            now - Duration::from_millis(skew.unsigned_abs())
        }
    }

    fn url(&self, path: &str) -> Result<String, TrackerError> {
        http::under_base(&self.base, path, "/rest/api/2", "Jira")
    }

    async fn wait_turn(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => return,
            }
        }
    }

    /// Sends a request and returns the body of a 2xx answer; 429s are sat
    /// out (every caller pauses) and the request is sent again.
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
        what: &str,
        cap: usize,
    ) -> Result<Vec<u8>, TrackerError> {
        let url = self.url(path)?;
        let mut limited = 0;
        loop {
            self.wait_turn().await;
            let _slot = self.slots.acquire().await.map_err(|_| {
                TrackerError::Unavailable("the Jira connector is shutting down".into())
            })?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("authorization", &self.auth)
                .header("accept", "application/json");
            request = match &body {
                Body::None => request,
                Body::Json(json) => request
                    .header("content-type", "application/json")
                    .body(json.to_string()),
                Body::File(name, bytes) => {
                    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                        .file_name(name.to_string())
                        .mime_str("application/octet-stream")
                        .map_err(|e| TrackerError::Rejected(format!("{what}: {e}")))?;
                    // Jira refuses uploads without it (XSRF check).
                    request
                        .header("X-Atlassian-Token", "no-check")
                        .multipart(reqwest::multipart::Form::new().part("file", part))
                }
            };
            let response = request
                .send()
                .await
                .map_err(|e| TrackerError::Unavailable(format!("{what}: {e}")))?;
            self.note_clock(&response);
            let status = response.status();
            if status.as_u16() == 429 {
                let wait = retry_after(&response).min(MAX_PAUSE);
                limited += 1;
                if limited > RATE_RETRIES {
                    return Err(TrackerError::RateLimited { retry_after: wait });
                }
                tracing::info!(
                    what,
                    wait_ms = wait.as_millis() as u64,
                    "Jira rate limit: pausing"
                );
                let until = Instant::now() + wait;
                let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
                if paused.is_none_or(|p| p < until) {
                    *paused = Some(until);
                }
                continue;
            }
            let out = http::read_capped(response, cap, what).await?;
            if status.is_success() {
                return Ok(out);
            }
            return Err(error_of(status.as_u16(), &out, what));
        }
    }

    fn note_clock(&self, response: &reqwest::Response) {
        let Some(date) = response
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return;
        };
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        // `Date` has whole seconds: a skew under a second is noise.
        let skew = ms(date) - ms(SystemTime::now());
        self.skew_ms
            .store(if skew.abs() < 1000 { 0 } else { skew }, Ordering::Relaxed);
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, TrackerError> {
        let body = self
            .call(reqwest::Method::GET, path, Body::None, what, MAX_JSON)
            .await?;
        parse(&body, what)
    }

    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        json: &serde_json::Value,
        what: &str,
    ) -> Result<T, TrackerError> {
        let body = self
            .call(method, path, Body::Json(json), what, MAX_JSON)
            .await?;
        if body.is_empty() {
            // 204 No Content: the caller asked for `()` or an `Option`.
            return parse(b"null", what);
        }
        parse(&body, what)
    }

    pub(super) async fn download(&self, url: &str, what: &str) -> Result<Vec<u8>, TrackerError> {
        let cap = usize::try_from(self.max_download).unwrap_or(usize::MAX);
        self.call(reqwest::Method::GET, url, Body::None, what, cap)
            .await
    }

    pub(super) async fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        filename: &str,
        bytes: &[u8],
        what: &str,
    ) -> Result<T, TrackerError> {
        let body = self
            .call(
                reqwest::Method::POST,
                path,
                Body::File(filename, bytes),
                what,
                MAX_JSON,
            )
            .await?;
        parse(&body, what)
    }
}

fn retry_after(response: &reqwest::Response) -> Duration {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(String::from)
    };
    if let Some(v) = header("retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Duration::from_secs(secs);
        }
        if let Ok(at) = httpdate::parse_http_date(&v) {
            return at.duration_since(SystemTime::now()).unwrap_or_default();
        }
    }
    Duration::from_secs(5)
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, TrackerError> {
    serde_json::from_slice(body).map_err(|e| {
        TrackerError::Unavailable(format!("{what}: Jira answered something unexpected ({e})"))
    })
}

/// Jira's `{"errorMessages": [...], "errors": {"field": "msg"}}` as one line.
fn error_of(status: u16, body: &[u8], what: &str) -> TrackerError {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Errors {
        #[serde(default)]
        error_messages: Vec<String>,
        #[serde(default)]
        errors: std::collections::BTreeMap<String, String>,
    }
    let errors: Errors = serde_json::from_slice(body).unwrap_or_default();
    let mut parts = errors.error_messages;
    parts.extend(
        errors
            .errors
            .into_iter()
            .map(|(field, msg)| format!("{field}: {msg}")),
    );
    let message = if parts.is_empty() {
        format!("HTTP {status}")
    } else {
        parts.join("; ")
    };
    match status {
        401 => TrackerError::Unauthorised(format!(
            "{what}: Jira refused the credentials (check the token or password, and that the user may log in)"
        )),
        403 => TrackerError::Rejected(format!(
            "{what}: not allowed for this Jira user ({message})"
        )),
        404 => TrackerError::NotFound(format!("{what}: {message}")),
        400 | 409 | 413 | 422 => TrackerError::Rejected(format!("{what}: {message}")),
        _ => TrackerError::Unavailable(format!("{what}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_errors_read_as_one_line() {
        let body = br#"{"errorMessages":["Issue does not exist"],"errors":{"summary":"You must specify a summary"}}"#;
        let e = error_of(400, body, "creating an issue in OPS");
        assert_eq!(
            e.to_string(),
            "rejected by the tracker: creating an issue in OPS: Issue does not exist; summary: You must specify a summary"
        );
        assert!(matches!(
            error_of(401, b"", "x"),
            TrackerError::Unauthorised(_)
        ));
        assert!(matches!(
            error_of(404, b"<html>", "x"),
            TrackerError::NotFound(_)
        ));
    }
}
