//! Real `tandem serve` processes for end-to-end tests: a data dir per node,
//! the CLI run against it (through the admin socket while the node runs),
//! and what the operating system says about the node's sockets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Run, tandem_bin};

/// One node: its data dir and, while it runs, its `tandem serve` process.
pub struct NodeProc {
    pub name: String,
    pub data: PathBuf,
    /// The URL other nodes reach it at (public nodes).
    pub url: Option<String>,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl NodeProc {
    /// `tandem init` in `root/name`; public when `public` (listening on a
    /// free loopback port), private otherwise.
    pub fn init(root: &Path, name: &str, public: bool) -> NodeProc {
        Self::init_with(root, name, public, &[])
    }

    /// [`NodeProc::init`] with more `tandem init` arguments (a tracker).
    pub fn init_with(root: &Path, name: &str, public: bool, extra: &[&str]) -> NodeProc {
        let data = root.join(name);
        let mut args = vec!["init".to_string(), "--name".into(), name.into()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let url = public.then(|| {
            let port = free_port();
            args.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
            let url = format!("http://127.0.0.1:{port}");
            args.extend(["--public-url".into(), url.clone()]);
            url
        });
        let node = NodeProc {
            name: name.into(),
            data,
            url,
            child: None,
            env: vec![("TANDEM_LOG".into(), "debug,hyper=info,h2=info,rustls=info,rustls_platform_verifier=info,wasmtime=info,cranelift=info,reqwest=info,tower=info,wasmsign2=info".into())],
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        node.ok(&refs);
        node
    }

    /// A node whose data dir a test made itself.
    pub fn open(data: &Path, name: &str, url: Option<String>) -> NodeProc {
        NodeProc {
            name: name.into(),
            data: data.into(),
            url,
            child: None,
            env: vec![("TANDEM_LOG".into(), "info".into())],
        }
    }

    /// Sets an environment variable for later `serve` runs.
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    /// Runs `tandem --data DIR ARGS`.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_env(args, &[])
    }

    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(tandem_bin());
        cmd.arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("TANDEM_DATA");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .output()
            .expect("running tandem")
            .into()
    }

    /// Runs the CLI and insists it succeeds.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.cli(args);
        assert_eq!(
            run.code,
            0,
            "`tandem {}` on {} failed:\n{}\n{}",
            args.join(" "),
            self.name,
            run.stdout,
            run.stderr
        );
        run
    }

    /// Starts `tandem serve` and waits until its admin socket answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::File::create(self.data.join("serve.log")).expect("log file");
        let mut cmd = Command::new(tandem_bin());
        cmd.arg("--data")
            .arg(&self.data)
            .arg("serve")
            .env_remove("TANDEM_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("tandem serve"));
        let socket = self.data.join("tandem.sock");
        let started = Instant::now();
        while !socket.exists() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{}'s `tandem serve` exited ({status}):\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not start:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Removes an environment variable set with [`NodeProc::env`].
    pub fn clear_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// Starts `tandem serve` without waiting for it (it may exit at once,
    /// at a failpoint).
    pub fn start_allowing_exit(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("serve.log"))
            .expect("log file");
        let mut cmd = Command::new(tandem_bin());
        cmd.arg("--data")
            .arg(&self.data)
            .arg("serve")
            .env_remove("TANDEM_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("tandem serve"));
    }

    /// Waits for the node to exit; its exit code, or `None` if it still runs
    /// after `timeout` (then it is stopped).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
        None
    }

    /// Stops the node with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().expect("waiting for tandem serve");
            assert!(
                status.success(),
                "{} did not stop cleanly ({status}):\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// The process id of the running node.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node runs").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
    }

    /// `issue show KEY --json`.
    pub fn issue(&self, key: &str) -> serde_json::Value {
        self.ok(&["--json", "issue", "show", key]).json()
    }

    /// `issue list --json`.
    pub fn issues(&self) -> Vec<serde_json::Value> {
        match self.ok(&["--json", "issue", "list"]).json() {
            serde_json::Value::Array(a) => a,
            other => panic!("issue list is not an array: {other}"),
        }
    }

    /// Initiates a private connection ("I don't have a URL"); returns the code.
    pub fn initiate(&self, name: &str, project: &str, trigger: &str) -> String {
        let run = self.ok(&[
            "connection",
            "initiate",
            "--no-url",
            "--mode",
            "basic",
            "--project",
            project,
            "--trigger",
            trigger,
            "--name",
            name,
        ]);
        run.stdout
            .lines()
            .last()
            .expect("a code on the last line")
            .to_string()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {}'s serve.log ----\n{}", self.name, self.log());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it holds, failing with `what` after `timeout`.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP socket of a process, as /proc tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpSocket {
    pub local_port: u16,
    pub remote_port: u16,
    pub listening: bool,
}

/// The TCP sockets process `pid` holds (IPv4 and IPv6), read from /proc.
pub fn tcp_sockets(pid: u32) -> Vec<TcpSocket> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy().into_owned();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || !inodes.contains(cols[9]) {
                continue;
            }
            let port = |addr: &str| {
                u16::from_str_radix(addr.rsplit(':').next().unwrap_or("0"), 16).unwrap_or(0)
            };
            out.push(TcpSocket {
                local_port: port(cols[1]),
                remote_port: port(cols[2]),
                listening: cols[3] == "0A",
            });
        }
    }
    out
}
