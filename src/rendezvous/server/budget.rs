//! Owns the deposit budget of each source (an IPv4 address or IPv6 /64, `transport::Source`):
//! a token bucket of bytes, a day's worth at once and refilled over a day, so what one machine
//! can make the mailbox store does not grow with the keys it mints. Pure: callers pass the
//! time. Buckets that are full again are forgotten, and the table is bounded.

use std::collections::HashMap;
use std::time::Duration;

use crate::transport::Source;

/// Sources tracked at most (~64 bytes each). Past it, buckets full again are forgotten
/// first, then the fullest one (the least spent: forgetting it gives least away).
const MAX_SOURCES: usize = 65_536;

const DAY_MS: f64 = 24.0 * 3600.0 * 1000.0;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    bytes: f64,
    at_ms: u64,
}

/// Per-source deposit budgets.
#[derive(Debug)]
pub(super) struct Budget {
    buckets: HashMap<Source, Bucket>,
    /// Bytes a source may deposit at once (a day's worth).
    burst: f64,
    /// Bytes a source gets back per millisecond.
    per_ms: f64,
}

impl Budget {
    /// A budget of `bytes_per_day` for each source, all of it usable at once.
    pub(super) fn new(bytes_per_day: u64) -> Self {
        let burst = bytes_per_day.max(1) as f64;
        Self {
            buckets: HashMap::new(),
            burst,
            per_ms: burst / DAY_MS,
        }
    }

    /// Takes `bytes` from `source`'s budget at `now_ms`; if they are not there, takes nothing
    /// and says how long until they are.
    pub(super) fn take(&mut self, source: Source, bytes: u64, now_ms: u64) -> Result<(), Duration> {
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&source) {
            self.make_room(now_ms);
        }
        let (burst, per_ms) = (self.burst, self.per_ms);
        let b = self.buckets.entry(source).or_insert(Bucket {
            bytes: burst,
            at_ms: now_ms,
        });
        b.bytes = refill(b, now_ms, burst, per_ms);
        b.at_ms = b.at_ms.max(now_ms);
        let want = bytes as f64;
        if b.bytes >= want {
            b.bytes -= want;
            Ok(())
        } else {
            let ms = ((want.min(burst) - b.bytes) / per_ms).ceil().max(1.0);
            Err(Duration::from_millis(ms as u64))
        }
    }

    /// Puts back `bytes` taken for a deposit that stored nothing new.
    pub(super) fn give_back(&mut self, source: Source, bytes: u64) {
        if let Some(b) = self.buckets.get_mut(&source) {
            b.bytes = (b.bytes + bytes as f64).min(self.burst);
        }
    }

    /// Forgets every source whose bucket is full again (it would start over the same).
    pub(super) fn prune(&mut self, now_ms: u64) {
        let (burst, per_ms) = (self.burst, self.per_ms);
        self.buckets
            .retain(|_, b| refill(b, now_ms, burst, per_ms) < burst);
    }

    fn make_room(&mut self, now_ms: u64) {
        self.prune(now_ms);
        if self.buckets.len() < MAX_SOURCES {
            return;
        }
        let (burst, per_ms) = (self.burst, self.per_ms);
        let fullest = self
            .buckets
            .iter()
            .max_by(|a, b| {
                refill(a.1, now_ms, burst, per_ms).total_cmp(&refill(b.1, now_ms, burst, per_ms))
            })
            .map(|(s, _)| *s);
        if let Some(s) = fullest {
            self.buckets.remove(&s);
        }
    }

    /// Sources tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

fn refill(b: &Bucket, now_ms: u64, burst: f64, per_ms: f64) -> f64 {
    let ms = now_ms.saturating_sub(b.at_ms) as f64;
    (b.bytes + ms * per_ms).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const HOUR_MS: u64 = 3600 * 1000;

    fn source(ip: &str) -> Source {
        Source::from(ip.parse::<std::net::IpAddr>().unwrap())
    }

    #[test]
    fn a_source_gets_a_days_budget_at_once_then_it_refills_over_the_day() {
        let mut b = Budget::new(24 * MIB);
        let (me, t0) = (source("198.18.0.9"), 1_000_000);
        for _ in 0..24 {
            assert!(b.take(me, MIB, t0).is_ok());
        }
        let wait = b.take(me, MIB, t0).expect_err("the day's budget is spent");
        let hour = Duration::from_millis(HOUR_MS);
        assert!(
            wait.abs_diff(hour) <= Duration::from_millis(1),
            "1 MiB an hour: {wait:?}"
        );
        assert!(b.take(me, MIB, t0 + HOUR_MS / 2).is_err());
        assert!(b.take(me, MIB, t0 + wait.as_millis() as u64).is_ok());
        // Another machine is not held back by the first; the same /64 is the same machine.
        assert!(b.take(source("198.18.0.10"), 24 * MIB, t0).is_ok());
        assert!(b.take(source("2001:2::1"), 24 * MIB, t0).is_ok());
        assert!(
            b.take(source("2001:2::2"), MIB, t0).is_err(),
            "the same /64"
        );
    }

    #[test]
    fn what_stored_nothing_is_given_back() {
        let mut b = Budget::new(2 * MIB);
        let (me, t0) = (source("198.18.0.9"), 0);
        assert!(b.take(me, 2 * MIB, t0).is_ok());
        b.give_back(me, MIB);
        assert!(b.take(me, MIB, t0).is_ok());
        assert!(b.take(me, 1, t0).is_err());
    }

    #[test]
    fn a_flood_of_sources_cannot_grow_the_table_without_bound() {
        let mut b = Budget::new(MIB);
        let t0 = 0;
        for i in 0..(MAX_SOURCES as u32 + 100) {
            let ip = std::net::IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i));
            assert!(b.take(Source::from(ip), 1024, t0).is_ok());
        }
        assert_eq!(b.len(), MAX_SOURCES);
        // A day later every bucket is full again: all are forgotten.
        b.prune(t0 + DAY_MS as u64);
        assert_eq!(b.len(), 0);
    }
}
