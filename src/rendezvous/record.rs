//! Signed presence records, handle claims and pairwise lookup tokens: building them on the
//! client, and the checks the server (and a looking-up client) make before believing one.

use std::net::SocketAddr;

use prost::Message;

use super::proto::{
    self, MAX_ADDRS, MAX_RECORD_TTL_MS, PresenceRecord, RECORD_CONTEXT, SignedRecord, TOKEN_CONTEXT,
};
use crate::identity::{Identity, PeerId};

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not a presence record.
    #[error("the presence record is malformed: {0}")]
    Malformed(String),
    /// The key in the record is not a valid ed25519 key.
    #[error("the presence record names no valid key")]
    BadKey,
    /// The record names another key than the one that sent it.
    #[error("the presence record is for another key than the one you connected with")]
    NotYours,
    /// The signature does not verify.
    #[error("the presence record's signature is wrong")]
    BadSignature,
    /// Already expired, or valid for too long.
    #[error("the presence record has expired or lives too long ({0})")]
    Expiry(String),
    /// Not newer than one already registered (a replay).
    #[error("the presence record is not newer than the registered one (replayed?)")]
    Replayed,
    /// Too many or unparsable addresses, or a bad prekey.
    #[error("the presence record has bad contents: {0}")]
    Contents(String),
}

/// A record checked for signature and shape (not for freshness: see [`Verified::fresh`]).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signer.
    pub peer: PeerId,
    /// The decoded record.
    pub record: PresenceRecord,
    /// Parsed candidate addresses.
    pub addrs: Vec<SocketAddr>,
    /// The X25519 prekey.
    pub prekey: [u8; 32],
}

impl Verified {
    /// Whether the record is valid at `now_ms`.
    pub fn fresh(&self, now_ms: u64) -> Result<(), RecordError> {
        let r = &self.record;
        if r.expires_ms <= now_ms {
            return Err(RecordError::Expiry("expired".into()));
        }
        if r.expires_ms > now_ms + MAX_RECORD_TTL_MS + 60_000 {
            return Err(RecordError::Expiry("expiry too far ahead".into()));
        }
        if r.issued_ms > now_ms + 60_000 {
            return Err(RecordError::Expiry("issued in the future".into()));
        }
        Ok(())
    }
}

/// Makes and signs a record.
pub fn sign(identity: &Identity, record: &PresenceRecord) -> SignedRecord {
    let body = record.encode_to_vec();
    let mut msg = RECORD_CONTEXT.to_vec();
    msg.extend_from_slice(&body);
    SignedRecord {
        record: body,
        signature: identity.sign(&msg).to_vec(),
    }
}

/// Checks signature and shape; `expected` is the key it must be for, when known.
pub fn verify(signed: &SignedRecord, expected: Option<&PeerId>) -> Result<Verified, RecordError> {
    let record: PresenceRecord =
        proto::decode(&signed.record).map_err(|e| RecordError::Malformed(e.to_string()))?;
    let key: [u8; 32] = record
        .peer
        .as_slice()
        .try_into()
        .map_err(|_| RecordError::BadKey)?;
    let peer = PeerId::from_bytes(key).map_err(|_| RecordError::BadKey)?;
    if expected.is_some_and(|e| *e != peer) {
        return Err(RecordError::NotYours);
    }
    let mut msg = RECORD_CONTEXT.to_vec();
    msg.extend_from_slice(&signed.record);
    if !peer.verify(&msg, &signed.signature) {
        return Err(RecordError::BadSignature);
    }
    if record.addrs.len() > MAX_ADDRS {
        return Err(RecordError::Contents(format!(
            "{} addresses (at most {MAX_ADDRS})",
            record.addrs.len()
        )));
    }
    let addrs = record
        .addrs
        .iter()
        .map(|a| a.parse::<SocketAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RecordError::Contents(format!("address: {e}")))?;
    if record.transports.len() > proto::MAX_TRANSPORTS
        || record.transports.iter().any(|t| t.len() > 32)
    {
        return Err(RecordError::Contents(
            "too many or too long transports".into(),
        ));
    }
    let prekey: [u8; 32] = record
        .prekey
        .as_slice()
        .try_into()
        .map_err(|_| RecordError::Contents("prekey is not 32 bytes".into()))?;
    Ok(Verified {
        peer,
        record,
        addrs,
        prekey,
    })
}

/// How two peers meet, from the transports their records list (PROTOCOL.md §7, best
/// first): directly over QUIC when both can send UDP, otherwise through the relay, each side
/// over its own transport to it (UDP, else TCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meeting {
    /// A direct QUIC path may exist (punch for it).
    Direct,
    /// Only the relay joins them.
    Relayed,
}

/// The best way two peers share; an empty list (an older client) counts as direct QUIC.
pub fn meeting(ours: &[String], theirs: &[String]) -> Meeting {
    let direct = |t: &[String]| t.is_empty() || t.iter().any(|t| t == proto::TRANSPORT_QUIC);
    if direct(ours) && direct(theirs) {
        Meeting::Direct
    } else {
        Meeting::Relayed
    }
}

/// The server's check of a handle claim sent over `peer`'s connection: the name in its one
/// form, signed by that key. The name, or the refusal's words.
pub fn check_claim(h: &proto::Handle, peer: &PeerId) -> Result<String, String> {
    let name = proto::normalize_handle(&h.name)?;
    if !peer.verify(&proto::handle_message(&name), &h.signature) {
        return Err("the handle claim is not signed by your key".into());
    }
    Ok(name)
}

