//! The relay (`natter-rendezvous --relay`): forwards relay frames — whole peer-to-peer QUIC
//! packets, encrypted end to end — between two clients on their rendezvous connections,
//! only once each has opened for the other and while their registrations allow each other.
//! It sees keys and ciphertext, never a session key. Each client's bytes are rate limited
//! (GCRA), each direction's queue is quinn's bounded datagram buffer, and every drop counts.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;

use super::accounts::allows;
use super::cluster::Cluster;
use super::{State, key, lock, refused};
use crate::identity::PeerId;
use crate::rendezvous::bus::{Bus, RelayPair, Relayed, body};
use crate::rendezvous::proto::{Push, push, response};
use crate::rendezvous::relay::{self, RelayAsked, RelayOpen, RelayOpened, RelayReady};

/// How a server relays.
#[derive(Clone, Copy, Debug)]
pub struct RelayConfig {
    /// Relay at all (`--relay`).
    pub enabled: bool,
    /// Bytes per second one client may send through the relay.
    pub bytes_per_second: u32,
    /// Burst of bytes one client may send at once.
    pub burst_bytes: u32,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bytes_per_second: 4 << 20,
            burst_bytes: 1 << 20,
        }
    }
}

/// What the relay did since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelayStats {
    /// Clients with a relay open now.
    pub clients: usize,
    /// Pairs forwarding now (both sides opened).
    pub pairs: usize,
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes of packets forwarded (without the frame header).
    pub bytes: u64,
    /// Frames dropped: malformed, not an open pair, over the rate, or a full queue.
    pub dropped: u64,
}

struct Link {
    conn_id: usize,
    conn: quinn::Connection,
}

#[derive(Default)]
struct Table {
    /// Clients that opened a relay, by key, with the connection frames go out on.
    links: HashMap<PeerId, Link>,
    /// (a, b): `a` consented to relaying with `b`.
    opened: HashSet<(PeerId, PeerId)>,
    /// Redis mode, (a, b): `a`, held here, may send to `b`, held at the node with this
    /// channel (both consented).
    remote: HashMap<(PeerId, PeerId), String>,
}

/// Where a frame goes.
enum Out {
    /// To a client held here.
    Here(quinn::Connection),
    /// To another node's client, through Redis.
    There(String),
}

/// Relayed packets on their way to other nodes (Redis mode): (node channel, bus message).
pub(super) type Outbox = tokio::sync::mpsc::Sender<(String, Vec<u8>)>;

impl Table {
    fn pairs(&self) -> usize {
        self.opened
            .iter()
            .filter(|(a, b)| a < b && self.opened.contains(&(*b, *a)))
            .count()
    }
}

pub(super) struct Relay {
    config: RelayConfig,
    rate: DefaultKeyedRateLimiter<PeerId>,
    table: Mutex<Table>,
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
    /// Redis mode: the task that publishes relayed packets for other nodes' clients.
    outbox: std::sync::OnceLock<Outbox>,
}

