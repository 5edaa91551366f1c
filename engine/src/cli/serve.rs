//! `tandem serve`: runs the node until SIGINT/SIGTERM.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::DataDir;
use crate::node::Node;
use crate::node::serve::{ServeOptions, run};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address instead of the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// TLS certificate (PEM); overrides the config's.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP off loopback (only on a network you trust).
    #[arg(long)]
    insecure: bool,
    /// This data dir was moved here on purpose: record the new place and run.
    #[arg(long)]
    relocated: bool,
}

impl ServeArgs {
    pub fn run(self, data: Option<PathBuf>) -> Result<(), CliError> {
        let dir = DataDir::new(data).map_err(|e| CliError::failed("config", e.to_string()))?;
        if self.relocated {
            let mut config = dir
                .config()
                .map_err(|e| CliError::failed("config", e.to_string()))?;
            config.created_in = dir
                .root()
                .canonicalize()
                .map_err(|e| CliError::failed("io", e.to_string()))?;
            dir.init(&config, true)
                .map_err(|e| CliError::failed("config", e.to_string()))?;
        }
        let node = Node::open(dir, true).map_err(|e| match e {
            crate::node::OpenError::Store(crate::store::StoreError::InUse) => CliError::failed(
                "in_use",
                "a node already runs on this data dir (one `tandem serve` per data dir)",
            ),
            e => crate::admin::open_error(e),
        })?;
        let opts = ServeOptions {
            listen: self.listen,
            tls_cert: self.tls_cert.or_else(|| node.config.tls_cert.clone()),
            tls_key: self.tls_key.or_else(|| node.config.tls_key.clone()),
            insecure: self.insecure,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failed("io", format!("cannot start the runtime: {e}")))?;
        runtime
            .block_on(run(node, opts))
            .map_err(|e| CliError::failed("serve", e.to_string()))
    }
}