/// A client's check of the server's answer to resolving `name` (in its one form): the key
/// the answer names, which must have signed the claim of exactly that name.
pub fn check_resolved(h: &proto::Handle, name: &str) -> Result<PeerId, String> {
    let peer = <[u8; 32]>::try_from(h.peer.as_slice())
        .ok()
        .and_then(|b| PeerId::from_bytes(b).ok())
        .ok_or_else(|| "the handle names no key".to_string())?;
    if h.name != name || !peer.verify(&proto::handle_message(name), &h.signature) {
        return Err("the handle's claim is not signed by the key it names".into());
    }
    Ok(peer)
}

/// The secret `me` and `other` share for lookup tokens (an X25519 agreement: both compute
/// it, nobody else can).
pub fn pair_secret(me: &Identity, other: &PeerId) -> Option<[u8; 32]> {
    me.pair_secret(other, TOKEN_CONTEXT)
}

/// The token of a pair bound to its `holder`: `SHA-256(context || secret || holder)`. Each
/// side registers the token bound to itself, so the two registrations of a pair carry
/// different values and the server cannot link contacts by intersecting them; the other
/// side, knowing the secret, computes the holder's token to present in a lookup.
pub fn token_of(secret: &[u8; 32], holder: &PeerId) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(proto::TOKEN_HOLDER_CONTEXT);
    h.update(secret);
    h.update(holder.as_bytes());
    h.finalize().into()
}

/// The token `other` registered for `me`: what `me` presents to look `other` up, leave it
/// mail or open a relay with it.
pub fn token(me: &Identity, other: &PeerId) -> Option<[u8; 32]> {
    Some(token_of(&pair_secret(me, other)?, other))
}

/// The token `me` registers for `other` (so `other` may find it).
pub fn own_token(me: &Identity, other: &PeerId) -> Option<[u8; 32]> {
    Some(token_of(&pair_secret(me, other)?, &me.peer_id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &Identity, now: u64) -> PresenceRecord {
        PresenceRecord {
            peer: id.peer_id().as_bytes().to_vec(),
            addrs: vec!["127.0.0.1:4000".into()],
            min_version: 1,
            max_version: 1,
            features: vec!["text".into()],
            prekey: vec![7; 32],
            prekey_expires_ms: now + 1000,
            transports: Vec::new(),
            issued_ms: now,
            expires_ms: now + 60_000,
        }
    }

    #[test]
    fn a_signed_record_verifies_for_its_key_only() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let s = sign(&a, &record(&a, 1000));
        let v = verify(&s, Some(&a.peer_id())).unwrap();
        assert_eq!(v.addrs, vec!["127.0.0.1:4000".parse().unwrap()]);
        assert_eq!(
            verify(&s, Some(&b.peer_id())).unwrap_err(),
            RecordError::NotYours
        );
    }

    #[test]
    fn forged_and_stale_records_are_refused() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let mut s = sign(&a, &record(&a, 1000));
        s.record[40] ^= 1;
        assert!(verify(&s, None).is_err());
        // b signs a record naming a's key.
        let forged = sign(&b, &record(&a, 1000));
        assert_eq!(
            verify(&forged, None).unwrap_err(),
            RecordError::BadSignature
        );
        let v = verify(&sign(&a, &record(&a, 1000)), None).unwrap();
        assert!(v.fresh(2000).is_ok());
        assert!(v.fresh(61_000).is_err());
    }

    #[test]
    fn what_one_side_registers_the_other_presents() {
        let (a, b) = (Identity::generate(), Identity::generate());
        assert_eq!(token(&a, &b.peer_id()), own_token(&b, &a.peer_id()));
        assert_eq!(pair_secret(&a, &b.peer_id()), pair_secret(&b, &a.peer_id()));
    }

    #[test]
    fn two_peers_meet_directly_only_when_both_can_send_udp() {
        let v = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let udp = v(&[proto::TRANSPORT_QUIC, proto::TRANSPORT_RELAY_UDP]);
        let tcp = v(&[proto::TRANSPORT_RELAY_TCP]);
        assert_eq!(meeting(&udp, &udp), Meeting::Direct);
        assert_eq!(meeting(&udp, &[]), Meeting::Direct, "an older client");
        assert_eq!(meeting(&udp, &tcp), Meeting::Relayed);
        assert_eq!(meeting(&tcp, &udp), Meeting::Relayed);
        assert_eq!(meeting(&tcp, &tcp), Meeting::Relayed);
    }

    #[test]
    fn a_record_with_too_many_transports_is_refused() {
        let id = Identity::generate();
        let mut r = record(&id, 1000);
        r.transports = vec!["quic".into(); proto::MAX_TRANSPORTS + 1];
        assert!(matches!(
            verify(&sign(&id, &r), None),
            Err(RecordError::Contents(_))
        ));
    }

    #[test]
    fn a_pairs_two_registrations_carry_different_tokens_each_side_can_compute() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let (pa, pb) = (a.peer_id(), b.peer_id());
        let a_registers = own_token(&a, &pb).unwrap();
        let b_registers = own_token(&b, &pa).unwrap();
        assert_ne!(a_registers, b_registers, "the server could link them");
        // Each presents what the other registered.
        assert_eq!(token(&b, &pa), Some(a_registers));
        assert_eq!(token(&a, &pb), Some(b_registers));
        // A third key computes neither.
        let c = Identity::generate();
        assert_ne!(token(&c, &pa), Some(a_registers));
    }
}
