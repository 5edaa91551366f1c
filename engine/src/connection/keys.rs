//! A side's Ed25519 key for one connection: made at initiate/accept, kept in
//! the node's store, never logged. Signs this side's requests and responses;
//! the peer's public half verifies them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};

/// This side's key pair for a connection.
pub struct ConnectionKey(KeyPair);

impl ConnectionKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        ConnectionKey(KeyPair::from_seed(Seed::generate()))
    }

    /// The key stored as its seed (hex).
    pub fn from_seed_hex(hex_seed: &str) -> Option<Self> {
        let bytes = hex::decode(hex_seed).ok()?;
        Some(ConnectionKey(KeyPair::from_seed(
            Seed::from_slice(&bytes).ok()?,
        )))
    }

    pub fn seed_hex(&self) -> String {
        hex::encode(self.0.sk.seed().as_ref())
    }

    /// The public half, as it travels (base64url).
    pub fn public(&self) -> String {
        B64.encode(self.0.pk.as_ref())
    }

    /// A signature over `message` (base64url).
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sk.sign(message, None).as_ref())
    }
}

impl std::fmt::Debug for ConnectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionKey({})", self.public())
    }
}

/// Checks `signature` (base64url) over `message` by the public key `public`
/// (base64url). False for anything malformed.
pub fn verify(public: &str, message: &[u8], signature: &str) -> bool {
    let (Ok(pk), Ok(sig)) = (B64.decode(public), B64.decode(signature)) else {
        return false;
    };
    let (Ok(pk), Ok(sig)) = (PublicKey::from_slice(&pk), Signature::from_slice(&sig)) else {
        return false;
    };
    pk.verify(message, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = ConnectionKey::generate();
        let sig = key.sign(b"hello");
        assert!(verify(&key.public(), b"hello", &sig));
        assert!(!verify(&key.public(), b"hellO", &sig));
        assert!(!verify(&ConnectionKey::generate().public(), b"hello", &sig));
        let again = ConnectionKey::from_seed_hex(&key.seed_hex()).unwrap();
        assert_eq!(again.public(), key.public());
    }
}
