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
use crate::node::state::Msg;
use crate::node::{Event, Inner, NodeError, NodeHandle, lock};
use crate::room::{Listing, MAX_MEMBERS, Policy, RoomId, SignedListing};
use crate::store::{self, StoreError, now_ms};
use crate::wire::{RoomFrame, RoomOp};

/// How long `room_join` waits for the creator's answer before it returns the room as
/// `joining` (the join goes on: the creator is asked again whenever a session with it
/// comes up).
const JOIN_WAIT: Duration = Duration::from_secs(30);

/// A creator's answer to `joiner` asking to join `room`: `Ok` with the change that lists it
/// (`None`: it is a member already), or `Err` with why not, in words for the joiner.
pub(super) fn join_asked(
    c: &Connection,
    identity: &Identity,
    joiner: &PeerId,
    room: &RoomId,
) -> Result<Result<Option<Changed>, String>, StoreError> {
    let me = identity.peer_id();
    let joined = store::room_row(c, room)?.is_some_and(|r| r.status == RoomStatus::Joined);
    let Some(head) = store::head(c, room)?.filter(|_| joined) else {
        return Ok(Err("the room is not held by the one you asked".into()));
    };
    let s = head.state();
    if s.policy != Policy::Public {
        return Ok(Err(
            "the room is not public: ask an admin to invite you".into()
        ));
    }
    if !s.is_admin(&me) {
        return Ok(Err("the one you asked is no admin of the room".into()));
    }
    if s.is_banned(joiner) {
        return Ok(Err("you are banned from this room".into()));
    }
    if s.member(joiner).is_some() {
        return Ok(Ok(None));
    }
    if s.members.len() >= MAX_MEMBERS {
        return Ok(Err(format!(
            "the room is full ({MAX_MEMBERS} members); try again when someone leaves"
        )));
    }
    Ok(
        match change(c, identity, room, |s| {
            s.add(*joiner);
            Ok(())
        })? {
            Ok(ch) => Ok(Some(ch)),
            Err(e) => Err(e.to_string()),
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
        let answer = self
            .store
            .call(move |c| {
                Ok(match join_asked(c, &identity, &from, &room)? {
                    Ok(ch) => Ok((ch, chain_frames(c, &room)?)),
                    Err(reason) => Err(reason),
                })
            })
            .await;
        match answer {
            Ok(Ok((changed, chain))) => {
                tracing::debug!(peer = ?from, "knock at a public room: let in");
                if let Some(ch) = changed {
                    self.room_changed(ch).await;
                }
                for f in chain {
                    self.room_to(from, f);
                }
                self.actor.tell(Msg::Hint(from, addrs));
            }
            Ok(Err(reason)) => {
                tracing::debug!(peer = ?from, %reason, "knock at a public room: refused");
                if let Some(rv) = &self.rv
                    && let Err(e) = rv.refuse_knock(&room, &from, &reason).await
                {
                    tracing::debug!(error = %e, "refusal not passed on");
                }
            }
            Err(e) => tracing::warn!(error = %e, "knock not answered"),
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
        let now: HashSet<RoomId> = listings.iter().map(|l| l.listing().room).collect();
        if let Some(rv) = inner.rv.clone() {
            for l in &listings {
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
            for room in last.difference(&now) {
                let _ = rv.unpublish(room).await;
            }
        }
        last = now;
        inner.actor.tell(Msg::Listing(!listings.is_empty()));
        let (every, wake) = (inner.listing_ttl / 3, inner.listing_wake.clone());
        // Not held while asleep: a node dropped meanwhile goes (with its profile's lock).
        drop(inner);
        let _ = tokio::time::timeout(every, wake.notified()).await;
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
        let found = rv
            .search(query, limit, now_ms() as u64)
            .await
            .map_err(|e| NodeError::Rendezvous(format!("the directory search failed: {e}")))?;
        let mut seen = lock(&self.inner.room_listings);
        Ok(found
            .into_iter()
            .map(|l| {
                let out = listed(&l, "directory");
                seen.directory(l);
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
                let row = store::room_row(c, &room)?;
                if row.as_ref().is_some_and(|r| r.status == RoomStatus::Joined) {
                    return Ok(false);
                }
                store::set_room_status(c, &room, RoomStatus::Joining, now_ms())?;
                store::set_listing(c, &room, &listing)?;
                store::set_inviter(c, &room, &creator)?;
                Ok(true)
            })
            .await?;
        if !started {
            return self.room(room).await;
        }
        let mut events = self.inner.events.subscribe();
        // The creator is admitted and may look us up now, and we dial it.
        self.inner.members_changed().await;
        if !addrs.is_empty() {
            self.inner.actor.tell(Msg::Hint(creator, addrs));
        }
        if self.inner.actor.is_connected(&creator) {
            self.inner.room_to(creator, frame(RoomOp::Join, &room));
        }
        if let Some(rv) = &self.inner.rv
            && let Err(e) = rv.knock(&room).await
        {
            // Not listed there (seen on the LAN only), or its creator is not online there.
            tracing::debug!(error = %e, "knock not passed on by the rendezvous");
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

    /// Bans a key from a room (we must be an admin): removed if it is a member, and no
    /// admin lets it in again until the ban is lifted.
    pub async fn room_ban(&self, room: RoomId, peer: PeerId) -> Result<Room, NodeError> {
        let me = self.inner.me;
        let identity = self.inner.identity.clone();
        let changed = self
            .inner
            .store
            .call(move |c| {
                change(c, &identity, &room, |s| {
                    if !s.is_admin(&me) {
                        return Err(NodeError::Invalid("only the room's admins ban".into()));
                    }
                    if peer == me {
                        return Err(NodeError::Invalid("to leave, use `room leave`".into()));
                    }
                    if peer == s.creator {
                        return Err(NodeError::Invalid(
                            "the room's creator cannot be banned".into(),
                        ));
                    }
                    if s.is_banned(&peer) {
                        return Err(NodeError::Invalid(format!("{peer} is banned already")));
                    }
                    s.ban(peer);
                    Ok(())
                })
            })
            .await??;
        self.inner.room_changed(changed).await;
        self.inner.listing_wake.notify_one();
        self.room(room).await
    }
}
