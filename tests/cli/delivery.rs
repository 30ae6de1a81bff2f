//! Delivery when one side starts over or both sides have a backlog: a peer that lost its
//! database, a sender restored onto a fresh database, and two full backlogs meeting.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Node, json, ok, pair};

/// Texts of the messages in `peer`'s history on `profile`, ours or theirs.
fn texts(profile: &Path, peer: &str, outgoing: bool) -> Vec<String> {
    let h = json(profile, &["history", peer, "--limit", "5000"]);
    h.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["outgoing"] == outgoing)
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

fn send_delivered(profile: &Path, to: &str, text: &str) {
    ok(profile, &["send", to, text, "--wait", "delivered"]);
}

/// Removes the database of a profile (and its WAL), keeping `identity.pem`.
fn lose_database(profile: &Path) {
    for f in ["natter.db", "natter.db-wal", "natter.db-shm"] {
        let _ = std::fs::remove_file(profile.join(f));
    }
    assert!(profile.join("identity.pem").exists(), "the identity stays");
}

#[test]
fn a_peer_that_lost_its_database_receives_and_is_heard_again() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    for i in 1..=3 {
        send_delivered(&a.profile, &b_id, &format!("a{i}"));
        send_delivered(&b.profile, &a_id, &format!("b{i}"));
    }
    let b_profile = b.profile.clone();
    b.stop();
    lose_database(&b_profile);
    let b = Node::start(&b_profile);
    assert_eq!(b.id, b_id, "same identity");
    ok(
        &b.profile,
        &[
            "contact", "add", &a_id, "--name", "alice", "--addr", &a.addr,
        ],
    );
    ok(&a.profile, &["contact", "add", &b_id, "--addr", &b.addr]);
    // A's stream continues at 4, B's starts again at 1: both must be stored.
    send_delivered(&a.profile, &b_id, "after a");
    send_delivered(&b.profile, &a_id, "after b");
    assert_eq!(texts(&b.profile, &a_id, false), ["after a"]);
    assert_eq!(
        texts(&a.profile, &b_id, false),
        ["b1", "b2", "b3", "after b"]
    );
}

#[test]
fn a_sender_restored_on_a_fresh_database_marks_delivered_only_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path());
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    for i in 1..=3 {
        send_delivered(&a.profile, &b_id, &format!("old{i}"));
    }
    let a_profile = a.profile.clone();
    a.stop();
    b.wait_for(20, |e| e["event"] == "disconnected");
    lose_database(&a_profile);
    let a = Node::start(&a_profile);
    assert_eq!(a.id, a_id, "same identity");
    // Queued before the session exists (a contact with no address yet): B's old ack (3)
    // must not reach these.
    let mut a = a;
    ok(&a.profile, &["contact", "add", &b_id, "--name", "bob"]);
    for i in 1..=3 {
        a.command(&json!({ "cmd": "send", "id": b_id, "text": format!("new{i}") }));
        a.wait_for(20, |e| e["event"] == "message_queued");
    }
    ok(&a.profile, &["contact", "add", &b_id, "--addr", &b.addr]);
    let mut delivered = 0;
    while delivered < 3 {
        let e = a.wait_for(30, |e| e["event"] == "message_delivered");
        delivered += e["ids"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(
        texts(&b.profile, &a_id, false),
        ["old1", "old2", "old3", "new1", "new2", "new3"],
        "every message reported delivered is stored by the receiver"
    );
}

const BACKLOG: usize = 150;
const SIZE: usize = 12 * 1024;

fn big(from: &str, i: usize) -> String {
    let head = format!("{from}{i:03} ");
    head.clone() + &"x".repeat(SIZE - head.len())
}

/// Queues `BACKLOG` messages of 12 KB to `to` on a node that cannot reach it.
fn queue_backlog(node: &mut Node, from: &str, to: &str) {
    for i in 1..=BACKLOG {
        node.command(&json!({ "cmd": "send", "id": to, "text": big(from, i) }));
    }
    node.count(BACKLOG, 30, |e| usize::from(e["event"] == "message_queued"));
}

fn received(node: &mut Node) {
    node.count(BACKLOG, 120, |e: &Value| {
        usize::from(e["event"] == "message_received")
    });
}

#[test]
fn two_full_backlogs_meet_and_all_arrive_once_in_order_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a_profile, b_profile) = (a.profile.clone(), b.profile.clone());
    b.stop();
    let mut a = a;
    queue_backlog(&mut a, "a", &b_id);
    a.stop();
    let mut b = Node::start(&b_profile);
    queue_backlog(&mut b, "b", &a_id);
    let mut a = Node::start(&a_profile);
    // Both know the other's new address: both dial, both flush at once.
    ok(&a.profile, &["contact", "add", &b_id, "--addr", &b.addr]);
    ok(&b.profile, &["contact", "add", &a_id, "--addr", &a.addr]);
    received(&mut a);
    received(&mut b);
    let want = |from: &str| (1..=BACKLOG).map(|i| big(from, i)).collect::<Vec<_>>();
    assert!(
        texts(&b.profile, &a_id, false) == want("a"),
        "B has A's backlog once, in order"
    );
    assert!(
        texts(&a.profile, &b_id, false) == want("b"),
        "A has B's backlog once, in order"
    );
}
