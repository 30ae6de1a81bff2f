//! Owns the node's door: how many handshakes one source may start (a token bucket per IPv4
//! address or IPv6 /64, pruned so a flood of sources cannot grow it without bound), when to
//! make clients prove their address first (QUIC Retry), and how many strangers may hold a
//! session at once. Pure: callers pass the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::transport::Source;

/// Handshakes one source may start per second, once its burst is spent.
pub(crate) const HANDSHAKES_PER_SECOND: f64 = 20.0;
/// Handshakes one source may start at once.
pub(crate) const HANDSHAKE_BURST: f64 = 40.0;
/// Handshakes in flight above which new clients must validate their address (Retry).
pub(crate) const RETRY_ABOVE: usize = 32;
/// Strangers (not contacts) holding a session at once; more are refused until one leaves.
pub(crate) const MAX_STRANGERS: usize = 16;
/// Sources tracked at most; past it, sources whose bucket is full again are forgotten.
const MAX_SOURCES: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-source handshake buckets.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    buckets: HashMap<Source, Bucket>,
}

impl Gate {
    /// Whether `ip` may start a handshake at `now` (and takes one token if so).
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let source = Source::from(ip);
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&source) {
            self.prune(now);
            if self.buckets.len() >= MAX_SOURCES {
                return false; // every tracked source is mid-burst: a flood of sources
            }
        }
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: HANDSHAKE_BURST,
            at: now,
        });
        b.tokens = refill(b, now);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets every source whose bucket is full again (it would start over the same).
    fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, b| refill(b, now) < HANDSHAKE_BURST);
    }

    /// Sources tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

fn refill(b: &Bucket, now: Instant) -> f64 {
    let secs = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + secs * HANDSHAKES_PER_SECOND).min(HANDSHAKE_BURST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// How long a source that spent its burst waits for one more handshake.
    fn one_token() -> Duration {
        Duration::from_secs_f64(1.0 / HANDSHAKES_PER_SECOND)
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut g = Gate::default();
        let ip: IpAddr = "198.18.0.9".parse().unwrap();
        let t0 = Instant::now();
        let allowed = (0..100).filter(|_| g.allow(ip, t0)).count();
        assert_eq!(allowed, HANDSHAKE_BURST as usize);
        assert!(!g.allow(ip, t0));
        assert!(g.allow(ip, t0 + one_token()), "one more after its interval");
        // Another source is not held back by the first.
        assert!(g.allow("198.18.0.10".parse().unwrap(), t0));
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_v4_is_its_v4() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        for i in 0..HANDSHAKE_BURST as u32 {
            let ip: IpAddr = format!("2001:2::{:x}", i + 1).parse().unwrap();
            assert!(g.allow(ip, t0));
        }
        assert!(!g.allow("2001:2::ffff".parse().unwrap(), t0), "same /64");
        assert!(g.allow("2001:2:0:1::1".parse().unwrap(), t0), "another /64");
        assert_eq!(
            Source::from("::ffff:198.18.0.9".parse::<IpAddr>().unwrap()),
            Source::from("198.18.0.9".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn a_flood_of_sources_cannot_grow_the_table_without_bound() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i));
            g.allow(ip, t0);
        }
        assert!(g.len() <= MAX_SOURCES);
        // Once their buckets refill, old sources are forgotten and new ones get in.
        let later = t0 + Duration::from_secs(10);
        assert!(g.allow("198.19.200.1".parse().unwrap(), later));
        assert!(g.len() <= MAX_SOURCES);
    }
}
