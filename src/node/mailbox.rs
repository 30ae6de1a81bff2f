//! The node's half of the sealed mailbox: its X25519 prekey (made on first use, kept in the
//! profile, rotated every 30 days with the previous one kept so mail sealed to it still
//! opens) and the prekeys of contacts learnt from their signed presence records.

use std::sync::Arc;
use std::time::Duration;

use hpke::{Deserializable, Kem, Serializable};

use super::{Inner, NodeError, lock};
use crate::rendezvous::record::Verified;
use crate::store;

type X25519 = hpke::kem::X25519HkdfSha256;

const PREKEY_KEY: &str = "prekey";
/// How long one prekey is published.
const PREKEY_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Our prekey as published.
pub(super) struct Prekey {
    pub(super) public: [u8; 32],
    pub(super) expires_ms: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    secret: String,
    expires_ms: u64,
    #[serde(default)]
    previous: Option<String>,
}

/// The current prekey, making or rotating it when needed.
pub(super) async fn current_prekey(inner: &Arc<Inner>) -> Result<Prekey, NodeError> {
    let now = super::rendezvous::now_ms();
    let kept = inner
        .store
        .call(|c| store::get_setting(c, PREKEY_KEY))
        .await?
        .and_then(|s| serde_json::from_str::<Stored>(&s).ok());
    let secret_of = |hex: &str| {
        data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .ok()
            .and_then(|b| <X25519 as Kem>::PrivateKey::from_bytes(&b).ok())
    };
    if let Some(k) = &kept
        && k.expires_ms > now + PREKEY_LIFE.as_millis() as u64 / 2
        && let Some(sk) = secret_of(&k.secret)
    {
        return Ok(Prekey {
            public: public_of(&sk),
            expires_ms: k.expires_ms,
        });
    }
    let (sk, _) = X25519::gen_keypair();
    let fresh = Stored {
        secret: data_encoding::HEXLOWER.encode(&sk.to_bytes()),
        expires_ms: now + PREKEY_LIFE.as_millis() as u64,
        previous: kept.map(|k| k.secret),
    };
    let text = serde_json::to_string(&fresh).map_err(|e| NodeError::Invalid(e.to_string()))?;
    inner
        .store
        .call(move |c| store::set_setting(c, PREKEY_KEY, &text))
        .await?;
    tracing::info!("new mailbox prekey made");
    Ok(Prekey {
        public: public_of(&sk),
        expires_ms: fresh.expires_ms,
    })
}

fn public_of(sk: &<X25519 as Kem>::PrivateKey) -> [u8; 32] {
    let pk = X25519::sk_to_pk(sk).to_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&pk);
    out
}

/// Keeps a contact's prekey from its verified record (for sealing while it is offline).
pub(super) fn remember_prekey(inner: &Inner, peer: crate::PeerId, v: &Verified) {
    lock(&inner.rv_prekeys).insert(peer, (v.prekey, v.record.prekey_expires_ms));
}
