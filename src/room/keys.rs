//! Sender keys: each member's symmetric ratchet for the bodies it posts to a secure room
//! (Signal's sender keys, Megolm's shape). A chain key moves forward by HMAC-SHA-256 for every
//! message; each message has a key of its own derived from the chain at its iteration, and is
//! sealed with ChaCha20-Poly1305. Whoever holds the chain at iteration `i` reads messages
//! `i` and later of that key, never earlier ones.

use ring::{aead, hmac};

/// Names a sender key among its author's keys in one room: 8 random bytes.
pub type KeyId = [u8; 8];

/// Messages an author seals under one key before it makes a new one (and the most a
/// receiver derives forward from the iteration it was given).
pub const ROTATE_AFTER: u32 = 1000;

/// Why a body could not be sealed or opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The message was sealed before the iteration this member was given: it joined (or was
    /// given this key) later.
    #[error("this message was sealed before this member was given the key")]
    Before,
    /// An iteration further ahead than any author goes under one key.
    #[error("this message names an iteration past the key's {ROTATE_AFTER}-message life")]
    TooFar,
    /// The seal does not open: another key, or changed bytes.
    #[error("the message does not open with its sender's key")]
    Open,
    /// The operating system's random source failed.
    #[error("no random bytes for a new key: {0}")]
    Random(String),
}

/// One member's chain at an iteration.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKey {
    id: KeyId,
    chain: [u8; 32],
    iteration: u32,
}

impl std::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderKey")
            .field("id", &self.id)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}

impl SenderKey {
    /// A new random key at iteration 0.
    pub fn generate() -> Result<Self, KeyError> {
        let mut id = [0u8; 8];
        let mut chain = [0u8; 32];
        getrandom::fill(&mut id).map_err(|e| KeyError::Random(e.to_string()))?;
        getrandom::fill(&mut chain).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_parts(id, chain, 0))
    }

    /// A key as stored or handed over.
    pub fn from_parts(id: KeyId, chain: [u8; 32], iteration: u32) -> Self {
        Self {
            id,
            chain,
            iteration,
        }
    }

    /// Its id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The chain key at [`SenderKey::iteration`] (stored, or handed to a member over the
    /// pairwise end-to-end channel; never logged).
    pub fn chain(&self) -> &[u8; 32] {
        &self.chain
    }

    /// The first iteration this chain opens.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The same chain moved forward to `at`: what a member added later is given, so it reads
    /// nothing sealed before.
    pub fn at(&self, at: u32) -> Result<Self, KeyError> {
        Ok(Self {
            id: self.id,
            chain: self.chain_at(at)?,
            iteration: at,
        })
    }

    /// Seals `plain` as the message at iteration `at`, bound to `aad`.
    pub fn seal(&self, at: u32, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = self.message_key(at)?;
        let mut out = plain.to_vec();
        key.seal_in_place_append_tag(nonce(at), aead::Aad::from(aad), &mut out)
            .map_err(|_| KeyError::Open)?;
        Ok(out)
    }

    /// Opens the message sealed at iteration `at` with `aad`.
    pub fn open(&self, at: u32, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = self.message_key(at)?;
        let mut buf = sealed.to_vec();
        let plain = key
            .open_in_place(nonce(at), aead::Aad::from(aad), &mut buf)
            .map_err(|_| KeyError::Open)?;
        Ok(plain.to_vec())
    }

    fn chain_at(&self, at: u32) -> Result<[u8; 32], KeyError> {
        if at < self.iteration {
            return Err(KeyError::Before);
        }
        if at - self.iteration > ROTATE_AFTER {
            return Err(KeyError::TooFar);
        }
        let mut chain = self.chain;
        for _ in self.iteration..at {
            chain = mac(&chain, 0x02);
        }
        Ok(chain)
    }

    fn message_key(&self, at: u32) -> Result<aead::LessSafeKey, KeyError> {
        let key = mac(&self.chain_at(at)?, 0x01);
        let unbound =
            aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &key).map_err(|_| KeyError::Open)?;
        Ok(aead::LessSafeKey::new(unbound))
    }
}

/// HMAC-SHA-256 of one byte under `key`: 0x01 makes a message key, 0x02 the next chain key.
fn mac(key: &[u8; 32], byte: u8) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &[byte]);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Each message key seals one message; the nonce is its iteration all the same.
fn nonce(at: u32) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&at.to_be_bytes());
    aead::Nonce::assume_unique_for_key(n)
}
