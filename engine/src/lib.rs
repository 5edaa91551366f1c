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
//! - [`tracker`]: the `Tracker` trait and the connectors; `local` is the
//!   embedded tracker kept in the node's own database.
//! - [`store`]: the node's redb file and its schema version.
//! - [`sync`]: the pipeline — watcher, outgoing, outbox, inbox, incoming,
//!   apply, twins, intents — driven through the `Transport` trait.
//! - [`rules`]: the rules host. Loads, verifies and sandboxes components
//!   (the Basic one is embedded and signed) and calls `outgoing` / `incoming`.
//!   The only module that knows wasmtime.
//! - [`cli`]: the `tandem` command line, one file per command group. Parses
//!   arguments, calls into the library, prints; no sync logic lives there.
//!
//! Still to come, each in its own module as DESIGN.md names them: the
//! `jira` and `redmine` connectors, `connection`
//! (invitations), `transport` (public server, private client) and `admin`
//! (the local socket).

pub mod cli;
pub mod config;
pub mod model;
pub mod rules;
pub mod store;
pub mod sync;
pub mod tracker;

mod failpoint;
