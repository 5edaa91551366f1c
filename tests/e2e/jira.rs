//! Against the Jira test server: its answers follow Atlassian's v2 schema,
//! the connector keeps its contract, a Jira node syncs with a `local` one
//! over a private connection under rate limiting, and a crash between a
//! Jira write and its twin record makes no second copy.

use std::time::Duration;

use serde_json::{Value, json};
use tandem::tracker::jira::{Auth, JiraTracker};
use tandem::tracker::{FieldChanges, Mark, MarkHint, Marked, NewIssue, Tracker, TrackerError};
use tandem_tests::drain;
use tandem_tests::jira::{JiraOptions, JiraServer};
use tandem_tests::node::{NodeProc, eventually};

const SETTLE: Duration = Duration::from_secs(90);

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn connector(jira: &JiraServer) -> JiraTracker {
    let defaults = [("OPS".to_string(), "Task".to_string())]
        .into_iter()
        .collect();
    JiraTracker::new(
        &jira.url,
        Auth::Bearer(jira.token.clone()),
        defaults,
        100 << 20,
    )
    .unwrap()
}

#[test]
fn the_jira_connector_keeps_its_contract() {
    let jira = JiraServer::start(JiraOptions::default());
    jira.project("OPS", &["Bug", "Task", "Story", "Epic"]);
    let t = connector(&jira);
    block(async {
        let info = t.project("OPS").await.unwrap();
        assert_eq!(
            info.issue_types,
            ["Bug", "Task", "Story", "Epic"],
            "paged, sub-tasks left out"
        );
        assert_eq!(
            info.default_issue_type.as_deref(),
            Some("Task"),
            "from the config: Jira does not say"
        );

        let new = NewIssue {
            project: "OPS".into(),
            issue_type: "Story".into(),
            summary: "Export to CSV".into(),
            description: "line one\nline two".into(),
            ..Default::default()
        };
        let id = t
            .create_issue(&new, &Mark("tandem:c:r1:issue".into()))
            .await
            .unwrap();
        let read = t.read_issue(&id).await.unwrap();
        assert_eq!(read.id, id, "twins are keyed by Jira's id");
        assert_eq!(read.issue.key, "OPS-1");
        assert_eq!(
            (
                read.project.as_str(),
                read.issue.summary.as_str(),
                read.issue.issue_type.as_str()
            ),
            ("OPS", "Export to CSV", "Story")
        );
        assert_eq!(read.issue.description, "line one\nline two");
        assert!(
            read.updated.ends_with('Z'),
            "times compare in UTC: {}",
            read.updated
        );
        let wrong = t
            .create_issue(
                &NewIssue {
                    issue_type: "Saga".into(),
                    ..new.clone()
                },
                &Mark("m".into()),
            )
            .await
            .unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "rejected by the tracker: creating an issue in OPS: issuetype: The issue type selected is invalid."
        );

        t.set_fields(
            &id,
            &FieldChanges {
                summary: Some("Export to CSV and XLSX".into()),
                status: Some("In Progress".into()),
                labels: Some(vec!["synced".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let public = t
            .add_comment(
                &id,
                "bob",
                "public note",
                false,
                &Mark("tandem:c:r1:comment:1".into()),
            )
            .await
            .unwrap();
        let internal = t
            .add_comment(
                &id,
                "bob",
                "internal note",
                true,
                &Mark("tandem:c:r1:comment:2".into()),
            )
            .await
            .unwrap();
        for n in 0..5 {
            t.add_comment(
                &id,
                "bob",
                &format!("more {n}"),
                false,
                &Mark(format!("tandem:c:r1:comment:x{n}")),
            )
            .await
            .unwrap();
        }
        t.edit_comment(&id, &public, "public note, edited")
            .await
            .unwrap();
        let bytes: Vec<u8> = (0..=255u8).chain(b"\r\n\0end".iter().copied()).collect();
        let attachment = t
            .upload_attachment(
                &id,
                "data.bin",
                &bytes,
                &Mark("tandem:c:r1:attachment:1".into()),
            )
            .await
            .unwrap();
        assert_eq!(
            t.download_attachment(&id, &attachment).await.unwrap(),
            bytes,
            "byte-identical"
        );

        let read = t.read_issue(&id).await.unwrap();
        assert_eq!(read.issue.summary, "Export to CSV and XLSX");
        assert_eq!(read.issue.status, "In Progress");
        assert_eq!(read.issue.labels, ["synced"]);
        assert_eq!(
            read.issue.comments.len(),
            7,
            "all comments, past the first page of the `comment` field"
        );
        let first: Vec<(String, String, bool)> = read
            .issue
            .comments
            .iter()
            .take(2)
            .map(|c| (c.id.clone(), c.body.clone(), c.internal))
            .collect();
        assert_eq!(
            first,
            [
                (public.clone(), "public note, edited".to_string(), false),
                (internal.clone(), "internal note".to_string(), true)
            ]
        );
        assert_eq!(
            read.issue.attachments[0].sha256,
            tandem::transport::auth::sha256_hex(&bytes)
        );
        assert_eq!(
            read.issue.comments[0].author, "bob",
            "the author Jira cannot set is read back from the body"
        );
        assert_eq!(
            jira.issues("OPS")[0].comments[0].body,
            "bob wrote:\npublic note, edited",
            "an edit keeps who wrote it"
        );

        // What a crash recovery looks for: each write by its mark.
        let since = humantime::format_rfc3339_seconds(
            std::time::SystemTime::now() - Duration::from_secs(60),
        )
        .to_string();
        let hint = |issue: Option<&str>, text: &str, size: Option<u64>| MarkHint {
            project: "OPS".into(),
            issue: issue.map(String::from),
            text: text.into(),
            size,
            since: since.clone(),
        };
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r1:issue".into()),
                &hint(None, "Export to CSV", None)
            )
            .await
            .unwrap(),
            Some(Marked::Issue { issue: id.clone() })
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r9:issue".into()),
                &hint(None, "Export to CSV", None)
            )
            .await
            .unwrap(),
            None,
            "the mark, not the summary, decides"
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r1:comment:2".into()),
                &hint(Some(&id), "internal note", None)
            )
            .await
            .unwrap(),
            Some(Marked::Comment {
                issue: id.clone(),
                comment: internal.clone()
            })
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r1:comment:9".into()),
                &hint(Some(&id), "never written", None)
            )
            .await
            .unwrap(),
            None
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r1:attachment:1".into()),
                &hint(Some(&id), "data.bin", Some(bytes.len() as u64))
            )
            .await
            .unwrap(),
            Some(Marked::Attachment {
                issue: id.clone(),
                attachment: attachment.clone()
            })
        );
        assert_eq!(
            t.find_mark(
                &Mark("tandem:c:r1:attachment:2".into()),
                &hint(Some(&id), "data.bin", Some(3))
            )
            .await
            .unwrap(),
            None
        );
    });
}

