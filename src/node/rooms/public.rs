//! Owns public rooms in the node: listing ours (a LAN record and a directory entry, both the
//! creator's signed listing, renewed by one loop), what others list (seen on the LAN or
//! found in the directory), asking to join (a Join frame over a session with the creator,
//! or a knock through the rendezvous), the creator's answer (let in by a new state, or
//! refused with a reason), and bans.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::seen::listed;
use super::{Changed, change, frame, not_in, pages};
use crate::identity::{Identity, PeerId};
use crate::model::{ListedRoom, Room, RoomStatus};
use crate::node::flood::Kind;
use crate::node::state::Msg;
use crate::node::{Event, Inner, NodeError, NodeHandle, lock};
use crate::room::{Listing, MAX_MEMBERS, Policy, RoomId, SignedListing};
use crate::store::{self, StoreError, now_ms};
use crate::wire::{RoomFrame, RoomOp};

/// How long `room_join` waits for the creator's answer before it returns the room as
/// `joining` (the join goes on: the creator is asked again whenever a session with it
/// comes up).
const JOIN_WAIT: Duration = Duration::from_secs(30);
/// The shortest time between two rounds of the listing loop.
const RENEW_AT_MOST: Duration = Duration::from_secs(2);

/// What a creator answers someone asking to join.
pub(super) enum Answer {
    /// Let in: the change that lists it.
    LetIn(Box<Changed>),
    /// A member already.
    Member,
    /// Not let in, and why, in words for the asker.
    Refused(String),
}

/// A creator's answer to `joiner` asking to join `room`; `open`: the rooms we list take
/// one more join now (`flood::Kind::RoomJoins`). A room we do not hold as a public room's
/// admin gets one answer whatever the reason, so an asker learns nothing of our rooms.
pub(super) fn join_asked(
    c: &Connection,
    identity: &Identity,
    joiner: &PeerId,
    room: &RoomId,
    open: bool,
) -> Result<Answer, StoreError> {
    let me = identity.peer_id();
    let joined = store::room_row(c, room)?.is_some_and(|r| r.status == RoomStatus::Joined);
    let head = store::head(c, room)?
        .filter(|h| joined && h.state().policy == Policy::Public && h.state().is_admin(&me));
    let Some(head) = head else {
        return Ok(Answer::Refused("no public room of that id is here".into()));
    };
    let s = head.state();
    let refused = |why: String| Ok(Answer::Refused(why));
    if s.is_banned(joiner) {
        return refused("you are banned from this room".into());
    }
    if store::is_blocked(c, joiner)? {
        return refused("the room's creator will not let you in".into());
    }
    if s.member(joiner).is_some() {
        return Ok(Answer::Member);
    }
    if s.members.len() >= MAX_MEMBERS {
        return refused(format!(
            "the room is full ({MAX_MEMBERS} members); try again when someone leaves"
        ));
    }
    if !open {
        return refused("too many people are joining now; try again in a minute".into());
    }
    Ok(
        match change(c, identity, room, |s| {
            s.add(*joiner);
            Ok(())
        })? {
            Ok(ch) => Answer::LetIn(Box::new(ch)),
            Err(e) => Answer::Refused(e.to_string()),
        },
    )
}

/// The whole chain for someone let in: an Invite, then the rest of the states.
pub(super) fn chain_frames(c: &Connection, room: &RoomId) -> Result<Vec<RoomFrame>, StoreError> {
    let chain = store::states_from(c, room, 1, usize::MAX)?;
    let mut frames = pages(RoomOp::States, room, chain, true);
    if let Some(first) = frames.first_mut() {
        first.op = RoomOp::Invite as i32;
    }
    Ok(frames)
}

/// A refusal to send back.
pub(super) fn refusal(room: &RoomId, reason: String) -> RoomFrame {
    let mut f = frame(RoomOp::JoinRefused, room);
    f.reason = reason;
    f
}

