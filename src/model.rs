//! Owns the model the apps see: contacts, messages and their state, file transfers,
//! presence and typing. Plain data, no SQLite and no protobuf: the store keeps these in
//! rows and the wire encodes presence and typing, each in its own module.

use serde::{Deserialize, Serialize};

use crate::identity::PeerId;

/// Presence status.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Available.
    #[default]
    Online = 0,
    /// Away from the keyboard.
    Away = 1,
    /// Do not disturb.
    Busy = 2,
    /// Look offline to everyone but the contacts picked to see us (`Contact::sees_invisible`);
    /// they see us online. Never sent on the wire (see [`Status::on_wire`]).
    Invisible = 3,
}

impl Status {
    /// What a session announces for this status: the contacts who may see us while we are
    /// invisible see us online.
    pub fn on_wire(self) -> Self {
        match self {
            Self::Invisible => Self::Online,
            s => s,
        }
    }
}

/// Typing states from the IM survey.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    /// Nothing going on.
    #[default]
    Idle = 0,
    /// Typing now.
    Typing = 1,
    /// Typed something, stopped, text still in the composer.
    Paused = 2,
    /// Typed something, then cleared it.
    Erased = 3,
}

/// How far a contact's key has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Key first seen, not compared.
    Unverified,
    /// Safety number compared in person.
    Verified,
}

/// Whether a peer is a contact or a stranger waiting in the requests inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Accepted contact.
    Contact,
    /// A stranger who wrote first; quarantined until accepted.
    Request,
}

/// A contact or request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Pinned key.
    pub peer: PeerId,
    /// Local nickname.
    pub nickname: String,
    /// Buddy-list group.
    pub group: String,
    /// Verification level.
    pub verification: Verification,
    /// Contact or request.
    pub state: ContactState,
    /// Known address (`host:port`) to dial.
    pub addr: Option<String>,
    /// Whether we send them typing indicators.
    pub send_typing: bool,
    /// Whether we send them read receipts.
    pub send_receipts: bool,
    /// Whether a relay may carry our sessions with them; `None`: the global relay policy.
    pub relay: Option<RelayPolicy>,
    /// Whether they see us online while we are invisible.
    #[serde(default)]
    pub sees_invisible: bool,
    /// Their files up to this many bytes are accepted without asking (`None`: every file
    /// waits for the user). Set with `auto_accept`; other writes of a contact leave it.
    #[serde(default)]
    pub auto_accept_bytes: Option<u64>,
    /// How many of their messages wait unread (kept across restarts; `read` clears it).
    /// Read-only: writes of a contact leave it.
    #[serde(default)]
    pub unread: u64,
}

impl Contact {
    /// A new unverified contact.
    pub fn new(peer: PeerId) -> Self {
        Self {
            peer,
            nickname: String::new(),
            group: String::new(),
            verification: Verification::Unverified,
            state: ContactState::Contact,
            addr: None,
            send_typing: true,
            send_receipts: true,
            relay: None,
            sees_invisible: false,
            auto_accept_bytes: None,
            unread: 0,
        }
    }
}

/// Whether a relay may carry a session when no direct path exists (the IETF guidelines: an
/// intermediary only with the principal's consent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayPolicy {
    /// Never: a contact that needs a relay stays unreachable, and the user is told why.
    Never,
    /// Ask each time (once per contact while the app runs).
    #[default]
    Ask,
    /// Always, without asking (still announced to both sides).
    Always,
}

impl RelayPolicy {
    /// Its name on the command line and in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayPolicy::Never => "never",
            RelayPolicy::Ask => "ask",
            RelayPolicy::Always => "always",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "never" => Some(RelayPolicy::Never),
            "ask" => Some(RelayPolicy::Ask),
            "always" => Some(RelayPolicy::Always),
            _ => None,
        }
    }
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Committed to the outbox, not yet written to a session.
    Queued,
    /// Written to a session, not yet acknowledged.
    Sent,
    /// Sealed and waiting in the rendezvous mailbox for the offline peer.
    Stored,
    /// Stored durably by the peer.
    Delivered,
    /// Read by the peer.
    Read,
    /// An incoming message (ours to read).
    Received,
}

