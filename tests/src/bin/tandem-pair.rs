//! `tandem-pair A_DIR B_DIR setup|run`: a pair of nodes in one process, the
//! child the crash tests kill at failpoints (`TANDEM_FAILPOINT=NAME`).
//! `setup` creates five issues on A, each with three comments (one internal)
//! and an attachment; `run` syncs until nothing moves.

use std::path::PathBuf;
use std::process::ExitCode;

use tandem::tracker::NewIssue;
use tandem_tests::pair::{Pair, Spec};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, command] = args.as_slice() else {
        eprintln!("usage: tandem-pair A_DIR B_DIR setup|run");
        return ExitCode::from(2);
    };
    let pair = Pair::open(&PathBuf::from(a), &PathBuf::from(b), Spec::default());
    match command.as_str() {
        "setup" => {
            let t = pair.a.tracker();
            for i in 0..5 {
                let new = NewIssue {
                    project: "OPS".into(),
                    issue_type: "Bug".into(),
                    summary: format!("issue {i}"),
                    description: format!("description {i}"),
                    ..NewIssue::default()
                };
                let issue = t.create(&new).expect("create");
                for c in 0..3 {
                    t.comment(&issue.id, &format!("comment {c} on {i}"), c == 0)
                        .expect("comment");
                }
                t.attach(&issue.id, "log.txt", format!("log of issue {i}").as_bytes())
                    .expect("attach");
            }
        }
        "run" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(pair.settle());
        }
        other => {
            eprintln!("unknown command `{other}`");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
