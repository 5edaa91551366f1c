//! `tandem connection upgrade`: this side leaves Basic mode for its own rules
//! component (one-way), replaces it later, rolls back to the one before, or
//! first tries it on the connection's recent traffic (`--dry-run`).
//! `tandem connection history` shows that traffic.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CliError;
use super::connection::by_name;
use crate::admin::Reply;
use crate::connection::Mode;
use crate::model::{Context, Project, Replica};
use crate::node::{Node, scripts};
use crate::rules::RulesComponent;
use crate::sync::{Body, Connection, Envelope};
use crate::tracker::Tracker;

/// `connection upgrade` as data: the client has read the component file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeRequest {
    pub name: String,
    /// (file name, bytes in base64); none with `rollback`.
    pub component: Option<(String, String)>,
    pub dry_run: bool,
    pub rollback: bool,
}

/// Reads the component a person points `--rules` at.
pub fn read_component(path: &std::path::Path) -> Result<(String, String), CliError> {
    if path.as_os_str() == "basic" {
        return Err(CliError::failed(
            "no_downgrade",
            "there is no way back to Basic: Script mode is one-way. Make a new connection for Basic rules (`tandem connection initiate`)",
        ));
    }
    let bytes = super::input::read_capped(path, 64 << 20)?;
    let name = path
        .file_name()
        .map_or_else(|| "rules.wasm".into(), |n| n.to_string_lossy().into_owned());
    Ok((name, B64.encode(bytes)))
}

fn store_err(e: impl std::fmt::Display) -> CliError {
    CliError::failed("store", e.to_string())
}

pub async fn handle(node: &Arc<Node>, request: UpgradeRequest) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let host = node.rules_host()?;
    let mut conn = by_name(node, &request.name)?;
    if request.rollback {
        if conn.mode == Mode::Basic {
            return Err(CliError::failed(
                "no_downgrade",
                format!(
                    "`{}` runs the Basic rules: there is no script to roll back to, and no way back to Basic",
                    conn.name
                ),
            ));
        }
        let bytes =
            scripts::rollback(node, &conn.id).map_err(|e| CliError::failed("rollback", e))?;
        let component = scripts::check(node, &host, &conn.name, &bytes, &conn.project)?;
        conn.rules_sha256 = Some(crate::transport::auth::sha256_hex(&bytes));
        sync.add_connection(&conn).map_err(store_err)?;
        sync.set_script(&conn.id, Ok(component));
        node.changed();
        return Ok(Reply::new(
            serde_json::json!({ "name": conn.name, "mode": "script", "rolled_back": true }),
            format!("`{}` runs its previous script component again", conn.name),
        ));
    }
    let Some((file, encoded)) = request.component else {
        return Err(CliError::usage("give --rules FILE.wasm (or --rollback)"));
    };
    let bytes = B64.decode(encoded).map_err(|e| {
        CliError::failed("usage", format!("the component did not arrive intact: {e}"))
    })?;
    let candidate = scripts::check(node, &host, &file, &bytes, &conn.project)?;
    if request.dry_run {
        return dry_run(node, &conn, &candidate).await;
    }
    let sha = scripts::install(node, &conn.id, &bytes).map_err(|e| CliError::failed("io", e))?;
    let was = conn.mode;
    conn.mode = Mode::Script;
    conn.rules_sha256 = Some(sha);
    sync.add_connection(&conn).map_err(store_err)?;
    sync.set_script(&conn.id, Ok(candidate));
    node.changed();
    let text = match was {
        Mode::Basic => format!(
            "`{}` upgraded to Script mode with {file}: twins, queues and history are kept; the next sync uses the new rules (the other side keeps its own mode)",
            conn.name
        ),
        Mode::Script => format!(
            "`{}` now runs {file}; `--rollback` restores the component it replaced",
            conn.name
        ),
    };
    Ok(Reply::new(
        serde_json::json!({ "name": conn.name, "mode": "script", "rules": file }),
        text,
    ))
}

