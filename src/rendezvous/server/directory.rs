//! Owns the public-room directory: the listings creators publish (in memory: renewed every
//! minute or so by their creators' nodes, gone when they stop), the search over them, and
//! knocks — pushed to the creator, whose answer comes back as the answer to the knock while
//! it waits (4 s). It holds what it lists and the knocks waiting now, nothing else.

use std::collections::HashMap;

use super::cluster::{Bus, Cluster, Routed, body, channel};
use super::holders::push_to;
use super::{Backend, State, key, lock, now_ms, refused};
use crate::identity::PeerId;
use crate::rendezvous::directory::{
    KnockAnswer, KnockResult, Listings, MAX_QUERY, MAX_RESULTS, Publish, Search,
};
use crate::rendezvous::proto::{Empty, Knocked, Push, push, response};
use crate::room::{RoomId, SignedListing};

/// Rooms one creator may list at once.
pub(super) const PER_CREATOR: usize = 16;
/// Listings in all.
pub(super) const MAX_LISTINGS: usize = 100_000;
/// How long a knock waits for its creator's answer (under a client's 5 s request timeout).
const KNOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(4);
/// Knocks waiting in all; past it a knock is answered at once, unanswered.
const MAX_KNOCKS: usize = 10_000;

/// A creator's answer: let in, or why not.
type Answer = (bool, String);
/// Longest refusal passed on, in bytes.
const MAX_REASON: usize = 200;

/// One listed room: its listing and its words in lowercase, as searches compare them.
struct Entry {
    listing: SignedListing,
    words: String,
}

/// The listings, how many each creator has, and the pending knocks.
#[derive(Default)]
pub(super) struct Directory {
    listings: HashMap<RoomId, Entry>,
    per_creator: HashMap<PeerId, usize>,
    /// (creator, knocker, room) → where its answer goes.
    knocks: HashMap<(PeerId, PeerId, RoomId), tokio::sync::oneshot::Sender<Answer>>,
}

impl Directory {
    /// Forgets expired listings (and knocks whose knocker stopped waiting).
    pub(super) fn expire(&mut self, now: u64) {
        let gone: Vec<RoomId> = self
            .listings
            .iter()
            .filter(|(_, e)| e.listing.listing().expires_ms <= now)
            .map(|(r, _)| *r)
            .collect();
        for room in gone {
            self.remove(&room);
        }
        self.knocks.retain(|_, answer| !answer.is_closed());
    }

    /// Redis mode: a listing another node took (checked again here), or one read at start.
    pub(super) fn replicate(&mut self, bytes: &[u8], now: u64) {
        let Ok(l) = SignedListing::decode(bytes) else {
            return;
        };
        let creator = l.listing().creator;
        if let Err(e) = self.publish(&creator, bytes, now, true) {
            tracing::debug!(error = %e, "a shared listing not taken");
        }
    }

    /// Redis mode: a room another node unlisted.
    pub(super) fn forget(&mut self, room: &[u8]) {
        if let Some(room) = RoomId::from_slice(room) {
            self.remove(&room);
        }
    }

    fn remove(&mut self, room: &RoomId) {
        if let Some(e) = self.listings.remove(room) {
            let creator = e.listing.listing().creator;
            if let Some(n) = self.per_creator.get_mut(&creator) {
                *n -= 1;
                if *n == 0 {
                    self.per_creator.remove(&creator);
                }
            }
        }
    }

