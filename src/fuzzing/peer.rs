//! Targets of a session stream: its frames (`wire`), each body, and a `Session` fed a
//! hostile peer's bytes.

use std::sync::OnceLock;
use std::time::Instant;

use super::{keys, piece_len, split_first};
use crate::model::Status;
use crate::session::{
    self, FEATURES, Incarnation, MAX_TEXT, Session, SessionConfig, SessionEvent, VERSIONS,
};
use crate::wire::{self, Frame, WireError};

/// Most room a stream decoder may hold: a frame at the cap, a read, and the growth of its
/// buffer (it doubles); past this, memory would follow what a peer announces.
const ROOM_CAP: usize = 4 * (wire::MAX_FRAME + 256);

/// Every frame of a byte stream and the error that ended it, read in one go.
fn decode_all(bytes: &[u8]) -> (Vec<Frame>, Option<WireError>) {
    let mut d = wire::Decoder::new();
    d.push(bytes);
    let mut frames = Vec::new();
    loop {
        match d.next_frame() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// A decoded frame encodes again (unless the encoding grew past the cap: a negative enum
/// value takes 10 bytes where the peer may have sent 5) and decodes to itself.
fn round_trip(f: &Frame) {
    match wire::encode(f) {
        Ok(bytes) => {
            assert!(bytes.len() <= wire::MAX_FRAME, "encoded past the cap");
            assert_eq!(wire::decode_one(&bytes), Ok(Some(f.clone())), "round trip");
        }
        Err(WireError::TooLarge(n)) => assert!(n > wire::MAX_FRAME),
        Err(e) => panic!("a decoded frame does not encode: {e}"),
    }
}

/// The target `wire_frame`. Bytes: the size of the pieces they arrive in (1), then the stream.
pub fn wire_frame(data: &[u8]) {
    let (piece, bytes) = split_first(data);
    let mut d = wire::Decoder::new();
    let (mut frames, mut error) = (Vec::new(), None);
    'feed: for chunk in bytes.chunks(piece_len(piece)) {
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
        let (held, room) = d.held();
        assert!(
            held < wire::MAX_FRAME,
            "{held} bytes held after every frame out"
        );
        assert!(room <= ROOM_CAP, "{room} bytes of room");
    }
    // Every frame read was announced within the cap; the stream stops exactly at the first
    // one announced over it, before reading any of it.
    let mut at = 0;
    for _ in &frames {
        let announced = announced(bytes, at).unwrap_or(usize::MAX);
        assert!(
            announced <= wire::MAX_FRAME,
            "a frame of {announced} bytes read"
        );
        at += announced;
    }
    match (&error, announced(bytes, at)) {
        (Some(WireError::TooLarge(n)), Some(a)) => assert!(*n == a && a > wire::MAX_FRAME),
        (_, Some(a)) => assert!(a <= wire::MAX_FRAME, "a frame of {a} bytes not refused"),
        _ => {}
    }
    // However the stream is cut, the same frames and the same error.
    assert_eq!((frames.clone(), error), decode_all(bytes), "pieces differ");
    frames.iter().for_each(round_trip);
}

/// The length (prefix included) announced by the frame header at `at`, if one is there.
fn announced(bytes: &[u8], at: usize) -> Option<usize> {
    let head = bytes.get(at..)?.first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head) as usize).saturating_add(4))
}

/// The kinds [`wire_body`] puts in front of a body: every known kind and an unknown one.
pub(super) const BODY_KINDS: [u16; 11] = [
    wire::KIND_HELLO,
    wire::KIND_GOODBYE,
    wire::KIND_CHAT,
    wire::KIND_ACK,
    wire::KIND_READ,
    wire::KIND_TYPING,
    wire::KIND_PRESENCE,
    wire::KIND_UNSUPPORTED,
    wire::KIND_FILE,
    0x4E54,
    wire::KIND_ROOM,
];

