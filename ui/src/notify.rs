//! Owns coalescing desktop notifications: while the window is in the background, a
//! conversation's first message (a contact's, or a room's) raises one at once; what comes in
//! the same conversation in the quiet window after it is counted, and raised as one "N new
//! messages" when the window ends. A flood is never a notification per message. Pure:
//! callers pass the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter::PeerId;
use natter::room::RoomId;

/// Where messages come from: a one-to-one conversation or a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A contact (or someone who wrote to us).
    Peer(PeerId),
    /// A room.
    Room(RoomId),
}

impl From<PeerId> for Source {
    fn from(p: PeerId) -> Self {
        Source::Peer(p)
    }
}

/// How long after a notification for a peer its further messages are only counted.
pub const QUIET: Duration = Duration::from_secs(10);

/// A notification to raise for one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Whose messages, or which room's.
    pub from: Source,
    /// How many messages it stands for (1: just this one).
    pub count: usize,
    /// The latest message's text.
    pub text: String,
}

/// One peer's window: when its last notification was raised, and what came since.
#[derive(Debug)]
struct Window {
    raised: Instant,
    count: usize,
    latest: String,
}

/// The notifications raised lately, per peer, and the messages counted since.
#[derive(Debug)]
pub struct Coalescer {
    quiet: Duration,
    peers: HashMap<Source, Window>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self::new(QUIET)
    }
}

