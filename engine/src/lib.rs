//! tandem keeps issues in two trackers in sync across two organisations. Each
//! side runs a node next to its tracker; sync rules are WebAssembly components.
//!
//! # Layout, in the order data flows
//!
//! ```text
//! tracker A --watch--> outgoing rules --> replica --> outbox ==HTTP==> inbox
//!     --> incoming rules --> update --> apply to tracker B --> twins
//! ```
//!
//! - [`model`]: the words as data — `Issue`, `Replica`, `Update`, `Context`.
//!   One definition each; every other module speaks these.
//! - [`config`]: a node's data dir and `tandem.toml`.
//! - [`tracker`]: the `Tracker` trait and the connectors: `local` (the
//!   embedded tracker kept in the node's own database), `jira` (Server/Data
//!   Center REST v2) and `redmine`; `any` is the one a node's config names.
//! - [`store`]: the node's redb file and its schema version.
//! - [`sync`]: the pipeline — watcher, outgoing, outbox, inbox, incoming,
//!   apply, twins, intents — driven through the `Transport` trait.
//! - [`rules`]: the rules host. Loads, verifies and sandboxes components
//!   (the Basic one is embedded and signed) and calls `outgoing` / `incoming`.
//!   The only module that knows wasmtime.
//! - [`connection`]: invitation codes, the handshake's two halves, states,
//!   and each side's per-connection key.
//! - [`transport`]: the wire — the public side's HTTP server, the calling
//!   side's client and link loops, request/response signatures, TLS.
//! - [`node`]: a node opened on its data dir, and `tandem serve`'s loops.
//! - [`admin`]: the local socket through which commands reach a running node.
//! - [`cli`]: the `tandem` command line, one file per command group. Parses
//!   arguments into requests, answers them on a node, prints; no sync logic
//!   lives there.

pub mod admin;
pub mod cli;
pub mod config;
pub mod connection;
pub mod model;
pub mod node;
pub mod rules;
pub mod store;
pub mod sync;
pub mod tracker;
pub mod transport;

mod failpoint;
