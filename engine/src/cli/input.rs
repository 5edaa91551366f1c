//! Reading the files a person points the CLI at: size-capped, and every error
//! names the file and, for JSON, the line and column.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::CliError;

/// Largest JSON fixture accepted (a 1 MiB description fits many times over).
const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and parses a JSON file into `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, CliError> {
    let bytes = read_capped(path, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::failed(
            "invalid_input",
            format!(
                "{what} file `{}` is not a valid {what}: {e}",
                path.display()
            ),
        )
    })
}

/// Reads a whole file, refusing one larger than `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, CliError> {
    let unreadable = |e: std::io::Error| {
        CliError::failed(
            "invalid_input",
            format!("cannot read `{}`: {e}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > cap {
        return Err(CliError::failed(
            "invalid_input",
            format!(
                "`{}` is larger than {} MiB",
                path.display(),
                cap / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}
