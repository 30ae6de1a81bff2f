//! The relay, cell by cell: two peers no direct path joins (home × symmetric, symmetric ×
//! symmetric) and a rendezvous started with `--relay`. Under `always` they talk through it
//! both ways and both sides say so (`"path": "relayed"`, `"via"` the relay) before the
//! first message; under `never` the user hears why in words; under `ask` nothing flows
//! until the user says yes, and nothing at all after a no.

use natter_lab::{Lab, Nat};
use serde_json::{Value, json};

use crate::support::{Node, Rendezvous};

/// Message texts the relay host must never see in clear.
const SECRET_A: &str = "capture marker: the relay must not read this, 7Qx";
const SECRET_B: &str = "capture marker: nor this answer, 9Kw";
const CONTROL: &str = "capture control: plain UDP the capture must see";

/// A missed punch round (5 s), the relay opened by both, the handshake through it.
const RELAY_SECS: u64 = 40;

struct Cell {
    lab: Lab,
    a_host: natter_lab::Host,
    rv_host: natter_lab::Host,
    dir: tempfile::TempDir,
    rv: Rendezvous,
    a: Node,
    b: Node,
}

/// Two peers behind `a_kind` and `b_kind`, each with its relay policy, a relaying
/// rendezvous; contacts of each other by key alone.
fn cell(a_kind: Nat, a_policy: &str, b_kind: Nat, b_policy: &str) -> Cell {
    let mut lab = Lab::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rv_host = lab.public("rv").unwrap();
    let (a_host, _) = lab.site("a", a_kind).unwrap();
    let (b_host, _) = lab.site("b", b_kind).unwrap();
    let rv = Rendezvous::start_with(&rv_host, &dir.path().join("rv"), true);
    let mut a = Node::start(&a_host, &dir.path().join("a"), &rv);
    let mut b = Node::start(&b_host, &dir.path().join("b"), &rv);
    for (node, policy) in [(&mut a, a_policy), (&mut b, b_policy)] {
        let set = node.ask(json!({ "cmd": "relay_policy", "policy": policy }));
        assert_eq!(set["relay_policy"], policy, "{set}");
    }
    a.add(&b);
    b.add(&a);
    Cell {
        lab,
        a_host,
        rv_host,
        dir,
        rv,
        a,
        b,
    }
}

