//! Connections over the network: two real `tandem serve` processes on
//! loopback, driven only through the CLI, as two admins would.

use std::time::Duration;

use serde_json::Value;
use tandem_tests::node::{NodeProc, eventually, tcp_sockets};

const SETTLE: Duration = Duration::from_secs(30);

/// A public node `acme` (OPS: Bug, Task) and a private node `globex`
/// (SUP: Task, Story, default Story), both running, connected privately.
fn connected_pair(root: &std::path::Path) -> (NodeProc, NodeProc) {
    let mut acme = NodeProc::init(root, "acme", true);
    let mut globex = NodeProc::init(root, "globex", false);
    acme.ok(&["project", "create", "OPS", "--types", "Bug,Task"]);
    globex.ok(&[
        "project",
        "create",
        "SUP",
        "--types",
        "Task,Story",
        "--default-type",
        "Story",
    ]);
    acme.start();
    globex.start();
    let code = acme.initiate("acme-globex", "OPS", "project = OPS");
    let pending = acme.ok(&["--json", "connection", "list"]).json();
    assert_eq!(pending[0]["peer"], "unknown");
    assert_eq!(pending[0]["state"], "pending");
    globex.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "SUP",
        "--trigger",
        "project = SUP",
        "--name",
        "globex-acme",
    ]);
    (acme, globex)
}

