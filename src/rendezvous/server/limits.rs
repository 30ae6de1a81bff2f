//! Abuse controls: GCRA rate limits (`governor`) per source IP on handshakes and per identity
//! on requests, and a count of handshakes in flight that switches on QUIC address validation.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::identity::PeerId;
use crate::transport::Source;

/// Rate limits of a server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// New connections per second from one IP address.
    pub handshakes_per_ip: u32,
    /// Burst of new connections from one IP address.
    pub handshake_burst: u32,
    /// Requests per second from one identity.
    pub requests_per_peer: u32,
    /// Burst of requests from one identity.
    pub request_burst: u32,
    /// Handshakes in flight above which clients must validate their address (QUIC retry).
    pub busy_handshakes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshakes_per_ip: 20,
            handshake_burst: 50,
            requests_per_peer: 20,
            request_burst: 40,
            busy_handshakes: 64,
        }
    }
}

pub(super) struct Limiters {
    /// By IPv4 address or IPv6 /64 (one host commonly holds a whole /64).
    ip: DefaultKeyedRateLimiter<Source>,
    peer: DefaultKeyedRateLimiter<PeerId>,
    clock: DefaultClock,
    pending: AtomicUsize,
    busy: usize,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl Limiters {
    pub(super) fn new(l: &Limits) -> Self {
        Self {
            ip: RateLimiter::keyed(quota(l.handshakes_per_ip, l.handshake_burst)),
            peer: RateLimiter::keyed(quota(l.requests_per_peer, l.request_burst)),
            clock: DefaultClock::default(),
            pending: AtomicUsize::new(0),
            busy: l.busy_handshakes,
        }
    }

    /// Whether a new connection from `ip` may start its handshake.
    pub(super) fn handshake(&self, ip: IpAddr) -> bool {
        self.ip.check_key(&Source::from(ip)).is_ok()
    }

    /// Forgets the sources and keys whose limits are full again (they would start over the
    /// same), so a stream of one-time sources cannot grow the maps without bound.
    pub(super) fn prune(&self) {
        self.ip.retain_recent();
        self.ip.shrink_to_fit();
        self.peer.retain_recent();
        self.peer.shrink_to_fit();
    }

    /// Sources and keys tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.ip.len() + self.peer.len()
    }

    /// Whether a request from `peer` may run now; if not, how long to wait.
    pub(super) fn request(&self, peer: &PeerId) -> Result<(), Duration> {
        self.peer
            .check_key(peer)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Whether `n` more requests' worth from `peer` may run now (a batch); if not, how long
    /// to wait. A batch larger than the burst never runs.
    pub(super) fn request_n(&self, peer: &PeerId, n: usize) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n as u32) else {
            return Ok(());
        };
        match self.peer.check_key_n(peer, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            Err(_) => Err(Duration::from_secs(1)),
        }
    }

    pub(super) fn busy(&self) -> bool {
        self.pending.load(Ordering::Relaxed) >= self.busy
    }

    pub(super) fn handshake_started(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn handshake_ended(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_64_is_one_source() {
        let l = Limiters::new(&Limits {
            handshakes_per_ip: 1,
            handshake_burst: 2,
            ..Limits::default()
        });
        assert!(l.handshake("2001:2::1".parse().unwrap()));
        assert!(l.handshake("2001:2::2".parse().unwrap()));
        assert!(!l.handshake("2001:2::3".parse().unwrap()), "the same /64");
        assert!(l.handshake("2001:2:0:1::1".parse().unwrap()), "another /64");
    }

    #[test]
    fn quiet_sources_and_keys_are_forgotten() {
        let l = Limiters::new(&Limits {
            handshakes_per_ip: 1000,
            handshake_burst: 1,
            requests_per_peer: 1000,
            request_burst: 1,
            ..Limits::default()
        });
        for i in 0..500u32 {
            l.handshake(IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i)));
            let _ = l.request(&crate::identity::Identity::generate().peer_id());
        }
        assert_eq!(l.tracked(), 1000);
        // Each refills in 1 ms; well after that, pruning forgets every one.
        std::thread::sleep(Duration::from_millis(50));
        l.prune();
        assert_eq!(l.tracked(), 0);
    }
}
