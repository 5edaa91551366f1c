//! `tandem serve`'s loops: the watcher, the apply pass, one link per
//! connection this side calls out on, the public HTTP server, the admin
//! socket; and the graceful stop on SIGINT/SIGTERM.
//!
//! Everything a loop does is durable before it is acknowledged, so a stop at
//! any point resumes on the next start; the stop itself lets in-flight passes
//! finish (bounded) and closes the store with a durable commit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Node;
use crate::connection::State;
use crate::transport::link::{self, Fetch};

/// How `tandem serve` was started.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Overrides the config's `listen`.
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP off loopback.
    pub insecure: bool,
}

/// Why the node cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "this data dir was created in {created} and now runs from {here}: a copy (a staging clone) must not sync as the original. If this is the same node moved, run `tandem serve --relocated` once; if it is a copy, make a new node with `tandem init`"
    )]
    Relocated { created: String, here: String },
    #[error("{0}")]
    Setup(String),
}

/// Runs the node until SIGINT/SIGTERM.
pub async fn run(node: Arc<Node>, opts: ServeOptions) -> Result<(), ServeError> {
    if let Some(here) = node.relocated() {
        return Err(ServeError::Relocated {
            created: node.config.created_in.display().to_string(),
            here: here.display().to_string(),
        });
    }
    node.set_insecure(opts.insecure);
    let sync = node.sync().map_err(|e| ServeError::Setup(e.to_string()))?;
    let admin = crate::admin::socket::listen(node.clone())
        .await
        .map_err(ServeError::Setup)?;
    let mut tasks: Vec<JoinHandle<()>> = vec![admin];
    if let Some(listen) = opts.listen.clone().or_else(|| node.config.listen.clone()) {
        tasks.push(serve_http(node.clone(), &listen, &opts).await?);
    }
    tasks.push(tokio::spawn(watcher(node.clone())));
    tasks.push(tokio::spawn(applier(node.clone())));
    tasks.push(tokio::spawn(links(node.clone())));
    tracing::info!(node = node.config.name, "serving");
    eprintln!(
        "tandem: node `{}` running (stop with Ctrl-C)",
        node.config.name
    );

    wait_for_stop().await;
    eprintln!("tandem: stopping…");
    node.signals.shutdown.send_replace(true);
    let stop = futures::future::join_all(tasks.iter_mut());
    if tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .is_err()
    {
        tracing::warn!("some work did not finish within 10 s; it resumes on the next start");
        for task in &tasks {
            task.abort();
        }
    }
    // One durable commit closes whatever the last passes left lazy.
    sync.flush().map_err(|e| ServeError::Setup(e.to_string()))?;
    let _ = std::fs::remove_file(crate::admin::socket::path(&node.dir));
    Ok(())
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn serve_http(
    node: Arc<Node>,
    listen: &str,
    opts: &ServeOptions,
) -> Result<JoinHandle<()>, ServeError> {
    let addr: SocketAddr = tokio::net::lookup_host(listen)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ServeError::Setup(format!("cannot listen on `{listen}`: not an address")))?;
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(cert), Some(key)) => {
            crate::transport::tls::install_provider();
            Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| {
                        ServeError::Setup(format!("cannot load the TLS certificate or key: {e}"))
                    })?,
            )
        }
        (None, None) => None,
        _ => {
            return Err(ServeError::Setup(
                "give both --tls-cert and --tls-key".into(),
            ));
        }
    };
    if tls.is_none() && !addr.ip().is_loopback() && !opts.insecure {
        return Err(ServeError::Setup(format!(
            "refusing plain HTTP on {addr}, which is off loopback: give --tls-cert and --tls-key, or --insecure on a network you trust"
        )));
    }
    let app = crate::transport::server::router(node.clone());
    let handle = axum_server::Handle::new();
    let mut shutdown = node.signals.shutdown.subscribe();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = shutdown.changed().await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| ServeError::Setup(format!("cannot listen on {addr}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    eprintln!(
        "tandem: listening on {}://{local}",
        if tls.is_some() { "https" } else { "http" }
    );
    let service = app.into_make_service();
    Ok(tokio::spawn(async move {
        let served = match tls {
            Some(tls) => match axum_server::from_tcp_rustls(listener, tls) {
                Ok(server) => server.handle(handle).serve(service).await,
                Err(e) => Err(e),
            },
            None => match axum_server::from_tcp(listener) {
                Ok(server) => server.handle(handle).serve(service).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = served {
            tracing::error!("the HTTP server stopped: {e}");
        }
    }))
}

/// Polls the tracker every `poll_interval_ms`, or at once when a person
/// changed something through the socket.
async fn watcher(node: Arc<Node>) {
    let mut shutdown = node.signals.shutdown.subscribe();
    let interval = Duration::from_millis(node.config.poll_interval_ms.max(50));
    loop {
        match node.sync() {
            Ok(sync) => match sync.poll().await {
                Ok(report) if report.queued > 0 => node.signals.bump_outbox(),
                Ok(_) => {}
                Err(e) => tracing::warn!("watcher pass failed: {e}"),
            },
            Err(e) => tracing::error!("the rules cannot load: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = node.signals.watcher.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Applies the inbox whenever something arrives (and every few seconds, for
/// retries of connection-level failures).
async fn applier(node: Arc<Node>) {
    let mut shutdown = node.signals.shutdown.subscribe();
    let fetch = Fetch { node: node.clone() };
    loop {
        if let Ok(sync) = node.sync() {
            match sync.apply_inbox(&fetch).await {
                Ok(report) if report.applied + report.failed > 0 => {
                    // Applying queues Twins messages for the peer.
                    node.signals.bump_outbox();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("apply pass stopped: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(node.config.fallback_poll_ms)) => {}
            _ = node.signals.inbox.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Keeps one link task per active connection this side calls out on.
async fn links(node: Arc<Node>) {
    let mut changes = node.signals.connections.subscribe();
    let mut shutdown = node.signals.shutdown.subscribe();
    let mut running: HashMap<String, (crate::sync::Connection, JoinHandle<()>)> = HashMap::new();
    loop {
        changes.borrow_and_update();
        let wanted: Vec<crate::sync::Connection> = node
            .sync()
            .ok()
            .and_then(|s| s.connections().ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.state == State::Active && c.peer_url.is_some())
            .collect();
        running.retain(|id, (conn, task)| {
            let keep = wanted.iter().any(|w| w == conn) && !task.is_finished();
            if !keep {
                tracing::debug!(connection = id, "link stopped");
                task.abort();
            }
            keep
        });
        for conn in wanted {
            if !running.contains_key(&conn.id) {
                let task = tokio::spawn(link::run(node.clone(), conn.clone()));
                running.insert(conn.id.clone(), (conn, task));
            }
        }
        tokio::select! {
            _ = changes.changed() => {}
            // A link that ended (its setup failed) is retried.
            _ = tokio::time::sleep(Duration::from_millis(node.config.fallback_poll_ms)) => {}
            _ = shutdown.changed() => break,
        }
    }
    for (_, (_, task)) in running {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}
