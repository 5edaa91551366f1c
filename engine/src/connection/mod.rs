//! Connections as an admin sees them: initiate (make the invitation code),
//! accept (both halves of the handshake), the states, and each side's
//! per-connection key and invitation secret.
//!
//! Owns the `connection_secrets` table: keys and invitation secrets live
//! there, never in the pipeline's connection record and never in logs. Does
//! not open sockets (the transport calls [`accept_answer`] and the CLI's
//! accept sends what [`prepare_accept`] returns) and does not touch the
//! pipeline's queues (`sync` owns them).

pub mod invitation;
pub mod keys;

use hmac::{Hmac, Mac};
use redb::{ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use invitation::{CodeError, Invitation};
pub use keys::ConnectionKey;

use crate::model::Side;
use crate::store::Store;
use crate::sync::Connection;

/// The wire protocol versions this engine speaks.
pub const PROTOCOLS: &[u32] = &[1];
/// This engine's version, as invitation codes and handshakes carry it.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

const SECRETS: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("connection_secrets");

/// How a side's rules are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The bundled, locked, signed rules.
    #[default]
    Basic,
    /// A component of this side's own.
    Script,
}

/// Where a connection stands (a transport failure shows as `error` at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Initiated; the other side has not accepted yet.
    Pending,
    #[default]
    Active,
    /// Changes queue; nothing is exchanged until `activate`.
    Deactivated,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Deactivated => "deactivated",
        })
    }
}

/// What this side keeps secret about a connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Secrets {
    /// This side's connection key (its seed, hex).
    pub own_key: String,
    /// The peer's public key, once known.
    pub peer_key: Option<String>,
    /// The invitation this side issued, while it may still be used.
    pub invitation: Option<Issued>,
    /// The peer's TLS certificate fingerprint, pinned from the code.
    pub pinned_tls: Option<String>,
}

/// An invitation this side issued.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Issued {
    pub secret: String,
    pub expires: u64,
    /// The accepting side's public key, once accepted: a retry by the same
    /// key succeeds, any other key is told the code is used.
    pub used_by: Option<String>,
}

/// Errors of initiate and accept, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(
        "this node has no public URL, so the other side cannot reach it: ask the other side's admin to initiate (`tandem connection initiate --no-url`) and paste their code into `tandem connection accept` here; or give this node a URL with `tandem init --force --public-url URL`"
    )]
    NoPublicUrl,
    #[error("the invitation code expired at {0}; ask the other side for a new one")]
    Expired(String),
    #[error(
        "the invitation code was already used by another node; ask the other side for a new one"
    )]
    AlreadyUsed,
    #[error(
        "this invitation code was issued by this node (connection `{0}`); paste it into the other side's `tandem connection accept`"
    )]
    OwnCode(String),
    #[error(
        "the other side runs tandem {engine} speaking protocol {theirs:?}; this node speaks {ours:?}; upgrade the older node"
    )]
    Incompatible {
        engine: String,
        theirs: Vec<u32>,
        ours: Vec<u32>,
    },
    #[error("no invitation `{0}` is waiting here; it may have been deleted: ask for a new code")]
    UnknownInvitation(String),
    #[error("the acceptance does not prove it holds the code")]
    BadProof,
    #[error("a connection named `{0}` already exists; choose another --name")]
    NameTaken(String),
    #[error(
        "public-public connections need a URL on both sides: give this node one with `tandem init --force --public-url URL`"
    )]
    AcceptorNeedsUrl,
    #[error("store: {0}")]
    Store(String),
}

fn db(e: impl std::fmt::Display) -> ConnectionError {
    ConnectionError::Store(e.to_string())
}

/// Reads this side's secrets of a connection.
pub fn secrets(store: &Store, connection: &str) -> Result<Option<Secrets>, ConnectionError> {
    let read = store.db().begin_read().map_err(db)?;
    let Some(table) = crate::store::open_read(&read, SECRETS).map_err(db)? else {
        return Ok(None);
    };
    use redb::ReadableTable;
    match table.get(connection).map_err(db)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(db)?)),
        None => Ok(None),
    }
}