    /// Lists or renews for `peer` (`online`: registered here now); `Err`: why not.
    fn publish(
        &mut self,
        peer: &PeerId,
        bytes: &[u8],
        now: u64,
        online: bool,
    ) -> Result<(), String> {
        let l = SignedListing::decode(bytes).map_err(|e| e.to_string())?;
        l.live(now).map_err(|e| e.to_string())?;
        let listing = l.listing();
        if listing.creator != *peer {
            return Err("only the room's creator lists it here".into());
        }
        // The one who lets joiners in must be reachable here.
        if !online {
            return Err("register before listing a room: its joiners knock at you here".into());
        }
        match self.listings.get(&listing.room) {
            Some(held) if held.listing.listing().issued_ms >= listing.issued_ms => return Ok(()),
            Some(_) => {}
            None if self.per_creator.get(peer).copied().unwrap_or(0) >= PER_CREATOR => {
                return Err(format!(
                    "you list {PER_CREATOR} rooms here already; unpublish one first"
                ));
            }
            None if self.listings.len() >= MAX_LISTINGS => {
                return Err("this server's room directory is full; try again later".into());
            }
            None => *self.per_creator.entry(*peer).or_default() += 1,
        }
        let words = format!("{}\n{}", listing.name, listing.topic).to_lowercase();
        self.listings
            .insert(listing.room, Entry { listing: l, words });
        Ok(())
    }

    fn search(&self, query: &str, limit: usize, now: u64) -> Vec<Vec<u8>> {
        let q = query.trim().to_lowercase();
        let by_id: Option<RoomId> = q.parse().ok();
        let mut hits: Vec<&SignedListing> = self
            .listings
            .values()
            .filter(|e| e.listing.listing().expires_ms > now)
            .filter(|e| {
                q.is_empty() || by_id == Some(e.listing.listing().room) || e.words.contains(&q)
            })
            .map(|e| &e.listing)
            .collect();
        hits.sort_by(|a, b| {
            let (a, b) = (a.listing(), b.listing());
            b.members
                .cmp(&a.members)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.room.cmp(&b.room))
        });
        hits.into_iter()
            .take(limit.clamp(1, MAX_RESULTS))
            .map(|l| l.bytes().to_vec())
            .collect()
    }
}

pub(super) async fn publish(state: &State, peer: PeerId, p: Publish) -> response::Body {
    let online = lock(&state.online).contains_key(&peer);
    let listed = lock(&state.directory).publish(&peer, &p.listing, now_ms(), online);
    if let Err(e) = listed {
        return refused(&e);
    }
    // Redis mode: every node's copy gets it, and a node that starts later reads it.
    if let Backend::Redis(c) = &state.backend {
        let Ok(l) = SignedListing::decode(&p.listing) else {
            return refused("the listing does not decode");
        };
        let room = l.listing().room;
        let shared = async {
            c.list(room.as_bytes(), &p.listing, l.listing().expires_ms)
                .await?;
            let msg = Bus::of(body::Body::Listed(p.listing.clone()));
            c.publish(&Cluster::directory_channel(), &msg).await
        };
        if let Err(e) = shared.await {
            tracing::warn!(error = %e, "cannot share a listing");
            return refused("the server cannot list rooms now; try again later");
        }
    }
    response::Body::Done(Empty {})
}

pub(super) async fn unpublish(state: &State, peer: PeerId, room: &[u8]) -> response::Body {
    let Some(room) = RoomId::from_slice(room) else {
        return refused("a room id has 16 bytes");
    };
    let ours = {
        let mut d = lock(&state.directory);
        let ours = d
            .listings
            .get(&room)
            .is_some_and(|e| e.listing.listing().creator == peer);
        if ours {
            d.remove(&room);
        }
        ours
    };
    if ours && let Backend::Redis(c) = &state.backend {
        let shared = async {
            c.unlist(room.as_bytes()).await?;
            let msg = Bus::of(body::Body::Unlisted(room.as_bytes().to_vec()));
            c.publish(&Cluster::directory_channel(), &msg).await
        };
        if let Err(e) = shared.await {
            tracing::warn!(error = %e, "cannot unlist a room");
            return refused("the server cannot unlist rooms now; try again later");
        }
    }
    response::Body::Done(Empty {})
}

pub(super) fn search(state: &State, s: Search) -> response::Body {
    if s.query.len() > MAX_QUERY {
        return refused(&format!("a search is at most {MAX_QUERY} bytes"));
    }
    let limit = if s.limit == 0 {
        MAX_RESULTS
    } else {
        s.limit as usize
    };
    response::Body::Listings(Listings {
        listings: lock(&state.directory).search(&s.query, limit, now_ms()),
    })
}

