//! Owns the node's live state and the messages that change it: the session table and the
//! one-session-per-peer rule, which contacts are being dialled, the policy's view of each
//! peer (contact, blocked, the privacy mode), our presence and typing state, and where
//! peers were last seen (LAN sightings, rendezvous hints, mailbox prekeys), and the relay
//! table (`consent.rs`). One task holds a [`State`] (`actor.rs`); everything else sends it a [`Msg`]
//! through the [`Actor`] handle. The methods here do no I/O: tests feed them messages.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, watch};

use super::consent::Relays;
use super::policy::Set;
pub(crate) use super::policy::{Admission, Policy};
use super::{Event, PrivacyMode};
use crate::discovery::{self, Discovery, Nearby};
use crate::identity::PeerId;
use crate::model::{Path, Paths, SessionPath};
use crate::session;
use crate::transport::{CLOSE_NORMAL, CLOSE_REPLACED};
use crate::wire::{Status, TypingState};

pub(crate) use super::msg::{Admitted, Candidates, Cmd, Effect, HINT_ADDRS, HINT_EVERY, Live, Msg};

/// How long a typing state stays worth re-sending on a new session.
pub(crate) const TYPING_FRESH: Duration = Duration::from_secs(30);

/// The node's live state. Only the node's task holds one.
pub(crate) struct State {
    me: PeerId,
    events: broadcast::Sender<Event>,
    sessions: HashMap<PeerId, Live>,
    connected: watch::Sender<HashSet<PeerId>>,
    /// Contacts with a dial loop, and what wakes it early.
    dialing: HashMap<PeerId, Arc<Notify>>,
    /// Contacts with a relayed session whose upgrade loop looks for a direct path.
    upgrading: HashMap<PeerId, Arc<Notify>>,
    presence: (Status, String),
    typing: HashMap<PeerId, (TypingState, Instant)>,
    nearby: HashMap<PeerId, Nearby>,
    discovery: Option<Arc<Discovery>>,
    hints: HashMap<PeerId, Vec<SocketAddr>>,
    /// When each contact's last dial signal was acted on.
    last_hint: HashMap<PeerId, Instant>,
    prekeys: HashMap<PeerId, ([u8; 32], u64)>,
    /// The policy's view, kept in step with the store by the writes that change it.
    policy: Policy,
    relays: Relays,
    /// Sessions established since start, and those of them without a relay.
    opened: u64,
    direct: u64,
    stopping: bool,
}

impl State {
    /// A node's state at start, with the presence it had stored.
    pub(crate) fn new(
        me: PeerId,
        events: broadcast::Sender<Event>,
        presence: (Status, String),
        policy: Policy,
    ) -> (Self, watch::Receiver<HashSet<PeerId>>) {
        let (connected, watching) = watch::channel(HashSet::new());
        let state = Self {
            me,
            events,
            sessions: HashMap::new(),
            connected,
            dialing: HashMap::new(),
            upgrading: HashMap::new(),
            presence,
            typing: HashMap::new(),
            nearby: HashMap::new(),
            discovery: None,
            hints: HashMap::new(),
            last_hint: HashMap::new(),
            prekeys: HashMap::new(),
            policy,
            relays: Relays::default(),
            opened: 0,
            direct: 0,
            stopping: false,
        };
        (state, watching)
    }

