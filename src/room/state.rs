//! The room state: a versioned document (name, topic, policy, members and admins) signed by
//! an admin, each version naming the hash of the one before, and the rule that decides
//! whether a member takes a version it is offered (`judge`).

use prost::Message;
use sha2::{Digest, Sha256};

use super::{MAX_BANNED, MAX_MEMBERS, MAX_NAME, MAX_STATE, MAX_TOPIC, RoomId, peer};
use crate::identity::{Identity, PeerId};

/// What a state signature is made over, before the body.
const DOMAIN: &[u8] = b"natter-room-state-v1\0";

/// Who may read a room's messages and how one joins it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, prost::Enumeration)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Invitation only; bodies sealed under the members' sender keys (the default).
    Private = 0,
    /// Anyone may join (rooms part 2); bodies signed, not secret.
    Public = 1,
}

/// A member's standing in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, prost::Enumeration)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and posts.
    Member = 0,
    /// Also signs new versions of the state: invites, removes, promotes, renames.
    Admin = 1,
}

/// One member of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    /// The member's key.
    pub key: PeerId,
    /// Member or admin.
    pub role: Role,
}

/// One version of a room's state, as its signer wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    /// The room.
    pub id: RoomId,
    /// 1 for the creator's first version, then one more for each change.
    pub version: u64,
    /// SHA-256 of the signed bytes of the version before (none for version 1).
    pub prev: Option<[u8; 32]>,
    /// Who made the room (its first signer; only the creator can be its own admin's judge).
    pub creator: PeerId,
    /// The creator's random nonce that, with its key, makes the room id.
    pub nonce: [u8; 16],
    /// The room's name.
    pub name: String,
    /// Its topic (may be empty).
    pub topic: String,
    /// Private or public: fixed at creation.
    pub policy: Policy,
    /// The members in the order they were added, admins marked.
    pub members: Vec<Member>,
    /// Keys an admin banned: none of them may be listed as a member until an admin takes
    /// it off this list (at most [`MAX_BANNED`]).
    pub banned: Vec<PeerId>,
    /// The signer's clock when it signed, milliseconds since the Unix epoch (shown, never
    /// trusted for order: `version` orders).
    pub timestamp_ms: u64,
}

/// A signed version of a room's state: the bytes as they travel and are stored, what they say,
/// who signed them and their hash (which the next version names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedState {
    bytes: Vec<u8>,
    state: RoomState,
    signer: PeerId,
    hash: [u8; 32],
}

/// Why a state document is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// The document is larger than the cap; nothing of it was decoded.
    #[error("a room state of {0} bytes is over the {MAX_STATE}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a state document.
    #[error("malformed room state: {0}")]
    Malformed(String),
    /// The signature is not the named signer's.
    #[error("the room state's signature is not its signer's")]
    BadSignature,
    /// More members than a room can have.
    #[error("a room has at most {MAX_MEMBERS} members")]
    TooManyMembers,
    /// More banned keys than a state may list.
    #[error("a room bans at most {MAX_BANNED} keys")]
    TooManyBanned,
    /// A name or topic over its cap.
    #[error("a room's name is at most {MAX_NAME} bytes and its topic {MAX_TOPIC}")]
    TextTooLong,
    /// The first version is not the creator's, or the id is not the creator's.
    #[error("this is not the first state of the room it names")]
    NotGenesis,
    /// A version that does not follow the one held (other room, version or hash).
    #[error("this state does not follow version {0} of the room")]
    BrokenChain(u64),
    /// Signed by someone who may not make this change.
    #[error("{0} may not make this change to the room")]
    NotAllowed(String),
}

/// What a member does with a version it is offered (see [`judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The next version, signed by someone allowed to make its change: take it.
    Apply,
    /// The version already held.
    Duplicate,
    /// An older version, or another version of one already held: refused (the first valid
    /// version a member takes stands).
    Stale {
        /// The version offered.
        offered: u64,
        /// The version held.
        held: u64,
    },
    /// A later version: the versions from `from` on are needed first.
    Gap {
        /// The first version missing.
        from: u64,
    },
    /// Not a valid successor: refused.
    Refused(StateError),
}