#[test]
fn the_jira_change_feed_misses_nothing_and_never_loops() {
    // Pages of 7 against the connector's 100: Jira returns fewer than asked.
    let jira = JiraServer::start(JiraOptions::default());
    jira.project("OPS", &["Bug", "Task"]);
    let t = connector(&jira);
    let keys: Vec<String> = (0..20)
        .map(|n| jira.create("OPS", "Bug", &format!("issue {n}"), ""))
        .collect();
    block(async {
        // A new watcher starts at Jira's newest change, not at its history...
        let first = t.changed_since(None).await.unwrap();
        assert!(
            first.issues.is_empty(),
            "history is what `sync --all` is for"
        );
        // ...which the bulk sync lists whole: every page, not only the first short one.
        let all = t.all().await.unwrap();
        assert_eq!(all.len(), 20);
        let cursor = drain(&t, Some(first.cursor)).await;
        assert!(
            t.changed_since(cursor.as_ref())
                .await
                .unwrap()
                .issues
                .is_empty(),
            "drained: nothing comes back"
        );
        // Changes in the cursor's own minute and second are not missed.
        jira.comment(&keys[3], "same minute", false);
        jira.set_summary(&keys[17], "same second, too");
        let changes = t.changed_since(cursor.as_ref()).await.unwrap();
        let read = |id: &str| {
            let id = id.to_string();
            let t = t.clone();
            async move { t.read_issue(&id).await.unwrap().issue.key }
        };
        let mut got = Vec::new();
        for id in &changes.issues {
            got.push(read(id).await);
        }
        got.sort();
        assert_eq!(got, [keys[17].clone(), keys[3].clone()]);
        // And then nothing more, poll after poll.
        let mut cursor = Some(changes.cursor);
        for _ in 0..5 {
            let again = t.changed_since(cursor.as_ref()).await.unwrap();
            assert!(
                again.issues.is_empty(),
                "the same change came back: {:?}",
                again.issues
            );
            cursor = Some(again.cursor);
        }
    });
}

