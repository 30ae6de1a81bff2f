//! The frame kinds and their Protocol Buffers bodies. Field tags are never reused; new fields
//! get new tags, so older peers ignore them.

use prost::Message;

use super::WireError;
pub use crate::model::{Status, TypingState};

/// Kind number of [`Hello`].
pub const KIND_HELLO: u16 = 1;
/// Kind number of [`Goodbye`].
pub const KIND_GOODBYE: u16 = 2;
/// Kind number of [`Chat`].
pub const KIND_CHAT: u16 = 3;
/// Kind number of [`Ack`].
pub const KIND_ACK: u16 = 4;
/// Kind number of [`Read`].
pub const KIND_READ: u16 = 5;
/// Kind number of [`Typing`].
pub const KIND_TYPING: u16 = 6;
/// Kind number of [`Presence`].
pub const KIND_PRESENCE: u16 = 7;
/// Kind number of [`Unsupported`].
pub const KIND_UNSUPPORTED: u16 = 8;
/// Kind number of [`FileFrame`].
pub const KIND_FILE: u16 = 9;
/// Kind number of [`RoomFrame`].
pub const KIND_ROOM: u16 = 10;

/// First frame on the control stream, from both sides.
#[derive(Clone, PartialEq, Message)]
pub struct Hello {
    /// Lowest protocol version spoken.
    #[prost(uint32, tag = "1")]
    pub min_version: u32,
    /// Highest protocol version spoken.
    #[prost(uint32, tag = "2")]
    pub max_version: u32,
    /// Feature names offered ("text", "typing", "receipts", "presence").
    #[prost(string, repeated, tag = "3")]
    pub features: Vec<String>,
    /// Largest frame the sender accepts.
    #[prost(uint32, tag = "4")]
    pub max_frame: u32,
    /// The session id both sides derived from the TLS exporter.
    #[prost(bytes = "vec", tag = "5")]
    pub session_id: Vec<u8>,
    /// Random per process start: tells a restarted peer from a duplicate connection.
    #[prost(bytes = "vec", tag = "6")]
    pub boot_id: Vec<u8>,
    /// Highest sequence number of the receiver's messages that the sender has stored.
    #[prost(uint64, tag = "7")]
    pub acked_seq: u64,
    /// Highest sequence number of the receiver's messages that the sender has read.
    #[prost(uint64, tag = "8")]
    pub read_seq: u64,
    /// Sender's presence status.
    #[prost(enumeration = "Status", tag = "9")]
    pub status: i32,
    /// Sender's status text.
    #[prost(string, tag = "10")]
    pub status_text: String,
    /// The sender's incarnation in this conversation (16 random bytes, made with its
    /// conversation row): names the stream of messages the sender numbers from 1. Empty from
    /// builds before incarnations.
    #[prost(bytes = "vec", tag = "11")]
    pub incarnation: Vec<u8>,
    /// The receiver's incarnation that `acked_seq` and `read_seq` count in (empty: none
    /// known). A receiver whose incarnation differs ignores both: they count another stream.
    #[prost(bytes = "vec", tag = "12")]
    pub acked_incarnation: Vec<u8>,
    /// How the sender reaches the receiver: "lan", "direct" or "relayed" (empty from builds
    /// before relays), announced before any message so both sides know an intermediary.
    #[prost(string, tag = "13")]
    pub path: String,
    /// The relay, when `path` is "relayed" (its address).
    #[prost(string, tag = "14")]
    pub via: String,
}

/// Closing words: why a session ends.
#[derive(Clone, PartialEq, Message)]
pub struct Goodbye {
    /// Machine-readable reason.
    #[prost(enumeration = "GoodbyeCode", tag = "1")]
    pub code: i32,
    /// Human-readable detail.
    #[prost(string, tag = "2")]
    pub reason: String,
}

/// A chat message.
#[derive(Clone, PartialEq, Message)]
pub struct Chat {
    /// UUIDv7, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub msg_id: Vec<u8>,
    /// Conversation id, 16 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub conversation: Vec<u8>,
    /// The sender's sequence number in this conversation, from 1.
    #[prost(uint64, tag = "3")]
    pub seq: u64,
    /// Sender's clock, milliseconds since the Unix epoch.
    #[prost(uint64, tag = "4")]
    pub timestamp_ms: u64,
    /// The message text.
    #[prost(string, tag = "5")]
    pub text: String,
    /// The sender's incarnation (see [`Hello::incarnation`]). On a session it may be empty
    /// (the Hello's); a sealed mailbox copy carries it.
    #[prost(bytes = "vec", tag = "6")]
    pub incarnation: Vec<u8>,
    /// Every sequence number below this one that the receiver has not stored will never be
    /// sent (acknowledged already, or withdrawn by a deleted history): the receiver moves
    /// past them instead of waiting. 0: no such promise.
    #[prost(uint64, tag = "7")]
    pub base_seq: u64,
}

/// Cumulative delivery ack: every message up to `up_to_seq` is stored durably.
#[derive(Clone, PartialEq, Message)]
pub struct Ack {
    /// Conversation id.
    #[prost(bytes = "vec", tag = "1")]
    pub conversation: Vec<u8>,
    /// Highest contiguous sequence number stored.
    #[prost(uint64, tag = "2")]
    pub up_to_seq: u64,
}

