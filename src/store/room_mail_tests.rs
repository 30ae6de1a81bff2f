//! What went to a member's mailbox: marks that only move forward, pages of our messages in
//! order, key grants deposited once, and everything again after an expiry.

use super::*;
use crate::identity::Identity;
use crate::model::RoomStatus;
use crate::room::{Content, MessageDraft, Policy, RoomMessage, RoomState};
use crate::store::{self, DB_FILE, open_connection};

struct Room {
    conn: Connection,
    room: RoomId,
    me: Identity,
    bob: PeerId,
    _dir: tempfile::TempDir,
}

fn room() -> Room {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    let me = Identity::from_seed([1; 32]);
    let bob = Identity::from_seed([2; 32]).peer_id();
    let state = RoomState::create(me.peer_id(), [7; 16], "Mail", "", Policy::Private, 1)
        .sign(&me)
        .unwrap();
    let room = state.state().id;
    store::set_room_status(&conn, &room, RoomStatus::Joined, 1).unwrap();
    store::append_state(&conn, &state).unwrap();
    Room {
        conn,
        room,
        me,
        bob,
        _dir: dir,
    }
}

fn send(r: &Room, key: &SenderKey, seq: u64, text: &str) {
    let draft = MessageDraft {
        room: r.room,
        seq,
        lamport: seq,
        timestamp_ms: 1,
        state_version: 1,
    };
    let content = Content { text: text.into() };
    let m = RoomMessage::seal(&r.me, &draft, Some((key, seq as u32)), &content).unwrap();
    assert!(matches!(
        store::store_message(&r.conn, &m, Some(text)).unwrap(),
        store::Kept::Stored(_)
    ));
}

#[test]
fn marks_only_move_forward_and_an_expiry_forgets_them() {
    let r = room();
    assert_eq!(mailed(&r.conn, &r.room, &r.bob).unwrap(), Mailed::default());
    let to = |version, seq| Mailed { version, seq };
    raise_mailed(&r.conn, &r.room, &r.bob, to(2, 0)).unwrap();
    raise_mailed(&r.conn, &r.room, &r.bob, to(0, 5)).unwrap();
    raise_mailed(&r.conn, &r.room, &r.bob, to(1, 3)).unwrap();
    assert_eq!(mailed(&r.conn, &r.room, &r.bob).unwrap(), to(2, 5));
    forget_mailed(&r.conn, &r.bob).unwrap();
    assert_eq!(mailed(&r.conn, &r.room, &r.bob).unwrap(), Mailed::default());
}

#[test]
fn our_messages_come_in_order_a_page_at_a_time_and_at_least_one() {
    let r = room();
    let key = SenderKey::generate().unwrap();
    for seq in 1..=5 {
        send(&r, &key, seq, &format!("message {seq}"));
    }
    let me = r.me.peer_id();
    let all = own_after(&r.conn, &r.room, &me, 0, usize::MAX).unwrap();
    assert_eq!(all.iter().map(|m| m.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let one = all[0].1.len();
    let page = own_after(&r.conn, &r.room, &me, 1, one * 2).unwrap();
    assert_eq!(page.iter().map(|m| m.0).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(own_after(&r.conn, &r.room, &me, 4, 1).unwrap().len(), 1);
    assert!(own_after(&r.conn, &r.room, &me, 5, 1).unwrap().is_empty());
    // Another author's are not ours to deposit.
    assert!(
        own_after(&r.conn, &r.room, &r.bob, 0, usize::MAX)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_grant_goes_to_the_mailbox_once_and_again_after_an_expiry() {
    let r = room();
    let me = r.me.peer_id();
    let key = SenderKey::generate().unwrap();
    store::put_key(&r.conn, &r.room, &me, &key, Some(0)).unwrap();
    store::grant(&r.conn, &r.room, &key.id(), &r.bob, 4).unwrap();
    let waiting = unmailed_grants(&r.conn, &r.room, &me, &r.bob).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (waiting[0].id(), waiting[0].iteration()),
        (key.id(), 4),
        "from the iteration granted"
    );
    grant_mailed(&r.conn, &r.room, &key.id(), &r.bob).unwrap();
    assert!(
        unmailed_grants(&r.conn, &r.room, &me, &r.bob)
            .unwrap()
            .is_empty()
    );
    forget_mailed(&r.conn, &r.bob).unwrap();
    assert_eq!(
        unmailed_grants(&r.conn, &r.room, &me, &r.bob)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(joined_rooms(&r.conn).unwrap(), [r.room]);
}