#[test]
fn jira_errors_and_credentials_read_as_one_line() {
    let jira = JiraServer::start(JiraOptions::default());
    let bad = JiraTracker::new(
        &jira.url,
        Auth::Bearer("wrong".into()),
        Default::default(),
        1 << 20,
    )
    .unwrap();
    let basic = JiraTracker::new(
        &jira.url,
        Auth::Basic {
            user: "tandem".into(),
            password: jira.token.clone(),
        },
        Default::default(),
        1 << 20,
    )
    .unwrap();
    block(async {
        let e = bad.me().await.unwrap_err();
        assert!(matches!(e, TrackerError::Unauthorised(_)), "{e}");
        assert_eq!(basic.me().await.unwrap(), "tandem", "Basic auth works too");
        let e = basic.read_issue("NOPE-1").await.unwrap_err();
        assert!(matches!(e, TrackerError::NotFound(_)), "{e}");
        let e = basic.read_issue("../../secure").await.unwrap_err();
        assert!(
            e.to_string().contains("is not a Jira issue id or key"),
            "{e}"
        );
    });
}

#[test]
fn jira_rate_limits_are_sat_out() {
    let jira = JiraServer::start(JiraOptions {
        rate_limit_every: Some(3),
        ..Default::default()
    });
    jira.project("OPS", &["Bug"]);
    let t = connector(&jira);
    block(async {
        for n in 0..6 {
            let new = NewIssue {
                project: "OPS".into(),
                issue_type: "Bug".into(),
                summary: format!("n{n}"),
                ..Default::default()
            };
            t.create_issue(&new, &Mark(format!("m{n}"))).await.unwrap();
        }
    });
    assert_eq!(jira.issues("OPS").len(), 6, "each once, none lost");
    assert!(jira.limited() >= 2, "the server did limit");
}

// ---- the schema check --------------------------------------------------------

/// Atlassian's v2 schema (the subset of the endpoints tandem uses, taken
/// verbatim from `jira-cloud-v2.json`), with OpenAPI 3.0's `nullable` made
/// JSON Schema, and the Data Center differences `notes/jira.md` lists:
/// users carry `name` and `key` (Cloud has `accountId` only).
fn schema_for(spec: &Value, path: &str, method: &str, status: &str) -> Value {
    let response = &spec["paths"][path][method]["responses"][status];
    let schema = response["content"]["application/json"]["schema"].clone();
    assert!(!schema.is_null(), "no schema for {method} {path} {status}");
    let mut components = spec["components"].clone();
    for user in ["User", "UserDetails"] {
        let props = &mut components["schemas"][user]["properties"];
        props["name"] = json!({ "type": "string" });
        props["key"] = json!({ "type": "string" });
    }
    fn nullable(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.get("nullable") == Some(&Value::Bool(true)) {
                    if let Some(Value::String(t)) = map.get("type").cloned() {
                        map.insert("type".into(), json!([t, "null"]));
                    }
                }
                map.values_mut().for_each(nullable);
            }
            Value::Array(list) => list.iter_mut().for_each(nullable),
            _ => {}
        }
    }
    nullable(&mut components);
    json!({ "allOf": [schema], "components": components })
}

