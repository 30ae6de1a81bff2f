//! Owns what a command answers, as a value: apps read it typed, and its serde form is the
//! CLI's `--json` answer (each variant serializes as the fields shown, nothing around them).

use std::path::PathBuf;

use serde::Serialize;

use super::Wait;
use crate::identity::PeerId;
use crate::model::{Contact, Message, Paths, RelayPolicy, Room, RoomPost, Transfer, Verification};
use crate::node::{NearbyPeer, PrivacyMode};
use crate::room::{Role, RoomId};
use crate::wire::{Status, TypingState};

/// A room member and whether a session with it is up now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberNow {
    /// The member.
    pub peer: PeerId,
    /// Member or admin.
    pub role: Role,
    /// A session with it is up (ourselves: true).
    pub connected: bool,
}

/// The answer to one [`super::Command`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `id`: who we are and where we listen.
    Id {
        /// Own PeerId.
        peer_id: PeerId,
        /// Its fingerprint.
        fingerprint: String,
        /// The UDP address, when listening.
        listen: Option<String>,
    },
    /// A contact or request as it is stored now (`contact_add`, `accept`, `contact_set`,
    /// `rename`…).
    Contact(Contact),
    /// Contacts, or requests.
    Contacts(Vec<Contact>),
    /// `handle_claim`: the handle is ours.
    Handle {
        /// The handle.
        handle: String,
    },
    /// `handle_resolve`: who holds a handle.
    Resolved {
        /// The handle.
        handle: String,
        /// Its holder.
        id: PeerId,
    },
    /// `verify`: the safety number and the verification level.
    Verify {
        /// The contact.
        peer: PeerId,
        /// The number to compare in person.
        safety_number: String,
        /// The level now.
        verification: Verification,
        /// The entry as stored (not in the JSON answer).
        #[serde(skip)]
        contact: Contact,
    },
    /// `block`.
    Blocked {
        /// The peer now blocked.
        blocked: PeerId,
    },
    /// `unblock`.
    Unblocked {
        /// The peer no longer blocked.
        unblocked: PeerId,
    },
    /// `block_list`.
    BlockList {
        /// Every blocked peer.
        blocked: Vec<PeerId>,
    },
    /// `relay_policy`: the global relay policy now.
    RelayPolicy {
        /// Whether a relay may carry sessions with contacts without a choice of their own.
        relay_policy: RelayPolicy,
    },
    /// `relay_consent`: the answer was taken.
    RelayConsent {
        /// The contact.
        peer: PeerId,
        /// Whether the relay may carry the session.
        consent: bool,
    },
    /// `privacy`: the mode now.
    Privacy {
        /// Who may open a session.
        privacy: PrivacyMode,
    },
    /// `send`: how far the message got before the answer.
    Sent {
        /// Message id.
        id: String,
        /// Its sequence number.
        seq: u64,
        /// The state reached.
        state: Wait,
        /// To whom.
        peer: PeerId,
        /// When it is `stored`: when the mailbox drops it undelivered (ms since the epoch).
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_ms: Option<u64>,
    },
    /// `typing`.
    Typing {
        /// The state told.
        typing: TypingState,
    },
    /// `read`: the highest sequence number marked read.
    Read {
        /// The sequence number.
        read_up_to: u64,
    },
    /// `presence`.
    Presence {
        /// Status.
        status: Status,
        /// Status text.
        text: String,
    },
    /// Messages: a page of history, or search hits.
    Messages(Vec<Message>),
    /// Peers seen on the LAN.
    Nearby(Vec<NearbyPeer>),
    /// One transfer as it is now.
    Transfer(Transfer),
    /// Every transfer.
    Transfers(Vec<Transfer>),
    /// `auto_accept`.
    AutoAccept {
        /// The largest size accepted by itself (`null`: off).
        auto_accept_bytes: Option<u64>,
    },
    /// `delete_history`.
    HistoryDeleted {
        /// The peer.
        peer: PeerId,
        /// How many messages went.
        deleted: u64,
    },
    /// `export_history`.
    Exported {
        /// How many messages were written.
        exported: u64,
        /// Where.
        path: PathBuf,
    },
    /// `export_identity`.
    IdentityExported {
        /// Where the backup is.
        identity_backup: PathBuf,
    },
    /// `preference`: its value now (`null`: never set).
    Preference {
        /// Its name.
        name: String,
        /// Its value.
        value: Option<String>,
    },
    /// `paths`: each live session's path, and the punch counters.
    Paths(Paths),
    /// A room as it is now (`room_create`, `room_invite`, `room_accept`…): `room_id` first.
    Room(Room),
    /// `room_list`.
    Rooms(Vec<Room>),
    /// `room_send`: the message as stored.
    RoomPost(RoomPost),
    /// `room_history`, `room_search`.
    RoomPosts(Vec<RoomPost>),
    /// `room_nearby`, `room_directory`: public rooms someone lists.
    ListedRooms(Vec<crate::model::ListedRoom>),
    /// `room_delete_history`.
    RoomHistoryDeleted {
        /// The room.
        room_id: RoomId,
        /// How many messages went.
        deleted: u64,
    },
    /// `room_members`.
    RoomMembers {
        /// The room.
        room_id: RoomId,
        /// Each member, its role and whether a session with it is up.
        members: Vec<MemberNow>,
    },
    /// `show`: the request went to whoever shows this node (a headless node prints it).
    Shown {
        /// Always true.
        shown: bool,
    },
    /// `shutdown`.
    Stopping {
        /// Always true.
        stopping: bool,
    },
}

