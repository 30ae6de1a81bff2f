//! Owns the node's one UDP socket as quinn sees it: the real socket, plus the peers reached
//! through a relay, each shown to quinn as a *mapped address* that never appears on the
//! wire (`240.110.0.0/16`, reserved space). A packet quinn sends to a mapped address goes to
//! a bounded queue that the node's relay pump sends as relay frames; a relay frame that
//! arrives is handed to quinn as a datagram from its peer's mapped address. So a relayed
//! peer is an ordinary connection on the one endpoint, with the same pinned-key TLS. A
//! datagram from the wire that claims a mapped source is dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

use crate::identity::PeerId;

/// The first two octets of every mapped address.
const MAPPED_NET: [u8; 2] = [240, 110];
/// The port of every mapped address (the peer is in the address itself).
const MAPPED_PORT: u16 = 1;
/// Relayed packets waiting for quinn to read them; past it the newest are dropped.
const INBOX: usize = 512;
/// Packets waiting for the relay pump; past it the newest are dropped (QUIC resends).
const OUTBOX: usize = 512;

/// The relayed side of the node's socket, shared by the socket (quinn's side) and the
/// node (which maps peers, pumps packets out and delivers relay frames in).
#[derive(Default)]
pub struct RelayLink {
    state: Mutex<Link>,
    /// Wakes the pump when a packet waits to go out.
    out_ready: tokio::sync::Notify,
    /// Packets dropped for a full queue, or from the wire claiming a mapped source.
    dropped: AtomicU64,
}

#[derive(Default)]
struct Link {
    peers: HashMap<PeerId, u16>,
    by_index: Vec<PeerId>,
    inbox: VecDeque<(u16, Bytes)>,
    waker: Option<Waker>,
    out: VecDeque<(PeerId, Bytes)>,
}

impl fmt::Debug for RelayLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayLink").finish_non_exhaustive()
    }
}

/// The mapped address of index `i`.
fn mapped(i: u16) -> SocketAddr {
    let [hi, lo] = i.to_be_bytes();
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(MAPPED_NET[0], MAPPED_NET[1], hi, lo)),
        MAPPED_PORT,
    )
}

/// The index of a mapped address, in IPv4 or IPv4-mapped IPv6 form.
fn index_of(addr: SocketAddr) -> Option<u16> {
    let v4 = match addr.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
    };
    let [a, b, hi, lo] = v4.octets();
    ([a, b] == MAPPED_NET).then_some(u16::from_be_bytes([hi, lo]))
}

/// Whether `addr` is a relayed peer's mapped address (never a real one).
pub(crate) fn is_mapped(addr: SocketAddr) -> bool {
    index_of(addr).is_some()
}

impl RelayLink {
    fn lock(&self) -> MutexGuard<'_, Link> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address quinn dials to reach `peer` through the relay (the same for the node's
    /// life). `None` when every one of the 65 536 mapped addresses is taken.
    pub fn map(&self, peer: PeerId) -> Option<SocketAddr> {
        let mut link = self.lock();
        if let Some(i) = link.peers.get(&peer) {
            return Some(mapped(*i));
        }
        let i = u16::try_from(link.by_index.len()).ok()?;
        link.by_index.push(peer);
        link.peers.insert(peer, i);
        Some(mapped(i))
    }

    /// The peer behind a mapped address.
    pub(crate) fn peer_of(&self, addr: SocketAddr) -> Option<PeerId> {
        let i = index_of(addr)?;
        self.lock().by_index.get(usize::from(i)).copied()
    }

    /// A packet from `from` arrived through the relay: quinn reads it next. Dropped (false)
    /// when `from` was never mapped (we did not consent to it) or the inbox is full.
    pub fn deliver(&self, from: &PeerId, packet: Bytes) -> bool {
        let mut link = self.lock();
        let Some(i) = link.peers.get(from).copied() else {
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

    /// The next packet to send through the relay, and its destination; waits for one.
    pub async fn next_out(&self) -> (PeerId, Bytes) {
        loop {
            let ready = self.out_ready.notified();
            if let Some(p) = self.lock().out.pop_front() {
                return p;
            }
            ready.await;
        }
    }

    /// Packets dropped so far (full queues, spoofed sources).
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn queue_out(&self, peer: PeerId, t: &Transmit<'_>) {
        let size = t.segment_size.unwrap_or(t.contents.len()).max(1);
        let mut link = self.lock();
        for packet in t.contents.chunks(size) {
            if link.out.len() >= OUTBOX {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            link.out.push_back((peer, Bytes::copy_from_slice(packet)));
        }
        drop(link);
        self.out_ready.notify_one();
    }

    /// Moves waiting relayed packets into quinn's buffers; registers the waker when none.
    fn take_into(
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
            let mut addr = mapped(i);
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

/// The node's socket: the real UDP socket, and the relay link beside it.
pub(crate) struct NodeSocket {
    udp: Arc<dyn AsyncUdpSocket>,
    link: Arc<RelayLink>,
    ipv6: bool,
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
    pub(crate) fn new(udp: Arc<dyn AsyncUdpSocket>, link: Arc<RelayLink>) -> io::Result<Self> {
        let ipv6 = udp.local_addr()?.is_ipv6();
        Ok(Self { udp, link, ipv6 })
    }
}

impl AsyncUdpSocket for NodeSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        // Relayed packets never wait for room (a full queue drops), so writability is the
        // real socket's.
        self.udp.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        match self.link.peer_of(transmit.destination) {
            Some(peer) => {
                self.link.queue_out(peer, transmit);
                Ok(())
            }
            // A mapped address nobody holds: nowhere to go, and never onto the wire.
            None if is_mapped(transmit.destination) => Ok(()),
            None => self.udp.try_send(transmit),
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let n = self.link.take_into(cx, bufs, meta, self.ipv6);
        if n > 0 {
            return Poll::Ready(Ok(n));
        }
        match self.udp.poll_recv(cx, bufs, meta) {
            Poll::Ready(Ok(n)) => {
                for m in meta.iter_mut().take(n) {
                    // Only the relay speaks for a mapped address.
                    if is_mapped(m.addr) {
                        m.len = 0;
                        self.link.dropped.fetch_add(1, Ordering::Relaxed);
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
        self.udp.max_transmit_segments()
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
        assert_eq!(link.peer_of(ma), Some(a));
        let IpAddr::V4(v4) = mb.ip() else {
            panic!("mapped addresses are IPv4")
        };
        let v6 = SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), mb.port());
        assert_eq!(link.peer_of(v6), Some(b));
        assert!(is_mapped(v6));
        for real in [
            "198.18.0.1:1",
            "[2001:2::1]:1",
            "240.111.0.0:1",
            "[::ffff:10.0.0.1]:1",
        ] {
            let real: SocketAddr = real.parse().unwrap();
            assert!(!is_mapped(real), "{real}");
            assert_eq!(link.peer_of(real), None);
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