/// Runs the candidate next to the current rules on the connection's recent
/// traffic and reports, per issue, what would differ. Changes nothing.
async fn dry_run(
    node: &Node,
    conn: &Connection,
    candidate: &RulesComponent,
) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let current = sync
        .rules_for(conn)
        .map_err(|e| CliError::failed("rules", e.to_string()))?;
    let mut report = Vec::new();
    let mut unchanged = 0usize;

    // Sent: what this side would send now for each issue it sent lately.
    let sent = sync.history(&conn.id, "sent").map_err(store_err)?;
    let mut latest: BTreeMap<String, Envelope> = BTreeMap::new();
    for e in sent {
        latest.insert(e.origin_issue.clone(), e);
    }
    for (id, _) in latest {
        let Ok(issue) = node.tracker.read_issue(&id).await else {
            continue;
        };
        let project = node.tracker.project(&issue.project).await?;
        let twin = sync.twin(&conn.id, &id).map_err(store_err)?;
        let ctx = context(conn, twin.is_none(), twin.map(|t| t.remote_key), project);
        let before = current
            .outgoing(&ctx, &issue.issue)
            .map(json)
            .map_err(|e| e.to_string());
        let after = candidate
            .outgoing(&ctx, &issue.issue)
            .map(json)
            .map_err(|e| e.to_string());
        push_diff(
            &mut report,
            &mut unchanged,
            "sent",
            &issue.issue.key,
            before,
            after,
        );
    }

    // Received: what this side would apply for each replica it received.
    let received = sync.history(&conn.id, "received").map_err(store_err)?;
    let mut previous: BTreeMap<String, Replica> = BTreeMap::new();
    let project = node.tracker.project(&conn.project).await?;
    for e in received {
        let Body::Replica { replica, .. } = &e.body else {
            continue;
        };
        let local = match sync
            .local_twin_of(&conn.id, &e.origin_issue)
            .map_err(store_err)?
        {
            Some(id) => node.tracker.read_issue(&id).await.ok().map(|t| t.issue),
            None => None,
        };
        let ctx = context(
            conn,
            local.is_none(),
            Some(replica.key.clone()),
            project.clone(),
        );
        let prev = previous.get(&e.origin_issue);
        let before = current
            .incoming(&ctx, replica, prev, local.as_ref())
            .map(json)
            .map_err(|e| e.to_string());
        let after = candidate
            .incoming(&ctx, replica, prev, local.as_ref())
            .map(json)
            .map_err(|e| e.to_string());
        push_diff(
            &mut report,
            &mut unchanged,
            "received",
            &replica.key,
            before,
            after,
        );
        previous.insert(e.origin_issue.clone(), replica.clone());
    }

    let mut text = format!(
        "dry run of {} on `{}` ({} replicas differ, {unchanged} the same); nothing was changed",
        candidate.name(),
        conn.name,
        report.len()
    );
    for item in &report {
        text.push_str(&format!(
            "\n{} {}:",
            item["direction"].as_str().unwrap_or(""),
            item["issue"].as_str().unwrap_or("")
        ));
        for change in item["changes"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n  {}: {} -> {}",
                change["field"].as_str().unwrap_or(""),
                short(&change["current"]),
                short(&change["new"])
            ));
        }
    }
    Ok(Reply::new(
        serde_json::json!({ "connection": conn.name, "differences": report, "unchanged": unchanged }),
        text,
    ))
}

fn context(
    conn: &Connection,
    first_sync: bool,
    remote_key: Option<String>,
    project: crate::tracker::ProjectInfo,
) -> Context {
    Context {
        connection: conn.name.clone(),
        side: conn.side,
        first_sync,
        remote_key,
        project: Project {
            key: project.key,
            issue_types: project.issue_types,
            default_issue_type: project.default_issue_type,
        },
    }
}

fn json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Field-level differences of two results (an error is a result too).
fn push_diff(
    report: &mut Vec<Value>,
    unchanged: &mut usize,
    direction: &str,
    issue: &str,
    before: Result<Value, String>,
    after: Result<Value, String>,
) {
    let as_object = |r: Result<Value, String>| match r {
        Ok(Value::Object(map)) => map,
        Ok(other) => [("value".to_string(), other)].into_iter().collect(),
        Err(e) => [("error".to_string(), Value::String(e))]
            .into_iter()
            .collect(),
    };
    let (before, after) = (as_object(before), as_object(after));
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    let changes: Vec<Value> = fields
        .into_iter()
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| {
            serde_json::json!({
                "field": f,
                "current": before.get(f).cloned().unwrap_or(Value::Null),
                "new": after.get(f).cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    if changes.is_empty() {
        *unchanged += 1;
    } else {
        report.push(
            serde_json::json!({ "direction": direction, "issue": issue, "changes": changes }),
        );
    }
}

/// A value for one line: compact, and cut when long.
fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "(absent)".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

/// The recent replicas of a connection, each way.
pub fn history(node: &Node, name: &str) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let conn = by_name(node, name)?;
    let mut value = serde_json::Map::new();
    let mut text = String::new();
    for direction in ["sent", "received"] {
        let envelopes = sync.history(&conn.id, direction).map_err(store_err)?;
        for e in &envelopes {
            if let Body::Replica { replica, .. } = &e.body {
                text.push_str(&format!(
                    "{direction} {} (version {}): {}\n",
                    replica.key,
                    e.version,
                    serde_json::to_string(replica).unwrap_or_default()
                ));
            }
        }
        value.insert(direction.into(), json(&envelopes));
    }
    Ok(Reply::new(
        Value::Object(value),
        text.trim_end().to_string(),
    ))
}
