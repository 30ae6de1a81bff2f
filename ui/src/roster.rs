//! Owns what the node told us about people: contacts, requests, peers nearby, who is online
//! and with what presence, and how many messages each has left unread. Several panes show
//! it; the node's events keep it current (`react.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;

use natter::model::Path;
use natter::{Contact, ContactState, PeerId, Status};

use crate::short;

/// The people the app knows about.
#[derive(Default)]
pub struct Roster {
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Strangers who wrote.
    pub requests: Vec<Contact>,
    /// Peers on the LAN: (id, name, is contact).
    pub nearby: Vec<(PeerId, Option<String>, bool)>,
    /// Their presence.
    pub presence: HashMap<PeerId, (Status, String)>,
    /// Peers with a live session: how it reaches them, the address it talks to, and the
    /// relay carrying it when relayed (as the node reported them).
    pub connected: HashMap<PeerId, (Path, SocketAddr, Option<String>)>,
    /// Unread count per peer.
    pub unread: HashMap<PeerId, usize>,
}

impl Roster {
    /// A peer's display name: its nickname, the name its LAN record gives, or its short id.
    pub fn name_of(&self, peer: &PeerId) -> String {
        self.contacts
            .iter()
            .chain(&self.requests)
            .find(|c| c.peer == *peer)
            .map(|c| c.nickname.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                let lan = self.nearby.iter().find(|(p, ..)| p == peer);
                lan.and_then(|(_, name, _)| name.clone())
            })
            .unwrap_or_else(|| short(peer))
    }

    /// A contact or request changed: it takes its place in the list its state puts it in
    /// (in the store's order: by nickname, then id), and leaves the other.
    pub fn changed(&mut self, c: Contact) {
        self.contacts.retain(|x| x.peer != c.peer);
        self.requests.retain(|x| x.peer != c.peer);
        let list = match c.state {
            ContactState::Contact => &mut self.contacts,
            ContactState::Request => &mut self.requests,
        };
        list.push(c);
        // The store orders ids as their text.
        list.sort_by_cached_key(|c| (c.nickname.clone(), c.peer.to_string()));
    }

    /// A contact, if it is one.
    pub fn contact(&self, peer: &PeerId) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.peer == *peer)
    }
}
