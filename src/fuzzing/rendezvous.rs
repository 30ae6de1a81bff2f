//! Targets of the rendezvous protocol: requests as the server reads them, answers and pushes
//! as a client reads them, relay datagrams, signed presence records and handle claims.

use bytes::Bytes;
use prost::Message;

use super::{Trickle, keys, piece_len, run_ready, split_first};
use crate::rendezvous::proto::{
    self, Handle, MAX_ADDRS, MAX_MESSAGE, MAX_TRANSPORTS, PresenceRecord, Push, RECORD_CONTEXT,
    Request, Response, SignedRecord, request, response,
};
use crate::rendezvous::record::{self, RecordError, Verified};
use crate::rendezvous::relay;

/// A message read from a stream frames again within the cap and reads back as itself.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let framed = proto::frame(m);
    assert!(framed.len() - 4 <= MAX_MESSAGE, "re-encoded past the cap");
    match run_ready(proto::read::<M>(&mut &framed[..])) {
        Ok(Some(back)) => assert!(back == *m, "round trip: {m:?} became {back:?}"),
        other => panic!("a message we framed does not read back: {other:?}"),
    }
}

/// Reads one message; checks it took exactly its own bytes from the stream (what follows
/// it on a registration stream is the next message).
fn read_one<M: Message + Default + PartialEq + std::fmt::Debug>(
    stream: &mut Trickle<'_>,
) -> Option<M> {
    let before = stream.data;
    let m = run_ready(proto::read::<M>(stream));
    // A length over the cap is refused before any of the body is read.
    if let Some(head) = before.first_chunk::<4>() {
        let announced = u32::from_be_bytes(*head) as usize;
        if announced > MAX_MESSAGE {
            assert!(matches!(m, Err(proto::ProtoError::TooLarge(_))));
            assert_eq!(stream.data.len(), before.len() - 4, "read past the prefix");
        }
    }
    match &m {
        Ok(Some(m)) => {
            let used = before.len() - stream.data.len();
            let announced = u32::from_be_bytes([before[0], before[1], before[2], before[3]]);
            assert_eq!(used, 4 + announced as usize, "read past its message");
            assert!(used - 4 <= MAX_MESSAGE);
            round_trip(m);
        }
        Ok(None) => assert!(before.is_empty(), "a clean end with bytes left"),
        Err(_) => {}
    }
    m.ok().flatten()
}

/// The target `rendezvous_request`. Bytes: the size of the pieces (1), then a client's request
/// stream.
pub fn rendezvous_request(data: &[u8]) {
    let (piece, bytes) = split_first(data);
    let mut stream = Trickle {
        data: bytes,
        piece: piece_len(piece),
    };
    let Some(Request { body: Some(body) }) = read_one::<Request>(&mut stream) else {
        return;
    };
    // The checks the server makes on what the peer's connection sent.
    let peer = keys::peer_id();
    match body {
        request::Body::Register(r) => {
            if let Some(signed) = r.record {
                verified(&signed, record::verify(&signed, Some(peer)));
            }
        }
        request::Body::ClaimHandle(h) => {
            if let Ok(name) = record::check_claim(&h, peer) {
                assert_eq!(proto::normalize_handle(&h.name), Ok(name));
            }
        }
        _ => {}
    }
}

/// The target `rendezvous_response`. Bytes: a mode (1: bit 0 set, a relay datagram; clear, a
/// registration stream), then for a stream the size of the pieces (1) and the server's answer
/// and pushes.
pub fn rendezvous_response(data: &[u8]) {
    let (mode, rest) = split_first(data);
    if mode & 1 == 1 {
        return relay_frame(rest);
    }
    // What Redis-mode nodes publish to each other and keep of a held client.
    bus(rest);
    let (piece, bytes) = split_first(rest);
    let mut stream = Trickle {
        data: bytes,
        piece: piece_len(piece),
    };
    let Some(answer) = read_one::<Response>(&mut stream) else {
        return;
    };
    if let Some(response::Body::Handle(h)) = &answer.body
        && let Ok(p) = record::check_resolved(h, "alice")
    {
        assert!(h.name == "alice" && p.as_bytes()[..] == h.peer[..]);
    }
    if let Some(response::Body::Presence(p)) = &answer.body
        && let Some(signed) = &p.record
    {
        verified(signed, record::verify(signed, Some(keys::peer_id())));
    }
    while read_one::<Push>(&mut stream).is_some() {}
}

/// A bus message or a held client's presence read back (Redis mode): read again from its
/// own encoding, it is itself.
fn bus(bytes: &[u8]) {
    use crate::rendezvous::bus::{Bus, Held};
    if let Ok(body) = Bus::read(bytes) {
        assert_eq!(Bus::read(&Bus::of(body.clone())), Ok(body));
    }
    if let Ok(h) = Held::read(bytes) {
        assert_eq!(Held::read(&h.encode_to_vec()), Ok(h));
    }
}

/// A relay datagram: the other peer's key, then a whole QUIC packet.
fn relay_frame(bytes: &[u8]) {
    let frame = Bytes::copy_from_slice(bytes);
    match relay::parse(&frame) {
        Ok((key, packet)) => {
            assert!(packet.len() <= relay::MAX_PACKET);
            assert_eq!(relay::frame(&key, &packet), frame, "round trip");
        }
        Err(relay::FrameError::Short(n)) => assert!(n < relay::FRAME_HEADER),
        Err(relay::FrameError::TooLarge(n)) => {
            assert!(n > relay::FRAME_HEADER + relay::MAX_PACKET)
        }
    }
}

