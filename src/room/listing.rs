//! A public room's listing: what the LAN (mDNS) and a rendezvous directory show of it — its
//! id, name, topic and member count, and whom to ask to join — signed by the room's creator.
//! A stranger checks it without the member list: the id must be the creator's (a hash of
//! its key and nonce) and the signature the creator's, so nobody lists a room in another's
//! name.

use prost::Message;

use super::{MAX_MEMBERS, MAX_NAME, RoomId, RoomState, peer};
use crate::identity::{Identity, PeerId};

/// What a listing signature is made over, before the body.
const DOMAIN: &[u8] = b"natter-room-listing-v1\0";
/// Largest signed listing, in bytes (checked before decoding).
pub const MAX_LISTING: usize = 768;
/// Longest topic a listing carries, in bytes of UTF-8 (a longer one is cut at a character).
pub const LISTED_TOPIC: usize = 200;
/// How far ahead a listing may expire: renewed before, it stays; left, it goes.
pub const LISTING_TTL_MAX_MS: u64 = 10 * 60 * 1000;

/// What a public room's listing says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The room.
    pub room: RoomId,
    /// Its creator: who signs the listing and whom a stranger asks to join.
    pub creator: PeerId,
    /// The creator's nonce (with its key, the room id).
    pub nonce: [u8; 16],
    /// The room's name.
    pub name: String,
    /// Its topic, cut to [`LISTED_TOPIC`] bytes.
    pub topic: String,
    /// How many members it has.
    pub members: u32,
    /// When the creator signed it (a newer one replaces an older one).
    pub issued_ms: u64,
    /// When it stops being shown unless renewed.
    pub expires_ms: u64,
}

/// A listing as it travels: its bytes and what they say, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedListing {
    bytes: Vec<u8>,
    listing: Listing,
}

/// Why a listing is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ListingError {
    /// Over the cap; nothing decoded.
    #[error("a room listing of {0} bytes is over the {MAX_LISTING}-byte limit")]
    TooLarge(usize),
    /// Not a listing.
    #[error("malformed room listing: {0}")]
    Malformed(String),
    /// The id is not a hash of the named creator's key and nonce: a room listed in someone
    /// else's name.
    #[error("this listing names a room that is not its signer's")]
    NotTheCreators,
    /// The signature is not the creator's.
    #[error("the room listing's signature is not its creator's")]
    BadSignature,
    /// Expired, or valid for longer than a listing may be.
    #[error("the room listing has expired or runs too far ahead")]
    Expired,
    /// Only the creator lists a room.
    #[error("only the room's creator lists it; ask them to publish it")]
    NotCreator,
    /// Only a public room is listed.
    #[error("only a public room can be listed; this one is private")]
    Private,
}

impl Listing {
    /// The listing of a room's state, valid from `now_ms` for `ttl_ms`.
    pub fn of(state: &RoomState, now_ms: u64, ttl_ms: u64) -> Self {
        Self {
            room: state.id,
            creator: state.creator,
            nonce: state.nonce,
            name: state.name.clone(),
            topic: cut(&state.topic, LISTED_TOPIC).to_owned(),
            members: state.members.len() as u32,
            issued_ms: now_ms,
            expires_ms: now_ms + ttl_ms.min(LISTING_TTL_MAX_MS),
        }
    }

    /// Signs it: only the creator may, and only a public room is listed.
    pub fn sign(
        &self,
        identity: &Identity,
        policy: super::Policy,
    ) -> Result<SignedListing, ListingError> {
        if policy != super::Policy::Public {
            return Err(ListingError::Private);
        }
        if identity.peer_id() != self.creator {
            return Err(ListingError::NotCreator);
        }
        let body = wire::Body::from(self).encode_to_vec();
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&body);
        let bytes = wire::Signed {
            body,
            sig: identity.sign(&msg).to_vec(),
        }
        .encode_to_vec();
        SignedListing::decode(&bytes)
    }
}

impl SignedListing {
    /// Reads listing bytes: the cap, the fields, that the id is the creator's, and the
    /// creator's signature. Whether it is still valid is [`SignedListing::live`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ListingError> {
        if bytes.len() > MAX_LISTING {
            return Err(ListingError::TooLarge(bytes.len()));
        }
        let malformed = |e: prost::DecodeError| ListingError::Malformed(e.to_string());
        let signed = wire::Signed::decode(bytes).map_err(malformed)?;
        let listing = wire::Body::decode(signed.body.as_slice())
            .map_err(malformed)?
            .into_listing()?;
        if listing.room != RoomId::derive(&listing.creator, &listing.nonce) {
            return Err(ListingError::NotTheCreators);
        }
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&signed.body);
        if !listing.creator.verify(&msg, &signed.sig) {
            return Err(ListingError::BadSignature);
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            listing,
        })
    }

    /// Checks that it is valid at `now_ms`: not expired, and not valid for longer than
    /// [`LISTING_TTL_MAX_MS`] (plus a minute of clock skew).
    pub fn live(&self, now_ms: u64) -> Result<(), ListingError> {
        let l = &self.listing;
        if l.expires_ms <= now_ms || l.expires_ms > now_ms + LISTING_TTL_MAX_MS + 60_000 {
            return Err(ListingError::Expired);
        }
        Ok(())
    }

    /// The bytes as they travel.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What it says.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The Protocol Buffers form (PROTOCOL.md, "Public rooms").
mod wire {
    use prost::Message;

