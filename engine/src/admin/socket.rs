//! The admin socket itself: `DATA/tandem.sock` (or, when that path is too
//! long for a socket address, a short one recorded in `DATA/tandem.sock.path`),
//! mode 0600, and only callers with the node's own uid are served.
//!
//! One request per connection: a JSON line in; progress lines and one reply
//! line out.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Progress, Reply, Request};
use crate::cli::CliError;
use crate::config::DataDir;
use crate::node::Node;

/// A request line is at most this large (an attachment travels inside).
const MAX_LINE: usize = 256 << 20;
/// Socket addresses hold about 108 bytes; stay well below.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Progress { done: u64, total: u64 },
    Reply(Reply),
    Error(CliError),
}

/// Where the socket of `dir` is.
pub fn path(dir: &DataDir) -> PathBuf {
    let pointer = dir.root().join("tandem.sock.path");
    if let Ok(short) = std::fs::read_to_string(&pointer) {
        return PathBuf::from(short.trim());
    }
    dir.root().join("tandem.sock")
}

fn choose_path(dir: &DataDir) -> Result<PathBuf, String> {
    let pointer = dir.root().join("tandem.sock.path");
    let _ = std::fs::remove_file(&pointer);
    let natural = dir.root().join("tandem.sock");
    if natural.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(natural);
    }
    let root = dir
        .root()
        .canonicalize()
        .unwrap_or_else(|_| dir.root().into());
    let tag = &crate::transport::auth::sha256_hex(root.as_os_str().as_encoded_bytes())[..16];
    let base = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let short = base.join(format!("tandem-{tag}.sock"));
    std::fs::write(&pointer, short.as_os_str().as_encoded_bytes())
        .map_err(|e| format!("cannot record the socket path: {e}"))?;
    Ok(short)
}

/// Starts answering requests on the socket.
pub async fn listen(node: Arc<Node>) -> Result<JoinHandle<()>, String> {
    let path = choose_path(&node.dir)?;
    // The node holds the store: any socket left there is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| format!("cannot open the admin socket {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict the admin socket: {e}"))?;
    let owner = std::fs::metadata(&path)
        .map_err(|e| format!("cannot read the admin socket: {e}"))?
        .uid();
    let mut shutdown = node.signals.shutdown.subscribe();
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let same_user = stream.peer_cred().is_ok_and(|c| c.uid() == owner);
                        if !same_user {
                            tracing::warn!("refused an admin connection from another user");
                            continue;
                        }
                        tokio::spawn(serve_one(node.clone(), stream));
                    }
                    Err(e) => tracing::warn!("admin socket: {e}"),
                },
                _ = shutdown.changed() => return,
            }
        }
    }))
}

async fn serve_one(node: Arc<Node>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_LINE as u64);
    let mut line = String::new();
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Line>();
    let work = async move {
        let outcome = match serde_json::from_str::<Request>(&line) {
            Err(e) => Line::Error(CliError::failed(
                "usage",
                format!(
                    "the node does not understand this request ({e}); are the CLI and the node the same version?"
                ),
            )),
            Ok(request) => {
                let sender = tx.clone();
                let progress: Progress = Arc::new(move |done, total| {
                    let _ = sender.send(Line::Progress { done, total });
                });
                match super::handle(&node, request, progress).await {
                    Ok(reply) => Line::Reply(reply),
                    Err(e) => Line::Error(e),
                }
            }
        };
        let _ = tx.send(outcome);
    };
    let writer = async move {
        while let Some(line) = rx.recv().await {
            let mut text = serde_json::to_string(&line).unwrap_or_default();
            text.push('\n');
            if write.write_all(text.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::join!(work, writer);
}

/// Sends a request to the running node; `None` when no node runs (a stale
/// socket is removed).
pub async fn call(
    dir: &DataDir,
    request: &Request,
    progress: Progress,
) -> Result<Option<Reply>, CliError> {
    let path = path(dir);
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
        Err(_) => return Ok(None),
    };
    let lost = |e: std::io::Error| {
        CliError::failed("io", format!("lost the running node's admin socket: {e}"))
    };
    let (read, mut write) = stream.into_split();
    let mut text =
        serde_json::to_string(request).map_err(|e| CliError::failed("usage", e.to_string()))?;
    text.push('\n');
    write.write_all(text.as_bytes()).await.map_err(lost)?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(lost)? {
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Progress { done, total }) => progress(done, total),
            Ok(Line::Reply(reply)) => return Ok(Some(reply)),
            Ok(Line::Error(e)) => return Err(e),
            Err(e) => {
                return Err(CliError::failed(
                    "io",
                    format!("the node answered something unreadable: {e}"),
                ));
            }
        }
    }
    Err(CliError::failed(
        "io",
        "the running node closed the admin socket without an answer (did it stop?)",
    ))
}
