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
    /// Rewrite the config of an existing node (its secret and data are kept).
    #[arg(long)]
    force: bool,
}

impl InitArgs {
    pub fn run(self, data: Option<PathBuf>, json: bool) -> Result<(), CliError> {
        if self.tracker != TrackerKind::Local {
            return Err(CliError::failed(
                "usage",
                format!(
                    "the {} connector is not built yet; use --tracker local",
                    self.tracker
                ),
            ));
        }
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