    /// Applies one message at `now`; returns what the task must do besides.
    pub(crate) fn handle(&mut self, msg: Msg, now: Instant) -> Option<Effect> {
        match msg {
            Msg::Register { peer, live, reply } => {
                let relayed = live.path == Path::Relayed;
                let admitted = self.register(peer, live, now);
                let kept = admitted.is_some();
                let _ = reply.send(admitted);
                if kept && relayed && !self.upgrading.contains_key(&peer) && !self.stopping {
                    let wake = Arc::new(Notify::new());
                    self.upgrading.insert(peer, wake.clone());
                    return Some(Effect::Upgrade(peer, wake));
                }
            }
            Msg::UpgradeEnded(peer) => {
                self.upgrading.remove(&peer);
            }
            Msg::Leave {
                peer,
                conn_id,
                redial,
                reason,
            } => {
                if self.leave(&peer, conn_id) {
                    let _ = self.events.send(Event::Disconnected { peer, reason });
                }
                if redial || self.policy.room_members.contains(&peer) {
                    return self.dial(peer, false);
                }
            }
            Msg::ToSession(peer, cmd) => self.to_session(&peer, cmd),
            Msg::Outbox(peer, chat) => match self.sessions.get(&peer) {
                Some(live) => {
                    let _ = live.cmds.send(chat.map_or(Cmd::Flush, Cmd::Queued));
                }
                // A dial loop sleeping on an offline peer looks again (and deposits) now.
                None => return self.dial(peer, true),
            },
            Msg::Presence(status, text) => {
                let was_invisible = self.presence.0 == Status::Invisible;
                self.presence = (status, text.clone());
                for (peer, live) in &self.sessions {
                    // Going invisible: those who may not see us lose their session, as
                    // when we go offline.
                    let cmd = match self.admit(peer) {
                        Admission::Hidden => Cmd::Close(CLOSE_NORMAL),
                        _ => Cmd::Presence(status, text.clone()),
                    };
                    let _ = live.cmds.send(cmd);
                }
                if was_invisible && status != Status::Invisible {
                    // Visible again: every dial loop that waited looks now.
                    for wake in self.dialing.values() {
                        wake.notify_one();
                    }
                }
            }
            Msg::SeesInvisible(peer, sees) => {
                self.policy.set(Set::Visible, peer, sees);
                let hidden = self.admit(&peer) == Admission::Hidden;
                match (hidden, self.sessions.get(&peer), self.dialing.get(&peer)) {
                    (true, Some(live), _) => {
                        let _ = live.cmds.send(Cmd::Close(CLOSE_NORMAL));
                    }
                    (false, None, Some(wake)) => wake.notify_one(),
                    _ => {}
                }
            }
            Msg::PresenceNow(reply) => {
                let _ = reply.send(self.presence.clone());
            }
            Msg::Typing(peer, state) => {
                self.typing.insert(peer, (state, now));
                self.to_session(&peer, Cmd::Typing(state));
            }
            Msg::Dial(peer) => return self.dial(peer, false),
            Msg::DialNow(peer) => return self.dial(peer, true),
            Msg::NetworkChanged => {
                for wake in self.dialing.values().chain(self.upgrading.values()) {
                    wake.notify_one();
                }
            }
            Msg::DialEnded(peer, on_wake) => {
                let woken = self.dialing.remove(&peer).is_some_and(|n| {
                    let notified = n.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable()
                });
                if on_wake && woken {
                    return self.dial(peer, false);
                }
            }
            Msg::Paths(reply) => {
                let mut sessions: Vec<SessionPath> = self
                    .sessions
                    .iter()
                    .map(|(peer, l)| SessionPath {
                        peer: *peer,
                        path: l.path,
                        remote: l.remote,
                        direction: if l.outgoing { "outgoing" } else { "incoming" },
                    })
                    .collect();
                sessions.sort_by_key(|s| s.peer.to_string());
                let _ = reply.send(Paths {
                    sessions,
                    conns_opened: self.opened,
                    conns_direct: self.direct,
                    addresses: Vec::new(),
                });
            }
            Msg::PathOf(peer, reply) => {
                let _ = reply.send(self.sessions.get(&peer).map(|l| l.path));
            }
            Msg::Candidates(peer, reply) => {
                let _ = reply.send(Candidates {
                    lan: self
                        .nearby
                        .get(&peer)
                        .map(|n| discovery::dialable(&n.addrs))
                        .unwrap_or_default(),
                    hints: self.hints.remove(&peer).unwrap_or_default(),
                    relay_ready: self.relays.is_ready(&peer),
                });
            }
            Msg::Sighted(n, reply) => {
                let _ = reply.send(self.sighted(n));
            }
            Msg::Gone(fullname, reply) => {
                let peer = self
                    .nearby
                    .iter()
                    .find(|(_, n)| n.fullname == fullname)
                    .map(|(p, _)| *p);
                if let Some(p) = &peer {
                    self.nearby.remove(p);
                }
                let _ = reply.send(peer);
            }
            Msg::Spoofed { claimed, addr } => {
                if let Some(n) = self.nearby.get_mut(&claimed) {
                    n.addrs.retain(|a| *a != addr);
                }
            }
            Msg::Nearby(reply) => {
                let _ = reply.send(self.nearby.values().cloned().collect());
            }
            Msg::Discovery(new, reply) => {
                let _ = reply.send(std::mem::replace(&mut self.discovery, new));
            }
            Msg::DiscoveryNow(reply) => {
                let _ = reply.send(self.discovery.clone());
            }
            Msg::Listing(on) => self.policy.listing = on,
            Msg::Hint(peer, mut addrs) => {
                // The rendezvous chooses the observed address in a signal: it must not be a
                // way to aim this node at addresses, so signals are few and small, and only
                // an accepted contact's that is not blocked is acted on.
                if !matches!(self.admit(&peer), Admission::Admit | Admission::Room) {
                    tracing::debug!(peer = ?peer, "dial signal dropped: not a contact, blocked, or we are invisible to it");
                    return None;
                }
                let last = self.last_hint.get(&peer);
                if last.is_some_and(|at| now.saturating_duration_since(*at) < HINT_EVERY) {
                    tracing::debug!(peer = ?peer, "dial signal dropped: too soon after the last");
                    return None;
                }
                self.last_hint.insert(peer, now);
                addrs.truncate(HINT_ADDRS);
                self.hints.insert(peer, addrs);
                if let Some(wake) = self.upgrading.get(&peer) {
                    // A relayed peer punches: answer it from here at once.
                    wake.notify_one();
                }
                return self.dial(peer, true);
            }
            Msg::Prekey(peer, key, expires_ms) => {
                // The newest prekey wins: a rendezvous replaying an older signed record
                // cannot roll a contact back to a prekey it rotated away from.
                let known = self.prekeys.get(&peer).map(|(_, exp)| *exp);
                if known.is_none_or(|exp| expires_ms >= exp) {
                    self.prekeys.insert(peer, (key, expires_ms));
                }
            }
            Msg::PrekeyOf {
                peer,
                now_ms,
                reply,
            } => {
                let key = self
                    .prekeys
                    .get(&peer)
                    .filter(|(_, exp)| *exp > now_ms)
                    .copied();
                let _ = reply.send(key);
            }
            Msg::Admit(peer, reply) => {
                let _ = reply.send(self.admit(&peer));
            }
            Msg::IsContact(peer, reply) => {
                let contact = self.policy.contacts.contains(&peer);
                let talks = contact
                    || (self.policy.privacy == PrivacyMode::Everyone
                        && self.admit(&peer) == Admission::Request);
                let _ = reply.send((contact, talks));
            }
            Msg::ContactStored(peer, accepted) => self.policy.set(Set::Contacts, peer, accepted),
            Msg::Privacy(mode) => self.policy.privacy = mode,
            Msg::RoomMembers(members) => {
                let old = std::mem::replace(&mut self.policy.room_members, members);
                for gone in old.difference(&self.policy.room_members) {
                    if let (
                        Admission::Request | Admission::Stranger | Admission::Asker,
                        Some(live),
                    ) = (self.admit(gone), self.sessions.get(gone))
                    {
                        let _ = live.cmds.send(Cmd::Close(CLOSE_NORMAL));
                    }
                }
            }
            Msg::Relay(m) => {
                if let Some(peer) = self.relays.handle(m, &self.events) {
                    return self.dial(peer, true);
                }
            }
            Msg::Shutdown => {
                self.stopping = true;
                for live in self.sessions.values() {
                    let _ = live.cmds.send(Cmd::Close(CLOSE_NORMAL));
                }
                // Sleeping loops see the node stopping now, not at their next round (they
                // hold the node, and so the profile lock, until they end).
                for wake in self.dialing.values().chain(self.upgrading.values()) {
                    wake.notify_one();
                }
            }
        }
        None
    }

