//! The tracker figure of BENCHMARKS.md: 500 issues with 3 comments each,
//! created in the Jira test server (20 ms per request, a Jira over a LAN),
//! synced by two `tandem serve` processes (Jira private, Redmine public,
//! Basic mode) into a real Redmine. Prints issues/s, requests per issue on
//! each tracker, and how many Jira requests were in flight at once.
//!
//! Needs a running Redmine (`scripts/redmine`, then `source
//! target/redmine/env`) and a release `tandem`:
//! `cargo build --release -p tandem && cargo bench -p tandem-tests --bench jira_redmine [-- ISSUES]`

use std::time::{Duration, Instant};

use tandem_tests::jira::{JiraOptions, JiraServer};
use tandem_tests::node::NodeProc;
use tandem_tests::redmine::{instances, unique};

/// Requests Redmine logged so far (its production.log, one `Started` each).
fn redmine_requests() -> usize {
    std::fs::read_to_string("/var/log/redmine/tandem-a/production.log")
        .map(|log| log.lines().filter(|l| l.contains("Started ")).count())
        .unwrap_or(0)
}

fn main() {
    let issues: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let Some((redmine, _)) = instances() else {
        eprintln!(
            "jira_redmine: needs TANDEM_REDMINE=1 (scripts/redmine, then source target/redmine/env)"
        );
        return;
    };
    let jira = JiraServer::start(JiraOptions {
        delay: Duration::from_millis(20),
        max_page: 50,
        comment_field_limit: 50,
        ..Default::default()
    });
    jira.project("OPS", &["Bug", "Task"]);
    let project = unique("bench");
    redmine.project(&project, &[1, 2, 3]);

    let root = tempfile::tempdir().unwrap();
    let token = root.path().join("jira.token");
    std::fs::write(&token, &jira.token).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut r = NodeProc::init_with(
        root.path(),
        "redmine",
        true,
        &[
            "--tracker",
            "redmine",
            "--redmine-url",
            &redmine.url,
            "--secret-env",
            "TANDEM_REDMINE_A_KEY",
        ],
    );
    r.start();
    let mut j = NodeProc::init_with(
        root.path(),
        "jira",
        false,
        &[
            "--tracker",
            "jira",
            "--jira-url",
            &jira.url,
            "--secret-file",
            token.to_str().unwrap(),
        ],
    );
    j.start();
    let code = r.initiate("redmine-jira", &project, &format!("project = {project}"));
    j.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "OPS",
        "--trigger",
        "project = OPS",
        "--name",
        "jira-redmine",
    ]);
    std::thread::sleep(Duration::from_secs(2));

    let (jira_before, redmine_before) = (jira.requests(), redmine_requests());
    let started = Instant::now();
    for n in 0..issues {
        let key = jira.create(
            "OPS",
            "Bug",
            &format!("Issue number {n}"),
            "A description long enough to be a realistic paragraph of text.",
        );
        for c in 0..3 {
            jira.comment(&key, &format!("Comment {c} on issue {n}."), false);
        }
    }
    let mut last = 0;
    loop {
        let page = redmine.call(
            "GET",
            &format!("/issues.json?project_id={project}&status_id=*&limit=1"),
            None,
        );
        let count = page["total_count"].as_u64().unwrap_or(0) as usize;
        let quiet = || {
            let conn = &r.ok(&["--json", "connection", "list"]).json()[0];
            conn["inbox"] == 0 && j.ok(&["--json", "connection", "list"]).json()[0]["outbox"] == 0
        };
        if count >= issues && quiet() {
            break;
        }
        if count / 50 != last / 50 {
            eprintln!(
                "{count}/{issues} issues in Redmine after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        last = count;
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "not done after an hour"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = started.elapsed();
    let jira_requests = jira.requests() - jira_before;
    let redmine_requests = redmine_requests().saturating_sub(redmine_before);
    // Not timed: every comment arrived once.
    let all = redmine.issues(&project);
    let notes: usize = all
        .iter()
        .map(|i| {
            i["journals"]
                .as_array()
                .map(|j| {
                    j.iter()
                        .filter(|n| n["notes"].as_str().is_some_and(|s| !s.is_empty()))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum();
    println!("jira_redmine: {issues} issues x 3 comments, Jira (20 ms/request) -> real Redmine");
    println!("  wall time            {:.1} s", wall.as_secs_f64());
    println!(
        "  throughput           {:.2} issues/s",
        issues as f64 / wall.as_secs_f64()
    );
    println!(
        "  Jira requests        {jira_requests} ({:.1} per issue), at most {} in flight",
        jira_requests as f64 / issues as f64,
        jira.max_in_flight()
    );
    println!(
        "  Redmine requests     {redmine_requests} ({:.1} per issue)",
        redmine_requests as f64 / issues as f64
    );
    println!(
        "  arrived              {} issues (of {issues}, listed {}), {notes} comments (of {})",
        all.len(),
        all.len(),
        issues * 3
    );
    drop((r, j));
}