/// What a new version changes for the member's keys and lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Members in the new version who were not in the old one.
    pub added: Vec<PeerId>,
    /// Members of the old version who are not in the new one (left or removed): every
    /// remaining member turns over its sender key.
    pub removed: Vec<PeerId>,
}

impl RoomState {
    /// The first version of a new room, with the creator as its only member and admin.
    pub fn create(
        creator: PeerId,
        nonce: [u8; 16],
        name: &str,
        topic: &str,
        policy: Policy,
        now_ms: u64,
    ) -> Self {
        Self {
            id: RoomId::derive(&creator, &nonce),
            version: 1,
            prev: None,
            creator,
            nonce,
            name: name.to_owned(),
            topic: topic.to_owned(),
            policy,
            members: vec![Member {
                key: creator,
                role: Role::Admin,
            }],
            banned: Vec::new(),
            timestamp_ms: now_ms,
        }
    }

    /// The draft of the next version after `signed` (one more, naming its hash); change it,
    /// then [`RoomState::sign`].
    pub fn next(signed: &SignedState, now_ms: u64) -> Self {
        Self {
            version: signed.state.version + 1,
            prev: Some(signed.hash),
            timestamp_ms: now_ms,
            ..signed.state.clone()
        }
    }

    /// The member entry of `key`, if it is one.
    pub fn member(&self, key: &PeerId) -> Option<&Member> {
        self.members.iter().find(|m| m.key == *key)
    }

    /// Whether `key` is an admin.
    pub fn is_admin(&self, key: &PeerId) -> bool {
        self.member(key).is_some_and(|m| m.role == Role::Admin)
    }

    /// Adds a member (no change if it is one already).
    pub fn add(&mut self, key: PeerId) {
        if self.member(&key).is_none() {
            self.members.push(Member {
                key,
                role: Role::Member,
            });
        }
    }

    /// Removes a member (no change if it is none).
    pub fn remove(&mut self, key: &PeerId) {
        self.members.retain(|m| m.key != *key);
    }

    /// Bans a key: removed if it is a member, and listed as banned.
    pub fn ban(&mut self, key: PeerId) {
        self.remove(&key);
        if !self.banned.contains(&key) {
            self.banned.push(key);
        }
    }

    /// Whether `key` is banned.
    pub fn is_banned(&self, key: &PeerId) -> bool {
        self.banned.contains(key)
    }

    /// Makes a member an admin.
    pub fn promote(&mut self, key: &PeerId) {
        if let Some(m) = self.members.iter_mut().find(|m| m.key == *key) {
            m.role = Role::Admin;
        }
    }

    /// Signs this version: checks the caps, encodes and signs. The signer's right to make
    /// the change is the receivers' check ([`judge`]); the node checks it first too.
    pub fn sign(&self, identity: &Identity) -> Result<SignedState, StateError> {
        self.check()?;
        let body = wire::Body::from(self).encode_to_vec();
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&body);
        let bytes = wire::Signed {
            body,
            signer: identity.peer_id().as_bytes().to_vec(),
            sig: identity.sign(&msg).to_vec(),
        }
        .encode_to_vec();
        SignedState::decode(&bytes)
    }

    /// The caps and the member list's form: unique keys, at most [`MAX_MEMBERS`].
    fn check(&self) -> Result<(), StateError> {
        if self.members.len() > MAX_MEMBERS {
            return Err(StateError::TooManyMembers);
        }
        if self.banned.len() > MAX_BANNED {
            return Err(StateError::TooManyBanned);
        }
        if self.name.len() > MAX_NAME || self.topic.len() > MAX_TOPIC {
            return Err(StateError::TextTooLong);
        }
        for (i, m) in self.members.iter().enumerate() {
            if self.members[..i].iter().any(|o| o.key == m.key) {
                return Err(StateError::Malformed("a member is listed twice".into()));
            }
            if self.banned.contains(&m.key) {
                return Err(StateError::Malformed(
                    "a banned key is listed as a member".into(),
                ));
            }
        }
        for (i, k) in self.banned.iter().enumerate() {
            if self.banned[..i].contains(k) {
                return Err(StateError::Malformed("a key is banned twice".into()));
            }
        }
        if self.version == 0 {
            return Err(StateError::Malformed("version 0".into()));
        }
        Ok(())
    }

    /// Everything but the members and the chain fields: what a self-leave must keep.
    fn same_settings(&self, other: &Self) -> bool {
        self.name == other.name
            && self.topic == other.topic
            && self.policy == other.policy
            && self.banned == other.banned
    }
}