/// A whole frame of `kind` around `body`.
fn framed(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 7);
    f.extend_from_slice(&((body.len() + 3) as u32).to_be_bytes());
    f.push(wire::HEADER_VERSION);
    f.extend_from_slice(&kind.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// The target `wire_body`. Bytes: which kind (1, an index into [`BODY_KINDS`]), then the body.
pub fn wire_body(data: &[u8]) {
    let (k, body) = split_first(data);
    let kind = BODY_KINDS[usize::from(k) % BODY_KINDS.len()];
    match wire::decode_one(&framed(kind, body)) {
        Ok(Some(f)) => {
            if let Ok(bytes) = wire::encode(&f) {
                assert_eq!(bytes[5..7], kind.to_be_bytes(), "decoded as another kind");
            }
            round_trip(&f);
        }
        Ok(None) => panic!("a whole frame was not read"),
        Err(WireError::TooLarge(n)) => assert!(body.len() + 7 > wire::MAX_FRAME && n > 0),
        Err(WireError::Malformed { .. }) => assert!(kind <= wire::KIND_ROOM, "unknown kind"),
        Err(e) => panic!("a valid header refused: {e}"),
    }
}

/// The session's config: we are `local`, the peer `remote`.
pub(super) fn config(local: &crate::PeerId, remote: &crate::PeerId) -> SessionConfig {
    SessionConfig {
        local: *local,
        remote: *remote,
        session_id: [9; 16],
        boot_id: [1; 16],
        versions: VERSIONS,
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        incarnation: incarnation(local),
        acked_incarnation: None,
        acked_seq: 0,
        read_seq: 0,
        status: Status::Online,
        status_text: String::new(),
        path: "direct".into(),
        via: String::new(),
    }
}

/// A side's incarnation: the first 16 bytes of its key.
pub(super) fn incarnation(p: &crate::PeerId) -> Incarnation {
    let mut i = [0; 16];
    i.copy_from_slice(&p.as_bytes()[..16]);
    i
}

/// The peer's Hello, as its own session writes it.
pub(super) fn peer_hello() -> &'static [u8] {
    static HELLO: OnceLock<Vec<u8>> = OnceLock::new();
    HELLO.get_or_init(|| {
        let mut peer = Session::new(config(keys::peer_id(), keys::me_id()), Instant::now());
        peer.poll_transmit().unwrap_or_default()
    })
}

/// What a session promised so far, checked event by event.
#[derive(Default)]
struct Seen {
    established: bool,
    closed: bool,
    peer_incarnation: Option<Incarnation>,
}

impl Seen {
    fn event(&mut self, e: SessionEvent) {
        assert!(!self.closed, "an event after Closed: {e:?}");
        match e {
            SessionEvent::Established(n) => {
                assert!(!self.established, "established twice");
                assert!(n.has(session::FEATURE_TEXT) && n.status != Status::Invisible);
                assert!(n.status_text.chars().count() <= 200);
                assert!(n.peer_path.chars().count() <= 100 && n.peer_via.chars().count() <= 100);
                self.established = true;
                self.peer_incarnation = n.peer_incarnation;
            }
            SessionEvent::Closed(_) => self.closed = true,
            other => {
                assert!(self.established, "{other:?} before Hello");
                match other {
                    SessionEvent::Chat(c) => {
                        assert!(c.seq >= 1 && c.text.len() <= MAX_TEXT);
                        assert_eq!(c.incarnation, self.peer_incarnation);
                    }
                    SessionEvent::File(f) => {
                        assert!(f.file_id.len() == 16 && f.mime.len() <= 1024);
                        let offer = f.op == wire::FileOp::Offer as i32;
                        assert!(!offer || f.sha256.len() == 32);
                    }
                    SessionEvent::Presence(s, text) => {
                        assert!(s != Status::Invisible && text.chars().count() <= 200);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The target `session`. Bytes: a mode (1: bit 0 set, the peer's Hello is the input's to write;
/// clear, a valid Hello came first), the size of the pieces (1), then what the peer sends.
pub fn session(data: &[u8]) {
    let (mode, rest) = split_first(data);
    let (piece, bytes) = split_first(rest);
    let now = Instant::now();
    let mut s = Session::new(config(keys::me_id(), keys::peer_id()), now);
    let mut seen = Seen::default();
    if mode & 1 == 0 {
        s.handle_bytes(peer_hello(), now);
    }
    let chunks = std::iter::once(&[][..]).chain(bytes.chunks(piece_len(piece)));
    for chunk in chunks {
        s.handle_bytes(chunk, now);
        while let Some(e) = s.poll_event() {
            seen.event(e);
        }
        // Whatever we answer is well-formed: whole frames, each one we can read back.
        while let Some(bytes) = s.poll_transmit() {
            let (frames, error) = decode_all(&bytes);
            assert!(frames.len() == 1 && error.is_none(), "we sent a bad frame");
        }
        assert_eq!(s.is_closed(), seen.closed, "closed without saying so");
        if mode & 1 == 0 {
            assert!(
                seen.established || seen.closed,
                "a valid Hello did not establish"
            );
        }
    }
    s.handle_end();
    while let Some(e) = s.poll_event() {
        seen.event(e);
    }
    assert!(s.is_closed() && seen.closed);
}