fn comments(issue: &Value) -> Vec<(String, bool)> {
    issue["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap().to_string(),
                c["internal"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn key_of_twin(node: &NodeProc, summary: &str) -> Option<String> {
    node.issues()
        .iter()
        .find(|i| i["summary"] == summary)
        .map(|i| i["key"].as_str().unwrap().to_string())
}

#[test]
fn the_seed_flow_syncs_both_ways_and_the_private_side_only_calls_out() {
    let root = tempfile::tempdir().unwrap();
    let (acme, globex) = connected_pair(root.path());

    // Both sides show the connection active with the peer's name.
    let a = acme.ok(&["--json", "connection", "list"]).json();
    let b = globex.ok(&["--json", "connection", "list"]).json();
    assert_eq!(
        (
            a[0]["state"].as_str(),
            a[0]["peer"].as_str(),
            a[0]["side"].as_str()
        ),
        (Some("active"), Some("globex"), Some("public"))
    );
    assert_eq!(
        (
            b[0]["state"].as_str(),
            b[0]["peer"].as_str(),
            b[0]["side"].as_str()
        ),
        (Some("active"), Some("acme"), Some("private"))
    );
    for field in [
        "name",
        "peer",
        "side",
        "mode",
        "state",
        "project",
        "trigger",
        "last_exchange",
        "outbox",
        "inbox",
        "errors",
    ] {
        assert!(
            b[0].get(field).is_some(),
            "connection list --json lacks `{field}`: {b}"
        );
    }

    // A -> B: an issue with a public and an internal comment and an attachment.
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Bug",
        "--summary",
        "Printer on fire",
        "--description",
        "It smokes",
    ]);
    acme.ok(&["issue", "comment", "OPS-1", "--body", "seen it"]);
    acme.ok(&[
        "issue",
        "comment",
        "OPS-1",
        "--body",
        "our notes",
        "--internal",
    ]);
    let file = root.path().join("log.txt");
    std::fs::write(&file, b"paper jam\n").unwrap();
    acme.ok(&["issue", "attach", "OPS-1", file.to_str().unwrap()]);
    // B -> A: its own issue with a comment and an attachment.
    // (A's issue may arrive first and take SUP-1: use the key create printed.)
    let vpn = globex.ok(&[
        "issue",
        "create",
        "--project",
        "SUP",
        "--type",
        "Task",
        "--summary",
        "VPN down",
    ]);
    let vpn = vpn.stdout.trim();
    globex.ok(&["issue", "comment", vpn, "--body", "since 9:00"]);
    let shot = root.path().join("shot.png");
    std::fs::write(&shot, [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3]).unwrap();
    globex.ok(&["issue", "attach", vpn, shot.to_str().unwrap()]);

    eventually("A's issue arrives on B complete", SETTLE, || {
        key_of_twin(&globex, "Printer on fire").is_some_and(|k| {
            let i = globex.issue(&k);
            i["comments"].as_array().unwrap().len() == 2
                && i["attachments"].as_array().unwrap().len() == 1
        })
    });
    eventually("B's issue arrives on A complete", SETTLE, || {
        key_of_twin(&acme, "VPN down").is_some_and(|k| {
            let i = acme.issue(&k);
            i["comments"].as_array().unwrap().len() == 1
                && i["attachments"].as_array().unwrap().len() == 1
        })
    });
    let on_b = globex.issue(&key_of_twin(&globex, "Printer on fire").unwrap());
    // Basic: Bug is missing on SUP -> its default type; every comment public.
    assert_eq!(on_b["issue_type"], "Story");
    assert_eq!(on_b["description"], "It smokes");
    assert!(
        comments(&on_b).iter().all(|(_, internal)| !internal),
        "{on_b}"
    );
    assert!(
        comments(&on_b)
            .iter()
            .any(|(body, _)| body.contains("our notes"))
    );
    let original = acme.issue("OPS-1");
    assert_eq!(
        on_b["attachments"][0]["sha256"],
        original["attachments"][0]["sha256"]
    );
    let on_a = acme.issue(&key_of_twin(&acme, "VPN down").unwrap());
    assert_eq!(on_a["issue_type"], "Task");
    assert_eq!(on_a["attachments"][0]["size"], 8);

    // Edits flow both ways: B edits A's issue, A edits B's.
    let b_key = on_b["key"].as_str().unwrap().to_string();
    let a_key = on_a["key"].as_str().unwrap().to_string();
    globex.ok(&["issue", "edit", &b_key, "--summary", "Printer on fire (B)"]);
    globex.ok(&["issue", "comment", &b_key, "--body", "technician sent"]);
    acme.ok(&["issue", "edit", &a_key, "--description", "all offices"]);
    eventually("B's edit reaches A", SETTLE, || {
        let i = acme.issue("OPS-1");
        i["summary"] == "Printer on fire (B)" && i["comments"].as_array().unwrap().len() == 3
    });
    eventually("A's edit reaches B", SETTLE, || {
        globex.issue(vpn)["description"] == "all offices"
    });

    // Nothing doubles or echoes: give echoes time to show, then count.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(acme.issues().len(), 2, "{:?}", acme.issues());
    assert_eq!(globex.issues().len(), 2);
    let a1 = acme.issue("OPS-1");
    assert_eq!(comments(&a1).len(), 3, "{a1}");
    assert_eq!(
        comments(&a1)[1],
        ("our notes".to_string(), true),
        "internal stays internal at home"
    );
    assert_eq!(
        globex.issue(&b_key)["comments"].as_array().unwrap().len(),
        3
    );
    assert_eq!(a1["attachments"].as_array().unwrap().len(), 1);

    // The private node listens on no port; the public node opened no
    // outgoing connection: every socket of it is on its own listening port.
    let private = tcp_sockets(globex.pid());
    assert!(
        !private.is_empty(),
        "the private node should hold connections to the public one"
    );
    assert!(
        private.iter().all(|s| !s.listening),
        "private node listens: {private:?}"
    );
    let port: u16 = acme
        .url
        .as_ref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let public = tcp_sockets(acme.pid());
    assert!(
        public.iter().all(|s| s.local_port == port),
        "public node has outgoing sockets: {public:?}"
    );
    assert!(private.iter().all(|s| s.remote_port == port));

    let status = globex.ok(&["--json", "status"]).json();
    assert_eq!(status["running"], true);
    assert_eq!(status["connections"][0]["outbox"], 0);
}

#[test]
fn a_stopped_node_resumes_and_deactivated_connections_queue() {
    let root = tempfile::tempdir().unwrap();
    let (acme, mut globex) = connected_pair(root.path());

    // The private side stops; A's issues wait for it, then arrive once.
    globex.stop();
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Task",
        "--summary",
        "while you were away",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    // With no node running, the CLI opens the store itself.
    assert_eq!(globex.issues().len(), 0);
    assert_eq!(globex.ok(&["--json", "status"]).json()["running"], false);
    globex.start();
    eventually("the queued issue arrives after the restart", SETTLE, || {
        globex.issues().len() == 1
    });

    // Deactivated: changes queue on A's side; activate delivers them.
    acme.ok(&["connection", "deactivate", "acme-globex"]);
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Task",
        "--summary",
        "queued",
    ]);
    eventually("the change is queued", SETTLE, || {
        acme.ok(&["--json", "connection", "list"]).json()[0]["outbox"].as_u64() > Some(0)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        globex.issues().len(),
        1,
        "nothing crosses a deactivated connection: {:?}",
        globex.issues()
    );
    assert_eq!(
        acme.ok(&["--json", "connection", "list"]).json()[0]["state"],
        "deactivated"
    );
    acme.ok(&["connection", "activate", "acme-globex"]);
    eventually("the queued change arrives after activate", SETTLE, || {
        globex.issues().len() == 2
    });
}

