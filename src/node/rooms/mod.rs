//! Owns rooms in the node: what the user does (create, invite, accept, decline, send, leave,
//! remove, read), each change signed and judged by the room core before it is stored, and
//! pushed to the members connected now; the rest catch up when they connect (`frames.rs`).
//! Sender keys are made, turned over and handed out in `keys.rs`.

mod frames;
mod fresh;
mod keys;
mod mail;
mod public;
mod seen;

pub(crate) use fresh::Fresh;
pub(super) use mail::{deposited, parcels};
pub(crate) use public::publish_loop;
pub(crate) use seen::{Seen, listed};

use std::collections::HashSet;

use rusqlite::Connection;

use super::state::{Cmd, Msg};
use super::{Event, Inner, NodeError, NodeHandle};
use crate::identity::PeerId;
use crate::model::{Room, RoomPost, RoomStatus};
use crate::room::{
    Content, MAX_MEMBERS, MessageDraft, Policy, RoomId, RoomMessage, RoomState, SignedState,
    Verdict, judge,
};
use crate::store::{self, ContactState, StoreError, now_ms};
use crate::wire::{RoomFrame, RoomOp};

/// Bytes of states or messages in one room frame (under the 64 KiB frame cap).
const PAGE: usize = 48 * 1024;

/// The members of every room we are in, ourselves left out.
pub(super) fn members(c: &Connection, me: &PeerId) -> Result<HashSet<PeerId>, StoreError> {
    Ok(store::room_members(c, me)?
        .into_iter()
        .flat_map(|(_, m)| m)
        .collect())
}

