//! Rendezvous wire messages. Each request travels on its own bidirectional QUIC stream as one
//! length-prefixed protobuf message and gets one answer; the stream of a `Register` stays
//! open and carries the server's pushes. Every decoder here returns `Result` and checks the
//! length against [`MAX_MESSAGE`] before allocating.

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

/// ALPN of the rendezvous protocol (the node speaks `natter/1` to peers).
pub const ALPN: &[u8] = b"natter-rv/1";
/// Largest message either side accepts, in bytes.
pub const MAX_MESSAGE: usize = 160 * 1024;
/// Most candidate addresses in one presence record.
pub const MAX_ADDRS: usize = 16;
/// Most lookup tokens (one per contact) in one registration.
pub const MAX_TOKENS: usize = 4096;
/// Largest sealed message a mailbox takes, in bytes.
pub const MAX_SEALED: usize = 72 * 1024;
/// Longest a presence record may be valid for, in milliseconds.
pub const MAX_RECORD_TTL_MS: u64 = 10 * 60 * 1000;
/// Context prefix of presence record signatures.
pub const RECORD_CONTEXT: &[u8] = b"natter presence record v1\0";
/// Context prefix of handle claim signatures.
pub const HANDLE_CONTEXT: &[u8] = b"natter rendezvous handle v1\0";

/// Context of the pair secret lookup tokens come from.
pub const TOKEN_CONTEXT: &[u8] = b"natter rendezvous lookup token v1\0";
/// Context of a lookup token bound to its holder (the key that registers it).
pub const TOKEN_HOLDER_CONTEXT: &[u8] = b"natter rendezvous token holder v2\0";

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The length prefix is over the cap.
    #[error("message of {0} bytes is over the {MAX_MESSAGE}-byte cap")]
    TooLarge(usize),
    /// The body is not the expected protobuf.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A required part is missing.
    #[error("empty message")]
    Empty,
}

/// What a client signs and registers: where it can be reached and with what.
#[derive(Clone, PartialEq, Message)]
pub struct PresenceRecord {
    /// The client's ed25519 key (32 bytes): must be the key of the TLS connection.
    #[prost(bytes = "vec", tag = "1")]
    pub peer: Vec<u8>,
    /// Candidate addresses (`ip:port`) the client listens on.
    #[prost(string, repeated, tag = "2")]
    pub addrs: Vec<String>,
    /// Lowest peer protocol version spoken.
    #[prost(uint32, tag = "3")]
    pub min_version: u32,
    /// Highest peer protocol version spoken.
    #[prost(uint32, tag = "4")]
    pub max_version: u32,
    /// Peer protocol features.
    #[prost(string, repeated, tag = "5")]
    pub features: Vec<String>,
    /// X25519 prekey (32 bytes) offline messages are sealed to.
    #[prost(bytes = "vec", tag = "6")]
    pub prekey: Vec<u8>,
    /// When the prekey stops being used, ms since the epoch.
    #[prost(uint64, tag = "7")]
    pub prekey_expires_ms: u64,
    /// When this record was made, ms since the epoch (must grow between registrations).
    #[prost(uint64, tag = "8")]
    pub issued_ms: u64,
    /// When this record stops being valid, ms since the epoch.
    #[prost(uint64, tag = "9")]
    pub expires_ms: u64,
    /// The transports the client can use now ([`TRANSPORT_QUIC`], [`TRANSPORT_RELAY_UDP`],
    /// [`TRANSPORT_RELAY_TCP`]); empty from older clients (read as direct QUIC and the UDP
    /// relay).
    #[prost(string, repeated, tag = "10")]
    pub transports: Vec<String>,
}

/// A transport in a presence record: direct QUIC over UDP (punching included).
pub const TRANSPORT_QUIC: &str = "quic";
/// A transport in a presence record: through the relay, over UDP.
pub const TRANSPORT_RELAY_UDP: &str = "relay-udp";
/// A transport in a presence record: through the relay, over TCP (no UDP gets out).
pub const TRANSPORT_RELAY_TCP: &str = "relay-tcp";
/// Most transports a record lists.
pub const MAX_TRANSPORTS: usize = 8;

