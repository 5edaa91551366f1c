//! Request and response signatures between the two nodes of a connection.
//!
//! A request is signed by the sender's connection key over
//! `method, path, body sha256, timestamp, nonce`; the response by the
//! answering side's key over `status, body sha256, the request's nonce`, so
//! an answer cannot be replayed to another request. Timestamps outside
//! [`WINDOW_MS`] or from before the receiver started are refused, and nonces
//! are remembered for the window: together that refuses replays also across
//! restarts without writing nonces to disk.
//!
//! Owns the header names and the signed strings; knows nothing of axum or
//! reqwest.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

use crate::connection::keys::{self, ConnectionKey};

pub const H_CONNECTION: &str = "tandem-connection";
pub const H_TIMESTAMP: &str = "tandem-timestamp";
pub const H_NONCE: &str = "tandem-nonce";
pub const H_DIGEST: &str = "tandem-content-sha256";
pub const H_SIGNATURE: &str = "tandem-signature";

/// How far a request's clock may be from the receiver's.
pub const WINDOW_MS: u64 = 5 * 60 * 1000;

/// The headers a signed request carries.
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    pub connection: String,
    pub timestamp: u64,
    pub nonce: String,
    pub digest: String,
    pub signature: String,
}

impl SignedHeaders {
    /// Signs a request about to be sent.
    pub fn sign(
        key: &ConnectionKey,
        connection: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Self {
        let timestamp = now_ms();
        let nonce = crate::connection::random_hex(16);
        let digest = sha256_hex(body);
        let signature = key.sign(&request_message(method, path, &digest, timestamp, &nonce));
        SignedHeaders {
            connection: connection.into(),
            timestamp,
            nonce,
            digest,
            signature,
        }
    }

    /// Name/value pairs, to set on a request.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        [
            (H_CONNECTION, self.connection.clone()),
            (H_TIMESTAMP, self.timestamp.to_string()),
            (H_NONCE, self.nonce.clone()),
            (H_DIGEST, self.digest.clone()),
            (H_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Why a request or response was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("the request is not signed (header {0} missing)")]
    Missing(&'static str),
    #[error("the signature does not match")]
    BadSignature,
    #[error(
        "the request's clock is off by more than five minutes, or it predates this node's start; check both machines' clocks"
    )]
    Stale,
    #[error("this request was already seen (replay)")]
    Replay,
    #[error("the body does not match its sha256")]
    Digest,
}

/// Checks a request's signature by the peer's public key. The body digest is
/// the claimed one: the caller checks the body against it as it reads it, so
/// an unsigned caller is turned away before its body is read.
pub fn verify_request(
    peer_key: &str,
    method: &str,
    path: &str,
    headers: &SignedHeaders,
) -> Result<(), AuthError> {
    let message = request_message(
        method,
        path,
        &headers.digest,
        headers.timestamp,
        &headers.nonce,
    );
    if keys::verify(peer_key, &message, &headers.signature) {
        Ok(())
    } else {
        Err(AuthError::BadSignature)
    }
}

/// The signature of a response to the request with `nonce`.
pub fn sign_response(
    key: &ConnectionKey,
    status: u16,
    body: &[u8],
    nonce: &str,
) -> (String, String) {
    let digest = sha256_hex(body);
    let signature = key.sign(&response_message(status, &digest, nonce));
    (digest, signature)
}

/// Checks a response's signature, digest and binding to our request's nonce.
pub fn verify_response(
    peer_key: &str,
    status: u16,
    body: &[u8],
    nonce: &str,
    digest: Option<&str>,
    signature: Option<&str>,
) -> Result<(), AuthError> {
    let digest = digest.ok_or(AuthError::Missing(H_DIGEST))?;
    let signature = signature.ok_or(AuthError::Missing(H_SIGNATURE))?;
    if sha256_hex(body) != digest {
        return Err(AuthError::Digest);
    }
    if keys::verify(
        peer_key,
        &response_message(status, digest, nonce),
        signature,
    ) {
        Ok(())
    } else {
        Err(AuthError::BadSignature)
    }
}

/// Nonces seen within the window, and the start time before which every
/// timestamp is refused.
pub struct Freshness {
    started_ms: u64,
    seen: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
}

impl Freshness {
    pub fn new() -> Self {
        Freshness {
            started_ms: now_ms(),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Accepts a (timestamp, nonce) once.
    pub fn check(
        &mut self,
        connection: &str,
        timestamp: u64,
        nonce: &str,
    ) -> Result<(), AuthError> {
        let now = now_ms();
        if timestamp + WINDOW_MS < now || timestamp > now + WINDOW_MS || timestamp < self.started_ms
        {
            return Err(AuthError::Stale);
        }
        while let Some((t, _)) = self.order.front() {
            if t + 2 * WINDOW_MS >= now {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
        let key = format!("{connection}\0{nonce}");
        if self.seen.contains_key(&key) {
            return Err(AuthError::Replay);
        }
        self.seen.insert(key.clone(), timestamp);
        self.order.push_back((now, key));
        Ok(())
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new()
    }
}

fn request_message(method: &str, path: &str, digest: &str, timestamp: u64, nonce: &str) -> Vec<u8> {
    format!("tandem/1 request\n{method}\n{path}\n{digest}\n{timestamp}\n{nonce}").into_bytes()
}

fn response_message(status: u16, digest: &str, nonce: &str) -> Vec<u8> {
    format!("tandem/1 response\n{status}\n{digest}\n{nonce}").into_bytes()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_once_and_not_for_another_path() {
        let key = ConnectionKey::generate();
        let h = SignedHeaders::sign(&key, "c1", "POST", "/tandem/v1/messages", b"{}");
        assert_eq!(
            verify_request(&key.public(), "POST", "/tandem/v1/messages", &h),
            Ok(())
        );
        assert_eq!(
            verify_request(&key.public(), "POST", "/tandem/v1/blobs", &h),
            Err(AuthError::BadSignature)
        );
        let mut fresh = Freshness {
            started_ms: 0,
            ..Freshness::new()
        };
        assert_eq!(fresh.check("c1", h.timestamp, &h.nonce), Ok(()));
        assert_eq!(
            fresh.check("c1", h.timestamp, &h.nonce),
            Err(AuthError::Replay)
        );
        assert_eq!(
            fresh.check("c1", h.timestamp - WINDOW_MS - 1000, "other"),
            Err(AuthError::Stale)
        );
    }

    #[test]
    fn requests_from_before_a_restart_are_refused() {
        let key = ConnectionKey::generate();
        let h = SignedHeaders::sign(&key, "c1", "GET", "/x", b"");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut restarted = Freshness::new();
        assert_eq!(
            restarted.check("c1", h.timestamp, &h.nonce),
            Err(AuthError::Stale)
        );
    }

    #[test]
    fn a_response_is_bound_to_its_request() {
        let key = ConnectionKey::generate();
        let (digest, sig) = sign_response(&key, 200, b"ok", "n1");
        assert_eq!(
            verify_response(&key.public(), 200, b"ok", "n1", Some(&digest), Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_response(&key.public(), 200, b"ok", "n2", Some(&digest), Some(&sig)),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify_response(&key.public(), 200, b"ko", "n1", Some(&digest), Some(&sig)),
            Err(AuthError::Digest)
        );
    }
}