#[test]
fn public_public_connections_push_both_ways() {
    let root = tempfile::tempdir().unwrap();
    let mut acme = NodeProc::init(root.path(), "acme", true);
    let mut initech = NodeProc::init(root.path(), "initech", true);
    acme.ok(&["project", "create", "OPS", "--types", "Bug,Task"]);
    initech.ok(&["project", "create", "HELP", "--types", "Bug,Task"]);
    acme.start();
    initech.start();
    let url = initech.url.clone().unwrap();
    let run = acme.ok(&[
        "--json",
        "connection",
        "initiate",
        "--url",
        &url,
        "--mode",
        "basic",
        "--project",
        "OPS",
        "--trigger",
        "project = OPS",
        "--name",
        "acme-initech",
    ]);
    let code = run.json()["code"].as_str().unwrap().to_string();
    initech.ok(&[
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "HELP",
        "--trigger",
        "project = HELP",
    ]);
    let listed = initech.ok(&["--json", "connection", "list"]).json();
    assert_eq!(listed[0]["side"], "public");
    assert_eq!(listed[0]["peer"], "acme");

    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Bug",
        "--summary",
        "from acme",
    ]);
    let help = initech.ok(&[
        "issue",
        "create",
        "--project",
        "HELP",
        "--type",
        "Bug",
        "--summary",
        "from initech",
    ]);
    let file = root.path().join("a.txt");
    std::fs::write(&file, b"bytes").unwrap();
    initech.ok(&[
        "issue",
        "attach",
        help.stdout.trim(),
        file.to_str().unwrap(),
    ]);
    eventually("both issues on both sides", SETTLE, || {
        acme.issues().len() == 2
            && initech.issues().len() == 2
            && key_of_twin(&acme, "from initech")
                .is_some_and(|k| acme.issue(&k)["attachments"].as_array().unwrap().len() == 1)
    });
    // Both sides call out: each holds outgoing connections to the other's port.
    let initech_port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        tcp_sockets(acme.pid())
            .iter()
            .any(|s| s.remote_port == initech_port)
    );
}

#[test]
fn accept_completes_after_a_lost_answer_and_a_used_code_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut acme = NodeProc::init(root.path(), "acme", true);
    let globex = NodeProc::init(root.path(), "globex", false);
    let hooli = NodeProc::init(root.path(), "hooli", false);
    acme.ok(&["project", "create", "OPS", "--types", "Bug"]);
    globex.ok(&["project", "create", "SUP", "--types", "Bug"]);
    hooli.ok(&["project", "create", "HQ", "--types", "Bug"]);
    acme.start();
    let code = acme.initiate("acme-globex", "OPS", "project = OPS");

    // The answer is lost: globex dies right after the public side accepted.
    let lost = globex.cli_env(
        &["connection", "accept", "--code", &code, "--project", "SUP"],
        &[("TANDEM_FAILPOINT", "after-handshake")],
    );
    assert_eq!(lost.code, 86, "{}", lost.stderr);
    assert_eq!(
        globex.ok(&["--json", "connection", "list"]).json()[0]["state"],
        "pending"
    );
    // Running the same accept again completes.
    globex.ok(&["connection", "accept", "--code", &code, "--project", "SUP"]);
    assert_eq!(
        globex.ok(&["--json", "connection", "list"]).json()[0]["state"],
        "active"
    );

    // Another node with the same code is told it is used.
    let used = hooli.cli(&[
        "--json",
        "connection",
        "accept",
        "--code",
        &code,
        "--project",
        "HQ",
    ]);
    assert_eq!(used.code, 1);
    assert!(used.stderr.contains("already used"), "{}", used.stderr);
    assert_eq!(used.json()["error"]["kind"], "handshake");
    // The code pasted into the node that issued it.
    let own = acme.cli(&["connection", "accept", "--code", &code, "--project", "OPS"]);
    assert_eq!(own.code, 1);
    assert!(own.stderr.contains("issued by this node"), "{}", own.stderr);
}

