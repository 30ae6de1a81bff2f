//! Owns a session's room traffic: at its start, a Sync for every room both sides are in;
//! then each room frame from the peer judged by the room core and stored once — states in
//! their chain, messages in each author's order, keys that open what waited for them — and
//! what the peer lacks sent back, a page at a time.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::{Changed, PAGE, change, frame, keys, pages, public};
use crate::identity::{Identity, PeerId};
use crate::model::{Room, RoomPost, RoomStatus};
use crate::node::conn::Conn;
use crate::node::flood::Kind;
use crate::node::state::Cmd;
use crate::node::{Event, Inner, NodeError};
use crate::room::{OrderKey, RoomId, RoomMessage, SignedState, Vector, Verdict, gaps, judge};
use crate::store::{self, StoreError, now_ms};
use crate::wire::{AuthorSeq, RoomFrame, RoomOp};

#[path = "posts.rs"]
mod posts;

use posts::messages;

type Tx = mpsc::UnboundedSender<Cmd>;

/// Most bytes of messages one Sync is answered with; the rest after the peer asks again.
const SYNC_BUDGET: usize = 2 << 20;

/// What one room frame leaves to do once its store job committed.
#[derive(Default)]
pub(super) struct Outcome {
    /// Frames to the peer.
    reply: Vec<RoomFrame>,
    /// The peer's Sync named a state no newer than ours (see `Fresh`).
    fresh: Option<RoomId>,
    /// Frames to other members, if a session with them is up.
    others: Vec<(PeerId, RoomFrame)>,
    /// Messages that opened (stored now, or opened by a key).
    posts: Vec<RoomPost>,
    /// An invitation that arrived.
    invited: Option<Room>,
    /// The room's state or our place in it changed.
    changed: Option<RoomId>,
    /// A change we signed (an invitee declined).
    signed: Option<Changed>,
    /// A message came before its author's earlier ones (not stored).
    pub(super) gap: bool,
    /// A public room we asked to join let us in.
    joined: Option<RoomId>,
    /// The creator of a public room we asked to join refused: the room, it, why.
    refused: Option<(RoomId, PeerId, String)>,
    /// Authors of a public room held back by its pace (reported once a minute each).
    throttled: Vec<PeerId>,
}

/// Whether one more frame of a kind (a public room's message by an author, a join into the
/// rooms we list) may go ahead now (`bool`: the key is our contact), and whether to report
/// the ones held back.
pub(super) type Pace<'a> = &'a (dyn Fn(Kind, &PeerId, bool) -> (bool, bool) + Sync);

fn vector_frame(c: &Connection, room: &RoomId, version: u64) -> Result<RoomFrame, StoreError> {
    let mut f = frame(RoomOp::Sync, room);
    f.version = version;
    f.vector = store::vector(c, room)?
        .iter()
        .map(|(author, seq)| AuthorSeq {
            author: author.as_bytes().to_vec(),
            seq: *seq,
        })
        .collect();
    Ok(f)
}

fn their_vector(f: &RoomFrame) -> Vector {
    f.vector
        .iter()
        .filter_map(|a| {
            Some((
                PeerId::from_bytes(a.author.as_slice().try_into().ok()?).ok()?,
                a.seq,
            ))
        })
        .collect()
}

/// Our Sync for a room we are in, and our keys given to the peer.
fn our_sync(
    c: &Connection,
    room: &RoomId,
    me: &PeerId,
    peer: &PeerId,
) -> Result<Vec<RoomFrame>, StoreError> {
    let version = store::room_row(c, room)?.map_or(0, |r| r.version);
    let mut out = vec![vector_frame(c, room, version)?];
    for key in store::grants_for(c, room, me, peer)? {
        out.push(keys::grant_frame(room, &key));
    }
    Ok(out)
}

