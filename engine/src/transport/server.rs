//! The public side's HTTP server (axum): the handshake, pushed messages,
//! attachment uploads, long-polls and attachment downloads. Every answer to a
//! signed request is signed with this side's connection key, bound to the
//! request's nonce.
//!
//! A caller is served only on the connection its signature proves it is the
//! peer of; envelopes naming another connection are refused. Bodies are read
//! only after the signature over their claimed digest holds.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::auth::{self, AuthError, SignedHeaders};
use super::{
    Ack, Blobs, LONG_POLL_MAX_MS, MAX_BATCH, MAX_HANDSHAKE_BYTES, MAX_MESSAGE_BYTES, Messages,
    PREFIX, Refusal,
};
use crate::connection::{self, Acceptance, ConnectionKey, State as ConnState};
use crate::node::Node;
use crate::sync::Connection;

/// The routes, under [`PREFIX`].
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/accept"), post(accept))
        .route(&format!("{PREFIX}/messages"), post(push).get(long_poll))
        .route(&format!("{PREFIX}/blobs/missing"), post(missing))
        .route(&format!("{PREFIX}/blobs/{{sha}}"), put(upload))
        .route(
            &format!("{PREFIX}/attachments/{{issue}}/{{attachment}}"),
            get(download),
        )
        .with_state(node)
}

/// A request whose signature held.
struct Caller {
    conn: Connection,
    key: ConnectionKey,
    headers: SignedHeaders,
}

impl Caller {
    /// A signed answer.
    fn answer(&self, status: StatusCode, body: Vec<u8>, content_type: &str) -> Response {
        sign_answer(&self.key, &self.headers.nonce, status, body, content_type)
    }

    fn json(&self, status: StatusCode, value: &impl serde::Serialize) -> Response {
        self.answer(
            status,
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        )
    }

    fn refuse(&self, status: StatusCode, message: impl Into<String>) -> Response {
        self.json(
            status,
            &Refusal {
                error: message.into(),
            },
        )
    }
}

fn sign_answer(
    key: &ConnectionKey,
    nonce: &str,
    status: StatusCode,
    body: Vec<u8>,
    content_type: &str,
) -> Response {
    let (digest, signature) = auth::sign_response(key, status.as_u16(), &body, nonce);
    (
        status,
        [
            ("content-type", content_type.to_string()),
            (auth::H_DIGEST, digest),
            (auth::H_SIGNATURE, signature),
        ],
        body,
    )
        .into_response()
}

/// An unsigned refusal: the caller could not be told apart from a stranger.
fn unsigned(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(Refusal {
            error: message.into(),
        }),
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AuthError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing(name))
}

fn signed_headers(headers: &HeaderMap) -> Result<SignedHeaders, AuthError> {
    Ok(SignedHeaders {
        connection: header(headers, auth::H_CONNECTION)?.into(),
        timestamp: header(headers, auth::H_TIMESTAMP)?
            .parse()
            .map_err(|_| AuthError::Missing(auth::H_TIMESTAMP))?,
        nonce: header(headers, auth::H_NONCE)?.into(),
        digest: header(headers, auth::H_DIGEST)?.into(),
        signature: header(headers, auth::H_SIGNATURE)?.into(),
    })
}

