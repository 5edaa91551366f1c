//! What a rules component may see of the world: nothing that varies.
//!
//! Owns the per-call store data (an inert WASI context, the memory cap, the
//! captured rule log) and the allowlist of imports. A plain Rust guest for
//! `wasm32-wasip2` imports `wasi:cli`, `wasi:io`, `wasi:clocks` and
//! `wasi:random` even when it is pure; those are linked, made deterministic (no
//! env, no args, empty stdin, a fixed clock, a fixed random seed) and nothing
//! else is: a component importing anything beyond the list is refused before it
//! runs, naming the import.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::{ClosedInputStream, MemoryOutputPipe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::TYPES_INTERFACE;

/// Interfaces (by name, without version) a component may import.
const ALLOWED_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
];

/// The WASI major version this host links (`@0.2.x`).
const WASI_VERSION_PREFIX: &str = "0.2.";

/// Every rule sees the same instant: 2026-01-01T00:00:00Z.
const FIXED_EPOCH_SECS: u64 = 1_767_225_600;
/// Every rule sees the same random bytes.
const RANDOM_SEED: &[u8] = b"tandem rules are deterministic";
/// How much a rule may print before the rest is dropped.
const LOG_CAPACITY: usize = 64 * 1024;

/// Why an import is not allowed, or `None` when it is.
pub(crate) fn check_import(name: &str) -> Option<String> {
    if name == TYPES_INTERFACE {
        return None;
    }
    if let Some(version) = name.strip_prefix("tandem:rules/types@") {
        return Some(format!(
            "it targets tandem:rules@{version}; this engine supports tandem:rules@{}",
            super::bindings::WIT_VERSION
        ));
    }
    let (interface, version) = name.split_once('@').unwrap_or((name, ""));
    if ALLOWED_INTERFACES.contains(&interface) && version.starts_with(WASI_VERSION_PREFIX) {
        return None;
    }
    Some(format!(
        "it imports `{name}`, which rules may not use (allowed: wasi:cli, wasi:io, wasi:clocks, wasi:random @0.2)"
    ))
}

/// Store data of one call.
pub(crate) struct Sandbox {
    /// Built on the first WASI call only: a pure component (Basic) never
    /// makes one, and building a context costs more than its whole call.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    log: Option<MemoryOutputPipe>,
    memory_cap: usize,
    /// Set when the guest asked for more memory than the cap, so that the trap
    /// that follows is reported as the cap and not as a generic trap.
    pub(crate) hit_memory_cap: bool,
}

impl Sandbox {
    pub(crate) fn new(memory_cap: usize) -> Self {
        Sandbox {
            wasi: None,
            table: ResourceTable::new(),
            log: None,
            memory_cap,
            hit_memory_cap: false,
        }
    }

    /// What the rule printed on stdout and stderr, lossily decoded.
    pub(crate) fn log(&self) -> String {
        self.log
            .as_ref()
            .map(|log| String::from_utf8_lossy(&log.contents()).into_owned())
            .unwrap_or_default()
    }
}

/// No env, no args, no stdin, no network; output into `log`; one instant and
/// one stream of random bytes for every call.
fn inert_context(log: &MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder()
        .stdin(ClosedInputStream)
        .stdout(log.clone())
        .stderr(log.clone())
        .wall_clock(FixedClock)
        .monotonic_clock(FixedClock)
        .secure_random(wasmtime_wasi::Deterministic::new(RANDOM_SEED.to_vec()))
        .insecure_random(wasmtime_wasi::Deterministic::new(RANDOM_SEED.to_vec()))
        .insecure_random_seed(0x7a6e_6465_6d00)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let log = &mut self.log;
        let ctx = self.wasi.get_or_insert_with(|| {
            let pipe = MemoryOutputPipe::new(LOG_CAPACITY);
            let ctx = inert_context(&pipe);
            *log = Some(pipe);
            ctx
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl wasmtime::ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit_memory_cap = true;
            // Trapping here (rather than failing the grow) stops the guest at
            // once instead of letting its allocator abort with a vaguer message.
            return Err(wasmtime::Error::msg("memory cap reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The one instant and the one monotonic reading every rule sees.
struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_EPOCH_SECS)
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::check_import;

    #[test]
    fn wasi_cli_and_io_are_allowed_filesystem_and_sockets_are_not() {
        assert!(check_import("wasi:cli/environment@0.2.6").is_none());
        assert!(check_import("wasi:io/streams@0.2.0").is_none());
        assert!(check_import("tandem:rules/types@1.0.0").is_none());
        let fs = check_import("wasi:filesystem/preopens@0.2.6").unwrap();
        assert!(fs.contains("wasi:filesystem/preopens@0.2.6"), "{fs}");
        assert!(check_import("wasi:sockets/tcp@0.2.6").is_some());
        assert!(check_import("wasi:http/outgoing-handler@0.2.6").is_some());
        // The right interface at another WASI major is not what we link.
        assert!(check_import("wasi:cli/stdout@0.3.0").is_some());
        let v2 = check_import("tandem:rules/types@2.0.0").unwrap();
        assert!(v2.contains("tandem:rules@2.0.0"), "{v2}");
    }
}
