//! A node opened on its data dir: config, store, tracker, the pipeline, and
//! the signals its loops wake each other with. The same `Node` answers a
//! one-shot command (no `tandem serve` running) and every request that comes
//! through the admin socket while `tandem serve` runs.
//!
//! Owns the wiring and the node's run-time view of its connections (errors
//! and last exchange). The loops are `serve`'s; requests are `admin`'s; what
//! each request does is its command file's in `cli/`.

pub mod scripts;
pub mod serve;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::config::{DataDir, NodeConfig, TrackerKind};
use crate::rules::{CompileCache, RulesHost};
use crate::store::Store;
use crate::sync::SyncNode;
use crate::tracker::any::AnyTracker;
use crate::tracker::jira::{Auth as JiraAuth, JiraTracker};
use crate::tracker::local::LocalTracker;
use crate::tracker::redmine::RedmineTracker;
use crate::transport::auth::Freshness;
use crate::transport::blobs::BlobStore;

/// The tracker a node drives.
pub type NodeTracker = AnyTracker;

/// How the loops wake each other.
pub struct Signals {
    /// Bumped when an outbox grew: long-polls answer, pushers push.
    pub outbox: watch::Sender<u64>,
    /// Something arrived in the inbox.
    pub inbox: Notify,
    /// A person changed the tracker through the socket: poll now.
    pub watcher: Notify,
    /// Connections were added, removed, activated or deactivated.
    pub connections: watch::Sender<u64>,
    /// Set once on SIGINT/SIGTERM.
    pub shutdown: watch::Sender<bool>,
}

impl Signals {
    fn new() -> Self {
        Signals {
            outbox: watch::channel(0).0,
            inbox: Notify::new(),
            watcher: Notify::new(),
            connections: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        }
    }

    pub fn bump_outbox(&self) {
        self.outbox.send_modify(|n| *n += 1);
    }

    pub fn bump_connections(&self) {
        self.connections.send_modify(|n| *n += 1);
    }
}

/// The run-time state of one connection's link to its peer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStatus {
    /// Why the last exchange failed, while it keeps failing.
    pub error: Option<String>,
    /// When the last exchange with the peer succeeded (RFC 3339).
    pub last_exchange: Option<String>,
}

/// A node opened on its data dir.
pub struct Node {
    pub dir: DataDir,
    pub config: NodeConfig,
    pub store: Store,
    pub tracker: NodeTracker,
    pub signals: Signals,
    pub blobs: BlobStore,
    /// Request freshness: nonces seen and this process's start.
    pub freshness: Mutex<Freshness>,
    /// True inside `tandem serve`: requests come from the socket and the
    /// loops pick up what they queue.
    pub serving: bool,
    insecure: std::sync::atomic::AtomicBool,
    links: Mutex<HashMap<String, LinkStatus>>,
    sync: Mutex<Option<(Arc<SyncNode<NodeTracker>>, RulesHost)>>,
}

/// A node that cannot open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Tracker(String),
}

impl Node {
    /// Opens the node of `dir`. Fails with `StoreError::InUse` when a
    /// `tandem serve` holds the store (the caller then uses the socket).
    pub fn open(dir: DataDir, serving: bool) -> Result<Arc<Node>, OpenError> {
        let config = dir.config()?;
        let store = Store::open(&dir.store_path())?;
        let tracker = match config.tracker {
            TrackerKind::Local => AnyTracker::Local(LocalTracker::new(
                store.clone(),
                &dir.attachments_dir(),
                &config.name,
            )),
            TrackerKind::Redmine => {
                let access = config.redmine.as_ref().ok_or_else(|| {
                    OpenError::Tracker("tandem.toml has no [redmine] section; run `tandem init --force --tracker redmine --redmine-url URL`".into())
                })?;
                let secret = access.secret().map_err(OpenError::Tracker)?;
                AnyTracker::Redmine(
                    RedmineTracker::new(&access.url, secret)
                        .map_err(|e| OpenError::Tracker(e.to_string()))?,
                )
            }
            TrackerKind::Jira => {
                let access = config.jira.as_ref().ok_or_else(|| {
                    OpenError::Tracker("tandem.toml has no [jira] section; run `tandem init --force --tracker jira --jira-url URL`".into())
                })?;
                let secret = access.secret().map_err(OpenError::Tracker)?;
                let auth = match &access.user {
                    Some(user) => JiraAuth::Basic {
                        user: user.clone(),
                        password: secret,
                    },
                    None => JiraAuth::Bearer(secret),
                };
                AnyTracker::Jira(
                    JiraTracker::new(
                        &access.url,
                        auth,
                        access.default_issue_types.clone(),
                        config.max_attachment_bytes(),
                    )
                    .and_then(|t| t.with_twin_links(access.twin_links.clone()))
                    .map_err(|e| OpenError::Tracker(e.to_string()))?,
                )
            }
        };
        let blobs = BlobStore::new(&dir.root().join("blobs"));
        Ok(Arc::new(Node {
            dir,
            config,
            store,
            tracker,
            signals: Signals::new(),
            blobs,
            freshness: Mutex::new(Freshness::new()),
            serving,
            insecure: Default::default(),
            links: Mutex::new(HashMap::new()),
            sync: Mutex::new(None),
        }))
    }

