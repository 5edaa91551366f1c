//! tandem's end-to-end tests: one binary, a module per topic. Components are
//! built from source by `build.rs`; the CLI tests run the real `tandem` binary.

mod basic_artifact;
mod basic_fixtures;
mod cli;
mod crash;
mod determinism;
mod hostile;
mod jira;
mod local_tracker;
mod network;
mod operations;
mod pipeline;
mod redmine;
mod script_mode;
mod tampering;

use tandem::model::{Context, Issue};
use tandem::rules::{Limits, RulesHost};

/// A host with the default limits and no compile cache.
fn host() -> RulesHost {
    RulesHost::new(Limits::default(), None).expect("rules host")
}

fn sample_issue(key: &str, summary: &str) -> Issue {
    Issue {
        key: key.into(),
        summary: summary.into(),
        issue_type: "Bug".into(),
        ..Issue::default()
    }
}

/// After any hostile component, the same host still runs good rules.
fn assert_host_still_works(host: &RulesHost) {
    let basic = host.load_basic().expect("basic loads");
    let issue = sample_issue("OPS-1", "still fine");
    let replica = basic
        .outgoing(&Context::for_test(&issue), &issue)
        .expect("basic outgoing after a hostile call");
    assert_eq!(replica.summary.as_deref(), Some("still fine"));
}
