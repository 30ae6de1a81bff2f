//! The soak's processes: a rendezvous and `natter-cli run` nodes inside lab hosts, driven
//! by JSON lines.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use natter_lab::{Host, JsonChild};
use serde_json::{Value, json};

const CLI: &str = env!("CARGO_BIN_EXE_natter-cli");
const RENDEZVOUS: &str = env!("CARGO_BIN_EXE_natter-rendezvous");

/// `natter-rendezvous` on a public host, always on the same address and data folder (so a
/// restart is the same server, as its clients know it).
pub(crate) struct Rendezvous {
    pub child: JsonChild,
    pub addr: String,
    pub key: String,
}

impl Rendezvous {
    pub(crate) fn start(host: &Host, data: &Path) -> Rendezvous {
        let mut c = host.command(RENDEZVOUS);
        c.arg("--listen")
            .arg(format!("{}:4433", host.ip))
            .arg("--data")
            .arg(data);
        let mut child = JsonChild::spawn(c).unwrap();
        let first = child.wait_for(30, |v| v.get("addr").is_some()).unwrap();
        Rendezvous {
            addr: first["addr"].as_str().unwrap().to_string(),
            key: first["key"].as_str().unwrap().to_string(),
            child,
        }
    }
}

/// The rendezvous' database files.
pub(crate) fn rendezvous_dbs(data: &Path) -> Vec<PathBuf> {
    vec![data.join("rendezvous.sqlite3")]
}

/// One node, as a process in its host.
pub(crate) struct Peer {
    child: JsonChild,
    pub id: String,
}

impl Peer {
    pub(crate) fn start(host: &Host, profile: &Path, rv: &Rendezvous) -> Peer {
        let mut c = host.command(CLI);
        c.arg("--profile")
            .arg(profile)
            .args(["--no-mdns", "--rendezvous", &rv.addr])
            .args(["--rendezvous-key", &rv.key])
            .args(["run", "--listen", "0.0.0.0:47100"]);
        let mut child = JsonChild::spawn(c).unwrap();
        let started = child.wait_for(30, |e| e["event"] == "started").unwrap();
        let id = started["peer_id"].as_str().unwrap().to_string();
        Peer { child, id }
    }

    pub(crate) fn ask(&mut self, cmd: Value) -> Value {
        self.child.ask(&cmd).unwrap()
    }

    /// A command that may be refused: the refusal's words.
    pub(crate) fn try_ask(&mut self, cmd: Value) -> Result<Value, String> {
        self.child.ask(&cmd).map_err(|e| e.to_string())
    }

    /// Waits for this node's `connected` event with `peer` (or finds it seen already).
    pub(crate) fn connected(&mut self, peer: &str, secs: u64) {
        self.child
            .saw_or_wait(secs, |e| e["event"] == "connected" && e["peer"] == peer)
            .unwrap();
    }

    /// Waits until a session with `peer` is up now.
    pub(crate) fn connected_now(&mut self, peer: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let paths = self.ask(json!({ "cmd": "paths" }));
            let up = paths["sessions"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["peer"] == peer));
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} has no session with {peer} after {secs} s: stuck",
                self.id
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The texts this node stored from `from`, in its history's order.
    pub(crate) fn received(&mut self, from: &str) -> Vec<String> {
        let history = self.ask(json!({ "cmd": "history", "id": from, "limit": 1_000_000 }));
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["outgoing"] == false)
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect()
    }

    /// Whether it told its user the disk is full (an `error` event).
    pub(crate) fn said_disk_full(&mut self) -> bool {
        self.child.drain(0);
        self.child.seen.iter().any(|e| {
            e["event"] == "error"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("disk holding your Natter profile is full"))
        })
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        self.child.kill();
    }

    /// Stops it the ordinary way (its database closed cleanly).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.send(&json!({ "cmd": "shutdown" }));
        let _ = self.child.wait();
    }
}
