//! The bulk figure of BENCHMARKS.md: 10,000 issues with 7 comments each,
//! synced from A to B (two nodes, `local` trackers, in-process transport).
//! Prints wall time, issues/s and peak RSS.
//!
//! `cargo bench -p tandem-tests --bench sync_bulk [-- ISSUES]`

use std::time::Instant;

use tandem::tracker::{Mark, NewIssue, Tracker};
use tandem_tests::pair::{Pair, Spec};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    let issues: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let pair = Pair::open(dirs[0].path(), dirs[1].path(), Spec::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let seeding = Instant::now();
    rt.block_on(async {
        let t = pair.a.tracker();
        for i in 0..issues {
            let new = NewIssue {
                project: "OPS".into(),
                issue_type: "Bug".into(),
                summary: format!("Issue number {i}"),
                description: format!(
                    "Description of issue {i}, long enough to be a realistic paragraph of text."
                ),
                ..NewIssue::default()
            };
            // Seeded through the tracker's batched path: the figure is the sync's.
            let id = t
                .create_issue(&new, &Mark(format!("seed-{i}")))
                .await
                .unwrap();
            for c in 0..7 {
                t.add_comment(
                    &id,
                    "alice",
                    &format!("Comment {c} on issue {i}."),
                    c == 0,
                    &Mark(format!("seed-{i}-{c}")),
                )
                .await
                .unwrap();
            }
        }
    });
    eprintln!(
        "seeded {issues} issues x 7 comments in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let rounds = rt.block_on(pair.settle());
    let wall = started.elapsed().as_secs_f64();
    let on_b = pair.b.tracker().list(None).unwrap();
    assert_eq!(on_b.len(), issues);
    assert!(on_b.iter().all(|i| i.issue.comments.len() == 7));
    println!(
        "sync_bulk: {issues} issues x 7 comments A -> B: {wall:.1} s wall, {:.0} issues/s, {rounds} rounds, peak RSS {:.0} MiB",
        issues as f64 / wall,
        peak_rss_mib()
    );
}
