//! Owns the sending half of delivery on one session: incarnations, the outbox window (which
//! messages this session has written, when the next window of the outbox is worth reading)
//! and the one-session-per-peer rule. The store keeps what is durable (the outbox, the
//! receiver's position); this decides what to ask of it and when. No I/O: the connection
//! task answers [`Session::poll_outbox`] with [`Session::handle_outbox`].

use super::{MAX_TEXT, Session, SessionError};
use crate::identity::PeerId;
use crate::wire::{self, Frame};

/// Most outbox messages read into a session at once (small messages: a burst of sends goes
/// out in few store round trips).
pub const FLUSH_WINDOW: usize = 512;
/// The next window is read only while less than this waits in the session to be written:
/// a long outbox goes out in bounded windows and the stream keeps being read meanwhile.
pub const FLUSH_ROOM: usize = 256 * 1024;

/// A side's incarnation in a conversation: 16 random bytes made with its conversation row.
/// Sequence numbers count within one incarnation; a new one (a new database) starts at 1.
pub type Incarnation = [u8; 16];

/// A message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingChat {
    /// Message id (UUIDv7 bytes).
    pub msg_id: [u8; 16],
    /// Sender's sequence number.
    pub seq: u64,
    /// Sender's timestamp, ms.
    pub timestamp_ms: u64,
    /// Text.
    pub text: String,
    /// The sender's incarnation the seq counts in (None: a build before incarnations).
    pub incarnation: Option<Incarnation>,
    /// Seqs below this that the receiver lacks will never come (0: no promise).
    pub base_seq: u64,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingChat {
    /// Message id.
    pub msg_id: [u8; 16],
    /// Our sequence number.
    pub seq: u64,
    /// Our timestamp, ms.
    pub timestamp_ms: u64,
    /// Text.
    pub text: String,
    /// The lowest seq still in our outbox when this was read: nothing below it that the
    /// peer lacks will be sent (see [`wire::Chat::base_seq`]).
    pub base_seq: u64,
}

/// A read of the outbox the session asks for: up to `limit` messages after seq `after`,
/// stopping after the message that brings the texts to `max_bytes` (large messages: a
/// window stays near [`FLUSH_ROOM`] in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxRead {
    /// The highest seq this session has written.
    pub after: u64,
    /// Most messages to read.
    pub limit: usize,
    /// The read ends once its texts reach this many bytes.
    pub max_bytes: usize,
}

/// Where this session's sending stands.
#[derive(Debug, Default)]
pub(super) struct SendWindow {
    /// The highest seq written on this session.
    last_sent: u64,
    /// The outbox may hold messages this session has not written.
    wanted: bool,
    /// A read was handed out and not answered yet.
    reading: Option<OutboxRead>,
}

impl SendWindow {
    /// A new session starts with the whole outbox to send.
    pub(super) fn established(&mut self) {
        self.wanted = true;
    }
}

impl Session {
    /// Queues a chat message. Only once established; text capped at [`MAX_TEXT`].
    pub fn send_chat(&mut self, msg: &OutgoingChat) -> Result<(), SessionError> {
        if self.negotiated().is_none() {
            return Err(SessionError::Protocol("session not established".into()));
        }
        if msg.text.len() > MAX_TEXT {
            return Err(SessionError::Protocol(format!(
                "message of {} bytes is over the {MAX_TEXT}-byte limit",
                msg.text.len()
            )));
        }
        self.queue(&Frame::Chat(wire::Chat {
            msg_id: msg.msg_id.to_vec(),
            conversation: self.conversation.to_vec(),
            seq: msg.seq,
            timestamp_ms: msg.timestamp_ms,
            text: msg.text.clone(),
            // The Hello named it: not repeated in every message.
            incarnation: Vec::new(),
            base_seq: msg.base_seq,
        }));
        Ok(())
    }

    /// New messages are in the outbox.
    pub fn outbox_changed(&mut self) {
        self.window.wanted = true;
    }

