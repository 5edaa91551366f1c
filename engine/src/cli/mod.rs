//! The `tandem` command line (clap), one file per command group, and the one
//! place where errors become a line on stderr and an exit code.
//!
//! Exit codes (DESIGN.md): 0 success; 1 the operation failed; 2 usage (clap's);
//! 3 the rules failed (rule error, trap, deadline, memory cap). With `--json`, a
//! failure also prints `{"error": {"kind", "message"}}` on stdout.

pub mod connection;
pub mod errors;
mod init;
mod input;
pub mod issue;
pub mod project;
mod rules;
mod rules_new;
mod serve;
pub mod status;
pub mod sync;
mod upgrade;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::DataDir;

/// tandem keeps issues in two trackers in sync; sync rules are WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, propagate_version = true)]
pub struct Cli {
    /// The node's data directory.
    #[arg(long, global = true, env = "TANDEM_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print data as JSON (and failures as {"error": {...}}).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this node's data dir: config, secret, database.
    Init(init::InitArgs),
    /// Run the node: watcher, sync, transport, admin socket; until Ctrl-C.
    Serve(serve::ServeArgs),
    /// The node, its connections, queue depths and errors at a glance.
    Status,
    /// Connections with other nodes: initiate, accept, list, ...
    #[command(subcommand)]
    Connection(connection::ConnectionCommand),
    /// Sync one issue now, or every issue the trigger matches (--all).
    Sync(sync::SyncArgs),
    /// Link an issue with an existing one on the other side (no copy made).
    Link(sync::LinkArgs),
    /// Stop syncing one issue; both issues stay.
    Unlink(sync::UnlinkArgs),
    /// Sync errors: list, show, retry, resolve.
    #[command(subcommand)]
    Errors(errors::ErrorsCommand),
    /// Projects of the embedded `local` tracker.
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Issues of the embedded `local` tracker.
    #[command(subcommand)]
    Issue(issue::IssueCommand),
    /// Test, sign and verify rules components.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

impl Cli {
    /// Runs the command.
    pub fn run(self) -> Result<(), CliError> {
        let request = match self.command {
            Command::Init(args) => return args.run(self.data, self.json),
            Command::Serve(args) => return args.run(self.data),
            Command::Rules(cmd) => return cmd.run(self.json),
            Command::Status => crate::admin::Request::Status,
            Command::Connection(cmd) => cmd.request(&node_name(self.data.clone()))?,
            Command::Sync(args) => args.request(),
            Command::Link(args) => args.request(),
            Command::Unlink(args) => args.request(),
            Command::Errors(cmd) => cmd.request(),
            Command::Project(cmd) => cmd.request(),
            Command::Issue(cmd) => cmd.request()?,
        };
        let dir = DataDir::new(self.data).map_err(|e| CliError::failed("config", e.to_string()))?;
        let reply = crate::admin::run(&dir, request, self.json)?;
        reply.print(self.json);
        Ok(())
    }
}

/// This node's name, for defaults the client fills in before sending.
fn node_name(data: Option<PathBuf>) -> String {
    DataDir::new(data)
        .ok()
        .and_then(|d| d.config().ok())
        .map(|c| c.name)
        .unwrap_or_else(|| "tandem".into())
}

/// Prints a command's result: `value` as JSON with `--json`, else `text`.
pub(crate) fn output(json: bool, value: &impl serde::Serialize, text: impl std::fmt::Display) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(body) => println!("{body}"),
            Err(e) => eprintln!("error: cannot print the result as JSON: {e}"),
        }
    } else {
        println!("{text}");
    }
}

/// A failed command: what to tell the person and which exit code to give.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CliError {
    pub kind: std::borrow::Cow<'static, str>,
    pub message: String,
    pub code: u8,
}

impl CliError {
    /// An operation that failed (exit code 1).
    pub fn failed(kind: &'static str, message: impl Into<String>) -> Self {
        CliError {
            kind: kind.into(),
            message: message.into(),
            code: 1,
        }
    }

    /// A usage error (exit code 2), like clap's own.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            kind: "usage".into(),
            message: message.into(),
            code: 2,
        }
    }

    /// Prints the one line (and the JSON object) and gives the exit code.
    pub fn report(&self, json: bool) -> ExitCode {
        eprintln!("error: {}", self.message);
        if json {
            let body =
                serde_json::json!({ "error": { "kind": self.kind, "message": self.message } });
            println!("{body}");
        }
        ExitCode::from(self.code)
    }
}

impl From<crate::rules::RulesError> for CliError {
    fn from(e: crate::rules::RulesError) -> Self {
        CliError {
            kind: e.kind().into(),
            code: if e.is_rule_failure() { 3 } else { 1 },
            message: e.to_string(),
        }
    }
}

impl From<crate::rules::signing::SigningError> for CliError {
    fn from(e: crate::rules::signing::SigningError) -> Self {
        CliError::failed("signing", e.to_string())
    }
}

impl From<crate::tracker::TrackerError> for CliError {
    fn from(e: crate::tracker::TrackerError) -> Self {
        use crate::tracker::TrackerError::*;
        let kind = match e {
            NotFound(_) => "not_found",
            Rejected(_) => "rejected",
            Unauthorised(_) => "unauthorised",
            RateLimited { .. } => "rate_limited",
            Unavailable(_) => "unavailable",
        };
        CliError::failed(kind, e.to_string())
    }
}

/// Logs go to stderr; `TANDEM_LOG` sets the filter (default `warn`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TANDEM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