/// A presence record with its signature, as registered and as looked up.
#[derive(Clone, PartialEq, Message)]
pub struct SignedRecord {
    /// The encoded [`PresenceRecord`].
    #[prost(bytes = "vec", tag = "1")]
    pub record: Vec<u8>,
    /// ed25519 signature of `RECORD_CONTEXT || record` by the record's key.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// Register or renew presence.
#[derive(Clone, PartialEq, Message)]
pub struct Register {
    /// The signed record.
    #[prost(message, optional, tag = "1")]
    pub record: Option<SignedRecord>,
    /// Lookup tokens of the peers this client allows to find it (one per contact).
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub tokens: Vec<Vec<u8>>,
    /// Invisible: lookups answer "offline" (with the record, for the mailbox) and send no
    /// dial signal, except to holders of a `visible` token.
    #[prost(bool, tag = "3")]
    pub hidden: bool,
    /// While `hidden`: the tokens (a subset of `tokens`) whose holders see us online.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub visible: Vec<Vec<u8>>,
}

pub use super::batch::{Lookups, MAX_BATCH, Presences};

/// Find a peer.
#[derive(Clone, PartialEq, Message)]
pub struct Lookup {
    /// The target's key (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub target: Vec<u8>,
    /// The pairwise token that shows the target allows us.
    #[prost(bytes = "vec", tag = "2")]
    pub token: Vec<u8>,
    /// Also ask the server to tell the target to dial us now (simultaneous dial).
    #[prost(bool, tag = "3")]
    pub signal: bool,
}

/// Leave a sealed message for an offline peer.
#[derive(Clone, PartialEq, Message)]
pub struct Deposit {
    /// Recipient key (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub to: Vec<u8>,
    /// The pairwise token (the recipient must allow us).
    #[prost(bytes = "vec", tag = "2")]
    pub token: Vec<u8>,
    /// Message id (16 bytes): a second deposit of the same id is one message.
    #[prost(bytes = "vec", tag = "3")]
    pub msg_id: Vec<u8>,
    /// The sealed envelope.
    #[prost(bytes = "vec", tag = "4")]
    pub sealed: Vec<u8>,
}

/// Acknowledge fetched mail (deleted) and expiry notices (forgotten).
#[derive(Clone, PartialEq, Message)]
pub struct AckMail {
    /// Server ids of fetched items.
    #[prost(uint64, repeated, tag = "1")]
    pub ids: Vec<u64>,
    /// Message ids of expiry notices.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub expired: Vec<Vec<u8>>,
}

/// A handle and the claim that binds it to a key: `signature` is the key's signature of
/// `HANDLE_CONTEXT || name` (empty in a resolve request).
#[derive(Clone, PartialEq, Message)]
pub struct Handle {
    /// The name, without `@`, lowercase.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The holder's key (32 bytes; empty in requests: the connection's key claims).
    #[prost(bytes = "vec", tag = "2")]
    pub peer: Vec<u8>,
    /// The holder's signature.
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// Nothing to say.
#[derive(Clone, PartialEq, Message)]
pub struct Empty {}

/// A client request.
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    /// Which request.
    #[prost(
        oneof = "request::Body",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
    )]
    pub body: Option<request::Body>,
}

