//! Owns the public-room directory: the listings creators publish (in memory: renewed every
//! minute or so by their creators' nodes, gone when they stop), the search over them, and
//! knocks — pushed to the creator, whose refusal comes back to the knocker only while that
//! knock is pending. It holds what it lists and the knocks of the last minute, nothing else.

use std::collections::HashMap;

use super::{State, key, lock, now_ms, refused};
use crate::identity::PeerId;
use crate::rendezvous::directory::{
    KnockRefused, Knocked, Listings, MAX_QUERY, MAX_RESULTS, Publish, Search,
};
use crate::rendezvous::proto::{Empty, Push, push, response};
use crate::room::{RoomId, SignedListing};

/// Rooms one creator may list at once.
pub(super) const PER_CREATOR: usize = 16;
/// Listings in all.
pub(super) const MAX_LISTINGS: usize = 100_000;
/// How long a knock waits for its creator's refusal.
const KNOCK_MS: u64 = 60_000;
/// Knocks pending in all (the oldest go first past it).
const MAX_KNOCKS: usize = 10_000;
/// Longest refusal passed on, in bytes.
const MAX_REASON: usize = 200;

/// The listings and the pending knocks.
#[derive(Default)]
pub(super) struct Directory {
    listings: HashMap<RoomId, SignedListing>,
    /// (creator, knocker, room) → when it knocked.
    knocks: HashMap<(PeerId, PeerId, RoomId), u64>,
}

impl Directory {
    /// Forgets expired listings and knocks no refusal can answer any more.
    pub(super) fn expire(&mut self, now: u64) {
        self.listings.retain(|_, l| l.listing().expires_ms > now);
        self.knocks.retain(|_, at| *at + KNOCK_MS > now);
    }

    fn per_creator(&self, creator: &PeerId) -> usize {
        self.listings
            .values()
            .filter(|l| l.listing().creator == *creator)
            .count()
    }

    /// Lists or renews; `Err`: why not.
    fn publish(&mut self, peer: &PeerId, bytes: &[u8], now: u64) -> Result<(), String> {
        let l = SignedListing::decode(bytes).map_err(|e| e.to_string())?;
        l.live(now).map_err(|e| e.to_string())?;
        let listing = l.listing();
        if listing.creator != *peer {
            return Err("only the room's creator lists it here".into());
        }
        match self.listings.get(&listing.room) {
            Some(held) if held.listing().issued_ms >= listing.issued_ms => return Ok(()),
            Some(_) => {}
            None if self.per_creator(peer) >= PER_CREATOR => {
                return Err(format!(
                    "you list {PER_CREATOR} rooms here already; unpublish one first"
                ));
            }
            None if self.listings.len() >= MAX_LISTINGS => {
                return Err("this server's room directory is full; try again later".into());
            }
            None => {}
        }
        self.listings.insert(listing.room, l);
        Ok(())
    }

    fn search(&self, query: &str, limit: usize, now: u64) -> Vec<Vec<u8>> {
        let q = query.trim().to_lowercase();
        let by_id: Option<RoomId> = q.parse().ok();
        let mut hits: Vec<&SignedListing> = self
            .listings
            .values()
            .filter(|l| l.listing().expires_ms > now)
            .filter(|l| {
                let l = l.listing();
                q.is_empty()
                    || by_id == Some(l.room)
                    || l.name.to_lowercase().contains(&q)
                    || l.topic.to_lowercase().contains(&q)
            })
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

pub(super) fn publish(state: &State, peer: PeerId, p: Publish) -> response::Body {
    match lock(&state.directory).publish(&peer, &p.listing, now_ms()) {
        Ok(()) => response::Body::Done(Empty {}),
        Err(e) => refused(&e),
    }
}

pub(super) fn unpublish(state: &State, peer: PeerId, room: &[u8]) -> response::Body {
    let Some(room) = RoomId::from_slice(room) else {
        return refused("a room id has 16 bytes");
    };
    let mut d = lock(&state.directory);
    if d.listings
        .get(&room)
        .is_some_and(|l| l.listing().creator == peer)
    {
        d.listings.remove(&room);
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

/// A knock: pushed to the room's creator if it is online, with the knocker's record.
pub(super) fn knock(state: &State, peer: PeerId, room: &[u8]) -> response::Body {
    let Some(room) = RoomId::from_slice(room) else {
        return refused("a room id has 16 bytes");
    };
    let now = now_ms();
    let Some(creator) = lock(&state.directory)
        .listings
        .get(&room)
        .filter(|l| l.listing().expires_ms > now)
        .map(|l| l.listing().creator)
    else {
        return refused(&format!(
            "no room {room} is listed here (its creator may have stopped listing it)"
        ));
    };
    let online = lock(&state.online);
    let Some(me) = online.get(&peer) else {
        return refused("register before knocking, so the room's creator can reach you");
    };
    let Some(target) = online.get(&creator) else {
        return refused("the room's creator is not online now; try again later");
    };
    target.push.send(Push {
        body: Some(push::Body::Knocked(Knocked {
            room: room.as_bytes().to_vec(),
            from: peer.as_bytes().to_vec(),
            observed: me.observed.to_string(),
            record: Some(me.signed.clone()),
        })),
    });
    drop(online);
    let mut d = lock(&state.directory);
    if d.knocks.len() >= MAX_KNOCKS {
        d.expire(now);
    }
    if d.knocks.len() < MAX_KNOCKS {
        d.knocks.insert((creator, peer, room), now);
    }
    response::Body::Done(Empty {})
}

/// A creator's refusal, passed to the knocker only if its knock is pending.
pub(super) fn refuse(state: &State, creator: PeerId, r: KnockRefused) -> response::Body {
    let (Some(room), Some(knocker)) = (RoomId::from_slice(&r.room), key(&r.peer)) else {
        return refused("a refusal names a room (16 bytes) and a knocker (32 bytes)");
    };
    let pending = lock(&state.directory)
        .knocks
        .remove(&(creator, knocker, room))
        .is_some_and(|at| at + KNOCK_MS > now_ms());
    if pending && let Some(o) = lock(&state.online).get(&knocker) {
        let mut reason = r.reason;
        let mut end = reason.len().min(MAX_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        o.push.send(Push {
            body: Some(push::Body::KnockRefused(KnockRefused {
                room: r.room,
                peer: creator.as_bytes().to_vec(),
                reason,
            })),
        });
    }
    response::Body::Done(Empty {})
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
        let err = d.publish(&mallory.peer_id(), l.bytes(), 1_000).unwrap_err();
        assert!(err.contains("creator"), "{err}");
        d.publish(&alice.peer_id(), l.bytes(), 1_000).unwrap();
        assert_eq!(d.search("rust", 10, 1_000).len(), 1);
        assert_eq!(d.search(&l.listing().room.to_string(), 10, 1_000).len(), 1);
        assert!(d.search("python", 10, 1_000).is_empty());
        // An older listing does not replace a newer one; it expires when not renewed.
        let old = listing(&alice, "Rust Berlin (old)", 3, 500);
        d.publish(&alice.peer_id(), old.bytes(), 1_000).unwrap();
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
            d.publish(&alice.peer_id(), l.bytes(), 1_000).unwrap();
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
        assert!(d.publish(&alice.peer_id(), extra.bytes(), 1_000).is_err());
    }
}
