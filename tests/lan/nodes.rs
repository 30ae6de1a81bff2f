//! Two hosts, two nodes, no addresses typed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use natter_lab::JsonChild;
use serde_json::Value;

use crate::netns::{Host, Lan};

const BIN: &str = env!("CARGO_BIN_EXE_natter-cli");

pub(crate) struct Node {
    pub(crate) child: JsonChild,
    profile: PathBuf,
    pub(crate) id: String,
}

impl Node {
    pub(crate) fn start(host: &Host, profile: &Path, extra: &[&str]) -> Node {
        let mut command = host.command(Path::new(BIN));
        command
            .arg("--profile")
            .arg(profile)
            .args(["run", "--listen", "0.0.0.0:47100"])
            .args(extra);
        let mut n = Node {
            child: JsonChild::spawn(command).unwrap(),
            profile: profile.to_path_buf(),
            id: String::new(),
        };
        let started = n.wait_for(20, |e| e["event"] == "started");
        n.id = started["peer_id"].as_str().unwrap().to_string();
        n
    }

    pub(crate) fn wait_for(&mut self, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        self.child
            .wait_for(secs, f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn seen_within(&mut self, ms: u64, f: impl Fn(&Value) -> bool) -> bool {
        let before = self.child.seen.len();
        self.child.drain(ms);
        self.child.seen[before..].iter().any(f)
    }

    /// A one-shot command through this node's control socket (a Unix socket: path-based, so it
    /// is reachable from outside the namespace).
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(BIN)
            .arg("--profile")
            .arg(&self.profile)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

#[test]
fn two_hosts_discover_each_other_and_chat_with_no_address_given() {
    let lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let mut a = Node::start(&lan.a, &dir.path().join("a"), &["--name", "Alice"]);
    let mut b = Node::start(&lan.b, &dir.path().join("b"), &[]);
    let bid = b.id.clone();
    let seen = a.wait_for(15, |e| {
        e["event"] == "peer_nearby" && e["peer"] == bid.as_str()
    });
    eprintln!("A saw B after {:?}: {seen}", t.elapsed());
    assert_eq!(seen["contact"], false, "a stranger until added");
    assert!(seen["addrs"].to_string().contains(&lan.b.ip), "{seen}");
    // Add by key alone: the LAN supplies the address.
    a.cli(&["contact", "add", &b.id, "--name", "bob"]);
    b.cli(&["contact", "add", &a.id, "--name", "alice"]);
    let out = a.cli(&[
        "send",
        &b.id,
        "hello across the LAN",
        "--wait",
        "delivered",
        "--timeout",
        "15",
    ]);
    assert!(out.starts_with("delivered"), "{out}");
    eprintln!("first message delivered {:?} after start", t.elapsed());
    b.wait_for(10, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "hello across the LAN"
    });
    let near = a.cli(&["--json", "nearby"]);
    assert!(
        near.contains(&b.id) && near.contains("\"contact\":true"),
        "{near}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut bnear = b.cli(&["nearby"]);
    while !bnear.contains(&a.id) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        bnear = b.cli(&["nearby"]);
    }
    assert!(
        bnear.contains(&a.id) && bnear.contains("Alice"),
        "the published name shows: {bnear}"
    );
}

#[test]
fn a_node_with_advertising_off_is_not_seen_but_sees_others() {
    let lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Node::start(&lan.a, &dir.path().join("a"), &[]);
    let mut hidden = Node::start(&lan.b, &dir.path().join("b"), &["--no-advertise"]);
    let aid = a.id.clone();
    hidden.wait_for(15, |e| {
        e["event"] == "peer_nearby" && e["peer"] == aid.as_str()
    });
    let hid = hidden.id.clone();
    assert!(!a.seen_within(3000, |e| e["event"] == "peer_nearby"
        && e["peer"] == hid.as_str()));
    assert!(!a.cli(&["nearby"]).contains(&hidden.id));
}

#[test]
fn doctor_explains_a_host_with_its_network_down() {
    let lan = Lan::new();
    crate::netns::sh(&["ip", "-n", &lan.a.ns, "link", "set", "eth0", "down"]);
    let out = lan
        .a
        .command(Path::new(BIN))
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROBLEM") && text.contains("only the loopback"),
        "{text}"
    );
    assert!(text.contains("try:"), "says what to do next: {text}");
    assert_eq!(out.status.code(), Some(1), "a problem found is exit code 1");
    let ok = lan
        .b
        .command(Path::new(BIN))
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("interface eth0 is up"), "{text}");
    assert_eq!(ok.status.success(), !text.contains("PROBLEM"), "{text}");
}
