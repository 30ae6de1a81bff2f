//! Owns the words the node's parts speak to its task and to a connection: the [`Msg`]s the
//! task applies (`state.rs`), the [`Cmd`]s a connection runs, and what a registered session
//! starts with.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use super::PrivacyMode;
use super::consent::RelayMsg;
use super::policy::Admission;
use crate::discovery::{Discovery, Nearby};
use crate::identity::PeerId;
use crate::model::{Path, Paths};
use crate::session;
use crate::wire::{FileFrame, RoomFrame, Status, TypingState};

/// Commands from the node to a connection task.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// New messages are in the outbox.
    Flush,
    /// This message was just committed to the outbox (written at once if it is the next).
    Queued(session::OutgoingChat),
    /// Send our typing state.
    Typing(TypingState),
    /// Send a read receipt.
    Read(u64),
    /// Send our presence.
    Presence(Status, String),
    /// The peer's contact entry changed: read it again.
    Refresh,
    /// Send a file control frame.
    File(FileFrame),
    /// Send a room frame.
    Room(RoomFrame),
    /// Close the session with this application code.
    Close(u32),
}

/// At most one dial signal per contact is acted on in this time.
pub(crate) const HINT_EVERY: Duration = Duration::from_secs(2);
/// A dial signal's addresses used (the observed one first, then its signed record's).
pub(crate) const HINT_ADDRS: usize = 4;

/// A connection's way to its task.
pub(crate) type CmdTx = mpsc::UnboundedSender<Cmd>;

/// A live session as the node knows it.
pub(crate) struct Live {
    pub(crate) conn_id: usize,
    /// What the one-session rule compares (`session::keeps_new`).
    pub(crate) who: session::Live,
    pub(crate) cmds: CmdTx,
    /// How the session reaches the peer, and where it talks to.
    pub(crate) path: Path,
    pub(crate) remote: SocketAddr,
    pub(crate) outgoing: bool,
}

/// What a session that won the one-session rule starts with.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// Our typing state for the peer, while fresh (a state sent on the connection this one
    /// replaced would be lost).
    pub(crate) typing: Option<TypingState>,
    /// Our presence now: it may have changed since this session's Hello took its snapshot,
    /// and the change went only to the session this one replaces.
    pub(crate) presence: (Status, String),
}

/// Where to dial a peer, besides its stored address.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    /// Addresses from its LAN record.
    pub(crate) lan: Vec<SocketAddr>,
    /// Addresses from a dial signal it sent us through the rendezvous (used once).
    pub(crate) hints: Vec<SocketAddr>,
    /// Both of us opened a relay at our rendezvous: its mapped address is a candidate too.
    pub(crate) relay_ready: bool,
}

/// A message to the node's task. Those with a `reply` are questions; the rest are told.
pub(crate) enum Msg {
    /// A session came up: apply the one-session rule. `None`: this connection yields.
    Register {
        peer: PeerId,
        live: Live,
        reply: oneshot::Sender<Option<Admitted>>,
    },
    /// A connection ended. If it was the live session the peer is disconnected (the event
    /// goes out here, so it always precedes the next session's `Connected`). A contact's
    /// connection asks for a redial.
    Leave {
        peer: PeerId,
        conn_id: usize,
        redial: bool,
        reason: String,
    },
    /// For the live session with the peer, if there is one.
    ToSession(PeerId, Cmd),
    /// New messages wait for the peer: its session flushes (or writes the one given), or
    /// it is dialled now.
    Outbox(PeerId, Option<session::OutgoingChat>),
    /// Our presence changed (already stored): every session hears it.
    Presence(Status, String),
    /// Our presence, for a session being set up.
    PresenceNow(oneshot::Sender<(Status, String)>),
    /// Our typing state for the peer (its session hears it, a new one re-sends it).
    Typing(PeerId, TypingState),
    /// Dial the contact unless a dial loop for it runs.
    Dial(PeerId),
    /// Dial the contact, and if its dial loop sleeps, it looks again now (it came into
    /// sight, signalled, or has new messages).
    DialNow(PeerId),
    /// A dial loop ended; `on_wake`: it stopped for want of an address, so a wake that came
    /// as it ended starts it again.
    DialEnded(PeerId, bool),
    /// Where to dial the peer now.
    Candidates(PeerId, oneshot::Sender<Candidates>),
    /// The live sessions' paths and the punch counters.
    Paths(oneshot::Sender<Paths>),
    /// The path of the live session with the peer, if one is up.
    PathOf(PeerId, oneshot::Sender<Option<Path>>),
    /// This computer changed networks: every sleeping dial loop looks again now.
    NetworkChanged,
    /// The peer's upgrade loop ended (its session is direct now, or gone).
    UpgradeEnded(PeerId),
    /// A LAN record was seen; the reply carries the peer's addresses if they changed.
    Sighted(Nearby, oneshot::Sender<Option<Vec<SocketAddr>>>),
    /// A LAN record went away; the reply names its peer, if known.
    Gone(String, oneshot::Sender<Option<PeerId>>),
    /// A LAN address presented another key than its record claimed.
    Spoofed { claimed: PeerId, addr: SocketAddr },
    /// The LAN table.
    Nearby(oneshot::Sender<Vec<Nearby>>),
    /// Swaps the running mDNS responder; the reply carries the old one.
    Discovery(
        Option<Arc<Discovery>>,
        oneshot::Sender<Option<Arc<Discovery>>>,
    ),
    /// The running mDNS responder, if any.
    DiscoveryNow(oneshot::Sender<Option<Arc<Discovery>>>),
    /// Whether we list a public room: while we do, strangers are admitted for room
    /// traffic (to ask to join) even when we accept contacts only.
    Listing(bool),
    /// The peer sent a dial signal from these addresses: dial it now (at most one signal
    /// per contact every [`HINT_EVERY`]; others are dropped).
    Hint(PeerId, Vec<SocketAddr>),
    /// A contact's mailbox prekey and its expiry (ms), from a verified record.
    Prekey(PeerId, [u8; 32], u64),
    /// A contact's prekey still valid at `now_ms`, with its expiry.
    PrekeyOf {
        peer: PeerId,
        now_ms: u64,
        reply: oneshot::Sender<Option<([u8; 32], u64)>>,
    },
    /// The privacy policy for a peer that completed a handshake.
    Admit(PeerId, oneshot::Sender<Admission>),
    /// Whether the peer is an accepted contact now, and whether we talk with it as with one
    /// (a contact, or anyone while the privacy mode is `everyone`).
    IsContact(PeerId, oneshot::Sender<(bool, bool)>),
    /// A contact entry was stored: accepted (true) or a request.
    ContactStored(PeerId, bool),
    /// The privacy mode changed (already stored).
    Privacy(PrivacyMode),
    /// Whether the contact sees us while we are invisible changed (already stored).
    SeesInvisible(PeerId, bool),
    /// About relays: what our rendezvous offers, consent, ready pairs.
    Relay(RelayMsg),
    /// The members of the rooms we are in changed (already stored): they are admitted for
    /// room traffic, and a session of one who is no longer a member nor a contact closes.
    RoomMembers(HashSet<PeerId>),
    /// The node stops: no new dials; every session is told to close.
    Shutdown,
}

/// What the task does after a message, beyond changing the state.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Start a dial loop for the peer; it sleeps on the notify between rounds.
    StartDial(PeerId, Arc<Notify>),
    /// A relayed session with the peer came up: look for a direct path now and then (and
    /// when the notify wakes: a network change, the peer's punch).
    Upgrade(PeerId, Arc<Notify>),
}