fn relayed_both_ways(a_kind: Nat, b_kind: Nat) {
    let mut c = cell(a_kind, "always", b_kind, "always");
    let (a_id, b_id) = (c.a.id.clone(), c.b.id.clone());
    // Everything the relay host sees on the wire while the two talk through it.
    let capture = c.rv_host.capture().unwrap();
    c.a.delivered(&b_id, SECRET_A, RELAY_SECS);
    c.b.delivered(&a_id, SECRET_B, 10);
    // A control: cleartext that does cross the relay host's wire is seen by the capture.
    let rv_ip = c.rv_host.ip;
    c.a_host
        .spawn(move || {
            let udp = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            udp.send_to(CONTROL.as_bytes(), (rv_ip, 9)).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let seen = capture.finish();
    assert!(
        seen.contains(CONTROL.as_bytes()),
        "the capture missed cleartext it should see"
    );
    let relayed = seen.frames.iter().filter(|f| f.len() >= 1200).count();
    assert!(
        relayed > 0,
        "no full-sized relay frame captured ({} frames)",
        seen.frames.len()
    );
    for secret in [SECRET_A, SECRET_B] {
        assert!(
            !seen.contains(secret.as_bytes()),
            "the relay host saw {secret:?} in clear"
        );
    }
    for (side, node, other) in [("a", &mut c.a, &b_id), ("b", &mut c.b, &a_id)] {
        let e = node.connected(other, 5);
        assert_eq!(e["path"], "relayed", "{a_kind:?}×{b_kind:?}, {side}: {e}");
        assert_eq!(e["via"], c.rv.addr.as_str(), "{side}: {e}");
        assert_eq!(e["remote"], c.rv.addr.as_str(), "{side}: {e}");
        let paths = node.ask(json!({ "cmd": "paths" }));
        assert_eq!(paths["sessions"][0]["path"], "relayed", "{side}: {paths}");
    }
    let stats =
        c.rv.child
            .wait_for(10, |e| {
                e["event"] == "relay_stats" && e["relay"]["packets"].as_u64() > Some(0)
            })
            .unwrap();
    eprintln!(
        "{a_kind:?}×{b_kind:?}: relayed both ways; relay {}",
        stats["relay"]
    );
}

#[test]
fn home_and_symmetric_talk_through_the_relay() {
    relayed_both_ways(Nat::Home, Nat::Symmetric);
}

#[test]
fn symmetric_and_symmetric_talk_through_the_relay() {
    relayed_both_ways(Nat::Symmetric, Nat::Symmetric);
}

/// `never`: no relay, and the user reads why (not a silent queue).
#[test]
fn never_keeps_the_relay_closed_and_says_why() {
    let mut c = cell(Nat::Home, "never", Nat::Symmetric, "always");
    let b_id = c.b.id.clone();
    let sent =
        c.a.ask(json!({ "cmd": "send", "id": b_id, "text": "not through a relay" }));
    assert_eq!(sent["state"], "queued");
    let failed =
        c.a.child
            .wait_for(RELAY_SECS, |e| {
                e["event"] == "dial_failed" && e["kind"] == "needs_relay"
            })
            .unwrap();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("needs a relay; your policy forbids it"),
        "{error}"
    );
    c.a.child.drain(3000);
    assert!(
        !c.a.child.seen.iter().any(|e| e["event"] == "connected"),
        "a session came up although the policy is never"
    );
}

/// `ask`: the prompt names the relay; nothing goes through it before the answer; after a
/// yes the message is delivered through it.
#[test]
fn ask_prompts_and_a_yes_opens_the_relay() {
    let mut c = cell(Nat::Home, "ask", Nat::Symmetric, "always");
    let (b_id, rv) = (c.b.id.clone(), c.rv.addr.clone());
    let sent =
        c.a.ask(json!({ "cmd": "send", "id": b_id, "text": "after a yes" }));
    let id = sent["id"].as_str().unwrap().to_string();
    let prompt =
        c.a.child
            .wait_for(RELAY_SECS, |e| e["event"] == "relay_consent")
            .unwrap();
    assert_eq!(
        (&prompt["peer"], &prompt["relay"]),
        (&json!(b_id), &json!(rv)),
        "{prompt}"
    );
    assert!(!c.a.child.seen.iter().any(|e| e["event"] == "connected"));
    c.a.ask(json!({ "cmd": "relay_consent", "id": b_id, "answer": "yes" }));
    c.a.wait_delivered(&id, RELAY_SECS).unwrap();
    let e = c.a.connected(&b_id, 5);
    assert_eq!(e["path"], "relayed", "{e}");
}

/// `ask` answered no: nothing flows through the relay, and the message waits.
#[test]
fn ask_answered_no_sends_nothing_through_the_relay() {
    let mut c = cell(Nat::Home, "ask", Nat::Symmetric, "always");
    let b_id = c.b.id.clone();
    c.a.ask(json!({ "cmd": "send", "id": b_id, "text": "never relayed" }));
    c.a.child
        .wait_for(RELAY_SECS, |e| e["event"] == "relay_consent")
        .unwrap();
    c.a.ask(json!({ "cmd": "relay_consent", "id": b_id, "answer": "no" }));
    // Two more punch rounds and whatever b keeps asking.
    c.a.child.drain(15_000);
    assert!(!c.a.child.seen.iter().any(|e| e["event"] == "connected"));
    c.rv.child.drain(2_500);
    let forwarded: u64 =
        c.rv.child
            .seen
            .iter()
            .filter(|e| e["event"] == "relay_stats")
            .filter_map(|e| e["relay"]["packets"].as_u64())
            .max()
            .unwrap_or(0);
    assert_eq!(forwarded, 0, "the relay forwarded packets after a no");
    c.b.child.drain(100);
    assert!(
        !c.b.child
            .seen
            .iter()
            .any(|e| e["event"] == "message_received")
    );
}

/// The relay dies (SIGKILL) under a relayed session and comes back: the session returns
/// through it, and what was sent meanwhile arrives once each, in order.
#[test]
fn a_relay_killed_mid_session_comes_back_with_nothing_lost_or_doubled() {
    let mut c = cell(Nat::Home, "always", Nat::Symmetric, "always");
    let (a_id, b_id) = (c.a.id.clone(), c.b.id.clone());
    c.a.delivered(&b_id, "before the crash", RELAY_SECS);
    c.rv.child.kill();
    let mut ids = Vec::new();
    for i in 0..5 {
        let sent =
            c.a.ask(json!({ "cmd": "send", "id": b_id, "text": format!("during {i}") }));
        ids.push(sent["id"].as_str().unwrap().to_string());
    }
    c.rv = Rendezvous::start_with(&c.rv_host, &c.dir.path().join("rv"), true);
    // The old session ends at the idle timeout (15 s), a punch round misses (5 s), the
    // relay is opened again by both.
    for id in &ids {
        c.a.wait_delivered(id, 60).unwrap();
    }
    let texts = c.b.received_texts(&a_id);
    let expected: Vec<String> = std::iter::once("before the crash".to_string())
        .chain((0..5).map(|i| format!("during {i}")))
        .collect();
    assert_eq!(texts, expected, "each once, in order");
    let again =
        c.a.child
            .seen
            .iter()
            .filter(|e| e["event"] == "connected")
            .count();
    assert!(again >= 2, "the session came back ({again} sessions)");
    let last =
        c.a.child
            .seen
            .iter()
            .rev()
            .find(|e| e["event"] == "connected")
            .unwrap();
    assert_eq!(last["path"], "relayed", "{last}");
}

/// A relayed session moves to a direct path once one exists (here: the symmetric side moves
/// to a home network), on both sides, and what was sent around the switch arrives once each,
/// in order.
#[test]
fn a_relayed_session_goes_direct_when_a_path_opens_with_nothing_lost() {
    let mut c = cell(Nat::Symmetric, "always", Nat::Home, "always");
    let (a_id, b_id) = (c.a.id.clone(), c.b.id.clone());
    c.a.delivered(&b_id, "relayed", RELAY_SECS);
    assert_eq!(c.a.connected(&b_id, 5)["path"], "relayed");
    c.lab.move_to(&c.a_host, Nat::Home).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let sent =
            c.a.ask(json!({ "cmd": "send", "id": b_id, "text": format!("switch {i}") }));
        ids.push(sent["id"].as_str().unwrap().to_string());
    }
    let direct = |e: &Value| e["event"] == "connected" && e["path"] == "direct";
    // Both sides punch at once, so two direct connections may come up; the one-session
    // rule keeps one of them on both sides (checked with `paths` below).
    c.a.child.saw_or_wait(60, direct).unwrap();
    c.b.child.saw_or_wait(10, direct).unwrap();
    for id in &ids {
        c.a.wait_delivered(id, 30).unwrap();
    }
    let texts = c.b.received_texts(&a_id);
    let expected: Vec<String> = std::iter::once("relayed".to_string())
        .chain((0..5).map(|i| format!("switch {i}")))
        .collect();
    assert_eq!(texts, expected, "each once, in order");
    for node in [&mut c.a, &mut c.b] {
        let paths = node.ask(json!({ "cmd": "paths" }));
        assert_eq!(paths["sessions"][0]["path"], "direct", "{paths}");
    }
}