impl Coalescer {
    /// Counts messages for `quiet` after each notification.
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            peers: HashMap::new(),
        }
    }

    /// A message from `peer` came at `now` (the window in the background): a notice to raise
    /// at once, or `None` when one was raised for this peer less than the quiet window ago
    /// (the message is counted).
    pub fn on_message(
        &mut self,
        from: impl Into<Source>,
        text: &str,
        now: Instant,
    ) -> Option<Notice> {
        let peer = from.into();
        match self.peers.get_mut(&peer) {
            Some(w) if now < w.raised + self.quiet => {
                w.count += 1;
                w.latest = text.to_string();
                None
            }
            // The window is over (no timer came to say so): raise at once, with what it
            // counted.
            Some(w) => {
                let count = w.count + 1;
                *w = Window {
                    raised: now,
                    count: 0,
                    latest: String::new(),
                };
                Some(Notice {
                    from: peer,
                    count,
                    text: text.to_string(),
                })
            }
            None => {
                self.peers.insert(
                    peer,
                    Window {
                        raised: now,
                        count: 0,
                        latest: String::new(),
                    },
                );
                Some(Notice {
                    from: peer,
                    count: 1,
                    text: text.to_string(),
                })
            }
        }
    }

    /// The notices due at `now`: one per peer whose quiet window ended with messages
    /// counted (its next window starts now); peers whose window ended with none are
    /// forgotten, so their next message raises at once.
    pub fn due(&mut self, now: Instant) -> Vec<Notice> {
        let quiet = self.quiet;
        let mut due = Vec::new();
        self.peers.retain(|peer, w| {
            if now < w.raised + quiet {
                return true;
            }
            if w.count == 0 {
                return false;
            }
            due.push(Notice {
                from: *peer,
                count: w.count,
                text: std::mem::take(&mut w.latest),
            });
            w.raised = now;
            w.count = 0;
            true
        });
        due.sort_by_key(|n| n.from);
        due
    }

    /// Whether a notice is waiting for its window to end (the app runs a timer only then).
    pub fn waiting(&self) -> bool {
        self.peers.values().any(|w| w.count > 0)
    }

    /// The user saw this peer's conversation: nothing is counted for it any more, and its
    /// next message in the background raises at once.
    pub fn forget(&mut self, from: impl Into<Source>) {
        self.peers.remove(&from.into());
    }

    /// The window has the focus: every count is cleared.
    pub fn clear(&mut self) {
        self.peers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        natter::Identity::generate().peer_id()
    }

    /// Feeds every message and ticks every second until `until`: all notices raised.
    fn run(c: &mut Coalescer, messages: &[(PeerId, Instant)], until: Instant) -> Vec<Notice> {
        let mut raised = Vec::new();
        let start = messages.first().map(|m| m.1).unwrap_or(until);
        let mut tick = start;
        for (i, (peer, at)) in messages.iter().enumerate() {
            while tick + Duration::from_secs(1) <= *at {
                tick += Duration::from_secs(1);
                raised.extend(c.due(tick));
            }
            raised.extend(c.on_message(*peer, &format!("m{i}"), *at));
        }
        while tick < until {
            tick += Duration::from_secs(1);
            raised.extend(c.due(tick));
        }
        raised
    }

    #[test]
    fn a_flood_of_a_thousand_messages_raises_at_most_two_notifications() {
        let (mut c, p, t0) = (Coalescer::default(), peer(), Instant::now());
        let flood: Vec<_> = (0..1000)
            .map(|i| (p, t0 + Duration::from_micros(i * 1000)))
            .collect();
        let raised = run(&mut c, &flood, t0 + Duration::from_secs(60));
        assert_eq!(
            raised,
            vec![
                Notice {
                    from: p.into(),
                    count: 1,
                    text: "m0".into()
                },
                Notice {
                    from: p.into(),
                    count: 999,
                    text: "m999".into()
                },
            ]
        );
        assert!(!c.waiting(), "nothing left to raise");
    }

    #[test]
    fn the_first_message_raises_at_once_and_the_count_waits_for_the_quiet_window() {
        let (mut c, p, t0) = (Coalescer::default(), peer(), Instant::now());
        assert_eq!(c.on_message(p, "hi", t0).map(|n| n.count), Some(1));
        assert!(!c.waiting());
        assert_eq!(c.on_message(p, "again", t0 + Duration::from_secs(1)), None);
        assert!(c.waiting());
        assert!(c.due(t0 + QUIET - Duration::from_millis(1)).is_empty());
        let due = c.due(t0 + QUIET);
        assert_eq!(
            due,
            vec![Notice {
                from: p.into(),
                count: 1,
                text: "again".into()
            }]
        );
        assert!(c.due(t0 + 3 * QUIET).is_empty(), "raised once");
    }

    #[test]
    fn two_peers_are_independent() {
        let (mut c, a, b, t0) = (Coalescer::default(), peer(), peer(), Instant::now());
        let mut messages = Vec::new();
        for i in 0..100 {
            let at = t0 + Duration::from_millis(i * 10);
            messages.push((a, at));
            messages.push((b, at));
        }
        let raised = run(&mut c, &messages, t0 + Duration::from_secs(60));
        for p in [a, b] {
            let counts: Vec<usize> = raised
                .iter()
                .filter(|n| n.from == p.into())
                .map(|n| n.count)
                .collect();
            assert_eq!(counts, vec![1, 99], "each peer its own first and summary");
        }
        // One peer's window does not hold back another's first message.
        let c2 = peer();
        assert_eq!(
            c.on_message(c2, "x", t0 + Duration::from_secs(61))
                .map(|n| n.count),
            Some(1)
        );
    }

    #[test]
    fn a_room_and_a_contact_are_counted_apart() {
        let (mut c, p, t0) = (Coalescer::default(), peer(), Instant::now());
        let room = Source::Room(RoomId::derive(&p, &[1; 16]));
        assert!(c.on_message(p, "hi", t0).is_some());
        assert!(
            c.on_message(room, "Bob: hi all", t0).is_some(),
            "its own first"
        );
        assert!(c.on_message(room, "Bob: again", t0).is_none());
        c.forget(p);
        assert_eq!(
            c.due(t0 + QUIET),
            vec![Notice {
                from: room,
                count: 1,
                text: "Bob: again".into()
            }]
        );
    }

    #[test]
    fn a_message_after_the_quiet_window_raises_at_once_again() {
        let (mut c, p, t0) = (Coalescer::default(), peer(), Instant::now());
        assert!(c.on_message(p, "one", t0).is_some());
        assert!(c.due(t0 + QUIET).is_empty(), "nothing counted");
        let later = t0 + QUIET + Duration::from_secs(1);
        assert_eq!(c.on_message(p, "two", later).map(|n| n.count), Some(1));
        // Without a tick between: the window ended all the same, and what it counted goes
        // with the new message.
        assert_eq!(
            c.on_message(p, "three", later + Duration::from_secs(1)),
            None
        );
        let much_later = later + 2 * QUIET;
        assert_eq!(
            c.on_message(p, "four", much_later),
            Some(Notice {
                from: p.into(),
                count: 2,
                text: "four".into()
            })
        );
    }

    #[test]
    fn focus_and_opening_the_conversation_clear_the_counts() {
        let (mut c, a, b, t0) = (Coalescer::default(), peer(), peer(), Instant::now());
        for p in [a, b] {
            assert!(c.on_message(p, "1", t0).is_some());
            assert!(c.on_message(p, "2", t0).is_none());
        }
        c.forget(a);
        let due = c.due(t0 + QUIET);
        assert_eq!(
            due.iter().map(|n| n.from).collect::<Vec<_>>(),
            vec![b.into()]
        );
        assert!(
            c.on_message(a, "3", t0 + QUIET).is_some(),
            "a raises at once"
        );
        assert!(c.on_message(b, "3", t0 + QUIET).is_none(), "b's new window");
        c.clear();
        assert!(!c.waiting());
        assert!(c.due(t0 + 5 * QUIET).is_empty());
        assert!(c.on_message(b, "4", t0 + QUIET).is_some());
    }
}