/// Request bodies.
pub mod request {
    /// Which request.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// Register or renew; the stream stays open for pushes.
        #[prost(message, tag = "1")]
        Register(super::Register),
        /// Leave (clean exit).
        #[prost(message, tag = "2")]
        Unregister(super::Empty),
        /// Find a peer.
        #[prost(message, tag = "3")]
        Lookup(super::Lookup),
        /// Leave a sealed message.
        #[prost(message, tag = "4")]
        Deposit(super::Deposit),
        /// Fetch waiting mail and expiry notices.
        #[prost(message, tag = "5")]
        Fetch(super::Empty),
        /// Acknowledge fetched mail.
        #[prost(message, tag = "6")]
        Ack(super::AckMail),
        /// Claim a handle (`@name`) for our key.
        #[prost(message, tag = "7")]
        ClaimHandle(super::Handle),
        /// Which key holds a handle.
        #[prost(message, tag = "8")]
        ResolveHandle(super::Handle),
        /// Consent to relaying with a peer (see `relay.rs`).
        #[prost(message, tag = "9")]
        RelayOpen(crate::rendezvous::relay::RelayOpen),
        /// List a public room of ours, or renew its listing (see `directory.rs`).
        #[prost(message, tag = "10")]
        Publish(crate::rendezvous::directory::Publish),
        /// Stop listing a room of ours.
        #[prost(message, tag = "11")]
        Unpublish(crate::rendezvous::directory::Unpublish),
        /// Search the directory.
        #[prost(message, tag = "12")]
        Search(crate::rendezvous::directory::Search),
        /// Ask a listed room's creator to let us in.
        #[prost(message, tag = "13")]
        Knock(crate::rendezvous::directory::Knock),
        /// Answer a knocker (we are the room's creator).
        #[prost(message, tag = "14")]
        KnockAnswer(crate::rendezvous::directory::KnockAnswer),
        /// Find many peers at once.
        #[prost(message, tag = "15")]
        LookupMany(super::Lookups),
    }
}

/// Presence accepted.
#[derive(Clone, PartialEq, Message)]
pub struct Registered {
    /// The address the server saw this client's packets come from.
    #[prost(string, tag = "1")]
    pub observed: String,
    /// When the registration lapses without renewal.
    #[prost(uint64, tag = "2")]
    pub expires_ms: u64,
    /// This server relays (its clients may open relays with each other).
    #[prost(bool, tag = "3")]
    pub relay: bool,
}

/// A lookup answer. An unauthorised lookup gets exactly what an unknown peer gets: offline,
/// no record.
#[derive(Clone, PartialEq, Message)]
pub struct Presence {
    /// Registered now.
    #[prost(bool, tag = "1")]
    pub online: bool,
    /// The newest signed record (kept while offline for its prekey), if allowed.
    #[prost(message, optional, tag = "2")]
    pub record: Option<SignedRecord>,
    /// The observed address, when online.
    #[prost(string, tag = "3")]
    pub observed: String,
}

/// A deposit is durably stored.
#[derive(Clone, PartialEq, Message)]
pub struct Stored {
    /// When it expires undelivered.
    #[prost(uint64, tag = "1")]
    pub expires_ms: u64,
}

/// One waiting sealed message.
#[derive(Clone, PartialEq, Message)]
pub struct MailItem {
    /// Server id (to ack).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Who deposited it (their authenticated key).
    #[prost(bytes = "vec", tag = "2")]
    pub from: Vec<u8>,
    /// Message id.
    #[prost(bytes = "vec", tag = "3")]
    pub msg_id: Vec<u8>,
    /// The envelope.
    #[prost(bytes = "vec", tag = "4")]
    pub sealed: Vec<u8>,
}

/// A message this client deposited expired undelivered.
#[derive(Clone, PartialEq, Message)]
pub struct ExpiredMail {
    /// Its recipient.
    #[prost(bytes = "vec", tag = "1")]
    pub to: Vec<u8>,
    /// Its message id.
    #[prost(bytes = "vec", tag = "2")]
    pub msg_id: Vec<u8>,
}

/// Fetch answer.
#[derive(Clone, PartialEq, Message)]
pub struct Mail {
    /// Waiting messages, oldest first.
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<MailItem>,
    /// Expiry notices for our own deposits.
    #[prost(message, repeated, tag = "2")]
    pub expired: Vec<ExpiredMail>,
}

/// Slow down.
#[derive(Clone, PartialEq, Message)]
pub struct RateLimited {
    /// How long to wait before asking again.
    #[prost(uint64, tag = "1")]
    pub retry_after_ms: u64,
}

