//! Keeping one connection's link to its peer going, on the side that calls
//! out (the private side, and both sides of a public-public connection):
//! push the outbox (attachment bytes first), long-poll for the peer's
//! messages (private side), back off with jitter while the peer is down and
//! show why on the connection. Also the pipeline's [`Transport`] for fetching
//! attachment bytes: uploaded blobs first, then the peer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::MAX_BATCH;
use super::client::{PeerClient, http_client};
use crate::connection::{self, ConnectionKey};
use crate::model::Side;
use crate::node::Node;
use crate::sync::{Body, Connection, Envelope, Transport, TransportError};

/// A client for the peer of `conn`, when this side calls out on it.
pub fn peer_client(node: &Node, conn: &Connection) -> Result<PeerClient, TransportError> {
    let refused = |m: String| TransportError::Refused(m);
    let url = conn
        .peer_url
        .as_deref()
        .ok_or_else(|| refused("the peer calls this side; it is not called".into()))?;
    super::check_plain_http(url, node.insecure())?;
    let secrets = connection::secrets(&node.store, &conn.id)
        .map_err(|e| refused(e.to_string()))?
        .ok_or_else(|| refused("this connection has no keys".into()))?;
    let key = ConnectionKey::from_seed_hex(&secrets.own_key)
        .ok_or_else(|| refused("this connection's key is unreadable".into()))?;
    let peer_key = secrets
        .peer_key
        .ok_or_else(|| refused("the connection is not accepted yet".into()))?;
    let timeout = Duration::from_millis(node.config.long_poll_ms + 30_000);
    let http = http_client(secrets.pinned_tls.as_deref(), timeout).map_err(refused)?;
    Ok(PeerClient::new(
        http,
        url,
        &conn.id,
        key,
        &peer_key,
        node.config.max_attachment_bytes(),
    ))
}

impl From<String> for TransportError {
    fn from(m: String) -> Self {
        TransportError::Refused(m)
    }
}

/// Runs the link of `conn` until shutdown (the caller aborts it when the
/// connection is deactivated or deleted).
pub async fn run(node: Arc<Node>, conn: Connection) {
    let client = match peer_client(&node, &conn) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            node.record_exchange(&conn.id, Err(e.to_string()));
            return;
        }
    };
    let pusher = push_loop(node.clone(), conn.clone(), client.clone());
    if conn.side == Side::Private {
        tokio::join!(pusher, poll_loop(node, conn, client));
    } else {
        pusher.await;
    }
}

