//! Owns flood control between peers: a token bucket per peer and kind of frame, stricter for
//! strangers than for contacts, and when a flood is worth telling the user (once a minute
//! per peer and kind). Pure: callers pass the time. The numbers, and why a contact's
//! messages have none, are in `docs/SECURITY.md` ("Flood limits").

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::PeerId;

/// What a peer sends that costs us something per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Chat messages. A contact's are never limited: see [`limit`].
    Messages,
    /// Typing notifications (each an event to the apps).
    Typing,
    /// Presence changes (each an event to the apps).
    Presence,
    /// Read receipts (each a database write).
    Receipts,
    /// File control frames (an offer is a database row and a prompt).
    Files,
    /// A public room's messages, per author (whoever passes them on): a stranger's
    /// message limit for each member who is not our contact.
    RoomPosts,
    /// Joins into the public rooms we list (all of them, keyed by our own key): a crowd of
    /// fresh keys cannot fill a room, or its ban list, at once.
    RoomJoins,
}

impl Kind {
    /// What happens to what is over the limit, as the `throttled` event says it.
    pub(crate) fn effect(self) -> &'static str {
        match self {
            // Not stored and not acked: the peer keeps them and sends them again.
            Self::Messages => "held",
            // Not stored: the next catch-up brings them again.
            Self::RoomPosts => "held",
            Self::RoomJoins => "declined",
            Self::Files => "declined",
            // Typing and presence are states (the next one says it), receipts cumulative.
            Self::Typing | Self::Presence | Self::Receipts => "dropped",
        }
    }

    /// The name in the `throttled` event.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Typing => "typing",
            Self::Presence => "presence",
            Self::Receipts => "receipts",
            Self::Files => "files",
            Self::RoomPosts => "room_messages",
            Self::RoomJoins => "room_joins",
        }
    }
}

/// A bucket's size and how fast it fills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limit {
    pub(crate) burst: f64,
    pub(crate) per_second: f64,
}

const fn lim(burst: f64, per_second: f64) -> Option<Limit> {
    Some(Limit { burst, per_second })
}

/// The limit on a kind of frame from a contact or a stranger; `None`: unlimited.
///
/// A contact's messages are never limited: the two-way catch-up of a backlog and the
/// sustained-throughput bench (~20k messages/s) must not be bound, flow control and acks
/// after commit already hold a sender to our disk's pace, and what a flood costs the user —
/// a notification per message — the app coalesces.
pub(crate) fn limit(kind: Kind, contact: bool) -> Option<Limit> {
    match (kind, contact) {
        (Kind::Messages, true) => None,
        (Kind::Messages, false) => lim(10.0, 0.2),
        (Kind::RoomPosts, true) => None,
        (Kind::RoomPosts, false) => lim(10.0, 0.2),
        (Kind::RoomJoins, _) => lim(20.0, 1.0 / 3.0),
        (Kind::Typing, true) => lim(20.0, 4.0),
        (Kind::Typing, false) => lim(5.0, 0.5),
        (Kind::Presence, true) => lim(20.0, 1.0),
        (Kind::Presence, false) => lim(5.0, 0.2),
        (Kind::Receipts, true) => lim(20.0, 5.0),
        (Kind::Receipts, false) => lim(5.0, 0.5),
        (Kind::Files, true) => lim(500.0, 20.0),
        (Kind::Files, false) => lim(5.0, 1.0),
    }
}

/// Strangers waiting in the requests inbox at most; a new one's messages are held (not
/// stored, not acked) while it is full.
pub(crate) const MAX_REQUESTS: u64 = 200;
/// Messages one stranger may leave before it is accepted; more are held until then.
pub(crate) const MAX_REQUEST_MESSAGES: u64 = 50;

/// How often one peer's flood of one kind is reported.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Buckets kept at most; past it, those full again (and reported long ago) are forgotten.
const MAX_BUCKETS: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Filled under a contact's limit (else a stranger's).
    contact: bool,
    /// When a flood of this peer and kind was last reported.
    reported: Option<Instant>,
}