impl SignedState {
    /// Reads signed state bytes: the cap first, then the document, its fields and the
    /// signature. Whether the signer may sign it is [`judge`]'s question.
    pub fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.len() > MAX_STATE {
            return Err(StateError::TooLarge(bytes.len()));
        }
        let malformed = |e: prost::DecodeError| StateError::Malformed(e.to_string());
        let signed = wire::Signed::decode(bytes).map_err(malformed)?;
        let signer =
            peer(&signed.signer).ok_or_else(|| StateError::Malformed("signer key".into()))?;
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&signed.body);
        if !signer.verify(&msg, &signed.sig) {
            return Err(StateError::BadSignature);
        }
        let state = wire::Body::decode(signed.body.as_slice())
            .map_err(malformed)?
            .into_state()?;
        state.check()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            state,
            signer,
            hash: Sha256::digest(bytes).into(),
        })
    }

    /// The bytes as they travel and are stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What the document says.
    pub fn state(&self) -> &RoomState {
        &self.state
    }

    /// Who signed it.
    pub fn signer(&self) -> PeerId {
        self.signer
    }

    /// SHA-256 of the bytes: what the next version names as `prev`.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The room's version.
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// What this version changes after `before`.
    pub fn change_since(&self, before: &RoomState) -> Change {
        let keys = |s: &RoomState| s.members.iter().map(|m| m.key).collect::<Vec<_>>();
        let (old, new) = (keys(before), keys(&self.state));
        Change {
            added: new.iter().filter(|k| !old.contains(k)).copied().collect(),
            removed: old.iter().filter(|k| !new.contains(k)).copied().collect(),
        }
    }
}

/// Whether a member holding `held` (none: it holds nothing of the room yet) takes `offered`.
///
/// - Version 1 is the creator's: signed by the key the room id was made from, which is its
///   one admin member.
/// - Version n + 1 names the hash of version n, keeps the room's id, creator, nonce and
///   policy, and is signed by an admin of version n; an admin other than the creator may not
///   remove or demote the creator. A member who is no admin may sign exactly one change: its
///   own leave.
/// - Anything else at or below the held version is stale: the first valid version a member
///   takes stands (a removed member replaying an old version changes nothing).
pub fn judge(held: Option<&SignedState>, offered: &SignedState) -> Verdict {
    let Some(held) = held else {
        return match offered.version() {
            1 => match genesis(offered) {
                Ok(()) => Verdict::Apply,
                Err(e) => Verdict::Refused(e),
            },
            _ => Verdict::Gap { from: 1 },
        };
    };
    let (h, o) = (held.version(), offered.version());
    if o <= h {
        if o == h && offered.hash == held.hash {
            return Verdict::Duplicate;
        }
        return Verdict::Stale {
            offered: o,
            held: h,
        };
    }
    if o > h + 1 {
        return Verdict::Gap { from: h + 1 };
    }
    match successor(held, offered) {
        Ok(()) => Verdict::Apply,
        Err(e) => Verdict::Refused(e),
    }
}

fn genesis(s: &SignedState) -> Result<(), StateError> {
    let st = &s.state;
    let only_creator = st.members.len() == 1 && st.is_admin(&st.creator);
    if st.prev.is_some()
        || s.signer != st.creator
        || st.id != RoomId::derive(&st.creator, &st.nonce)
        || !only_creator
    {
        return Err(StateError::NotGenesis);
    }
    Ok(())
}

fn successor(held: &SignedState, offered: &SignedState) -> Result<(), StateError> {
    let (old, new) = (&held.state, &offered.state);
    if new.id != old.id
        || new.creator != old.creator
        || new.nonce != old.nonce
        || new.policy != old.policy
        || new.prev != Some(held.hash)
    {
        return Err(StateError::BrokenChain(old.version));
    }
    let signer = offered.signer;
    let not_allowed = || StateError::NotAllowed(signer.to_string());
    if old.is_admin(&signer) {
        let creator_kept = new.is_admin(&old.creator) || !old.is_admin(&old.creator);
        if signer != old.creator && !creator_kept {
            return Err(not_allowed());
        }
        return Ok(());
    }
    // A member's own leave: the list without it, nothing else changed.
    let mut without = old.members.clone();
    without.retain(|m| m.key != signer);
    if old.member(&signer).is_some() && new.members == without && new.same_settings(old) {
        return Ok(());
    }
    Err(not_allowed())
}

