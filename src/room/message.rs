//! A room message: its author's signature over the room, the author, the author's sequence
//! number, the Lamport clock, the state version it was sent under and the body; the body
//! sealed under the author's sender key in a secure room, plain in a public one.

use prost::Message;

use super::keys::{KeyError, KeyId, SenderKey};
use super::{MAX_MESSAGE, MAX_TEXT, RoomId, peer};
use crate::identity::{Identity, PeerId};

/// What a message signature is made over, before the body.
const DOMAIN: &[u8] = b"natter-room-msg-v1\0";

/// What a room message says once opened.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Content {
    /// The text.
    pub text: String,
}

/// The fields of a message its author is about to sign.
#[derive(Clone, Debug)]
pub struct MessageDraft {
    /// The room.
    pub room: RoomId,
    /// The author's next sequence number in the room, from 1.
    pub seq: u64,
    /// One more than the highest Lamport clock the author has seen in the room.
    pub lamport: u64,
    /// The author's clock, milliseconds since the Unix epoch (shown, not trusted for order).
    pub timestamp_ms: u64,
    /// The state version the author holds when it sends.
    pub state_version: u64,
}

/// A signed room message, as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomMessage {
    bytes: Vec<u8>,
    room: RoomId,
    author: PeerId,
    header: Header,
    sealed_by: Option<(KeyId, u32)>,
    payload: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    seq: u64,
    lamport: u64,
    timestamp_ms: u64,
    state_version: u64,
}