/// What [`Flood::take`] allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    /// How many of those asked for may go ahead now (the first ones).
    pub(crate) allowed: usize,
    /// Some were held back and the user has not heard of this flood in the last minute.
    pub(crate) report: bool,
    /// When one more token is there, if some were held back.
    pub(crate) next: Option<Duration>,
}

/// Buckets per peer and kind.
#[derive(Debug, Default)]
pub(crate) struct Flood {
    buckets: HashMap<(PeerId, Kind), Bucket>,
}

impl Flood {
    /// Takes up to `n` tokens for frames of `kind` from `peer` at `now`.
    pub(crate) fn take(
        &mut self,
        peer: PeerId,
        kind: Kind,
        contact: bool,
        n: usize,
        now: Instant,
    ) -> Taken {
        let Some(l) = limit(kind, contact) else {
            return Taken {
                allowed: n,
                report: false,
                next: None,
            };
        };
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&(peer, kind)) {
            self.prune(now);
        }
        let b = self.buckets.entry((peer, kind)).or_insert(Bucket {
            tokens: l.burst,
            at: now,
            contact,
            reported: None,
        });
        // A peer the user just accepted gets a contact's burst (a stranger's few tokens are
        // no measure of a contact: a file dropped on it right away is many offers); one that
        // stopped being a contact keeps its tokens, capped by a stranger's burst.
        if contact && !b.contact {
            b.tokens = l.burst;
        }
        b.contact = contact;
        b.tokens = refill(b, l, now);
        b.at = now;
        let allowed = (b.tokens.floor() as usize).min(n);
        b.tokens -= allowed as f64;
        if allowed == n {
            return Taken {
                allowed,
                report: false,
                next: None,
            };
        }
        let report = b
            .reported
            .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY);
        if report {
            b.reported = Some(now);
        }
        let missing = (1.0 - b.tokens).max(0.0);
        Taken {
            allowed,
            report,
            next: Some(Duration::from_secs_f64(missing / l.per_second)),
        }
    }

    /// Whether a flood of `kind` from `peer` that was held back elsewhere (the requests
    /// inbox) should be reported now: at most once every [`REPORT_EVERY`].
    pub(crate) fn report(&mut self, peer: PeerId, kind: Kind, now: Instant) -> bool {
        let tokens = limit(kind, false).map_or(0.0, |l| l.burst);
        let b = self.buckets.entry((peer, kind)).or_insert(Bucket {
            tokens,
            at: now,
            contact: false,
            reported: None,
        });
        let due = b
            .reported
            .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY);
        if due {
            b.reported = Some(now);
        }
        due
    }

    /// Whether one frame may go ahead (see [`Flood::take`]); the bool: report it.
    pub(crate) fn one(
        &mut self,
        peer: PeerId,
        kind: Kind,
        contact: bool,
        now: Instant,
    ) -> (bool, bool) {
        let t = self.take(peer, kind, contact, 1, now);
        (t.allowed == 1, t.report)
    }

    /// Forgets buckets that are full again and whose last report is old: they would start
    /// over the same. If every one is mid-flood, the table still cannot pass its cap: the
    /// oldest half goes (a forgotten flooder gets one more burst, no more).
    fn prune(&mut self, now: Instant) {
        self.buckets.retain(|(_, kind), b| {
            let full = limit(*kind, false).is_none_or(|l| refill(b, l, now) >= l.burst)
                && limit(*kind, true).is_none_or(|l| refill(b, l, now) >= l.burst);
            let quiet = b
                .reported
                .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY);
            !(full && quiet)
        });
        if self.buckets.len() >= MAX_BUCKETS {
            let mut ages: Vec<Instant> = self.buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.buckets.retain(|_, b| b.at > cut);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

fn refill(b: &Bucket, l: Limit, now: Instant) -> f64 {
    let secs = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + secs * l.per_second).min(l.burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn peer() -> PeerId {
        Identity::generate().peer_id()
    }

    #[test]
    fn a_contacts_messages_are_never_limited() {
        let mut f = Flood::default();
        let (p, t0) = (peer(), Instant::now());
        for _ in 0..100 {
            let t = f.take(p, Kind::Messages, true, 10_000, t0);
            assert_eq!((t.allowed, t.report, t.next), (10_000, false, None));
        }
    }

    #[test]
    fn a_stranger_gets_a_burst_then_a_trickle_and_the_flood_is_reported_once_a_minute() {
        let mut f = Flood::default();
        let (p, t0) = (peer(), Instant::now());
        let t = f.take(p, Kind::Messages, false, 50, t0);
        assert_eq!(t.allowed, 10);
        assert!(t.report);
        assert_eq!(t.next, Some(Duration::from_secs(5)));
        // Nothing more until a token is back, and the same flood is not reported again.
        let t = f.take(p, Kind::Messages, false, 40, t0 + Duration::from_secs(4));
        assert_eq!((t.allowed, t.report), (0, false));
        let t = f.take(p, Kind::Messages, false, 40, t0 + Duration::from_secs(5));
        assert_eq!((t.allowed, t.report), (1, false));
        let t = f.take(
            p,
            Kind::Messages,
            false,
            39,
            t0 + REPORT_EVERY + Duration::from_secs(5),
        );
        assert_eq!((t.allowed, t.report), (10, true));
        // Another peer, or another kind, has its own bucket.
        assert_eq!(f.take(peer(), Kind::Messages, false, 50, t0).allowed, 10);
        assert_eq!(f.take(p, Kind::Typing, false, 50, t0).allowed, 5);
    }

    #[test]
    fn contacts_get_more_than_strangers_of_every_limited_kind() {
        for kind in [Kind::Typing, Kind::Presence, Kind::Receipts, Kind::Files] {
            let (c, s) = (limit(kind, true).unwrap(), limit(kind, false).unwrap());
            assert!(c.burst > s.burst && c.per_second > s.per_second, "{kind:?}");
        }
        assert!(limit(Kind::Messages, false).is_some());
    }

    #[test]
    fn an_honest_peer_never_meets_a_limit() {
        // Typing starts and stops a few times a second at most; a person changes presence
        // rarely; receipts follow reading; dropping 300 photos on a contact is 300 offers.
        let mut f = Flood::default();
        let (p, t0) = (peer(), Instant::now());
        for i in 0..600u64 {
            let now = t0 + Duration::from_millis(i * 500);
            assert!(f.one(p, Kind::Typing, true, now).0);
            assert!(f.one(p, Kind::Receipts, true, now).0);
        }
        assert_eq!(f.take(p, Kind::Files, true, 300, t0).allowed, 300);
        assert_eq!(f.take(p, Kind::Presence, true, 20, t0).allowed, 20);
    }

    #[test]
    fn a_stranger_accepted_gets_a_contacts_burst_and_a_contact_dropped_a_strangers() {
        let mut f = Flood::default();
        let (p, t0) = (peer(), Instant::now());
        // Five offers as a stranger use its burst.
        assert_eq!(f.take(p, Kind::Files, false, 5, t0).allowed, 5);
        // Accepted: a file of 16 parts offered at once goes through.
        assert_eq!(f.take(p, Kind::Files, true, 16, t0).allowed, 16);
        // No longer a contact: capped by a stranger's burst at once.
        assert_eq!(f.take(p, Kind::Files, false, 16, t0).allowed, 5);
    }

    #[test]
    fn a_flood_of_peers_cannot_grow_the_table_without_bound() {
        let mut f = Flood::default();
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS + 500) {
            let now = t0 + Duration::from_millis(i as u64);
            f.take(peer(), Kind::Typing, false, 100, now);
            assert!(f.len() <= MAX_BUCKETS);
        }
    }
}
