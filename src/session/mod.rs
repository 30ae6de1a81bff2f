//! Owns the per-peer session protocol as a sans-IO state machine, in the manner of
//! quinn-proto: feed it received bytes and the time, take out bytes to send, events and the
//! next deadline. The async node ([`crate::node`]) does the I/O around it.
//!
//! States: `AwaitingHello` → `Established` → `Closed`. Both sides send `Hello` first; the
//! session runs on the intersection of versions and features.

mod delivery;
#[cfg(test)]
mod delivery_tests;
mod error;
mod hello;
#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "testing"))]
pub use delivery::{FLUSH_ROOM, FLUSH_WINDOW, OutboxRead};
pub use delivery::{Incarnation, IncomingChat, Live, OutgoingChat, incarnation_of, keeps_new};
pub use error::SessionError;
pub use hello::Negotiated;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::identity::PeerId;
use crate::wire::{self, Frame, GoodbyeCode, Status, TypingState};

/// Protocol versions this build speaks.
pub const VERSIONS: (u32, u32) = (1, 1);
/// Features this build offers.
pub const FEATURES: &[&str] = &[
    FEATURE_TEXT,
    FEATURE_TYPING,
    FEATURE_RECEIPTS,
    FEATURE_PRESENCE,
    FEATURE_FILES,
    FEATURE_ROOMS,
];
/// Text messages: required.
pub const FEATURE_TEXT: &str = "text";
/// Typing indicators.
pub const FEATURE_TYPING: &str = "typing";
/// Read receipts.
pub const FEATURE_RECEIPTS: &str = "receipts";
/// Presence status.
pub const FEATURE_PRESENCE: &str = "presence";
/// File transfer.
pub const FEATURE_FILES: &str = "files";
/// Rooms (frame kind 10).
pub const FEATURE_ROOMS: &str = "rooms";
/// Longest message text, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;
/// How long a peer has to send its `Hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The conversation id of the 1:1 conversation between two peers (same on both sides).
pub fn conversation_id(a: &PeerId, b: &PeerId) -> [u8; 16] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let d = Sha256::new()
        .chain_update(b"natter-dm-v1")
        .chain_update(lo.as_bytes())
        .chain_update(hi.as_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id
}

/// What a session needs to start.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our identity.
    pub local: PeerId,
    /// The authenticated peer.
    pub remote: PeerId,
    /// Derived from the TLS exporter of this connection.
    pub session_id: [u8; 16],
    /// Random per process start.
    pub boot_id: [u8; 16],
    /// Versions offered.
    pub versions: (u32, u32),
    /// Features offered.
    pub features: Vec<String>,
    /// Our incarnation in this conversation: our messages' sequence numbers count in it.
    pub incarnation: Incarnation,
    /// The peer's incarnation that `acked_seq` and `read_seq` count in (None: we have
    /// received nothing from any incarnation of it).
    pub acked_incarnation: Option<Incarnation>,
    /// Highest seq of the peer's messages we have stored.
    pub acked_seq: u64,
    /// Highest seq of the peer's messages we have read (0 if receipts are off for them).
    pub read_seq: u64,
    /// Our presence.
    pub status: Status,
    /// Our status text.
    pub status_text: String,
    /// How we reach the peer ("lan", "direct", "relayed"), announced in our Hello.
    pub path: String,
    /// The relay, when relayed.
    pub via: String,
}

/// Longest path or relay name taken from a peer's Hello.
const MAX_VIA: usize = 100;

/// What happened on the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Hello exchanged; the session runs on this.
    Established(Negotiated),
    /// A chat message arrived.
    Chat(IncomingChat),
    /// The peer stored our messages up to this seq.
    Acked(u64),
    /// The peer read our messages up to this seq.
    Read(u64),
    /// The peer's typing state changed.
    Typing(TypingState),
    /// The peer's presence changed.
    Presence(Status, String),
    /// A file transfer control frame (checked: ids and hash have their sizes).
    File(wire::FileFrame),
    /// A room frame (checked: the room id has its size; the rest is the room core's).
    Room(wire::RoomFrame),
    /// The session is over.
    Closed(SessionError),
}

#[derive(Debug)]
enum State {
    AwaitingHello { deadline: Instant },
    Established(Negotiated),
    Closed,
}

