//! Script components of this node's connections: stored as
//! `DATA/rules/<connection id>/current.wasm` (and `previous.wasm`, for
//! `--rollback`), loaded only when their sha256 is the one recorded at
//! upgrade and, under the trust policy, only when signed by a trusted key.
//!
//! Owns those files. Checking a candidate (WIT version, imports, smoke call)
//! is [`check`]'s; switching the connection's mode is the upgrade command's.

use std::path::PathBuf;

use super::Node;
use crate::model::{Comment, Context, Issue, Project, Side};
use crate::rules::{RulesComponent, RulesError, RulesHost, TrustedKeys};
use crate::sync::Connection;

/// Where a connection's components live.
pub fn dir(node: &Node, connection: &str) -> PathBuf {
    node.dir.root().join("rules").join(connection)
}

/// The trust policy of the node's config, if it requires signatures.
pub fn trust(node: &Node) -> Result<Option<TrustedKeys>, String> {
    if !node.config.require_signed_rules {
        return Ok(None);
    }
    if node.config.trusted_keys.is_empty() {
        return Err(
            "require_signed_rules is on but no trusted_keys are configured in tandem.toml".into(),
        );
    }
    TrustedKeys::from_files(&node.config.trusted_keys)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Loads the installed component of a Script-mode connection.
pub fn load(node: &Node, host: &RulesHost, conn: &Connection) -> Result<RulesComponent, String> {
    let path = dir(node, &conn.id).join("current.wasm");
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let sha = crate::transport::auth::sha256_hex(&bytes);
    if conn.rules_sha256.as_deref() != Some(sha.as_str()) {
        return Err(format!(
            "{} is not the component installed by `tandem connection upgrade` (its sha256 differs); run the upgrade again",
            path.display()
        ));
    }
    let trust = trust(node)?;
    host.load(&conn.name, &bytes, trust.as_ref())
        .map_err(|e| e.to_string())
}

/// Checks a candidate component: it loads (signature under the trust policy,
/// a supported WIT version, the right world, allowed imports only) and
/// survives a smoke call both ways. A rule error in the smoke call is the
/// rules' own decision and passes; a trap, deadline or memory cap does not.
pub fn check(
    node: &Node,
    host: &RulesHost,
    name: &str,
    bytes: &[u8],
    project: &str,
) -> Result<RulesComponent, RulesError> {
    let trust = trust(node).map_err(|reason| RulesError::rejected(name, reason))?;
    let component = host.load(name, bytes, trust.as_ref())?;
    let issue = Issue {
        key: "SMOKE-1".into(),
        summary: "smoke test".into(),
        description: "checked before the upgrade".into(),
        issue_type: "Task".into(),
        status: "Open".into(),
        priority: "Medium".into(),
        comments: vec![Comment {
            id: "1".into(),
            author: "tandem".into(),
            body: "hello".into(),
            created: "2026-01-01T00:00:00Z".into(),
            internal: true,
        }],
        ..Issue::default()
    };
    let ctx = Context {
        connection: name.into(),
        side: Side::Public,
        first_sync: true,
        remote_key: None,
        project: Project {
            key: project.into(),
            issue_types: vec!["Task".into(), "Bug".into()],
            default_issue_type: Some("Task".into()),
        },
    };
    let smoke = |e: RulesError| -> Result<(), RulesError> {
        match e {
            RulesError::Rule { .. } => Ok(()),
            other => Err(other),
        }
    };
    match component.outgoing(&ctx, &issue) {
        Ok(replica) => {
            let mut ctx = ctx.clone();
            ctx.remote_key = Some(replica.key.clone());
            if let Err(e) = component.incoming(&ctx, &replica, None, None) {
                smoke(e)?;
            }
        }
        Err(e) => smoke(e)?,
    }
    Ok(component)
}

/// Installs `bytes` as the connection's component, keeping the one it
/// replaces as `previous.wasm`. Returns the new sha256.
pub fn install(node: &Node, connection: &str, bytes: &[u8]) -> Result<String, String> {
    let dir = dir(node, connection);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let current = dir.join("current.wasm");
    if current.exists() {
        std::fs::rename(&current, dir.join("previous.wasm"))
            .map_err(|e| format!("cannot keep the previous component: {e}"))?;
    }
    let temp = dir.join(".incoming.wasm");
    std::fs::write(&temp, bytes).map_err(|e| format!("cannot write the component: {e}"))?;
    std::fs::rename(&temp, &current).map_err(|e| format!("cannot install the component: {e}"))?;
    Ok(crate::transport::auth::sha256_hex(bytes))
}

/// Swaps the current and previous components; returns the restored one's
/// bytes.
pub fn rollback(node: &Node, connection: &str) -> Result<Vec<u8>, String> {
    let dir = dir(node, connection);
    let previous = dir.join("previous.wasm");
    let bytes = std::fs::read(&previous)
        .map_err(|_| "there is no previous script component to roll back to".to_string())?;
    let current = dir.join("current.wasm");
    let swap = dir.join(".swap.wasm");
    std::fs::rename(&current, &swap).map_err(|e| e.to_string())?;
    std::fs::rename(&previous, &current).map_err(|e| e.to_string())?;
    std::fs::rename(&swap, &previous).map_err(|e| e.to_string())?;
    Ok(bytes)
}