    /// The pipeline, with the Basic rules loaded (on first use: a command
    /// that only reads issues never starts the rules host).
    pub fn sync(&self) -> Result<Arc<SyncNode<NodeTracker>>, crate::rules::RulesError> {
        Ok(self.sync_and_host()?.0)
    }

    /// The rules host the pipeline's components run on.
    pub fn rules_host(&self) -> Result<RulesHost, crate::rules::RulesError> {
        Ok(self.sync_and_host()?.1)
    }

    fn sync_and_host(
        &self,
    ) -> Result<(Arc<SyncNode<NodeTracker>>, RulesHost), crate::rules::RulesError> {
        let mut slot = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pair) = &*slot {
            return Ok(pair.clone());
        }
        let secret = self.dir.secret().map_err(|e| {
            crate::rules::RulesError::Host(format!("cannot read the node secret: {e}"))
        })?;
        let cache = CompileCache::new(self.dir.cache_dir(), &secret);
        let host = RulesHost::new(self.config.rules.clone(), Some(cache))?;
        let rules = host.load_basic()?;
        let sync = Arc::new(SyncNode::new(
            &self.config.name,
            self.store.clone(),
            self.tracker.clone(),
            rules,
        ));
        sync.set_history_len(self.config.history_len);
        // Script components load now: one that no longer passes (tampered
        // file, trust policy) fails its connection's issues with the reason.
        let connections = sync
            .connections()
            .map_err(|e| crate::rules::RulesError::Host(e.to_string()))?;
        for conn in connections
            .iter()
            .filter(|c| c.mode == crate::connection::Mode::Script)
        {
            let loaded = scripts::load(self, &host, conn);
            if let Err(reason) = &loaded {
                tracing::error!(connection = conn.name, "script rules not loaded: {reason}");
            }
            sync.set_script(&conn.id, loaded);
        }
        *slot = Some((sync.clone(), host.clone()));
        Ok((sync, host))
    }

    /// Plain HTTP off loopback is allowed (`tandem serve --insecure`).
    pub fn insecure(&self) -> bool {
        self.insecure.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_insecure(&self, insecure: bool) {
        self.insecure
            .store(insecure, std::sync::atomic::Ordering::Relaxed);
    }

    /// The fingerprint of the TLS certificate this node serves, if any.
    pub fn tls_fingerprint(&self) -> Result<Option<String>, String> {
        self.config
            .tls_cert
            .as_deref()
            .map(crate::transport::tls::fingerprint)
            .transpose()
    }

    /// The run-time status of a connection's link.
    pub fn link(&self, connection: &str) -> LinkStatus {
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection)
            .cloned()
            .unwrap_or_default()
    }

    /// Records the outcome of an exchange with a connection's peer.
    pub fn record_exchange(&self, connection: &str, outcome: Result<(), String>) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let link = links.entry(connection.into()).or_default();
        match outcome {
            Ok(()) => {
                if link.error.take().is_some() {
                    tracing::info!(connection, "link to the peer recovered");
                }
                link.last_exchange = Some(crate::connection::now_rfc3339());
            }
            Err(reason) => {
                if link.error.as_deref() != Some(&reason) {
                    tracing::warn!(connection, "link to the peer failed: {reason}");
                }
                link.error = Some(reason);
            }
        }
    }

    /// Tells the loops that a person changed something (a one-shot command
    /// has no loops; its changes are picked up when the node next runs).
    pub fn changed(&self) {
        self.signals.watcher.notify_one();
    }

    /// The data dir was copied elsewhere (a staging clone): it must not sync
    /// as the original until told which node it is.
    pub fn relocated(&self) -> Option<std::path::PathBuf> {
        let here = self.dir.root().canonicalize().ok()?;
        (here != self.config.created_in).then_some(here)
    }
}
