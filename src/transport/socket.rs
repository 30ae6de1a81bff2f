//! Owns a socket as quinn sees it: the real UDP socket, plus *mapped addresses* that never
//! appear on the wire — peers reached through a relay (`240.110.0.0/16`) and TCP tunnels
//! (`240.111.0.0/16`, `tunnel.rs`), both reserved space. A packet quinn sends to a mapped
//! address goes to a bounded queue its carrier drains (the node's relay pump, or the
//! tunnel's stream); a packet the carrier brings is handed to quinn as a datagram from that
//! mapped address. So a relayed peer, or a rendezvous reached over TCP, is an ordinary
//! connection on the one endpoint, with the same pinned-key TLS. A datagram from the wire
//! that claims a mapped source is dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::sync::mpsc;

use crate::identity::PeerId;

/// The first two octets of a relayed peer's mapped address.
const RELAY_NET: [u8; 2] = [240, 110];
/// The first two octets of a TCP tunnel's mapped address (`tunnel.rs`).
const TUNNEL_NET: [u8; 2] = [240, 111];
/// The port of every mapped address (the peer is in the address itself).
const MAPPED_PORT: u16 = 1;
/// Packets waiting for quinn to read them; past it the newest are dropped.
const INBOX: usize = 512;
/// Packets waiting to leave through a link; past it the newest are dropped (QUIC resends).
const OUTBOX: usize = 512;

/// One side of the socket that is not the wire: keys (a relayed peer, a TCP tunnel) each at
/// a mapped address of the link's own /16, packets in for quinn to read, packets out for
/// the key's carrier (the relay pump's shared queue, or a queue attached to the key).
pub struct MappedLink<K> {
    net: [u8; 2],
    state: Mutex<Link<K>>,
    /// Wakes the pump when a packet waits in the shared queue.
    out_ready: tokio::sync::Notify,
    /// Packets dropped for a full queue, or from the wire claiming a mapped source.
    dropped: AtomicU64,
}

/// The relayed side of the node's socket: peers reached through a relay, by key.
pub type RelayLink = MappedLink<PeerId>;

/// The tunnelled side of a socket: TCP tunnels (to a rendezvous, or at one from its
/// clients), by a number of the holder's choosing.
pub type TunnelLink = MappedLink<u64>;

struct Link<K> {
    keys: HashMap<K, u16>,
    by_index: Vec<Option<K>>,
    free: Vec<u16>,
    inbox: VecDeque<(u16, Bytes)>,
    waker: Option<Waker>,
    out: VecDeque<(K, Bytes)>,
    attached: HashMap<K, mpsc::Sender<Bytes>>,
}

impl<K> fmt::Debug for MappedLink<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedLink")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

impl Default for RelayLink {
    fn default() -> Self {
        Self::on(RELAY_NET)
    }
}

impl Default for TunnelLink {
    fn default() -> Self {
        Self::on(TUNNEL_NET)
    }
}

/// The mapped address of index `i` in `net`.
fn mapped(net: [u8; 2], i: u16) -> SocketAddr {
    let [hi, lo] = i.to_be_bytes();
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(net[0], net[1], hi, lo)),
        MAPPED_PORT,
    )
}

/// The /16 and index of a mapped-looking address, in IPv4 or IPv4-mapped IPv6 form.
fn split(addr: SocketAddr) -> Option<([u8; 2], u16)> {
    let v4 = match addr.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
    };
    let [a, b, hi, lo] = v4.octets();
    Some(([a, b], u16::from_be_bytes([hi, lo])))
}

/// Whether `addr` is a mapped address of any link (never a real one on the wire).
pub(crate) fn is_mapped(addr: SocketAddr) -> bool {
    split(addr).is_some_and(|(net, _)| net == RELAY_NET || net == TUNNEL_NET)
}

