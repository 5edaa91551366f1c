//! A stateful Jira-compatible test server (REST v2, Data Center flavour),
//! started by tests on a random loopback port: projects with their issue
//! types, issues, comments with visibility and entity properties,
//! attachments (multipart upload, `/secure/attachment` download), a JQL
//! subset with minute-granular dates, paging that returns fewer than
//! `maxResults`, workflow transitions, auth (a token as Bearer, or Basic),
//! a 429 budget and a per-request delay. Its answers are checked against
//! Atlassian's published v2 schema by a test (`jira_schema`).
//!
//! It is the one stand-in among the tests' parts: Jira cannot run here.
//! Tests change it "as a person in Jira's UI" through [`JiraServer`]'s
//! helpers, which bypass HTTP.

mod jql;
mod routes;
pub mod state;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use state::State;
pub use state::{API_USER, JiraIssue, PERSON};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct JiraOptions {
    /// Every request waits this long before it is answered (a LAN's Jira).
    pub delay: Duration,
    /// Every n-th authorised request is answered 429.
    pub rate_limit_every: Option<u64>,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
    /// A search or comment page holds at most this many, whatever was asked.
    pub max_page: usize,
    /// An issue's `comment` field lists at most this many (the rest by paging).
    pub comment_field_limit: usize,
}

impl Default for JiraOptions {
    fn default() -> Self {
        JiraOptions {
            delay: Duration::ZERO,
            rate_limit_every: None,
            retry_after_secs: 1,
            max_page: 7,
            comment_field_limit: 3,
        }
    }
}

/// What the server has seen.
#[derive(Default, Debug)]
pub struct Stats {
    pub requests: AtomicU64,
    pub authorised: AtomicU64,
    pub limited: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    token: String,
    options: JiraOptions,
    stats: Stats,
}

/// A running test server; stops when dropped.
pub struct JiraServer {
    pub url: String,
    /// The API user's Personal Access Token (and Basic password).
    pub token: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JiraServer {
    pub fn start(options: JiraOptions) -> JiraServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let token = format!("pat-{}", state::now_ms());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&url)),
            token: token.clone(),
            options,
            stats: Stats::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    routes::handle(serving.clone(), request)
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("jira test server");
            });
        });
        JiraServer {
            url,
            token,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A project with these issue types (plus a `Sub-task`).
    pub fn project(&self, key: &str, types: &[&str]) {
        self.state().add_project(key, types);
    }

    /// A person creates an issue; its key.
    pub fn create(
        &self,
        project: &str,
        issue_type: &str,
        summary: &str,
        description: &str,
    ) -> String {
        self.state()
            .create_issue(
                project,
                issue_type,
                summary,
                Some(description.into()),
                PERSON,
                BTreeMap::new(),
            )
            .unwrap_or_else(|e| panic!("create in {project}: {e:?}"))
            .1
    }

    /// A person comments (internal: restricted to a role).
    pub fn comment(&self, key: &str, body: &str, internal: bool) {
        let mut s = self.state();
        let i = s.issue_index(key).expect("issue");
        let vis = internal.then(|| serde_json::json!({ "type": "role", "value": "Developers" }));
        s.add_comment(i, PERSON, body, vis, BTreeMap::new());
    }

    /// A person attaches a file.
    pub fn attach(&self, key: &str, filename: &str, bytes: &[u8]) {
        let mut s = self.state();
        let i = s.issue_index(key).expect("issue");
        s.add_attachment(i, PERSON, filename, bytes.to_vec());
    }

    /// A person edits the summary.
    pub fn set_summary(&self, key: &str, summary: &str) {
        let mut s = self.state();
        let now = s.tick();
        let i = s.issue_index(key).expect("issue");
        s.issues[i].summary = summary.into();
        s.issues[i].updated = now;
    }

    /// A person moves an issue to another project: its key changes, its id
    /// stays. The new key.
    pub fn move_issue(&self, key: &str, project: &str) -> String {
        self.state().move_issue(key, project)
    }

    /// The issues of a project, as they are now.
    pub fn issues(&self, project: &str) -> Vec<JiraIssue> {
        self.state()
            .issues
            .iter()
            .filter(|i| i.project == project)
            .cloned()
            .collect()
    }

    /// The remote links of an issue, as `GET …/remotelink` shows them.
    pub fn remote_links(&self, key: &str) -> Vec<serde_json::Value> {
        let state = self.state();
        state
            .issue_index(key)
            .map(|i| state.issues[i].remote_links.clone())
            .unwrap_or_default()
    }

    /// Requests seen, answered 429, and the most in flight at once.
    pub fn requests(&self) -> u64 {
        self.shared.stats.requests.load(Ordering::Relaxed)
    }
    pub fn limited(&self) -> u64 {
        self.shared.stats.limited.load(Ordering::Relaxed)
    }
    pub fn max_in_flight(&self) -> u64 {
        self.shared.stats.max_in_flight.load(Ordering::Relaxed)
    }
}

impl Drop for JiraServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