/// Writes a connection record and its secrets in one transaction.
pub fn save(store: &Store, conn: &Connection, secrets: &Secrets) -> Result<(), ConnectionError> {
    let tx = store.db().begin_write().map_err(db)?;
    {
        let mut table = tx.open_table(SECRETS).map_err(db)?;
        let bytes = serde_json::to_vec(secrets).map_err(db)?;
        table
            .insert(conn.id.as_str(), bytes.as_slice())
            .map_err(db)?;
        let mut conns = tx.open_table(crate::sync::CONNECTIONS_TABLE).map_err(db)?;
        let bytes = serde_json::to_vec(conn).map_err(db)?;
        conns
            .insert(conn.id.as_str(), bytes.as_slice())
            .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// Removes a connection's secrets (the pipeline removes the rest).
pub fn forget(tx: &redb::WriteTransaction, connection: &str) -> Result<(), ConnectionError> {
    tx.open_table(SECRETS)
        .map_err(db)?
        .remove(connection)
        .map_err(db)?;
    Ok(())
}

/// What an admin asks for at initiate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitiateOptions {
    pub name: String,
    pub project: String,
    pub trigger: Option<crate::sync::Query>,
    /// The other side's URL (public-public), or none ("I don't have a URL").
    pub peer_url: Option<String>,
    /// How long the code stays valid, in seconds.
    pub valid_for: u64,
}

/// Records a pending connection and returns it with its invitation code.
pub fn initiate(
    store: &Store,
    node_name: &str,
    public_url: Option<&str>,
    tls_fingerprint: Option<String>,
    existing: &[Connection],
    opts: InitiateOptions,
) -> Result<(Connection, String), ConnectionError> {
    let url = public_url.ok_or(ConnectionError::NoPublicUrl)?;
    if existing.iter().any(|c| c.name == opts.name) {
        return Err(ConnectionError::NameTaken(opts.name));
    }
    let key = ConnectionKey::generate();
    let secret = random_hex(32);
    let expires = now_secs() + opts.valid_for;
    let conn = Connection {
        id: random_hex(16),
        name: opts.name,
        project: opts.project,
        trigger: opts.trigger,
        side: Side::Public,
        peer: None,
        peer_url: opts.peer_url.clone(),
        mode: Mode::Basic,
        state: State::Pending,
        initiator: true,
        created: now_rfc3339(),
        rules_sha256: None,
    };
    let invitation = Invitation {
        connection: conn.id.clone(),
        initiator: node_name.into(),
        url: url.into(),
        engine: ENGINE_VERSION.into(),
        protocols: PROTOCOLS.to_vec(),
        public_key: key.public(),
        tls_fingerprint,
        secret: secret.clone(),
        expires,
        public_public: opts.peer_url.is_some(),
    };
    let code = invitation.encode(&key);
    let secrets = Secrets {
        own_key: key.seed_hex(),
        peer_key: None,
        invitation: Some(Issued {
            secret,
            expires,
            used_by: None,
        }),
        pinned_tls: None,
    };
    save(store, &conn, &secrets)?;
    Ok((conn, code))
}

/// The acceptance the private side sends to the initiator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acceptance {
    pub connection: String,
    pub acceptor: String,
    pub public_key: String,
    /// HMAC of the code's secret over the connection id and this key.
    pub proof: String,
    /// Where the acceptor serves (public-public only).
    pub url: Option<String>,
    pub engine: String,
    pub protocols: Vec<u32>,
}

/// The initiator's answer to an acceptance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub initiator: String,
    pub engine: String,
}

/// What accept needs from the admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceptOptions {
    pub code: String,
    /// Plain HTTP to a peer off loopback is allowed (`--insecure`).
    #[serde(default)]
    pub insecure: bool,
    pub name: Option<String>,
    pub project: String,
    pub trigger: Option<crate::sync::Query>,
}

