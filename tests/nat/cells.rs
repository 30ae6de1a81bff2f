//! Hole punching cell by cell: two peers that know each other only by key, behind networks
//! of two kinds, a rendezvous on the WAN. Where a direct path can exist, messages go both
//! ways on it and each side reports `"path": "direct"` with the address it really talks to;
//! where none can, the sender hears so in words within a bound, not a silent queue.

use std::time::Instant;

use natter_lab::{Lab, Nat};
use serde_json::json;

use crate::support::{Node, Rendezvous};

/// How long a direct session may take to come up behind NATs (a few punch rounds).
const PUNCH_SECS: u64 = 30;
/// The bound within which a sender hears that no direct path exists.
const NO_PATH_SECS: u64 = 30;

struct Cell {
    lab: Lab,
    a_host: natter_lab::Host,
    _dir: tempfile::TempDir,
    _rv: Rendezvous,
    a: Node,
    b: Node,
    /// Where each side appears on the WAN (its router's address, or its own).
    a_wan: String,
    b_wan: String,
}

fn cell(a_kind: Nat, b_kind: Nat) -> Cell {
    let mut lab = Lab::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rv_host = lab.public("rv").unwrap();
    let (a_host, a_seen) = lab.site("a", a_kind).unwrap();
    let (b_host, b_seen) = lab.site("b", b_kind).unwrap();
    let wan = |seen: natter_lab::Observed| seen.first.map(|a| a.ip().to_string()).unwrap();
    let (a_wan, b_wan) = (wan(a_seen), wan(b_seen));
    let rv = Rendezvous::start(&rv_host, &dir.path().join("rv"));
    let mut a = Node::start(&a_host, &dir.path().join("a"), &rv);
    let mut b = Node::start(&b_host, &dir.path().join("b"), &rv);
    a.add(&b);
    b.add(&a);
    Cell {
        lab,
        a_host,
        _dir: dir,
        _rv: rv,
        a,
        b,
        a_wan,
        b_wan,
    }
}

fn direct(a_kind: Nat, b_kind: Nat) {
    let mut c = cell(a_kind, b_kind);
    let started = Instant::now();
    let sent = c.a.ask(json!({
        "cmd": "send", "id": c.b.id, "text": "hello from a",
        "wait": "delivered", "timeout": PUNCH_SECS,
    }));
    assert_eq!(sent["state"], "delivered", "{a_kind:?}×{b_kind:?}: {sent}");
    let took = started.elapsed();
    let back = c.b.ask(json!({
        "cmd": "send", "id": c.a.id, "text": "hello from b",
        "wait": "delivered", "timeout": PUNCH_SECS,
    }));
    assert_eq!(back["state"], "delivered", "{a_kind:?}×{b_kind:?}: {back}");
    let b_id = c.b.id.clone();
    let a_id = c.a.id.clone();
    let on_a = c.a.connected(&b_id, 5);
    let on_b = c.b.connected(&a_id, 5);
    for (side, e, other_wan) in [("a", &on_a, &c.b_wan), ("b", &on_b, &c.a_wan)] {
        assert_eq!(e["path"], "direct", "{a_kind:?}×{b_kind:?}, {side}: {e}");
        let remote = e["remote"].as_str().unwrap_or_default();
        assert!(
            remote.starts_with(&format!("{other_wan}:")),
            "{a_kind:?}×{b_kind:?}, {side} talks to {remote}, not to the other side's WAN address {other_wan}"
        );
    }
    // What `paths` lists is what the event said.
    let paths = c.a.ask(json!({ "cmd": "paths" }));
    let live = &paths["sessions"][0];
    assert_eq!(
        (&live["peer"], &live["path"]),
        (&on_a["peer"], &on_a["path"]),
        "{paths}"
    );
    assert!(paths["conns_direct"].as_u64().unwrap() >= 1, "{paths}");
    eprintln!("{a_kind:?}×{b_kind:?}: delivered in {took:?}, direct both ways");
}

fn no_direct_path(a_kind: Nat, b_kind: Nat) {
    let mut c = cell(a_kind, b_kind);
    let started = Instant::now();
    let sent =
        c.a.ask(json!({ "cmd": "send", "id": c.b.id, "text": "anyone there?" }));
    assert_eq!(sent["state"], "queued");
    let b_id = c.b.id.clone();
    let failed =
        c.a.child
            .wait_for(NO_PATH_SECS, |e| {
                e["event"] == "dial_failed" && e["peer"] == b_id.as_str()
            })
            .unwrap();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not reach") && error.contains("directly"),
        "{a_kind:?}×{b_kind:?}: {error}"
    );
    assert!(!c.a.child.seen.iter().any(|e| e["event"] == "connected"));
    eprintln!(
        "{a_kind:?}×{b_kind:?}: told after {:?}: {error}",
        started.elapsed()
    );
}

#[test]
fn public_and_public() {
    direct(Nat::Public, Nat::Public);
}

#[test]
fn public_and_home() {
    direct(Nat::Public, Nat::Home);
}

#[test]
fn public_and_full_cone() {
    direct(Nat::Public, Nat::FullCone);
}

#[test]
fn public_and_symmetric() {
    direct(Nat::Public, Nat::Symmetric);
}

#[test]
fn home_and_home() {
    direct(Nat::Home, Nat::Home);
}

#[test]
fn home_and_full_cone() {
    direct(Nat::Home, Nat::FullCone);
}

#[test]
fn full_cone_and_symmetric() {
    direct(Nat::FullCone, Nat::Symmetric);
}

#[test]
fn symmetric_and_full_cone() {
    direct(Nat::Symmetric, Nat::FullCone);
}

#[test]
fn home_and_symmetric_are_told_there_is_no_direct_path() {
    no_direct_path(Nat::Home, Nat::Symmetric);
}

#[test]
fn symmetric_and_symmetric_are_told_there_is_no_direct_path() {
    no_direct_path(Nat::Symmetric, Nat::Symmetric);
}

/// A laptop that moves to another network (its address and router change under the running
/// node) is reached again with no restart: the node hears the change, registers from where
/// it is now and punches again; the peer sees it at its new address.
#[test]
fn a_peer_that_moves_to_another_network_is_reached_again() {
    let mut c = cell(Nat::Home, Nat::Home);
    let sent = c.a.ask(json!({
        "cmd": "send", "id": c.b.id, "text": "before the move",
        "wait": "delivered", "timeout": PUNCH_SECS,
    }));
    assert_eq!(sent["state"], "delivered", "{sent}");
    let (router, _moved) = c.lab.move_to(&c.a_host, Nat::Home).unwrap();
    let started = Instant::now();
    let after = c.a.ask(json!({
        "cmd": "send", "id": c.b.id, "text": "after the move",
        "wait": "delivered", "timeout": 60,
    }));
    assert_eq!(after["state"], "delivered", "{after}");
    let new_wan = format!("{}:", router.wan_ip);
    let a_id = c.a.id.clone();
    let seen_anew =
        c.b.child
            .saw_or_wait(10, |e| {
                e["event"] == "connected"
                    && e["peer"] == a_id.as_str()
                    && e["remote"]
                        .as_str()
                        .is_some_and(|r| r.starts_with(&new_wan))
            })
            .unwrap();
    assert_eq!(seen_anew["path"], "direct");
    eprintln!(
        "moved Home→Home: delivered again after {:?}",
        started.elapsed()
    );
}