impl<K: Copy + Eq + Hash> MappedLink<K> {
    fn on(net: [u8; 2]) -> Self {
        Self {
            net,
            state: Mutex::new(Link {
                keys: HashMap::new(),
                by_index: Vec::new(),
                free: Vec::new(),
                inbox: VecDeque::new(),
                waker: None,
                out: VecDeque::new(),
                attached: HashMap::new(),
            }),
            out_ready: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Link<K>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn index_of(&self, addr: SocketAddr) -> Option<u16> {
        split(addr).and_then(|(net, i)| (net == self.net).then_some(i))
    }

    /// The address quinn dials to reach `key` (the same until it is unmapped). `None` when
    /// every one of the 65 536 addresses is taken.
    pub fn map(&self, key: K) -> Option<SocketAddr> {
        let mut link = self.lock();
        if let Some(i) = link.keys.get(&key) {
            return Some(mapped(self.net, *i));
        }
        let i = match link.free.pop() {
            Some(i) => i,
            None => {
                let i = u16::try_from(link.by_index.len()).ok()?;
                link.by_index.push(None);
                i
            }
        };
        if let Some(slot) = link.by_index.get_mut(usize::from(i)) {
            *slot = Some(key);
        }
        link.keys.insert(key, i);
        Some(mapped(self.net, i))
    }

    /// Frees `key`'s address (and its attached queue) for another key.
    pub fn unmap(&self, key: &K) {
        let mut link = self.lock();
        link.attached.remove(key);
        if let Some(i) = link.keys.remove(key) {
            if let Some(slot) = link.by_index.get_mut(usize::from(i)) {
                *slot = None;
            }
            link.free.push(i);
        }
    }

    /// The key behind a mapped address of this link.
    pub(crate) fn key_of(&self, addr: SocketAddr) -> Option<K> {
        let i = self.index_of(addr)?;
        self.lock().by_index.get(usize::from(i)).copied().flatten()
    }

    /// A packet from `from` arrived (through its relay or tunnel): quinn reads it next.
    /// Dropped (false) when `from` is not mapped (we did not open for it) or the inbox is
    /// full.
    pub fn deliver(&self, from: &K, packet: Bytes) -> bool {
        let mut link = self.lock();
        let Some(i) = link.keys.get(from).copied() else {
            drop(link);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if link.inbox.len() >= INBOX {
            drop(link);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        link.inbox.push_back((i, packet));
        if let Some(w) = link.waker.take() {
            w.wake();
        }
        true
    }

    /// The next packet for a key without a queue of its own, and that key; waits for one.
    pub async fn next_out(&self) -> (K, Bytes) {
        loop {
            let ready = self.out_ready.notified();
            if let Some(p) = self.lock().out.pop_front() {
                return p;
            }
            ready.await;
        }
    }

    /// From now on `key`'s packets go to the returned queue (its tunnel), not the shared one.
    pub(crate) fn attach(&self, key: K) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.lock().attached.insert(key, tx);
        rx
    }

    /// Packets dropped so far (full queues, spoofed sources).
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn queue_out(&self, key: K, t: &Transmit<'_>) {
        let size = t.segment_size.unwrap_or(t.contents.len()).max(1);
        let mut link = self.lock();
        if let Some(tx) = link.attached.get(&key) {
            for packet in t.contents.chunks(size) {
                if tx.try_send(Bytes::copy_from_slice(packet)).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        for packet in t.contents.chunks(size) {
            if link.out.len() >= OUTBOX {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            link.out.push_back((key, Bytes::copy_from_slice(packet)));
        }
        drop(link);
        self.out_ready.notify_one();
    }
}

/// A socket as quinn sees it: the real UDP socket, and the relayed and tunnelled links
/// beside it (the node uses both; a rendezvous server only the tunnels).
pub(crate) struct NodeSocket {
    udp: Arc<dyn AsyncUdpSocket>,
    relay: Arc<RelayLink>,
    tunnel: Arc<TunnelLink>,
    ipv6: bool,
    /// Send one datagram per call (no GSO): quinn keeps a transmit buffer of the segments
    /// it may send at once times the MTU for every connection (14.5 KiB with GSO), which a
    /// server of many small signalling connections cannot afford.
    one_segment: bool,
}

impl fmt::Debug for NodeSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSocket")
            .field("udp", &self.udp)
            .finish_non_exhaustive()
    }
}

impl NodeSocket {
    /// Wraps a socket quinn's runtime made.
    pub(crate) fn new(
        udp: Arc<dyn AsyncUdpSocket>,
        relay: Arc<RelayLink>,
        tunnel: Arc<TunnelLink>,
        one_segment: bool,
    ) -> io::Result<Self> {
        let ipv6 = udp.local_addr()?.is_ipv6();
        Ok(Self {
            udp,
            relay,
            tunnel,
            ipv6,
            one_segment,
        })
    }
}

/// A link's inbox as the socket reads it, whatever the link's key.
trait Inbox {
    fn take(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
        ipv6: bool,
    ) -> usize;
}

impl<K: Copy + Eq + Hash> Inbox for MappedLink<K> {
    /// Moves waiting packets into quinn's buffers; registers the waker when none.
    fn take(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
        ipv6: bool,
    ) -> usize {
        let mut link = self.lock();
        let mut n = 0;
        while n < bufs.len().min(meta.len()) {
            let Some((i, packet)) = link.inbox.pop_front() else {
                break;
            };
            let Some(buf) = bufs.get_mut(n) else { break };
            if packet.len() > buf.len() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            buf[..packet.len()].copy_from_slice(&packet);
            let mut addr = mapped(self.net, i);
            if ipv6 && let IpAddr::V4(v4) = addr.ip() {
                addr = SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port());
            }
            if let Some(m) = meta.get_mut(n) {
                *m = RecvMeta {
                    addr,
                    len: packet.len(),
                    stride: packet.len(),
                    ecn: None,
                    dst_ip: None,
                };
            }
            n += 1;
        }
        if n == 0 {
            link.waker = Some(cx.waker().clone());
        }
        n
    }
}

impl AsyncUdpSocket for NodeSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        // Relayed packets never wait for room (a full queue drops), so writability is the
        // real socket's.
        self.udp.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let to = transmit.destination;
        if let Some(peer) = self.relay.key_of(to) {
            self.relay.queue_out(peer, transmit);
        } else if let Some(tunnel) = self.tunnel.key_of(to) {
            self.tunnel.queue_out(tunnel, transmit);
        } else if !is_mapped(to) {
            return self.udp.try_send(transmit);
        }
        // A mapped address nobody holds: nowhere to go, and never onto the wire.
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        for link in [&*self.relay as &dyn Inbox, &*self.tunnel] {
            let n = link.take(cx, bufs, meta, self.ipv6);
            if n > 0 {
                return Poll::Ready(Ok(n));
            }
        }
        match self.udp.poll_recv(cx, bufs, meta) {
            Poll::Ready(Ok(n)) => {
                for m in meta.iter_mut().take(n) {
                    // Only the relay speaks for a mapped address.
                    if is_mapped(m.addr) {
                        m.len = 0;
                        self.relay.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        if self.one_segment {
            1
        } else {
            self.udp.max_transmit_segments()
        }
    }

    fn max_receive_segments(&self) -> usize {
        self.udp.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.udp.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn a_mapped_address_names_its_peer_in_both_forms_and_never_a_real_one() {
        let link = RelayLink::default();
        let (a, b) = (
            Identity::generate().peer_id(),
            Identity::generate().peer_id(),
        );
        let ma = link.map(a).unwrap();
        let mb = link.map(b).unwrap();
        assert_ne!(ma, mb);
        assert_eq!(
            link.map(a),
            Some(ma),
            "the same address for the node's life"
        );
        assert_eq!(link.key_of(ma), Some(a));
        let IpAddr::V4(v4) = mb.ip() else {
            panic!("mapped addresses are IPv4")
        };
        let v6 = SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), mb.port());
        assert_eq!(link.key_of(v6), Some(b));
        assert!(is_mapped(v6));
        for real in [
            "198.18.0.1:1",
            "[2001:2::1]:1",
            "240.112.0.0:1",
            "[::ffff:10.0.0.1]:1",
        ] {
            let real: SocketAddr = real.parse().unwrap();
            assert!(!is_mapped(real), "{real}");
            assert_eq!(link.key_of(real), None);
        }
    }

    #[test]
    fn relayed_packets_from_an_unmapped_peer_or_past_the_inbox_are_dropped() {
        let link = RelayLink::default();
        let (a, stranger) = (
            Identity::generate().peer_id(),
            Identity::generate().peer_id(),
        );
        link.map(a);
        assert!(!link.deliver(&stranger, Bytes::from_static(b"x")));
        for _ in 0..INBOX {
            assert!(link.deliver(&a, Bytes::from_static(b"x")));
        }
        assert!(!link.deliver(&a, Bytes::from_static(b"x")));
        assert_eq!(link.dropped(), 2);
    }

    #[test]
    fn a_segmented_transmit_goes_out_as_one_packet_per_segment() {
        let link = RelayLink::default();
        let a = Identity::generate().peer_id();
        let to = link.map(a).unwrap();
        let contents = vec![9u8; 2500];
        link.queue_out(
            a,
            &Transmit {
                destination: to,
                ecn: None,
                contents: &contents,
                segment_size: Some(1200),
                src_ip: None,
            },
        );
        let sizes: Vec<usize> = link.lock().out.iter().map(|(_, p)| p.len()).collect();
        assert_eq!(sizes, vec![1200, 1200, 100]);
    }
}
