//! The fixed keys the fuzz targets use, the same on every run, so that a corpus input made
//! for them (a Chat in their conversation, an envelope sealed to them) still fits on replay.

use std::sync::OnceLock;

use crate::identity::{Identity, PeerId};
use crate::seal::{OwnPrekey, PrekeySecret};
use hpke::Deserializable;

/// Until when the fixed prekeys are valid, ms since the epoch (year 2100).
pub(super) const PREKEY_EXPIRES_MS: u64 = 4_102_444_800_000;

/// Ourselves: the node whose decoders are fed.
pub(super) fn me() -> &'static Identity {
    static ME: OnceLock<Identity> = OnceLock::new();
    ME.get_or_init(|| Identity::from_seed([0x11; 32]))
}

/// The other side: the peer, the contact that seals, the key that signs records and claims.
pub(super) fn peer() -> &'static Identity {
    static PEER: OnceLock<Identity> = OnceLock::new();
    PEER.get_or_init(|| Identity::from_seed([0x22; 32]))
}

/// Our PeerId.
pub(super) fn me_id() -> &'static PeerId {
    static ID: OnceLock<PeerId> = OnceLock::new();
    ID.get_or_init(|| me().peer_id())
}

/// The peer's PeerId.
pub(super) fn peer_id() -> &'static PeerId {
    static ID: OnceLock<PeerId> = OnceLock::new();
    ID.get_or_init(|| peer().peer_id())
}

fn prekey(byte: u8) -> OwnPrekey {
    match PrekeySecret::from_bytes(&[byte; 32]) {
        Ok(secret) => OwnPrekey::new(secret, PREKEY_EXPIRES_MS),
        Err(e) => panic!("a fixed prekey does not load: {e}"),
    }
}

/// Our prekeys, current and previous (what `seal::open` is given).
pub(super) fn my_prekeys() -> &'static [OwnPrekey] {
    static KEYS: OnceLock<Vec<OwnPrekey>> = OnceLock::new();
    KEYS.get_or_init(|| vec![prekey(0x33), prekey(0x34)])
}

/// The peer's prekey (it seals with it).
pub(super) fn peer_prekey() -> &'static OwnPrekey {
    static KEY: OnceLock<OwnPrekey> = OnceLock::new();
    KEY.get_or_init(|| prekey(0x44))
}
