//! The local admin socket: while `tandem serve` runs it owns the store, and
//! every other command on that data dir reaches it here. Requests are typed
//! (one enum per command group, defined next to its command); the client
//! reads files and asks its prompts itself, then sends data.
//!
//! - [`Request`] / [`Reply`]: what travels, one JSON line each way (progress
//!   lines may come before the reply).
//! - [`run`]: how a command runs: through the socket when a node runs, else
//!   on the store directly. The same handlers answer either way.
//! - `socket`: the listener (0600, peer uid checked) and the client.

pub mod socket;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cli::{self, CliError};
use crate::config::DataDir;
use crate::node::Node;

/// A command, as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Project(cli::project::ProjectRequest),
    Issue(cli::issue::IssueRequest),
    Connection(cli::connection::ConnectionRequest),
    Sync(cli::sync::SyncRequest),
    Errors(cli::errors::ErrorsRequest),
    Status,
}

/// What a command printed: `value` with `--json`, else `text`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub value: serde_json::Value,
    pub text: String,
}

impl Reply {
    pub fn new(value: impl Serialize, text: impl Into<String>) -> Self {
        Reply {
            value: serde_json::to_value(value).unwrap_or_default(),
            text: text.into(),
        }
    }

    /// Prints it as the person asked.
    pub fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.value).unwrap_or_default()
            );
        } else if !self.text.is_empty() {
            println!("{}", self.text);
        }
    }
}

/// Progress of long work: `done` of `total` units.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Answers a request on an open node.
pub async fn handle(
    node: &Arc<Node>,
    request: Request,
    progress: Progress,
) -> Result<Reply, CliError> {
    match request {
        Request::Project(r) => cli::project::handle(node, r),
        Request::Issue(r) => cli::issue::handle(node, r),
        Request::Connection(r) => cli::connection::handle(node, r).await,
        Request::Sync(r) => cli::sync::handle(node, r, progress).await,
        Request::Errors(r) => cli::errors::handle(node, r),
        Request::Status => cli::status::handle(node),
    }
}

/// Runs a request: through the running node's socket, or, with no node
/// running, on the store directly.
pub fn run(data: &DataDir, request: Request, json: bool) -> Result<Reply, CliError> {
    let progress = progress_printer(json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed("io", format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        for attempt in 0..20 {
            if let Some(reply) = socket::call(data, &request, progress.clone()).await? {
                return Ok(reply);
            }
            match Node::open(data.clone(), false) {
                Ok(node) => return handle(&node, request, progress).await,
                // A node is starting (it holds the store, its socket is not up
                // yet) or stopping: ask again shortly.
                Err(crate::node::OpenError::Store(crate::store::StoreError::InUse)) if attempt < 19 => {
                    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                }
                Err(e) => return Err(open_error(e)),
            }
        }
        Err(CliError::failed(
            "busy",
            "a tandem node holds this data dir but its admin socket does not answer; is it stuck? stop it and try again",
        ))
    })
}

pub(crate) fn open_error(e: crate::node::OpenError) -> CliError {
    match e {
        crate::node::OpenError::Config(e) => CliError::failed("config", e.to_string()),
        crate::node::OpenError::Store(e) => CliError::failed("store", e.to_string()),
        crate::node::OpenError::Tracker(e) => CliError::failed("usage", e),
    }
}

/// A progress bar on a terminal, plain lines otherwise (never on stdout, which
/// carries the result).
fn progress_printer(json: bool) -> Progress {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() && !json {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} issues ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Arc::new(move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                bar.finish_and_clear();
            }
        })
    } else {
        let last = std::sync::Mutex::new(0u64);
        Arc::new(move |done, total| {
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            // A line every 10% (and the last), not one per issue.
            let step = (total / 10).max(1);
            if done == total || done >= *last + step {
                *last = done;
                eprintln!("progress: {done}/{total} issues");
            }
        })
    }
}
