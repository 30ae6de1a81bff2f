//! Owns our sender keys in the node: made when we join, turned over when anyone leaves or is
//! removed (and after [`ROTATE_AFTER`] messages), given to each member from the iteration it
//! may read on (`key_grants`), handed out over the pairwise sessions.

use rusqlite::Connection;

use crate::identity::PeerId;
use crate::room::{Policy, ROTATE_AFTER, RoomId, SenderKey, SignedState};
use crate::store::{self, StoreError};
use crate::wire::{KeyGrant, RoomFrame, RoomOp};

type Grants = Vec<(PeerId, SenderKey)>;

fn random_key() -> Result<SenderKey, StoreError> {
    SenderKey::generate().map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A new key of ours, given to every member of `state` from its first iteration.
fn turn_over(
    c: &Connection,
    state: &SignedState,
    me: &PeerId,
) -> Result<(SenderKey, Grants), StoreError> {
    let room = state.state().id;
    let key = random_key()?;
    store::put_key(c, &room, me, &key, Some(0))?;
    let mut grants = Vec::new();
    for m in state.state().members.iter().filter(|m| m.key != *me) {
        store::grant(c, &room, &key.id(), &m.key, 0)?;
        grants.push((m.key, key.clone()));
    }
    Ok((key, grants))
}

/// Our current key in the room, made (and given to every member) if we have none.
pub(super) fn own_key_or_new(
    c: &Connection,
    room: &RoomId,
    me: &PeerId,
) -> Result<(SenderKey, u32), StoreError> {
    if let Some(k) = store::own_key(c, room, me)? {
        return Ok(k);
    }
    match store::head(c, room)? {
        Some(head) if head.state().policy == Policy::Private => {
            let (key, _) = turn_over(c, &head, me)?;
            Ok((key, 0))
        }
        _ => Ok((random_key()?, 0)),
    }
}

/// The key to seal our next message with, and the iteration: a new one when we have none
/// or the current one is used up (given to every member; the grants say to whom).
pub(super) fn sending_key(
    c: &Connection,
    head: &SignedState,
    me: &PeerId,
) -> Result<(SenderKey, u32, Grants), StoreError> {
    match store::own_key(c, &head.state().id, me)? {
        Some((key, next)) if next < ROTATE_AFTER => Ok((key, next, Vec::new())),
        _ => {
            let (key, grants) = turn_over(c, head, me)?;
            Ok((key, 0, grants))
        }
    }
}

/// What a new version of a private room we are in means for our key: anyone gone, a new key
/// for those who remain; anyone added, our key from our next iteration on (nothing before).
pub(super) fn after_change(
    c: &Connection,
    me: &PeerId,
    before: &SignedState,
    after: &SignedState,
) -> Result<Grants, StoreError> {
    let s = after.state();
    if s.policy != Policy::Private || s.member(me).is_none() {
        return Ok(Vec::new());
    }
    let change = after.change_since(before.state());
    if !change.removed.is_empty() {
        return Ok(turn_over(c, after, me)?.1);
    }
    let (key, next) = own_key_or_new(c, &s.id, me)?;
    let mut grants = Vec::new();
    for added in change.added.iter().filter(|a| *a != me) {
        store::grant(c, &s.id, &key.id(), added, next)?;
        if let Ok(k) = key.at(next) {
            grants.push((*added, k));
        }
    }
    Ok(grants)
}

/// The frame that hands one member a key of ours.
pub(super) fn grant_frame(room: &RoomId, key: &SenderKey) -> RoomFrame {
    RoomFrame {
        op: RoomOp::Key as i32,
        room: room.as_bytes().to_vec(),
        key: Some(KeyGrant {
            key_id: key.id().to_vec(),
            chain: key.chain().to_vec(),
            iteration: key.iteration(),
        }),
        ..Default::default()
    }
}

/// A key handed to us, checked for its sizes.
pub(super) fn granted(g: &KeyGrant) -> Option<SenderKey> {
    Some(SenderKey::from_parts(
        g.key_id.as_slice().try_into().ok()?,
        g.chain.as_slice().try_into().ok()?,
        g.iteration,
    ))
}