/// Cumulative read receipt.
#[derive(Clone, PartialEq, Message)]
pub struct Read {
    /// Conversation id.
    #[prost(bytes = "vec", tag = "1")]
    pub conversation: Vec<u8>,
    /// Highest sequence number read.
    #[prost(uint64, tag = "2")]
    pub up_to_seq: u64,
}

/// Typing indicator.
#[derive(Clone, PartialEq, Message)]
pub struct Typing {
    /// Conversation id.
    #[prost(bytes = "vec", tag = "1")]
    pub conversation: Vec<u8>,
    /// The new state.
    #[prost(enumeration = "TypingState", tag = "2")]
    pub state: i32,
}

/// Presence change.
#[derive(Clone, PartialEq, Message)]
pub struct Presence {
    /// Status.
    #[prost(enumeration = "Status", tag = "1")]
    pub status: i32,
    /// Status text.
    #[prost(string, tag = "2")]
    pub text: String,
}

/// The answer to a frame kind the receiver does not know.
#[derive(Clone, PartialEq, Message)]
pub struct Unsupported {
    /// The kind that was not understood.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
}

/// File transfer control (the bytes travel on their own unidirectional streams).
#[derive(Clone, PartialEq, Message)]
pub struct FileFrame {
    /// What this frame does.
    #[prost(enumeration = "FileOp", tag = "1")]
    pub op: i32,
    /// File id, 16 random bytes chosen by the sender.
    #[prost(bytes = "vec", tag = "2")]
    pub file_id: Vec<u8>,
    /// Offer: the sender's file name (the receiver reduces it to a safe basename).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Offer: size in bytes.
    #[prost(uint64, tag = "4")]
    pub size: u64,
    /// Offer: SHA-256 of the whole file, 32 bytes.
    #[prost(bytes = "vec", tag = "5")]
    pub sha256: Vec<u8>,
    /// Offer: MIME type.
    #[prost(string, tag = "6")]
    pub mime: String,
    /// Accept: the offset to send from (the receiver's last verified offset).
    #[prost(uint64, tag = "7")]
    pub offset: u64,
    /// Done: whether the file arrived intact.
    #[prost(bool, tag = "8")]
    pub ok: bool,
    /// Cancel / Done: why.
    #[prost(string, tag = "9")]
    pub reason: String,
}

/// Room traffic between two members, or an admin and the person it invites (PROTOCOL.md,
/// "Rooms"). States and messages travel as the signed bytes `crate::room` reads.
#[derive(Clone, PartialEq, Message)]
pub struct RoomFrame {
    /// What this frame does.
    #[prost(enumeration = "RoomOp", tag = "1")]
    pub op: i32,
    /// The room id, 16 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub room: Vec<u8>,
    /// Invite, States: signed state versions, oldest first.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub states: Vec<Vec<u8>>,
    /// Messages: signed room messages.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub messages: Vec<Vec<u8>>,
    /// Sync: what the sender holds of each author.
    #[prost(message, repeated, tag = "5")]
    pub vector: Vec<AuthorSeq>,
    /// Sync: the state version the sender holds (0: none yet).
    #[prost(uint64, tag = "6")]
    pub version: u64,
    /// Key: the sender's key for its messages in the room.
    #[prost(message, optional, tag = "7")]
    pub key: Option<KeyGrant>,
    /// Decline: why, in the user's words (may be empty); JoinRefused: why.
    #[prost(string, tag = "8")]
    pub reason: String,
    /// Messages, States: a page of a catch-up that stopped at its budget; the receiver
    /// asks again (Sync) once it stored this one.
    #[prost(bool, tag = "9")]
    pub more: bool,
    /// Messages (a new one from its author): the members the author has no session with
    /// now (32-byte keys). A member that stores it passes it on to those of them it has a
    /// session with.
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub unreached: Vec<Vec<u8>>,
}

/// An author and a sequence number.
#[derive(Clone, PartialEq, Message)]
pub struct AuthorSeq {
    /// The author's key, 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub author: Vec<u8>,
    /// Every message of the author up to this one is held.
    #[prost(uint64, tag = "2")]
    pub seq: u64,
}

/// A sender key handed to one member over the pairwise end-to-end session.
#[derive(Clone, PartialEq, Message)]
pub struct KeyGrant {
    /// The key's id, 8 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub key_id: Vec<u8>,
    /// The chain key at `iteration`, 32 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub chain: Vec<u8>,
    /// The first message (iteration) this member may read.
    #[prost(uint32, tag = "3")]
    pub iteration: u32,
}

/// Room frame operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
pub enum RoomOp {
    /// What the sender holds: the state version and each author's position. The receiver
    /// answers with the states and messages the sender lacks, and its own keys.
    Sync = 0,
    /// An admin invites the receiver: `states` ends with the version that lists it.
    Invite = 1,
    /// The invitee declines.
    Decline = 2,
    /// State versions the receiver lacks (or a new one).
    States = 3,
    /// Room messages: a new one, or a catch-up page.
    Messages = 4,
    /// The sender's key for its messages.
    Key = 5,
    /// The sender asks to join a public room of which the receiver is an admin.
    Join = 6,
    /// An admin will not let the sender of a Join in: `reason` says why.
    JoinRefused = 7,
}