/// Why a room message is refused or does not open.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Larger than the cap; nothing of it was decoded.
    #[error("a room message of {0} bytes is over the {MAX_MESSAGE}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a room message.
    #[error("malformed room message: {0}")]
    Malformed(String),
    /// The signature is not the author's.
    #[error("the room message's signature is not its author's")]
    BadSignature,
    /// A text over the cap.
    #[error("a room message's text is at most {MAX_TEXT} bytes")]
    TextTooLong,
    /// Sealed under a key this member does not hold (yet).
    #[error("this member has not been given the author's key {}", hex(.0))]
    NoKey(KeyId),
    /// The seal did not open.
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn hex(id: &KeyId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl RoomMessage {
    /// Signs a message: its content sealed under `key` at an iteration (a secure room), or
    /// plain (`None`: a public room).
    pub fn seal(
        identity: &Identity,
        draft: &MessageDraft,
        key: Option<(&SenderKey, u32)>,
        content: &Content,
    ) -> Result<Self, MessageError> {
        if content.text.len() > MAX_TEXT {
            return Err(MessageError::TextTooLong);
        }
        let author = identity.peer_id();
        let plain = wire::Content {
            text: content.text.clone(),
        }
        .encode_to_vec();
        let (key_id, iteration, payload) = match key {
            Some((key, at)) => {
                let aad = aad(&draft.room, &author, draft.seq, &key.id(), at);
                (key.id().to_vec(), at, key.seal(at, &aad, &plain)?)
            }
            None => (Vec::new(), 0, plain),
        };
        let body = wire::Body {
            room: draft.room.as_bytes().to_vec(),
            author: author.as_bytes().to_vec(),
            seq: draft.seq,
            lamport: draft.lamport,
            timestamp_ms: draft.timestamp_ms,
            state_version: draft.state_version,
            key_id,
            iteration,
            payload,
        }
        .encode_to_vec();
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&body);
        let bytes = wire::Signed {
            body,
            sig: identity.sign(&msg).to_vec(),
        }
        .encode_to_vec();
        Self::decode(&bytes)
    }

    /// Reads signed message bytes: the cap first, then the fields and the author's
    /// signature. Whether the author is a member is the node's question (it holds the state).
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let malformed = |e: prost::DecodeError| MessageError::Malformed(e.to_string());
        let bad = |what: &str| MessageError::Malformed(what.to_owned());
        let signed = wire::Signed::decode(bytes).map_err(malformed)?;
        let body = wire::Body::decode(signed.body.as_slice()).map_err(malformed)?;
        let author = peer(&body.author).ok_or_else(|| bad("author key"))?;
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&signed.body);
        if !author.verify(&msg, &signed.sig) {
            return Err(MessageError::BadSignature);
        }
        if body.seq == 0 || body.lamport == 0 || body.state_version == 0 {
            return Err(bad("seq, lamport and state version count from 1"));
        }
        let sealed_by = match body.key_id.len() {
            0 => None,
            _ => Some((
                body.key_id
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("key id"))?,
                body.iteration,
            )),
        };
        Ok(Self {
            bytes: bytes.to_vec(),
            room: RoomId::from_slice(&body.room).ok_or_else(|| bad("room id"))?,
            author,
            header: Header {
                seq: body.seq,
                lamport: body.lamport,
                timestamp_ms: body.timestamp_ms,
                state_version: body.state_version,
            },
            sealed_by,
            payload: body.payload,
        })
    }

    /// Opens the body with the author's key that sealed it (`None` for a plain message).
    pub fn open(&self, key: Option<&SenderKey>) -> Result<Content, MessageError> {
        let plain = match (self.sealed_by, key) {
            (None, _) => self.payload.clone(),
            (Some((id, _)), None) => return Err(MessageError::NoKey(id)),
            (Some((id, _)), Some(key)) if key.id() != id => return Err(MessageError::NoKey(id)),
            (Some((id, at)), Some(key)) => {
                let aad = aad(&self.room, &self.author, self.header.seq, &id, at);
                key.open(at, &aad, &self.payload)?
            }
        };
        let content = wire::Content::decode(plain.as_slice())
            .map_err(|e| MessageError::Malformed(e.to_string()))?;
        if content.text.len() > MAX_TEXT {
            return Err(MessageError::TextTooLong);
        }
        Ok(Content { text: content.text })
    }

    /// The bytes as they travel and are stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The author.
    pub fn author(&self) -> PeerId {
        self.author
    }

    /// The author's sequence number in the room.
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// The Lamport clock (display order: see [`super::OrderKey`]).
    pub fn lamport(&self) -> u64 {
        self.header.lamport
    }

    /// The author's clock.
    pub fn timestamp_ms(&self) -> u64 {
        self.header.timestamp_ms
    }

    /// The state version the author held.
    pub fn state_version(&self) -> u64 {
        self.header.state_version
    }

    /// The sender key and iteration that sealed it (`None`: plain).
    pub fn sealed_by(&self) -> Option<(KeyId, u32)> {
        self.sealed_by
    }
}

/// What a seal is bound to: the room, the author, its sequence number, the key and iteration.
fn aad(room: &RoomId, author: &PeerId, seq: u64, key: &KeyId, at: u32) -> Vec<u8> {
    let mut aad = DOMAIN.to_vec();
    aad.extend_from_slice(room.as_bytes());
    aad.extend_from_slice(author.as_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(key);
    aad.extend_from_slice(&at.to_be_bytes());
    aad
}

/// The Protocol Buffers form (PROTOCOL.md, "Rooms").
mod wire {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct Signed {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) body: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) sig: Vec<u8>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct Body {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) room: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) author: Vec<u8>,
        #[prost(uint64, tag = "3")]
        pub(super) seq: u64,
        #[prost(uint64, tag = "4")]
        pub(super) lamport: u64,
        #[prost(uint64, tag = "5")]
        pub(super) timestamp_ms: u64,
        #[prost(uint64, tag = "6")]
        pub(super) state_version: u64,
        #[prost(bytes = "vec", tag = "7")]
        pub(super) key_id: Vec<u8>,
        #[prost(uint32, tag = "8")]
        pub(super) iteration: u32,
        #[prost(bytes = "vec", tag = "9")]
        pub(super) payload: Vec<u8>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct Content {
        #[prost(string, tag = "1")]
        pub(super) text: String,
    }
}
