//! Rules see a fixed clock and fixed random numbers: the same input gives the
//! same replica on every run, on every host.

use tandem::model::Context;
use tandem_tests::guest;

use super::{host, sample_issue};

#[test]
fn clock_and_random_give_the_same_replica_every_run() {
    let issue = sample_issue("OPS-5", "when?");
    let ctx = Context::for_test(&issue);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let host = host();
        let rules = host.load_file(&guest!("CLOCK_RANDOM"), None).unwrap();
        for _ in 0..3 {
            seen.push(rules.outgoing(&ctx, &issue).unwrap().summary.unwrap());
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {seen:?}"
    );
    // 2026-01-01T00:00:00Z, with no time passing while the rule runs.
    assert!(seen[0].starts_with("1767225600000000000/"), "{}", seen[0]);
    assert!(seen[0].ends_with("/0"), "{}", seen[0]);
}