/// What `verify` said of `signed`, checked against the record itself.
fn verified(signed: &SignedRecord, v: Result<Verified, RecordError>) {
    let Ok(v) = v else { return };
    let r: PresenceRecord = match proto::decode(&signed.record) {
        Ok(r) => r,
        Err(e) => panic!("a verified record does not decode: {e}"),
    };
    assert!(v.record == r && v.peer.as_bytes()[..] == r.peer[..]);
    assert!(v.addrs.len() <= MAX_ADDRS && v.addrs.len() == r.addrs.len());
    assert!(r.transports.len() <= MAX_TRANSPORTS && r.transports.iter().all(|t| t.len() <= 32));
    assert_eq!(v.prekey[..], r.prekey[..]);
    for now in [0, 1_700_000_000_000, 4_102_444_800_000] {
        let _ = v.fresh(now);
    }
    let _ = record::meeting(&r.transports, &[proto::TRANSPORT_QUIC.into()]);
}

/// The target `presence_record`. Bytes: a mode (1: bit 0 clear, a signed record as it arrives;
/// set, a record body the peer's key signs, to reach the checks behind the signature), then the
/// bytes.
pub fn presence_record(data: &[u8]) {
    let (mode, body) = split_first(data);
    let peer = keys::peer_id();
    if mode & 1 == 0 {
        let Ok(signed) = proto::decode::<SignedRecord>(body) else {
            return;
        };
        let anyone = record::verify(&signed, None);
        let theirs = record::verify(&signed, Some(peer));
        match &anyone {
            Ok(v) => assert_eq!(theirs.is_ok(), v.peer == *peer, "the expected key"),
            Err(_) => assert!(theirs.is_err(), "refused for anyone, believed for one"),
        }
        verified(&signed, anyone);
        verified(&signed, theirs);
        return;
    }
    let mut msg = RECORD_CONTEXT.to_vec();
    msg.extend_from_slice(body);
    let signed = SignedRecord {
        record: body.to_vec(),
        signature: keys::peer().sign(&msg).to_vec(),
    };
    match record::verify(&signed, Some(peer)) {
        Err(RecordError::BadSignature) => panic!("the peer's own signature refused"),
        Err(RecordError::NotYours | RecordError::BadKey) => {
            let named = proto::decode::<PresenceRecord>(body).map(|r| r.peer);
            assert!(named.is_ok_and(|k| k[..] != peer.as_bytes()[..]));
        }
        v => verified(&signed, v),
    }
}

/// The one form of a handle: what `normalize_handle` returns obeys its own rule and is a
/// fixed point.
fn check_name(raw: &str) {
    if let Ok(n) = proto::normalize_handle(raw) {
        assert!((3..=32).contains(&n.len()), "{n:?}");
        assert!(n.starts_with(|c: char| c.is_ascii_lowercase()), "{n:?}");
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
        assert!(n.chars().all(allowed), "{n:?}");
        assert_eq!(proto::normalize_handle(&n).as_ref(), Ok(&n));
        assert_eq!(proto::normalize_handle(&format!("@{n}")), Ok(n));
    }
}

/// The target `handle_claim`. Bytes: a mode (1: bit 0 clear, a `Handle` message as a claim or a
/// resolve answer carries it; set, a name the peer's key claims), then the bytes.
pub fn handle_claim(data: &[u8]) {
    let (mode, rest) = split_first(data);
    let peer = keys::peer_id();
    if mode & 1 == 0 {
        let Ok(h) = proto::decode::<Handle>(rest) else {
            return;
        };
        check_name(&h.name);
        if let Ok(name) = record::check_claim(&h, peer) {
            assert_eq!(proto::normalize_handle(&h.name), Ok(name));
        }
        let asked = proto::normalize_handle(&h.name).unwrap_or_else(|_| "alice".into());
        if let Ok(p) = record::check_resolved(&h, &asked) {
            assert!(h.name == asked && p.as_bytes()[..] == h.peer[..]);
        }
        return;
    }
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    check_name(raw);
    let Ok(name) = proto::normalize_handle(raw) else {
        return;
    };
    let signature = keys::peer().sign(&proto::handle_message(&name)).to_vec();
    let claim = Handle {
        name: raw.to_string(),
        peer: Vec::new(),
        signature: signature.clone(),
    };
    assert_eq!(record::check_claim(&claim, peer).as_ref(), Ok(&name));
    assert!(
        record::check_claim(&claim, keys::me_id()).is_err(),
        "claimed for a key that did not sign"
    );
    let answer = Handle {
        name: name.clone(),
        peer: peer.as_bytes().to_vec(),
        signature,
    };
    assert_eq!(record::check_resolved(&answer, &name), Ok(*peer));
    let other = format!("{name}x");
    if proto::normalize_handle(&other).is_ok() {
        let moved = Handle {
            name: other.clone(),
            ..answer
        };
        assert!(
            record::check_resolved(&moved, &other).is_err(),
            "one name's claim held for another"
        );
    }
}
