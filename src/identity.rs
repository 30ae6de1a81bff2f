//! Owns who a node is: the ed25519 identity key pair in the profile folder, the [`PeerId`]
//! that names a peer, its text form, short fingerprints and the safety number of a pair.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};

/// File name of the identity key inside a profile folder.
pub const KEY_FILE: &str = "identity.pem";

/// Length of a PeerId's text form.
const TEXT_LEN: usize = 55;

/// A peer's public identity: its ed25519 public key.
///
/// The text form is lowercase base32 (RFC 4648, no padding) of the 32 key bytes followed by a
/// 2-byte checksum, so a mistyped ID is caught before it is dialled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; 32]);

/// Why a text is not a valid PeerId.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeerIdError {
    /// The text has the wrong number of characters.
    #[error("a Natter ID has {TEXT_LEN} characters, this one has {0}")]
    Length(usize),
    /// The text holds characters outside the base32 alphabet.
    #[error("a Natter ID uses only the letters a-z and digits 2-7")]
    Alphabet,
    /// The checksum does not match: a typo or a truncated copy.
    #[error("this Natter ID has a typo (its checksum does not match)")]
    Checksum,
    /// The bytes are not a valid ed25519 public key.
    #[error("this Natter ID is not a valid public key")]
    NotAKey,
}

impl PeerId {
    /// Whether `sig` is this key's signature of `msg` (strict verification: no malleable
    /// or small-order forms).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Ok(key), Ok(sig)) = (self.verifying_key(), Signature::from_slice(sig)) else {
            return false;
        };
        key.verify_strict(msg, &sig).is_ok()
    }

    /// The PeerId of raw public key bytes (checked to be a valid ed25519 point).
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, PeerIdError> {
        VerifyingKey::from_bytes(&bytes).map_err(|_| PeerIdError::NotAKey)?;
        Ok(Self(bytes))
    }

    /// Bytes used only to find a known key (a map lookup): not checked to be a curve point,
    /// so the result must never be used to verify a signature or to dial.
    #[cfg(feature = "server")]
    pub(crate) fn for_lookup(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ed25519 verifying key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, PeerIdError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| PeerIdError::NotAKey)
    }

    fn checksum(bytes: &[u8; 32]) -> [u8; 2] {
        let digest = Sha256::new()
            .chain_update(b"natter-id-v1")
            .chain_update(bytes)
            .finalize();
        [digest[0], digest[1]]
    }

    /// A short fingerprint for display: the first 8 bytes of SHA-256 of the key, hex, grouped.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        digest[..8]
            .chunks(2)
            .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 34];
        raw[..32].copy_from_slice(&self.0);
        raw[32..].copy_from_slice(&Self::checksum(&self.0));
        f.write_str(&BASE32_NOPAD.encode(&raw).to_ascii_lowercase())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_string();
        write!(f, "PeerId({})", &s[..10])
    }
}

impl PeerId {
    /// Reads the text form of an id this node stored itself (its database): the checksum is
    /// checked, the curve point is not (that costs ~20 µs; every use of the key as a key,
    /// `verifying_key`, still checks it). Input from outside goes through `parse`.
    pub fn from_stored(s: &str) -> Result<Self, PeerIdError> {
        Ok(Self(Self::decode(s)?))
    }

    fn decode(s: &str) -> Result<[u8; 32], PeerIdError> {
        // Pasted IDs may be grouped or wrapped: spaces and line breaks are ignored.
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s.as_str();
        let chars = s.chars().count();
        if chars != TEXT_LEN {
            return Err(PeerIdError::Length(chars));
        }
        if s.len() != TEXT_LEN {
            return Err(PeerIdError::Alphabet);
        }
        let upper = s.to_ascii_uppercase();
        let raw = BASE32_NOPAD
            .decode(upper.as_bytes())
            .map_err(|_| PeerIdError::Alphabet)?;
        let (key, sum) = raw.split_at(32);
        let key: [u8; 32] = key.try_into().map_err(|_| PeerIdError::Alphabet)?;
        if sum != Self::checksum(&key) {
            return Err(PeerIdError::Checksum);
        }
        Ok(key)
    }
}

impl PeerId {
    /// The link that opens Natter's add-contact screen with this ID.
    pub fn invite_link(&self) -> String {
        format!("natter://add/{self}")
    }

    /// The Natter ID in an invite link, `natter://add/<ID>` (or `natter:<ID>`), if it is one.
    pub fn from_invite_link(link: &str) -> Option<Self> {
        let rest = link.trim().strip_prefix("natter:")?.trim_start_matches('/');
        let id = rest
            .strip_prefix("add/")
            .unwrap_or(rest)
            .trim_end_matches('/');
        id.parse().ok()
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(Self::decode(s)?)
    }
}

