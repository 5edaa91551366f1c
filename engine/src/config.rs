//! A node's data dir and its config file.
//!
//! The data dir holds `tandem.toml` (the config a person reads and edits),
//! `node.secret` (mode 0600; authenticates the compile cache and, later,
//! connection state), `tandem.redb` (the store) and `attachments/` (the `local`
//! tracker's content-addressed files). Owns creating and reading those files;
//! must not open the database (that is `store`).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rules::Limits;

/// Which tracker a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    /// The embedded tracker, kept in the data dir.
    Local,
    /// Jira Server / Data Center (REST v2).
    Jira,
    /// Redmine (REST API).
    Redmine,
}

impl std::fmt::Display for TrackerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrackerKind::Local => "local",
            TrackerKind::Jira => "jira",
            TrackerKind::Redmine => "redmine",
        })
    }
}

/// `tandem.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name, shown to the other side of each connection.
    pub name: String,
    pub tracker: TrackerKind,
    /// Where `tandem serve` listens (public side only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The URL the other side reaches this node at; none on a private node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The data dir this node was created in: a copy elsewhere (a staging
    /// clone) must not sync as the original.
    pub created_in: PathBuf,
    /// How often the watcher polls the tracker, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    #[serde(default)]
    pub rules: Limits,
    /// How long a private side's long-poll waits for the peer's messages;
    /// 0 turns long-polling off (then it polls every `fallback_poll_ms`).
    #[serde(default = "default_long_poll_ms")]
    pub long_poll_ms: u64,
    /// How often links retry when nothing woke them.
    #[serde(default = "default_fallback_ms")]
    pub fallback_poll_ms: u64,
    /// Attachments larger than this are not sent or accepted.
    #[serde(default = "default_attachment_mib")]
    pub max_attachment_mib: u64,
    /// The certificate (PEM) `tandem serve` presents; invitation codes pin it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Script components must be signed by one of `trusted_keys`, at upgrade
    /// and at every load.
    #[serde(default)]
    pub require_signed_rules: bool,
    /// Public key files (from `tandem rules keygen`) trusted to sign rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<PathBuf>,
    /// The Redmine this node serves (`tracker = "redmine"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redmine: Option<TrackerAccess>,
    /// The Jira this node serves (`tracker = "jira"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<TrackerAccess>,
    /// How many replicas each way a connection keeps for `upgrade --dry-run`.
    #[serde(default = "default_history_len")]
    pub history_len: u64,
}

fn default_history_len() -> u64 {
    100
}

/// Where a tracker is and where its secret comes from: an environment
/// variable or a file, never the config or the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerAccess {
    pub url: String,
    /// The environment variable that holds the API key or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// A file (mode 0600) that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Jira: the user for Basic auth (the secret is then the password);
    /// without it the secret is a Personal Access Token (Bearer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Jira: each project's default issue type, which Jira's REST API does
    /// not tell (`OPS = "Task"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub default_issue_types: std::collections::BTreeMap<String, String>,
    /// Jira: per connection name, where the twins of its issues are seen
    /// (`acme = "https://redmine.acme.example/issues/{key}"`); each synced
    /// issue then carries a remote link to its twin.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub twin_links: std::collections::BTreeMap<String, String>,
}

impl TrackerAccess {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn secret(&self) -> Result<String, String> {
        if let Some(file) = &self.secret_file {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file)
                .map_err(|e| {
                    format!(
                        "cannot read the tracker secret from {}: {e}",
                        file.display()
                    )
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "the tracker secret {} can be read by other users (mode {:o}); run `chmod 600 {}`",
                    file.display(),
                    mode & 0o777,
                    file.display()
                ));
            }
            let text = std::fs::read_to_string(file).map_err(|e| {
                format!(
                    "cannot read the tracker secret from {}: {e}",
                    file.display()
                )
            })?;
            return Ok(text.trim().to_string());
        }
        let var = self
            .secret_env
            .as_deref()
            .unwrap_or("TANDEM_TRACKER_SECRET");
        std::env::var(var)
            .map(|v| v.trim().to_string())
            .map_err(|_| format!("the tracker secret is read from the environment variable {var}, which is not set"))
    }
}

