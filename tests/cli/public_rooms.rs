//! Public rooms by the commands and fields scripts rely on, against a real rendezvous:
//! `room create NAME --public` (`--json`: `room_id`), `room publish`, `room directory
//! [QUERY] --json` (`room_id`, `name`, `topic`, `members`, `creator`, `seen`), `room join`,
//! `room ban` (`banned`), the `room_state` event; a banned member cannot rejoin or post;
//! a listing goes once its creator stops renewing it (`run --listing-secs`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Node, Rendezvous, cli, json, ok};

fn directory(profile: &std::path::Path, query: &str) -> Vec<Value> {
    json(profile, &["room", "directory", query])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_stranger_finds_joins_and_once_banned_stays_out_and_the_listing_expires() {
    let dir = tempfile::tempdir().unwrap();
    let rv = Rendezvous::start(&dir.path().join("rv"), "127.0.0.1:0", &[]);
    let mut a = Node::start_run(&dir.path().join("a"), &rv.args(), &["--listing-secs", "3"]);
    let mut c = Node::start_with(&dir.path().join("c"), &rv.args());

    let created = json(
        &a.profile,
        &[
            "room",
            "create",
            "Book swap",
            "--public",
            "--topic",
            "paperbacks",
        ],
    );
    let room = created["room_id"].as_str().unwrap().to_string();
    assert_eq!(
        (&created["secure"], &created["policy"]),
        (&json!(false), &json!("public"))
    );
    let published = json(&a.profile, &["room", "publish", &room]);
    assert_eq!(published["published"], true);
    let t = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        if let Some(r) = directory(&c.profile, "swap")
            .into_iter()
            .find(|r| r["room_id"] == room.as_str())
        {
            break r;
        }
        assert!(Instant::now() < deadline, "listed within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (
            &found["name"],
            &found["topic"],
            &found["members"],
            &found["creator"],
            &found["seen"]
        ),
        (
            &json!("Book swap"),
            &json!("paperbacks"),
            &json!(1),
            &json!(a.id),
            &json!("directory")
        )
    );
    eprintln!(
        "listed in the directory {:?} after `room publish`",
        t.elapsed()
    );
    assert!(
        ok(&c.profile, &["room", "directory", "swap"]).contains("Book swap  1 members  directory")
    );

    let t = Instant::now();
    let joined = json(&c.profile, &["room", "join", &room]);
    assert_eq!(joined["status"], "joined", "{joined}");
    eprintln!("`room join` answered joined in {:?}", t.elapsed());
    ok(
        &c.profile,
        &["room", "send", &room, "anyone for Pratchett?"],
    );
    a.wait_for(20, |e| {
        e["event"] == "room_message" && e["post"]["text"] == "anyone for Pratchett?"
    });

    let banned = json(&a.profile, &["room", "ban", &room, &c.id]);
    assert_eq!(banned["banned"], json!([c.id]));
    c.saw_or_wait(20, |e| {
        e["event"] == "room_state"
            && e["room"]["room_id"] == room.as_str()
            && e["room"]["status"] == "removed"
    });
    let again = cli(&c.profile, &["room", "join", &room]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("banned"), "{err}");
    assert!(
        !cli(&c.profile, &["room", "send", &room, "let me back"])
            .status
            .success()
    );
    // The ban lifted, she may ask again and is let in.
    let lifted = json(&a.profile, &["room", "unban", &room, &c.id]);
    assert!(lifted.get("banned").is_none(), "{lifted}");
    let back = json(&c.profile, &["room", "join", &room]);
    assert_eq!(back["status"], "joined", "{back}");

    // Killed, Alice renews nothing: her 3 s listing goes.
    a.kill9();
    let t = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(12);
    while !directory(&c.profile, "swap").is_empty() {
        assert!(Instant::now() < deadline, "the listing went within 12 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "the listing went {:?} after its creator was killed",
        t.elapsed()
    );
}
