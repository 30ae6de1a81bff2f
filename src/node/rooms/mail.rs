//! Owns room traffic through the sealed mailbox, for a member no member can reach: what it
//! lacks from us (the states, if we are an admin; our keys given to it; our messages) cut
//! into parcels of one envelope each, with an id that comes out the same every time (a
//! parcel deposited twice is stored once), and the marks moved on once the server stored
//! them. A parcel that arrives goes through the same judging as a session's frame
//! (`frames.rs`); a reply it asks for goes over a session if one is up.

use std::sync::Arc;

use prost::Message as _;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::frames::judged;
use super::{PAGE, frame, keys, pages};
use crate::identity::PeerId;
use crate::node::Inner;
use crate::room::{KeyId, RoomId};
use crate::store::{self, ContactState, Mailed, StoreError};
use crate::wire::{RoomFrame, RoomOp};

/// Most bytes of parcels one deposit round makes for one member (the rest go in the next
/// round, after the server stored these).
const ROUND_BYTES: usize = 1 << 20;

/// One envelope's worth of room traffic for a member.
pub(in crate::node) struct Parcel {
    /// The deposit's message id (see [`parcel_id`]).
    pub(in crate::node) id: [u8; 16],
    /// A `RoomFrame`, encoded.
    pub(in crate::node) body: Vec<u8>,
    room: RoomId,
    done: Done,
}

/// What a parcel stored at the server moves on.
enum Done {
    States(u64),
    Key(KeyId),
    Messages(u64),
}

/// The same for the same content to the same member: `what` names it (a kind and a range).
fn parcel_id(room: &RoomId, member: &PeerId, what: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"natter room mail v1\0")
        .chain_update(room.as_bytes())
        .chain_update(member.as_bytes())
        .chain_update(what)
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

fn range(kind: u8, first: u64, last: u64) -> Vec<u8> {
    let mut what = vec![kind];
    what.extend_from_slice(&first.to_be_bytes());
    what.extend_from_slice(&last.to_be_bytes());
    what
}

/// What `member` lacks from us, in the order it stores it: for each room we are both in,
/// the states (from an admin), our keys given to it, our messages; about [`ROUND_BYTES`]
/// at most.
pub(in crate::node) fn parcels(
    c: &Connection,
    me: &PeerId,
    member: &PeerId,
) -> Result<Vec<Parcel>, StoreError> {
    let mut out = Vec::new();
    let mut budget = ROUND_BYTES;
    let mut add = |room: RoomId, f: RoomFrame, what: Vec<u8>, done: Done| {
        let body = f.encode_to_vec();
        budget = budget.saturating_sub(body.len());
        out.push(Parcel {
            id: parcel_id(&room, member, &what),
            body,
            room,
            done,
        });
        budget > 0
    };
    'rooms: for room in store::joined_rooms(c)? {
        let Some(head) = store::head(c, &room)? else {
            continue;
        };
        let s = head.state();
        if s.member(member).is_none() || s.member(me).is_none() {
            continue;
        }
        let mark = store::mailed(c, &room, member)?;
        if s.is_admin(me) && mark.version < head.version() {
            let chain = store::states_from(c, &room, mark.version + 1, usize::MAX)?;
            let mut version = mark.version;
            for (i, mut f) in pages(RoomOp::States, &room, chain, true)
                .into_iter()
                .enumerate()
            {
                // The whole chain to an invitee: an invitation, as over a session.
                if i == 0 && mark.version == 0 {
                    f.op = RoomOp::Invite as i32;
                }
                let first = version + 1;
                version += f.states.len() as u64;
                if !add(room, f, range(b's', first, version), Done::States(version)) {
                    break 'rooms;
                }
            }
        }
        for key in store::unmailed_grants(c, &room, me, member)? {
            let what = [&b"k"[..], &key.id()[..]].concat();
            if !add(
                room,
                keys::grant_frame(&room, &key),
                what,
                Done::Key(key.id()),
            ) {
                break 'rooms;
            }
        }
        let mut seq = mark.seq;
        loop {
            let batch = store::own_after(c, &room, me, seq, PAGE)?;
            let (Some((first, _)), Some((last, _))) = (batch.first(), batch.last()) else {
                break;
            };
            let (first, last) = (*first, *last);
            let mut f = frame(RoomOp::Messages, &room);
            f.messages = batch.into_iter().map(|(_, b)| b).collect();
            seq = last;
            if !add(room, f, range(b'm', first, last), Done::Messages(last)) {
                break 'rooms;
            }
        }
    }
    Ok(out)
}

/// The server stored these parcels for `member`: their marks move on.
pub(in crate::node) fn deposited(
    c: &Connection,
    member: &PeerId,
    done: &[Parcel],
) -> Result<(), StoreError> {
    for p in done {
        let to = match p.done {
            Done::States(version) => Mailed { version, seq: 0 },
            Done::Messages(seq) => Mailed { version: 0, seq },
            Done::Key(id) => {
                store::grant_mailed(c, &p.room, &id, member)?;
                continue;
            }
        };
        store::raise_mailed(c, &p.room, member, to)?;
    }
    Ok(())
}

impl Inner {
    /// A room frame that waited for us in the mailbox, from `from` (its seal checked):
    /// judged as a session's frame would be. Says whether it may go from the server (stored,
    /// held already, or refused for good); a message whose author's earlier ones are missing
    /// stays there until they come.
    pub(in crate::node) async fn room_mail(self: &Arc<Self>, from: PeerId, f: RoomFrame) -> bool {
        let identity = self.identity.clone();
        let job = move |c: &Connection| {
            if store::is_blocked(c, &from)? {
                return Ok(None);
            }
            let contact =
                store::get_contact(c, &from)?.is_some_and(|k| k.state == ContactState::Contact);
            // Mail is paced by the server's budgets, not a public room's pace: held here it
            // would be acked and gone until a catch-up.
            judged(c, &identity, &from, contact, &f, &|_, _, _| (true, false)).map(Some)
        };
        let outcome = match self.store.call(job).await {
            Ok(Some(o)) => o,
            Ok(None) => return true, // a blocked key's: dropped unseen
            Err(e) => {
                tracing::warn!(error = %e, "room mail not stored; it stays at the server");
                return false;
            }
        };
        let keep = !outcome.gap;
        self.room_outcome(outcome, &|f| {
            if self.actor.is_connected(&from) {
                self.room_to(from, f);
            }
        })
        .await;
        keep
    }
}