    /// A message just committed to the outbox, handed over with its row: written at once,
    /// with no outbox read, when it is the next after what this session has written (and
    /// there is room); otherwise the outbox is read for it as after
    /// [`Session::outbox_changed`]. Returns whether it was written. An outbox read already
    /// under way skips it in its answer ([`Session::handle_outbox`] writes a seq once).
    pub fn outbox_queued(&mut self, msg: &OutgoingChat) -> bool {
        let next = msg.seq == self.window.last_sent + 1;
        if !next || self.queued >= FLUSH_ROOM || self.send_chat(msg).is_err() {
            self.window.wanted = true;
            return false;
        }
        self.window.last_sent = msg.seq;
        true
    }

    /// The next outbox read to do, if any: only once established, one at a time, and only
    /// while less than [`FLUSH_ROOM`] waits to be written.
    pub fn poll_outbox(&mut self) -> Option<OutboxRead> {
        let w = &self.window;
        if !w.wanted
            || w.reading.is_some()
            || self.queued >= FLUSH_ROOM
            || self.negotiated().is_none()
        {
            return None;
        }
        let read = OutboxRead {
            after: w.last_sent,
            limit: FLUSH_WINDOW,
            max_bytes: FLUSH_ROOM,
        };
        self.window.wanted = false;
        self.window.reading = Some(read);
        Some(read)
    }

    /// The answer to the read [`Session::poll_outbox`] handed out: writes each message not
    /// yet written on this session, in order, and returns their ids. A full window means
    /// more may wait: the next read follows once there is room. An empty answer (or a
    /// failed read) leaves the rest until the outbox changes again.
    pub fn handle_outbox(&mut self, messages: &[OutgoingChat]) -> Vec<[u8; 16]> {
        let Some(read) = self.window.reading.take() else {
            return Vec::new();
        };
        let mut sent = Vec::new();
        for m in messages {
            if m.seq <= self.window.last_sent {
                continue;
            }
            if let Err(e) = self.send_chat(m) {
                tracing::warn!(error = %e, "message not sent");
                return sent;
            }
            self.window.last_sent = m.seq;
            sent.push(m.msg_id);
        }
        let bytes: usize = messages.iter().map(|m| m.text.len()).sum();
        self.window.wanted |= messages.len() >= read.limit || bytes >= read.max_bytes;
        sent
    }

    /// Bytes queued and not yet taken by [`Session::poll_transmit`].
    #[cfg(any(test, feature = "testing"))]
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }
}

/// The connection that holds a peer's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// Who dialled it.
    pub dialer: PeerId,
    /// The peer's boot id on it.
    pub peer_boot: Vec<u8>,
    /// It goes through a relay (both sides know: each announces its path in Hello).
    pub relayed: bool,
}

/// The one-session-per-peer rule: whether a newly established connection (`new`) replaces
/// the one held (`held`), decided the same way on both sides.
pub fn keeps_new(me: &PeerId, peer: &PeerId, held: Option<&Live>, new: &Live) -> bool {
    match held {
        None => true,
        // The peer restarted: the old connection is dead.
        Some(old) if old.peer_boot != new.peer_boot => true,
        // A direct path replaces a relayed one (the upgrade), never the other way round.
        Some(old) if old.relayed != new.relayed => !new.relayed,
        // The same side dialled again: the newer connection wins.
        Some(old) if old.dialer == new.dialer => true,
        // Both dialled at once: keep the one dialled by the smaller id, on both sides.
        Some(_) => new.dialer == *me.min(peer),
    }
}

/// An incarnation from the wire: empty is none, 16 bytes is one, anything else an error.
pub fn incarnation_of(bytes: &[u8]) -> Result<Option<Incarnation>, SessionError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Incarnation::try_from(bytes)
        .map(Some)
        .map_err(|_| SessionError::Protocol("an incarnation is not 16 bytes".into()))
}
