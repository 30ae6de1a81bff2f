//! The sealed mailbox between real `natter-cli` nodes and a real `natter-rendezvous`: mail
//! to an offline contact arrives once; an expiry notice (honest, or forged by the server)
//! loses nothing; mail from a blocked sender is dropped unseen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use natter::Identity;
use serde_json::Value;

use crate::rendezvous::raw_as;
use crate::support::{Node, Rendezvous, json, ok};

/// The server's database (its `--data` folder's file).
fn server_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("rendezvous.sqlite3")).unwrap()
}

/// Waits until `f` holds, checking every 100 ms (a file another process writes, not an
/// event this test can await).
fn until(secs: u64, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn args_of(server: &Rendezvous) -> Vec<String> {
    server.args().map(String::from).to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// a and c at `server`, contacts of each other (c also keeps a's address), connected once,
/// and c registered with a among its contacts; then c stops. Returns a, c's profile and c's id.
fn met_then_c_left(dir: &Path, server: &Rendezvous) -> (Node, PathBuf, String) {
    let args = args_of(server);
    let mut a = Node::start_with(&dir.join("a"), &strs(&args));
    let c = Node::start_with(&dir.join("c"), &strs(&args));
    ok(&a.profile, &["contact", "add", &c.id, "--name", "carol"]);
    ok(
        &c.profile,
        &[
            "contact", "add", &a.id, "--name", "alice", "--addr", &a.addr,
        ],
    );
    let cid = c.id.clone();
    a.wait_for(20, |e| {
        e["event"] == "connected" && e["peer"] == cid.as_str()
    });
    // c registers anew with a among its contacts before it leaves (the rendezvous then
    // gives a its record and prekey while it is away). Its re-registration after `contact
    // add` may still be on its way when it stops; a start registers with them at once.
    let c_profile = c.profile.clone();
    c.stop();
    let mut c = Node::start_with(&c_profile, &strs(&args));
    c.wait_for(20, |e| e["event"] == "rendezvous" && e["online"] == true);
    c.stop();
    (a, c_profile, cid)
}

/// a sends `text` to c, who is offline: sealed and stored at the server. Returns its id.
fn send_stored(a: &Node, cid: &str, text: &str) -> String {
    let sent = json(
        &a.profile,
        &["send", cid, text, "--wait", "delivered", "--timeout", "20"],
    );
    assert_eq!(sent["state"], "stored", "{sent}");
    sent["id"].as_str().unwrap().to_string()
}

fn state_of(profile: &Path, peer: &str, id: &str) -> Value {
    let history = json(profile, &["history", peer]);
    let m = history
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == id).cloned())
        .unwrap_or_else(|| panic!("{id} not in {history}"));
    m["state"].clone()
}

fn names(e: &Value, id: &str) -> bool {
    e["ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|i| i == id))
}

/// The server lies: it drops the waiting copy of a message and tells its sender it expired
/// (its TTL is 30 days; the test sets the row's expiry in the past, and the server's own
/// sweep turns it into a notice and pushes it).
fn forge_expiry(data: &Path) {
    let n = server_db(data)
        .execute("UPDATE mail SET expires_ms = 0", [])
        .unwrap();
    assert_eq!(n, 1, "one waiting message to lie about");
}

#[test]
fn a_message_to_an_offline_contact_is_stored_sealed_and_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(&dir.path().join("server"), "127.0.0.1:0", &[]);
    let args = args_of(&server);
    let args = strs(&args);
    let (a, c_profile, cid) = met_then_c_left(dir.path(), &server);

    let out = ok(
        &a.profile,
        &[
            "send",
            &cid,
            "while you were away",
            "--wait",
            "delivered",
            "--timeout",
            "20",
        ],
    );
    assert!(out.starts_with("stored "), "{out}");
    assert!(out.contains("sealed at the rendezvous until"), "{out}");
    // The history says until when the server keeps it, as the app does under the message.
    let history = json(&a.profile, &["history", &cid]);
    let until = history[0]["stored_until_ms"].as_i64().unwrap_or(0);
    assert!(until > natter::dates::now_ms(), "{history}");
    let shown = ok(&a.profile, &["history", &cid]);
    assert!(
        shown.contains(&format!(
            "(stored, kept at the rendezvous until {})",
            natter::dates::date_time(until)
        )),
        "{shown}"
    );

    // The sender goes offline too: the mailbox is the only way the message can come.
    let (a_profile, a_id) = (a.profile.clone(), a.id.clone());
    a.stop();
    let mut c = Node::start_with(&c_profile, &args);
    let got = c.wait_for(20, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "while you were away"
    });
    // The server that carried it is named for its recipient, in the event and the history.
    assert_eq!(got["message"]["mailbox"], server.addr.as_str(), "{got}");
    let shown = ok(&c_profile, &["history", &a_id]);
    assert!(
        shown.contains(&format!("via the mailbox of {}", server.addr)),
        "{shown}"
    );
    // The sender hears "delivered" through the normal receipts once they meet.
    let mut a = Node::start_with(&a_profile, &args);
    a.wait_for(30, |e| e["event"] == "message_delivered");
    // Exactly once, though it came by the mailbox and again over the direct session.
    c.drain(2000);
    let again = c
        .child
        .seen
        .iter()
        .filter(|e| e["event"] == "message_received")
        .count();
    assert_eq!(again, 1, "{:?}", c.child.seen);
    let history = json(&c.profile, &["history", &a_id]);
    let texts: Vec<&str> = history
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(texts, vec!["while you were away"], "{history}");

    // The server kept nothing.
    let identity = Identity::load_or_create(&c_profile).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let left = rt.block_on(async { raw_as(&server, identity).client.fetch().await.unwrap() });
    assert!(left.items.is_empty(), "{left:?}");
}