impl serde::Serialize for PeerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PeerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The safety number of two keys: 60 digits in 12 groups of 5, the same on both sides.
pub fn safety_number(a: &PeerId, b: &PeerId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha512::new()
        .chain_update(b"natter-safety-v1")
        .chain_update(lo.0)
        .chain_update(hi.0)
        .finalize();
    digest[..60]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The profile folder or key file could not be read or written.
    #[error("cannot {action} {path}: {source}. Check that the folder exists and is writable")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Other users of this computer can read the key file.
    #[error(
        "the identity file {path} can be read by other users of this computer (mode {mode:o}); whoever reads it can be you. Run `chmod 600 {path}` and start again (if others may have copied it, make a new identity and tell your contacts)"
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file exists but is not a valid identity. It is left untouched.
    #[error(
        "the identity file {path} is damaged ({reason}); it was left untouched. Restore it from a backup, or move it away to create a new identity (contacts will see a new key)"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A key file others can read is refused, as ssh refuses one (Unix only).
fn refuse_exposed(path: &Path) -> Result<(), IdentityError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|source| IdentityError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(IdentityError::Exposed {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A node's own identity: the ed25519 signing key.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh random identity (not saved).
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        // getrandom only fails when the OS has no entropy source at all.
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The identity of a fixed seed, for fuzz targets and tests that need the same keys on
    /// every run (never for a real profile).
    #[cfg(any(test, feature = "testing"))]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Loads the identity of a profile folder, creating it (mode 0600) on first use.
    ///
    /// An existing key file is never overwritten: a damaged one is an error.
    pub fn load_or_create(profile: &Path) -> Result<Self, IdentityError> {
        let path = profile.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(pem) => {
                let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| IdentityError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                refuse_exposed(&path)?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::profile::make_private(profile).map_err(|source| IdentityError::Io {
                    action: "create the profile folder",
                    path: profile.to_path_buf(),
                    source,
                })?;
                let identity = Self::generate();
                match identity.save_new(&path) {
                    Ok(()) => Ok(identity),
                    // Another process (a CLI command, the app) created it first: use that one.
                    Err(IdentityError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Self::load_or_create(profile)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(source) => Err(IdentityError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn save_new(&self, path: &Path) -> Result<(), IdentityError> {
        let pem = self
            .key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| IdentityError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let io = |source| IdentityError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        // Written whole to a private temporary file, then linked into place without replacing
        // anything: a reader never sees half a key, and two first starts cannot both win.
        let mut suffix = [0u8; 6];
        let _ = getrandom::fill(&mut suffix);
        let tmp = path.with_extension(format!("tmp-{}", data_encoding::HEXLOWER.encode(&suffix)));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut file| {
            file.write_all(pem.as_bytes())?;
            file.sync_all()
        });
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        linked.map_err(io)
    }

    /// This identity's PeerId.
    pub fn peer_id(&self) -> PeerId {
        PeerId(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg` (callers prefix a context string of their own, so a signature made for one
    /// purpose is never valid for another).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// A secret only this identity and `other` can compute: X25519 of the two keys in their
    /// Montgomery form, hashed with both keys in a fixed order. Used for pairwise lookup
    /// tokens at the rendezvous, never as an encryption key.
    pub fn pair_secret(&self, other: &PeerId, context: &[u8]) -> Option<[u8; 32]> {
        let theirs = other.verifying_key().ok()?.to_montgomery();
        let shared = theirs * self.key.to_scalar();
        if shared.to_bytes() == [0u8; 32] {
            return None;
        }
        let me = self.peer_id();
        let (lo, hi) = if me.as_bytes() <= other.as_bytes() {
            (me, *other)
        } else {
            (*other, me)
        };
        let mut h = Sha256::new();
        h.update(context);
        h.update(lo.as_bytes());
        h.update(hi.as_bytes());
        h.update(shared.to_bytes());
        Some(h.finalize().into())
    }

    /// The private key as PKCS#8 DER (for the TLS stack).
    pub(crate) fn pkcs8_der(&self) -> Vec<u8> {
        match self.key.to_pkcs8_der() {
            Ok(doc) => doc.as_bytes().to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_secrets_agree_and_differ_per_pair() {
        let (a, b, c) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let ab = a.pair_secret(&b.peer_id(), b"t").unwrap();
        assert_eq!(Some(ab), b.pair_secret(&a.peer_id(), b"t"));
        assert_ne!(Some(ab), a.pair_secret(&c.peer_id(), b"t"));
        assert_ne!(Some(ab), a.pair_secret(&b.peer_id(), b"u"));
    }

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let sig = a.sign(b"hello");
        assert!(a.peer_id().verify(b"hello", &sig));
        assert!(!a.peer_id().verify(b"hellO", &sig));
        assert!(!b.peer_id().verify(b"hello", &sig));
        assert!(!a.peer_id().verify(b"hello", &sig[..63]));
    }

    #[test]
    fn peer_id_text_round_trips() {
        let id = Identity::generate().peer_id();
        let text = id.to_string();
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(text.parse::<PeerId>(), Ok(id));
        assert_eq!(text.to_uppercase().parse::<PeerId>(), Ok(id));
        let grouped = format!(" {} \n{} ", &text[..20], &text[20..]);
        assert_eq!(grouped.parse::<PeerId>(), Ok(id));
    }

    #[test]
    fn bad_peer_ids_are_rejected_with_a_reason() {
        let text = Identity::generate().peer_id().to_string();
        assert_eq!("abc".parse::<PeerId>(), Err(PeerIdError::Length(3)));
        let mut typo = text.clone().into_bytes();
        typo[5] = if typo[5] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap_or_default();
        assert_eq!(typo.parse::<PeerId>(), Err(PeerIdError::Checksum));
        let bad = format!("{}1", &text[..TEXT_LEN - 1]);
        assert_eq!(bad.parse::<PeerId>(), Err(PeerIdError::Alphabet));
    }

    /// Found by fuzzing (`natter_id`): the length was checked in bytes and reported in
    /// characters, so 55 characters of which one is not ASCII were refused as "this one
    /// has 55".
    #[test]
    fn a_55_character_id_with_a_foreign_letter_is_an_alphabet_error() {
        let text = Identity::generate().peer_id().to_string();
        let foreign = format!("{}é", &text[..TEXT_LEN - 1]);
        assert_eq!(foreign.parse::<PeerId>(), Err(PeerIdError::Alphabet));
        let err = format!("{}é", &text[..TEXT_LEN - 2]).parse::<PeerId>();
        assert_eq!(err, Err(PeerIdError::Length(54)));
    }

    #[test]
    fn invite_links_name_an_id_or_nothing() {
        let id = Identity::generate().peer_id();
        assert_eq!(PeerId::from_invite_link(&id.invite_link()), Some(id));
        assert_eq!(
            PeerId::from_invite_link(&format!(" natter:{id}/ ")),
            Some(id)
        );
        assert_eq!(PeerId::from_invite_link("natter://add/not-an-id"), None);
        assert_eq!(PeerId::from_invite_link(&format!("https://x/{id}")), None);
    }

    #[test]
    fn stored_ids_skip_only_the_curve_check() {
        let id = Identity::generate().peer_id();
        let text = id.to_string();
        assert_eq!(PeerId::from_stored(&text).unwrap(), id);
        // A damaged row still fails: one character changed breaks the checksum.
        let mut damaged = text.clone().into_bytes();
        damaged[3] = if damaged[3] == b'a' { b'b' } else { b'a' };
        let damaged = String::from_utf8(damaged).unwrap();
        assert!(PeerId::from_stored(&damaged).is_err());
        assert!(PeerId::from_stored("short").is_err());
    }

    #[test]
    fn safety_number_is_symmetric_and_pair_specific() {
        let a = Identity::generate().peer_id();
        let b = Identity::generate().peer_id();
        let c = Identity::generate().peer_id();
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        assert_ne!(ab, safety_number(&a, &c));
        assert_eq!(ab.split(' ').count(), 12);
        assert!(ab.split(' ').all(|g| g.len() == 5));
    }

    #[test]
    fn identity_is_created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn first_starts_racing_each_other_agree_on_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<PeerId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Identity::load_or_create(dir.path()).unwrap().peer_id()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from(KEY_FILE)],
            "no temporary files left"
        );
    }

    #[test]
    fn corrupt_key_file_is_an_error_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::write(&path, "not a key").unwrap();
        let err = Identity::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[cfg(unix)]
    #[test]
    fn read_only_profile_folder_is_a_clear_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
        // root ignores permission bits: then use a folder of a read-only file system instead.
        let ro = if fs::write(ro.join("probe"), b"x").is_ok() {
            PathBuf::from("/sys/natter-read-only-profile")
        } else {
            ro
        };
        let err = Identity::load_or_create(&ro).unwrap_err();
        assert!(matches!(err, IdentityError::Io { .. }), "{err}");
        assert!(err.to_string().contains("writable"));
    }
}
