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

/// The commands the desktop app uses are the CLI's too: each answers on stdin as JSON and
/// the node says what changed as an event.
#[test]
fn the_apps_commands_answer_over_stdin_and_each_change_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("a");
    let mut a = Node::start(&profile);
    let answer = |a: &mut Node, cmd: Value| {
        a.command(&cmd);
        let line = a.wait_for(10, |v| v.get("answer").is_some());
        assert_eq!(line["answer"]["ok"], true, "{cmd} -> {line}");
        line["answer"]["result"].clone()
    };
    let set = answer(
        &mut a,
        json!({ "cmd": "preference", "name": "theme", "value": "dark" }),
    );
    assert_eq!(set, json!({ "name": "theme", "value": "dark" }));
    a.saw_or_wait(10, |v| {
        v["event"] == "preference_changed" && v["name"] == "theme" && v["value"] == "dark"
    });
    let shown = answer(&mut a, json!({ "cmd": "preference", "name": "relay" }));
    assert_eq!(shown, json!({ "name": "relay", "value": null }));

    let bob = natter::Identity::generate().peer_id().to_string();
    answer(&mut a, json!({ "cmd": "contact_add", "id": bob }));
    let renamed = answer(
        &mut a,
        json!({ "cmd": "rename", "id": bob, "name": "Bob", "group": "work" }),
    );
    assert_eq!(
        (renamed["nickname"].as_str(), renamed["group"].as_str()),
        (Some("Bob"), Some("work"))
    );
    a.saw_or_wait(10, |v| {
        v["event"] == "contact_changed" && v["contact"]["nickname"] == "Bob"
    });

    answer(&mut a, json!({ "cmd": "block", "id": bob }));
    let list = answer(&mut a, json!({ "cmd": "block_list" }));
    assert_eq!(list, json!({ "blocked": [bob] }));
    answer(&mut a, json!({ "cmd": "unblock", "id": bob }));
    answer(&mut a, json!({ "cmd": "privacy", "mode": "everyone" }));
    a.saw_or_wait(10, |v| {
        v["event"] == "privacy_changed" && v["privacy"] == "everyone"
    });
    answer(&mut a, json!({ "cmd": "privacy", "mode": "contacts-only" }));
    a.saw_or_wait(10, |v| {
        v["event"] == "privacy_changed" && v["privacy"] == "contacts-only"
    });
    // Invisible, and who still sees us.
    answer(
        &mut a,
        json!({ "cmd": "presence", "status": "invisible", "text": "" }),
    );
    let sees = answer(
        &mut a,
        json!({ "cmd": "contact_set", "id": bob, "sees_invisible": true }),
    );
    assert_eq!(sees["sees_invisible"], true, "{sees}");

    // Queued for an unreachable contact, then paged, exported and deleted.
    for text in ["one", "two", "three"] {
        answer(&mut a, json!({ "cmd": "send", "id": bob, "text": text }));
    }
    let newest = answer(&mut a, json!({ "cmd": "history", "id": bob, "limit": 1 }));
    assert_eq!(newest[0]["text"], "three");
    let before = json!({ "ts_ms": newest[0]["ts_ms"], "id": newest[0]["id"] });
    let older = answer(
        &mut a,
        json!({ "cmd": "history", "id": bob, "limit": 5, "before": before }),
    );
    let texts: Vec<&str> = older
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let exported = answer(&mut a, json!({ "cmd": "export_history", "format": "text" }));
    assert_eq!(exported["exported"], 3);
    let path = std::path::PathBuf::from(exported["path"].as_str().unwrap());
    assert_eq!(path.parent(), Some(profile.join("downloads").as_path()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("natter-history-") && name.ends_with(".txt"),
        "{name}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    let deleted = answer(&mut a, json!({ "cmd": "delete_history", "id": bob }));
    assert_eq!(deleted, json!({ "peer": bob, "deleted": 3 }));
    a.saw_or_wait(10, |v| v["event"] == "history_deleted" && v["deleted"] == 3);
    assert_eq!(
        answer(&mut a, json!({ "cmd": "history", "id": bob })),
        json!([])
    );
    a.stop();
}
