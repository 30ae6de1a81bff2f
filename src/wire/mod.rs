//! Owns the bytes on a session stream: length-prefixed, versioned, size-capped frames whose
//! bodies are Protocol Buffers messages (prost). Pure functions, no I/O; every decoder returns
//! `Result` and never allocates past [`MAX_FRAME`].

mod frames;

pub use frames::*;

use bytes::{Buf, BufMut, BytesMut};

/// The largest frame (header + body) a peer may send, checked before any allocation.
pub const MAX_FRAME: usize = 64 * 1024;

/// The frame header version this build writes and reads.
pub const HEADER_VERSION: u8 = 1;

/// Bytes before the body: length (4), header version (1), kind (2).
const HEADER: usize = 7;

/// Why bytes could not be read or written as a frame.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// A frame announces a size over the cap; nothing was allocated for it.
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// A frame is shorter than its own header.
    #[error("frame of {0} bytes is shorter than its header")]
    Truncated(usize),
    /// A frame header version this build does not know.
    #[error("frame header version {0} is not supported (this build reads {HEADER_VERSION})")]
    Version(u8),
    /// The body of a known frame kind is not a valid message of that kind.
    #[error("malformed {kind} frame: {reason}")]
    Malformed {
        /// The frame kind's name.
        kind: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

/// Encodes one frame with its length prefix.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, WireError> {
    let (kind, body) = frame.to_parts();
    let len = HEADER - 4 + body.len();
    if len + 4 > MAX_FRAME {
        return Err(WireError::TooLarge(len + 4));
    }
    let mut out = Vec::with_capacity(len + 4);
    out.put_u32(u32::try_from(len).map_err(|_| WireError::TooLarge(len))?);
    out.put_u8(HEADER_VERSION);
    out.put_u16(kind);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Splits a byte stream into frames. Feed it bytes as they arrive; take frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. The buffer never holds more than one frame plus one read.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held and room allocated (the fuzz targets check both against the cap).
    #[cfg(any(test, feature = "testing"))]
    pub fn held(&self) -> (usize, usize) {
        (self.buf.len(), self.buf.capacity())
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an error (the stream
    /// cannot continue after one).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        let total = len.saturating_add(4);
        if total > MAX_FRAME {
            return Err(WireError::TooLarge(total));
        }
        if len < HEADER - 4 {
            return Err(WireError::Truncated(total));
        }
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(4);
        let version = frame.get_u8();
        if version != HEADER_VERSION {
            return Err(WireError::Version(version));
        }
        let kind = frame.get_u16();
        Frame::from_parts(kind, &frame).map(Some)
    }
}

/// Decodes exactly one frame from a buffer (for tests and fuzzing).
#[cfg(any(test, feature = "testing"))]
pub fn decode_one(bytes: &[u8]) -> Result<Option<Frame>, WireError> {
    let mut d = Decoder::new();
    d.push(bytes);
    d.next_frame()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chat(text: &str) -> Frame {
        Frame::Chat(Chat {
            msg_id: vec![7; 16],
            conversation: vec![1; 16],
            seq: 42,
            timestamp_ms: 1_700_000_000_000,
            text: text.into(),
            incarnation: vec![9; 16],
            base_seq: 40,
        })
    }

    #[test]
    fn frames_round_trip_even_when_split_into_single_bytes() {
        let frames = vec![
            chat("hello"),
            Frame::Ack(Ack {
                conversation: vec![1; 16],
                up_to_seq: 9,
            }),
            Frame::Typing(Typing {
                conversation: vec![1; 16],
                state: TypingState::Erased as i32,
            }),
        ];
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for f in &frames {
            for b in encode(f).unwrap() {
                d.push(&[b]);
                if let Some(f) = d.next_frame().unwrap() {
                    out.push(f);
                }
            }
        }
        assert_eq!(out, frames);
    }

    #[test]
    fn oversized_frame_is_refused_before_allocation() {
        let mut bytes = (u32::MAX).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[1, 0, 3]);
        assert_eq!(
            decode_one(&bytes),
            Err(WireError::TooLarge(u32::MAX as usize + 4))
        );
        assert!(matches!(
            encode(&chat(&"x".repeat(MAX_FRAME))),
            Err(WireError::TooLarge(_))
        ));
    }

    #[test]
    fn unknown_kinds_decode_as_unknown_not_as_errors() {
        let mut bytes = 5u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[HEADER_VERSION, 0x12, 0x34, 0xAA, 0xBB]);
        assert_eq!(
            decode_one(&bytes),
            Ok(Some(Frame::Unknown { kind: 0x1234 }))
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        // A Chat body with an extra field 99 (varint) appended, as a newer peer might send.
        let mut f = encode(&chat("hi")).unwrap();
        f.extend_from_slice(&[0xF8, 0x06, 0x01]);
        let len = (f.len() - 4) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode_one(&f), Ok(Some(chat("hi"))));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors() {
        assert_eq!(decode_one(&[0, 0, 0, 1, 1]), Err(WireError::Truncated(5)));
        let mut bytes = 4u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[HEADER_VERSION, 0, KIND_CHAT as u8, 0xFF]);
        assert!(matches!(
            decode_one(&bytes),
            Err(WireError::Malformed { .. })
        ));
        let mut bytes = 3u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[9, 0, 3]);
        assert_eq!(decode_one(&bytes), Err(WireError::Version(9)));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut d = Decoder::new();
            d.push(&bytes);
            for _ in 0..64 {
                match d.next_frame() {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }

        #[test]
        fn random_bodies_behind_valid_headers_never_panic(
            kind in 0u16..16,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = ((body.len() + 3) as u32).to_be_bytes().to_vec();
            bytes.push(HEADER_VERSION);
            bytes.extend_from_slice(&kind.to_be_bytes());
            bytes.extend_from_slice(&body);
            let _ = decode_one(&bytes);
        }

        #[test]
        fn chat_text_round_trips(text in ".{0,200}", seq in any::<u64>()) {
            let f = Frame::Chat(Chat { msg_id: vec![1; 16], conversation: vec![2; 16], seq, timestamp_ms: 5, text, ..Chat::default() });
            prop_assert_eq!(decode_one(&encode(&f).unwrap()), Ok(Some(f)));
        }
    }
}
