//! The latency figure of BENCHMARKS.md: change-to-arrival on a private
//! connection over loopback, two `tandem serve` processes with `local`
//! trackers, p50/p99 over 1,000 changes, idle and while a 5,000-issue
//! `sync --all` runs (rounds of fresh 5,000-issue bulks until 1,000 changes
//! were measured during them). A change is a summary edit on A (through its
//! admin socket); it has arrived when B's twin shows it.
//!
//! `cargo build --release -p tandem && cargo bench -p tandem-tests --bench latency [-- CHANGES]`

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tandem::admin::{self, Request};
use tandem::cli::issue::IssueRequest;
use tandem::cli::sync::SyncRequest;
use tandem::config::DataDir;
use tandem::tracker::{FieldChanges, NewIssue};
use tandem_tests::node::NodeProc;

const TRACKED: usize = 40;
const BULK: usize = 5_000;
/// Changes in flight at once (each on its own issue).
const IN_FLIGHT: usize = 8;
/// At most this many bulk rounds.
const ROUNDS: usize = 12;

fn call(data: &Path, request: Request) -> serde_json::Value {
    let dir = DataDir::new(Some(data.to_path_buf())).unwrap();
    admin::run(&dir, request, true)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .value
}

fn create(data: &Path, project: &str, summary: &str) -> String {
    let new = NewIssue {
        project: project.into(),
        issue_type: "Bug".into(),
        summary: summary.into(),
        description: "d".into(),
        ..Default::default()
    };
    call(data, Request::Issue(IssueRequest::Create(new)))["key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn summary_on(data: &Path, key: &str) -> String {
    call(data, Request::Issue(IssueRequest::Show { key: key.into() }))["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Makes `changes` edits on A's tracked issues, at most IN_FLIGHT at once,
/// while `keep_going` holds; the change-to-arrival time of each.
fn measure(
    a: &Path,
    b: &Path,
    pairs: &[(String, String)],
    changes: usize,
    round: &str,
    keep_going: &dyn Fn() -> bool,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut flying: HashMap<usize, (String, Instant)> = HashMap::new();
    let mut next = 0usize;
    let mut made = 0usize;
    while out.len() < changes {
        if flying.len() < IN_FLIGHT && made < changes && keep_going() {
            let idx = next % pairs.len();
            next += 1;
            if !flying.contains_key(&idx) {
                let summary = format!("tracked {idx} {round} change {made}");
                let changes = FieldChanges {
                    summary: Some(summary.clone()),
                    ..Default::default()
                };
                call(
                    a,
                    Request::Issue(IssueRequest::Edit {
                        key: pairs[idx].0.clone(),
                        changes,
                    }),
                );
                flying.insert(idx, (summary, Instant::now()));
                made += 1;
            }
        }
        if flying.is_empty() && (!keep_going() || made >= changes) {
            break;
        }
        let arrived: Vec<usize> = flying
            .iter()
            .filter(|(idx, (want, _))| summary_on(b, &pairs[**idx].1) == *want)
            .map(|(idx, _)| *idx)
            .collect();
        for idx in arrived {
            let (_, t0) = flying.remove(&idx).unwrap();
            out.push(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    out
}

fn report(what: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "  {what:<28} n={:<5} p50 {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let changes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let root = tempfile::tempdir().unwrap();
    let mut a = NodeProc::init(root.path(), "acme", true);
    let mut b = NodeProc::init(root.path(), "globex", false);
    a.start();
    b.start();
    a.ok(&["project", "create", "OPS", "--types", "Bug"]);
    b.ok(&["project", "create", "SUP", "--types", "Bug"]);
    let tracked: Vec<String> = (0..TRACKED)
        .map(|n| create(&a.data, "OPS", &format!("tracked {n}")))
        .collect();
    let code = a.initiate("acme-globex", "SUP", "project = OPS");
    b.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "SUP",
        "--name",
        "globex-acme",
    ]);
    for key in &tracked {
        call(
            &a.data,
            Request::Sync(SyncRequest::Issue {
                connection: "acme-globex".into(),
                issue: key.clone(),
            }),
        );
    }
    let pairs: Vec<(String, String)> = loop {
        let on_b = call(
            &b.data,
            Request::Issue(IssueRequest::List {
                project: Some("SUP".into()),
            }),
        );
        let list = on_b.as_array().cloned().unwrap_or_default();
        if list.len() >= TRACKED {
            break tracked
                .iter()
                .enumerate()
                .map(|(n, key)| {
                    let twin = list
                        .iter()
                        .find(|i| i["summary"] == format!("tracked {n}"))
                        .expect("twin on B");
                    (key.clone(), twin["key"].as_str().unwrap().to_string())
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    println!(
        "latency: change on A (public) -> visible on B (private), local trackers, loopback HTTP, {IN_FLIGHT} changes in flight"
    );
    let idle = measure(&a.data, &b.data, &pairs, changes, "idle", &|| true);
    report("idle", idle);

    let running = || {
        let list = call(
            &a.data,
            Request::Connection(tandem::cli::connection::ConnectionRequest::List),
        );
        !(list[0]["outbox"] == 0
            && b.cli(&["--json", "connection", "list"]).json()[0]["inbox"] == 0)
    };
    let mut during = Vec::new();
    let mut bulk_secs = Vec::new();
    for round in 0..ROUNDS {
        if during.len() >= changes {
            break;
        }
        // A fresh bulk the trigger does not pick up by itself: only `sync --all` moves it.
        let project = format!("BULK{round}");
        a.ok(&["project", "create", &project, "--types", "Bug"]);
        for n in 0..BULK {
            create(&a.data, &project, &format!("bulk {round} {n}"));
        }
        a.ok(&[
            "connection",
            "trigger",
            "acme-globex",
            &format!("project = {project}"),
        ]);
        let started = Instant::now();
        call(
            &a.data,
            Request::Sync(SyncRequest::All {
                connection: "acme-globex".into(),
            }),
        );
        during.extend(measure(
            &a.data,
            &b.data,
            &pairs,
            changes - during.len(),
            &format!("bulk{round}"),
            &running,
        ));
        while running() {
            std::thread::sleep(Duration::from_millis(100));
        }
        bulk_secs.push(started.elapsed().as_secs_f64());
    }
    let rounds = bulk_secs.len();
    report(&format!("during {BULK}-issue bulks"), during);
    let listed: Vec<String> = bulk_secs.iter().map(|s| format!("{s:.1} s")).collect();
    println!(
        "  {rounds} bulk rounds of {BULK} issues each, done after {}",
        listed.join(", ")
    );
    a.stop();
    b.stop();
}