/// A knock: pushed to the room's creator if it is online, with the knocker's record; its
/// answer, if it comes within [`KNOCK_WAIT`], is the answer.
pub(super) async fn knock(state: &State, peer: PeerId, room: &[u8]) -> response::Body {
    let Some(room) = RoomId::from_slice(room) else {
        return refused("a room id has 16 bytes");
    };
    let now = now_ms();
    let Some(creator) = lock(&state.directory)
        .listings
        .get(&room)
        .filter(|e| e.listing.listing().expires_ms > now)
        .map(|e| e.listing.listing().creator)
    else {
        return refused(&format!(
            "no room {room} is listed here (its creator may have stopped listing it)"
        ));
    };
    let (answer, answered) = tokio::sync::oneshot::channel::<Answer>();
    let not_online = || refused("the room's creator is not online now; try again later");
    let knocked = {
        let online = lock(&state.online);
        let Some(me) = online.get(&peer) else {
            return refused("register before knocking, so the room's creator can reach you");
        };
        let here = online.contains_key(&creator);
        if !here && !matches!(state.backend, Backend::Redis(_)) {
            return not_online();
        }
        // Waiting before the creator hears of it: its answer may come back at once.
        let mut d = lock(&state.directory);
        if d.knocks.len() >= MAX_KNOCKS {
            d.expire(now);
        }
        if d.knocks.len() < MAX_KNOCKS {
            d.knocks.insert((creator, peer, room), answer);
        }
        Push {
            body: Some(push::Body::Knocked(Knocked {
                room: room.as_bytes().to_vec(),
                from: peer.as_bytes().to_vec(),
                observed: me.observed.to_string(),
                record: Some(me.signed.clone()),
            })),
        }
    };
    let forget = || lock(&state.directory).knocks.remove(&(creator, peer, room));
    match &state.backend {
        // The creator may be held at another node: the answer comes back to this one.
        Backend::Redis(c) if !lock(&state.online).contains_key(&creator) => {
            let route = route(&creator, &peer, &room);
            let sent = async {
                c.knock_waits(&route).await?;
                let msg = Bus::of(body::Body::Push(knocked));
                c.publish(&channel(&creator), &msg).await
            };
            match sent.await {
                Ok(0) => {
                    forget();
                    return not_online();
                }
                Ok(_) => {}
                Err(e) => {
                    forget();
                    tracing::warn!(error = %e, "cannot pass a knock on");
                    return refused("the server cannot pass knocks on now; try again later");
                }
            }
        }
        _ => push_to(state, &creator, knocked),
    }
    let result = match tokio::time::timeout(KNOCK_WAIT, answered).await {
        Ok(Ok((let_in, reason))) => KnockResult {
            answered: true,
            let_in,
            reason,
        },
        _ => KnockResult::default(),
    };
    forget();
    response::Body::KnockResult(result)
}

/// Which knock an answer is for, as Redis mode keys its route.
fn route(creator: &PeerId, knocker: &PeerId, room: &RoomId) -> Vec<u8> {
    [
        &creator.as_bytes()[..],
        &knocker.as_bytes()[..],
        room.as_bytes(),
    ]
    .concat()
}

/// A creator's answer, passed on as the answer to that knock if it still waits.
pub(super) async fn answer(state: &State, creator: PeerId, a: KnockAnswer) -> response::Body {
    let (Some(room), Some(knocker)) = (RoomId::from_slice(&a.room), key(&a.peer)) else {
        return refused("an answer names a room (16 bytes) and a knocker (32 bytes)");
    };
    let waiting = lock(&state.directory)
        .knocks
        .remove(&(creator, knocker, room));
    match (waiting, &state.backend) {
        (Some(waiting), _) => pass_on(waiting, a),
        // Redis mode: the knock may wait at another node.
        (None, Backend::Redis(c)) => {
            let sent = async {
                let Some(node) = c.knock_node(&route(&creator, &knocker, &room)).await? else {
                    return Ok(0);
                };
                let msg = Bus::of(body::Body::Answer(Routed {
                    creator: creator.as_bytes().to_vec(),
                    answer: Some(a),
                }));
                c.publish(&node, &msg).await
            };
            if let Err(e) = sent.await {
                tracing::debug!(error = %e, "a knock's answer not passed on");
            }
        }
        (None, Backend::Sqlite(_)) => {}
    }
    response::Body::Done(Empty {})
}

