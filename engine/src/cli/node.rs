//! Opening this data dir's node for a command: config, store, tracker.

use crate::config::{DataDir, NodeConfig, TrackerKind};
use crate::store::Store;
use crate::tracker::local::LocalTracker;

use super::CliError;

/// A node opened by a command that runs without `tandem serve`.
pub struct Node {
    pub dir: DataDir,
    pub config: NodeConfig,
    pub store: Store,
}

impl Node {
    pub fn open(data: Option<std::path::PathBuf>) -> Result<Self, CliError> {
        let dir = DataDir::new(data).map_err(|e| CliError::failed("config", e.to_string()))?;
        let config = dir
            .config()
            .map_err(|e| CliError::failed("config", e.to_string()))?;
        let store =
            Store::open(&dir.store_path()).map_err(|e| CliError::failed("store", e.to_string()))?;
        Ok(Node { dir, config, store })
    }

    /// The embedded tracker, or a clear error on a node that serves another.
    pub fn local_tracker(&self) -> Result<LocalTracker, CliError> {
        if self.config.tracker != TrackerKind::Local {
            return Err(CliError::failed(
                "usage",
                format!(
                    "this node serves a {} tracker; `tandem project` and `tandem issue` work on the embedded `local` tracker only (use the tracker's own UI)",
                    self.config.tracker
                ),
            ));
        }
        Ok(LocalTracker::new(
            self.store.clone(),
            &self.dir.attachments_dir(),
            &self.config.name,
        ))
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