impl MessageState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Stored => "stored",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Received => "received",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "sent" => Self::Sent,
            "stored" => Self::Stored,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            _ => Self::Received,
        }
    }
}

/// One message as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// UUIDv7 text form.
    pub id: String,
    /// The other party of the conversation.
    pub peer: PeerId,
    /// Who wrote it.
    pub sender: PeerId,
    /// Ours or theirs.
    pub outgoing: bool,
    /// Sender's sequence number.
    pub seq: u64,
    /// Sender's clock, ms.
    pub sent_ms: i64,
    /// Local time stored, ms.
    pub ts_ms: i64,
    /// Text.
    pub text: String,
    /// State.
    pub state: MessageState,
    /// For a received message that came sealed through a rendezvous mailbox: that server
    /// (`HOST:PORT`), an intermediary its recipient is told of. Absent: it came over a
    /// session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// Ours, sealed in a rendezvous mailbox for the offline peer: when the mailbox drops it
    /// undelivered (ms since the epoch; the server's word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_until_ms: Option<i64>,
    /// Ours, back in the queue after its sealed copy expired in the mailbox undelivered: it
    /// goes out over the next session with the peer (or another deposit, three at most).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

/// Where a page of history ends: the oldest message of the page shown so far. The next
/// page holds the messages before it in (time stored, order stored): many share a
/// millisecond in a burst, so the time alone would lose some at a page edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageBefore {
    /// Its `ts_ms`.
    pub ts_ms: i64,
    /// Its id (UUID text).
    pub id: String,
}

impl From<&Message> for PageBefore {
    fn from(m: &Message) -> Self {
        Self {
            ts_ms: m.ts_ms,
            id: m.id.clone(),
        }
    }
}

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Offered, waiting for the receiver.
    Offered,
    /// Accepted; bytes flow (or resume) whenever both are online.
    Accepted,
    /// Arrived and verified.
    Done,
    /// The receiver said no.
    Declined,
    /// Either side cancelled.
    Cancelled,
    /// Failed (hash mismatch, short data, disk error).
    Failed,
}

impl TransferState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Accepted => "accepted",
            Self::Done => "done",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "offered" => Self::Offered,
            "accepted" => Self::Accepted,
            "done" => Self::Done,
            "declined" => Self::Declined,
            "cancelled" => Self::Cancelled,
            _ => Self::Failed,
        }
    }

    /// Whether the transfer is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Offered | Self::Accepted)
    }
}

/// One transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// File id, hex.
    pub file_id: String,
    /// The other side.
    pub peer: PeerId,
    /// We send it.
    pub outgoing: bool,
    /// Outgoing: the offered name; incoming: the safe name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// MIME type.
    pub mime: String,
    /// State.
    pub state: TransferState,
    /// Outgoing: the source file; incoming: where it is (or will be) saved.
    pub path: Option<String>,
    /// Incoming: bytes verified on disk (the resume point). Outgoing: the offset the receiver
    /// last asked from (non-zero after a resume).
    pub verified: u64,
    /// Outgoing: bytes written to streams over every attempt.
    pub sent_bytes: u64,
    /// Why it ended, if it did badly.
    pub reason: Option<String>,
}

impl Transfer {
    /// The raw file id.
    pub fn id_bytes(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        if let Ok(b) = data_encoding::HEXLOWER.decode(self.file_id.as_bytes()) {
            let n = b.len().min(16);
            id[..n].copy_from_slice(&b[..n]);
        }
        id
    }

    /// The raw SHA-256.
    pub fn sha_bytes(&self) -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(self.sha256.as_bytes())
            .unwrap_or_default()
    }
}

/// How a session reaches the peer, as the connection reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// The peer is on one of our own networks (or this machine).
    Lan,
    /// Straight to the peer over the internet (through NATs that let it).
    Direct,
    /// Through a relay, which sees only ciphertext.
    Relayed,
}

