//! Attachment bytes a pushing peer uploaded ahead of the messages that name
//! them, kept by sha256 in `DATA/blobs/`. The public side cannot fetch from a
//! private peer, so the private side sends the bytes first; the pipeline then
//! reads them here as it would fetch them.
//!
//! Owns that directory. Writes go to a temporary file and are renamed into
//! place only after the sha256 matched, so a half-written or forged blob is
//! never read.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(
        "the attachment is larger than the {0}-byte limit (set `max_attachment_mib` in tandem.toml)"
    )]
    TooLarge(u64),
    #[error("the attachment's bytes do not match its sha256")]
    Damaged,
    #[error("`{0}` is not a sha256")]
    BadName(String),
    #[error("cannot store the attachment: {0}")]
    Io(String),
    #[error("{0}")]
    Body(String),
}

impl BlobStore {
    pub fn new(dir: &Path) -> Self {
        BlobStore { dir: dir.into() }
    }

    fn path(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobError::BadName(sha256.into()));
        }
        Ok(self.dir.join(sha256.to_ascii_lowercase()))
    }

    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_ok_and(|p| p.exists())
    }

    /// The bytes of a blob, if held.
    pub async fn read(&self, sha256: &str) -> Option<Vec<u8>> {
        tokio::fs::read(self.path(sha256).ok()?).await.ok()
    }

    /// Streams `chunks` into the store, checking size and sha256 as they come.
    pub async fn write<S, E>(&self, sha256: &str, mut chunks: S, cap: u64) -> Result<(), BlobError>
    where
        S: futures::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let target = self.path(sha256)?;
        if target.exists() {
            // Drain nothing: the peer sent what we hold already.
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| BlobError::Io(e.to_string()))?;
        let temp = self
            .dir
            .join(format!(".{}.part", crate::connection::random_hex(8)));
        let result = async {
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| BlobError::Io(e.to_string()))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > cap {
                    return Err(BlobError::TooLarge(cap));
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| BlobError::Io(e.to_string()))?;
            }
            if hex::encode(hasher.finalize()) != sha256.to_ascii_lowercase() {
                return Err(BlobError::Damaged);
            }
            file.sync_all()
                .await
                .map_err(|e| BlobError::Io(e.to_string()))?;
            tokio::fs::rename(&temp, &target)
                .await
                .map_err(|e| BlobError::Io(e.to_string()))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }
}
