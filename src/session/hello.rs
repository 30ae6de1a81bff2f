//! The `Hello` exchange: versions and features intersected, the peer's positions checked
//! against our incarnation, and what the session agreed on.

use super::delivery::Incarnation;
use super::{
    FEATURE_TEXT, GoodbyeCode, MAX_VIA, Session, SessionError, SessionEvent, State, Status,
    incarnation_of, wire,
};

/// What the session agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Protocol version in use.
    pub version: u32,
    /// Features both sides have.
    pub features: Vec<String>,
    /// The peer's boot id.
    pub peer_boot_id: Vec<u8>,
    /// The peer's incarnation (None from a build before incarnations).
    pub peer_incarnation: Option<Incarnation>,
    /// Highest seq of our messages the peer has stored; 0 when the peer counted another
    /// incarnation of ours (it knows nothing of this one).
    pub peer_acked_seq: u64,
    /// Highest seq of our messages the peer has read (0 likewise).
    pub peer_read_seq: u64,
    /// Peer presence.
    pub status: Status,
    /// Peer status text.
    pub status_text: String,
    /// The path the peer announced ("" from builds before relays).
    pub peer_path: String,
    /// The relay the peer announced.
    pub peer_via: String,
}

impl Negotiated {
    /// Whether a feature is in use.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

impl Session {
    pub(super) fn handle_hello(&mut self, h: wire::Hello) {
        let ours = self.config.versions;
        let theirs = (h.min_version, h.max_version);
        let lo = ours.0.max(theirs.0);
        let hi = ours.1.min(theirs.1);
        if lo > hi {
            return self.fail(
                GoodbyeCode::NoCommonVersion,
                SessionError::NoCommonVersion { ours, theirs },
            );
        }
        if h.session_id != self.config.session_id {
            return self.fail(GoodbyeCode::SessionMismatch, SessionError::SessionMismatch);
        }
        let features: Vec<String> = self
            .config
            .features
            .iter()
            .filter(|f| h.features.iter().any(|g| g == *f))
            .cloned()
            .collect();
        if !features.iter().any(|f| f == FEATURE_TEXT) {
            return self.fail(
                GoodbyeCode::NoCommonFeatures,
                SessionError::NoCommonFeatures {
                    missing: FEATURE_TEXT.into(),
                },
            );
        }
        let (Ok(peer_incarnation), Ok(acked_incarnation)) = (
            incarnation_of(&h.incarnation),
            incarnation_of(&h.acked_incarnation),
        ) else {
            return self.fail(
                GoodbyeCode::ProtocolError,
                SessionError::Protocol("an incarnation is not 16 bytes".into()),
            );
        };
        // The peer's positions count in the incarnation it names: if that is not ours (we
        // started over on a new database), they say nothing about our messages.
        let ours = acked_incarnation == Some(self.config.incarnation);
        if !ours && (h.acked_seq > 0 || h.read_seq > 0) {
            tracing::debug!(
                acked = h.acked_seq,
                "the peer's ack counts another incarnation of ours; ignored"
            );
        }
        let negotiated = Negotiated {
            version: hi,
            features,
            peer_boot_id: h.boot_id,
            peer_incarnation,
            peer_acked_seq: if ours { h.acked_seq } else { 0 },
            peer_read_seq: if ours { h.read_seq } else { 0 },
            status: Status::try_from(h.status).unwrap_or(Status::Online),
            status_text: h.status_text.chars().take(200).collect(),
            peer_path: h.path.chars().take(MAX_VIA).collect(),
            peer_via: h.via.chars().take(MAX_VIA).collect(),
        };
        self.state = State::Established(negotiated.clone());
        self.window.established();
        self.events.push_back(SessionEvent::Established(negotiated));
    }
}