/// A refusal with its reason.
#[derive(Clone, PartialEq, Message)]
pub struct Refused {
    /// What was wrong, in words.
    #[prost(string, tag = "1")]
    pub reason: String,
}

/// A server answer.
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    /// Which answer.
    #[prost(
        oneof = "response::Body",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
    )]
    pub body: Option<response::Body>,
}

/// Answer bodies.
pub mod response {
    /// Which answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// Presence accepted.
        #[prost(message, tag = "1")]
        Registered(super::Registered),
        /// Lookup answer.
        #[prost(message, tag = "2")]
        Presence(super::Presence),
        /// Deposit stored.
        #[prost(message, tag = "3")]
        Stored(super::Stored),
        /// Fetched mail.
        #[prost(message, tag = "4")]
        Mail(super::Mail),
        /// Done, nothing to report.
        #[prost(message, tag = "5")]
        Done(super::Empty),
        /// Refused, with why.
        #[prost(message, tag = "6")]
        Refused(super::Refused),
        /// Rate limited.
        #[prost(message, tag = "7")]
        RateLimited(super::RateLimited),
        /// A handle's holder and claim.
        #[prost(message, tag = "8")]
        Handle(super::Handle),
        /// A relay opened.
        #[prost(message, tag = "9")]
        RelayOpened(crate::rendezvous::relay::RelayOpened),
        /// Directory search results.
        #[prost(message, tag = "10")]
        Listings(crate::rendezvous::directory::Listings),
        /// What a room's creator answered a knock.
        #[prost(message, tag = "11")]
        KnockResult(crate::rendezvous::directory::KnockResult),
        /// Answers to a batch of lookups.
        #[prost(message, tag = "12")]
        Presences(super::Presences),
    }
}

/// Something the server tells a registered client on its registration stream.
#[derive(Clone, PartialEq, Message)]
pub struct Push {
    /// Which push.
    #[prost(oneof = "push::Body", tags = "1, 2, 3, 4, 5, 6")]
    pub body: Option<push::Body>,
}

/// Push bodies.
pub mod push {
    /// Which push.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// Mail arrived: fetch.
        #[prost(message, tag = "1")]
        MailWaiting(super::Empty),
        /// A peer that we allow is dialling us: dial it back now (simultaneous dial).
        #[prost(message, tag = "2")]
        DialMe(super::DialMe),
        /// A peer opened a relay with us and waits for our consent.
        #[prost(message, tag = "3")]
        RelayAsked(crate::rendezvous::relay::RelayAsked),
        /// A relay we opened is ready.
        #[prost(message, tag = "4")]
        RelayReady(crate::rendezvous::relay::RelayReady),
        /// The server is stopping and will be back: re-register (with jitter) and treat
        /// every relayed session as gone now.
        #[prost(message, tag = "5")]
        Restarting(super::Empty),
        /// Someone knocked at a room we list.
        #[prost(message, tag = "6")]
        Knocked(super::Knocked),
    }
}

/// A peer is dialling: its key, observed address and signed record.
#[derive(Clone, PartialEq, Message)]
pub struct DialMe {
    /// Its key (authenticated by the server's TLS).
    #[prost(bytes = "vec", tag = "1")]
    pub from: Vec<u8>,
    /// The address the server sees it at.
    #[prost(string, tag = "2")]
    pub observed: String,
    /// Its signed record.
    #[prost(message, optional, tag = "3")]
    pub record: Option<SignedRecord>,
}

/// Pushed to a room's creator: `from` knocked. It lets it in (a new state, then a session)
/// or not, and says which with `directory::KnockAnswer`.
#[derive(Clone, PartialEq, Message)]
pub struct Knocked {
    /// The room id.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
    /// Who knocked (authenticated by the server's TLS).
    #[prost(bytes = "vec", tag = "2")]
    pub from: Vec<u8>,
    /// Where the server sees it.
    #[prost(string, tag = "3")]
    pub observed: String,
    /// Its signed presence record, for its addresses.
    #[prost(message, optional, tag = "4")]
    pub record: Option<SignedRecord>,
}

