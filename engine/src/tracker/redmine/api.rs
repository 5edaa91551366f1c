//! Redmine's REST API as the connector uses it: authenticated calls, JSON
//! in and out, and Redmine's answers turned into [`TrackerError`]s with one
//! clear line each.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::tracker::{TrackerError, http};

/// A JSON answer is at most this large (an issue with many journals fits).
const MAX_BODY: usize = 64 << 20;
/// How far Redmine's clock may run behind this machine's, when Redmine does
/// not say what time it is.
const UNDATED_SLACK: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub(super) fn new(base: &str, key: String) -> Result<Self, TrackerError> {
        Ok(Api {
            http: http::client(Duration::from_secs(120))?,
            base: base.trim_end_matches('/').into(),
            key,
        })
    }

    fn url(&self, path: &str) -> Result<String, TrackerError> {
        http::under_base(&self.base, path, "", "Redmine")
    }

    /// Sends a request; returns the body of a 2xx answer.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        self.send_dated(request, what).await.map(|(body, _)| body)
    }

    /// Sends a request; returns the body of a 2xx answer and Redmine's clock
    /// when it answered (its `Date` header, RFC 3339 to the second).
    async fn send_dated(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(Vec<u8>, String), TrackerError> {
        let response = request
            .header("X-Redmine-API-Key", &self.key)
            .send()
            .await
            .map_err(|e| TrackerError::Unavailable(format!("{what}: {e}")))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let date = response
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            // Without a `Date` header (thin sends none), this machine's
            // clock, set back by how far the two may disagree.
            .unwrap_or_else(|| std::time::SystemTime::now() - UNDATED_SLACK);
        let date = humantime::format_rfc3339_seconds(date).to_string();
        let body = http::read_capped(response, MAX_BODY, what).await?;
        if status.is_success() {
            return Ok((body, date));
        }
        let message = errors_of(&body).unwrap_or_else(|| format!("HTTP {status}"));
        Err(match status.as_u16() {
            401 => TrackerError::Unauthorised(format!(
                "{what}: Redmine refused the API key (check the key and that REST is enabled)"
            )),
            403 => {
                TrackerError::Rejected(format!("{what}: not allowed for this API user ({message})"))
            }
            404 => TrackerError::NotFound(what.to_string()),
            422 => TrackerError::Rejected(format!("{what}: {message}")),
            429 => TrackerError::RateLimited {
                retry_after: Duration::from_secs(retry_after.unwrap_or(5)),
            },
            _ => TrackerError::Unavailable(format!("{what}: {message}")),
        })
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, TrackerError> {
        let body = self.send(self.http.get(self.url(path)?), what).await?;
        parse(&body, what)
    }

    /// [`Api::get`], with Redmine's clock at the answer.
    pub(super) async fn get_dated<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<(T, String), TrackerError> {
        let (body, date) = self
            .send_dated(self.http.get(self.url(path)?), what)
            .await?;
        Ok((parse(&body, what)?, date))
    }

    pub(super) async fn get_bytes(&self, path: &str, what: &str) -> Result<Vec<u8>, TrackerError> {
        self.send(self.http.get(self.url(path)?), what).await
    }

    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        json: &serde_json::Value,
        what: &str,
    ) -> Result<T, TrackerError> {
        let body = self
            .send(
                self.http
                    .post(self.url(path)?)
                    .header("content-type", "application/json")
                    .body(json.to_string()),
                what,
            )
            .await?;
        parse(&body, what)
    }

    pub(super) async fn put(
        &self,
        path: &str,
        json: &serde_json::Value,
        what: &str,
    ) -> Result<(), TrackerError> {
        self.send(
            self.http
                .put(self.url(path)?)
                .header("content-type", "application/json")
                .body(json.to_string()),
            what,
        )
        .await
        .map(|_| ())
    }

    /// `POST /uploads.json`: the bytes first, attached by token afterwards.
    pub(super) async fn upload(
        &self,
        filename: &str,
        bytes: &[u8],
    ) -> Result<Upload, TrackerError> {
        let what = format!("uploading {filename}");
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/uploads.json?filename={}", super::enc(filename)))?)
                    // Anything else is answered with 406.
                    .header("content-type", "application/octet-stream")
                    .body(bytes.to_vec()),
                &what,
            )
            .await?;
        let answer: UploadAnswer = parse(&body, &what)?;
        Ok(answer.upload)
    }
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, TrackerError> {
    serde_json::from_slice(body).map_err(|e| {
        TrackerError::Unavailable(format!(
            "{what}: Redmine answered something unexpected ({e})"
        ))
    })
}

/// Redmine's `{"errors": [...]}` as one line.
fn errors_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    serde_json::from_slice::<Errors>(body)
        .ok()
        .map(|e| e.errors.join("; "))
}

#[derive(Deserialize)]
struct UploadAnswer {
    upload: Upload,
}

#[derive(Debug, Deserialize)]
pub(super) struct Upload {
    /// The attachment's id (Redmine 3.4+).
    #[serde(default)]
    pub id: Option<u64>,
    pub token: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Named {
    pub id: u64,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct IssueJson {
    pub id: u64,
    pub project: Named,
    pub tracker: Named,
    pub status: Named,
    pub priority: Named,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub author: Option<Named>,
    pub updated_on: String,
    #[serde(default)]
    pub journals: Vec<Journal>,
    #[serde(default)]
    pub attachments: Vec<AttachmentJson>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Journal {
    pub id: u64,
    #[serde(default)]
    pub user: Option<Named>,
    #[serde(default)]
    pub notes: Option<String>,
    pub created_on: String,
    #[serde(default)]
    pub private_notes: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct AttachmentJson {
    pub id: u64,
    pub filename: String,
    #[serde(default)]
    pub filesize: u64,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_url: String,
    #[serde(default)]
    pub author: Option<Named>,
    #[serde(default)]
    pub created_on: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct IssuePage {
    pub issues: Vec<IssueJson>,
    #[serde(default)]
    pub total_count: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ProjectJson {
    pub id: u64,
    pub identifier: String,
    #[serde(default)]
    pub trackers: Vec<Named>,
}