impl Answer {
    /// The JSON form, as the CLI prints it.
    pub fn to_json(&self) -> serde_json::Value {
        // Every variant is plain data with string keys: this cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::identity::Identity;

    /// The CLI's `--json` answers are a contract: each variant prints exactly the fields
    /// the command printed before answers were typed.
    #[test]
    fn answers_print_the_json_the_cli_always_printed() {
        let peer = Identity::generate().peer_id();
        let contact = Contact::new(peer);
        let sent = |expires_ms| Answer::Sent {
            id: "m1".into(),
            seq: 7,
            state: Wait::Stored,
            peer,
            expires_ms,
        };
        let cases = [
            (
                Answer::Id {
                    peer_id: peer,
                    fingerprint: "f".into(),
                    listen: None,
                },
                json!({ "peer_id": peer, "fingerprint": "f", "listen": null }),
            ),
            (
                Answer::Contact(contact.clone()),
                serde_json::to_value(&contact).unwrap(),
            ),
            (
                Answer::Handle {
                    handle: "ann".into(),
                },
                json!({ "handle": "ann" }),
            ),
            (
                Answer::Resolved {
                    handle: "ann".into(),
                    id: peer,
                },
                json!({ "handle": "ann", "id": peer }),
            ),
            (
                Answer::Verify {
                    peer,
                    safety_number: "12 34".into(),
                    verification: Verification::Verified,
                    contact: contact.clone(),
                },
                json!({ "peer": peer, "safety_number": "12 34", "verification": "verified" }),
            ),
            (
                Answer::Blocked { blocked: peer },
                json!({ "blocked": peer }),
            ),
            (
                Answer::Unblocked { unblocked: peer },
                json!({ "unblocked": peer }),
            ),
            (
                sent(None),
                json!({ "id": "m1", "seq": 7, "state": "stored", "peer": peer }),
            ),
            (
                sent(Some(9)),
                json!({ "id": "m1", "seq": 7, "state": "stored", "peer": peer, "expires_ms": 9 }),
            ),
            (
                Answer::Typing {
                    typing: TypingState::Paused,
                },
                json!({ "typing": "paused" }),
            ),
            (Answer::Read { read_up_to: 3 }, json!({ "read_up_to": 3 })),
            (
                Answer::Presence {
                    status: Status::Away,
                    text: "lunch".into(),
                },
                json!({ "status": "away", "text": "lunch" }),
            ),
            (Answer::Messages(vec![]), json!([])),
            (
                Answer::AutoAccept {
                    auto_accept_bytes: None,
                },
                json!({ "auto_accept_bytes": null }),
            ),
            (
                Answer::Stopping { stopping: true },
                json!({ "stopping": true }),
            ),
            (Answer::Shown { shown: true }, json!({ "shown": true })),
        ];
        for (answer, expected) in cases {
            assert_eq!(answer.to_json(), expected, "{answer:?}");
        }
    }
}