/// Redis mode: an answer another node passed on, for a knock waiting here.
pub(super) fn routed(state: &State, r: Routed) {
    let (Some(creator), Some(a)) = (key(&r.creator), r.answer) else {
        return;
    };
    let (Some(room), Some(knocker)) = (RoomId::from_slice(&a.room), key(&a.peer)) else {
        return;
    };
    let waiting = lock(&state.directory)
        .knocks
        .remove(&(creator, knocker, room));
    if let Some(waiting) = waiting {
        pass_on(waiting, a);
    }
}

/// Passes a creator's answer to the knock waiting for it (its reason cut to `MAX_REASON`).
fn pass_on(waiting: tokio::sync::oneshot::Sender<Answer>, a: KnockAnswer) {
    let mut reason = a.reason;
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.truncate(end);
    let _ = waiting.send((a.let_in, reason));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::room::{Listing, Policy, RoomState};

    fn listing(creator: &Identity, name: &str, members: usize, issued: u64) -> SignedListing {
        let mut s = RoomState::create(
            creator.peer_id(),
            [members as u8; 16],
            name,
            "",
            Policy::Public,
            1,
        );
        for _ in 1..members {
            s.add(Identity::generate().peer_id());
        }
        Listing::of(&s, issued, 60_000)
            .sign(creator, Policy::Public)
            .unwrap()
    }

    #[test]
    fn only_the_creator_lists_its_room_and_a_newer_listing_replaces_the_older() {
        let (alice, mallory) = (Identity::generate(), Identity::generate());
        let mut d = Directory::default();
        let l = listing(&alice, "Rust Berlin", 3, 1_000);
        // Mallory uploads Alice's signed listing as hers: refused.
        let err = d
            .publish(&mallory.peer_id(), l.bytes(), 1_000, true)
            .unwrap_err();
        assert!(err.contains("creator"), "{err}");
        // Its creator, not registered here (nobody could knock): refused.
        let err = d
            .publish(&alice.peer_id(), l.bytes(), 1_000, false)
            .unwrap_err();
        assert!(err.contains("register"), "{err}");
        d.publish(&alice.peer_id(), l.bytes(), 1_000, true).unwrap();
        assert_eq!(d.search("rust", 10, 1_000).len(), 1);
        assert_eq!(d.search(&l.listing().room.to_string(), 10, 1_000).len(), 1);
        assert!(d.search("python", 10, 1_000).is_empty());
        // An older listing does not replace a newer one; it expires when not renewed.
        let old = listing(&alice, "Rust Berlin (old)", 3, 500);
        d.publish(&alice.peer_id(), old.bytes(), 1_000, true)
            .unwrap();
        assert_eq!(d.search("old", 10, 1_000).len(), 0);
        d.expire(61_000);
        assert!(d.search("", 10, 61_000).is_empty());
    }

    #[test]
    fn the_largest_rooms_come_first_and_one_creator_lists_a_bounded_number() {
        let alice = Identity::generate();
        let mut d = Directory::default();
        for n in 1..=PER_CREATOR {
            let l = listing(&alice, &format!("room {n}"), n, 1_000);
            d.publish(&alice.peer_id(), l.bytes(), 1_000, true).unwrap();
        }
        let first = SignedListing::decode(&d.search("", 3, 1_000)[0]).unwrap();
        assert_eq!(first.listing().members as usize, PER_CREATOR);
        // A room more is over the cap.
        let s = RoomState::create(
            alice.peer_id(),
            [200; 16],
            "one more",
            "",
            Policy::Public,
            1,
        );
        let extra = Listing::of(&s, 1_000, 60_000)
            .sign(&alice, Policy::Public)
            .unwrap();
        assert!(
            d.publish(&alice.peer_id(), extra.bytes(), 1_000, true)
                .is_err()
        );
    }
}