/// File transfer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
pub enum FileOp {
    /// Sender offers a file.
    Offer = 0,
    /// Receiver accepts, from an offset.
    Accept = 1,
    /// Receiver declines.
    Decline = 2,
    /// Either side cancels.
    Cancel = 3,
    /// Receiver reports the outcome.
    Done = 4,
}

/// Why a session is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
pub enum GoodbyeCode {
    /// Normal close.
    Normal = 0,
    /// No protocol version in common.
    NoCommonVersion = 1,
    /// No required feature in common.
    NoCommonFeatures = 2,
    /// The peer broke the protocol.
    ProtocolError = 3,
    /// The session ids differ: the channel is not the one both sides think.
    SessionMismatch = 4,
    /// Replaced by another connection between the same peers.
    Replaced = 5,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Goodbye`].
    Goodbye(Goodbye),
    /// See [`Chat`].
    Chat(Chat),
    /// See [`Ack`].
    Ack(Ack),
    /// See [`Read`].
    Read(Read),
    /// See [`Typing`].
    Typing(Typing),
    /// See [`Presence`].
    Presence(Presence),
    /// See [`Unsupported`].
    Unsupported(Unsupported),
    /// See [`FileFrame`].
    File(FileFrame),
    /// See [`RoomFrame`].
    Room(RoomFrame),
    /// A kind this build does not know (answered with [`Unsupported`]).
    Unknown {
        /// Its kind number.
        kind: u16,
    },
}

fn body<M: Message + Default>(kind: &'static str, bytes: &[u8]) -> Result<M, WireError> {
    M::decode(bytes).map_err(|e| WireError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

impl Frame {
    pub(super) fn to_parts(&self) -> (u16, Vec<u8>) {
        match self {
            Frame::Hello(m) => (KIND_HELLO, m.encode_to_vec()),
            Frame::Goodbye(m) => (KIND_GOODBYE, m.encode_to_vec()),
            Frame::Chat(m) => (KIND_CHAT, m.encode_to_vec()),
            Frame::Ack(m) => (KIND_ACK, m.encode_to_vec()),
            Frame::Read(m) => (KIND_READ, m.encode_to_vec()),
            Frame::Typing(m) => (KIND_TYPING, m.encode_to_vec()),
            Frame::Presence(m) => (KIND_PRESENCE, m.encode_to_vec()),
            Frame::Unsupported(m) => (KIND_UNSUPPORTED, m.encode_to_vec()),
            Frame::File(m) => (KIND_FILE, m.encode_to_vec()),
            Frame::Room(m) => (KIND_ROOM, m.encode_to_vec()),
            Frame::Unknown { kind } => (*kind, Vec::new()),
        }
    }

    pub(super) fn from_parts(kind: u16, bytes: &[u8]) -> Result<Self, WireError> {
        Ok(match kind {
            KIND_HELLO => Frame::Hello(body("hello", bytes)?),
            KIND_GOODBYE => Frame::Goodbye(body("goodbye", bytes)?),
            KIND_CHAT => Frame::Chat(body("chat", bytes)?),
            KIND_ACK => Frame::Ack(body("ack", bytes)?),
            KIND_READ => Frame::Read(body("read", bytes)?),
            KIND_TYPING => Frame::Typing(body("typing", bytes)?),
            KIND_PRESENCE => Frame::Presence(body("presence", bytes)?),
            KIND_UNSUPPORTED => Frame::Unsupported(body("unsupported", bytes)?),
            KIND_FILE => Frame::File(body("file", bytes)?),
            KIND_ROOM => Frame::Room(body("room", bytes)?),
            kind => Frame::Unknown { kind },
        })
    }

    /// The frame kind's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Goodbye(_) => "goodbye",
            Frame::Chat(_) => "chat",
            Frame::Ack(_) => "ack",
            Frame::Read(_) => "read",
            Frame::Typing(_) => "typing",
            Frame::Presence(_) => "presence",
            Frame::Unsupported(_) => "unsupported",
            Frame::File(_) => "file",
            Frame::Room(_) => "room",
            Frame::Unknown { .. } => "unknown",
        }
    }
}

/// The wire value of a typing state; an unknown one is an error the caller maps.
impl TryFrom<i32> for TypingState {
    type Error = i32;
    fn try_from(v: i32) -> Result<Self, i32> {
        Ok(match v {
            0 => Self::Idle,
            1 => Self::Typing,
            2 => Self::Paused,
            3 => Self::Erased,
            _ => return Err(v),
        })
    }
}

/// The wire value of a presence status; an unknown one is an error the caller maps.
impl TryFrom<i32> for Status {
    type Error = i32;
    fn try_from(v: i32) -> Result<Self, i32> {
        Ok(match v {
            0 => Self::Online,
            1 => Self::Away,
            2 => Self::Busy,
            _ => return Err(v),
        })
    }
}
