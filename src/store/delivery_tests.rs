//! Delivery when a side starts over: history paging within one millisecond, incarnations,
//! withdrawn messages and acks that count past what was sent. Two databases stand for the
//! two sides; the session's part (which positions a Hello may carry) is in `session::tests`.

use super::*;
use crate::identity::Identity;
use crate::model::MessageState;
use crate::session::{IncomingChat, OutgoingChat};

struct Side {
    conn: Connection,
    me: PeerId,
    _dir: tempfile::TempDir,
}

fn side(me: PeerId) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    Side {
        conn,
        me,
        _dir: dir,
    }
}

fn two() -> (Side, Side) {
    (
        side(Identity::generate().peer_id()),
        side(Identity::generate().peer_id()),
    )
}

/// What `from` has to send `to`, as `to` receives it (each message with `from`'s
/// incarnation, as a session or a sealed copy carries it).
fn carry(from: &Side, to: &Side) -> Vec<IncomingChat> {
    let inc = streams(&from.conn, &from.me, &to.me)
        .unwrap()
        .out_incarnation;
    unacked(&from.conn, &from.me, &to.me)
        .unwrap()
        .into_iter()
        .map(|m: OutgoingChat| IncomingChat {
            msg_id: m.msg_id,
            seq: m.seq,
            timestamp_ms: m.timestamp_ms,
            text: m.text,
            incarnation: Some(inc),
            base_seq: m.base_seq,
        })
        .collect()
}

/// Carries everything `from` has for `to`, stores it there and acks it back; returns the
/// texts `to` stored.
fn deliver(from: &Side, to: &Side) -> Vec<String> {
    let chats = carry(from, to);
    let (out, ack) = receive(&to.conn, &to.me, &from.me, &chats).unwrap();
    apply_ack(&from.conn, &from.me, &to.me, ack).unwrap();
    out.into_iter()
        .filter_map(|o| match o {
            Received::Stored(m) => Some(m.text),
            _ => None,
        })
        .collect()
}

fn send(from: &Side, to: &Side, texts: &[&str]) {
    for t in texts {
        enqueue(&from.conn, &from.me, &to.me, t).unwrap();
    }
}

fn states(s: &Side, peer: &PeerId) -> Vec<(String, MessageState)> {
    history(&s.conn, &s.me, peer, 100, None)
        .unwrap()
        .into_iter()
        .filter(|m| m.outgoing)
        .map(|m| (m.text, m.state))
        .collect()
}

#[test]
fn a_burst_within_one_millisecond_pages_back_whole() {
    let (a, b) = two();
    let texts: Vec<String> = (0..450).map(|i| format!("m{i:03}")).collect();
    for t in &texts {
        enqueue(&a.conn, &a.me, &b.me, t).unwrap();
    }
    // Machines fast enough store a burst within one millisecond: all 450 share it here.
    a.conn
        .execute("UPDATE messages SET ts_ms = 1000", [])
        .unwrap();
    let mut page = history(&a.conn, &a.me, &b.me, 50, None).unwrap();
    let mut all = Vec::new();
    while let Some(oldest) = page.first().map(PageBefore::from) {
        all.splice(0..0, page.iter().map(|m| m.text.clone()));
        page = history(&a.conn, &a.me, &b.me, 50, Some(&oldest)).unwrap();
    }
    assert_eq!(all, texts, "every page edge inside the millisecond");
}

#[test]
fn a_receiver_that_lost_its_database_receives_the_next_message_and_is_heard() {
    let (a, b) = two();
    send(&a, &b, &["a1", "a2", "a3"]);
    send(&b, &a, &["b1", "b2", "b3"]);
    assert_eq!(deliver(&a, &b), ["a1", "a2", "a3"]);
    assert_eq!(deliver(&b, &a), ["b1", "b2", "b3"]);
    // b keeps its key, loses its database.
    let b = side(b.me);
    send(&a, &b, &["a4"]);
    assert_eq!(deliver(&a, &b), ["a4"], "a's stream goes on at 4");
    send(&b, &a, &["b-again"]);
    assert_eq!(
        deliver(&b, &a),
        ["b-again"],
        "b's new stream starts at 1 again: a new incarnation, not a replay"
    );
    let theirs: Vec<String> = history(&a.conn, &a.me, &b.me, 100, None)
        .unwrap()
        .into_iter()
        .filter(|m| !m.outgoing)
        .map(|m| m.text)
        .collect();
    assert_eq!(theirs, ["b1", "b2", "b3", "b-again"]);
    assert!(
        states(&a, &b.me)
            .iter()
            .all(|(_, s)| *s == MessageState::Delivered)
    );
}

