//! The invitation code: what the initiating side prints and the other side
//! pastes. One copy-pasteable line:
//!
//! ```text
//! tandem1.<base64url(JSON payload)>.<base64url(Ed25519 signature)>
//! ```
//!
//! The payload carries the connection id, the initiator's name and URL, the
//! engine version and protocols it speaks, its connection public key, its TLS
//! certificate fingerprint (when it serves TLS), a single-use secret and an
//! expiry. The signature by the key inside makes any changed character show
//! as a damaged code before a network call is made.
//!
//! Owns the format only; what a code does is the connection module's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::keys::{self, ConnectionKey};

/// The versioned prefix of every code this engine makes.
pub const PREFIX: &str = "tandem1.";
/// A code's payload is small; anything larger is not a code.
const MAX_CODE_LEN: usize = 4096;

/// What a code says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub connection: String,
    /// The initiating node's name.
    pub initiator: String,
    /// Where the initiating node serves the connection.
    pub url: String,
    /// The initiator's engine version, for messages.
    pub engine: String,
    /// Wire protocol versions the initiator speaks.
    pub protocols: Vec<u32>,
    /// The initiator's connection public key (base64url).
    pub public_key: String,
    /// SHA-256 of the initiator's TLS certificate (hex), to pin it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
    /// Proof of holding the code: single use.
    pub secret: String,
    /// Unix seconds after which the code is refused.
    pub expires: u64,
    /// The initiator gave the other side's URL: both sides are public and
    /// push to each other.
    #[serde(default)]
    pub public_public: bool,
}

/// Why a code was refused before any network call.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodeError {
    #[error(
        "this is not a tandem invitation code (it should start with `{PREFIX}`); copy the whole line the other side's `tandem connection initiate` printed"
    )]
    NotACode,
    #[error(
        "the invitation code is damaged ({0}); copy it again as one line, without spaces or line breaks"
    )]
    Damaged(&'static str),
}

impl Invitation {
    /// The code, signed by the initiator's connection key.
    pub fn encode(&self, key: &ConnectionKey) -> String {
        let payload = B64.encode(serde_json::to_vec(self).unwrap_or_default());
        let signature = key.sign(payload.as_bytes());
        format!("{PREFIX}{payload}.{signature}")
    }

    /// Reads a pasted code: surrounding whitespace and line breaks a terminal
    /// inserted are ignored; anything else changed makes it damaged.
    pub fn decode(code: &str) -> Result<Invitation, CodeError> {
        let code: String = code.split_whitespace().collect();
        if code.len() > MAX_CODE_LEN {
            return Err(CodeError::NotACode);
        }
        let Some(rest) = code.strip_prefix(PREFIX) else {
            return Err(CodeError::NotACode);
        };
        let (payload, signature) = rest
            .split_once('.')
            .ok_or(CodeError::Damaged("a part is missing"))?;
        let json = B64
            .decode(payload)
            .map_err(|_| CodeError::Damaged("it does not decode"))?;
        let invitation: Invitation = serde_json::from_slice(&json)
            .map_err(|_| CodeError::Damaged("its contents do not read"))?;
        if !keys::verify(&invitation.public_key, payload.as_bytes(), signature) {
            return Err(CodeError::Damaged("its signature does not match"));
        }
        Ok(invitation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Invitation, ConnectionKey) {
        let key = ConnectionKey::generate();
        let invitation = Invitation {
            connection: "c0ffee".into(),
            initiator: "acme".into(),
            url: "http://127.0.0.1:7300".into(),
            engine: "0.1.0".into(),
            protocols: vec![1],
            public_key: key.public(),
            tls_fingerprint: None,
            secret: "s3cret".into(),
            expires: 1_900_000_000,
            public_public: false,
        };
        (invitation, key)
    }

    #[test]
    fn a_code_reads_back_even_when_wrapped_by_a_terminal() {
        let (invitation, key) = sample();
        let code = invitation.encode(&key);
        assert!(!code.contains(char::is_whitespace));
        let wrapped = format!("  {}\n{}  ", &code[..40], &code[40..]);
        assert_eq!(Invitation::decode(&wrapped).unwrap(), invitation);
    }

    #[test]
    fn every_changed_character_is_reported_as_damage() {
        let (invitation, key) = sample();
        let code = invitation.encode(&key);
        for i in PREFIX.len()..code.len() {
            let mut bytes = code.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed == code {
                continue;
            }
            assert!(
                matches!(Invitation::decode(&changed), Err(CodeError::Damaged(_))),
                "change at {i} not detected"
            );
        }
        assert_eq!(Invitation::decode("hello"), Err(CodeError::NotACode));
    }
}