impl Relay {
    pub(super) fn new(config: RelayConfig) -> Self {
        let rate = NonZeroU32::new(config.bytes_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        // A burst must hold at least one full frame, or no packet ever passes.
        let burst = NonZeroU32::new(config.burst_bytes.max(relay::MAX_PACKET as u32 * 2))
            .unwrap_or(NonZeroU32::MIN);
        Self {
            config,
            rate: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            table: Mutex::new(Table::default()),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            outbox: std::sync::OnceLock::new(),
        }
    }

    /// Redis mode: where packets for other nodes' clients go.
    pub(super) fn set_outbox(&self, outbox: Outbox) {
        let _ = self.outbox.set(outbox);
    }

    pub(super) fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub(super) fn stats(&self) -> RelayStats {
        let t = lock(&self.table);
        RelayStats {
            clients: t.links.len(),
            pairs: t.pairs(),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Forwards one frame from `from`.
    pub(super) fn forward(&self, from: &PeerId, frame: &Bytes) {
        let Ok((to, packet)) = relay::parse(frame) else {
            return self.drop_one();
        };
        let to = PeerId::for_lookup(to);
        let out = {
            let t = lock(&self.table);
            if t.opened.contains(&(*from, to)) && t.opened.contains(&(to, *from)) {
                match t.links.get(&to) {
                    Some(l) => Out::Here(l.conn.clone()),
                    None => return self.drop_one(),
                }
            } else if let Some(channel) = t.remote.get(&(*from, to)) {
                Out::There(channel.clone())
            } else {
                return self.drop_one();
            }
        };
        let n = NonZeroU32::new(packet.len() as u32).unwrap_or(NonZeroU32::MIN);
        if !matches!(self.rate.check_key_n(from, n), Ok(Ok(()))) {
            return self.drop_one();
        }
        let out = match out {
            Out::Here(conn) => conn,
            Out::There(channel) => {
                let msg = Bus::of(body::Body::Relayed(Relayed {
                    from: from.as_bytes().to_vec(),
                    to: to.as_bytes().to_vec(),
                    packet: packet.clone(),
                }));
                // A full outbox drops the packet, as a full datagram queue does.
                let sent = self
                    .outbox
                    .get()
                    .is_some_and(|o| o.try_send((channel, msg)).is_ok());
                if !sent {
                    return self.drop_one();
                }
                self.packets.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                return;
            }
        };
        self.send(&out, from, &packet);
    }

    /// Redis mode: a packet another node's client `from` sent to `to`, held here, which
    /// consented to it.
    pub(super) fn deliver(&self, r: Relayed) {
        let (Some(from), Some(to)) = (key(&r.from), key(&r.to)) else {
            return self.drop_one();
        };
        let out = {
            let t = lock(&self.table);
            if !t.opened.contains(&(to, from)) {
                return self.drop_one();
            }
            match t.links.get(&to) {
                Some(l) => l.conn.clone(),
                None => return self.drop_one(),
            }
        };
        self.send(&out, &from, &r.packet);
    }

    /// Sends one frame from `from` to the client on `out`.
    fn send(&self, out: &quinn::Connection, from: &PeerId, packet: &Bytes) {
        let frame = relay::frame(from.as_bytes(), packet);
        // The queue to the other side is bounded: when it is full, this frame is dropped
        // (QUIC retransmits; its congestion control slows down).
        if out.datagram_send_buffer_space() < frame.len() || out.send_datagram(frame).is_err() {
            return self.drop_one();
        }
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
    }

    /// A client's connection ended: its link and its own consents go (the other side's
    /// consent to it stays, so it is ready again as soon as it opens again). Returns the
    /// peers it had consented to (Redis mode withdraws those consents there too).
    pub(super) fn gone(&self, peer: &PeerId, conn_id: usize) -> Vec<PeerId> {
        let mut t = lock(&self.table);
        if t.links.get(peer).is_none_or(|l| l.conn_id != conn_id) {
            return Vec::new();
        }
        t.links.remove(peer);
        let others: Vec<PeerId> = t
            .opened
            .iter()
            .filter(|(a, _)| a == peer)
            .map(|(_, b)| *b)
            .collect();
        t.opened.retain(|(a, _)| a != peer);
        t.remote.retain(|(a, _), _| a != peer);
        others
    }
}

/// `RelayOpen` from `me`: records its consent; ready when the other side consented too,
/// else the other side is asked.
pub(super) async fn open(
    state: &State,
    me: PeerId,
    conn_id: usize,
    conn: &quinn::Connection,
    r: RelayOpen,
) -> response::Body {
    if !state.relay.enabled() {
        return refused("this rendezvous does not relay");
    }
    let Some(other) = key(&r.peer) else {
        return refused("a relay names a 32-byte key");
    };
    if other == me {
        return refused("a relay joins two different keys");
    }
    if !allows(state, &other, &r.token).await || !allows(state, &me, &r.own_token).await {
        return refused("the relay joins only peers that allow each other");
    }
    if let super::Backend::Redis(c) = &state.backend
        && !lock(&state.online).contains_key(&other)
    {
        return open_across(state, c, me, other, conn_id, conn).await;
    }
    let ready = {
        let mut t = lock(&state.relay.table);
        t.links.insert(
            me,
            Link {
                conn_id,
                conn: conn.clone(),
            },
        );
        t.opened.insert((me, other));
        t.opened.contains(&(other, me)) && t.links.contains_key(&other)
    };
    let body = if ready {
        push::Body::RelayReady(RelayReady {
            peer: me.as_bytes().to_vec(),
        })
    } else {
        push::Body::RelayAsked(RelayAsked {
            from: me.as_bytes().to_vec(),
        })
    };
    super::holders::push_to(state, &other, Push { body: Some(body) });
    tracing::debug!(ready, "relay opened");
    response::Body::RelayOpened(RelayOpened { ready })
}

/// Redis mode, `other` held at another node: the consent is recorded in Redis. When `other`
/// consented already, its node learns that the pair is ready (and tells `other`); else
/// `other` is asked wherever it is held.
async fn open_across(
    state: &State,
    c: &Cluster,
    me: PeerId,
    other: PeerId,
    conn_id: usize,
    conn: &quinn::Connection,
) -> response::Body {
    {
        let mut t = lock(&state.relay.table);
        let link = Link {
            conn_id,
            conn: conn.clone(),
        };
        t.links.insert(me, link);
        t.opened.insert((me, other));
    }
    let theirs = match c.relay_consent(&me, &other).await {
        Ok(theirs) => theirs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a relay consent");
            return refused("the server cannot open relays now; try again later");
        }
    };
    let ready = match theirs {
        Some(node) => {
            let channel = Cluster::channel_of_node(&node);
            lock(&state.relay.table)
                .remote
                .insert((me, other), channel.clone());
            let pair = Bus::of(body::Body::RelayPair(RelayPair {
                from: other.as_bytes().to_vec(),
                to: me.as_bytes().to_vec(),
                node: c.node().to_owned(),
            }));
            match c.publish(&channel, &pair).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::debug!(error = %e, "relay pair not published");
                    false
                }
            }
        }
        None => {
            let asked = push::Body::RelayAsked(RelayAsked {
                from: me.as_bytes().to_vec(),
            });
            super::holders::push_to(state, &other, Push { body: Some(asked) });
            false
        }
    };
    tracing::debug!(ready, "relay opened across nodes");
    response::Body::RelayOpened(RelayOpened { ready })
}

/// Redis mode: another node says its client `to` and our client `from` consented to each
/// other: `from` may send to `to` through that node, and hears that `to` is ready.
pub(super) fn remote_pair(state: &State, p: RelayPair) {
    let (Some(from), Some(to)) = (key(&p.from), key(&p.to)) else {
        return;
    };
    {
        let mut t = lock(&state.relay.table);
        if !t.opened.contains(&(from, to)) || !t.links.contains_key(&from) {
            return;
        }
        t.remote
            .insert((from, to), Cluster::channel_of_node(&p.node));
    }
    let ready = push::Body::RelayReady(RelayReady {
        peer: to.as_bytes().to_vec(),
    });
    super::holders::push_to(state, &from, Push { body: Some(ready) });
}
