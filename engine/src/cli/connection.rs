//! `tandem connection …`: initiate (prints the invitation code), accept,
//! list, show, trigger, deactivate, activate, delete. The steps read like the
//! console an Exalate admin knows: Initiate connection → "I don't have a
//! URL" → Basic → the project for incoming sync → copy the code; on the other
//! side, Accept invitation → paste the code → its project.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::CliError;
use crate::admin::{Reply, Request};
use crate::connection::{self, AcceptOptions, ConnectionError, InitiateOptions, Mode, State};
use crate::node::Node;
use crate::sync::{Connection, Query};
use crate::transport::client::{PeerClient, http_client};

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Start a connection: prints the invitation code for the other side.
    Initiate(InitiateArgs),
    /// Accept the other side's invitation code; this side then calls out.
    Accept(AcceptArgs),
    /// Every connection of this node.
    List,
    /// One connection.
    Show { name: String },
    /// Change this side's trigger: the issues that sync by themselves.
    Trigger { name: String, query: String },
    /// Stop exchanging; changes queue until `activate`.
    Deactivate { name: String },
    /// Resume exchanging what queued.
    Activate { name: String },
    /// Remove the connection and its twin links (issues stay).
    Delete { name: String },
    /// Switch this side from Basic to its own rules component (one-way), or
    /// replace that component; --dry-run first, --rollback to the one before.
    Upgrade {
        name: String,
        /// The rules component (wasm32-wasip2 build, or `tandem rules new`'s).
        #[arg(long, value_name = "FILE.wasm", required_unless_present = "rollback")]
        rules: Option<std::path::PathBuf>,
        /// Run it on the connection's recent replicas and show what would differ; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Go back to the script component the last upgrade replaced.
        #[arg(long, conflicts_with_all = ["rules", "dry_run"])]
        rollback: bool,
    },
    /// The replicas this side sent and received lately (what --dry-run replays).
    History { name: String },
}

#[derive(Debug, Args)]
pub struct InitiateArgs {
    /// "I don't have a URL": the other side is private and will call this one.
    #[arg(long, conflicts_with = "url")]
    no_url: bool,
    /// The other side's URL (both sides public).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The mode the connection starts in.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// The project incoming issues are created in.
    #[arg(long, value_name = "KEY")]
    project: Option<String>,
    /// This side's trigger, e.g. `project = OPS AND type = Bug`.
    #[arg(long, value_name = "QUERY")]
    trigger: Option<String>,
    /// This side's name for the connection.
    #[arg(long)]
    name: Option<String>,
    /// How long the code stays valid.
    #[arg(long, default_value = "72h", value_parser = humantime::parse_duration)]
    expires_in: Duration,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The code the other side's `connection initiate` printed (asked for when left out).
    #[arg(long)]
    code: Option<String>,
    /// The project incoming issues are created in.
    #[arg(long, value_name = "KEY")]
    project: Option<String>,
    /// This side's trigger.
    #[arg(long, value_name = "QUERY")]
    trigger: Option<String>,
    /// This side's name for the connection (default: `<their node>-<this node>`).
    #[arg(long)]
    name: Option<String>,
    /// Allow plain HTTP to a peer off loopback (only on a network you trust).
    #[arg(long)]
    insecure: bool,
}

/// `tandem connection` as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionRequest {
    Initiate(InitiateOptions),
    Accept(AcceptOptions),
    List,
    Show { name: String },
    Trigger { name: String, query: Query },
    SetState { name: String, active: bool },
    Delete { name: String },
    Upgrade(super::upgrade::UpgradeRequest),
    History { name: String },
}