impl Path {
    /// Its name in events and in a session's Hello.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Lan => "lan",
            Path::Direct => "direct",
            Path::Relayed => "relayed",
        }
    }
}

/// A live session's path, as `paths` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionPath {
    /// The peer.
    pub peer: PeerId,
    /// How it is reached.
    pub path: Path,
    /// The address packets go to and come from.
    pub remote: std::net::SocketAddr,
    /// "outgoing" (we dialled) or "incoming".
    pub direction: &'static str,
}

/// The live sessions' paths, and how many sessions came up since start and how many of
/// those without a relay (the punch rate is the second over the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Paths {
    /// The live sessions.
    pub sessions: Vec<SessionPath>,
    /// Sessions established since the node started.
    pub conns_opened: u64,
    /// Of those, sessions on a direct or LAN path.
    pub conns_direct: u64,
    /// Where this node can be dialled on its own networks (its port on each interface).
    pub addresses: Vec<std::net::SocketAddr>,
}

/// Where we stand in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Invited: the invitation waits for `room accept` or `room decline`.
    Invited,
    /// A member.
    Joined,
    /// We left.
    Left,
    /// An admin removed us.
    Removed,
    /// We declined the invitation.
    Declined,
    /// We asked to join a public room; its admin has not let us in yet.
    Joining,
}

impl RoomStatus {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Joined => "joined",
            Self::Left => "left",
            Self::Removed => "removed",
            Self::Declined => "declined",
            Self::Joining => "joining",
        }
    }

    /// Reads a stored word (an unknown one reads as left: nothing is sent for it).
    pub fn parse(s: &str) -> Self {
        match s {
            "invited" => Self::Invited,
            "joined" => Self::Joined,
            "removed" => Self::Removed,
            "declined" => Self::Declined,
            "joining" => Self::Joining,
            _ => Self::Left,
        }
    }
}

/// A member of a room as the apps see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomMember {
    /// The member.
    pub peer: PeerId,
    /// Member or admin.
    pub role: crate::room::Role,
}

/// A room as the apps see it: its latest state we hold, and where we stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Room {
    /// The room id.
    pub room_id: crate::room::RoomId,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Private (invitation only, bodies sealed) or public.
    pub policy: crate::room::Policy,
    /// Who made it (the one admin no other removes; a public room's lister).
    pub creator: PeerId,
    /// Whether message bodies are sealed under the members' sender keys.
    pub secure: bool,
    /// Where we stand.
    pub status: RoomStatus,
    /// The state version we hold.
    pub version: u64,
    /// The members, admins marked, in the order they were added.
    pub members: Vec<RoomMember>,
    /// Who invited us (an invitation), or whom we asked to join (joining).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inviter: Option<PeerId>,
    /// Messages we have not read.
    pub unread: u64,
    /// Keys banned from the room (a public room's admins ban by key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub banned: Vec<PeerId>,
    /// We list this room of ours on the LAN and in the rendezvous's directory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub published: bool,
}

/// A public room someone lists: on the LAN (mDNS) or in a rendezvous's directory. Its
/// creator signed it; whether its room lets us in is the creator's answer to a join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListedRoom {
    /// The room id.
    pub room_id: crate::room::RoomId,
    /// Its name, in the creator's words.
    pub name: String,
    /// Its topic (cut to 200 bytes).
    pub topic: String,
    /// How many members it has.
    pub members: u32,
    /// Its creator, whom a join asks.
    pub creator: PeerId,
    /// Where it was seen: `"lan"` or `"directory"`.
    pub seen: &'static str,
    /// When the listing runs out unless its creator renews it (ms since the epoch).
    pub expires_ms: u64,
}

/// A message in a room as the apps see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomPost {
    /// The room.
    pub room_id: crate::room::RoomId,
    /// Who wrote it.
    pub author: PeerId,
    /// The author's sequence number in the room.
    pub seq: u64,
    /// Its Lamport clock (the shared display order: Lamport, author, seq).
    pub lamport: u64,
    /// The author's clock, ms.
    pub sent_ms: i64,
    /// The text.
    pub text: String,
    /// Ours.
    pub outgoing: bool,
}
