//! SIGKILL in the middle of a burst of 1,000 messages: after a restart every message is there
//! exactly once, in order, on both sides.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Node, json, pair};

const N: usize = 1000;

fn burst(node: &mut Node, to: &str) {
    for i in 1..=N {
        node.command(&json!({ "cmd": "send", "id": to, "text": format!("m{i:04}") }));
    }
}

fn texts(h: &Value, outgoing: bool) -> Vec<String> {
    h.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["outgoing"] == outgoing)
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until every outgoing message in `profile`'s history with `peer` is delivered.
fn all_delivered(profile: &std::path::Path, peer: &str, at_least: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = json(profile, &["history", peer, "--limit", "5000"]);
        let out: Vec<&Value> = h
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["outgoing"] == true)
            .collect();
        if out.len() >= at_least && out.iter().all(|m| m["state"] == "delivered") {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "not all delivered: {} sent, states {:?}",
            out.len(),
            out.iter().filter(|m| m["state"] != "delivered").count()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn expected(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("m{i:04}")).collect()
}

#[test]
fn sigkill_of_the_receiver_mid_burst_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(dir.path());
    let b_id = b.id.clone();
    burst(&mut a, &b_id);
    // Kill the receiver once it has stored some of the burst, well before the end.
    b.count(50, 30, |e| usize::from(e["event"] == "message_received"));
    let b_profile = b.profile.clone();
    b.kill9();
    let stored = json(&b_profile, &["history", &a.id, "--limit", "5000"])
        .as_array()
        .unwrap()
        .len();
    assert!(
        stored > 0 && stored < N,
        "killed mid-burst: {stored} of {N} stored before the kill"
    );
    let b = Node::start(&b_profile);
    let ha = all_delivered(&a.profile, &b.id, N);
    assert_eq!(texts(&ha, true), expected(N));
    let hb = json(&b.profile, &["history", &a.id, "--limit", "5000"]);
    assert_eq!(
        texts(&hb, false),
        expected(N),
        "receiver has every message once, in order"
    );
    let seqs: Vec<u64> = hb
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());
}

#[test]
fn sigkill_of_the_sender_mid_burst_loses_and_duplicates_nothing_it_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b) = pair(dir.path());
    let b_id = b.id.clone();
    burst(&mut a, &b_id);
    // Every message the sender reported queued must arrive; kill it mid-burst.
    let mut queued = 0;
    while queued < 300 {
        a.wait_for(30, |e| e["event"] == "message_queued");
        queued += 1;
    }
    let a_profile = a.profile.clone();
    a.kill9();
    let before = json(&a_profile, &["history", &b_id, "--limit", "5000"]);
    let queued_before = before.as_array().unwrap().len();
    assert!(
        queued_before >= queued && queued_before < N,
        "killed mid-burst: {queued_before} of {N} queued"
    );
    let a = Node::start(&a_profile);
    let ha = all_delivered(&a.profile, &b_id, queued);
    let sent = texts(&ha, true);
    assert!(
        sent.len() >= queued && sent.len() <= N,
        "{} queued, {} in the outbox",
        queued,
        sent.len()
    );
    assert_eq!(
        sent,
        expected(sent.len()),
        "sender history is a gap-free prefix"
    );
    let hb = json(&b.profile, &["history", &a.id, "--limit", "5000"]);
    assert_eq!(
        texts(&hb, false),
        sent,
        "receiver has exactly what the sender queued, once, in order"
    );
}
