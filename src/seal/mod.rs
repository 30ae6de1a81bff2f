//! Sealed messages for offline delivery: HPKE (RFC 9180) in auth mode with
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305 (the `hpke` crate), sealed to
//! the recipient's X25519 prekey from the sender's own prekey, and signed inside the seal by
//! the sender's ed25519 identity over a transcript of the whole envelope (auth mode alone is
//! not KCI-resistant, RFC 9180 §9.1.1: whoever steals a recipient's prekey could otherwise
//! forge mail from any of its contacts). Both prekeys must be unexpired when sealing; the
//! recipient checks that against the signed seal time. Every decoder returns `Result` and
//! checks sizes first.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use prost::Message;
use sha2::Digest;

use crate::identity::{Identity, PeerId};

/// The KEM of the suite.
pub type SuiteKem = X25519HkdfSha256;
/// A prekey's private half.
pub type PrekeySecret = <SuiteKem as Kem>::PrivateKey;

/// The envelope format this build seals and the only one it opens.
pub const ENVELOPE_VERSION: u32 = 2;
/// HPKE `info` of every Natter mailbox message (of [`ENVELOPE_VERSION`]).
pub const INFO: &[u8] = b"natter mailbox v2";
/// Context of the identity's signature over its prekey.
pub const PREKEY_CONTEXT: &[u8] = b"natter mailbox prekey v1\0";
/// Context of the sender identity's signature over an envelope's transcript.
pub const ENVELOPE_CONTEXT: &[u8] = b"natter mailbox envelope v2\0";
/// Largest envelope accepted, in bytes.
pub const MAX_ENVELOPE: usize = crate::rendezvous::proto::MAX_SEALED;
/// Envelope kind: one chat message (a `wire::Chat` protobuf).
pub const KIND_CHAT: u32 = 1;
/// Envelope kind: one room frame (a `wire::RoomFrame` protobuf: states, a key, messages) for
/// a member no member could reach.
pub const KIND_ROOM: u32 = 2;

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not an envelope, or a field of the wrong size.
    #[error("not a sealed Natter message: {0}")]
    Malformed(String),
    /// Another envelope format (an older build's has no sender signature).
    #[error(
        "sealed by another Natter version (envelope v{0}; this one opens only v{ENVELOPE_VERSION}, \
         signed by its sender): refused; its sender still holds it and sends it when you next meet"
    )]
    Version(u32),
    /// Sealed for someone else.
    #[error("this sealed message is for another recipient")]
    WrongRecipient,
    /// The sender's prekey is not signed by the sender it names.
    #[error("the sender's prekey is not signed by the sender")]
    WrongSender,
    /// Sealed to a prekey we no longer (or never) had.
    #[error("sealed to a prekey this profile does not have (older than the last rotation?)")]
    UnknownPrekey,
    /// Authentication failed: changed in transit, or not from that sender.
    #[error("the sealed message does not authenticate (tampered, or not from that sender)")]
    Tampered,
    /// It opens, but the sender's identity did not sign it: made by someone holding our
    /// prekey (key-compromise impersonation), or spliced from parts of other envelopes.
    #[error("the sealed message is not signed by the sender it names (forged?)")]
    Forged,
    /// The recipient's prekey had expired when it was (or would be) sealed.
    #[error("the recipient's prekey had expired when it was sealed")]
    RecipientPrekeyExpired,
    /// The sender's prekey had expired when it was (or would be) sealed.
    #[error("the sender's prekey had expired when it was sealed")]
    SenderPrekeyExpired,
    /// Sealing failed (bad recipient key).
    #[error("cannot seal to that prekey: {0}")]
    Seal(String),
}

/// The envelope on the wire. Everything but `enc` and `ciphertext` is the AAD.
#[derive(Clone, PartialEq, Message)]
pub struct Envelope {
    /// Sender identity (ed25519, 32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub sender: Vec<u8>,
    /// Recipient identity (32 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub recipient: Vec<u8>,
    /// Message id (16 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub msg_id: Vec<u8>,
    /// What the plaintext is.
    #[prost(uint32, tag = "4")]
    pub kind: u32,
    /// The sender's X25519 prekey (the HPKE auth key).
    #[prost(bytes = "vec", tag = "5")]
    pub sender_prekey: Vec<u8>,
    /// Until when the sender's prekey is valid (signed with it).
    #[prost(uint64, tag = "6")]
    pub sender_prekey_expires_ms: u64,
    /// Sender identity's signature of `PREKEY_CONTEXT || prekey || expires (u64 BE)`.
    #[prost(bytes = "vec", tag = "7")]
    pub sender_prekey_sig: Vec<u8>,
    /// The recipient prekey this is sealed to.
    #[prost(bytes = "vec", tag = "8")]
    pub recipient_prekey: Vec<u8>,
    /// HPKE encapsulated key (32 bytes).
    #[prost(bytes = "vec", tag = "9")]
    pub enc: Vec<u8>,
    /// Ciphertext with its tag: an encoded [`Signed`].
    #[prost(bytes = "vec", tag = "10")]
    pub ciphertext: Vec<u8>,
    /// The format, [`ENVELOPE_VERSION`] (absent, so 0, in the unsigned v1 envelopes).
    #[prost(uint32, tag = "11")]
    pub version: u32,
}

