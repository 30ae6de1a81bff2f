//! Owns rooms as bytes and rules, with no I/O: the room's signed, versioned state and the rule
//! that chains one version to the next (`state`), author-signed room messages sealed under
//! per-member sender keys (`message`, `keys`), and what two members compare to catch up:
//! per-author sequence vectors and the display order (`sync`), and a public room's signed
//! listing for the LAN and the directory (`listing`). The node stores and carries
//! what these types make; every decoder here returns `Result` and checks its cap first.

mod keys;
mod listing;
mod message;
mod state;
mod sync;

#[cfg(test)]
mod message_tests;
#[cfg(test)]
mod state_tests;

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};

use crate::identity::PeerId;

pub use keys::{KeyError, KeyId, ROTATE_AFTER, SenderKey};
pub use listing::{
    LISTED_TOPIC, LISTING_TTL_MAX_MS, Listing, ListingError, MAX_LISTING, SignedListing,
};
pub use message::{Content, MessageDraft, MessageError, RoomMessage};
pub use state::{Change, Member, Policy, Role, RoomState, SignedState, StateError, Verdict, judge};
pub use sync::{Arrival, OrderKey, Vector, arrival, gaps};

/// Most members a room has: every member keeps a session with every other one it talks to
/// (a mesh), and every leave turns over every member's key. A public room is full at this
/// number too: its admins refuse the next join.
pub const MAX_MEMBERS: usize = 64;
/// Most keys a room's state bans (34 bytes each: 256 take 8.7 KiB of the 16 KiB state).
pub const MAX_BANNED: usize = 256;
/// Longest room name, in bytes of UTF-8.
pub const MAX_NAME: usize = 200;
/// Longest topic, in bytes of UTF-8.
pub const MAX_TOPIC: usize = 1000;
/// Largest signed state document, in bytes (64 members take about 2.5 KiB).
pub const MAX_STATE: usize = 16 * 1024;
/// Longest text of a room message, in bytes (the one-to-one cap).
pub const MAX_TEXT: usize = 16 * 1024;
/// Largest signed room message, in bytes (text, header, seal and signature).
pub const MAX_MESSAGE: usize = MAX_TEXT + 1024;

/// A room's name for every member: the first 16 bytes of
/// `SHA-256("natter-room-v1" ‖ creator's key ‖ nonce)`, so only its creator can sign its
/// first state. Text form: 26 characters of lowercase base32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId([u8; 16]);

/// Why a text is not a room id.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("a room id has 26 characters, a-z and 2-7 (this one is not one)")]
pub struct RoomIdError;

impl RoomId {
    /// The id of the room a creator makes with `nonce`.
    pub fn derive(creator: &PeerId, nonce: &[u8; 16]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"natter-room-v1")
            .chain_update(creator.as_bytes())
            .chain_update(nonce)
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Self(id)
    }

    /// An id from its 16 bytes (a frame's field): `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({})", &self.to_string()[..8])
    }
}

impl FromStr for RoomId {
    type Err = RoomIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 26 {
            return Err(RoomIdError);
        }
        let bytes = BASE32_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| RoomIdError)?;
        Self::from_slice(&bytes).ok_or(RoomIdError)
    }
}

impl serde::Serialize for RoomId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A peer id from a frame's 32 bytes, checked to be a key.
fn peer(bytes: &[u8]) -> Option<PeerId> {
    PeerId::from_bytes(bytes.try_into().ok()?).ok()
}