    /// The privacy policy for the peer, with our presence now.
    fn admit(&self, peer: &PeerId) -> Admission {
        self.policy
            .admit(peer, self.presence.0 == Status::Invisible)
    }

    /// The one-session-per-peer rule: the new session is kept (and the one it replaces told
    /// to close) or must yield.
    fn register(&mut self, peer: PeerId, live: Live, now: Instant) -> Option<Admitted> {
        let held = self.sessions.get(&peer);
        let keep_new = session::keeps_new(&self.me, &peer, held.map(|l| &l.who), &live.who);
        tracing::debug!(
            conn = live.conn_id,
            keep_new,
            had = held.map(|l| l.conn_id),
            "one session per peer"
        );
        if !keep_new {
            return None;
        }
        self.opened += 1;
        if live.path != Path::Relayed {
            self.direct += 1;
        }
        if let Some(old) = self.sessions.insert(peer, live) {
            let _ = old.cmds.send(Cmd::Close(CLOSE_REPLACED));
        }
        self.connected.send_modify(|s| {
            s.insert(peer);
        });
        let typing = self
            .typing
            .get(&peer)
            .filter(|(_, at)| now.saturating_duration_since(*at) < TYPING_FRESH)
            .map(|(state, _)| *state);
        Some(Admitted {
            typing,
            presence: self.presence.clone(),
        })
    }

