//! `tandem init`: create a node's data dir.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::{DataDir, NodeConfig, TrackerKind};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The node's name, shown to the other side of each connection.
    #[arg(long)]
    name: String,
    /// The tracker this node serves.
    #[arg(long, value_enum, default_value = "local")]
    tracker: TrackerKind,
    /// Address `tandem serve` listens on (a public node).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// URL the other side reaches this node at; leave out on a private node.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// TLS certificate (PEM) `tandem serve` presents; codes pin its fingerprint.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The Redmine's URL (with --tracker redmine).
    #[arg(long, value_name = "URL", required_if_eq("tracker", "redmine"))]
    redmine_url: Option<String>,
    /// The Jira's base URL (with --tracker jira), e.g. https://jira.acme.example.
    #[arg(long, value_name = "URL", required_if_eq("tracker", "jira"))]
    jira_url: Option<String>,
    /// Jira user for Basic auth; the secret is then the password. Without it
    /// the secret is a Personal Access Token.
    #[arg(long, value_name = "USER", requires = "jira_url")]
    jira_user: Option<String>,
    /// A Jira project's default issue type, which Jira's REST API does not
    /// tell (repeatable): --default-issue-type OPS=Task.
    #[arg(long, value_name = "PROJECT=TYPE", requires = "jira_url")]
    default_issue_type: Vec<String>,
    /// Give each synced Jira issue a remote link to its twin (repeatable):
    /// --jira-twin-link acme=https://redmine.acme.example/issues/{key}, where
    /// `acme` is the connection's name here and {key} the twin's key.
    #[arg(long, value_name = "CONNECTION=URL", requires = "jira_url")]
    jira_twin_link: Vec<String>,
    /// The environment variable holding the tracker's API key or token
    /// (default TANDEM_TRACKER_SECRET). Never give the secret itself here.
    #[arg(long, value_name = "VAR", conflicts_with = "secret_file")]
    secret_env: Option<String>,
    /// A file holding the tracker's API key or token.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Rewrite the config of an existing node (its secret and data are kept).
    #[arg(long)]
    force: bool,
}

impl InitArgs {
    pub fn run(self, data: Option<PathBuf>, json: bool) -> Result<(), CliError> {
        let mut default_issue_types = std::collections::BTreeMap::new();
        for pair in &self.default_issue_type {
            let Some((project, kind)) = pair.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--default-issue-type {pair}: expected PROJECT=TYPE, e.g. OPS=Task"
                )));
            };
            default_issue_types.insert(project.trim().to_string(), kind.trim().to_string());
        }
        let mut twin_links = std::collections::BTreeMap::new();
        for pair in &self.jira_twin_link {
            let Some((connection, url)) = pair.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--jira-twin-link {pair}: expected CONNECTION=URL, e.g. acme=https://redmine.acme.example/issues/{{key}}"
                )));
            };
            crate::tracker::jira::check_twin_link(url).map_err(CliError::usage)?;
            twin_links.insert(connection.trim().to_string(), url.trim().to_string());
        }
        let access = |url: String| crate::config::TrackerAccess {
            url,
            secret_env: self.secret_env.clone(),
            secret_file: self.secret_file.clone(),
            user: None,
            default_issue_types: Default::default(),
            twin_links: Default::default(),
        };
        let redmine = match self.tracker {
            TrackerKind::Redmine => self.redmine_url.clone().map(access),
            _ => None,
        };
        let jira = match self.tracker {
            TrackerKind::Jira => self
                .jira_url
                .clone()
                .map(|url| crate::config::TrackerAccess {
                    user: self.jira_user.clone(),
                    default_issue_types,
                    twin_links,
                    ..access(url)
                }),
            _ => None,
        };
        let dir = DataDir::new(data).map_err(|e| CliError::failed("usage", e.to_string()))?;
        std::fs::create_dir_all(dir.root()).map_err(|e| {
            CliError::failed("io", format!("cannot create {}: {e}", dir.root().display()))
        })?;
        let root = dir
            .root()
            .canonicalize()
            .map_err(|e| CliError::failed("io", e.to_string()))?;
        let config = NodeConfig {
            name: self.name,
            tracker: self.tracker,
            listen: self.listen,
            public_url: self.public_url,
            created_in: root.clone(),
            poll_interval_ms: 500,
            rules: Default::default(),
            long_poll_ms: 25_000,
            fallback_poll_ms: 5_000,
            max_attachment_mib: 100,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            require_signed_rules: false,
            trusted_keys: Vec::new(),
            history_len: 100,
            redmine,
            jira,
        };
        dir.init(&config, self.force)
            .map_err(|e| CliError::failed("config", e.to_string()))?;
        Store::open(&dir.store_path()).map_err(|e| CliError::failed("store", e.to_string()))?;
        if json {
            println!(
                "{}",
                serde_json::json!({ "name": config.name, "data": root, "tracker": config.tracker })
            );
        } else {
            println!(
                "node `{}` initialised in {} ({} tracker)",
                config.name,
                root.display(),
                config.tracker
            );
        }
        Ok(())
    }
}