/// Checks who calls: the connection must exist here, be accepted, and the
/// signature must be its peer's; then freshness.
fn authenticate(
    node: &Node,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    let signed =
        signed_headers(headers).map_err(|e| unsigned(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let unknown = || unsigned(StatusCode::UNAUTHORIZED, "unknown connection or wrong key");
    let sync = node
        .sync()
        .map_err(|e| unsigned(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let conn = sync
        .connections()
        .map_err(|e| unsigned(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .into_iter()
        .find(|c| c.id == signed.connection)
        .ok_or_else(unknown)?;
    let secrets = connection::secrets(&node.store, &conn.id)
        .map_err(|e| unsigned(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .ok_or_else(unknown)?;
    let peer_key = secrets.peer_key.ok_or_else(unknown)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    auth::verify_request(&peer_key, method.as_str(), path, &signed).map_err(|_| unknown())?;
    node.freshness
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(&conn.id, signed.timestamp, &signed.nonce)
        .map_err(|e| unsigned(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let key = ConnectionKey::from_seed_hex(&secrets.own_key).ok_or_else(unknown)?;
    let caller = Caller {
        conn,
        key,
        headers: signed,
    };
    if caller.conn.state == ConnState::Deactivated {
        return Err(caller.refuse(
            StatusCode::CONFLICT,
            "the connection is deactivated on the other side; changes queue until its admin runs `tandem connection activate`",
        ));
    }
    Ok(caller)
}

/// Reads a body of at most `cap` bytes and checks it against the signed digest.
async fn body_of(caller: &Caller, body: Body, cap: usize) -> Result<Bytes, Response> {
    let bytes = axum::body::to_bytes(body, cap).await.map_err(|_| {
        caller.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over the {cap}-byte limit"),
        )
    })?;
    if auth::sha256_hex(&bytes) != caller.headers.digest {
        return Err(caller.refuse(StatusCode::BAD_REQUEST, AuthError::Digest.to_string()));
    }
    Ok(bytes)
}

async fn accept(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(signed) = signed_headers(&headers) else {
        return unsigned(StatusCode::UNAUTHORIZED, "the acceptance is not signed");
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_HANDSHAKE_BYTES).await else {
        return unsigned(StatusCode::PAYLOAD_TOO_LARGE, "the acceptance is too large");
    };
    let Ok(acceptance) = serde_json::from_slice::<Acceptance>(&bytes) else {
        return unsigned(StatusCode::BAD_REQUEST, "the acceptance does not read");
    };
    // The acceptor proves it holds the key it names, and (by the proof inside)
    // the code; the answer comes signed by the key the code carried.
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    if auth::sha256_hex(&bytes) != signed.digest
        || auth::verify_request(&acceptance.public_key, method.as_str(), path, &signed).is_err()
    {
        return unsigned(
            StatusCode::UNAUTHORIZED,
            "the acceptance's signature does not match",
        );
    }
    if let Err(e) = node
        .freshness
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(&acceptance.connection, signed.timestamp, &signed.nonce)
    {
        return unsigned(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let Ok(sync) = node.sync() else {
        return unsigned(StatusCode::SERVICE_UNAVAILABLE, "the node is starting");
    };
    let existing = sync.connections().unwrap_or_default();
    let outcome = connection::accept_answer(&node.store, &node.config.name, &existing, &acceptance);
    let own_key = connection::secrets(&node.store, &acceptance.connection)
        .ok()
        .flatten()
        .and_then(|s| ConnectionKey::from_seed_hex(&s.own_key));
    let Some(key) = own_key else {
        return unsigned(
            StatusCode::NOT_FOUND,
            connection::ConnectionError::UnknownInvitation(acceptance.connection).to_string(),
        );
    };
    match outcome {
        Ok(welcome) => {
            tracing::info!(
                connection = acceptance.connection,
                peer = acceptance.acceptor,
                "invitation accepted"
            );
            node.signals.bump_connections();
            sign_answer(
                &key,
                &signed.nonce,
                StatusCode::OK,
                serde_json::to_vec(&welcome).unwrap_or_default(),
                "application/json",
            )
        }
        Err(e) => {
            let status = match e {
                connection::ConnectionError::AlreadyUsed => StatusCode::CONFLICT,
                connection::ConnectionError::Expired(_) => StatusCode::GONE,
                connection::ConnectionError::BadProof => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            let body = serde_json::to_vec(&Refusal {
                error: e.to_string(),
            })
            .unwrap_or_default();
            sign_answer(&key, &signed.nonce, status, body, "application/json")
        }
    }
}

async fn push(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match authenticate(&node, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let bytes = match body_of(&caller, body, MAX_MESSAGE_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(messages) = serde_json::from_slice::<Messages>(&bytes) else {
        return caller.refuse(StatusCode::BAD_REQUEST, "the messages do not read");
    };
    if messages.envelopes.len() > MAX_BATCH {
        return caller.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_BATCH} messages per request"),
        );
    }
    if let Some(stray) = messages
        .envelopes
        .iter()
        .find(|e| e.connection != caller.conn.id)
    {
        return caller.refuse(
            StatusCode::FORBIDDEN,
            format!(
                "message for connection `{}`, which is not this caller's",
                stray.connection
            ),
        );
    }
    let received = node
        .sync()
        .map_err(|e| e.to_string())
        .and_then(|s| s.receive(&messages.envelopes).map_err(|e| e.to_string()));
    match received {
        Ok(ack) => {
            node.record_exchange(&caller.conn.id, Ok(()));
            node.signals.inbox.notify_one();
            caller.json(StatusCode::OK, &Ack { ack })
        }
        Err(e) => caller.refuse(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
struct PollQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

async fn long_poll(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<PollQuery>,
) -> Response {
    let caller = match authenticate(&node, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let sync = match node.sync() {
        Ok(s) => s,
        Err(e) => return caller.refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    // The caller holds everything up to `after` durably: that is its ack.
    if let Err(e) = sync.acked(&caller.conn.id, q.after) {
        return caller.refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    node.record_exchange(&caller.conn.id, Ok(()));
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(q.wait_ms.min(LONG_POLL_MAX_MS));
    let mut outbox = node.signals.outbox.subscribe();
    let mut shutdown = node.signals.shutdown.subscribe();
    loop {
        outbox.borrow_and_update();
        // Deactivated (or deleted) while this poll waited: nothing crosses.
        let still_active = sync.connections().is_ok_and(|all| {
            all.iter()
                .any(|c| c.id == caller.conn.id && c.state == ConnState::Active)
        });
        if !still_active {
            break;
        }
        match sync.outbox(&caller.conn.id, MAX_BATCH) {
            Ok(envelopes) if !envelopes.is_empty() => {
                return caller.json(StatusCode::OK, &Messages { envelopes });
            }
            Ok(_) => {}
            Err(e) => return caller.refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = outbox.changed() => {}
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    caller.json(
        StatusCode::OK,
        &Messages {
            envelopes: Vec::new(),
        },
    )
}

async fn missing(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match authenticate(&node, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let bytes = match body_of(&caller, body, MAX_HANDSHAKE_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(asked) = serde_json::from_slice::<Blobs>(&bytes) else {
        return caller.refuse(StatusCode::BAD_REQUEST, "the list does not read");
    };
    let sha256 = asked
        .sha256
        .into_iter()
        .filter(|s| !node.blobs.has(s))
        .collect();
    caller.json(StatusCode::OK, &Blobs { sha256 })
}

async fn upload(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(sha): Path<String>,
    body: Body,
) -> Response {
    let caller = match authenticate(&node, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if caller.headers.digest != sha {
        return caller.refuse(
            StatusCode::BAD_REQUEST,
            "the upload's digest does not name its blob",
        );
    }
    let cap = node.config.max_attachment_bytes();
    match node.blobs.write(&sha, body.into_data_stream(), cap).await {
        Ok(()) => caller.json(StatusCode::OK, &serde_json::json!({ "stored": sha })),
        Err(e) => caller.refuse(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn download(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path((issue, attachment)): Path<(String, String)>,
) -> Response {
    let caller = match authenticate(&node, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let served = match node.sync() {
        Ok(sync) => sync
            .serve_attachment(&caller.conn.id, &issue, &attachment)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match served {
        Ok(bytes) if bytes.len() as u64 > node.config.max_attachment_bytes() => caller.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the attachment is over this node's size limit",
        ),
        Ok(bytes) => caller.answer(StatusCode::OK, bytes, "application/octet-stream"),
        Err(e) => caller.refuse(StatusCode::NOT_FOUND, e),
    }
}
