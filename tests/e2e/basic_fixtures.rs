//! Basic semantics, table-driven from `tests/fixtures/basic/*.json`, run
//! against the committed, signed artifact the engine embeds.

use serde_json::Value;
use tandem::model::{Context, Issue, Replica};

use super::host;

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[test]
fn basic_rules_match_every_fixture() {
    let dir = tandem_tests::repo_root().join("tests/fixtures/basic");
    let basic = host().load_basic().expect("basic loads");
    let mut failures = Vec::new();
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        count += 1;
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let field = |name: &str| case.get(name).filter(|v| !v.is_null()).cloned();
        let got = match case["call"].as_str() {
            Some("outgoing") => {
                let issue: Issue = parse(case["issue"].clone());
                let ctx = field("context").map_or_else(|| Context::for_test(&issue), parse);
                serde_json::to_value(basic.outgoing(&ctx, &issue).unwrap()).unwrap()
            }
            Some("incoming") => {
                let ctx: Context = parse(case["context"].clone());
                let replica: Replica = parse(case["replica"].clone());
                let previous: Option<Replica> = field("previous").map(parse);
                let local: Option<Issue> = field("local").map(parse);
                let update = basic.incoming(&ctx, &replica, previous.as_ref(), local.as_ref());
                serde_json::to_value(update.unwrap()).unwrap()
            }
            other => panic!("{}: unknown call {other:?}", path.display()),
        };
        if got != case["expect"] {
            failures.push(format!(
                "{}\n  expected {}\n  got      {}",
                path.file_name().unwrap().to_string_lossy(),
                case["expect"],
                got
            ));
        }
    }
    assert!(count >= 10, "fixtures missing from {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {count} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn unicode_and_a_one_mebibyte_description_survive_the_round_trip() {
    let basic = host().load_basic().unwrap();
    let description: String = "Ünïcødé ✓ 漢字 🔥 \u{200d} crlf\r\n"
        .chars()
        .cycle()
        .take(1 << 20)
        .collect();
    assert!(description.len() >= 1 << 20);
    let issue = Issue {
        key: "OPS-7".into(),
        summary: "Ärger mit dem Drucker 🖨".into(),
        description: description.clone(),
        issue_type: "Bug".into(),
        ..Issue::default()
    };
    let replica = basic.outgoing(&Context::for_test(&issue), &issue).unwrap();
    assert_eq!(replica.description.as_deref(), Some(description.as_str()));

    let mut ctx = Context::for_test(&issue);
    ctx.project.issue_types = vec!["Bug".into()];
    let update = basic.incoming(&ctx, &replica, None, None).unwrap();
    assert_eq!(update.description.as_deref(), Some(description.as_str()));
    assert_eq!(update.summary.as_deref(), Some("Ärger mit dem Drucker 🖨"));
}
