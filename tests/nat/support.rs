//! A rendezvous and nodes as processes inside lab hosts.

use std::path::Path;

use natter_lab::{Host, JsonChild, LabError};
use serde_json::{Value, json};

const CLI: &str = env!("CARGO_BIN_EXE_natter-cli");
const RENDEZVOUS: &str = env!("CARGO_BIN_EXE_natter-rendezvous");

/// `natter-rendezvous` on a public host.
pub(crate) struct Rendezvous {
    pub child: JsonChild,
    pub addr: String,
    pub key: String,
}

impl Rendezvous {
    pub(crate) fn start(host: &Host, data: &Path) -> Rendezvous {
        Self::start_with(host, data, false)
    }

    /// With `relay`, it relays for clients that consent (`--relay`).
    pub(crate) fn start_with(host: &Host, data: &Path, relay: bool) -> Rendezvous {
        let extra: &[&str] = if relay { &["--relay"] } else { &[] };
        Self::start_with_args(host, data, extra)
    }

    /// With more arguments (`--relay`, `--listen-tcp ADDR`).
    pub(crate) fn start_with_args(host: &Host, data: &Path, extra: &[&str]) -> Rendezvous {
        let mut c = host.command(RENDEZVOUS);
        c.arg("--listen")
            .arg(format!("{}:4433", host.ip))
            .arg("--data")
            .arg(data)
            .args(extra);
        let mut child = JsonChild::spawn(c).unwrap();
        let first = child.wait_for(20, |v| v.get("addr").is_some()).unwrap();
        Rendezvous {
            addr: first["addr"].as_str().unwrap().to_string(),
            key: first["key"].as_str().unwrap().to_string(),
            child,
        }
    }
}

/// `natter-cli run` in a host, on the default port, using the rendezvous, no mDNS.
pub(crate) struct Node {
    pub child: JsonChild,
    pub id: String,
}

impl Node {
    pub(crate) fn start(host: &Host, profile: &Path, rv: &Rendezvous) -> Node {
        Self::start_env(host, profile, rv, &[])
    }

    /// With environment variables set (a proxy, say).
    pub(crate) fn start_env(
        host: &Host,
        profile: &Path,
        rv: &Rendezvous,
        env: &[(&str, &str)],
    ) -> Node {
        let mut c = host.command(CLI);
        c.envs(env.iter().copied());
        c.arg("--profile")
            .arg(profile)
            .args([
                "--no-mdns",
                "--rendezvous",
                &rv.addr,
                "--rendezvous-key",
                &rv.key,
            ])
            .args(["run", "--listen", "0.0.0.0:47100"]);
        let mut child = JsonChild::spawn(c).unwrap();
        let started = child.wait_for(20, |e| e["event"] == "started").unwrap();
        let id = started["peer_id"].as_str().unwrap().to_string();
        child
            .wait_for(20, |e| e["event"] == "rendezvous" && e["online"] == true)
            .unwrap();
        Node { child, id }
    }

    pub(crate) fn ask(&mut self, cmd: Value) -> Value {
        self.child.ask(&cmd).unwrap()
    }

    /// Adds a contact by its Natter ID alone: where it is comes from the rendezvous.
    pub(crate) fn add(&mut self, other: &Node) {
        self.ask(json!({ "cmd": "contact_add", "id": other.id }));
    }

    /// Sends `text` to `to` and waits (without holding the answer up) until it is stored
    /// there.
    pub(crate) fn delivered(&mut self, to: &str, text: &str, secs: u64) {
        let sent = self.ask(json!({ "cmd": "send", "id": to, "text": text }));
        let id = sent["id"].as_str().unwrap().to_string();
        self.wait_delivered(&id, secs)
            .unwrap_or_else(|e| panic!("{text:?} not delivered: {e}"));
    }

    /// Waits (or finds already seen) the `message_delivered` event of message `id`.
    pub(crate) fn wait_delivered(&mut self, id: &str, secs: u64) -> Result<Value, LabError> {
        self.child.saw_or_wait(secs, |e| {
            e["event"] == "message_delivered"
                && e["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|i| i == id))
        })
    }

    /// The `connected` event this node reported for `peer` (the first, if seen already).
    pub(crate) fn connected(&mut self, peer: &str, secs: u64) -> Value {
        self.child
            .saw_or_wait(secs, |e| e["event"] == "connected" && e["peer"] == peer)
            .unwrap()
    }

    /// The texts this node stored from `from`, oldest first.
    pub(crate) fn received_texts(&mut self, from: &str) -> Vec<String> {
        let history = self.ask(json!({ "cmd": "history", "id": from, "limit": 500 }));
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["outgoing"] == false)
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect()
    }
}
