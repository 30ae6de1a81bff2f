//! Test hosts: network namespaces joined by a veth pair, made by the test and torn down after.
//! Addresses are in 198.18.0.0/15 (the benchmark range); nothing leaves the pair.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One network namespace with `eth0` (one end of the veth pair) and `lo` up.
pub(crate) struct Host {
    pub ns: String,
    pub ip: String,
}

/// Two hosts on one virtual LAN segment.
pub(crate) struct Lan {
    pub a: Host,
    pub b: Host,
}

impl Lan {
    pub(crate) fn new() -> Lan {
        assert!(
            nix_is_root(),
            "the LAN tests create network namespaces and need root; run ./scripts/test as root (CI does)"
        );
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", std::process::id() % 100_000, n);
        let (na, nb) = (format!("natA{tag}"), format!("natB{tag}"));
        let (va, vb) = (format!("nva{tag}"), format!("nvb{tag}"));
        let subnet = 10 + n as u32; // 198.18.<subnet>.0/24, one per pair
        sh(&["ip", "netns", "add", &na]);
        sh(&["ip", "netns", "add", &nb]);
        sh(&[
            "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
        ]);
        let mut hosts = Vec::new();
        for (ns, veth, last) in [(&na, &va, 1), (&nb, &vb, 2)] {
            let ip = format!("198.18.{subnet}.{last}");
            sh(&["ip", "link", "set", veth, "netns", ns]);
            sh(&["ip", "-n", ns, "link", "set", veth, "name", "eth0"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            hosts.push(Host { ns: ns.clone(), ip });
        }
        let b = hosts.pop().unwrap_or_else(|| unreachable!());
        let a = hosts.pop().unwrap_or_else(|| unreachable!());
        Lan { a, b }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in [&self.a.ns, &self.b.ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Host {
    /// A command run inside this host's namespace.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }
}