/// The creator a join of ours asked, if `room` is one we are joining.
pub(super) fn joining_from(c: &Connection, room: &RoomId) -> Result<Option<PeerId>, StoreError> {
    let joining = store::room_row(c, room)?.is_some_and(|r| r.status == RoomStatus::Joining);
    if !joining {
        return Ok(None);
    }
    Ok(store::listing(c, room)?.map(|l| l.listing().creator))
}

/// The creator of a room we are joining refused us: we stop asking.
pub(super) fn refused_us(
    c: &Connection,
    creator: &PeerId,
    room: &RoomId,
) -> Result<bool, StoreError> {
    if joining_from(c, room)? != Some(*creator) {
        return Ok(false);
    }
    store::set_room_status(c, room, RoomStatus::Left, now_ms())?;
    Ok(true)
}

/// Join frames for the rooms we are joining whose creator is `peer` (a session with it
/// came up).
pub(super) fn joins_for(
    c: &Connection,
    me: &PeerId,
    peer: &PeerId,
) -> Result<Vec<RoomFrame>, StoreError> {
    let mut out = Vec::new();
    for room in store::rooms(c, me)? {
        if joining_from(c, &room.room_id)? == Some(*peer) {
            out.push(frame(RoomOp::Join, &room.room_id));
        }
    }
    Ok(out)
}

impl Inner {
    /// Someone knocked at a room we list (pushed by the rendezvous): let in, or told why not
    /// through the server.
    pub(crate) async fn knocked(
        self: &Arc<Self>,
        room: RoomId,
        from: PeerId,
        addrs: Vec<SocketAddr>,
    ) {
        let identity = self.identity.clone();
        let open = self.pace()(Kind::RoomJoins, &self.me, false).0;
        let answer = self
            .store
            .call(move |c| {
                Ok(match join_asked(c, &identity, &from, &room, open)? {
                    Answer::LetIn(ch) => Ok(Some((*ch, chain_frames(c, &room)?))),
                    Answer::Member => Ok(None),
                    Answer::Refused(reason) => Err(reason),
                })
            })
            .await;
        let said = match answer {
            Ok(Ok(let_in)) => {
                tracing::debug!(peer = ?from, "knock at a public room: let in");
                if let Some((ch, chain)) = let_in {
                    self.room_changed(ch).await;
                    for f in chain {
                        self.room_to(from, f);
                    }
                }
                // A member already: the Sync of the session that follows tells it the rest.
                self.actor.tell(Msg::Hint(from, addrs));
                None
            }
            Ok(Err(reason)) => {
                tracing::debug!(peer = ?from, %reason, "knock at a public room: refused");
                Some(reason)
            }
            Err(e) => {
                tracing::warn!(error = %e, "knock not answered");
                return;
            }
        };
        if let Some(rv) = &self.rv
            && let Err(e) = rv.answer_knock(&room, &from, said.as_deref()).await
        {
            tracing::debug!(error = %e, "knock's answer not passed on");
        }
    }

    /// The creator of a room we asked to join refused (over a session or the rendezvous).
    pub(crate) async fn join_refused(&self, room: RoomId, creator: PeerId, reason: String) {
        let stopped = self
            .store
            .call(move |c| refused_us(c, &creator, &room))
            .await
            .unwrap_or(false);
        if stopped {
            let reason = crate::text::printable(&reason).chars().take(200).collect();
            let _ = self.events.send(Event::RoomJoinRefused {
                room_id: room,
                reason,
            });
            self.members_changed().await;
            self.room_event(room).await;
        }
    }

    /// The listings of the rooms we list now, signed for the next period.
    async fn our_listings(&self) -> Vec<SignedListing> {
        let Ok(states) = self.store.call(store::published_rooms).await else {
            return Vec::new();
        };
        let (now, ttl) = (now_ms() as u64, self.listing_ttl.as_millis() as u64);
        states
            .iter()
            .filter_map(|s| {
                Listing::of(s.state(), now, ttl)
                    .sign(&self.identity, s.state().policy)
                    .ok()
            })
            .collect()
    }
}