/// Asks on the terminal, or fails as a usage error without one.
fn ask(question: &str, flag: &str, optional: bool) -> Result<Option<String>, CliError> {
    if !std::io::stdin().is_terminal() {
        if optional {
            return Ok(None);
        }
        return Err(CliError::usage(format!(
            "{flag} is required (no terminal to ask on)"
        )));
    }
    eprint!("{question}: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::failed("io", e.to_string()))?;
    let line = line.trim().to_string();
    match (line.is_empty(), optional) {
        (true, true) => Ok(None),
        (true, false) => Err(CliError::usage(format!("{flag} is required"))),
        (false, _) => Ok(Some(line)),
    }
}

fn parse_trigger(text: Option<String>) -> Result<Option<Query>, CliError> {
    text.map(|t| Query::parse(&t).map_err(|e| CliError::usage(format!("--trigger: {e}"))))
        .transpose()
}

impl ConnectionCommand {
    pub fn request(self, node_name: &str) -> Result<Request, CliError> {
        Ok(Request::Connection(match self {
            ConnectionCommand::Initiate(a) => {
                let peer_url = match (a.no_url, a.url) {
                    (true, _) => None,
                    (false, Some(url)) => Some(url),
                    (false, None) => ask(
                        "The other side's URL (leave empty for \"I don't have a URL\": it is private)",
                        "--no-url or --url",
                        true,
                    )?,
                };
                if a.mode.is_none() && std::io::stdin().is_terminal() {
                    eprintln!("Mode: Basic (upgrade later with `tandem connection upgrade`)");
                }
                if a.mode == Some(Mode::Script) {
                    return Err(CliError::usage(
                        "a connection starts in Basic mode; upgrade a side later with `tandem connection upgrade NAME --rules FILE.wasm`",
                    ));
                }
                let project = match a.project {
                    Some(p) => p,
                    None => {
                        ask("Project for incoming sync", "--project", false)?.unwrap_or_default()
                    }
                };
                let trigger = match a.trigger {
                    Some(t) => Some(t),
                    None => ask(
                        "Trigger (e.g. project = OPS AND type = Bug; empty for none)",
                        "--trigger",
                        true,
                    )?,
                };
                let name = match a.name {
                    Some(n) => n,
                    None => ask("Connection name", "--name", true)?
                        .unwrap_or_else(|| format!("{node_name}-{}", project.to_lowercase())),
                };
                ConnectionRequest::Initiate(InitiateOptions {
                    name,
                    project,
                    trigger: parse_trigger(trigger)?,
                    peer_url,
                    valid_for: a.expires_in.as_secs(),
                })
            }
            ConnectionCommand::Accept(a) => {
                let code = match a.code {
                    Some(c) => c,
                    None => ask("Paste the invitation code", "--code", false)?.unwrap_or_default(),
                };
                // Damaged codes are reported before anything else happens.
                connection::Invitation::decode(&code)
                    .map_err(|e| CliError::failed("invalid_code", e.to_string()))?;
                let project = match a.project {
                    Some(p) => p,
                    None => {
                        ask("Project for incoming sync", "--project", false)?.unwrap_or_default()
                    }
                };
                let trigger = match a.trigger {
                    Some(t) => Some(t),
                    None => ask("Trigger (empty for none)", "--trigger", true)?,
                };
                ConnectionRequest::Accept(AcceptOptions {
                    code,
                    insecure: a.insecure,
                    name: a.name,
                    project,
                    trigger: parse_trigger(trigger)?,
                })
            }
            ConnectionCommand::List => ConnectionRequest::List,
            ConnectionCommand::Show { name } => ConnectionRequest::Show { name },
            ConnectionCommand::Trigger { name, query } => ConnectionRequest::Trigger {
                name,
                query: Query::parse(&query).map_err(|e| CliError::usage(format!("QUERY: {e}")))?,
            },
            ConnectionCommand::Deactivate { name } => ConnectionRequest::SetState {
                name,
                active: false,
            },
            ConnectionCommand::Activate { name } => {
                ConnectionRequest::SetState { name, active: true }
            }
            ConnectionCommand::Delete { name } => ConnectionRequest::Delete { name },
            ConnectionCommand::Upgrade {
                name,
                rules,
                dry_run,
                rollback,
            } => {
                let component = rules
                    .map(|p| super::upgrade::read_component(&p))
                    .transpose()?;
                ConnectionRequest::Upgrade(super::upgrade::UpgradeRequest {
                    name,
                    component,
                    dry_run,
                    rollback,
                })
            }
            ConnectionCommand::History { name } => ConnectionRequest::History { name },
        }))
    }
}

impl From<ConnectionError> for CliError {
    fn from(e: ConnectionError) -> Self {
        let kind = match e {
            ConnectionError::Code(_) => "invalid_code",
            ConnectionError::Expired(_) => "expired",
            ConnectionError::AlreadyUsed => "already_used",
            ConnectionError::OwnCode(_) => "own_code",
            ConnectionError::Incompatible { .. } => "incompatible",
            ConnectionError::Store(_) => "store",
            _ => "refused",
        };
        CliError::failed(kind, e.to_string())
    }
}

fn sync_err(e: impl std::fmt::Display) -> CliError {
    CliError::failed("store", e.to_string())
}

/// The connection named `name` on this node.
pub(crate) fn by_name(node: &Node, name: &str) -> Result<Connection, CliError> {
    let sync = node.sync()?;
    let all = sync.connections().map_err(sync_err)?;
    all.into_iter().find(|c| c.name == name).ok_or_else(|| {
        CliError::failed(
            "not_found",
            format!("no connection named `{name}` (see `tandem connection list`)"),
        )
    })
}

/// `connection list --json`'s shape (DESIGN.md).
#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    name: String,
    peer: String,
    side: crate::model::Side,
    mode: Mode,
    state: String,
    project: String,
    trigger: Option<String>,
    last_exchange: Option<String>,
    outbox: usize,
    inbox: usize,
    errors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(crate) fn listed(node: &Node, conn: &Connection) -> Result<Listed, CliError> {
    let sync = node.sync()?;
    let (outbox, inbox) = sync.queue_depths(&conn.id).map_err(sync_err)?;
    let errors = sync
        .errors()
        .map_err(sync_err)?
        .iter()
        .filter(|e| e.connection == conn.id)
        .count();
    let link = node.link(&conn.id);
    let state = match (&link.error, conn.state) {
        (Some(_), State::Active) => "error".to_string(),
        (_, s) => s.to_string(),
    };
    Ok(Listed {
        name: conn.name.clone(),
        peer: conn.peer.clone().unwrap_or_else(|| "unknown".into()),
        side: conn.side,
        mode: conn.mode,
        state,
        project: conn.project.clone(),
        trigger: conn.trigger.as_ref().map(|q| q.to_string()),
        last_exchange: link.last_exchange,
        outbox,
        inbox,
        errors,
        error: link.error,
    })
}

fn line(l: &Listed) -> String {
    let side = serde_json::to_value(l.side)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mode = serde_json::to_value(l.mode)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut text = format!(
        "{}\tpeer {}\t{side}\t{mode}\t{}\tproject {}\toutbox {}\tinbox {}\terrors {}",
        l.name, l.peer, l.state, l.project, l.outbox, l.inbox, l.errors
    );
    if let Some(e) = &l.error {
        text.push_str(&format!("\n  error: {e}"));
    }
    text
}

pub async fn handle(node: &Arc<Node>, request: ConnectionRequest) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let existing = sync.connections().map_err(sync_err)?;
    match request {
        ConnectionRequest::Initiate(opts) => {
            let (conn, code) = connection::initiate(
                &node.store,
                &node.config.name,
                node.config.public_url.as_deref(),
                node.tls_fingerprint()
                    .map_err(|e| CliError::failed("tls", e))?,
                &existing,
                opts,
            )?;
            node.signals.bump_connections();
            let text = format!(
                "Connection `{}` initiated: project {} for incoming sync, Basic mode, destination unknown until accepted.\nOn the other side, run `tandem connection accept --code CODE --project KEY` with this code:\n{code}",
                conn.name, conn.project
            );
            Ok(Reply::new(
                serde_json::json!({ "code": code, "name": conn.name }),
                text,
            ))
        }
        ConnectionRequest::Accept(opts) => {
            let (conn, acceptance, invitation) = connection::prepare_accept(
                &node.store,
                &node.config.name,
                node.config.public_url.as_deref(),
                &existing,
                &opts,
            )?;
            crate::transport::check_plain_http(&invitation.url, node.insecure() || opts.insecure)
                .map_err(|e| CliError::failed("insecure", e))?;
            let secrets = connection::secrets(&node.store, &conn.id)?.unwrap_or_default();
            let key = connection::ConnectionKey::from_seed_hex(&secrets.own_key)
                .ok_or_else(|| CliError::failed("store", "this connection's key is unreadable"))?;
            let http = http_client(
                invitation.tls_fingerprint.as_deref(),
                Duration::from_secs(30),
            )
            .map_err(|e| CliError::failed("io", e))?;
            let welcome = PeerClient::handshake(&http, &invitation.url, &key, &invitation.public_key, &acceptance)
                .await
                .map_err(|e| {
                    CliError::failed(
                        "handshake",
                        format!("the other side did not accept: {e} (the connection is saved as pending here; run the same accept again to complete it)"),
                    )
                })?;
            // A crash here is the lost answer: the other side has accepted,
            // this side still shows pending; running accept again completes.
            crate::failpoint::hit("after-handshake");
            let mut conn = conn;
            conn.peer = Some(welcome.initiator.clone());
            conn.state = State::Active;
            connection::save(&node.store, &conn, &secrets)?;
            node.signals.bump_connections();
            let l = listed(node, &conn)?;
            let text = format!(
                "Connection `{}` with `{}` is active: incoming issues go to {}. Synchronisation starts when `tandem serve` runs.",
                conn.name, welcome.initiator, conn.project
            );
            Ok(Reply::new(&l, text))
        }
        ConnectionRequest::List => {
            let all: Vec<Listed> = existing
                .iter()
                .map(|c| listed(node, c))
                .collect::<Result<_, _>>()?;
            let text = if all.is_empty() {
                "no connections yet: `tandem connection initiate` or `tandem connection accept`"
                    .to_string()
            } else {
                all.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            Ok(Reply::new(&all, text))
        }
        ConnectionRequest::Show { name } => {
            let conn = by_name(node, &name)?;
            let l = listed(node, &conn)?;
            let text = serde_json::to_string_pretty(&l).unwrap_or_default();
            Ok(Reply::new(&l, text))
        }
        ConnectionRequest::Trigger { name, query } => {
            let mut conn = by_name(node, &name)?;
            conn.trigger = Some(query.clone());
            sync.add_connection(&conn).map_err(sync_err)?;
            node.changed();
            Ok(Reply::new(
                serde_json::json!({ "name": name, "trigger": query.to_string() }),
                format!("trigger of `{name}` is now: {query}"),
            ))
        }
        ConnectionRequest::SetState { name, active } => {
            let mut conn = by_name(node, &name)?;
            if conn.state == State::Pending {
                return Err(CliError::failed(
                    "pending",
                    format!("`{name}` waits for the other side to accept its invitation"),
                ));
            }
            conn.state = if active {
                State::Active
            } else {
                State::Deactivated
            };
            sync.add_connection(&conn).map_err(sync_err)?;
            node.signals.bump_connections();
            let text = if active {
                format!("`{name}` is active; what queued is exchanged now")
            } else {
                format!(
                    "`{name}` is deactivated; changes queue until `tandem connection activate {name}`"
                )
            };
            Ok(Reply::new(listed(node, &conn)?, text))
        }
        ConnectionRequest::Upgrade(request) => super::upgrade::handle(node, request).await,
        ConnectionRequest::History { name } => super::upgrade::history(node, &name),
        ConnectionRequest::Delete { name } => {
            let conn = by_name(node, &name)?;
            sync.delete_connection(&conn.id, |tx| {
                connection::forget(tx, &conn.id)
                    .map_err(|e| crate::sync::SyncError::Store(e.to_string()))
            })
            .map_err(sync_err)?;
            node.signals.bump_connections();
            Ok(Reply::new(
                serde_json::json!({ "deleted": name }),
                format!("`{name}` deleted with its twin links; every issue stays where it is"),
            ))
        }
    }
}
