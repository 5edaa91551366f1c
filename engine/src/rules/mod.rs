//! The rules host: the one place that knows wasmtime.
//!
//! Like Spin's `spin-core`, this module narrows wasmtime to what tandem needs.
//! The pipeline calls [`RulesComponent::outgoing`] and
//! [`RulesComponent::incoming`] with [`crate::model`] types and never sees a
//! `Store`. One [`RulesHost`] holds the `Engine` (pooling allocator sized
//! explicitly, epoch interruption driven by a ticker thread); each loaded
//! component is verified, compiled (or taken from the authenticated cache),
//! checked against the import allowlist and the `tandem:rules` world, and kept
//! as an `InstancePre`; every call gets a fresh `Store` with a deadline and a
//! memory cap, so a component cannot carry state from one issue to the next.
//!
//! Owns: loading, verification, limits and calling. Must not touch: trackers,
//! the store, the network.

mod artifact;
mod basic;
mod bindings;
mod cache;
mod error;
mod limits;
mod sandbox;
pub mod signing;

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

pub use artifact::{
    SOURCE_STAMP_SECTION, append_custom_section, check_preamble, custom_section,
    sections as artifact_sections,
};
pub use basic::{BASIC_ARTIFACT, BASIC_NAME, LAST_RESORT_TYPE};
pub use cache::{CacheOutcome, CompileCache};
pub use error::RulesError;
pub use limits::Limits;
pub use signing::TrustedKeys;

use crate::model::{Context, Issue, Replica, Update};
use bindings::{Rules, RulesPre, wit};
use sandbox::Sandbox;

/// The engine every component of a node runs on.
#[derive(Clone)]
pub struct RulesHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    cache: Option<CompileCache>,
}

impl RulesHost {
    /// Builds the engine. `cache` keeps compiled components between runs.
    pub fn new(limits: Limits, cache: Option<CompileCache>) -> Result<Self, RulesError> {
        let host_err = |e: wasmtime::Error| RulesError::Host(format!("{e:#}"));
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            // Only what the cap allows is reserved per memory slot; bounds checks
            // are explicit instead of relying on a 4 GiB guard region.
            .memory_reservation(limits.memory_bytes() as u64)
            .memory_guard_size(64 * 1024)
            .memory_reservation_for_growth(0)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
                limits.pooling(),
            ));
        let engine = Engine::new(&config).map_err(host_err)?;

        let mut linker = Linker::<Sandbox>::new(&engine);
        // Filesystem and sockets come along with the p2 linker, but the import
        // allowlist refuses any component that asks for them before linking,
        // and the context grants neither.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(host_err)?;
        // The contract's types interface carries no functions; components
        // import it only to name the types.
        linker
            .instance(bindings::TYPES_INTERFACE)
            .map_err(host_err)?;

        spawn_epoch_ticker(&engine);
        Ok(RulesHost {
            inner: Arc::new(HostInner {
                engine,
                linker,
                limits,
                cache,
            }),
        })
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Loads a component file. With `trust`, it must be signed by one of those
    /// keys; the signature is checked before anything else reads the bytes.
    pub fn load_file(
        &self,
        path: &Path,
        trust: Option<&TrustedKeys>,
    ) -> Result<RulesComponent, RulesError> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let size = std::fs::metadata(path)
            .map_err(|e| RulesError::rejected(&name, format!("cannot read it: {e}")))?
            .len();
        if size > self.inner.limits.max_component_bytes() as u64 {
            return Err(RulesError::rejected(
                &name,
                format!(
                    "it is {size} bytes, over the {} MiB limit",
                    self.inner.limits.max_component_mib
                ),
            ));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| RulesError::rejected(&name, format!("cannot read it: {e}")))?;
        self.load(&name, &bytes, trust)
    }

    /// Loads a component from bytes; see [`RulesHost::load_file`].
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&TrustedKeys>,
    ) -> Result<RulesComponent, RulesError> {
        let reject = |reason: String| RulesError::rejected(name, reason);
        if bytes.len() > self.inner.limits.max_component_bytes() {
            return Err(reject(format!(
                "it is over the {} MiB limit",
                self.inner.limits.max_component_mib
            )));
        }
        check_preamble(bytes).map_err(reject)?;
        if let Some(trust) = trust {
            trust.verify(bytes).map_err(reject)?;
        }
        let engine = &self.inner.engine;
        let (component, cache) = match &self.inner.cache {
            Some(cache) => cache.get_or_compile(engine, bytes),
            None => Component::new(engine, bytes).map(|c| (c, CacheOutcome::Off)),
        }
        .map_err(|e| reject(format!("it is not a valid component: {}", e.root_cause())))?;

        let refused: Vec<String> = component
            .component_type()
            .imports(engine)
            .filter_map(|(import, _)| sandbox::check_import(import))
            .collect();
        if !refused.is_empty() {
            return Err(reject(refused.join("; ")));
        }
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| reject(format!("it cannot be linked: {}", e.root_cause())))?;
        let pre = RulesPre::new(pre).map_err(|e| {
            reject(format!(
                "it does not implement {}@{} world `rules`: {}",
                bindings::WIT_PACKAGE,
                bindings::WIT_VERSION,
                e.root_cause()
            ))
        })?;
        // Basic and other pure components import nothing but the contract's
        // types; only WASI users need the runtime dance in `off_async`.
        let uses_wasi = component
            .component_type()
            .imports(engine)
            .any(|(import, _)| import != bindings::TYPES_INTERFACE);
        Ok(RulesComponent {
            name: name.to_string(),
            pre,
            host: self.clone(),
            cache,
            uses_wasi,
        })
    }
}

