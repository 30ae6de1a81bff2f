//! Owns what we have seen of the public rooms others list: on the LAN (a record, with where
//! its creator listens, while it is up) and in the directory's answers, newest listing kept;
//! and the listed room as the apps see it.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::model::ListedRoom;
use crate::room::{RoomId, SignedListing};

/// Most rooms kept: listings cost nothing to make, so a network or a directory full of them
/// must not grow the node; past it, expired ones go first, then those off the LAN.
const MAX_SEEN: usize = 1024;
/// Most LAN records kept per room (a replayed listing in someone else's record is one more).
const MAX_RECORDS: usize = 8;

/// The public rooms others list that we have seen: on the LAN (each record with where it
/// says the creator listens), and in the directory's last answers.
pub(crate) struct Seen {
    rooms: HashMap<RoomId, SeenRoom>,
    /// Most rooms kept ([`MAX_SEEN`]).
    cap: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            rooms: HashMap::new(),
            cap: MAX_SEEN,
        }
    }
}

struct SeenRoom {
    /// The newest listing of the room seen anywhere.
    listing: SignedListing,
    /// The LAN records up now that carry it: instance name and addresses.
    lan: Vec<(String, Vec<SocketAddr>)>,
}

impl Seen {
    /// A LAN record of a room at `now`; true when the room is new or says something new.
    pub(crate) fn lan(
        &mut self,
        listing: SignedListing,
        fullname: String,
        addrs: Vec<SocketAddr>,
        now: u64,
    ) -> bool {
        let room = listing.listing().room;
        self.make_room(&room, now);
        let entry = self.rooms.entry(room).or_insert(SeenRoom {
            listing: listing.clone(),
            lan: Vec::new(),
        });
        let newer = entry.listing.listing().issued_ms < listing.listing().issued_ms;
        if newer {
            entry.listing = listing;
        }
        let known = entry.lan.iter().any(|(n, a)| *n == fullname && *a == addrs);
        entry.lan.retain(|(n, _)| *n != fullname);
        entry.lan.push((fullname, addrs));
        if entry.lan.len() > MAX_RECORDS {
            entry.lan.remove(0);
        }
        newer || !known
    }

    /// A LAN record went away: the room it listed, if no other record on the LAN lists it.
    pub(crate) fn lan_gone(&mut self, fullname: &str) -> Option<RoomId> {
        let (room, entry) = self
            .rooms
            .iter_mut()
            .find(|(_, s)| s.lan.iter().any(|(n, _)| n == fullname))?;
        entry.lan.retain(|(n, _)| n != fullname);
        let room = *room;
        if entry.lan.is_empty() {
            self.rooms.remove(&room);
            return Some(room);
        }
        None
    }

    pub(super) fn directory(&mut self, listing: SignedListing, now: u64) {
        let room = listing.listing().room;
        self.make_room(&room, now);
        match self.rooms.get_mut(&room) {
            Some(s) if s.listing.listing().issued_ms < listing.listing().issued_ms => {
                s.listing = listing;
            }
            Some(_) => {}
            None => {
                self.rooms.insert(
                    room,
                    SeenRoom {
                        listing,
                        lan: Vec::new(),
                    },
                );
            }
        }
    }

    /// Room for one more room at `now`: the expired go, then (still full) the oldest seen
    /// only in the directory, else the oldest.
    fn make_room(&mut self, room: &RoomId, now: u64) {
        if self.rooms.len() < self.cap || self.rooms.contains_key(room) {
            return;
        }
        self.rooms.retain(|_, s| s.listing.live(now).is_ok());
        if self.rooms.len() < self.cap {
            return;
        }
        let oldest = self
            .rooms
            .iter()
            .min_by_key(|(_, s)| (!s.lan.is_empty(), s.listing.listing().issued_ms))
            .map(|(r, _)| *r);
        if let Some(oldest) = oldest {
            self.rooms.remove(&oldest);
        }
    }

    /// A room's newest listing and every address its LAN records give.
    pub(super) fn get(&self, room: &RoomId) -> Option<(SignedListing, Vec<SocketAddr>)> {
        let s = self.rooms.get(room)?;
        let mut addrs: Vec<SocketAddr> = s.lan.iter().flat_map(|(_, a)| a.clone()).collect();
        addrs.sort();
        addrs.dedup();
        Some((s.listing.clone(), addrs))
    }

    pub(super) fn nearby(&self, now: u64) -> Vec<ListedRoom> {
        let mut out: Vec<ListedRoom> = self
            .rooms
            .values()
            .filter(|s| !s.lan.is_empty() && s.listing.live(now).is_ok())
            .map(|s| listed(&s.listing, "lan"))
            .collect();
        out.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.name.cmp(&b.name)));
        out
    }
}

/// What the apps see of a listing.
pub(crate) fn listed(l: &SignedListing, seen: &'static str) -> ListedRoom {
    let l = l.listing();
    ListedRoom {
        room_id: l.room,
        name: l.name.clone(),
        topic: l.topic.clone(),
        members: l.members,
        creator: l.creator,
        seen,
        expires_ms: l.expires_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::room::{Listing, Policy, RoomState};

    fn listing(creator: &Identity, nonce: u8, issued: u64) -> SignedListing {
        let s = RoomState::create(creator.peer_id(), [nonce; 16], "R", "", Policy::Public, 1);
        Listing::of(&s, issued, 60_000)
            .sign(creator, Policy::Public)
            .unwrap()
    }

    #[test]
    fn a_replayed_record_neither_hides_the_real_one_nor_grows_the_table_past_its_cap() {
        let alice = Identity::generate();
        let mut seen = Seen::default();
        let l = listing(&alice, 1, 1_000);
        let real: SocketAddr = "198.18.0.1:47100".parse().unwrap();
        let fake: SocketAddr = "198.18.0.9:47100".parse().unwrap();
        assert!(seen.lan(l.clone(), "real".into(), vec![real], 1_000));
        assert!(
            !seen.lan(l.clone(), "real".into(), vec![real], 1_000),
            "nothing new"
        );
        // Mallory replays Alice's listing in her own record, then withdraws it.
        assert!(seen.lan(l.clone(), "replay".into(), vec![fake], 1_000));
        assert_eq!(seen.get(&l.listing().room).unwrap().1, vec![real, fake]);
        assert_eq!(
            seen.lan_gone("replay"),
            None,
            "Alice's record still lists it"
        );
        assert_eq!(seen.nearby(1_000).len(), 1);
        assert_eq!(seen.lan_gone("real"), Some(l.listing().room));
        assert!(seen.nearby(1_000).is_empty());
        // A directory full of fresh rooms: the table stays at its cap (a small one here),
        // and a room on the LAN stays in it.
        let mut seen = Seen {
            cap: 20,
            ..Seen::default()
        };
        seen.lan(l.clone(), "real".into(), vec![real], 1_000);
        for i in 0..40u8 {
            seen.directory(listing(&alice, 100 + i, 1_000 + u64::from(i)), 1_000);
        }
        assert_eq!(seen.rooms.len(), 20);
        assert_eq!(seen.nearby(1_000).len(), 1);
    }
}
