//! Two `natter-cli run` processes chat both ways; one-shot commands go through the control
//! socket of the running node, or start a node of their own.

use serde_json::{Value, json};

use crate::support::{Node, json, ok, pair};

#[test]
fn two_processes_chat_both_ways_with_receipts_typing_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(dir.path());

    let out = ok(
        &a.profile,
        &["send", &b.id, "hello bob", "--wait", "delivered"],
    );
    assert!(out.starts_with("delivered "), "{out}");
    b.wait_for(10, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "hello bob"
    });

    ok(&a.profile, &["typing", &b.id, "typing"]);
    b.wait_for(10, |e| e["event"] == "typing" && e["state"] == "typing");
    ok(&a.profile, &["typing", &b.id, "erased"]);
    b.wait_for(10, |e| e["event"] == "typing" && e["state"] == "erased");

    ok(&b.profile, &["read", &a.id]);
    a.wait_for(10, |e| e["event"] == "message_read");

    // A command on stdin of the running node works like the socket.
    b.command(&json!({ "cmd": "send", "id": a.id, "text": "hi alice", "wait": "delivered" }));
    b.wait_for(10, |e| {
        e["answer"]["ok"] == true && e["answer"]["result"]["state"] == "delivered"
    });
    a.wait_for(10, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "hi alice"
    });

    let ha = json(&a.profile, &["history", &b.id]);
    let texts = |h: &Value| -> Vec<(String, bool, String)> {
        h.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["text"].as_str().unwrap().to_string(),
                    m["outgoing"].as_bool().unwrap(),
                    m["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        texts(&ha),
        vec![
            ("hello bob".into(), true, "read".into()),
            ("hi alice".into(), false, "received".into())
        ]
    );
    let hb = json(&b.profile, &["history", &a.id]);
    assert_eq!(
        texts(&hb),
        vec![
            ("hello bob".into(), false, "received".into()),
            ("hi alice".into(), true, "delivered".into())
        ]
    );
    let human = ok(&a.profile, &["history", &b.id]);
    assert!(
        human.contains("me: hello bob") && human.contains("them: hi alice"),
        "{human}"
    );
    assert_eq!(
        json(&b.profile, &["search", "hello"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let contacts = json(&a.profile, &["contact", "list"]);
    assert_eq!(contacts[0]["nickname"], "bob");
    assert_eq!(contacts[0]["verification"], "unverified");
    // Both sides see the same safety number; marking it verified shows in the list.
    let va = json(&a.profile, &["contact", "verify", &b.id]);
    let vb = json(&b.profile, &["contact", "verify", &a.id]);
    assert_eq!(va["safety_number"], vb["safety_number"]);
    assert_eq!(va["safety_number"].as_str().unwrap().split(' ').count(), 12);
    json(&a.profile, &["contact", "verify", &b.id, "--mark"]);
    assert_eq!(
        json(&a.profile, &["contact", "list"])[0]["verification"],
        "verified"
    );
    a.stop();
    b.stop();
}

#[test]
fn send_without_a_running_node_starts_one_and_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let a_profile = dir.path().join("a");
    let a_id = ok(&a_profile, &["id"]);
    let mut b = Node::start(&dir.path().join("b"));
    ok(&b.profile, &["contact", "add", &a_id]);
    ok(&a_profile, &["contact", "add", &b.id, "--addr", &b.addr]);
    let out = ok(
        &a_profile,
        &["send", &b.id, "from a one-shot", "--wait", "delivered"],
    );
    assert!(out.starts_with("delivered"), "{out}");
    b.wait_for(10, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "from a one-shot"
    });
    let h = json(&a_profile, &["history", &b.id]);
    assert_eq!(h[0]["state"], "delivered");
}