/// The Protocol Buffers form (PROTOCOL.md, "Rooms").
mod wire {
    use prost::Message;

    use super::{Member, Policy, Role, RoomState, StateError, peer};
    use crate::room::RoomId;

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct Signed {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) body: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) signer: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub(super) sig: Vec<u8>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct Body {
        #[prost(bytes = "vec", tag = "1")]
        room: Vec<u8>,
        #[prost(uint64, tag = "2")]
        version: u64,
        #[prost(bytes = "vec", tag = "3")]
        prev: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        creator: Vec<u8>,
        #[prost(bytes = "vec", tag = "5")]
        nonce: Vec<u8>,
        #[prost(string, tag = "6")]
        name: String,
        #[prost(string, tag = "7")]
        topic: String,
        #[prost(enumeration = "Policy", tag = "8")]
        policy: i32,
        #[prost(message, repeated, tag = "9")]
        members: Vec<MemberEntry>,
        #[prost(uint64, tag = "10")]
        timestamp_ms: u64,
        #[prost(bytes = "vec", repeated, tag = "11")]
        banned: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(super) struct MemberEntry {
        #[prost(bytes = "vec", tag = "1")]
        key: Vec<u8>,
        #[prost(enumeration = "Role", tag = "2")]
        role: i32,
    }

    impl From<&RoomState> for Body {
        fn from(s: &RoomState) -> Self {
            Self {
                room: s.id.as_bytes().to_vec(),
                version: s.version,
                prev: s.prev.map(|p| p.to_vec()).unwrap_or_default(),
                creator: s.creator.as_bytes().to_vec(),
                nonce: s.nonce.to_vec(),
                name: s.name.clone(),
                topic: s.topic.clone(),
                policy: s.policy as i32,
                members: s
                    .members
                    .iter()
                    .map(|m| MemberEntry {
                        key: m.key.as_bytes().to_vec(),
                        role: m.role as i32,
                    })
                    .collect(),
                timestamp_ms: s.timestamp_ms,
                banned: s.banned.iter().map(|k| k.as_bytes().to_vec()).collect(),
            }
        }
    }

    impl Body {
        pub(super) fn into_state(self) -> Result<RoomState, StateError> {
            let bad = |what: &str| StateError::Malformed(what.to_owned());
            let prev = match self.prev.len() {
                0 => None,
                _ => Some(
                    self.prev
                        .as_slice()
                        .try_into()
                        .map_err(|_| bad("prev hash"))?,
                ),
            };
            if self.members.len() > super::MAX_MEMBERS {
                return Err(StateError::TooManyMembers);
            }
            if self.banned.len() > super::MAX_BANNED {
                return Err(StateError::TooManyBanned);
            }
            let banned = self
                .banned
                .iter()
                .map(|k| peer(k).ok_or_else(|| bad("banned key")))
                .collect::<Result<Vec<_>, StateError>>()?;
            let members = self
                .members
                .iter()
                .map(|m| {
                    Ok(Member {
                        key: peer(&m.key).ok_or_else(|| bad("member key"))?,
                        role: Role::try_from(m.role).map_err(|_| bad("role"))?,
                    })
                })
                .collect::<Result<Vec<_>, StateError>>()?;
            Ok(RoomState {
                id: RoomId::from_slice(&self.room).ok_or_else(|| bad("room id"))?,
                version: self.version,
                prev,
                creator: peer(&self.creator).ok_or_else(|| bad("creator key"))?,
                nonce: self.nonce.as_slice().try_into().map_err(|_| bad("nonce"))?,
                name: self.name,
                topic: self.topic,
                policy: Policy::try_from(self.policy).map_err(|_| bad("policy"))?,
                members,
                banned,
                timestamp_ms: self.timestamp_ms,
            })
        }
    }
}
