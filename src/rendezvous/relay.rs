//! The relay's wire: the consent request (`RelayOpen`), its answer and pushes, and the
//! relay frame — one QUIC DATAGRAM on the client's rendezvous connection holding one whole
//! peer-to-peer QUIC packet (already encrypted end to end), prefixed by the other peer's
//! key: the destination from a client, the source from the server. Decoders return
//! `Result` and never allocate (a frame is sliced, not copied).

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

/// Bytes before the packet in a relay frame: the other peer's key.
pub const FRAME_HEADER: usize = 32;
/// Smallest packet a relay frame carries: QUIC's minimum datagram (RFC 9000 §14.1), since a
/// client's first packet must be that large. The rendezvous connection's MTU is set so one
/// frame holds it (`transport::signalling_config`).
pub const MIN_PACKET: usize = 1200;
/// Largest packet a relay frame carries (an Ethernet-sized QUIC datagram).
pub const MAX_PACKET: usize = 1452;

/// Why a relay frame could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its header.
    #[error("relay frame of {0} bytes has no room for its 32-byte key")]
    Short(usize),
    /// Longer than any QUIC packet it may carry.
    #[error("relay frame of {0} bytes is over the {MAX_PACKET}-byte packet cap")]
    TooLarge(usize),
}

/// A relay frame: `key || packet`.
pub fn frame(key: &[u8; 32], packet: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(FRAME_HEADER + packet.len());
    b.put_slice(key);
    b.put_slice(packet);
    b.freeze()
}

/// The key and the packet of a relay frame.
pub fn parse(frame: &Bytes) -> Result<([u8; 32], Bytes), FrameError> {
    if frame.len() > FRAME_HEADER + MAX_PACKET {
        return Err(FrameError::TooLarge(frame.len()));
    }
    let key: [u8; 32] = frame
        .get(..FRAME_HEADER)
        .and_then(|k| k.try_into().ok())
        .ok_or(FrameError::Short(frame.len()))?;
    Ok((key, frame.slice(FRAME_HEADER..)))
}

/// "I consent to talk with `peer` through you": the relay forwards between two clients only
/// once each has opened for the other, and only while each allows the other (`token` is
/// their pairwise lookup token, which both registrations must carry).
#[derive(Clone, PartialEq, Message)]
pub struct RelayOpen {
    /// The other peer's key (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub peer: Vec<u8>,
    /// The token it registered for us (it allows us).
    #[prost(bytes = "vec", tag = "2")]
    pub token: Vec<u8>,
    /// The token we registered for it (we allow it).
    #[prost(bytes = "vec", tag = "3")]
    pub own_token: Vec<u8>,
}

/// The answer to `RelayOpen`.
#[derive(Clone, PartialEq, Message)]
pub struct RelayOpened {
    /// Both sides have opened: frames flow now. Otherwise the other side was asked
    /// (`RelayAsked`) and `RelayReady` follows when it consents.
    #[prost(bool, tag = "1")]
    pub ready: bool,
}

/// Pushed to a client: `from` opened a relay with it and waits for its consent.
#[derive(Clone, PartialEq, Message)]
pub struct RelayAsked {
    /// The asking peer's key.
    #[prost(bytes = "vec", tag = "1")]
    pub from: Vec<u8>,
}

/// Pushed to a client that opened first: the other side consented; frames flow now.
#[derive(Clone, PartialEq, Message)]
pub struct RelayReady {
    /// The other peer's key.
    #[prost(bytes = "vec", tag = "1")]
    pub peer: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_carries_a_full_quic_datagram_and_its_key() {
        let packet = vec![7u8; MIN_PACKET];
        let f = frame(&[1; 32], &packet);
        assert_eq!(f.len(), FRAME_HEADER + MIN_PACKET);
        let (key, body) = parse(&f).unwrap();
        assert_eq!(key, [1; 32]);
        assert_eq!(&body[..], &packet[..]);
        assert_eq!(
            parse(&Bytes::from_static(&[0; 31])),
            Err(FrameError::Short(31))
        );
        let big = Bytes::from(vec![0; FRAME_HEADER + MAX_PACKET + 1]);
        assert!(matches!(parse(&big), Err(FrameError::TooLarge(_))));
    }

    proptest! {
        #[test]
        fn frame_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
            let _ = parse(&Bytes::from(bytes.clone()));
            let _ = RelayOpen::decode(bytes.as_slice());
            let _ = RelayAsked::decode(bytes.as_slice());
        }
    }
}