/// Keeps our listed rooms listed: every third of a listing's life (or when woken: a room
/// published, unpublished, or its members changed), a fresh listing to the LAN record and
/// to the directory; a room no longer listed is withdrawn from both.
pub(crate) async fn publish_loop(inner: std::sync::Weak<Inner>) {
    let mut last: HashSet<RoomId> = HashSet::new();
    loop {
        let Some(inner) = inner.upgrade() else { return };
        if inner.shutdown.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let listings = inner.our_listings().await;
        let stopping = || inner.shutdown.load(std::sync::atomic::Ordering::SeqCst);
        if let Some(d) = inner.actor.ask(Msg::DiscoveryNow).await.flatten()
            && (!listings.is_empty() || !last.is_empty())
        {
            let ls = listings.clone();
            match tokio::task::spawn_blocking(move || d.set_rooms(&ls)).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "rooms not listed on the LAN"),
                Err(e) => tracing::warn!(error = %e, "rooms not listed on the LAN"),
                Ok(Ok(())) => {}
            }
        }
        let mut now: HashSet<RoomId> = listings.iter().map(|l| l.listing().room).collect();
        if let Some(rv) = inner.rv.clone() {
            for l in listings.iter().take_while(|_| !stopping()) {
                if let Err(e) = rv.publish(l).await {
                    tracing::debug!(error = %e, "room not listed in the directory");
                    let _ = inner.events.send(Event::Error {
                        message: format!(
                            "the room {} is not listed in the rendezvous's directory: {e}",
                            l.listing().room
                        ),
                    });
                }
            }
            for room in last.difference(&now).copied().collect::<Vec<_>>() {
                // Not unlisted yet: asked again next round (it lapses meanwhile anyway).
                if rv.unpublish(&room).await.is_err() {
                    now.insert(room);
                }
            }
        }
        last = now;
        inner.actor.tell(Msg::Listing(!listings.is_empty()));
        let (every, wake) = (inner.listing_ttl / 3, inner.listing_wake.clone());
        // Not held while asleep: a node dropped meanwhile goes (with its profile's lock).
        drop(inner);
        // At most one round every 2 s, however often members change.
        tokio::time::sleep(RENEW_AT_MOST).await;
        let _ = tokio::time::timeout(every.saturating_sub(RENEW_AT_MOST), wake.notified()).await;
    }
}