/// Advances the engine's epoch every tick until the engine is gone, so that a
/// call's deadline is wall-clock time without a timer per call.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("tandem-rules-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(limits::EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        });
    if let Err(e) = spawned {
        // Without the ticker no deadline fires; the process is out of threads
        // and a host that cannot stop a runaway rule must not start.
        panic!("cannot start the rules epoch ticker: {e}");
    }
}

/// What a rule printed during a call, alongside the call's result.
#[derive(Debug)]
pub struct Call<T> {
    pub result: Result<T, RulesError>,
    /// The rule's stdout and stderr (capped), shown by `tandem rules test`.
    pub log: String,
}

/// A verified, compiled, linked rules component, ready to be called.
#[derive(Clone)]
pub struct RulesComponent {
    name: String,
    pre: RulesPre<Sandbox>,
    host: RulesHost,
    cache: CacheOutcome,
    uses_wasi: bool,
}

impl RulesComponent {
    /// The name errors use for this component (`basic`, or the file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the compile cache did when this component was loaded.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// Builds the replica of a local issue.
    pub fn outgoing(&self, ctx: &Context, issue: &Issue) -> Result<Replica, RulesError> {
        self.outgoing_logged(ctx, issue).result
    }

    /// Decides what to set here from a replica of the other side's issue.
    pub fn incoming(
        &self,
        ctx: &Context,
        replica: &Replica,
        previous: Option<&Replica>,
        local: Option<&Issue>,
    ) -> Result<Update, RulesError> {
        self.incoming_logged(ctx, replica, previous, local).result
    }

    /// [`RulesComponent::outgoing`], keeping what the rule printed.
    pub fn outgoing_logged(&self, ctx: &Context, issue: &Issue) -> Call<Replica> {
        let ctx = wit::Context::from(ctx);
        let issue = wit::Issue::from(issue);
        self.call("outgoing", |rules, store| {
            rules.call_outgoing(store, &ctx, &issue)
        })
    }

    /// [`RulesComponent::incoming`], keeping what the rule printed.
    pub fn incoming_logged(
        &self,
        ctx: &Context,
        replica: &Replica,
        previous: Option<&Replica>,
        local: Option<&Issue>,
    ) -> Call<Update> {
        let ctx = wit::Context::from(ctx);
        let replica = wit::Replica::from(replica);
        let previous = previous.map(wit::Replica::from);
        let local = local.map(wit::Issue::from);
        self.call("incoming", |rules, store| {
            rules.call_incoming(store, &ctx, &replica, previous.as_ref(), local.as_ref())
        })
    }

    fn call<W, T>(
        &self,
        export: &'static str,
        f: impl FnOnce(&Rules, &mut Store<Sandbox>) -> wasmtime::Result<Result<W, wit::RuleError>>
        + Send,
    ) -> Call<T>
    where
        T: TryFrom<W, Error = String> + Send,
    {
        if self.uses_wasi {
            off_async(|| self.call_here(export, f))
        } else {
            self.call_here(export, f)
        }
    }

    fn call_here<W, T>(
        &self,
        export: &'static str,
        f: impl FnOnce(&Rules, &mut Store<Sandbox>) -> wasmtime::Result<Result<W, wit::RuleError>>,
    ) -> Call<T>
    where
        T: TryFrom<W, Error = String>,
    {
        let limits = &self.host.inner.limits;
        let mut store = Store::new(&self.host.inner.engine, Sandbox::new(limits.memory_bytes()));
        store.limiter(|sandbox| sandbox as &mut dyn wasmtime::ResourceLimiter);
        store.set_epoch_deadline(limits.deadline_ticks());

        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|rules| f(&rules, &mut store));
        let log = store.data().log();
        let result = match outcome {
            Ok(Ok(value)) => T::try_from(value).map_err(|message| RulesError::Rule {
                component: self.name.clone(),
                export,
                message,
            }),
            Ok(Err(rule_error)) => Err(RulesError::Rule {
                component: self.name.clone(),
                export,
                message: rule_error.message,
            }),
            Err(e) => Err(self.classify(export, e, store.data(), &log)),
        };
        Call { result, log }
    }

    fn classify(
        &self,
        export: &'static str,
        e: wasmtime::Error,
        sandbox: &Sandbox,
        log: &str,
    ) -> RulesError {
        let component = self.name.clone();
        let limits = &self.host.inner.limits;
        if sandbox.hit_memory_cap {
            return RulesError::MemoryCap {
                component,
                export,
                cap: limits.memory_bytes(),
            };
        }
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => RulesError::Deadline {
                component,
                export,
                deadline: limits.deadline(),
            },
            trap => {
                let cause = trap.map_or_else(|| e.root_cause().to_string(), |t| t.to_string());
                // A Rust guest prints its panic message before aborting; that
                // line says far more than "unreachable executed".
                let detail = match panic_message(log) {
                    Some(panic) => format!("{panic} ({cause})"),
                    None => cause,
                };
                RulesError::Trap {
                    component,
                    export,
                    detail,
                }
            }
        }
    }
}

/// Runs `f` where wasmtime-wasi's synchronous bindings may block: they enter a
/// Tokio runtime for stdio, which panics on a thread already driving async
/// tasks. A multi-threaded runtime lends the thread (`block_in_place`); on a
/// current-thread runtime the call goes to a scoped thread.
fn off_async<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// `panicked at src/lib.rs:3:5: boom` from a Rust guest's stderr.
fn panic_message(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let at = lines.iter().position(|l| l.contains("panicked at "))?;
    let head = &lines[at][lines[at].find("panicked at ")?..];
    let message = lines.get(at + 1).map_or("", |m| m.trim());
    Some(
        format!("{} {message}", head.trim_end_matches(':'))
            .trim_end()
            .to_string(),
    )
}
