//! Owns what the node tells its clients: the [`Event`] stream, one JSON object per event in
//! the CLI.

use serde::Serialize;

use super::PrivacyMode;
use crate::identity::PeerId;
use crate::model::{Contact, Message, Path, RelayPolicy, Room, RoomPost, Transfer};
use crate::wire::{Status, TypingState};

/// Why a dial failed, for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DialFailure {
    /// The peer presented another key than the pinned one.
    WrongKey,
    /// The peer's policy refused us.
    Refused,
    /// No answer or a network error.
    Unreachable,
    /// No direct path exists and a relay would be needed, but the relay policy (global or
    /// this contact's) forbids it, or the user declined.
    NeedsRelay,
}

/// A state change of the node.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The node is up.
    Started {
        /// Own id.
        peer_id: PeerId,
        /// The UDP address it listens on.
        listen: String,
    },
    /// A session with a peer is up.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Session id (hex).
        session_id: String,
        /// Protocol version.
        version: u32,
        /// Features in use.
        features: Vec<String>,
        /// "outgoing" (we dialled) or "incoming".
        direction: &'static str,
        /// How the session reaches the peer: "lan", "direct" or "relayed".
        path: Path,
        /// The address packets go to and come from (the relay's, when relayed).
        remote: std::net::SocketAddr,
        /// The relay carrying the session, when `path` is "relayed" (announced by both
        /// sides in their Hello, before any message).
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// A session ended.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A dial failed.
    DialFailed {
        /// The peer.
        peer: PeerId,
        /// The kind of failure.
        kind: DialFailure,
        /// What happened and what to do.
        error: String,
    },
    /// A stranger was refused (contacts-only mode).
    StrangerRefused {
        /// The stranger.
        peer: PeerId,
    },
    /// A peer sends faster than its limits allow (AIM's warning): at most once a minute per
    /// peer and kind. `kind`: `messages` (a stranger's: held, not stored and not acked, so
    /// its node sends them again later; also when the requests inbox or its room there is
    /// full), `typing`, `presence`, `receipts` (dropped: the next one says it), `files`
    /// (offers declined with a reason the sender sees).
    Throttled {
        /// Who is flooding.
        peer: PeerId,
        /// What it floods with.
        kind: &'static str,
        /// What happens to what is over the limit: `held`, `dropped` or `declined`.
        effect: &'static str,
    },
    /// A stranger wrote to us: they wait in the requests inbox.
    RequestReceived {
        /// The stranger.
        peer: PeerId,
        /// Their entry in the requests inbox, as it is stored now.
        request: Contact,
    },
    /// A contact or request was added or changed here (added, accepted, renamed, verified,
    /// its switches set): the whole entry as it is stored now.
    ContactChanged {
        /// The entry.
        contact: Contact,
    },
    /// A peer went on or off the block list.
    BlockChanged {
        /// The peer.
        peer: PeerId,
        /// Whether it is blocked now.
        blocked: bool,
    },
    /// No direct path to a contact exists, and the relay policy says to ask: the relay named
    /// may carry the session if the user says yes (`relay_consent`). Nothing goes through it
    /// before.
    RelayConsent {
        /// The contact.
        peer: PeerId,
        /// The relay (its address).
        relay: String,
    },
    /// The global relay policy was set here.
    RelayPolicyChanged {
        /// Whether a relay may carry sessions with contacts that have no policy of their own.
        policy: RelayPolicy,
    },
    /// The privacy mode was set here.
    PrivacyChanged {
        /// Who may open a session now.
        privacy: PrivacyMode,
    },
    /// An app preference was saved here with a new value.
    PreferenceChanged {
        /// Its name (`name`, `theme`, `advertise`…).
        name: String,
        /// Its value now.
        value: String,
    },
    /// The history with a peer was deleted on this device.
    HistoryDeleted {
        /// The peer.
        peer: PeerId,
        /// How many messages went.
        deleted: u64,
    },
    /// Our message is committed to the outbox.
    MessageQueued {
        /// The message.
        message: Message,
    },
    /// Our messages were written to the session.
    MessageSent {
        /// The peer.
        peer: PeerId,
        /// Message ids.
        ids: Vec<String>,
    },
    /// The peer is offline: our messages were sealed to it and wait in the rendezvous
    /// mailbox (delivered receipts follow when it has them).
    MessageStored {
        /// The peer.
        peer: PeerId,
        /// Message ids.
        ids: Vec<String>,
        /// When the mailbox drops them undelivered (ms since the epoch).
        expires_ms: u64,
    },
    /// The rendezvous says our messages expired in its mailbox undelivered (its word only):
    /// they are queued again, still in the outbox, deposited again while the peer is
    /// offline (3 deposits at most) and sent over the next session.
    MessageExpired {
        /// The peer.
        peer: PeerId,
        /// Message ids.
        ids: Vec<String>,
    },
    /// The peer stored our messages.
    MessageDelivered {
        /// The peer.
        peer: PeerId,
        /// Message ids.
        ids: Vec<String>,
    },
    /// The peer read our messages.
    MessageRead {
        /// The peer.
        peer: PeerId,
        /// Message ids.
        ids: Vec<String>,
    },
    /// A message arrived and is stored.
    MessageReceived {
        /// The message.
        message: Message,
    },
    /// A contact invited us to a room: it waits for `room accept` or `room decline`.
    RoomInvited {
        /// The room as the invitation shows it (its members, who invited us).
        room: Room,
    },
    /// A message in a room opened here (received, caught up, opened by a key that came, or
    /// our own).
    RoomMessage {
        /// The message.
        post: RoomPost,
    },
    /// A room's state or our place in it changed (created, joined, a member invited, left
    /// or removed, declined).
    RoomState {
        /// The room now.
        room: Room,
    },
    /// The creator of a public room we asked to join will not let us in.
    RoomJoinRefused {
        /// The room.
        room_id: crate::room::RoomId,
        /// Why, in the creator's node's words.
        reason: String,
    },
    /// A public room is listed on the LAN (new, or its listing changed).
    RoomNearby {
        /// What its creator lists.
        room: crate::model::ListedRoom,
    },
    /// A public room's LAN listing went away.
    RoomNearbyGone {
        /// The room.
        room_id: crate::room::RoomId,
    },
    /// The peer's typing state changed.
    Typing {
        /// The peer.
        peer: PeerId,
        /// The state.
        state: TypingState,
    },
    /// The peer's presence changed.
    Presence {
        /// The peer.
        peer: PeerId,
        /// Status.
        status: Status,
        /// Status text.
        text: String,
    },
    /// A peer's record appeared on the LAN (or its addresses changed).
    PeerNearby {
        /// The key the record claims (proved only by a handshake).
        peer: PeerId,
        /// Display name, if published.
        name: Option<String>,
        /// Addresses.
        addrs: Vec<std::net::SocketAddr>,
        /// Whether the peer is one of our contacts.
        contact: bool,
    },
    /// A LAN record was withdrawn or expired.
    PeerGone {
        /// The peer.
        peer: PeerId,
    },
    /// A LAN record, or the address stored for a contact, claimed a contact's key, but the
    /// host there presented another key (Natter refused it).
    SpoofSuspected {
        /// The key the record claimed.
        claimed: PeerId,
        /// The key the host presented.
        presented: PeerId,
        /// Where.
        addr: std::net::SocketAddr,
    },
    /// A file was offered (by us or to us).
    FileOffered {
        /// The transfer.
        transfer: Transfer,
    },
    /// Bytes moved (at most four events a second per transfer).
    FileProgress {
        /// File id, hex.
        file_id: String,
        /// The other side.
        peer: PeerId,
        /// We send it.
        outgoing: bool,
        /// Bytes so far (including a resumed prefix).
        bytes: u64,
        /// Size.
        size: u64,
        /// Bytes per second in this attempt.
        speed_bps: u64,
        /// Seconds left at this speed.
        eta_secs: Option<u64>,
    },
    /// A file arrived, its hash checked, and it is in place.
    FileReceived {
        /// The transfer (path: where it is).
        transfer: Transfer,
    },
    /// The receiver confirmed our file arrived intact.
    FileSent {
        /// The transfer (sent_bytes: bytes written over every attempt).
        transfer: Transfer,
    },
    /// A transfer ended without the file: declined, cancelled or failed (with the reason).
    FileEnded {
        /// The transfer.
        transfer: Transfer,
    },
    /// The rendezvous registration changed: up (with the address it sees us at) or down.
    Rendezvous {
        /// Registered now.
        online: bool,
        /// What happened, in words.
        detail: String,
        /// The address the server sees us at, while registered: another port than ours
        /// means our router gives each destination its own (a symmetric NAT).
        observed: Option<std::net::SocketAddr>,
        /// How we reach it while registered: `"udp"`, or `"tcp"` when no UDP gets out of
        /// this network (then contacts are reached through its relay).
        #[serde(skip_serializing_if = "Option::is_none")]
        transport: Option<&'static str>,
    },
    /// Someone asked to see this node's app (`show`: a second start of the desktop app, a
    /// `natter://` link clicked): raise the window, open the link if there is one.
    ShowRequested {
        /// The `natter://add/<ID>` link handed over, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// Something went wrong that the user should hear about.
    Error {
        /// What happened and what to do.
        message: String,
    },
}
