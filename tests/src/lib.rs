//! Support for tandem's end-to-end tests: where the `tandem` binary and the
//! guest components are, and a way to run the CLI as a person would.

pub mod jira;
pub mod node;
pub mod pair;
pub mod redmine;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `tandem` binary of this build (next to the test binary's `deps/`).
pub fn tandem_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("tandem");
    assert!(
        bin.exists(),
        "{} is missing; `cargo test --workspace` builds it (or `cargo build -p tandem`)",
        bin.display()
    );
    bin
}

/// A finished `tandem` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `tandem ARGS` in `dir` with no data dir from the environment.
pub fn tandem(dir: &Path, args: &[&str]) -> Run {
    Command::new(tandem_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("TANDEM_DATA")
        .output()
        .expect("running tandem")
        .into()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of a guest component built by build.rs.
#[macro_export]
macro_rules! guest {
    ($name:literal) => {
        std::path::PathBuf::from(env!(concat!("GUEST_", $name)))
    };
}

/// Path of a script-mode example component built by build.rs.
#[macro_export]
macro_rules! example {
    ($name:literal) => {
        std::path::PathBuf::from(env!(concat!("EXAMPLE_", $name)))
    };
}

/// Drains a tracker's change feed from `cursor`: the cursor after every
/// change so far. Fails when the feed never ends (the same change forever).
pub async fn drain<T: tandem::tracker::Tracker>(
    t: &T,
    mut cursor: Option<tandem::tracker::Cursor>,
) -> Option<tandem::tracker::Cursor> {
    for _ in 0..1000 {
        let changes = t.changed_since(cursor.as_ref()).await.unwrap();
        cursor = Some(changes.cursor);
        if changes.issues.is_empty() {
            return cursor;
        }
    }
    panic!("the change feed never ends");
}
