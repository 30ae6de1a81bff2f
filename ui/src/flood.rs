//! Owns the flood warnings the app shows: the node's latest `throttled` word per peer (its
//! kind and effect), kept until the user dismisses it, at most [`MAX_WARNINGS`]; and how a
//! warning is worded. Pure: the conversation pane keeps them, the sidebar marks the names.

use std::collections::HashMap;

use natter::PeerId;

/// Warnings kept at most (the oldest goes first): strangers by the thousand cannot grow the
/// app's memory.
pub const MAX_WARNINGS: usize = 100;

/// The node's latest word that a peer floods us (its `throttled` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    /// What they flood with: `messages`, `typing`, `presence`, `receipts` or `files`.
    pub kind: &'static str,
    /// What happens to what is over the limit: `held`, `dropped` or `declined`.
    pub effect: &'static str,
    /// Its place among the warnings kept: higher is newer.
    pub order: u64,
}

/// The peers flooding us, each with its latest warning.
#[derive(Debug, Default)]
pub struct Warnings {
    by_peer: HashMap<PeerId, Flood>,
}

impl Warnings {
    /// The node throttled a peer: its warning replaces the one kept before (the oldest
    /// peer's goes when [`MAX_WARNINGS`] are kept).
    pub fn throttled(&mut self, peer: PeerId, kind: &'static str, effect: &'static str) {
        if self.by_peer.len() >= MAX_WARNINGS && !self.by_peer.contains_key(&peer) {
            let oldest = self.by_peer.iter().min_by_key(|(_, f)| f.order);
            if let Some(p) = oldest.map(|(p, _)| *p) {
                self.by_peer.remove(&p);
            }
        }
        let order = self.by_peer.values().map(|f| f.order + 1).max();
        let flood = Flood {
            kind,
            effect,
            order: order.unwrap_or(0),
        };
        self.by_peer.insert(peer, flood);
    }

    /// The user dismissed a peer's warning.
    pub fn dismiss(&mut self, peer: &PeerId) {
        self.by_peer.remove(peer);
    }

    /// A peer's warning, if one is kept.
    pub fn get(&self, peer: &PeerId) -> Option<&Flood> {
        self.by_peer.get(peer)
    }

    /// Whether a warning is kept for this peer.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.by_peer.contains_key(peer)
    }

    /// How many peers have a warning.
    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// Whether no peer has one.
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }
}

/// The warning shown on a flooding peer's conversation, worded by what the node did
/// (`contact`: whether the peer is one; a stranger's held messages come at once when
/// accepted).
pub fn warning(name: &str, kind: &str, effect: &str, contact: bool) -> String {
    let what = match kind {
        "presence" => "status updates",
        "receipts" => "read receipts",
        "files" => "file offers",
        other => other,
    };
    let happened = match (effect, kind) {
        ("held", _) if contact => {
            "Nothing is lost: their messages will arrive as the limit allows."
        }
        ("held", _) => {
            "Nothing is lost: their messages will arrive as the limit allows, or at once if \
             you accept them."
        }
        ("dropped", "typing") => "Some typing updates were skipped.",
        ("dropped", "presence") => "Some status updates were skipped.",
        ("dropped", "receipts") => "Some read receipts were skipped; the next one covers them.",
        ("dropped", _) => "Some updates were skipped.",
        ("declined", _) => "Some file offers were declined; they can offer them again in a minute.",
        _ => "Some of it waits.",
    };
    format!("⚠ {name} is flooding you ({what}): throttled. {happened}")
}