/// One session with one peer.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    conversation: [u8; 16],
    state: State,
    decoder: wire::Decoder,
    transmit: VecDeque<Vec<u8>>,
    /// Bytes in `transmit`.
    queued: usize,
    window: delivery::SendWindow,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A new session; our `Hello` is queued at once.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let conversation = conversation_id(&config.local, &config.remote);
        let mut s = Self {
            conversation,
            state: State::AwaitingHello {
                deadline: now + HELLO_TIMEOUT,
            },
            decoder: wire::Decoder::new(),
            transmit: VecDeque::new(),
            queued: 0,
            window: delivery::SendWindow::default(),
            events: VecDeque::new(),
            config,
        };
        let hello = wire::Hello {
            min_version: s.config.versions.0,
            max_version: s.config.versions.1,
            features: s.config.features.clone(),
            max_frame: wire::MAX_FRAME as u32,
            session_id: s.config.session_id.to_vec(),
            boot_id: s.config.boot_id.to_vec(),
            acked_seq: s.config.acked_seq,
            read_seq: s.config.read_seq,
            status: s.config.status as i32,
            status_text: s.config.status_text.clone(),
            incarnation: s.config.incarnation.to_vec(),
            acked_incarnation: s
                .config
                .acked_incarnation
                .map(|i| i.to_vec())
                .unwrap_or_default(),
            path: s.config.path.clone(),
            via: s.config.via.clone(),
        };
        s.queue(&Frame::Hello(hello));
        s
    }

    /// The conversation id of this session.
    #[cfg(any(test, feature = "testing"))]
    pub fn conversation(&self) -> [u8; 16] {
        self.conversation
    }

    /// What was negotiated, once established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        match &self.state {
            State::Established(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Feeds bytes received on the control stream.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        if self.is_closed() {
            return;
        }
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.handle_frame(frame, now),
                Ok(None) => break,
                Err(e) => {
                    self.fail(GoodbyeCode::ProtocolError, SessionError::Wire(e));
                    break;
                }
            }
            if self.is_closed() {
                break;
            }
        }
    }

    /// The stream ended (peer finished or connection lost).
    pub fn handle_end(&mut self) {
        if !self.is_closed() {
            self.state = State::Closed;
            self.events
                .push_back(SessionEvent::Closed(SessionError::PeerClosed {
                    code: GoodbyeCode::Normal,
                    reason: "stream ended".into(),
                }));
        }
    }

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::AwaitingHello { deadline } = self.state
            && now >= deadline
        {
            self.fail(GoodbyeCode::ProtocolError, SessionError::HelloTimeout);
        }
    }

    /// When [`Session::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingHello { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The next bytes to write to the control stream.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let bytes = self.transmit.pop_front()?;
        self.queued -= bytes.len();
        Some(bytes)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Acknowledges the peer's messages up to `seq` (all stored durably).
    pub fn send_ack(&mut self, seq: u64) {
        if self.negotiated().is_some() {
            let conversation = self.conversation.to_vec();
            self.queue(&Frame::Ack(wire::Ack {
                conversation,
                up_to_seq: seq,
            }));
        }
    }

    /// Tells the peer we read its messages up to `seq` (if receipts were negotiated).
    pub fn send_read(&mut self, seq: u64) {
        if self.negotiated().is_some_and(|n| n.has(FEATURE_RECEIPTS)) {
            let conversation = self.conversation.to_vec();
            self.queue(&Frame::Read(wire::Read {
                conversation,
                up_to_seq: seq,
            }));
        }
    }

    /// Sends our typing state (if typing was negotiated).
    pub fn send_typing(&mut self, state: TypingState) {
        if self.negotiated().is_some_and(|n| n.has(FEATURE_TYPING)) {
            let conversation = self.conversation.to_vec();
            self.queue(&Frame::Typing(wire::Typing {
                conversation,
                state: state as i32,
            }));
        }
    }

    /// The presence this session last announced (in Hello, or since).
    pub fn presence(&self) -> (Status, &str) {
        (self.config.status, &self.config.status_text)
    }

    /// Sends our presence (if presence was negotiated).
    pub fn send_presence(&mut self, status: Status, text: &str) {
        self.config.status = status;
        self.config.status_text = text.into();
        if self.negotiated().is_some_and(|n| n.has(FEATURE_PRESENCE)) {
            self.queue(&Frame::Presence(wire::Presence {
                status: status as i32,
                text: text.into(),
            }));
        }
    }

    /// Sends a file control frame (if files were negotiated).
    pub fn send_file(&mut self, frame: wire::FileFrame) {
        if self.negotiated().is_some_and(|n| n.has(FEATURE_FILES)) {
            self.queue(&Frame::File(frame));
        }
    }

    /// Sends a room frame (if rooms were negotiated).
    pub fn send_room(&mut self, frame: wire::RoomFrame) {
        if self.negotiated().is_some_and(|n| n.has(FEATURE_ROOMS)) {
            self.queue(&Frame::Room(frame));
        }
    }

    /// Closes the session with a goodbye.
    pub fn close(&mut self, code: GoodbyeCode, reason: &str) {
        if !self.is_closed() {
            self.queue(&Frame::Goodbye(wire::Goodbye {
                code: code as i32,
                reason: reason.into(),
            }));
            self.state = State::Closed;
            self.events
                .push_back(SessionEvent::Closed(SessionError::LocalClose));
        }
    }

    fn queue(&mut self, frame: &Frame) {
        match wire::encode(frame) {
            Ok(bytes) => {
                self.queued += bytes.len();
                self.transmit.push_back(bytes);
            }
            Err(e) => tracing::warn!(frame = frame.name(), error = %e, "frame not sent"),
        }
    }

    fn fail(&mut self, code: GoodbyeCode, error: SessionError) {
        if self.is_closed() {
            return;
        }
        self.queue(&Frame::Goodbye(wire::Goodbye {
            code: code as i32,
            reason: error.to_string(),
        }));
        self.state = State::Closed;
        self.events.push_back(SessionEvent::Closed(error));
    }

    fn check_conversation(&mut self, conversation: &[u8]) -> bool {
        if conversation == self.conversation {
            return true;
        }
        self.fail(
            GoodbyeCode::ProtocolError,
            SessionError::Protocol("frame names a conversation of another pair".into()),
        );
        false
    }

    fn handle_frame(&mut self, frame: Frame, _now: Instant) {
        let established = self.negotiated().cloned();
        match (frame, established) {
            (Frame::Goodbye(g), _) => {
                self.state = State::Closed;
                let code = GoodbyeCode::try_from(g.code).unwrap_or(GoodbyeCode::ProtocolError);
                self.events
                    .push_back(SessionEvent::Closed(SessionError::PeerClosed {
                        code,
                        reason: g.reason,
                    }));
            }
            (Frame::Hello(h), None) => self.handle_hello(h),
            (Frame::Hello(_), Some(_)) => self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol("second hello".into()),
            ),
            (Frame::Unknown { kind }, _) => {
                tracing::debug!(kind, "unknown frame kind answered");
                self.queue(&Frame::Unsupported(wire::Unsupported {
                    kind: u32::from(kind),
                }));
            }
            (Frame::Unsupported(u), _) => {
                tracing::debug!(kind = u.kind, "peer does not know a frame kind we sent");
            }
            (f, None) => self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol(format!("{} frame before hello", f.name())),
            ),
            (Frame::Chat(c), Some(n)) => self.handle_chat(c, n.peer_incarnation),
            (Frame::Ack(a), Some(_)) => {
                if self.check_conversation(&a.conversation) {
                    self.events.push_back(SessionEvent::Acked(a.up_to_seq));
                }
            }
            (Frame::Read(r), Some(n)) => {
                if self.check_conversation(&r.conversation) && n.has(FEATURE_RECEIPTS) {
                    self.events.push_back(SessionEvent::Read(r.up_to_seq));
                }
            }
            (Frame::Typing(t), Some(n)) => {
                if self.check_conversation(&t.conversation) && n.has(FEATURE_TYPING) {
                    let state = TypingState::try_from(t.state).unwrap_or(TypingState::Idle);
                    self.events.push_back(SessionEvent::Typing(state));
                }
            }
            (Frame::File(f), Some(n)) => {
                if !n.has(FEATURE_FILES) {
                    return;
                }
                let offer = f.op == wire::FileOp::Offer as i32;
                if f.file_id.len() != 16
                    || (offer && f.sha256.len() != 32)
                    || f.name.len() > MAX_TEXT
                    || f.mime.len() > 1024
                {
                    return self.fail(
                        GoodbyeCode::ProtocolError,
                        SessionError::Protocol("malformed file frame".into()),
                    );
                }
                self.events.push_back(SessionEvent::File(f));
            }
            (Frame::Room(r), Some(n)) => {
                if !n.has(FEATURE_ROOMS) {
                    return;
                }
                if r.room.len() != 16 {
                    return self.fail(
                        GoodbyeCode::ProtocolError,
                        SessionError::Protocol("malformed room frame".into()),
                    );
                }
                self.events.push_back(SessionEvent::Room(r));
            }
            (Frame::Presence(p), Some(n)) => {
                if n.has(FEATURE_PRESENCE) {
                    let status = Status::try_from(p.status).unwrap_or(Status::Online);
                    let text: String = p.text.chars().take(200).collect();
                    self.events.push_back(SessionEvent::Presence(status, text));
                }
            }
        }
    }

    fn handle_chat(&mut self, c: wire::Chat, peer_incarnation: Option<Incarnation>) {
        if !self.check_conversation(&c.conversation) {
            return;
        }
        // A message counts in the incarnation its Hello named; naming another is an error.
        let incarnation = match incarnation_of(&c.incarnation) {
            Ok(None) => peer_incarnation,
            Ok(Some(i)) if Some(i) == peer_incarnation => peer_incarnation,
            _ => {
                return self.fail(
                    GoodbyeCode::ProtocolError,
                    SessionError::Protocol("a message names another incarnation".into()),
                );
            }
        };
        let Ok(msg_id) = <[u8; 16]>::try_from(c.msg_id.as_slice()) else {
            return self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol("message id is not 16 bytes".into()),
            );
        };
        if c.seq == 0 {
            return self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol("sequence numbers start at 1".into()),
            );
        }
        if c.text.len() > MAX_TEXT {
            return self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol("message text over the limit".into()),
            );
        }
        self.events.push_back(SessionEvent::Chat(IncomingChat {
            msg_id,
            seq: c.seq,
            timestamp_ms: c.timestamp_ms,
            text: c.text,
            incarnation,
            base_seq: c.base_seq,
        }));
    }
}
