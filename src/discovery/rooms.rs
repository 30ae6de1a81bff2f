//! Owns public rooms on the LAN: each listed room as a DNS-SD service of its own type
//! (`_natter-room._udp.local.`) whose TXT carries the creator's signed listing, and the
//! reading of such a record — the listing must be its creator's, for the room it names, and
//! live; anything else is refused. The SRV port and addresses are where the creator listens:
//! a hint, as for peers (the handshake proves the creator's key).

use std::net::SocketAddr;

use data_encoding::BASE64URL_NOPAD;
use mdns_sd::ResolvedService;

use crate::room::{ListingError, MAX_LISTING, RoomId, SignedListing};

/// The DNS-SD service type of a listed room.
pub const ROOM_SERVICE_TYPE: &str = "_natter-room._udp.local.";
/// Characters of the listing's base64 in one TXT key (`l0`, `l1`, …): DNS-SD strings hold
/// 255 bytes, key included.
const CHUNK: usize = 200;
/// TXT keys a listing may take: enough for [`MAX_LISTING`] bytes in base64.
const MAX_CHUNKS: usize = MAX_LISTING.div_ceil(3) * 4 / CHUNK + 1;

/// A public room seen on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NearbyRoom {
    /// Its creator's signed listing, checked.
    pub listing: SignedListing,
    /// Where the creator says it listens.
    pub addrs: Vec<SocketAddr>,
    /// The DNS-SD instance name.
    pub fullname: String,
}

/// Why a room record was ignored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomRecordError {
    /// No listing in the TXT record, or more pieces than a listing takes.
    #[error("no room listing in the TXT record")]
    MissingListing,
    /// The pieces are not base64.
    #[error("the room listing is not base64")]
    NotBase64,
    /// The listing is refused (forged, another's room, expired).
    #[error("room listing refused: {0}")]
    Listing(ListingError),
    /// The `room=` key names another room than the listing.
    #[error("the record names another room than its listing")]
    OtherRoom,
    /// No usable address or port.
    #[error("no address or port")]
    NoAddress,
}

/// The TXT properties of a room's record.
pub fn room_properties(listing: &SignedListing) -> Vec<(String, String)> {
    let text = BASE64URL_NOPAD.encode(listing.bytes());
    let mut props = vec![
        ("room".to_string(), listing.listing().room.to_string()),
        ("n".to_string(), listing.listing().members.to_string()),
    ];
    for (i, piece) in text.as_bytes().chunks(CHUNK).enumerate() {
        props.push((format!("l{i}"), String::from_utf8_lossy(piece).into_owned()));
    }
    props
}

/// Reads a resolved room record at `now_ms`.
pub fn parse_room_record(
    info: &ResolvedService,
    now_ms: u64,
) -> Result<NearbyRoom, RoomRecordError> {
    let mut text = String::new();
    for i in 0..=MAX_CHUNKS {
        match info.get_property_val_str(&format!("l{i}")) {
            Some(_) if i == MAX_CHUNKS => return Err(RoomRecordError::MissingListing),
            Some(piece) if piece.len() <= CHUNK => text.push_str(piece),
            Some(_) => return Err(RoomRecordError::MissingListing),
            None => break,
        }
    }
    if text.is_empty() {
        return Err(RoomRecordError::MissingListing);
    }
    let bytes = BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| RoomRecordError::NotBase64)?;
    let listing = SignedListing::decode(&bytes).map_err(RoomRecordError::Listing)?;
    listing.live(now_ms).map_err(RoomRecordError::Listing)?;
    let named: Option<RoomId> = info
        .get_property_val_str("room")
        .and_then(|r| r.parse().ok());
    if named != Some(listing.listing().room) {
        return Err(RoomRecordError::OtherRoom);
    }
    let addrs = super::record::addresses(info).ok_or(RoomRecordError::NoAddress)?;
    Ok(NearbyRoom {
        listing,
        addrs,
        fullname: info.get_fullname().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::room::{Listing, Policy, RoomState};
    use mdns_sd::ServiceInfo;

    fn resolved(props: &[(String, String)]) -> ResolvedService {
        let props: Vec<(&str, &str)> = props
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        ServiceInfo::new(
            ROOM_SERVICE_TYPE,
            "x",
            "h.local.",
            "198.18.0.1",
            4000,
            &props[..],
        )
        .unwrap()
        .as_resolved_service()
    }

    fn listing(creator: &Identity, topic: &str) -> SignedListing {
        let s = RoomState::create(
            creator.peer_id(),
            [3; 16],
            "Café ☕",
            topic,
            Policy::Public,
            1,
        );
        Listing::of(&s, 1_000, 60_000)
            .sign(creator, Policy::Public)
            .unwrap()
    }

    #[test]
    fn a_room_record_carries_its_listing_and_reads_back() {
        let alice = Identity::generate();
        // The largest listing fits the record's pieces.
        let l = listing(&alice, &"t".repeat(1000));
        let props = room_properties(&l);
        assert!(props.iter().all(|(k, v)| k.len() + 1 + v.len() <= 255));
        let n = parse_room_record(&resolved(&props), 1_000).unwrap();
        assert_eq!(n.listing, l);
        assert_eq!(n.addrs, vec!["198.18.0.1:4000".parse().unwrap()]);
        // Expired: refused.
        let err = parse_room_record(&resolved(&props), 61_000).unwrap_err();
        assert_eq!(err, RoomRecordError::Listing(ListingError::Expired));
    }

    #[test]
    fn a_forged_or_mismatched_room_record_is_refused() {
        let (alice, mallory) = (Identity::generate(), Identity::generate());
        let real = listing(&alice, "");
        // Mallory's own listing under Alice's room id in `room=`.
        let hers = listing(&mallory, "");
        let mut props = room_properties(&hers);
        props[0].1 = real.listing().room.to_string();
        assert_eq!(
            parse_room_record(&resolved(&props), 1_000).unwrap_err(),
            RoomRecordError::OtherRoom
        );
        // Alice's listing with a piece changed: the signature fails (or it does not decode).
        let mut props = room_properties(&real);
        let piece = &mut props[2].1;
        let flipped = if piece.starts_with('A') { "B" } else { "A" };
        piece.replace_range(0..1, flipped);
        assert!(matches!(
            parse_room_record(&resolved(&props), 1_000),
            Err(RoomRecordError::Listing(_))
        ));
        // Garbage, or nothing.
        let junk = vec![("room".into(), "x".into()), ("l0".into(), "!!".into())];
        assert_eq!(
            parse_room_record(&resolved(&junk), 1_000).unwrap_err(),
            RoomRecordError::NotBase64
        );
        assert_eq!(
            parse_room_record(&resolved(&[]), 1_000).unwrap_err(),
            RoomRecordError::MissingListing
        );
    }
}