fn frame(op: RoomOp, room: &RoomId) -> RoomFrame {
    RoomFrame {
        op: op as i32,
        room: room.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Frames of one op carrying `items` (signed bytes), each under [`PAGE`].
fn pages(op: RoomOp, room: &RoomId, items: Vec<Vec<u8>>, states: bool) -> Vec<RoomFrame> {
    let mut out: Vec<RoomFrame> = Vec::new();
    let mut size = PAGE;
    for item in items {
        if size + item.len() > PAGE {
            out.push(frame(op, room));
            size = 0;
        }
        size += item.len();
        if let Some(f) = out.last_mut() {
            match states {
                true => f.states.push(item),
                false => f.messages.push(item),
            }
        }
    }
    out
}

fn not_in(room: &RoomId) -> NodeError {
    NodeError::Invalid(format!(
        "you are not in the room {room}; see `natter-cli room list`"
    ))
}

/// What a change of the room's state leaves to do after its commit.
struct Changed {
    state: SignedState,
    /// Who hears the new version: the members before and after.
    tell: Vec<PeerId>,
    /// Our key, handed to members (who, which key from which iteration).
    grants: Vec<(PeerId, crate::room::SenderKey)>,
}

/// Signs the next version of a room we are in, changed by `f`; judged as every member will
/// judge it, then stored, with its key effects (`keys::after_change`).
fn change(
    c: &Connection,
    me: &crate::identity::Identity,
    room: &RoomId,
    f: impl FnOnce(&mut RoomState) -> Result<(), NodeError>,
) -> Result<Result<Changed, NodeError>, StoreError> {
    let row = store::room_row(c, room)?;
    let (Some(head), Some(RoomStatus::Joined)) = (store::head(c, room)?, row.map(|r| r.status))
    else {
        return Ok(Err(not_in(room)));
    };
    let mut next = RoomState::next(&head, now_ms() as u64);
    if let Err(e) = f(&mut next) {
        return Ok(Err(e));
    }
    let signed = match next.sign(me) {
        Ok(s) => s,
        Err(e) => return Ok(Err(NodeError::Invalid(e.to_string()))),
    };
    if let v @ (Verdict::Refused(_) | Verdict::Stale { .. } | Verdict::Gap { .. }) =
        judge(Some(&head), &signed)
    {
        return Ok(Err(NodeError::Invalid(match v {
            Verdict::Refused(e) => e.to_string(),
            _ => "the room changed meanwhile; try again".into(),
        })));
    }
    store::append_state(c, &signed)?;
    let grants = keys::after_change(c, &me.peer_id(), &head, &signed)?;
    let mut tell: Vec<PeerId> = head.state().members.iter().map(|m| m.key).collect();
    tell.extend(signed.state().members.iter().map(|m| m.key));
    tell.retain(|p| *p != me.peer_id());
    tell.sort();
    tell.dedup();
    Ok(Ok(Changed {
        state: signed,
        tell,
        grants,
    }))
}

impl Inner {
    /// Sends a room frame to the peer's live session, if one is up.
    fn room_to(&self, peer: PeerId, f: RoomFrame) {
        self.actor.tell(Msg::ToSession(peer, Cmd::Room(f)));
    }

    /// After a change: the new version to those it concerns (connected now; the rest at
    /// their next sync), our key to who was given it, the policy's member set, a new
    /// registration at the rendezvous (members look each other up) and dials to members.
    async fn room_changed(&self, changed: Changed) {
        let room = changed.state.state().id;
        for peer in &changed.tell {
            let mut f = frame(RoomOp::States, &room);
            f.states.push(changed.state.bytes().to_vec());
            self.room_to(*peer, f);
        }
        self.hand_keys(&room, changed.grants);
        self.members_changed().await;
        self.room_event(room).await;
        // A listed room's member count changed.
        self.listing_wake.notify_one();
    }

    fn hand_keys(&self, room: &RoomId, grants: Vec<(PeerId, crate::room::SenderKey)>) {
        for (peer, key) in grants {
            self.room_to(peer, keys::grant_frame(room, &key));
        }
    }

    /// The policy's set of room members read again, and what follows from it.
    async fn members_changed(&self) {
        let me = self.me;
        let Ok(members) = self.store.call(move |c| members(c, &me)).await else {
            return;
        };
        for m in &members {
            if !self.actor.is_connected(m) {
                self.dial(*m);
            }
        }
        self.actor.tell(Msg::RoomMembers(members));
        self.rv_wake.notify_one();
    }

    async fn room_event(&self, room: RoomId) {
        let me = self.me;
        if let Ok(Some(room)) = self
            .store
            .call(move |c| store::room_view(c, &room, &me))
            .await
        {
            let _ = self.events.send(Event::RoomState { room });
        }
    }
}

impl NodeHandle {
    /// Creates a private room with us as its only member and admin.
    pub async fn room_create(&self, name: &str, topic: &str) -> Result<Room, NodeError> {
        self.room_create_as(name, topic, Policy::Private).await
    }

    async fn room_create_as(
        &self,
        name: &str,
        topic: &str,
        policy: Policy,
    ) -> Result<Room, NodeError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(NodeError::Invalid("a room needs a name".into()));
        }
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)
            .map_err(|e| NodeError::Invalid(format!("no randomness: {e}")))?;
        let state = RoomState::create(self.inner.me, nonce, name, topic, policy, now_ms() as u64)
            .sign(&self.inner.identity)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let me = self.inner.me;
        let room = state.state().id;
        let view = self
            .inner
            .store
            .call(move |c| {
                store::set_room_status(c, &room, RoomStatus::Joined, now_ms())?;
                store::append_state(c, &state)?;
                keys::own_key_or_new(c, &room, &me)?;
                store::room_view(c, &room, &me)
            })
            .await?
            .ok_or_else(|| not_in(&room))?;
        let _ = self
            .inner
            .events
            .send(Event::RoomState { room: view.clone() });
        Ok(view)
    }

    /// Invites a contact: a new version lists it (we must be an admin), and it is told now
    /// or when it next connects; it reads what is sent from now on.
    pub async fn room_invite(&self, room: RoomId, peer: PeerId) -> Result<Room, NodeError> {
        let me = self.inner.me;
        if peer == me {
            return Err(NodeError::Invalid("you are in the room already".into()));
        }
        let identity = self.inner.identity.clone();
        let changed = self
            .inner
            .store
            .call(move |c| {
                let contact = store::get_contact(c, &peer)?;
                if !contact.is_some_and(|c| c.state == ContactState::Contact) {
                    return Ok(Err(NodeError::NotAContact(peer)));
                }
                change(c, &identity, &room, |s| {
                    if !s.is_admin(&me) {
                        return Err(NodeError::Invalid(
                            "only the room's admins invite; ask one of them".into(),
                        ));
                    }
                    if s.member(&peer).is_some() {
                        return Err(NodeError::Invalid(format!("{peer} is in the room already")));
                    }
                    if s.members.len() >= MAX_MEMBERS {
                        return Err(NodeError::Invalid(format!(
                            "a room has at most {MAX_MEMBERS} members"
                        )));
                    }
                    s.add(peer);
                    Ok(())
                })
            })
            .await??;
        let room_view_id = changed.state.state().id;
        // The whole chain to the invitee: it checks it from the creator's first version.
        let chain = self
            .inner
            .store
            .call(move |c| store::states_from(c, &room, 1, usize::MAX))
            .await?;
        for (i, mut f) in pages(RoomOp::States, &room, chain, true)
            .into_iter()
            .enumerate()
        {
            if i == 0 {
                f.op = RoomOp::Invite as i32;
            }
            self.inner.room_to(peer, f);
        }
        self.inner.room_changed(changed).await;
        self.room_view(room_view_id).await
    }

    async fn room_view(&self, room: RoomId) -> Result<Room, NodeError> {
        let me = self.inner.me;
        self.inner
            .store
            .call(move |c| store::room_view(c, &room, &me))
            .await?
            .ok_or_else(|| not_in(&room))
    }

    /// Accepts an invitation: we join, and catch up from the members we reach.
    pub async fn room_accept(&self, room: RoomId) -> Result<Room, NodeError> {
        let me = self.inner.me;
        let ok = self
            .inner
            .store
            .call(move |c| {
                let row = store::room_row(c, &room)?;
                let listed =
                    store::head(c, &room)?.is_some_and(|h| h.state().member(&me).is_some());
                if !row.is_some_and(|r| r.status == RoomStatus::Invited) || !listed {
                    return Ok(false);
                }
                store::set_room_status(c, &room, RoomStatus::Joined, now_ms())?;
                keys::own_key_or_new(c, &room, &me)?;
                Ok(true)
            })
            .await?;
        if !ok {
            return Err(NodeError::Invalid(format!(
                "no invitation to the room {room} waits; see `natter-cli room list`"
            )));
        }
        self.inner.members_changed().await;
        self.inner.sync_room_with_connected(room).await;
        self.inner.room_event(room).await;
        self.room_view(room).await
    }

    /// Declines an invitation: the inviter is told (an admin then removes us).
    pub async fn room_decline(&self, room: RoomId) -> Result<Room, NodeError> {
        let inviter = self
            .inner
            .store
            .call(move |c| {
                let row = store::room_row(c, &room)?;
                match row {
                    Some(r) if r.status == RoomStatus::Invited => {
                        store::set_room_status(c, &room, RoomStatus::Declined, now_ms())?;
                        // What came while it waited for an answer is not kept.
                        store::delete_room_history(c, &room)?;
                        Ok(Some(r.inviter))
                    }
                    _ => Ok(None),
                }
            })
            .await?
            .ok_or_else(|| NodeError::Invalid(format!("no invitation to the room {room} waits")))?;
        if let Some(p) = inviter {
            self.inner.room_to(p, frame(RoomOp::Decline, &room));
        }
        self.inner.room_event(room).await;
        self.room_view(room).await
    }

    /// Sends a message to a room: stored here first (with our next sequence number and
    /// Lamport clock, sealed under our key in a private room), then pushed to the members
    /// connected now; the others catch up from any member. While a session with a member
    /// is up but no member has told us the room's state yet (we were offline), it waits up
    /// to [`FRESH_WAIT`] for that first: a removal we missed turns our key over before we
    /// seal with it.
    pub async fn room_send(&self, room: RoomId, text: &str) -> Result<RoomPost, NodeError> {
        let me = self.inner.me;
        self.inner.await_fresh(room).await;
        self.public_pace(room).await?;
        let identity = self.inner.identity.clone();
        let text = text.to_owned();
        let (post, bytes, members, grants) = self
            .inner
            .store
            .call(move |c| {
                let row = store::room_row(c, &room)?;
                let (Some(head), Some(RoomStatus::Joined)) =
                    (store::head(c, &room)?, row.map(|r| r.status))
                else {
                    return Ok(Err(not_in(&room)));
                };
                let (seq, lamport) = store::take_own_position(c, &room)?;
                let draft = MessageDraft {
                    room,
                    seq,
                    lamport,
                    timestamp_ms: now_ms() as u64,
                    state_version: head.version(),
                };
                let mut grants = Vec::new();
                let content = Content { text: text.clone() };
                let sealed = match head.state().policy {
                    Policy::Private => {
                        let (key, at, new) = keys::sending_key(c, &head, &me)?;
                        grants = new;
                        let m = RoomMessage::seal(&identity, &draft, Some((&key, at)), &content);
                        store::bump_own_key(c, &room, &me, &key.id())?;
                        m
                    }
                    Policy::Public => RoomMessage::seal(&identity, &draft, None, &content),
                };
                let m = match sealed {
                    Ok(m) => m,
                    Err(e) => return Ok(Err(NodeError::Invalid(e.to_string()))),
                };
                let store::Kept::Stored(id) = store::store_message(c, &m, Some(&text))? else {
                    return Err(StoreError::Corrupt(
                        "our own room message was not new".into(),
                    ));
                };
                let post = store::post(c, id, &me)?
                    .ok_or_else(|| StoreError::Corrupt("our own room message".into()))?;
                let members: Vec<PeerId> = head
                    .state()
                    .members
                    .iter()
                    .map(|m| m.key)
                    .filter(|k| *k != me)
                    .collect();
                Ok(Ok((post, m.bytes().to_vec(), members, grants)))
            })
            .await??;
        self.inner.hand_keys(&room, grants);
        let (up, down): (Vec<PeerId>, Vec<PeerId>) = members
            .into_iter()
            .partition(|p| self.inner.actor.is_connected(p));
        let mut f = frame(RoomOp::Messages, &room);
        f.messages.push(bytes);
        // Those we reach pass it on to those we do not, if they can.
        f.unreached = down.iter().map(|p| p.as_bytes().to_vec()).collect();
        for peer in up {
            self.inner.room_to(peer, f.clone());
        }
        for peer in down {
            self.inner.actor.tell(Msg::DialNow(peer));
        }
        let _ = self
            .inner
            .events
            .send(Event::RoomMessage { post: post.clone() });
        Ok(post)
    }

    /// A room's messages that opened, in the order every member shows (Lamport clock, then
    /// author, then sequence number): the newest `limit`, oldest first.
    pub async fn room_history(
        &self,
        room: RoomId,
        limit: usize,
    ) -> Result<Vec<RoomPost>, NodeError> {
        let me = self.inner.me;
        let posts = self
            .inner
            .store
            .call(move |c| {
                if store::room_row(c, &room)?.is_none() {
                    return Ok(Err(not_in(&room)));
                }
                store::mark_room_read(c, &room)?;
                Ok(Ok(store::room_history(c, &room, &me, limit, None)?))
            })
            .await??;
        Ok(posts)
    }

    /// Full-text search over the rooms' messages that opened here, newest first.
    pub async fn room_search(&self, text: &str, limit: usize) -> Result<Vec<RoomPost>, NodeError> {
        let me = self.inner.me;
        let text = text.to_owned();
        Ok(self
            .inner
            .store
            .call(move |c| store::search_rooms(c, &text, &me, limit))
            .await?)
    }

    /// Deletes a room's messages on this device (the other members keep theirs; we stay in
    /// the room).
    pub async fn room_delete_history(&self, room: RoomId) -> Result<u64, NodeError> {
        Ok(self
            .inner
            .store
            .call(move |c| store::delete_room_history(c, &room))
            .await?)
    }

    /// A room as we hold it (its members with their roles).
    pub async fn room(&self, room: RoomId) -> Result<Room, NodeError> {
        self.room_view(room).await
    }

    /// Every room we know: joined, invited, left.
    pub async fn rooms(&self) -> Result<Vec<Room>, NodeError> {
        let me = self.inner.me;
        Ok(self.inner.store.call(move |c| store::rooms(c, &me)).await?)
    }

    /// Leaves a room: our own leave, signed (the last admin first makes the earliest
    /// member an admin, so the room keeps one). Every remaining member turns over its key.
    pub async fn room_leave(&self, room: RoomId) -> Result<Room, NodeError> {
        if self.stop_joining(room).await? {
            return self.room_view(room).await;
        }
        let me = self.inner.me;
        let identity = self.inner.identity.clone();
        let changes = self
            .inner
            .store
            .call(move |c| {
                let mut out = Vec::new();
                let head = store::head(c, &room)?;
                let last_admin = head.as_ref().is_some_and(|h| {
                    let s = h.state();
                    s.is_admin(&me) && s.members.iter().filter(|m| s.is_admin(&m.key)).count() == 1
                });
                let heir = head
                    .as_ref()
                    .and_then(|h| h.state().members.iter().map(|m| m.key).find(|k| *k != me));
                if let (true, Some(heir)) = (last_admin, heir) {
                    match change(c, &identity, &room, |s| {
                        s.promote(&heir);
                        Ok(())
                    })? {
                        Ok(ch) => out.push(ch),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                match change(c, &identity, &room, |s| {
                    s.remove(&me);
                    Ok(())
                })? {
                    Ok(ch) => out.push(ch),
                    Err(e) => return Ok(Err(e)),
                }
                store::set_room_status(c, &room, RoomStatus::Left, now_ms())?;
                Ok(Ok(out))
            })
            .await??;
        for ch in changes {
            self.inner.room_changed(ch).await;
        }
        self.room_view(room).await
    }

    /// Removes a member (we must be an admin): a new version without it; every remaining
    /// member turns over its key, so it reads nothing sent after.
    pub async fn room_remove(&self, room: RoomId, peer: PeerId) -> Result<Room, NodeError> {
        self.admin_change(
            room,
            "only the room's admins remove members",
            move |s, me| {
                if s.member(&peer).is_none() {
                    return Err(NodeError::Invalid(format!("{peer} is not in the room")));
                }
                if peer == *me {
                    return Err(NodeError::Invalid("to leave, use `room leave`".into()));
                }
                s.remove(&peer);
                Ok(())
            },
        )
        .await
    }

    /// Signs the next version of a room as one of its admins (`denied`: what a member who
    /// is none is told), changed by `f` (given our key; its error says why not), and tells
    /// whom it concerns.
    pub(super) async fn admin_change(
        &self,
        room: RoomId,
        denied: &'static str,
        f: impl FnOnce(&mut RoomState, &PeerId) -> Result<(), NodeError> + Send + 'static,
    ) -> Result<Room, NodeError> {
        let me = self.inner.me;
        let identity = self.inner.identity.clone();
        let changed = self
            .inner
            .store
            .call(move |c| {
                change(c, &identity, &room, |s| {
                    if !s.is_admin(&me) {
                        return Err(NodeError::Invalid(denied.into()));
                    }
                    f(s, &me)
                })
            })
            .await??;
        self.inner.room_changed(changed).await;
        self.room_view(room).await
    }
}