    /// Leaves the table if `conn_id` is the live session with the peer; a replaced
    /// connection leaves quietly (the peer is still connected).
    fn leave(&mut self, peer: &PeerId, conn_id: usize) -> bool {
        let live = self
            .sessions
            .get(peer)
            .is_some_and(|l| l.conn_id == conn_id);
        if live {
            self.sessions.remove(peer);
            self.connected.send_modify(|s| {
                s.remove(peer);
            });
        }
        live
    }

    fn to_session(&self, peer: &PeerId, cmd: Cmd) {
        if let Some(live) = self.sessions.get(peer) {
            let _ = live.cmds.send(cmd);
        }
    }

    /// One dial loop per contact: a new one, or (`wake`) the running one looks again now.
    fn dial(&mut self, peer: PeerId, wake: bool) -> Option<Effect> {
        if self.stopping {
            return None;
        }
        if let Some(notify) = self.dialing.get(&peer) {
            if wake {
                notify.notify_one();
            }
            return None;
        }
        let notify = Arc::new(Notify::new());
        self.dialing.insert(peer, notify.clone());
        Some(Effect::StartDial(peer, notify))
    }

    /// Merges a LAN record into the table (records resolve in steps: an IPv6 link-local
    /// address first, IPv4 later). Returns the peer's addresses if they or its name changed.
    fn sighted(&mut self, n: Nearby) -> Option<Vec<SocketAddr>> {
        let entry = self.nearby.entry(n.peer).or_insert_with(|| Nearby {
            addrs: Vec::new(),
            ..n.clone()
        });
        let before = entry.addrs.len();
        for a in &n.addrs {
            if !entry.addrs.contains(a) {
                entry.addrs.push(*a);
            }
        }
        let renamed = n.name.is_some() && n.name != entry.name;
        entry.name = n.name.or(entry.name.take());
        entry.fullname = n.fullname;
        (entry.addrs.len() != before || renamed).then(|| entry.addrs.clone())
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
