//! Owns how one session applies the flood limits (`flood.rs`) and the requests inbox's
//! room: a stranger's chats over its limit are held (not stored, not acked: its node keeps
//! them and sends them again) and the stream is not read until their tokens or an
//! acceptance come; typing, presence and receipts over the limit are dropped; acks and
//! receipts that move nothing cost no database write; each flood is one `throttled` event
//! a minute.

use std::time::Instant;

use super::Event;
use super::conn::Conn;
use super::flood::{self, Kind};
use crate::session::IncomingChat;
use crate::store;

/// How many of `n` chats from a stranger may be stored now: the requests inbox holds at
/// most [`flood::MAX_REQUESTS`] strangers and each at most
/// [`flood::MAX_REQUEST_MESSAGES`] messages until accepted. Runs inside the store job.
pub(super) fn request_room(
    c: &rusqlite::Connection,
    me: &crate::identity::PeerId,
    peer: &crate::identity::PeerId,
    n: usize,
) -> Result<usize, store::StoreError> {
    let known = store::get_contact(c, peer)?.is_some();
    if !known && store::count_requests(c)? >= flood::MAX_REQUESTS {
        return Ok(0);
    }
    let left = flood::MAX_REQUEST_MESSAGES.saturating_sub(store::incoming_count(c, me, peer)?);
    Ok(usize::try_from(left).unwrap_or(usize::MAX).min(n))
}

impl Conn {
    /// Tells the user of a flood (the caller checked it is due).
    fn throttled(&self, kind: Kind) {
        tracing::info!(kind = kind.as_str(), "peer over its flood limit");
        let _ = self.inner.events.send(Event::Throttled {
            peer: self.peer,
            kind: kind.as_str(),
            effect: kind.effect(),
        });
    }

    /// Whether one frame of `kind` may go ahead.
    pub(super) fn allows(&self, kind: Kind) -> bool {
        let (ok, report) =
            super::lock(&self.inner.flood).one(self.peer, kind, self.is_contact, Instant::now());
        if report {
            self.throttled(kind);
        }
        ok
    }

    /// The chats that may be stored now; the rest are held until their tokens come.
    pub(super) fn admit_chats(&mut self, mut chats: Vec<IncomingChat>) -> Vec<IncomingChat> {
        let now = Instant::now();
        let t = super::lock(&self.inner.flood).take(
            self.peer,
            Kind::Messages,
            self.is_contact,
            chats.len(),
            now,
        );
        if t.report {
            self.throttled(Kind::Messages);
        }
        if t.allowed < chats.len() {
            let rest = chats.split_off(t.allowed);
            self.hold(rest, t.next.map(|d| now + d));
        }
        chats
    }

    /// Holds chats (in front of any already held, which came later); `None`: until the
    /// peer is accepted.
    pub(super) fn hold(&mut self, mut chats: Vec<IncomingChat>, resume_at: Option<Instant>) {
        chats.append(&mut self.inbound.held);
        self.inbound.held = chats;
        self.inbound.resume_at = resume_at;
    }

    /// The requests inbox (or this stranger's room in it) is full: its chats wait for the
    /// user to accept it.
    pub(super) fn hold_for_acceptance(&mut self, chats: Vec<IncomingChat>) {
        if chats.is_empty() {
            return;
        }
        if super::lock(&self.inner.flood).report(self.peer, Kind::Messages, Instant::now()) {
            self.throttled(Kind::Messages);
        }
        self.hold(chats, None);
    }

    /// Whether the stream may be read: nothing is held.
    pub(super) fn reading(&self) -> bool {
        self.inbound.held.is_empty()
    }

    /// When held chats are due again, if they wait for time (not for an acceptance).
    pub(super) fn held_until(&self) -> Option<Instant> {
        self.inbound
            .resume_at
            .filter(|_| !self.inbound.held.is_empty())
    }

    /// The held chats, to try again now.
    pub(super) fn release(&mut self) -> Vec<IncomingChat> {
        self.inbound.resume_at = None;
        std::mem::take(&mut self.inbound.held)
    }

    /// After the peer's entry changed: chats that waited for its acceptance are due now.
    pub(super) fn accepted_maybe(&mut self) {
        if self.is_contact && !self.inbound.held.is_empty() {
            self.inbound.resume_at = Some(Instant::now());
        }
    }

    /// Whether an ack moves anything (one that does not costs no database write).
    pub(super) fn new_ack(&mut self, seq: u64) -> bool {
        let new = seq > self.inbound.acked;
        self.inbound.acked = self.inbound.acked.max(seq);
        new
    }

    /// The receipt to apply for `seq`, if it moves anything and is within the limit (one
    /// over it is kept and applied with the next let through).
    pub(super) fn receipt(&mut self, seq: u64) -> Option<u64> {
        let seq = seq.max(self.inbound.read_pending);
        if seq <= self.inbound.read {
            return None;
        }
        if !self.allows(Kind::Receipts) {
            self.inbound.read_pending = seq;
            return None;
        }
        self.inbound.read = seq;
        self.inbound.read_pending = 0;
        Some(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, PeerId};

    fn chat(seq: u64) -> IncomingChat {
        IncomingChat {
            msg_id: *uuid::Uuid::now_v7().as_bytes(),
            seq,
            timestamp_ms: 1,
            text: format!("hello {seq}"),
            incarnation: None,
            base_seq: 0,
        }
    }

    fn key() -> PeerId {
        Identity::generate().peer_id()
    }

    #[test]
    fn a_stranger_gets_a_bounded_room_and_a_full_inbox_takes_no_one_new() {
        let dir = tempfile::tempdir().unwrap();
        let c = store::open_connection(&dir.path().join(store::DB_FILE)).unwrap();
        let (me, stranger) = (key(), key());
        let each = flood::MAX_REQUEST_MESSAGES as usize;
        assert_eq!(request_room(&c, &me, &stranger, 5).unwrap(), 5);
        store::add_request(&c, &stranger).unwrap();
        let chats: Vec<_> = (1..=each as u64 - 3).map(chat).collect();
        store::receive(&c, &me, &stranger, &chats).unwrap();
        // Three places left for this stranger, whatever it sends.
        assert_eq!(request_room(&c, &me, &stranger, 10).unwrap(), 3);
        // A full inbox: no new stranger gets in; those inside keep their room.
        for _ in 1..flood::MAX_REQUESTS {
            store::add_request(&c, &key()).unwrap();
        }
        assert_eq!(request_room(&c, &me, &key(), 1).unwrap(), 0);
        assert_eq!(request_room(&c, &me, &stranger, 10).unwrap(), 3);
    }
}