/// What HPKE seals: the payload, when it was sealed (sender clock) and the sender identity's
/// signature over the envelope's transcript. Inside the ciphertext, so only the recipient
/// ever sees the signature.
#[derive(Clone, PartialEq, Message)]
pub struct Signed {
    /// The payload (of the envelope's kind).
    #[prost(bytes = "vec", tag = "1")]
    pub body: Vec<u8>,
    /// When it was sealed, ms since the epoch (sender clock).
    #[prost(uint64, tag = "2")]
    pub sealed_ms: u64,
    /// ed25519 signature of [`transcript`] by the sender identity (64 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

impl Envelope {
    fn aad(&self) -> Vec<u8> {
        let mut a = Vec::with_capacity(200);
        for part in [
            &self.version.to_be_bytes()[..],
            &self.sender[..],
            &self.recipient[..],
            &self.msg_id[..],
            &self.kind.to_be_bytes()[..],
            &self.sender_prekey[..],
            &self.sender_prekey_expires_ms.to_be_bytes()[..],
            &self.recipient_prekey[..],
        ] {
            push_part(&mut a, part);
        }
        a
    }
}

fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u16).to_be_bytes());
    out.extend_from_slice(part);
}

/// What the sender's identity signs: [`ENVELOPE_CONTEXT`], then length-prefixed the AAD
/// (version, sender, recipient, message id, kind, sender prekey and its expiry, recipient
/// prekey), the HPKE `enc`, the seal time and SHA-256 of the body. It binds the message to
/// both identities, both prekeys and this very encapsulation.
pub fn transcript(env: &Envelope, sealed_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut t = ENVELOPE_CONTEXT.to_vec();
    push_part(&mut t, &env.aad());
    push_part(&mut t, &env.enc);
    push_part(&mut t, &sealed_ms.to_be_bytes());
    push_part(&mut t, &sha2::Sha256::digest(body));
    t
}

/// A prekey pair with its signature by the identity.
pub struct OwnPrekey {
    /// Private half.
    pub secret: PrekeySecret,
    /// Public half.
    pub public: [u8; 32],
    /// Expiry, ms since the epoch.
    pub expires_ms: u64,
}

impl OwnPrekey {
    /// Wraps a secret (public half derived).
    pub fn new(secret: PrekeySecret, expires_ms: u64) -> Self {
        let public = public_of(&secret);
        Self {
            secret,
            public,
            expires_ms,
        }
    }
}

/// The public half of a prekey secret.
pub fn public_of(secret: &PrekeySecret) -> [u8; 32] {
    let pk = SuiteKem::sk_to_pk(secret).to_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&pk);
    out
}

fn prekey_message(prekey: &[u8], expires_ms: u64) -> Vec<u8> {
    let mut m = PREKEY_CONTEXT.to_vec();
    m.extend_from_slice(prekey);
    m.extend_from_slice(&expires_ms.to_be_bytes());
    m
}

/// Whom a message is sealed to: the identity and the prekey its signed record published.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    /// The recipient identity.
    pub peer: &'a PeerId,
    /// Its X25519 prekey.
    pub prekey: [u8; 32],
    /// When that prekey expires, ms since the epoch.
    pub expires_ms: u64,
}

/// Seals `plaintext` from `me` (with `my_prekey`) to `to`'s prekey at `now_ms`; refuses when
/// either prekey has expired by then.
pub fn seal(
    me: &Identity,
    my_prekey: &OwnPrekey,
    to: &Recipient<'_>,
    msg_id: [u8; 16],
    kind: u32,
    plaintext: &[u8],
    now_ms: u64,
) -> Result<Vec<u8>, SealError> {
    if to.expires_ms <= now_ms {
        return Err(SealError::RecipientPrekeyExpired);
    }
    if my_prekey.expires_ms <= now_ms {
        return Err(SealError::SenderPrekeyExpired);
    }
    seal_at(me, my_prekey, to, msg_id, kind, plaintext, now_ms)
}

