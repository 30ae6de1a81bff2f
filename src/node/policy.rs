//! Owns the privacy policy: who may open a session with us, decided on the peer's
//! authenticated key alone — the block list, invisibility (only the contacts picked to see
//! us), then the privacy mode for strangers. Pure: the node's task holds one and keeps it
//! in step with the store.

use std::collections::HashSet;

use super::PrivacyMode;
use crate::identity::PeerId;
use crate::transport::BlockList;

/// What the privacy policy decides for a peer that completed a handshake, on its
/// authenticated key alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A contact's session may start.
    Admit,
    /// A stranger may start a session, to leave a request (the number of strangers at once
    /// is capped at the door, `gate.rs`).
    Request,
    /// Blocked: closed silently, before any frame.
    Blocked,
    /// A stranger while we accept contacts only.
    Stranger,
    /// We are invisible and the peer is not among those who see us: closed silently, as
    /// if we were not there.
    Hidden,
    /// Not a contact, but a member of a room we are in: its session carries that room
    /// traffic only (never a one-to-one message, never a contact request), whatever the
    /// privacy mode.
    Room,
    /// A stranger while we accept contacts only but list a public room: it may ask to join
    /// (room frames only, counted among the strangers at the door), and is never dialled
    /// nor acted on when a rendezvous signals it.
    Asker,
}

/// What the policy knows: read from the store at start, then kept in step by the writes
/// that change it.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// Accepted contacts (not requests).
    pub(crate) contacts: HashSet<PeerId>,
    /// The block list (shared with the TLS verifier; changed by the store job that writes
    /// it, so never behind the database).
    pub(crate) blocked: BlockList,
    /// Who may open a session with us.
    pub(crate) privacy: PrivacyMode,
    /// Contacts who see us online while we are invisible.
    pub(crate) visible: HashSet<PeerId>,
    /// The members of the rooms we are in: admitted for room traffic even if no contact.
    pub(crate) room_members: HashSet<PeerId>,
    /// We list a public room: a stranger may ask to join it even while we accept contacts
    /// only ([`Admission::Asker`]).
    pub(crate) listing: bool,
}

/// One of the policy's sets of contacts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Set {
    /// Accepted contacts.
    Contacts,
    /// Contacts who see us while we are invisible.
    Visible,
}

impl Policy {
    /// The decision for `peer`: the block list first, then (while we are `invisible`) only
    /// the contacts picked to see us, then (contacts only) strangers.
    pub(crate) fn admit(&self, peer: &PeerId, invisible: bool) -> Admission {
        if self.blocked.contains(peer) {
            return Admission::Blocked;
        }
        let contact = self.contacts.contains(peer);
        if invisible && !(contact && self.visible.contains(peer)) {
            return Admission::Hidden;
        }
        if contact {
            Admission::Admit
        } else if self.room_members.contains(peer) {
            Admission::Room
        } else if self.listing && self.privacy == PrivacyMode::ContactsOnly {
            Admission::Asker
        } else if self.privacy == PrivacyMode::ContactsOnly {
            Admission::Stranger
        } else {
            Admission::Request
        }
    }

    /// Puts the peer in one of the sets, or takes it out.
    pub(crate) fn set(&mut self, set: Set, peer: PeerId, member: bool) {
        let set = match set {
            Set::Contacts => &mut self.contacts,
            Set::Visible => &mut self.visible,
        };
        if member {
            set.insert(peer);
        } else {
            set.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn invisible_hides_us_from_all_but_the_contacts_picked_and_the_block_list_comes_first() {
        let key = || Identity::generate().peer_id();
        let (friend, picked, stranger, foe) = (key(), key(), key(), key());
        let mut p = Policy::default();
        for c in [friend, picked, foe] {
            p.set(Set::Contacts, c, true);
        }
        p.set(Set::Visible, picked, true);
        p.blocked.set(foe, true);
        assert_eq!(p.admit(&friend, false), Admission::Admit);
        assert_eq!(p.admit(&stranger, false), Admission::Request);
        assert_eq!(p.admit(&foe, false), Admission::Blocked);
        assert_eq!(p.admit(&picked, true), Admission::Admit);
        assert_eq!(p.admit(&friend, true), Admission::Hidden);
        assert_eq!(p.admit(&stranger, true), Admission::Hidden);
        assert_eq!(p.admit(&foe, true), Admission::Blocked);
        // A stranger cannot be picked: only contacts see us while invisible.
        p.set(Set::Visible, stranger, true);
        assert_eq!(p.admit(&stranger, true), Admission::Hidden);
        p.privacy = PrivacyMode::ContactsOnly;
        assert_eq!(p.admit(&stranger, false), Admission::Stranger);
        p.privacy = PrivacyMode::Everyone;
        assert_eq!(p.admit(&stranger, false), Admission::Request);
        // A room member who is no contact: room traffic only, in every mode; hidden and
        // blocked like anyone.
        p.room_members.insert(stranger);
        p.room_members.insert(foe);
        for mode in [
            PrivacyMode::Requests,
            PrivacyMode::ContactsOnly,
            PrivacyMode::Everyone,
        ] {
            p.privacy = mode;
            assert_eq!(p.admit(&stranger, false), Admission::Room);
        }
        assert_eq!(p.admit(&stranger, true), Admission::Hidden);
        assert_eq!(p.admit(&foe, false), Admission::Blocked);
        // Listing a public room while accepting contacts only: another stranger may ask to
        // join (an asker), no more; in the other modes it is the stranger it was.
        let other = key();
        p.listing = true;
        p.privacy = PrivacyMode::ContactsOnly;
        assert_eq!(p.admit(&other, false), Admission::Asker);
        assert_eq!(p.admit(&other, true), Admission::Hidden);
        p.privacy = PrivacyMode::Requests;
        assert_eq!(p.admit(&other, false), Admission::Request);
    }
}