async fn push_loop(node: Arc<Node>, conn: Connection, client: Arc<PeerClient>) {
    let mut outbox = node.signals.outbox.subscribe();
    let mut shutdown = node.signals.shutdown.subscribe();
    let mut backoff = Backoff::default();
    let fallback = Duration::from_millis(node.config.fallback_poll_ms);
    loop {
        outbox.borrow_and_update();
        let wait = match push(&node, &conn, &client).await {
            Ok(sent) => {
                if sent > 0 {
                    node.record_exchange(&conn.id, Ok(()));
                }
                backoff.reset();
                fallback
            }
            Err(e) => {
                node.record_exchange(&conn.id, Err(e));
                backoff.next()
            }
        };
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = outbox.changed(), if backoff.is_clear() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Pushes the whole outbox of `conn`; returns how many envelopes went.
pub async fn push(node: &Node, conn: &Connection, client: &PeerClient) -> Result<usize, String> {
    let sync = node.sync().map_err(|e| e.to_string())?;
    let mut sent = 0;
    loop {
        let batch = sync
            .outbox(&conn.id, MAX_BATCH)
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(sent);
        }
        upload_blobs(node, conn, client, &batch).await?;
        let ack = client.deliver(&batch).await.map_err(|e| e.to_string())?;
        sync.acked(&conn.id, ack).map_err(|e| e.to_string())?;
        sent += batch.len();
        if ack < batch.last().map_or(0, |e| e.seq) {
            // The peer held back part of the batch; try again later.
            return Ok(sent);
        }
    }
}

/// The peer may not be able to fetch from this side (a private node serves
/// nothing): send the bytes of every attachment the batch names first.
async fn upload_blobs(
    node: &Node,
    conn: &Connection,
    client: &PeerClient,
    batch: &[Envelope],
) -> Result<(), String> {
    let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
    for envelope in batch {
        if let Body::Replica { replica, .. } = &envelope.body {
            for a in &replica.attachments {
                if !a.sha256.is_empty() {
                    wanted.insert(
                        a.sha256.clone(),
                        (envelope.origin_issue.clone(), a.id.clone()),
                    );
                }
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let sync = node.sync().map_err(|e| e.to_string())?;
    let missing = client
        .missing(wanted.keys().cloned().collect())
        .await
        .map_err(|e| e.to_string())?;
    for sha in missing {
        let Some((issue, attachment)) = wanted.get(&sha) else {
            continue;
        };
        let bytes = match sync.serve_attachment(&conn.id, issue, attachment).await {
            Ok(b) => b,
            // Gone since (deleted attachment): the peer records the error.
            Err(e) => {
                tracing::warn!(
                    connection = conn.id,
                    issue,
                    attachment,
                    "cannot read an attachment to send: {e}"
                );
                continue;
            }
        };
        client.upload(bytes).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn poll_loop(node: Arc<Node>, conn: Connection, client: Arc<PeerClient>) {
    let mut shutdown = node.signals.shutdown.subscribe();
    let mut backoff = Backoff::default();
    let wait_ms = node.config.long_poll_ms;
    loop {
        let outcome = async {
            let sync = node.sync().map_err(|e| e.to_string())?;
            let after = sync.received_up_to(&conn.id).map_err(|e| e.to_string())?;
            let envelopes = client
                .poll(after, wait_ms)
                .await
                .map_err(|e| e.to_string())?;
            if !envelopes.is_empty() {
                sync.receive(&envelopes).map_err(|e| e.to_string())?;
                node.signals.inbox.notify_one();
            }
            Ok::<usize, String>(envelopes.len())
        };
        let pause = tokio::select! {
            outcome = outcome => match outcome {
                Ok(n) => {
                    node.record_exchange(&conn.id, Ok(()));
                    backoff.reset();
                    (n == 0 && wait_ms == 0).then(|| Duration::from_millis(node.config.fallback_poll_ms))
                }
                Err(e) => {
                    node.record_exchange(&conn.id, Err(e));
                    Some(backoff.next())
                }
            },
            _ = shutdown.changed() => return,
        };
        if let Some(pause) = pause {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Exponential backoff from half a second to thirty, with ±25% jitter so two
/// nodes that failed together do not retry together.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures = (self.failures + 1).min(16);
        let base = (500u64 << (self.failures - 1).min(6)).min(30_000);
        let mut r = [0u8; 2];
        let _ = getrandom::fill(&mut r);
        let jitter = u16::from_le_bytes(r) as u64 % (base / 2 + 1);
        Duration::from_millis(base - base / 4 + jitter)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }

    fn is_clear(&self) -> bool {
        self.failures == 0
    }
}

/// The pipeline's way to attachment bytes on a node that runs the network.
pub struct Fetch {
    pub node: Arc<Node>,
}

impl Transport for Fetch {
    async fn deliver(&self, _: &[Envelope]) -> Result<u64, TransportError> {
        Err(TransportError::Refused(
            "the link loops deliver, not the apply pass".into(),
        ))
    }

    async fn fetch_attachment(
        &self,
        connection: &str,
        issue: &str,
        attachment: &str,
        sha256: &str,
    ) -> Result<Vec<u8>, TransportError> {
        if let Some(bytes) = self.node.blobs.read(sha256).await {
            return Ok(bytes);
        }
        let sync = self
            .node
            .sync()
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let conn = sync
            .connections()
            .map_err(|e| TransportError::Refused(e.to_string()))?
            .into_iter()
            .find(|c| c.id == connection)
            .ok_or_else(|| TransportError::Refused(format!("no connection `{connection}`")))?;
        if conn.peer_url.is_none() {
            return Err(TransportError::Unreachable(
                "waiting for the peer to upload the attachment".into(),
            ));
        }
        peer_client(&self.node, &conn)?
            .attachment(issue, attachment)
            .await
    }
}
