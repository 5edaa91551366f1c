//! The limits every rules call runs under, and how they size wasmtime's pooling
//! allocator. Defaults follow DESIGN.md: 100 ms deadline, 64 MiB of memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the host advances wasmtime's epoch; deadlines are whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Limits of the rules host; part of the node config (`[rules]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time one export call may take, in milliseconds.
    pub deadline_ms: u64,
    /// Linear memory one instance may grow to, in MiB.
    pub memory_mib: usize,
    /// Instances that may be live at once (the pool's size).
    pub max_instances: u32,
    /// Largest component file accepted, in MiB.
    pub max_component_mib: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 100,
            memory_mib: 64,
            max_instances: 32,
            max_component_mib: 32,
        }
    }
}

impl Limits {
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    pub fn memory_bytes(&self) -> usize {
        self.memory_mib * 1024 * 1024
    }

    pub fn max_component_bytes(&self) -> usize {
        self.max_component_mib * 1024 * 1024
    }

    /// Epoch ticks that make up the deadline, rounded up, plus one because the
    /// current tick may be nearly over when the call starts.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis() as u64;
        self.deadline_ms.div_ceil(tick) + 1
    }

    /// Sizes the pooling allocator explicitly: its defaults reserve terabytes of
    /// virtual memory. A rules component is a handful of core instances (a
    /// wasip2 guest brings an adapter and its shims) with one memory each.
    pub(crate) fn pooling(&self) -> wasmtime::PoolingAllocationConfig {
        let per_component_instances = 16;
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(self.max_instances)
            .total_core_instances(self.max_instances * per_component_instances)
            .total_memories(self.max_instances * 2)
            .total_tables(self.max_instances * per_component_instances)
            .total_stacks(self.max_instances)
            .max_core_instances_per_component(per_component_instances)
            .max_memories_per_component(4)
            .max_tables_per_component(per_component_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(2)
            .table_elements(20_000)
            .max_memory_size(self.memory_bytes())
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Reset a small guest's pages with memset instead of returning
            // them to the kernel: refaulting them costs more than the call.
            .linear_memory_keep_resident(128 * 1024)
            .table_keep_resident(64 * 1024);
        pool
    }
}