/// Jira writes times as `2026-12-04T10:00:00.000+0000`, which the spec calls
/// `date-time` but is not RFC 3339 (no colon in the offset): formats are not
/// checked, shapes and types are.
fn validator_for(
    schema: &Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(schema)
}

#[test]
fn jira_test_server_answers_follow_atlassians_schema() {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(tandem_tests::repo_root().join("tests/specs/jira-v2-subset.json"))
            .unwrap(),
    )
    .unwrap();
    let jira = JiraServer::start(JiraOptions::default());
    jira.project("OPS", &["Bug", "Task"]);
    let key = jira.create("OPS", "Bug", "Printer on fire", "It smokes");
    jira.comment(&key, "seen it", true);
    jira.attach(&key, "log.txt", b"smoke\n");
    block(async {
        tandem::transport::tls::install_provider();
        let http = reqwest::Client::new();
        let call = |method: reqwest::Method, path: String, body: Option<Value>| {
            let mut r = http
                .request(method, format!("{}/rest/api/2{path}", jira.url))
                .bearer_auth(&jira.token);
            if let Some(b) = body {
                r = r
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            async move {
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16().to_string();
                let text = resp.text().await.unwrap();
                (
                    status,
                    if text.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str::<Value>(&text).unwrap()
                    },
                )
            }
        };
        let created = call(reqwest::Method::POST, "/issue".into(), Some(json!({ "fields": { "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "s", "description": "d" }, "properties": [{ "key": "tandem.sync", "value": { "mark": "m" } }] }))).await;
        let id = created.1["id"].as_str().unwrap().to_string();
        let comment = call(
            reqwest::Method::POST,
            format!("/issue/{id}/comment"),
            Some(json!({ "body": "hi" })),
        )
        .await;
        let cid = comment.1["id"].as_str().unwrap().to_string();
        let attachment_id = jira.issues("OPS")[0].attachments[0].id;
        let link = json!({ "globalId": "tandem:c:9", "relationship": "synced with", "object": { "url": "https://redmine.example/issues/9", "title": "#9" } });
        let linked = call(
            reqwest::Method::POST,
            format!("/issue/{id}/remotelink"),
            Some(link.clone()),
        )
        .await;
        let relinked = call(
            reqwest::Method::POST,
            format!("/issue/{id}/remotelink"),
            Some(link),
        )
        .await;
        assert_eq!(
            (linked.0.as_str(), relinked.0.as_str()),
            ("201", "200"),
            "the same globalId updates the link"
        );
        let checks = vec![
            ("/rest/api/2/issue", "post", created),
            ("/rest/api/2/issue/{issueIdOrKey}", "get", call(reqwest::Method::GET, format!("/issue/{key}?fields=*all&properties=tandem.sync"), None).await),
            ("/rest/api/2/search", "post", call(reqwest::Method::POST, "/search".into(), Some(json!({ "jql": "project = OPS ORDER BY updated ASC", "maxResults": 50, "fields": ["updated", "summary", "comment", "attachment"], "properties": ["tandem.sync"] }))).await),
            ("/rest/api/2/search", "get", call(reqwest::Method::GET, "/search?jql=project%20%3D%20OPS&fields=updated".into(), None).await),
            ("/rest/api/2/issue/{issueIdOrKey}/comment", "get", call(reqwest::Method::GET, format!("/issue/{key}/comment?expand=properties"), None).await),
            ("/rest/api/2/issue/{issueIdOrKey}/comment", "post", comment),
            ("/rest/api/2/issue/{issueIdOrKey}/comment/{id}", "put", call(reqwest::Method::PUT, format!("/issue/{id}/comment/{cid}"), Some(json!({ "body": "hi again" }))).await),
            ("/rest/api/2/attachment/{id}", "get", call(reqwest::Method::GET, format!("/attachment/{attachment_id}"), None).await),
            ("/rest/api/2/issue/createmeta/{projectIdOrKey}/issuetypes", "get", call(reqwest::Method::GET, "/issue/createmeta/OPS/issuetypes".into(), None).await),
            ("/rest/api/2/myself", "get", call(reqwest::Method::GET, "/myself".into(), None).await),
            ("/rest/api/2/issue/{issueIdOrKey}/transitions", "get", call(reqwest::Method::GET, format!("/issue/{key}/transitions"), None).await),
            ("/rest/api/2/issue/{issueIdOrKey}/remotelink", "post", linked),
            ("/rest/api/2/issue/{issueIdOrKey}/remotelink", "post", relinked),
            ("/rest/api/2/issue/{issueIdOrKey}/remotelink", "get", call(reqwest::Method::GET, format!("/issue/{id}/remotelink?globalId=tandem%3Ac%3A9"), None).await),
        ];
        for (path, method, (status, body)) in checks {
            let schema = schema_for(&spec, path, method, &status);
            let validator = validator_for(&schema).unwrap();
            let problems: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{method} {path} -> {status} does not follow the schema:\n{}\n{body:#}",
                problems.join("\n")
            );
        }
        // Uploads are multipart with the XSRF header; the answer is a list of `Attachment`.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"abc".to_vec()).file_name("a.txt"),
        );
        let refused = http
            .post(format!("{}/rest/api/2/issue/{key}/attachments", jira.url))
            .bearer_auth(&jira.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            403,
            "no X-Atlassian-Token: refused like Jira"
        );
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"abc".to_vec()).file_name("a.txt"),
        );
        let upload = http
            .post(format!("{}/rest/api/2/issue/{key}/attachments", jira.url))
            .bearer_auth(&jira.token)
            .header("X-Atlassian-Token", "no-check")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), 200);
        let body: Value = serde_json::from_str(&upload.text().await.unwrap()).unwrap();
        let schema = schema_for(
            &spec,
            "/rest/api/2/issue/{issueIdOrKey}/attachments",
            "post",
            "200",
        );
        let validator = validator_for(&schema).unwrap();
        assert!(validator.is_valid(&body), "{body:#}");
        // The schema check itself can fail: a bean missing its required key does.
        let schema = schema_for(&spec, "/rest/api/2/issue", "post", "201");
        let validator = validator_for(&schema).unwrap();
        assert!(!validator.is_valid(&json!({ "id": 1, "bogus": true })));
    });
}