impl NodeConfig {
    pub fn max_attachment_bytes(&self) -> u64 {
        self.max_attachment_mib << 20
    }
}

fn default_long_poll_ms() -> u64 {
    25_000
}

fn default_fallback_ms() -> u64 {
    5_000
}

fn default_attachment_mib() -> u64 {
    100
}

fn default_poll_ms() -> u64 {
    500
}

/// Errors of the data dir.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{} already holds a tandem node; use another --data dir, or --force to rewrite its config (data is kept)",
        .0.display()
    )]
    AlreadyInitialised(PathBuf),
    #[error("{} is not a tandem data dir (no tandem.toml); run `tandem init` first", .0.display())]
    NotInitialised(PathBuf),
    #[error("no data dir: pass --data DIR or set TANDEM_DATA")]
    NoDataDir,
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// The files of one node.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data dir from `--data` / `TANDEM_DATA`.
    pub fn new(root: Option<PathBuf>) -> Result<Self, ConfigError> {
        root.map(|root| DataDir { root })
            .ok_or(ConfigError::NoDataDir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("tandem.toml")
    }
    pub fn secret_path(&self) -> PathBuf {
        self.root.join("node.secret")
    }
    pub fn store_path(&self) -> PathBuf {
        self.root.join("tandem.redb")
    }
    pub fn attachments_dir(&self) -> PathBuf {
        self.root.join("attachments")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Creates the data dir: config, secret, attachments dir. Refuses an
    /// existing node unless `force`, and even then keeps the secret and data.
    pub fn init(&self, config: &NodeConfig, force: bool) -> Result<(), ConfigError> {
        if self.config_path().exists() && !force {
            return Err(ConfigError::AlreadyInitialised(self.root.clone()));
        }
        std::fs::create_dir_all(self.attachments_dir())
            .map_err(|e| self.file_error(&self.root, e))?;
        if !self.secret_path().exists() {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| ConfigError::File {
                path: self.secret_path(),
                reason: format!("no randomness for the node secret: {e}"),
            })?;
            write_private(&self.secret_path(), hex::encode(secret).as_bytes())?;
        }
        let text = toml::to_string_pretty(config).map_err(|e| ConfigError::File {
            path: self.config_path(),
            reason: e.to_string(),
        })?;
        let header = "# tandem node config. Edit while the node is stopped; see `tandem --help`.\n";
        std::fs::write(self.config_path(), format!("{header}{text}"))
            .map_err(|e| self.file_error(&self.config_path(), e))
    }

    /// Reads `tandem.toml`.
    pub fn config(&self) -> Result<NodeConfig, ConfigError> {
        let path = self.config_path();
        let text = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotInitialised(self.root.clone()));
            }
            other => other.map_err(|e| self.file_error(&path, e))?,
        };
        toml::from_str(&text).map_err(|e| {
            // One line: where, and what (toml's own text spans several).
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let what = e.message().trim().replace('\n', " ");
            ConfigError::File {
                path,
                reason: match line {
                    Some(line) => format!("line {line}: {what}"),
                    None => what,
                },
            }
        })
    }

    /// The node secret (32 bytes).
    pub fn secret(&self) -> Result<Vec<u8>, ConfigError> {
        let path = self.secret_path();
        let text = std::fs::read_to_string(&path).map_err(|e| self.file_error(&path, e))?;
        hex::decode(text.trim()).map_err(|_| ConfigError::File {
            path,
            reason: "the node secret is damaged".into(),
        })
    }

    fn file_error(&self, path: &Path, e: std::io::Error) -> ConfigError {
        ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let err = |e: std::io::Error| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(err)
}
