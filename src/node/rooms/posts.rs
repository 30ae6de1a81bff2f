//! A room's messages from a peer: each stored once in its author's order if the author is a
//! member and it is sealed as the room's policy says, opened if we hold its key, held back
//! by a public room's pace, and passed on to the members its author could not reach.

use rusqlite::Connection;

use super::{Outcome, Pace, vector_frame};
use crate::identity::PeerId;
use crate::model::RoomStatus;
use crate::node::flood::Kind;
use crate::node::rooms::frame;
use crate::room::{Policy, RoomId, RoomMessage};
use crate::store::{self, Kept, StoreError};
use crate::wire::{RoomFrame, RoomOp};

/// Messages: each stored once in its author's order if the author is a member and it is
/// sealed as the room's policy says; opened if we hold its key. A new one is passed on to
/// the members its author could not reach that we have a session with.
pub(super) fn messages(
    c: &Connection,
    me: &PeerId,
    peer: &PeerId,
    room: RoomId,
    f: &RoomFrame,
    pace: Pace<'_>,
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let (Some(row), Some(head)) = (store::room_row(c, &room)?, store::head(c, &room)?) else {
        return Ok(o);
    };
    // An invitee keeps what comes before it answers (it reads it once it joins; a decline
    // deletes it): what waited in the mailbox is not lost for waiting on the user.
    let joined = row.status == RoomStatus::Joined;
    let invited = row.status == RoomStatus::Invited && head.state().member(me).is_some();
    if !(joined || invited) || head.state().member(peer).is_none() {
        return Ok(o);
    }
    let private = head.state().policy == Policy::Private;
    let (mut gap, mut stored) = (false, Vec::new());
    // A public room's pace binds what a member who is no admin and not our contact sends
    // of its own (copies passed on by others were paced where they were first stored; an
    // admin's history comes whole to a new member). Held back, none of its later messages
    // in this frame is looked at: they come again with the next catch-up.
    let paced = !private && *peer != *me && !head.state().is_admin(peer);
    let mut held: Vec<PeerId> = Vec::new();
    for bytes in &f.messages {
        let m = match RoomMessage::decode(bytes) {
            Ok(m) if m.room() == room => m,
            _ => {
                tracing::debug!("room message refused: malformed, forged or another room's");
                continue;
            }
        };
        if head.state().member(&m.author()).is_none() || private != m.sealed_by().is_some() {
            tracing::debug!("room message refused: not a member's, or not sealed as the room says");
            continue;
        }
        let author = m.author();
        if held.contains(&author) {
            continue;
        }
        if paced && author == *peer && store::vector(c, &room)?.get(&author) < m.seq() {
            let contact = store::get_contact(c, &author)?
                .is_some_and(|c| c.state == store::ContactState::Contact);
            let (allowed, report) = pace(Kind::RoomPosts, &author, contact);
            if !allowed {
                held.push(author);
                if report {
                    o.throttled.push(author);
                }
                continue;
            }
        }
        let key = match m.sealed_by() {
            Some((id, _)) => store::key(c, &room, &m.author(), &id)?,
            None => None,
        };
        let text = m.open(key.as_ref()).ok().map(|content| content.text);
        match store::store_message(c, &m, text.as_deref())? {
            Kept::Stored(id) => {
                stored.push(m.bytes().to_vec());
                if joined && let Some(post) = store::post(c, id, me)? {
                    o.posts.push(post);
                }
            }
            Kept::Duplicate => {}
            Kept::Gap => gap = true,
        }
    }
    o.gap = gap;
    if gap || f.more {
        o.reply.push(vector_frame(c, &room, head.version())?);
    }
    if !stored.is_empty() {
        for u in &f.unreached {
            let Some(to) = u
                .as_slice()
                .try_into()
                .ok()
                .and_then(|b| PeerId::from_bytes(b).ok())
            else {
                continue;
            };
            if to != *me && to != *peer && head.state().member(&to).is_some() {
                let mut fwd = frame(RoomOp::Messages, &room);
                fwd.messages = stored.clone();
                o.others.push((to, fwd));
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::super::judged;
    use crate::identity::Identity;
    use crate::room::{Content, MessageDraft, Policy, RoomState};
    use crate::store;
    use crate::wire::{RoomFrame, RoomOp};

    /// Bob (a member, no admin, not Alice's contact) sends 15 messages of his own at once
    /// to Alice (the public room's creator): the pace lets 10 in, holds the rest without a
    /// gap or a Sync loop, and says so once; the same messages passed on by Carol are not
    /// paced (Carol stored them under her own pace).
    #[test]
    fn a_members_own_flood_is_held_past_the_pace_and_copies_passed_on_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let c = store::open_connection(&dir.path().join(store::DB_FILE)).unwrap();
        let (alice, bob, carol) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let v1 = RoomState::create(alice.peer_id(), [1; 16], "Open", "", Policy::Public, 1)
            .sign(&alice)
            .unwrap();
        let mut next = RoomState::next(&v1, 2);
        next.add(bob.peer_id());
        next.add(carol.peer_id());
        let v2 = next.sign(&alice).unwrap();
        let room = v1.state().id;
        store::set_room_status(&c, &room, crate::model::RoomStatus::Joined, 1).unwrap();
        store::append_state(&c, &v1).unwrap();
        store::append_state(&c, &v2).unwrap();
        let flood: Vec<Vec<u8>> = (1..=15)
            .map(|seq| {
                let draft = MessageDraft {
                    room,
                    seq,
                    lamport: seq,
                    timestamp_ms: 1,
                    state_version: 2,
                };
                let text = Content {
                    text: format!("spam {seq}"),
                };
                crate::room::RoomMessage::seal(&bob, &draft, None, &text)
                    .unwrap()
                    .bytes()
                    .to_vec()
            })
            .collect();
        let frame = RoomFrame {
            op: RoomOp::Messages as i32,
            room: room.as_bytes().to_vec(),
            messages: flood,
            ..Default::default()
        };
        let (tokens, reported) = (AtomicU32::new(10), AtomicBool::new(false));
        let pace = |_: crate::node::flood::Kind, _: &crate::identity::PeerId, contact: bool| {
            assert!(!contact);
            let allowed = tokens
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
                .is_ok();
            let report = !allowed && !reported.swap(true, Ordering::SeqCst);
            (allowed, report)
        };
        let o = judged(&c, &alice, &bob.peer_id(), false, &frame, &pace).unwrap();
        assert_eq!(o.posts.len(), 10, "ten of his own let in");
        assert_eq!(o.throttled, vec![bob.peer_id()], "said once");
        assert!(
            !o.gap && o.reply.is_empty(),
            "held, not a gap: no Sync asked at once"
        );
        assert_eq!(store::vector(&c, &room).unwrap().get(&bob.peer_id()), 10);
        // Carol passes the same on: not paced (tokens are spent, yet all five go in).
        let o = judged(&c, &alice, &carol.peer_id(), false, &frame, &pace).unwrap();
        assert_eq!(o.posts.len(), 5);
        assert_eq!(store::vector(&c, &room).unwrap().get(&bob.peer_id()), 15);
    }
}
