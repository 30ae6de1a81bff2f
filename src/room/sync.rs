//! What two members compare to catch up: per-author sequence vectors (the highest sequence
//! number held of each author, with nothing missing below it), what to do with a message that
//! arrives, the gaps one side can fill for the other, and the display order every member
//! shares.

use std::collections::BTreeMap;

use super::RoomMessage;
use crate::identity::PeerId;

/// For each author, the highest sequence number held with every lower one held too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vector(BTreeMap<PeerId, u64>);

impl Vector {
    /// The highest sequence number held of `author` (0: none).
    pub fn get(&self, author: &PeerId) -> u64 {
        self.0.get(author).copied().unwrap_or(0)
    }

    /// Records that every message of `author` up to `seq` is held.
    pub fn set(&mut self, author: PeerId, seq: u64) {
        if seq > 0 {
            self.0.insert(author, seq);
        }
    }

    /// The authors and their positions, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &u64)> {
        self.0.iter()
    }

    /// How many authors it names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it names none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(PeerId, u64)> for Vector {
    fn from_iter<I: IntoIterator<Item = (PeerId, u64)>>(iter: I) -> Self {
        let mut v = Self::default();
        for (author, seq) in iter {
            v.set(author, seq);
        }
        v
    }
}

/// What a member does with an author's message `seq` when it holds that author's messages up
/// to `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one: store it (once: the store keys it by room, author and seq).
    Store,
    /// Held already: a re-send or a replay; nothing is stored twice.
    Duplicate,
    /// A later one with messages missing before it: not stored now (per-author order is
    /// kept); the next catch-up fetches the gap, this one included.
    Gap,
}

/// See [`Arrival`].
pub fn arrival(held: u64, seq: u64) -> Arrival {
    if seq <= held {
        Arrival::Duplicate
    } else if seq == held + 1 {
        Arrival::Store
    } else {
        Arrival::Gap
    }
}

/// The messages `ours` holds that `theirs` lacks: for each author, the sequence numbers
/// after `theirs` up to `ours` (inclusive), in author order.
pub fn gaps(ours: &Vector, theirs: &Vector) -> Vec<(PeerId, u64, u64)> {
    ours.iter()
        .filter_map(|(author, &held)| {
            let known = theirs.get(author);
            (held > known).then_some((*author, known + 1, held))
        })
        .collect()
}

/// The order every member shows a room's messages in, whatever order they arrived in: the
/// Lamport clock, then the author's key, then its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// The message's Lamport clock.
    pub lamport: u64,
    /// The author's key bytes.
    pub author: [u8; 32],
    /// The author's sequence number.
    pub seq: u64,
}

impl OrderKey {
    /// A message's place.
    pub fn of(m: &RoomMessage) -> Self {
        Self {
            lamport: m.lamport(),
            author: *m.author().as_bytes(),
            seq: m.seq(),
        }
    }
}
