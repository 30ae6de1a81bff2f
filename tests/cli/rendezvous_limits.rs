//! A real `natter-rendezvous` process with more mail waiting than one answer carries: a
//! backlog larger than one fetch answer still arrives whole.

use crate::support::{Node, Rendezvous, ok};

/// Twelve of the largest messages (16 KiB of text) wait for a contact: more than one fetch
/// answer may carry (160 KiB), so it takes rounds, and the node fetches until none is left.
#[test]
fn a_backlog_larger_than_one_fetch_answer_arrives_whole() {
    const MESSAGES: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(&dir.path().join("server"), "127.0.0.1:0", &[]);
    let args = server.args().map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut a = Node::start_with(&dir.path().join("a"), &args);
    let c = Node::start_with(&dir.path().join("c"), &args);
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(&c.profile, &["contact", "add", &a.id, "--name", "alice"]);
    let cid = c.id.clone();
    a.wait_for(20, |e| {
        e["event"] == "connected" && e["peer"] == cid.as_str()
    });
    let c_profile = c.profile.clone();
    c.stop();
    let text = |n: usize| format!("{n:02}:{}", "x".repeat(16_000));
    for n in 1..MESSAGES {
        ok(&a.profile, &["send", &cid, &text(n)]);
    }
    // Deposits keep the order: once the last is stored, all are.
    let last = text(MESSAGES);
    let wait = ["--wait", "delivered", "--timeout", "30"];
    let out = ok(
        &a.profile,
        &[&["send", &cid, &last][..], &wait[..]].concat(),
    );
    assert!(out.starts_with("stored "), "{out}");
    a.stop();

    let mut c = Node::start_with(&c_profile, &args);
    let prefix = format!("{MESSAGES:02}:");
    c.wait_for(20, |e| {
        e["event"] == "message_received"
            && e["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&prefix))
    });
    let got = c
        .child
        .seen
        .iter()
        .filter(|e| e["event"] == "message_received")
        .count();
    assert_eq!(got, MESSAGES);
}
