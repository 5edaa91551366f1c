//! Signatures on rules components: the WebAssembly tool-conventions signature
//! section (wasmsign2), Ed25519, plus the preamble check wasmsign2 leaves out.
//!
//! Owns key files and the verify-before-load rule; it never compiles or runs a
//! component. Secret keys only ever come from files, never from arguments.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use wasmsign2::{PublicKey, PublicKeySet, SecretKey, WSError};

use super::artifact::check_preamble;

/// Errors of key handling and signing (verification failures are reasons
/// attached to a [`super::RulesError::Rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("key file `{path}`: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// Public keys a component may be signed by.
#[derive(Clone)]
pub struct TrustedKeys(PublicKeySet);

impl TrustedKeys {
    /// Reads public keys (PEM, DER, raw or OpenSSH) from files.
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, SigningError> {
        let mut set = PublicKeySet::empty();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
            let pk = PublicKey::from_any(&bytes)
                .map_err(|_| key_error(path, "not an Ed25519 public key".into()))?;
            set.insert(pk).map_err(|e| key_error(path, e.to_string()))?;
        }
        Ok(TrustedKeys(set))
    }

    /// Keys given as PEM text (the pinned Basic release keys).
    pub fn from_pems(pems: &[&str]) -> Result<Self, String> {
        let mut set = PublicKeySet::empty();
        for pem in pems {
            let pk =
                PublicKey::from_pem(pem).map_err(|e| format!("a pinned key is invalid: {e}"))?;
            set.insert(pk).map_err(|e| e.to_string())?;
        }
        Ok(TrustedKeys(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the preamble, then the signature over every section.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), String> {
        check_preamble(bytes)?;
        if self.0.is_empty() {
            return Err("no trusted keys are configured to verify it".into());
        }
        match self.0.verify(&mut &bytes[..], None) {
            Ok(_) => Ok(()),
            Err(WSError::NoSignatures) => Err("it is not signed".into()),
            Err(WSError::VerificationFailed) | Err(WSError::UnknownPublicKey) => Err(
                "its signature does not verify with a trusted key (tampered, or signed by an untrusted key)"
                    .into(),
            ),
            Err(e) => Err(format!("its signature section is damaged ({e})")),
        }
    }
}

/// Writes a new key pair: `out` (the secret key, mode 0600) and `out.pub`.
/// Refuses to overwrite either file.
pub fn keygen(out: &Path) -> Result<PathBuf, SigningError> {
    let pub_path = pub_path(out);
    let kp = wasmsign2::KeyPair::generate();
    write_new(out, kp.sk.to_pem().as_bytes(), 0o600)?;
    write_new(&pub_path, kp.pk.to_pem().as_bytes(), 0o644)?;
    Ok(pub_path)
}

/// Where `keygen` puts the public half of `key`.
pub fn pub_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Reads a secret key file, refusing one that others can read.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, SigningError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(key_error(
            path,
            "others can read it; run `chmod 600` on it first".into(),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
    SecretKey::from_any(&bytes).map_err(|_| key_error(path, "not an Ed25519 secret key".into()))
}

/// Signs a component, replacing any earlier signature.
pub fn sign(key: &SecretKey, component: &[u8]) -> Result<Vec<u8>, SigningError> {
    check_preamble(component).map_err(SigningError::Sign)?;
    let module = wasmsign2::Module::deserialize(&mut &component[..])
        .map_err(|e| SigningError::Sign(format!("unreadable sections ({e})")))?;
    let signed = key
        .sign(module, None)
        .map_err(|e| SigningError::Sign(e.to_string()))?;
    let mut out = Vec::with_capacity(component.len() + 128);
    signed
        .serialize(&mut out)
        .map_err(|e| SigningError::Sign(e.to_string()))?;
    Ok(out)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SigningError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                key_error(path, "already exists; refusing to overwrite a key".into())
            }
            _ => key_error(path, e.to_string()),
        })?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| key_error(path, e.to_string()))
}

fn key_error(path: &Path, reason: String) -> SigningError {
    SigningError::Key {
        path: path.to_path_buf(),
        reason,
    }
}
