//! The Basic rules: the signed component committed under `rules-basic/dist/`,
//! embedded in the binary and verified against the pinned release keys on every
//! load. There is no other way to obtain Basic rules, so there is nothing to
//! edit: no config key, no file on disk.

use super::{RulesComponent, RulesError, RulesHost, TrustedKeys};

/// The issue type an incoming issue gets when neither its own nor a project
/// default fits (Basic's last resort, also the engine's).
pub const LAST_RESORT_TYPE: &str = "Task";

/// The name errors and `--rules basic` use.
pub const BASIC_NAME: &str = "basic";

/// The signed Basic component as released.
pub static BASIC_ARTIFACT: &[u8] = include_bytes!("../../../rules-basic/dist/basic.wasm");

/// Public keys of Basic releases. A rotation adds a key here (see
/// `rules-basic/RELEASING.md`); an artifact must verify with one of them.
const RELEASE_KEYS: &[&str] = &[include_str!(
    "../../../rules-basic/dist/release-2026-12.pub"
)];

impl RulesHost {
    /// Loads the embedded Basic component, verifying its signature first.
    pub fn load_basic(&self) -> Result<RulesComponent, RulesError> {
        self.load_basic_from(BASIC_ARTIFACT)
    }

    /// Loads Basic from other bytes, exactly as [`RulesHost::load_basic`] would
    /// load them: the release keys are the only trust.
    pub fn load_basic_from(&self, artifact: &[u8]) -> Result<RulesComponent, RulesError> {
        let keys = TrustedKeys::from_pems(RELEASE_KEYS)
            .map_err(|reason| RulesError::rejected(BASIC_NAME, reason))?;
        self.load(BASIC_NAME, artifact, Some(&keys))
    }
}