/// What we send a peer when a session with it comes up: for each room we are in and it is
/// listed in, a Sync (and our keys); for a room we left, our leave; to the creator of a
/// public room we are joining, our Join.
fn on_session(c: &Connection, me: &PeerId, peer: &PeerId) -> Result<Vec<RoomFrame>, StoreError> {
    let mut out = public::joins_for(c, me, peer)?;
    for room in store::rooms(c, me)? {
        if !room.members.iter().any(|m| m.peer == *peer) {
            continue;
        }
        match room.status {
            RoomStatus::Joined => out.extend(our_sync(c, &room.room_id, me, peer)?),
            RoomStatus::Left => {
                if let Some(head) = store::head(c, &room.room_id)? {
                    let mut f = frame(RoomOp::States, &room.room_id);
                    f.states.push(head.bytes().to_vec());
                    out.push(f);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Inner {
    /// Sends our Sync for the room to every member with a session up (after we accepted).
    pub(super) async fn sync_room_with_connected(&self, room: RoomId) {
        let me = self.me;
        let Ok(Some(head)) = self.store.call(move |c| store::head(c, &room)).await else {
            return;
        };
        for m in head
            .state()
            .members
            .iter()
            .map(|m| m.key)
            .filter(|k| *k != me)
        {
            if !self.actor.is_connected(&m) {
                continue;
            }
            if let Ok(frames) = self.store.call(move |c| our_sync(c, &room, &me, &m)).await {
                for f in frames {
                    self.room_to(m, f);
                }
            }
        }
    }
}

impl Conn {
    /// At a session's start (see [`on_session`]).
    pub(in crate::node) async fn rooms_on_session(&mut self, tx: &Tx) {
        let (me, peer) = (self.inner.me, self.peer);
        match self
            .inner
            .store
            .call(move |c| on_session(c, &me, &peer))
            .await
        {
            Ok(frames) => {
                for f in frames {
                    let _ = tx.send(Cmd::Room(f));
                }
            }
            Err(e) => tracing::warn!(error = %e, "rooms not synced"),
        }
    }

    /// One room frame from the peer.
    pub(in crate::node) async fn room_frame(&mut self, f: RoomFrame, tx: &Tx) {
        let peer = self.peer;
        let contact = self.is_contact_now().await;
        let identity = self.inner.identity.clone();
        let inner = self.inner.clone();
        let job = move |c: &Connection| judged(c, &identity, &peer, contact, &f, &inner.pace());
        let outcome = match self.inner.store.call(job).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "room frame not stored");
                return;
            }
        };
        if let Some(room) = outcome.fresh {
            crate::node::lock(&self.inner.rooms_fresh).heard(room, peer, self.id);
        }
        self.inner
            .room_outcome(outcome, &|f| {
                let _ = tx.send(Cmd::Room(f));
            })
            .await;
    }
}

/// One room frame from `peer` (over a session, or from the mailbox) judged by the room core
/// and stored; `contact`: the peer is a contact of ours.
pub(super) fn judged(
    c: &Connection,
    identity: &Identity,
    peer: &PeerId,
    contact: bool,
    f: &RoomFrame,
    pace: Pace<'_>,
) -> Result<Outcome, StoreError> {
    let Some(room) = RoomId::from_slice(&f.room) else {
        return Ok(Outcome::default());
    };
    let me = identity.peer_id();
    match RoomOp::try_from(f.op) {
        Ok(RoomOp::Sync) => synced(c, &me, peer, contact, room, f),
        Ok(RoomOp::Invite | RoomOp::States) => states(c, &me, peer, contact, room, &f.states),
        Ok(RoomOp::Messages) => messages(c, &me, peer, room, f, pace),
        Ok(RoomOp::Join) => join(c, identity, peer, room, pace),
        Ok(RoomOp::JoinRefused) => {
            let mut o = Outcome::default();
            if public::joining_from(c, &room)? == Some(*peer) {
                o.refused = Some((room, *peer, f.reason.clone()));
            }
            Ok(o)
        }
        Ok(RoomOp::Key) => key(c, &me, peer, room, f),
        Ok(RoomOp::Decline) => declined(c, identity, peer, room),
        Err(_) => Ok(Outcome::default()),
    }
}

impl Inner {
    /// What a judged frame leaves to do: `reply` sends a frame back to its sender.
    pub(super) async fn room_outcome(
        self: &Arc<Self>,
        o: Outcome,
        reply: &(dyn Fn(RoomFrame) + Sync),
    ) {
        for f in o.reply {
            reply(f);
        }
        for (peer, f) in o.others {
            if self.actor.is_connected(&peer) {
                self.room_to(peer, f);
            }
        }
        for post in o.posts {
            let _ = self.events.send(Event::RoomMessage { post });
        }
        for peer in o.throttled {
            let kind = crate::node::flood::Kind::RoomPosts;
            let _ = self.events.send(Event::Throttled {
                peer,
                kind: kind.as_str(),
                effect: kind.effect(),
            });
        }
        if let Some((room, creator, reason)) = o.refused {
            self.join_refused(room, creator, reason).await;
        }
        if let Some(room) = o.joined {
            self.members_changed().await;
            self.sync_room_with_connected(room).await;
        }
        if let Some(room) = o.invited {
            let _ = self.events.send(Event::RoomInvited { room });
        }
        if let Some(ch) = o.signed {
            self.room_changed(ch).await;
        } else if let Some(room) = o.changed {
            self.members_changed().await;
            self.room_event(room).await;
        }
    }
}

/// A Sync: the states the peer lacks, and if it is a member with us, the messages it lacks
/// (a page up to [`SYNC_BUDGET`]), our keys, and our own Sync when it holds a newer state.
fn synced(
    c: &Connection,
    me: &PeerId,
    peer: &PeerId,
    contact: bool,
    room: RoomId,
    f: &RoomFrame,
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let (row, head) = (store::room_row(c, &room)?, store::head(c, &room)?);
    let (Some(row), Some(head)) = (row, head) else {
        // A contact that lists us in a room we do not know: ask for its chain (an
        // invitation that did not reach us); so does the creator of a public room we asked
        // to join.
        let asked = public::joining_from(c, &room)? == Some(*peer);
        if (contact || asked) && f.version > 0 {
            o.reply.push(frame(RoomOp::Sync, &room));
        }
        return Ok(o);
    };
    // Asking to join a room we were in before: the creator we asked holds newer versions
    // (one lists us again); we ask for those after ours.
    if f.version > head.version() && public::joining_from(c, &room)? == Some(*peer) {
        o.reply.push(vector_frame(c, &room, head.version())?);
        return Ok(o);
    }
    let listed = head.state().member(peer).is_some();
    if !listed && !store::ever_members(c, &room)?.contains(peer) {
        return Ok(o);
    }
    if f.version < head.version() {
        let chain = store::states_from(c, &room, f.version + 1, usize::MAX)?;
        o.reply.extend(pages(RoomOp::States, &room, chain, true));
    }
    if row.status != RoomStatus::Joined || !listed {
        return Ok(o);
    }
    let theirs = their_vector(f);
    // What it holds need not go to its mailbox.
    let holds = store::Mailed {
        version: f.version.min(head.version()),
        seq: theirs.get(me),
    };
    store::raise_mailed(c, &room, peer, holds)?;
    let ours = store::vector(c, &room)?;
    let mut budget = SYNC_BUDGET;
    let mut batch = Vec::new();
    let mut more = false;
    for gap in gaps(&ours, &theirs) {
        let got = store::messages_range(c, &room, (&gap.0, gap.1, gap.2), budget.min(PAGE * 8))?;
        budget = budget.saturating_sub(got.iter().map(Vec::len).sum());
        more |= (got.len() as u64) < gap.2 - gap.1 + 1;
        batch.extend(got);
        if budget == 0 {
            more = true;
            break;
        }
    }
    let mut frames = pages(RoomOp::Messages, &room, batch, false);
    if let Some(last) = frames.last_mut() {
        last.more = more;
    }
    o.reply.extend(frames);
    for key in store::grants_for(c, &room, me, peer)? {
        o.reply.push(keys::grant_frame(&room, &key));
    }
    if f.version > head.version() {
        o.reply.push(vector_frame(c, &room, head.version())?);
    } else {
        o.fresh = Some(room);
    }
    Ok(o)
}

/// State versions: each judged against the one held and stored if it is the next; an
/// invitation is a chain from a contact that ends listing us.
fn states(
    c: &Connection,
    me: &PeerId,
    peer: &PeerId,
    contact: bool,
    room: RoomId,
    states: &[Vec<u8>],
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let row = store::room_row(c, &room)?;
    if row.is_none() && !contact {
        return Ok(o);
    }
    // While we ask to join, only the creator we asked gives us the room.
    let joining = row
        .as_ref()
        .is_some_and(|r| r.status == RoomStatus::Joining);
    if joining && public::joining_from(c, &room)? != Some(*peer) {
        return Ok(o);
    }
    let mut head = store::head(c, &room)?;
    let listed_before = head
        .as_ref()
        .is_some_and(|h| h.state().member(me).is_some());
    let status = row.as_ref().map(|r| r.status);
    for bytes in states {
        let s = match SignedState::decode(bytes) {
            Ok(s) if s.state().id == room => s,
            Ok(_) | Err(_) => {
                tracing::debug!("room state refused: malformed, or another room's");
                break;
            }
        };
        match judge(head.as_ref(), &s) {
            Verdict::Apply => {
                if store::room_row(c, &room)?.is_none() {
                    store::set_room_status(c, &room, RoomStatus::Invited, now_ms())?;
                    store::set_inviter(c, &room, peer)?;
                }
                store::append_state(c, &s)?;
                if let (Some(RoomStatus::Joined), Some(before)) = (status, &head) {
                    for (to, key) in keys::after_change(c, me, before, &s)? {
                        o.others.push((to, keys::grant_frame(&room, &key)));
                    }
                    if s.state().member(me).is_none() {
                        store::set_room_status(c, &room, RoomStatus::Removed, now_ms())?;
                    }
                }
                head = Some(s);
                o.changed = Some(room);
            }
            Verdict::Duplicate => {}
            Verdict::Stale { offered, held } => {
                tracing::debug!(offered, held, "stale room state refused");
            }
            Verdict::Gap { .. } => {
                let version = head.as_ref().map_or(0, SignedState::version);
                o.reply.push(vector_frame(c, &room, version)?);
                break;
            }
            Verdict::Refused(e) => {
                tracing::warn!(error = %e, "room state refused");
                break;
            }
        }
    }
    // A member's newest versions, all taken (no gap): we hold what it holds.
    let gap = o.reply.iter().any(|f| f.op == RoomOp::Sync as i32);
    if o.changed.is_some()
        && !gap
        && head
            .as_ref()
            .is_some_and(|h| h.state().member(peer).is_some())
    {
        o.fresh = Some(room);
    }
    let listed = head
        .as_ref()
        .is_some_and(|h| h.state().member(me).is_some());
    let reinvited = matches!(
        status,
        Some(RoomStatus::Left | RoomStatus::Removed | RoomStatus::Declined)
    ) && o.changed.is_some()
        && contact;
    if listed && joining {
        // The creator let us in: we are a member at once (we asked).
        store::set_room_status(c, &room, RoomStatus::Joined, now_ms())?;
        keys::own_key_or_new(c, &room, me)?;
        o.joined = Some(room);
        o.changed = Some(room);
    } else if listed && (!listed_before || reinvited) && status != Some(RoomStatus::Joined) {
        store::set_room_status(c, &room, RoomStatus::Invited, now_ms())?;
        store::set_inviter(c, &room, peer)?;
        o.invited = store::room_view(c, &room, me)?;
    }
    Ok(o)
}

/// A member's key: kept, and every message of it that waited for this key opened.
fn key(
    c: &Connection,
    me: &PeerId,
    peer: &PeerId,
    room: RoomId,
    f: &RoomFrame,
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let Some(head) = store::head(c, &room)? else {
        return Ok(o);
    };
    let Some(key) = f.key.as_ref().and_then(keys::granted) else {
        return Ok(o);
    };
    if head.state().member(peer).is_none() || head.state().member(me).is_none() {
        return Ok(o);
    }
    store::put_key(c, &room, peer, &key, None)?;
    let Some(held) = store::key(c, &room, peer, &key.id())? else {
        return Ok(o);
    };
    let mut opened = Vec::new();
    for (id, bytes) in store::sealed_under(c, &room, peer, &key.id())? {
        let Ok(m) = RoomMessage::decode(&bytes) else {
            continue;
        };
        if let Ok(content) = m.open(Some(&held)) {
            store::set_text(c, id, &content.text)?;
            opened.push((OrderKey::of(&m), id));
        }
    }
    opened.sort();
    let joined = store::room_row(c, &room)?.is_some_and(|r| r.status == RoomStatus::Joined);
    for (_, id) in opened.into_iter().filter(|_| joined) {
        if let Some(post) = store::post(c, id, me)? {
            o.posts.push(post);
        }
    }
    Ok(o)
}

/// Someone asks to join a public room we are an admin of: let in (the whole chain to it,
/// the new version to everyone), or told why not.
fn join(
    c: &Connection,
    identity: &Identity,
    peer: &PeerId,
    room: RoomId,
    pace: Pace<'_>,
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let open = pace(Kind::RoomJoins, &identity.peer_id(), false).0;
    match public::join_asked(c, identity, peer, &room, open)? {
        public::Answer::LetIn(changed) => {
            o.reply = public::chain_frames(c, &room)?;
            o.signed = Some(*changed);
        }
        // A member already (it asks again each session while it waits for the chain): our
        // Sync, which brings it what it lacks, not the whole chain again.
        public::Answer::Member => {
            let version = store::head(c, &room)?.map_or(0, |h| h.version());
            o.reply.push(vector_frame(c, &room, version)?);
        }
        public::Answer::Refused(reason) => o.reply.push(public::refusal(&room, reason)),
    }
    Ok(o)
}

/// An invitee declined: an admin removes it.
fn declined(
    c: &Connection,
    identity: &Identity,
    peer: &PeerId,
    room: RoomId,
) -> Result<Outcome, StoreError> {
    let mut o = Outcome::default();
    let me = identity.peer_id();
    let Some(head) = store::head(c, &room)? else {
        return Ok(o);
    };
    if !head.state().is_admin(&me) || head.state().member(peer).is_none() {
        return Ok(o);
    }
    match change(c, identity, &room, |s| {
        s.remove(peer);
        Ok::<_, NodeError>(())
    })? {
        Ok(ch) => o.signed = Some(ch),
        Err(e) => tracing::debug!(error = %e, "declined invitee not removed"),
    }
    Ok(o)
}
