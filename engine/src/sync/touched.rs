//! Which local issues the apply path wrote to, and when: lets the watcher
//! read issues while applies run, and read again only those an apply wrote
//! to meanwhile. Owns an in-memory log; nothing on disk.
//!
//! The watcher decides under `SyncNode::writing` held alone, after every
//! apply in flight has recorded its twins and marked its issue here. So an
//! issue read before or during an apply is read again before the decision,
//! and the sync's own write never goes back to the peer as a local change
//! (on a tracker with no sync marks, Redmine, not even as a new issue).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct Touched {
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    generation: u64,
    issues: HashMap<String, u64>,
}

impl Touched {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the log stands now: what is marked later is newer than this.
    pub(super) fn now(&self) -> u64 {
        self.log().generation
    }

    /// The apply path is done writing to `issue`.
    pub(super) fn mark(&self, issue: &str) {
        let mut log = self.log();
        log.generation += 1;
        let generation = log.generation;
        log.issues.insert(issue.to_string(), generation);
    }

    /// Whether an apply finished writing to `issue` after `since`.
    pub(super) fn since(&self, issue: &str, since: u64) -> bool {
        self.log().issues.get(issue).is_some_and(|g| *g > since)
    }

    /// Forgets marks no pass can still ask about (passes run one at a time).
    pub(super) fn forget_until(&self, until: u64) {
        self.log().issues.retain(|_, g| *g > until);
    }
}

/// Marks its issue when dropped: however an apply ends (done, failed half
/// way, cancelled), what it wrote counts as written.
pub(super) struct Marker<'a> {
    touched: &'a Touched,
    pub(super) issue: Option<String>,
}

impl<'a> Marker<'a> {
    pub(super) fn new(touched: &'a Touched) -> Self {
        Marker {
            touched,
            issue: None,
        }
    }
}

impl Drop for Marker<'_> {
    fn drop(&mut self) {
        if let Some(issue) = &self.issue {
            self.touched.mark(issue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_written_after_a_snapshot_is_seen_and_forgotten_later() {
        let touched = Touched::default();
        touched.mark("OPS-1");
        let since = touched.now();
        assert!(
            !touched.since("OPS-1", since),
            "written before the snapshot"
        );
        {
            let mut marker = Marker::new(&touched);
            marker.issue = Some("OPS-2".into());
            assert!(!touched.since("OPS-2", since), "still being written");
        }
        assert!(
            touched.since("OPS-2", since),
            "done writing after the snapshot"
        );
        touched.forget_until(touched.now());
        assert!(
            !touched.since("OPS-2", since),
            "forgotten once no pass can ask"
        );
    }
}