/// The accepting side's first half: checks the code, makes (or, on a retry,
/// reuses) this side's key, and saves the pending connection before any
/// network call, so a lost answer can be completed by running accept again.
pub fn prepare_accept(
    store: &Store,
    node_name: &str,
    public_url: Option<&str>,
    existing: &[Connection],
    opts: &AcceptOptions,
) -> Result<(Connection, Acceptance, Invitation), ConnectionError> {
    let invitation = Invitation::decode(&opts.code)?;
    if let Some(own) = existing
        .iter()
        .find(|c| c.id == invitation.connection && c.initiator)
    {
        return Err(ConnectionError::OwnCode(own.name.clone()));
    }
    if !invitation.protocols.iter().any(|p| PROTOCOLS.contains(p)) {
        return Err(ConnectionError::Incompatible {
            engine: invitation.engine,
            theirs: invitation.protocols,
            ours: PROTOCOLS.to_vec(),
        });
    }
    let retry = existing.iter().find(|c| c.id == invitation.connection);
    if retry.is_none() && invitation.expires < now_secs() {
        return Err(ConnectionError::Expired(rfc3339(invitation.expires)));
    }
    let url = match (invitation.public_public, public_url) {
        (true, None) => return Err(ConnectionError::AcceptorNeedsUrl),
        (true, Some(url)) => Some(url.to_string()),
        (false, _) => None,
    };
    let (conn, key) = match retry {
        Some(conn) => {
            let secrets = secrets(store, &conn.id)?.unwrap_or_default();
            let key = ConnectionKey::from_seed_hex(&secrets.own_key)
                .ok_or_else(|| db("this connection's key is unreadable"))?;
            (conn.clone(), key)
        }
        None => {
            let name = opts
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", invitation.initiator, node_name));
            if existing.iter().any(|c| c.name == name) {
                return Err(ConnectionError::NameTaken(name));
            }
            let conn = Connection {
                id: invitation.connection.clone(),
                name,
                project: opts.project.clone(),
                trigger: opts.trigger.clone(),
                side: if invitation.public_public {
                    Side::Public
                } else {
                    Side::Private
                },
                peer: Some(invitation.initiator.clone()),
                peer_url: Some(invitation.url.clone()),
                mode: Mode::Basic,
                state: State::Pending,
                initiator: false,
                created: now_rfc3339(),
                rules_sha256: None,
            };
            let key = ConnectionKey::generate();
            let secrets = Secrets {
                own_key: key.seed_hex(),
                peer_key: Some(invitation.public_key.clone()),
                invitation: None,
                pinned_tls: invitation.tls_fingerprint.clone(),
            };
            save(store, &conn, &secrets)?;
            (conn, key)
        }
    };
    let acceptance = Acceptance {
        connection: conn.id.clone(),
        acceptor: node_name.into(),
        public_key: key.public(),
        proof: proof(&invitation.secret, &conn.id, &key.public()),
        url,
        engine: ENGINE_VERSION.into(),
        protocols: PROTOCOLS.to_vec(),
    };
    Ok((conn, acceptance, invitation))
}

/// The initiator's half: checks the acceptance against the invitation it
/// issued and, when it holds, records the peer and activates the connection.
pub fn accept_answer(
    store: &Store,
    node_name: &str,
    existing: &[Connection],
    acceptance: &Acceptance,
) -> Result<Welcome, ConnectionError> {
    let unknown = || ConnectionError::UnknownInvitation(acceptance.connection.clone());
    let conn = existing
        .iter()
        .find(|c| c.id == acceptance.connection && c.initiator)
        .ok_or_else(unknown)?;
    let mut secrets = secrets(store, &conn.id)?.ok_or_else(unknown)?;
    let issued = secrets.invitation.clone().ok_or_else(unknown)?;
    let expected = proof(&issued.secret, &conn.id, &acceptance.public_key);
    if !constant_time_eq(expected.as_bytes(), acceptance.proof.as_bytes()) {
        return Err(ConnectionError::BadProof);
    }
    match &issued.used_by {
        Some(key) if *key == acceptance.public_key => {}
        Some(_) => return Err(ConnectionError::AlreadyUsed),
        None if issued.expires < now_secs() => {
            return Err(ConnectionError::Expired(rfc3339(issued.expires)));
        }
        None => {}
    }
    if !acceptance.protocols.iter().any(|p| PROTOCOLS.contains(p)) {
        return Err(ConnectionError::Incompatible {
            engine: acceptance.engine.clone(),
            theirs: acceptance.protocols.clone(),
            ours: PROTOCOLS.to_vec(),
        });
    }
    let mut conn = conn.clone();
    conn.peer = Some(acceptance.acceptor.clone());
    if conn.state == State::Pending {
        conn.state = State::Active;
    }
    if conn.peer_url.is_some() {
        conn.peer_url = acceptance.url.clone().or(conn.peer_url);
    }
    secrets.peer_key = Some(acceptance.public_key.clone());
    secrets.invitation = Some(Issued {
        used_by: Some(acceptance.public_key.clone()),
        ..issued
    });
    save(store, &conn, &secrets)?;
    Ok(Welcome {
        initiator: node_name.into(),
        engine: ENGINE_VERSION.into(),
    })
}

fn proof(secret: &str, connection: &str, public_key: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("tandem accept\n{connection}\n{public_key}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Random bytes as hex, from the operating system.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source");
    hex::encode(buf)
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}