#[test]
fn bad_codes_are_refused_before_any_network_call() {
    let root = tempfile::tempdir().unwrap();
    // The public node is not even running: nothing can reach it.
    let acme = NodeProc::init(root.path(), "acme", true);
    let globex = NodeProc::init(root.path(), "globex", false);
    acme.ok(&["project", "create", "OPS", "--types", "Bug"]);
    let code = acme.initiate("acme-globex", "OPS", "project = OPS");

    let mut damaged = code.clone().into_bytes();
    let at = damaged.len() / 2;
    damaged[at] = if damaged[at] == b'x' { b'y' } else { b'x' };
    let run = globex.cli(&[
        "--json",
        "connection",
        "accept",
        "--code",
        std::str::from_utf8(&damaged).unwrap(),
        "--project",
        "SUP",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "invalid_code");
    assert_eq!(
        globex.ok(&["--json", "connection", "list"]).json(),
        serde_json::json!([])
    );

    let short = acme.ok(&[
        "connection",
        "initiate",
        "--no-url",
        "--project",
        "OPS",
        "--name",
        "short",
        "--expires-in",
        "1s",
    ]);
    let short = short.stdout.lines().last().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2100));
    let run = globex.cli(&["connection", "accept", "--code", &short, "--project", "SUP"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);

    // A private node (no URL) asked to initiate is told to accept instead.
    let run = globex.cli(&["connection", "initiate", "--no-url", "--project", "SUP"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("connection accept"), "{}", run.stderr);
    // Without a terminal, a missing option is a usage error.
    let run = acme.cli(&["connection", "initiate", "--no-url"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--project"), "{}", run.stderr);
}

#[test]
fn the_public_side_refuses_unsigned_and_replayed_requests() {
    use std::io::{Read, Write};
    let root = tempfile::tempdir().unwrap();
    let (acme, _globex) = connected_pair(root.path());
    let url = acme.url.clone().unwrap();
    let addr = url.trim_start_matches("http://");
    let send = |request: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    let body = r#"{"envelopes":[]}"#;
    let unsigned = send(&format!(
        "POST /tandem/v1/messages HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    let forged = send(&format!(
        "GET /tandem/v1/messages?after=0 HTTP/1.1\r\nhost: {addr}\r\ntandem-connection: x\r\ntandem-timestamp: 1\r\ntandem-nonce: n\r\ntandem-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\ntandem-signature: AAAA\r\nconnection: close\r\n\r\n"
    ));
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");
}

#[test]
fn tls_with_a_self_signed_certificate_pinned_by_the_code() {
    let root = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_pem, key_pem) = (root.path().join("cert.pem"), root.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let port = tandem_tests::node::free_port();
    let url = format!("https://127.0.0.1:{port}");
    let acme_dir = root.path().join("acme");
    let run = tandem_tests::tandem(
        root.path(),
        &[
            "--data",
            acme_dir.to_str().unwrap(),
            "init",
            "--name",
            "acme",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--public-url",
            &url,
            "--tls-cert",
            cert_pem.to_str().unwrap(),
            "--tls-key",
            key_pem.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut acme = NodeProc::open(&acme_dir, "acme", Some(url));
    let mut globex = NodeProc::init(root.path(), "globex", false);
    acme.ok(&["project", "create", "OPS", "--types", "Bug"]);
    globex.ok(&["project", "create", "SUP", "--types", "Bug"]);
    acme.start();
    globex.start();
    assert!(
        acme.log().contains("listening on https://"),
        "{}",
        acme.log()
    );
    let code = acme.initiate("acme-globex", "OPS", "project = OPS");
    globex.ok(&["connection", "accept", "--code", &code, "--project", "SUP"]);
    acme.ok(&[
        "issue",
        "create",
        "--project",
        "OPS",
        "--type",
        "Bug",
        "--summary",
        "over TLS",
    ]);
    eventually("the issue arrives over TLS", SETTLE, || {
        globex.issues().len() == 1
    });
}