#[test]
fn deleting_a_history_with_unsent_messages_then_sending_is_delivered() {
    let (a, b) = two();
    send(&a, &b, &["one", "two"]);
    assert_eq!(deliver(&a, &b), ["one", "two"]);
    send(&a, &b, &["never sent", "nor this"]);
    delete_history(&a.conn, &a.me, &b.me).unwrap();
    send(&a, &b, &["after"]);
    assert_eq!(
        deliver(&a, &b),
        ["after"],
        "the receiver moves past the two withdrawn ones"
    );
    assert_eq!(
        states(&a, &b.me),
        [("after".into(), MessageState::Delivered)]
    );
}

#[test]
fn a_sender_restored_on_a_fresh_database_marks_nothing_delivered_that_was_not_stored() {
    let (a, b) = two();
    send(&a, &b, &["old1", "old2", "old3"]);
    assert_eq!(deliver(&a, &b), ["old1", "old2", "old3"]);
    // a keeps its key, loses its database, and writes before any session.
    let a = side(a.me);
    send(&a, &b, &["new1"]);
    // An ack past what was numbered (b's 3, of a's old incarnation) marks only what exists.
    let ids = apply_ack(&a.conn, &a.me, &b.me, 3).unwrap();
    assert_eq!(ids.len(), 1);
    send(&a, &b, &["new2"]);
    assert_eq!(
        states(&a, &b.me)[1],
        ("new2".into(), MessageState::Queued),
        "an ack of 3 before new2 existed does not reach it"
    );
    // b has a's old 1..3 stored; a's new 1..2 are a new incarnation and are stored too.
    let chats = carry(&a, &b);
    let (out, ack) = receive(&b.conn, &b.me, &a.me, &chats).unwrap();
    assert_eq!(ack, 2);
    assert!(matches!(out.as_slice(), [Received::Stored(_)]), "{out:?}");
}

#[test]
fn an_old_incarnation_replayed_stores_nothing_twice() {
    let (a, b) = two();
    send(&a, &b, &["one"]);
    let old = carry(&a, &b);
    assert_eq!(deliver(&a, &b), ["one"]);
    let a2 = side(a.me);
    send(&a2, &b, &["fresh"]);
    assert_eq!(deliver(&a2, &b), ["fresh"]);
    // The old incarnation's message again (a stale sealed copy): known by its id.
    let (out, _) = receive(&b.conn, &b.me, &a.me, &old).unwrap();
    assert_eq!(out, [Received::Duplicate]);
    assert_eq!(history(&b.conn, &b.me, &a.me, 100, None).unwrap().len(), 2);
}

/// An expiry notice is the rendezvous' word, which may be a lie: it never takes a message
/// out of the outbox (a session still delivers it, and only that session's ack makes it
/// delivered); it puts the message back for the mailbox, `MAILBOX_DEPOSITS` deposits in all.
#[test]
fn an_expiry_notice_keeps_the_message_in_the_outbox_and_puts_it_back_for_the_mailbox() {
    let (a, c) = two();
    let m = enqueue(&a.conn, &a.me, &c.me, "hello").unwrap();
    let id: [u8; 16] = *uuid::Uuid::parse_str(&m.id).unwrap().as_bytes();
    let pending = || pending_for_mailbox(&a.conn, &a.me, &c.me).unwrap().len();
    let in_outbox = || unacked(&a.conn, &a.me, &c.me).unwrap().len();
    let shown = || history(&a.conn, &a.me, &c.me, 10, None).unwrap().remove(0);
    let state = || shown().state;
    for deposit in 1..=MAILBOX_DEPOSITS {
        assert_eq!(pending(), 1, "deposit {deposit} is due");
        assert_eq!(
            set_mailbox_state(&a.conn, &a.me, &c.me, &[id], Some(1000 * deposit as i64)).unwrap(),
            vec![m.id.clone()]
        );
        assert_eq!(state(), MessageState::Stored);
        // Its date at the server, and not yet expired: the view says until when it waits.
        assert_eq!(shown().stored_until_ms, Some(1000 * deposit as i64));
        assert!(!shown().expired);
        assert_eq!(pending(), 0, "not deposited twice at once");
        // The notice: queued again, still in the outbox.
        assert_eq!(
            set_mailbox_state(&a.conn, &a.me, &c.me, &[id], None).unwrap(),
            vec![m.id.clone()]
        );
        assert_eq!(state(), MessageState::Queued);
        assert_eq!(shown().stored_until_ms, None);
        assert!(
            shown().expired,
            "the view says it goes out when they are online"
        );
        assert_eq!(in_outbox(), 1, "the notice took it out of the outbox");
    }
    // Deposited MAILBOX_DEPOSITS times: now it waits for a session, which still sends it.
    assert_eq!(pending(), 0);
    let sent = carry(&a, &c);
    assert_eq!(sent.len(), 1);
    let (_, stored) = receive(&c.conn, &c.me, &a.me, &sent).unwrap();
    apply_ack(&a.conn, &a.me, &c.me, stored).unwrap();
    assert_eq!(state(), MessageState::Delivered);
    assert_eq!(in_outbox(), 0);
}