/// Length-prefixes an encoded message.
pub fn frame(m: &impl Message) -> Vec<u8> {
    let body = m.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Checks a length prefix against the cap.
pub fn check_len(prefix: [u8; 4]) -> Result<usize, ProtoError> {
    let n = u32::from_be_bytes(prefix) as usize;
    if n > MAX_MESSAGE {
        return Err(ProtoError::TooLarge(n));
    }
    Ok(n)
}

/// A handle in its one accepted form: 3 to 32 of `a-z 0-9 _ . -`, starting with a letter,
/// compared in lowercase; a leading `@` is dropped.
pub fn normalize_handle(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_start_matches('@').to_lowercase();
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    let ok_start = name.starts_with(|c: char| c.is_ascii_lowercase());
    if ok_len && ok_chars && ok_start {
        Ok(name)
    } else {
        Err(format!(
            "{raw:?} is not a handle: use 3 to 32 letters, digits, _ . or -, starting with a letter"
        ))
    }
}

/// The bytes a handle claim signs.
pub fn handle_message(name: &str) -> Vec<u8> {
    let mut m = HANDLE_CONTEXT.to_vec();
    m.extend_from_slice(name.as_bytes());
    m
}

/// Decodes a body (without its prefix).
pub fn decode<M: Message + Default>(body: &[u8]) -> Result<M, ProtoError> {
    if body.len() > MAX_MESSAGE {
        return Err(ProtoError::TooLarge(body.len()));
    }
    M::decode(body).map_err(|e| ProtoError::Malformed(e.to_string()))
}

/// Reads one length-prefixed message from a stream (a QUIC stream; bytes in memory for the
/// fuzz targets); `Ok(None)` at a clean end, before any byte.
pub async fn read<M: Message + Default>(
    recv: &mut (impl AsyncRead + Unpin),
) -> Result<Option<M>, ProtoError> {
    let ended = || ProtoError::Malformed("the message ended early".into());
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        match recv.read(&mut prefix[got..]).await {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ended()),
            Ok(n) => got += n,
            Err(e) => return Err(ProtoError::Malformed(e.to_string())),
        }
    }
    let n = check_len(prefix)?;
    // Memory follows the bytes that arrived, not the length announced.
    let mut body = Vec::with_capacity(n.min(READ_CHUNK));
    let mut chunk = [0u8; READ_CHUNK];
    while body.len() < n {
        let want = (n - body.len()).min(READ_CHUNK);
        match recv.read(&mut chunk[..want]).await {
            Ok(0) => return Err(ended()),
            Ok(k) => body.extend_from_slice(&chunk[..k]),
            Err(e) => return Err(ProtoError::Malformed(e.to_string())),
        }
    }
    decode(&body).map(Some)
}

/// Most bytes [`read`] takes from the stream at once.
const READ_CHUNK: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_request_round_trips() {
        let r = Request {
            body: Some(request::Body::Lookup(Lookup {
                target: vec![1; 32],
                token: vec![2; 32],
                signal: true,
            })),
        };
        let f = frame(&r);
        let n = check_len(f[..4].try_into().unwrap()).unwrap();
        assert_eq!(decode::<Request>(&f[4..4 + n]).unwrap(), r);
    }

    #[test]
    fn handles_have_one_form() {
        assert_eq!(normalize_handle("@Bob.Smith").unwrap(), "bob.smith");
        for bad in ["@b", "9lives", "bob smith", "bób", &"x".repeat(33)] {
            assert!(normalize_handle(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_allocation() {
        let big = ((MAX_MESSAGE + 1) as u32).to_be_bytes();
        assert!(matches!(check_len(big), Err(ProtoError::TooLarge(_))));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
            let _ = decode::<Push>(&bytes);
            let _ = decode::<PresenceRecord>(&bytes);
        }
    }
}
