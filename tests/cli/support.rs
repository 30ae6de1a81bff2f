//! Drives the real `natter-cli` binary as separate processes on loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use natter_lab::JsonChild;
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_natter-cli");

/// A one-shot `natter-cli --profile P ARGS...`.
/// An empty config file: the tests' natter-cli never reads the config of the user who runs
/// them (`~/.config/natter/config.toml`).
pub(crate) fn no_config() -> &'static Path {
    static EMPTY: std::sync::LazyLock<PathBuf> = std::sync::LazyLock::new(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests-config.toml");
        std::fs::write(&path, "# no settings: the tests pass their own\n").expect("written");
        path
    });
    &EMPTY
}

pub(crate) fn cli(profile: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env("NATTER_CONFIG", no_config())
        .arg("--profile")
        .arg(profile)
        .arg("--no-mdns") // these tests stay on loopback; LAN tests use namespaces
        .arg("--downloads")
        .arg(profile.join("downloads")) // never the user's real Downloads folder
        .args(args)
        .output()
        .expect("natter-cli runs")
}

/// stdout of a one-shot command that must succeed.
pub(crate) fn ok(profile: &Path, args: &[&str]) -> String {
    let out = cli(profile, args);
    assert!(
        out.status.success(),
        "natter-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The JSON answer of a one-shot command run with --json.
pub(crate) fn json(profile: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(profile, &all)).expect("json answer")
}

/// A `natter-cli run` process.
pub(crate) struct Node {
    /// The process and every line it printed (`child.seen`).
    pub child: JsonChild,
    pub profile: PathBuf,
    pub addr: String,
    pub id: String,
}

impl Node {
    pub(crate) fn start(profile: &Path) -> Node {
        Self::start_with(profile, &[])
    }

    /// `natter-cli run` with extra global arguments (e.g. a rendezvous).
    pub(crate) fn start_with(profile: &Path, extra: &[&str]) -> Node {
        Self::start_run(profile, extra, &[])
    }

    /// `natter-cli run` with extra global arguments and extra arguments of `run`.
    pub(crate) fn start_run(profile: &Path, extra: &[&str], run: &[&str]) -> Node {
        let mut command = Command::new(BIN);
        command
            .env("NATTER_CONFIG", no_config())
            .arg("--profile")
            .arg(profile)
            .arg("--downloads")
            .arg(profile.join("downloads"))
            .args(extra)
            .args(["--no-mdns", "run", "--listen", "127.0.0.1:0"])
            .args(run);
        let mut node = Node {
            child: JsonChild::spawn(command).expect("natter-cli run starts"),
            profile: profile.to_path_buf(),
            addr: String::new(),
            id: String::new(),
        };
        let started = node.wait_for(20, |e| e["event"] == "started");
        node.addr = started["listen"].as_str().unwrap_or_default().to_string();
        node.id = started["peer_id"].as_str().unwrap_or_default().to_string();
        node
    }

    /// The next line matching `f` (events and answers alike).
    pub(crate) fn wait_for(&mut self, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        self.child
            .wait_for(secs, f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A line matching `f` already read, or else the next one (an event and the answer to the
    /// command that caused it come from two tasks, in either order).
    pub(crate) fn saw_or_wait(&mut self, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        self.child
            .saw_or_wait(secs, f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads lines for `ms` milliseconds into `child.seen`.
    pub(crate) fn drain(&mut self, ms: u64) {
        self.child.drain(ms);
    }

    /// Counts lines matching `f` until `n` are seen.
    pub(crate) fn count(&mut self, n: usize, secs: u64, f: impl Fn(&Value) -> usize) {
        let mut total = 0;
        while total < n {
            let v = self.wait_for(secs, |v| f(v) > 0);
            total += f(&v);
        }
    }

    /// Writes a JSON command line to the node's stdin.
    pub(crate) fn command(&mut self, cmd: &Value) {
        self.child.send(cmd).expect("stdin");
    }

    pub(crate) fn kill9(mut self) {
        self.child.kill(); // SIGKILL
    }

    pub(crate) fn stop(mut self) {
        ok(&self.profile.clone(), &["stop"]);
        let _ = self.child.wait();
    }
}

/// Two running nodes that have each other as contacts, connected.
pub(crate) fn pair(dir: &Path) -> (Node, Node) {
    let mut a = Node::start(&dir.join("a"));
    let b = Node::start(&dir.join("b"));
    ok(
        &a.profile,
        &["contact", "add", &b.id, "--name", "bob", "--addr", &b.addr],
    );
    ok(
        &b.profile,
        &[
            "contact", "add", &a.id, "--name", "alice", "--addr", &a.addr,
        ],
    );
    let bid = b.id.clone();
    a.wait_for(20, |e| {
        e["event"] == "connected" && e["peer"] == bid.as_str()
    });
    (a, b)
}

pub(crate) const RENDEZVOUS: &str = env!("CARGO_BIN_EXE_natter-rendezvous");

/// A `natter-rendezvous` process on loopback.
pub(crate) struct Rendezvous {
    child: Child,
    pub addr: String,
    pub key: String,
    /// Its first line (`{"event":"listening",…}`).
    pub listening: Value,
}

impl Rendezvous {
    /// Starts on `listen` (use `127.0.0.1:0` for any port) with its state in `data`.
    pub(crate) fn start(data: &Path, listen: &str, extra: &[&str]) -> Rendezvous {
        Self::start_env(data, listen, extra, &[])
    }

    /// As [`Rendezvous::start`], with these environment variables set.
    pub(crate) fn start_env(
        data: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Rendezvous {
        let mut child = Command::new(RENDEZVOUS)
            .envs(env.iter().copied())
            .arg("--listen")
            .arg(listen)
            .arg("--data")
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("natter-rendezvous starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        let v: Value = serde_json::from_str(&first).expect("a JSON line");
        Rendezvous {
            child,
            addr: v["addr"].as_str().unwrap_or_default().to_string(),
            key: v["key"].as_str().unwrap_or_default().to_string(),
            listening: v,
        }
    }

    /// The global arguments that make a node use this server.
    pub(crate) fn args(&self) -> [&str; 4] {
        ["--rendezvous", &self.addr, "--rendezvous-key", &self.key]
    }

    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("exit status")
    }
}

impl Drop for Rendezvous {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