impl NodeHandle {
    /// In a public room every member is held to a stranger's pace (members who are not
    /// their contacts hold back the rest): so is what we send, with a clear error.
    pub(super) async fn public_pace(&self, room: RoomId) -> Result<(), NodeError> {
        let public = self
            .inner
            .store
            .call(move |c| {
                Ok(store::head(c, &room)?.is_some_and(|h| h.state().policy == Policy::Public))
            })
            .await?;
        if !public {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let taken = crate::node::lock(&self.inner.flood).take(
            self.inner.me,
            crate::node::flood::Kind::RoomPosts,
            false,
            1,
            now,
        );
        match taken.next {
            None => Ok(()),
            Some(wait) => Err(NodeError::Invalid(format!(
                "a public room takes 10 messages at once and then one every 5 s from each member; wait {} s",
                wait.as_secs() + 1
            ))),
        }
    }

    /// Creates a public room: anyone may join it (its creator lets them in), its messages
    /// are signed by their authors and not secret. It is not listed until `room_publish`.
    pub async fn room_create_public(&self, name: &str, topic: &str) -> Result<Room, NodeError> {
        self.room_create_as(name, topic, Policy::Public).await
    }

    /// Lists a public room of ours on the LAN and in the rendezvous's directory (`on`), or
    /// stops listing it. Only its creator lists it: the one admin no other can remove, and
    /// the one key a stranger can check against the room id without the member list.
    pub async fn room_publish(&self, room: RoomId, on: bool) -> Result<Room, NodeError> {
        let me = self.inner.me;
        self.inner
            .store
            .call(move |c| {
                let joined = store::room_row(c, &room)?.is_some_and(|r| r.status == RoomStatus::Joined);
                let Some(head) = store::head(c, &room)?.filter(|_| joined) else {
                    return Ok(Err(not_in(&room)));
                };
                let s = head.state();
                if on && s.policy != Policy::Public {
                    return Ok(Err(NodeError::Invalid(
                        "only a public room can be listed; this one is private (create one with `room create NAME --public`)".into(),
                    )));
                }
                if on && s.creator != me {
                    return Ok(Err(NodeError::Invalid(
                        "only the room's creator lists it; ask them to publish it".into(),
                    )));
                }
                store::set_published(c, &room, on)?;
                Ok(Ok(()))
            })
            .await??;
        self.inner.listing_wake.notify_one();
        self.room(room).await
    }

    /// Public rooms listed on the LAN now, largest first.
    pub async fn room_nearby(&self) -> Vec<ListedRoom> {
        lock(&self.inner.room_listings).nearby(now_ms() as u64)
    }

    /// Searches the rendezvous's directory (by name, topic or room id; empty: the largest
    /// rooms). Each listing is checked here: its creator's, for its room, not expired.
    pub async fn room_directory(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ListedRoom>, NodeError> {
        let rv = self.inner.rv.clone().ok_or_else(|| {
            NodeError::Rendezvous(
                "no rendezvous is configured, so there is no directory to search; `room nearby` lists the rooms on your network".into(),
            )
        })?;
        let now = now_ms() as u64;
        let found = rv
            .search(query, limit, now)
            .await
            .map_err(|e| NodeError::Rendezvous(format!("the directory search failed: {e}")))?;
        let mut seen = lock(&self.inner.room_listings);
        Ok(found
            .into_iter()
            .map(|l| {
                let out = listed(&l, "directory");
                seen.directory(l, now);
                out
            })
            .collect())
    }

    /// Asks to join a public room seen on the LAN or in the directory (searched for by id
    /// if it was not seen). Its creator lets us in or refuses; this waits up to 30 s for
    /// that and returns the room (`joining` if no answer came yet: it goes on).
    pub async fn room_join(&self, room: RoomId) -> Result<Room, NodeError> {
        let mut seen = lock(&self.inner.room_listings).get(&room);
        if seen.is_none() && self.inner.rv.is_some() {
            let _ = self.room_directory(&room.to_string(), 1).await;
            seen = lock(&self.inner.room_listings).get(&room);
        }
        let Some((listing, addrs)) = seen else {
            return Err(NodeError::Invalid(format!(
                "the room {room} is not listed on your network nor in your rendezvous's directory; find one with `room nearby` or `room directory`"
            )));
        };
        let creator = listing.listing().creator;
        if creator == self.inner.me {
            return Err(NodeError::Invalid("this is your own room".into()));
        }
        let started = self
            .inner
            .store
            .call(move |c| {
                match store::room_row(c, &room)?.map(|r| r.status) {
                    Some(RoomStatus::Joined) => return Ok(Some(false)),
                    // An invitation waits: accepting it is the way in.
                    Some(RoomStatus::Invited) => return Ok(None),
                    _ => {}
                }
                store::set_room_status(c, &room, RoomStatus::Joining, now_ms())?;
                store::set_listing(c, &room, &listing)?;
                store::set_inviter(c, &room, &creator)?;
                Ok(Some(true))
            })
            .await?;
        match started {
            None => {
                return Err(NodeError::Invalid(format!(
                    "you are invited to the room {room}: accept the invitation (`room accept`)"
                )));
            }
            Some(false) => return self.room(room).await,
            Some(true) => {}
        }
        let mut events = self.inner.events.subscribe();
        // The creator is admitted and may look us up now, and we dial it.
        self.inner.members_changed().await;
        let addrs_none = addrs.is_empty();
        if !addrs_none {
            self.inner.actor.tell(Msg::Hint(creator, addrs));
        }
        if self.inner.actor.is_connected(&creator) {
            self.inner.room_to(creator, frame(RoomOp::Join, &room));
        }
        if let Some(rv) = &self.inner.rv {
            // A knock over the server's request rate waits its turn (a few times at most).
            let mut knock = rv.knock(&room).await;
            for _ in 0..3 {
                let Err(crate::rendezvous::ClientError::RateLimited { retry_after }) = knock else {
                    break;
                };
                tokio::time::sleep(retry_after.min(Duration::from_secs(5))).await;
                knock = rv.knock(&room).await;
            }
            match knock {
                // The creator's own word: stop asking.
                Ok(r) if r.answered && !r.let_in => {
                    self.inner
                        .join_refused(room, creator, r.reason.clone())
                        .await;
                    return Err(NodeError::Invalid(format!(
                        "the room's creator did not let you in: {}",
                        crate::text::printable(&r.reason)
                    )));
                }
                Ok(_) => {}
                // Not listed there, or its creator is not online there: with no other way
                // to reach it (no LAN record, no session), the join cannot go on.
                Err(crate::rendezvous::ClientError::Refused(why))
                    if addrs_none && !self.inner.actor.is_connected(&creator) =>
                {
                    self.stop_joining(room).await?;
                    return Err(NodeError::Invalid(format!(
                        "could not ask the room's creator: {why}"
                    )));
                }
                Err(e) => tracing::debug!(error = %e, "knock not passed on by the rendezvous"),
            }
        }
        self.inner.room_event(room).await;
        let deadline = tokio::time::Instant::now() + JOIN_WAIT;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(Event::RoomState { room: r }))
                    if r.room_id == room && r.status == RoomStatus::Joined =>
                {
                    return Ok(r);
                }
                Ok(Ok(Event::RoomJoinRefused { room_id, reason })) if room_id == room => {
                    return Err(NodeError::Invalid(format!(
                        "the room's creator did not let you in: {reason}"
                    )));
                }
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        self.room(room).await
    }

    /// Lifts a ban (we must be an admin): the key may ask to join again.
    pub async fn room_unban(&self, room: RoomId, peer: PeerId) -> Result<Room, NodeError> {
        self.admin_change(room, "only the room's admins lift bans", move |s, _| {
            if !s.is_banned(&peer) {
                return Err(NodeError::Invalid(format!("{peer} is not banned")));
            }
            s.banned.retain(|k| *k != peer);
            Ok(())
        })
        .await
    }

    /// A join we asked for and no longer want: we stop asking, and its creator is no
    /// longer admitted nor allowed to look us up for it. False: we were not joining.
    pub(super) async fn stop_joining(&self, room: RoomId) -> Result<bool, NodeError> {
        let stopped = self
            .inner
            .store
            .call(move |c| {
                let joining =
                    store::room_row(c, &room)?.is_some_and(|r| r.status == RoomStatus::Joining);
                if joining {
                    store::set_room_status(c, &room, RoomStatus::Left, now_ms())?;
                }
                Ok(joining)
            })
            .await?;
        if stopped {
            self.inner.members_changed().await;
            self.inner.room_event(room).await;
        }
        Ok(stopped)
    }

    /// Bans a key from a room (we must be an admin): removed if it is a member, and no
    /// admin lets it in again until the ban is lifted.
    pub async fn room_ban(&self, room: RoomId, peer: PeerId) -> Result<Room, NodeError> {
        self.admin_change(room, "only the room's admins ban", move |s, me| {
                if peer == *me {
                    return Err(NodeError::Invalid("to leave, use `room leave`".into()));
                }
                if peer == s.creator {
                    return Err(NodeError::Invalid(
                        "the room's creator cannot be banned".into(),
                    ));
                }
                if s.policy != Policy::Public {
                    return Err(NodeError::Invalid(
                        "bans are for public rooms; in a private room, remove the member (only an admin's invitation brings them back)".into(),
                    ));
                }
                if s.is_banned(&peer) {
                    return Err(NodeError::Invalid(format!("{peer} is banned already")));
                }
                s.ban(peer);
                Ok(())
            })
        .await
    }
}
