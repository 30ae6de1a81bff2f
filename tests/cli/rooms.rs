//! Two `natter-cli run` processes use every room command by the names scripts rely on:
//! `room create` (`--json`: `room_id`), invite, accept, send, history (`author`, `text`,
//! `seq`), members, list, search, delete-history, the `room_invited` and `room_message`
//! events, and the rooms' lines in `export_history`.

use serde_json::{Value, json};

use crate::support::{json, ok, pair};

#[test]
fn the_room_commands_events_and_fields_keep_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(dir.path());

    let created = json(
        &a.profile,
        &["room", "create", "Book club", "--topic", "novels"],
    );
    let room = created["room_id"].as_str().unwrap().to_string();
    assert_eq!(
        (&created["name"], &created["topic"], &created["secure"]),
        (&json!("Book club"), &json!("novels"), &json!(true))
    );
    ok(&a.profile, &["room", "invite", &room, &b.id]);
    b.wait_for(20, |e| {
        e["event"] == "room_invited" && e["room"]["room_id"] == room.as_str()
    });
    assert_eq!(
        json(&b.profile, &["room", "accept", &room])["status"],
        "joined"
    );

    ok(&b.profile, &["room", "send", &room, "hello club"]);
    a.wait_for(20, |e| {
        e["event"] == "room_message" && e["post"]["text"] == "hello club"
    });
    let history = json(&a.profile, &["room", "history", &room]);
    let m = &history[0];
    assert_eq!(
        (&m["author"], &m["text"], &m["seq"], &m["room_id"]),
        (&json!(b.id), &json!("hello club"), &json!(1), &json!(room))
    );
    assert!(ok(&a.profile, &["room", "history", &room]).contains("hello club"));

    let members = json(&a.profile, &["room", "members", &room]);
    let peers: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["peer"].as_str().unwrap())
        .collect();
    assert!(peers.contains(&a.id.as_str()) && peers.contains(&b.id.as_str()));
    let listed = json(&a.profile, &["room", "list"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == room.as_str() && r["status"] == "joined"),
        "{listed}"
    );
    let hits = json(&a.profile, &["room", "search", "hell"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");

    // The export carries the room's message after the one-to-one ones.
    a.command(&json!({ "cmd": "export_history", "format": "json" }));
    let answer = a.wait_for(10, |e| e["answer"]["result"]["exported"].is_u64());
    let path = answer["answer"]["result"]["path"].as_str().unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["room_id"] == room.as_str() && l["text"] == "hello club"),
        "{lines:?}"
    );

    let deleted = json(&a.profile, &["room", "delete-history", &room]);
    assert_eq!(
        (&deleted["room_id"], &deleted["deleted"]),
        (&json!(room), &json!(1))
    );
    assert_eq!(json(&a.profile, &["room", "history", &room]), json!([]));
    assert_eq!(
        json(&b.profile, &["room", "history", &room])
            .as_array()
            .unwrap()
            .len(),
        1,
        "the other member keeps its copy"
    );
}
