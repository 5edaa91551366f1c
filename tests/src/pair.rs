//! Two nodes with `local` trackers in one process, wired by the in-process
//! transport: the fixture of the pipeline tests, the crash-test child and the
//! bulk benchmark.

use std::path::Path;
use std::sync::Arc;

use tandem::model::Side;
use tandem::rules::{Limits, RulesComponent, RulesHost};
use tandem::store::Store;
use tandem::sync::{Connection, InProcess, Query, SyncNode};
use tandem::tracker::TrackedIssue;
use tandem::tracker::local::LocalTracker;

/// The connection id both nodes share.
pub const CONN: &str = "acme-globex";

pub type Node = Arc<SyncNode<LocalTracker>>;

/// How the pair is set up: A syncs project OPS (Bug, Task, Epic) by trigger;
/// B receives into SUP.
pub struct Spec<'a> {
    pub b_types: &'a [&'a str],
    pub b_default: Option<&'a str>,
    /// A's rules; Basic when `None`.
    pub a_rules: Option<RulesComponent>,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            b_types: &["Bug", "Task", "Story"],
            b_default: Some("Story"),
            a_rules: None,
        }
    }
}

pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub to_b: InProcess<LocalTracker>,
    pub to_a: InProcess<LocalTracker>,
}

#[allow(clippy::too_many_arguments)]
fn node(
    dir: &Path,
    name: &str,
    project: &str,
    types: &[&str],
    default: Option<&str>,
    trigger: Option<&str>,
    rules: RulesComponent,
) -> Node {
    let store = Store::open(&dir.join("tandem.redb")).expect("store");
    let tracker = LocalTracker::new(store.clone(), &dir.join("attachments"), name);
    if !tracker
        .projects()
        .expect("projects")
        .iter()
        .any(|p| p.key == project)
    {
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        tracker
            .create_project(project, &types, default)
            .expect("project");
    }
    let node = SyncNode::new(name, store, tracker, rules);
    node.add_connection(&Connection {
        id: CONN.into(),
        name: format!("{name}-side"),
        project: project.into(),
        trigger: trigger.map(|t| Query::parse(t).expect("trigger")),
        side: Side::Public,
        ..Default::default()
    })
    .expect("connection");
    Arc::new(node)
}

impl Pair {
    /// Opens the two nodes in `a_dir` and `b_dir`, creating what is missing.
    pub fn open(a_dir: &Path, b_dir: &Path, spec: Spec) -> Pair {
        let host = RulesHost::new(Limits::default(), None).expect("rules host");
        let basic = host.load_basic().expect("basic");
        let a_rules = spec.a_rules.unwrap_or_else(|| basic.clone());
        let a = node(
            a_dir,
            "acme",
            "OPS",
            &["Bug", "Task", "Epic"],
            None,
            Some("project = OPS"),
            a_rules,
        );
        let b = node(
            b_dir,
            "globex",
            "SUP",
            spec.b_types,
            spec.b_default,
            None,
            basic,
        );
        Pair {
            to_b: InProcess::new(b.clone()),
            to_a: InProcess::new(a.clone()),
            a,
            b,
        }
    }

    /// Runs both pipelines until nothing moves; returns the rounds it took.
    pub async fn settle(&self) -> usize {
        for round in 1..=50 {
            let mut moved = self.a.poll().await.expect("A polls").queued;
            moved += self.a.push(CONN, &self.to_b).await.expect("A pushes");
            moved += self
                .b
                .apply_inbox(&self.to_a)
                .await
                .expect("B applies")
                .applied;
            moved += self.b.poll().await.expect("B polls").queued;
            moved += self.b.push(CONN, &self.to_a).await.expect("B pushes");
            moved += self
                .a
                .apply_inbox(&self.to_b)
                .await
                .expect("A applies")
                .applied;
            if moved == 0 {
                return round;
            }
        }
        panic!("the pair did not settle in 50 rounds (an echo loop?)");
    }

    /// B's twin of an issue of A.
    pub fn twin_on_b(&self, a_issue: &TrackedIssue) -> TrackedIssue {
        let id = self
            .b
            .local_twin_of(CONN, &a_issue.id)
            .expect("store")
            .expect("a twin on B");
        self.b.tracker().find(&id).expect("B's twin exists")
    }
}