/// [`seal`] without the expiry checks (the tests make what a careless sender would).
fn seal_at(
    me: &Identity,
    my_prekey: &OwnPrekey,
    to: &Recipient<'_>,
    msg_id: [u8; 16],
    kind: u32,
    plaintext: &[u8],
    sealed_ms: u64,
) -> Result<Vec<u8>, SealError> {
    let pk_r = <SuiteKem as Kem>::PublicKey::from_bytes(&to.prekey)
        .map_err(|e| SealError::Seal(e.to_string()))?;
    let mut env = Envelope {
        version: ENVELOPE_VERSION,
        sender: me.peer_id().as_bytes().to_vec(),
        recipient: to.peer.as_bytes().to_vec(),
        msg_id: msg_id.to_vec(),
        kind,
        sender_prekey: my_prekey.public.to_vec(),
        sender_prekey_expires_ms: my_prekey.expires_ms,
        sender_prekey_sig: me
            .sign(&prekey_message(&my_prekey.public, my_prekey.expires_ms))
            .to_vec(),
        recipient_prekey: to.prekey.to_vec(),
        ..Default::default()
    };
    let sender_pk = SuiteKem::sk_to_pk(&my_prekey.secret);
    let mode = OpModeS::Auth((my_prekey.secret.clone(), sender_pk));
    // The encapsulation first, so the signature can cover it.
    let (enc, mut ctx) =
        hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(&mode, &pk_r, INFO)
            .map_err(|e| SealError::Seal(e.to_string()))?;
    env.enc = enc.to_bytes().to_vec();
    let signed = Signed {
        signature: me.sign(&transcript(&env, sealed_ms, plaintext)).to_vec(),
        body: plaintext.to_vec(),
        sealed_ms,
    };
    env.ciphertext = ctx
        .seal(&signed.encode_to_vec(), &env.aad())
        .map_err(|e| SealError::Seal(e.to_string()))?;
    Ok(env.encode_to_vec())
}

/// An opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Who sealed and signed it.
    pub sender: PeerId,
    /// Message id.
    pub msg_id: [u8; 16],
    /// Kind.
    pub kind: u32,
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// When it was sealed (sender clock, signed).
    pub sealed_ms: u64,
}

fn key32(v: &[u8], what: &str) -> Result<[u8; 32], SealError> {
    v.try_into()
        .map_err(|_| SealError::Malformed(format!("{what} is not 32 bytes")))
}

/// Opens an envelope addressed to `me` with one of `my_prekeys` (current and previous):
/// the envelope's version, recipient and sender prekey signature first, then HPKE, then the
/// sender identity's signature over the transcript, then both prekeys' expiry against the
/// signed seal time.
pub fn open(me: &PeerId, my_prekeys: &[OwnPrekey], bytes: &[u8]) -> Result<Opened, SealError> {
    if bytes.len() > MAX_ENVELOPE {
        return Err(SealError::Malformed(format!("{} bytes", bytes.len())));
    }
    let env = Envelope::decode(bytes).map_err(|e| SealError::Malformed(e.to_string()))?;
    if env.version != ENVELOPE_VERSION {
        return Err(SealError::Version(env.version));
    }
    if key32(&env.recipient, "recipient")? != *me.as_bytes() {
        return Err(SealError::WrongRecipient);
    }
    let sender = PeerId::from_bytes(key32(&env.sender, "sender")?)
        .map_err(|_| SealError::Malformed("sender is not a key".into()))?;
    let msg_id: [u8; 16] = env
        .msg_id
        .as_slice()
        .try_into()
        .map_err(|_| SealError::Malformed("message id is not 16 bytes".into()))?;
    let sender_prekey = key32(&env.sender_prekey, "sender prekey")?;
    if !sender.verify(
        &prekey_message(&sender_prekey, env.sender_prekey_expires_ms),
        &env.sender_prekey_sig,
    ) {
        return Err(SealError::WrongSender);
    }
    let target = key32(&env.recipient_prekey, "recipient prekey")?;
    let mine = my_prekeys
        .iter()
        .find(|k| k.public == target)
        .ok_or(SealError::UnknownPrekey)?;
    let pk_s = <SuiteKem as Kem>::PublicKey::from_bytes(&sender_prekey)
        .map_err(|_| SealError::Malformed("sender prekey is not a key".into()))?;
    let enc = <SuiteKem as Kem>::EncappedKey::from_bytes(&env.enc)
        .map_err(|_| SealError::Malformed("encapsulated key".into()))?;
    let inner = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(
        &OpModeR::Auth(pk_s),
        &mine.secret,
        &enc,
        INFO,
        &env.ciphertext,
        &env.aad(),
    )
    .map_err(|_| SealError::Tampered)?;
    let signed =
        Signed::decode(inner.as_slice()).map_err(|e| SealError::Malformed(e.to_string()))?;
    // Auth mode alone would accept this from anyone holding our prekey (KCI): the sender's
    // identity must have signed this very envelope.
    if !sender.verify(
        &transcript(&env, signed.sealed_ms, &signed.body),
        &signed.signature,
    ) {
        return Err(SealError::Forged);
    }
    if mine.expires_ms <= signed.sealed_ms {
        return Err(SealError::RecipientPrekeyExpired);
    }
    if env.sender_prekey_expires_ms <= signed.sealed_ms {
        return Err(SealError::SenderPrekeyExpired);
    }
    Ok(Opened {
        sender,
        msg_id,
        kind: env.kind,
        plaintext: signed.body,
        sealed_ms: signed.sealed_ms,
    })
}

#[cfg(test)]
mod tests;