/// Mail nobody fetches expires at the server, which tells its sender: the message is queued
/// again and deposited again, `MAILBOX_DEPOSITS` (3) times in all; then it waits in the
/// outbox for a session.
#[test]
fn mail_that_expires_undelivered_is_reported_and_deposited_again_a_few_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Rendezvous::start(
        &dir.path().join("server"),
        "127.0.0.1:0",
        &["--mail-ttl-secs", "2"],
    );
    let (mut a, _, cid) = met_then_c_left(dir.path(), &server);
    let id = send_stored(&a, &cid, "never fetched");
    for round in 1..=3 {
        let expired = a.wait_for(20, |e| e["event"] == "message_expired" && names(e, &id));
        assert_eq!(expired["peer"], cid.as_str());
        if round < 3 {
            a.wait_for(20, |e| e["event"] == "message_stored" && names(e, &id));
        }
    }
    assert_eq!(state_of(&a.profile, &cid, &id), "queued");
    let shown = ok(&a.profile, &["history", &cid]);
    assert!(
        shown.contains("(queued, expired in the mailbox: goes out when they are online)"),
        "{shown}"
    );
    // Three deposits: no fourth.
    let before = a.child.seen.len();
    a.drain(6000);
    assert!(
        !a.child.seen[before..]
            .iter()
            .any(|e| e["event"] == "message_stored" && names(e, &id)),
        "stored a fourth time"
    );
    assert_eq!(state_of(&a.profile, &cid, &id), "queued");
}

/// A lying server drops a waiting message and tells its sender it expired. The sender
/// deposits it again (a notice only changes what is shown), so the recipient still gets it
/// from the mailbox although the two are never online together.
#[test]
fn a_forged_expiry_notice_does_not_stop_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = Rendezvous::start(&data, "127.0.0.1:0", &[]);
    let (mut a, c_profile, cid) = met_then_c_left(dir.path(), &server);
    let id = send_stored(&a, &cid, "despite the server");
    forge_expiry(&data);
    a.wait_for(20, |e| e["event"] == "message_expired" && names(e, &id));
    a.wait_for(20, |e| e["event"] == "message_stored" && names(e, &id));
    assert_ne!(state_of(&a.profile, &cid, &id), "delivered");
    a.stop();
    let args = args_of(&server);
    let mut c = Node::start_with(&c_profile, &strs(&args));
    c.wait_for(20, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "despite the server"
    });
}

/// A lying server drops a waiting message, says it expired, and is gone: the message is
/// still in its sender's outbox, is never shown delivered before it is, and goes over the
/// direct session when the recipient comes back.
#[test]
fn a_forged_expiry_notice_loses_nothing_the_message_still_goes_direct() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = Rendezvous::start(&data, "127.0.0.1:0", &[]);
    let (mut a, c_profile, cid) = met_then_c_left(dir.path(), &server);
    let id = send_stored(&a, &cid, "the direct way");
    forge_expiry(&data);
    a.wait_for(20, |e| e["event"] == "message_expired" && names(e, &id));
    let shown = state_of(&a.profile, &cid, &id);
    assert!(shown == "queued" || shown == "stored", "{shown}");
    drop(server);
    // c comes back without the rendezvous: only a direct session (to a's address) can
    // bring the message.
    let mut c = Node::start(&c_profile);
    c.wait_for(30, |e| {
        e["event"] == "message_received" && e["message"]["text"] == "the direct way"
    });
    a.wait_for(20, |e| e["event"] == "message_delivered" && names(e, &id));
    assert_eq!(state_of(&a.profile, &cid, &id), "delivered");
}

/// c blocks a while a's message waits in c's mailbox: c opens it, sees the (signed) sender
/// is blocked, and drops it at the server: no message, no request, no event.
#[test]
fn mail_from_a_blocked_sender_is_dropped_unseen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = Rendezvous::start(&data, "127.0.0.1:0", &[]);
    let (a, c_profile, cid) = met_then_c_left(dir.path(), &server);
    let a_id = a.id.clone();
    send_stored(&a, &cid, "let me in");
    a.stop();
    ok(&c_profile, &["block", &a_id]);
    let args = args_of(&server);
    let mut c = Node::start_with(&c_profile, &strs(&args));
    // c fetched and acked it: the server holds nothing for c any more.
    let db = server_db(&data);
    until(20, "c to drop the mail", || {
        db.query_row("SELECT count(*) FROM mail", [], |r| r.get::<_, i64>(0))
            .unwrap()
            == 0
    });
    c.drain(1000);
    assert!(
        !c.child
            .seen
            .iter()
            .any(|e| { e["event"] == "message_received" || e["event"] == "request_received" }),
        "{:?}",
        c.child.seen
    );
    assert_eq!(json(&c_profile, &["history", &a_id]), serde_json::json!([]));
    assert_eq!(json(&c_profile, &["requests"]), serde_json::json!([]));
}
