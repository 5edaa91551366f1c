//! The wire between the two nodes of a connection: HTTP/JSON under
//! [`PREFIX`], every request and response signed (`auth`).
//!
//! - `server`: the public side (axum). Answers the handshake, takes pushed
//!   messages and attachment bytes, and answers long-polls with its outbox.
//! - `client`: calls to a peer (reqwest): the handshake, push, long-poll,
//!   attachment up- and download.
//! - `link`: the loops that keep one connection's link going (push, poll,
//!   backoff with jitter) and the pipeline's [`crate::sync::Transport`] for
//!   fetching attachments.
//! - `blobs`: attachment bytes a pushing peer uploaded ahead of its messages.
//!
//! The private side only ever calls out: it runs `client` and `link`, never
//! `server`. Owns no sync decisions: what is sent and applied is `sync`'s.

pub mod auth;
pub mod blobs;
pub mod client;
pub mod link;
pub mod server;
pub mod tls;

use serde::{Deserialize, Serialize};

use crate::sync::Envelope;

/// Every route lives under this versioned prefix.
pub const PREFIX: &str = "/tandem/v1";
/// At most this many envelopes travel in one request or answer.
pub const MAX_BATCH: usize = 256;
/// A message request or answer body is at most this large.
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;
/// A handshake body is small.
pub const MAX_HANDSHAKE_BYTES: usize = 64 << 10;
/// A long-poll is answered after at most this long, empty if need be.
pub const LONG_POLL_MAX_MS: u64 = 25_000;

/// A batch of envelopes, pushed or answered to a long-poll.
#[derive(Debug, Serialize, Deserialize)]
pub struct Messages {
    pub envelopes: Vec<Envelope>,
}

/// The answer to a push: everything up to `ack` is durably held.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ack {
    pub ack: u64,
}

/// Which attachment bytes the receiver lacks.
#[derive(Debug, Serialize, Deserialize)]
pub struct Blobs {
    pub sha256: Vec<String>,
}

/// An error answer's body.
#[derive(Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}

/// True for a URL whose host is the loopback interface.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Plain HTTP off loopback is refused unless the node runs with `--insecure`.
pub fn check_plain_http(url: &str, insecure: bool) -> Result<(), String> {
    if url.starts_with("http://") && !is_loopback_url(url) && !insecure {
        return Err(format!(
            "{url} is plain HTTP off this machine: anyone on the path could read the traffic; use https, or start the node with --insecure on a network you trust"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_told_apart_from_the_network() {
        assert!(is_loopback_url("http://127.0.0.1:7300"));
        assert!(is_loopback_url("http://localhost:7300/x"));
        assert!(is_loopback_url("http://[::1]:7300"));
        assert!(!is_loopback_url("http://10.0.0.5:7300"));
        assert!(check_plain_http("http://sync.example.com", false).is_err());
        assert!(check_plain_http("http://sync.example.com", true).is_ok());
        assert!(check_plain_http("https://sync.example.com", false).is_ok());
    }
}
