//! Owns what we have seen of the public rooms others list: on the LAN (a record, with where
//! its creator listens, while it is up) and in the directory's answers, newest listing kept;
//! and the listed room as the apps see it.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::model::ListedRoom;
use crate::room::{RoomId, SignedListing};

/// The public rooms others list that we have seen: on the LAN (with where the creator
/// listens), and in the directory's last answers.
#[derive(Default)]
pub(crate) struct Seen(HashMap<RoomId, SeenRoom>);

struct SeenRoom {
    listing: SignedListing,
    /// The LAN record's instance name and addresses, while it is up.
    lan: Option<(String, Vec<SocketAddr>)>,
}

impl Seen {
    /// A LAN record of a room; true when it is new or says something new.
    pub(crate) fn lan(
        &mut self,
        listing: SignedListing,
        fullname: String,
        addrs: Vec<SocketAddr>,
    ) -> bool {
        let room = listing.listing().room;
        let changed = self.0.get(&room).is_none_or(|s| {
            s.lan.as_ref().is_none_or(|(_, a)| *a != addrs)
                || s.listing.listing().issued_ms < listing.listing().issued_ms
        });
        let keep = self
            .0
            .get(&room)
            .is_some_and(|s| s.listing.listing().issued_ms > listing.listing().issued_ms);
        let entry = self.0.entry(room).or_insert(SeenRoom {
            listing: listing.clone(),
            lan: None,
        });
        if !keep {
            entry.listing = listing;
        }
        entry.lan = Some((fullname, addrs));
        changed
    }

    /// A LAN record went away: the room it listed, if it is no longer seen anywhere.
    pub(crate) fn lan_gone(&mut self, fullname: &str) -> Option<RoomId> {
        let room = *self
            .0
            .iter()
            .find(|(_, s)| s.lan.as_ref().is_some_and(|(n, _)| n == fullname))?
            .0;
        self.0.remove(&room);
        Some(room)
    }

    pub(super) fn directory(&mut self, listing: SignedListing) {
        let room = listing.listing().room;
        match self.0.get_mut(&room) {
            Some(s) if s.listing.listing().issued_ms < listing.listing().issued_ms => {
                s.listing = listing;
            }
            Some(_) => {}
            None => {
                self.0.insert(room, SeenRoom { listing, lan: None });
            }
        }
    }

    pub(super) fn get(&self, room: &RoomId) -> Option<(SignedListing, Vec<SocketAddr>)> {
        let s = self.0.get(room)?;
        let addrs = s.lan.as_ref().map(|(_, a)| a.clone()).unwrap_or_default();
        Some((s.listing.clone(), addrs))
    }

    pub(super) fn nearby(&self, now: u64) -> Vec<ListedRoom> {
        let mut out: Vec<ListedRoom> = self
            .0
            .values()
            .filter(|s| s.lan.is_some() && s.listing.live(now).is_ok())
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
