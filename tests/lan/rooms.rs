//! A public room between two hosts with no server: listed by its creator over mDNS
//! (`_natter-room._udp`), seen by the other host (`room_nearby` event, `room nearby`),
//! joined, and talked in both ways.

use serde_json::Value;

use crate::netns::Lan;
use crate::nodes::Node;

#[test]
fn a_public_room_is_seen_on_the_lan_joined_and_talked_in_with_no_server() {
    let lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Node::start(&lan.a, &dir.path().join("a"), &[]);
    let mut b = Node::start(&lan.b, &dir.path().join("b"), &[]);
    let created: Value =
        serde_json::from_str(&a.cli(&["--json", "room", "create", "Hackspace", "--public"]))
            .unwrap();
    let room = created["room_id"].as_str().unwrap().to_string();
    a.cli(&["room", "publish", &room]);
    let t = std::time::Instant::now();
    let seen = b.wait_for(20, |e| {
        e["event"] == "room_nearby" && e["room"]["room_id"] == room.as_str()
    });
    assert_eq!(seen["room"]["creator"], a.id.as_str(), "{seen}");
    assert_eq!(seen["room"]["seen"], "lan");
    eprintln!(
        "seen on the other host {:?} after `room publish`",
        t.elapsed()
    );
    let nearby = b.cli(&["room", "nearby"]);
    assert!(
        nearby.contains(&room) && nearby.contains("Hackspace"),
        "{nearby}"
    );

    let t = std::time::Instant::now();
    let joined: Value = serde_json::from_str(&b.cli(&["--json", "room", "join", &room])).unwrap();
    assert_eq!(joined["status"], "joined", "{joined}");
    eprintln!("`room join` answered joined in {:?}", t.elapsed());
    b.cli(&["room", "send", &room, "hello from B"]);
    a.wait_for(20, |e| {
        e["event"] == "room_message" && e["post"]["text"] == "hello from B"
    });
    a.cli(&["room", "send", &room, "hello from A"]);
    b.wait_for(20, |e| {
        e["event"] == "room_message" && e["post"]["text"] == "hello from A"
    });
}