// ---- end to end ----------------------------------------------------------------

/// A node serving the Jira test server (private unless `public`); `extra`
/// are more `tandem init` arguments.
pub fn jira_node(
    root: &std::path::Path,
    name: &str,
    jira: &JiraServer,
    public: bool,
    extra: &[&str],
) -> NodeProc {
    let token = root.join(format!("{name}.token"));
    std::fs::write(&token, &jira.token).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let token = token.to_string_lossy().into_owned();
    let mut args = vec![
        "--tracker",
        "jira",
        "--jira-url",
        &jira.url,
        "--secret-file",
        &token,
    ];
    args.extend(extra);
    NodeProc::init_with(root, name, public, &args)
}

fn local_node(root: &std::path::Path) -> NodeProc {
    let mut local = NodeProc::init(root, "acme", true);
    local.start();
    local.ok(&[
        "project",
        "create",
        "SUP",
        "--types",
        "Bug,Task,Epic",
        "--default-type",
        "Task",
    ]);
    local
}

#[test]
fn jira_and_local_sync_under_rate_limiting_with_nothing_lost_or_doubled() {
    let jira = JiraServer::start(JiraOptions {
        rate_limit_every: Some(5),
        ..Default::default()
    });
    jira.project("OPS", &["Bug", "Task", "Story"]);
    jira.project("ARC", &["Bug"]);
    let root = tempfile::tempdir().unwrap();
    let local = local_node(root.path());
    let mut j = jira_node(
        root.path(),
        "globex",
        &jira,
        false,
        &["--default-issue-type", "OPS=Story"],
    );
    j.start();
    let code = local.initiate("acme-globex", "SUP", "project = SUP");
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
        "globex-acme",
    ]);

    // From Jira: three issues, comments (one internal), an attachment.
    let keys: Vec<String> = (0..3)
        .map(|n| jira.create("OPS", "Bug", &format!("Jira issue {n}"), "from Jira"))
        .collect();
    jira.comment(&keys[0], "first", false);
    jira.comment(&keys[0], "internal", true);
    jira.attach(&keys[1], "trace.log", b"stack trace\n");
    // From local: an Epic, which OPS lacks.
    let epic = local
        .ok(&[
            "issue",
            "create",
            "--project",
            "SUP",
            "--type",
            "Epic",
            "--summary",
            "Local epic",
            "--description",
            "big",
        ])
        .stdout
        .trim()
        .to_string();
    local.ok(&["issue", "comment", &epic, "--body", "from acme"]);

    eventually("everything arrives on both sides", SETTLE, || {
        let sup = local.issues();
        let ops = jira.issues("OPS");
        sup.len() == 4
            && ops.len() == 4
            && sup.iter().any(|i| {
                i["summary"] == "Jira issue 0" && i["comments"].as_array().unwrap().len() == 2
            })
            && sup.iter().any(|i| {
                i["summary"] == "Jira issue 1" && i["attachments"].as_array().unwrap().len() == 1
            })
            && ops
                .iter()
                .any(|i| i.summary == "Local epic" && i.comments.len() == 1)
    });
    std::thread::sleep(Duration::from_secs(3));
    let ops = jira.issues("OPS");
    assert_eq!(ops.len(), 4, "no issue doubled in Jira");
    let from_local = ops.iter().find(|i| i.summary == "Local epic").unwrap();
    assert_eq!(
        from_local.type_id, "10002",
        "Epic is missing in OPS: the configured default, Story"
    );
    assert_eq!(
        from_local
            .comments
            .iter()
            .map(|c| c.body.as_str())
            .collect::<Vec<_>>(),
        ["acme wrote:\nfrom acme"],
        "Jira cannot set the author: the body names it"
    );
    assert!(
        from_local.comments[0].visibility.is_none(),
        "arrives public"
    );
    assert!(
        ops.iter().all(|i| i.comments.len() <= 2),
        "no comment doubled"
    );
    let sup = local.issues();
    assert_eq!(sup.len(), 4, "no issue doubled locally");
    let zero = sup.iter().find(|i| i["summary"] == "Jira issue 0").unwrap();
    let comments: Vec<(&str, bool)> = zero["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap(),
                c["internal"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        comments,
        [("first", false), ("internal", false)],
        "Basic: every comment arrives public"
    );
    let one = sup.iter().find(|i| i["summary"] == "Jira issue 1").unwrap();
    assert_eq!(
        one["attachments"][0]["sha256"],
        tandem::transport::auth::sha256_hex(b"stack trace\n")
    );
    assert!(jira.limited() > 0, "the run was rate-limited");

    // An edit in Jira flows once more; no echo comes back.
    jira.set_summary(&keys[2], "Jira issue 2, renamed");
    eventually("the rename arrives", SETTLE, || {
        local
            .issues()
            .iter()
            .any(|i| i["summary"] == "Jira issue 2, renamed")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(jira.issues("OPS").len(), 4);
    assert_eq!(local.issues().len(), 4);

    // Moved to another project, the issue gets a new key; its twin stays.
    let moved = jira.move_issue(&keys[2], "ARC");
    jira.comment(&moved, "after the move", false);
    eventually(
        "the comment on the moved issue reaches its twin",
        SETTLE,
        || {
            local.issues().iter().any(|i| {
                i["summary"] == "Jira issue 2, renamed"
                    && i["comments"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["body"] == "after the move")
            })
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(local.issues().len(), 4, "a new key is not a new issue");
    drop(j);
}

#[test]
fn each_jira_issue_links_to_its_twin_when_asked() {
    let jira = JiraServer::start(JiraOptions::default());
    jira.project("OPS", &["Bug", "Task"]);
    let root = tempfile::tempdir().unwrap();
    let bad = NodeProc::open(&root.path().join("bad"), "bad", None);
    let refused = bad.cli(&[
        "init",
        "--name",
        "bad",
        "--tracker",
        "jira",
        "--jira-url",
        &jira.url,
        "--jira-twin-link",
        "globex-acme=acme.example/issues",
    ]);
    assert_eq!(refused.code, 2, "a usage error: {}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("expected an http(s) URL with {key}"),
        "{}",
        refused.stderr
    );
    assert!(!root.path().join("bad").exists(), "nothing is written");

    // Two Jiras: ours links each synced issue to its twin in theirs.
    let theirs = JiraServer::start(JiraOptions::default());
    theirs.project("SUP", &["Bug", "Task"]);
    theirs.project("ARC", &["Bug", "Task"]);
    let mut acme = jira_node(root.path(), "acme", &theirs, true, &[]);
    acme.start();
    let mut j = jira_node(
        root.path(),
        "globex",
        &jira,
        false,
        &[
            "--jira-twin-link",
            "globex-acme=https://jira.acme.example/browse/{key}",
        ],
    );
    j.start();
    let code = acme.initiate("acme-globex", "SUP", "project = SUP");
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
        "globex-acme",
    ]);

    // One issue made in our Jira (its twin is made by the peer), one
    // arriving from theirs (made here by the sync).
    let ours = jira.create("OPS", "Bug", "Made at globex", "");
    theirs.create("SUP", "Task", "Made at acme", "");
    let links_of = |summary: &str| {
        jira.issues("OPS")
            .into_iter()
            .find(|i| i.summary == summary)
            .map(|i| jira.remote_links(&i.key))
            .unwrap_or_default()
    };
    let twin_key = |summary: &str| {
        ["SUP", "ARC"]
            .iter()
            .flat_map(|p| theirs.issues(p))
            .find(|i| i.summary == summary)
            .map(|i| i.key)
    };
    eventually("both issues link to their twins", SETTLE, || {
        links_of("Made at globex").len() == 1 && links_of("Made at acme").len() == 1
    });
    for summary in ["Made at globex", "Made at acme"] {
        let links = links_of(summary);
        let key = twin_key(summary).expect("twin");
        let link = &links[0];
        assert_eq!(
            link["object"]["url"],
            format!("https://jira.acme.example/browse/{key}"),
            "{link:#}"
        );
        assert_eq!(link["object"]["title"], key.as_str());
        assert_eq!(link["relationship"], "synced with");
        assert!(
            link["globalId"].as_str().unwrap().starts_with("tandem:"),
            "{link:#}"
        );
        assert!(
            link["object"]["summary"].as_str().unwrap().contains("acme"),
            "names the peer: {link:#}"
        );
    }
    assert!(
        theirs
            .issues("SUP")
            .iter()
            .all(|i| theirs.remote_links(&i.key).is_empty()),
        "only the side that asked links"
    );

    // More syncs keep the one link; a twin moved to another project (a new
    // key) gets the same link updated, not a second one.
    jira.comment(&ours, "later", false);
    let moved = theirs.move_issue(&twin_key("Made at globex").unwrap(), "ARC");
    eventually("the link follows the moved twin", SETTLE, || {
        links_of("Made at globex")
            .iter()
            .any(|l| l["object"]["title"] == moved.as_str())
    });
    std::thread::sleep(Duration::from_secs(2));
    let links = links_of("Made at globex");
    assert_eq!(
        links.len(),
        1,
        "one link per twin, however often it syncs: {links:#?}"
    );
    assert_eq!(
        links[0]["object"]["url"],
        format!("https://jira.acme.example/browse/{moved}")
    );
    assert!(
        theirs.issues("ARC")[0]
            .comments
            .iter()
            .any(|c| c.body.ends_with("later")),
        "the sync went on"
    );
    drop(j);
    drop(acme);
}

#[test]
fn a_crash_after_a_jira_write_makes_no_second_copy() {
    let jira = JiraServer::start(JiraOptions::default());
    jira.project("OPS", &["Bug", "Task"]);
    let root = tempfile::tempdir().unwrap();
    let local = local_node(root.path());
    let mut j = jira_node(root.path(), "globex", &jira, false, &[]);
    j.start();
    let code = local.initiate("acme-globex", "SUP", "project = SUP");
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
        "globex-acme",
    ]);
    // The Jira node dies right after each Jira write, before the twin record.
    j.stop();
    j.env("TANDEM_FAILPOINT", "after-tracker-write");
    let key = local
        .ok(&[
            "issue",
            "create",
            "--project",
            "SUP",
            "--type",
            "Bug",
            "--summary",
            "Crash me",
            "--description",
            "once",
        ])
        .stdout
        .trim()
        .to_string();
    local.ok(&["issue", "comment", &key, "--body", "a comment"]);
    let log = root.path().join("log.txt");
    std::fs::write(&log, b"some bytes").unwrap();
    local.ok(&["issue", "attach", &key, log.to_str().unwrap()]);
    let crashes = crash_until_settled(&mut j);
    assert!(
        crashes >= 3,
        "the failpoint was reached at the issue, the comment and the attachment ({crashes}):\n{}",
        j.log()
    );
    j.clear_env("TANDEM_FAILPOINT");
    j.start();
    eventually(
        "Jira settles with the issue, its comment and attachment",
        SETTLE,
        || {
            jira.issues("OPS")
                .first()
                .is_some_and(|i| !i.comments.is_empty() && !i.attachments.is_empty())
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let ops = jira.issues("OPS");
    assert_eq!(ops.len(), 1, "no second issue");
    assert_eq!(
        ops[0]
            .comments
            .iter()
            .map(|c| c.body.as_str())
            .collect::<Vec<_>>(),
        ["acme wrote:\na comment"],
        "no second comment"
    );
    assert_eq!(ops[0].attachments.len(), 1, "no second attachment");
}

/// Restarts `node` while it keeps dying at its failpoint; how often it did.
pub fn crash_until_settled(node: &mut NodeProc) -> usize {
    let mut crashes = 0;
    while crashes < 10 {
        node.start_allowing_exit();
        // Generous: under the whole suite's load on two cores, a node's
        // first sync after a start has taken over 20 s.
        if node.wait_exit(Duration::from_secs(60)) != Some(86) {
            break;
        }
        crashes += 1;
    }
    crashes
}

#[test]
fn a_tracker_secret_others_can_read_is_refused() {
    let jira = JiraServer::start(JiraOptions::default());
    let root = tempfile::tempdir().unwrap();
    let node = jira_node(root.path(), "globex", &jira, false, &[]);
    let token = root.path().join("globex.token");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let run = node.cli(&["status"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("can be read by other users") && run.stderr.contains("chmod 600"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&jira.token),
        "the secret is never printed"
    );
}
