//! Calls to a peer node (reqwest): the handshake, push, long-poll, attachment
//! upload and download. Every request is signed; every answer must carry the
//! peer's signature bound to the request's nonce, or it is not believed.
//!
//! TLS: system roots by default, or a pinned certificate fingerprint from the
//! invitation code. Plain HTTP off loopback needs `--insecure`.

use std::time::Duration;

use reqwest::Method;

use super::auth::{self, SignedHeaders};
use super::{Ack, Blobs, MAX_MESSAGE_BYTES, Messages, PREFIX, Refusal};
use crate::connection::{Acceptance, ConnectionKey, Welcome};
use crate::sync::{Envelope, TransportError};

/// A connection's view of its peer.
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    connection: String,
    key: ConnectionKey,
    peer_key: String,
    max_attachment: u64,
}

/// An HTTP client for talking to peers.
pub fn http_client(pinned_tls: Option<&str>, timeout: Duration) -> Result<reqwest::Client, String> {
    super::tls::install_provider();
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")));
    let builder = match pinned_tls {
        Some(fingerprint) => {
            builder.tls_backend_preconfigured(super::tls::pinned_client(fingerprint))
        }
        None => builder,
    };
    builder
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

impl PeerClient {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        connection: &str,
        key: ConnectionKey,
        peer_key: &str,
        max_attachment: u64,
    ) -> Self {
        PeerClient {
            http,
            base: base.trim_end_matches('/').into(),
            connection: connection.into(),
            key,
            peer_key: peer_key.into(),
            max_attachment,
        }
    }

    /// The private side's first call: presents the acceptance, signed by the
    /// new key, and believes only an answer signed by the key the code carried.
    pub async fn handshake(
        http: &reqwest::Client,
        base: &str,
        key: &ConnectionKey,
        initiator_key: &str,
        acceptance: &Acceptance,
    ) -> Result<Welcome, TransportError> {
        let client = PeerClient::new(
            http.clone(),
            base,
            &acceptance.connection,
            ConnectionKey::from_seed_hex(&key.seed_hex()).expect("own key"),
            initiator_key,
            0,
        );
        let body = serde_json::to_vec(acceptance).unwrap_or_default();
        let bytes = client
            .call(Method::POST, "/accept", body, MAX_MESSAGE_BYTES as u64)
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| TransportError::Refused(format!("the answer does not read: {e}")))
    }

    /// Pushes envelopes; returns the peer's ack.
    pub async fn deliver(&self, envelopes: &[Envelope]) -> Result<u64, TransportError> {
        let body = serde_json::to_vec(&Messages {
            envelopes: envelopes.to_vec(),
        })
        .unwrap_or_default();
        let bytes = self.call(Method::POST, "/messages", body, 1 << 20).await?;
        let ack: Ack = serde_json::from_slice(&bytes)
            .map_err(|e| TransportError::Refused(format!("the ack does not read: {e}")))?;
        Ok(ack.ack)
    }

    /// Long-polls for the peer's messages after `after` (which acks them).
    pub async fn poll(&self, after: u64, wait_ms: u64) -> Result<Vec<Envelope>, TransportError> {
        let path = format!("/messages?after={after}&wait_ms={wait_ms}");
        let bytes = self
            .call(Method::GET, &path, Vec::new(), MAX_MESSAGE_BYTES as u64)
            .await?;
        let messages: Messages = serde_json::from_slice(&bytes)
            .map_err(|e| TransportError::Refused(format!("the messages do not read: {e}")))?;
        if let Some(stray) = messages
            .envelopes
            .iter()
            .find(|e| e.connection != self.connection)
        {
            return Err(TransportError::Refused(format!(
                "the peer sent a message for another connection (`{}`)",
                stray.connection
            )));
        }
        Ok(messages.envelopes)
    }

    /// Which of these blobs the peer lacks.
    pub async fn missing(&self, sha256: Vec<String>) -> Result<Vec<String>, TransportError> {
        let body = serde_json::to_vec(&Blobs { sha256 }).unwrap_or_default();
        let bytes = self
            .call(Method::POST, "/blobs/missing", body, 1 << 20)
            .await?;
        let blobs: Blobs =
            serde_json::from_slice(&bytes).map_err(|e| TransportError::Refused(e.to_string()))?;
        Ok(blobs.sha256)
    }

    /// Uploads attachment bytes in their own request.
    pub async fn upload(&self, bytes: Vec<u8>) -> Result<(), TransportError> {
        let sha = auth::sha256_hex(&bytes);
        self.call(Method::PUT, &format!("/blobs/{sha}"), bytes, 1 << 20)
            .await
            .map(|_| ())
    }

    /// Downloads an attachment of the peer's issue.
    pub async fn attachment(
        &self,
        issue: &str,
        attachment: &str,
    ) -> Result<Vec<u8>, TransportError> {
        let path = format!("/attachments/{}/{}", escape(issue), escape(attachment));
        self.call(Method::GET, &path, Vec::new(), self.max_attachment)
            .await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        cap: u64,
    ) -> Result<Vec<u8>, TransportError> {
        let path = format!("{PREFIX}{path}");
        let signed =
            SignedHeaders::sign(&self.key, &self.connection, method.as_str(), &path, &body);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| TransportError::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (digest, signature) = (header(auth::H_DIGEST), header(auth::H_SIGNATURE));
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TransportError::Unreachable(describe(&e)))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > cap {
                return Err(TransportError::Refused(format!(
                    "the answer is over the {cap}-byte limit"
                )));
            }
        }
        let verified = auth::verify_response(
            &self.peer_key,
            status,
            &bytes,
            &signed.nonce,
            digest.as_deref(),
            signature.as_deref(),
        );
        let reason = || {
            serde_json::from_slice::<Refusal>(&bytes)
                .map(|r| r.error)
                .unwrap_or_else(|_| format!("HTTP {status}"))
        };
        match verified {
            Err(e) if (200..300).contains(&status) => Err(TransportError::Refused(format!(
                "the answer is not the peer's ({e})"
            ))),
            Err(_) => Err(TransportError::Refused(format!(
                "HTTP {status}, unsigned: {}",
                reason()
            ))),
            Ok(()) if (200..300).contains(&status) => Ok(bytes),
            Ok(()) => Err(TransportError::Refused(reason())),
        }
    }
}

fn escape(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// reqwest's errors hide the cause in their source chain.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
