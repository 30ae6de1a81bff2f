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
use super::{State, key, lock, refused};
use crate::identity::PeerId;
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
}

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
        }
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
            if !t.opened.contains(&(*from, to)) || !t.opened.contains(&(to, *from)) {
                return self.drop_one();
            }
            match t.links.get(&to) {
                Some(l) => l.conn.clone(),
                None => return self.drop_one(),
            }
        };
        let n = NonZeroU32::new(packet.len() as u32).unwrap_or(NonZeroU32::MIN);
        if !matches!(self.rate.check_key_n(from, n), Ok(Ok(()))) {
            return self.drop_one();
        }
        let frame = relay::frame(from.as_bytes(), &packet);
        // The queue to the other side is bounded: when it is full, this frame is dropped
        // (QUIC retransmits; its congestion control slows down).
        if out.datagram_send_buffer_space() < frame.len() || out.send_datagram(frame).is_err() {
            return self.drop_one();
        }
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
    }

    /// A client's connection ended: its link and its own consents go (the other side's
    /// consent to it stays, so it is ready again as soon as it opens again).
    pub(super) fn gone(&self, peer: &PeerId, conn_id: usize) {
        let mut t = lock(&self.table);
        if t.links.get(peer).is_some_and(|l| l.conn_id == conn_id) {
            t.links.remove(peer);
            t.opened.retain(|(a, _)| a != peer);
        }
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
    // Relayed packets go between two connections of this node: in Redis mode the other
    // side must be held here too.
    if matches!(state.backend, super::Backend::Redis(_))
        && !lock(&state.online).contains_key(&other)
    {
        return refused(
            "the peer is connected to another node of this rendezvous, and nodes do not relay between each other yet",
        );
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
