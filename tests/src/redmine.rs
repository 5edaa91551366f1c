//! The real Redmine instances `scripts/redmine` starts, for tests: where they
//! are, and a few REST calls a person would make in Redmine's UI (projects,
//! issues, notes) so that tests change Redmine from outside the sync.
//!
//! Gated by `TANDEM_REDMINE=1`: unset, [`instances`] prints a notice and the
//! test returns; set but unreachable, it fails loudly.

use serde_json::{Value, json};

/// One Redmine instance.
#[derive(Clone, Debug)]
pub struct Redmine {
    pub url: String,
    pub key: String,
}

/// Instances A and B, or `None` (with a printed notice) when the tests run
/// without Redmine.
pub fn instances() -> Option<(Redmine, Redmine)> {
    if std::env::var("TANDEM_REDMINE").as_deref() != Ok("1") {
        eprintln!(
            "note: TANDEM_REDMINE is not 1: Redmine tests skipped (scripts/redmine starts Redmine; .ci/run sets it)"
        );
        return None;
    }
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("TANDEM_REDMINE=1 but {name} is not set (source target/redmine/env)")
        })
    };
    let a = Redmine {
        url: get("TANDEM_REDMINE_A_URL"),
        key: get("TANDEM_REDMINE_A_KEY"),
    };
    let b = Redmine {
        url: get("TANDEM_REDMINE_B_URL"),
        key: get("TANDEM_REDMINE_B_KEY"),
    };
    for r in [&a, &b] {
        let user = r.call("GET", "/users/current.json", None);
        assert!(
            user["user"]["id"].is_number(),
            "TANDEM_REDMINE=1 but Redmine at {} does not answer: {user}",
            r.url
        );
    }
    Some((a, b))
}

/// A project identifier no other test uses.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", n % 1_000_000_000_000)
}

impl Redmine {
    /// A REST call; the JSON answer (or `null` for an empty one).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tandem::transport::tls::install_provider();
            let client = reqwest::Client::new();
            let mut request = client
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .header("X-Redmine-API-Key", &self.key);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("Redmine at {} unreachable: {e}", self.url));
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "{method} {path}: HTTP {status}: {text}"
            );
            if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            }
        })
    }

    /// Creates a project with the given trackers (ids: 1 Bug, 2 Feature, 3 Support).
    pub fn project(&self, identifier: &str, trackers: &[u64]) {
        self.call("POST", "/projects.json", Some(json!({ "project": {
            "name": identifier, "identifier": identifier, "tracker_ids": trackers, "is_public": false
        }})));
    }

    /// Creates an issue as a person would; returns its id.
    pub fn issue(&self, project: &str, tracker: u64, subject: &str, description: &str) -> u64 {
        let created = self.call("POST", "/issues.json", Some(json!({ "issue": {
            "project_id": project, "tracker_id": tracker, "subject": subject, "description": description
        }})));
        created["issue"]["id"].as_u64().unwrap()
    }

    /// Adds a note (a comment), private when `internal`.
    pub fn note(&self, issue: u64, notes: &str, internal: bool) {
        self.call(
            "PUT",
            &format!("/issues/{issue}.json"),
            Some(json!({ "issue": { "notes": notes, "private_notes": internal } })),
        );
    }

    /// The issues of a project, with journals and attachments.
    pub fn issues(&self, project: &str) -> Vec<Value> {
        let mut ids = Vec::new();
        loop {
            let page = self.call(
                "GET",
                &format!(
                    "/issues.json?project_id={project}&status_id=*&sort=id&limit=100&offset={}",
                    ids.len()
                ),
                None,
            );
            let got: Vec<u64> = page["issues"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i["id"].as_u64())
                .collect();
            if got.is_empty() {
                break;
            }
            ids.extend(got);
        }
        ids.into_iter()
            .map(|id| {
                self.call(
                    "GET",
                    &format!("/issues/{id}.json?include=journals,attachments"),
                    None,
                )["issue"]
                    .clone()
            })
            .collect()
    }
}