    use super::{LISTED_TOPIC, Listing, ListingError, MAX_MEMBERS, MAX_NAME, peer};
    use crate::room::RoomId;

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
        room: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        creator: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        nonce: Vec<u8>,
        #[prost(string, tag = "4")]
        name: String,
        #[prost(string, tag = "5")]
        topic: String,
        #[prost(uint32, tag = "6")]
        members: u32,
        #[prost(uint64, tag = "7")]
        issued_ms: u64,
        #[prost(uint64, tag = "8")]
        expires_ms: u64,
    }

    impl From<&Listing> for Body {
        fn from(l: &Listing) -> Self {
            Self {
                room: l.room.as_bytes().to_vec(),
                creator: l.creator.as_bytes().to_vec(),
                nonce: l.nonce.to_vec(),
                name: l.name.clone(),
                topic: l.topic.clone(),
                members: l.members,
                issued_ms: l.issued_ms,
                expires_ms: l.expires_ms,
            }
        }
    }

    impl Body {
        pub(super) fn into_listing(self) -> Result<Listing, ListingError> {
            let bad = |what: &str| ListingError::Malformed(what.to_owned());
            if self.name.trim().is_empty() || self.name.len() > MAX_NAME {
                return Err(bad("name"));
            }
            if self.topic.len() > LISTED_TOPIC {
                return Err(bad("topic"));
            }
            if self.members == 0 || self.members as usize > MAX_MEMBERS {
                return Err(bad("member count"));
            }
            Ok(Listing {
                room: RoomId::from_slice(&self.room).ok_or_else(|| bad("room id"))?,
                creator: peer(&self.creator).ok_or_else(|| bad("creator key"))?,
                nonce: self.nonce.as_slice().try_into().map_err(|_| bad("nonce"))?,
                name: self.name,
                topic: self.topic,
                members: self.members,
                issued_ms: self.issued_ms,
                expires_ms: self.expires_ms,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Policy;

    fn room(creator: &Identity, policy: Policy) -> RoomState {
        RoomState::create(
            creator.peer_id(),
            [7; 16],
            "Rust Berlin",
            "meetups",
            policy,
            1,
        )
    }

    #[test]
    fn a_listing_is_its_creators_and_says_what_the_room_says() {
        let alice = Identity::generate();
        let state = room(&alice, Policy::Public);
        let signed = Listing::of(&state, 1_000, 180_000)
            .sign(&alice, Policy::Public)
            .unwrap();
        let read = SignedListing::decode(signed.bytes()).unwrap();
        assert_eq!(read.listing().room, state.id);
        assert_eq!(read.listing().name, "Rust Berlin");
        assert_eq!(read.listing().members, 1);
        assert_eq!(read.live(1_000), Ok(()));
        assert_eq!(read.live(181_000), Err(ListingError::Expired));
        // A private room is never listed, and nobody but its creator lists it.
        let err = Listing::of(&state, 1_000, 1).sign(&alice, Policy::Private);
        assert_eq!(err, Err(ListingError::Private));
        let err = Listing::of(&state, 1_000, 1).sign(&Identity::generate(), Policy::Public);
        assert_eq!(err, Err(ListingError::NotCreator));
    }

    #[test]
    fn a_listing_naming_someone_elses_room_or_changed_is_refused() {
        let (alice, mallory) = (Identity::generate(), Identity::generate());
        let state = room(&alice, Policy::Public);
        // Mallory signs a listing of Alice's room as its creator: the id is not hers.
        let mut forged = Listing::of(&state, 1_000, 60_000);
        forged.creator = mallory.peer_id();
        let body = wire::Body::from(&forged).encode_to_vec();
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&body);
        let bytes = wire::Signed {
            body,
            sig: mallory.sign(&msg).to_vec(),
        }
        .encode_to_vec();
        assert_eq!(
            SignedListing::decode(&bytes),
            Err(ListingError::NotTheCreators)
        );
        // Alice's real listing with one byte of its name changed.
        let real = Listing::of(&state, 1_000, 60_000)
            .sign(&alice, Policy::Public)
            .unwrap();
        let mut bytes = real.bytes().to_vec();
        let at = bytes.windows(4).position(|w| w == b"Rust").unwrap();
        bytes[at] = b'B';
        assert_eq!(
            SignedListing::decode(&bytes),
            Err(ListingError::BadSignature)
        );
        // Too far ahead, oversized, garbage.
        let far = Listing::of(&state, 1_000, 60_000);
        let far = Listing {
            expires_ms: 1_000 + LISTING_TTL_MAX_MS * 2,
            ..far
        };
        let far = far.sign(&alice, Policy::Public).unwrap();
        assert_eq!(far.live(1_000), Err(ListingError::Expired));
        assert!(matches!(
            SignedListing::decode(&[0u8; MAX_LISTING + 1]),
            Err(ListingError::TooLarge(_))
        ));
        assert!(SignedListing::decode(b"\xff\xff").is_err());
    }

    #[test]
    fn a_long_topic_is_cut_at_a_character_and_the_listing_fits_its_cap() {
        let alice = Identity::generate();
        let mut state = room(&alice, Policy::Public);
        state.name = "é".repeat(MAX_NAME / 2);
        state.topic = "é".repeat(600);
        let l = Listing::of(&state, 1, 1000);
        assert!(l.topic.len() <= LISTED_TOPIC && l.topic.chars().all(|c| c == 'é'));
        let signed = l.sign(&alice, Policy::Public).unwrap();
        assert!(signed.bytes().len() <= MAX_LISTING);
    }
}
