//! The sending half of delivery fed bytes alone: outbox windows, room to write, what one
//! session has written, and the one-session-per-peer rule.

use super::*;
use crate::identity::Identity;

fn config(local: PeerId, remote: PeerId) -> SessionConfig {
    let mut incarnation = [0; 16];
    incarnation.copy_from_slice(&local.as_bytes()[..16]);
    SessionConfig {
        local,
        remote,
        session_id: [9; 16],
        boot_id: [1; 16],
        versions: VERSIONS,
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        incarnation,
        acked_incarnation: None,
        acked_seq: 0,
        read_seq: 0,
        status: Status::Online,
        status_text: String::new(),
        path: "direct".into(),
        via: String::new(),
    }
}

/// Two sessions, Hellos exchanged, events drained.
fn established() -> (Session, Session) {
    let (a, b) = (
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
    );
    let now = Instant::now();
    let (mut a, mut b) = (
        Session::new(config(a, b), now),
        Session::new(config(b, a), now),
    );
    carry(&mut a, &mut b);
    carry(&mut b, &mut a);
    while a.poll_event().is_some() || b.poll_event().is_some() {}
    (a, b)
}

/// Moves everything `from` queued into `to`; returns the bytes moved.
fn carry(from: &mut Session, to: &mut Session) -> usize {
    let mut n = 0;
    while let Some(bytes) = from.poll_transmit() {
        n += bytes.len();
        to.handle_bytes(&bytes, Instant::now());
    }
    n
}

fn outbox(seqs: std::ops::RangeInclusive<u64>, size: usize) -> Vec<OutgoingChat> {
    seqs.map(|seq| OutgoingChat {
        msg_id: [seq as u8; 16],
        seq,
        timestamp_ms: seq,
        text: "x".repeat(size),
        base_seq: 1,
    })
    .collect()
}

fn chats(s: &mut Session) -> Vec<u64> {
    std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            SessionEvent::Chat(c) => Some(c.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn nothing_is_read_from_the_outbox_before_the_hello() {
    let (a, b) = (
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
    );
    let mut s = Session::new(config(a, b), Instant::now());
    s.outbox_changed();
    assert_eq!(s.poll_outbox(), None);
}

#[test]
fn a_new_session_reads_the_whole_outbox_from_the_start_one_read_at_a_time() {
    let (mut a, _b) = established();
    let read = a
        .poll_outbox()
        .expect("the outbox is read once established");
    assert_eq!(
        read,
        OutboxRead {
            after: 0,
            limit: FLUSH_WINDOW,
            max_bytes: FLUSH_ROOM,
        }
    );
    a.outbox_changed();
    assert_eq!(a.poll_outbox(), None, "one read in flight at a time");
    a.handle_outbox(&outbox(1..=3, 10));
    // A send arrived during the read: the next read starts after what was written.
    assert_eq!(a.poll_outbox().map(|r| r.after), Some(3));
}

#[test]
fn a_long_outbox_goes_out_in_windows_only_while_there_is_room_to_write() {
    let (mut a, mut b) = established();
    let all = outbox(1..=150, 12 * 1024);
    let mut delivered = Vec::new();
    let mut reads = 0;
    loop {
        while let Some(read) = a.poll_outbox() {
            reads += 1;
            // As the store answers: at most `limit`, ending at the one reaching `max_bytes`.
            let mut bytes = 0;
            let window: Vec<OutgoingChat> = all
                .iter()
                .filter(|m| m.seq > read.after)
                .take(read.limit)
                .take_while(|m| {
                    let under = bytes < read.max_bytes;
                    bytes += m.text.len();
                    under
                })
                .cloned()
                .collect();
            a.handle_outbox(&window);
            assert!(
                a.queued_bytes() < 2 * FLUSH_ROOM + MAX_TEXT + 100,
                "never more than one window past the room"
            );
        }
        if carry(&mut a, &mut b) == 0 {
            break;
        }
        delivered.extend(chats(&mut b));
    }
    assert_eq!(
        delivered,
        (1..=150).collect::<Vec<_>>(),
        "all, once, in order"
    );
    // 12 KiB each: a window ends at the 22nd (22 x 12 KiB reaches 256 KiB); 6 full ones and
    // a short one that ends the reads.
    assert_eq!(reads, 150_usize.div_ceil(FLUSH_ROOM.div_ceil(12 * 1024)));
}

#[test]
fn a_read_while_the_writes_are_behind_waits_for_room() {
    let (mut a, mut b) = established();
    let read = a.poll_outbox().unwrap();
    a.handle_outbox(&outbox(1..=22, 12 * 1024));
    assert!(a.queued_bytes() >= FLUSH_ROOM);
    assert_eq!(
        a.poll_outbox(),
        None,
        "a full window, but nothing written yet"
    );
    carry(&mut a, &mut b);
    assert_eq!(
        a.poll_outbox(),
        Some(OutboxRead { after: 22, ..read }),
        "written out: the next window"
    );
}

#[test]
fn messages_written_on_this_session_are_not_written_again() {
    let (mut a, mut b) = established();
    a.poll_outbox().unwrap();
    assert_eq!(a.handle_outbox(&outbox(1..=2, 5)).len(), 2);
    a.outbox_changed();
    a.poll_outbox().unwrap();
    // A read that overlaps (the store answered from an older position): only 3 is new.
    assert_eq!(a.handle_outbox(&outbox(1..=3, 5)), vec![[3; 16]]);
    carry(&mut a, &mut b);
    assert_eq!(chats(&mut b), [1, 2, 3]);
    assert_eq!(
        a.handle_outbox(&outbox(4..=4, 5)),
        Vec::<[u8; 16]>::new(),
        "no read asked"
    );
}

#[test]
fn a_message_handed_over_as_queued_is_written_without_a_read_only_when_it_is_the_next() {
    let (mut a, mut b) = established();
    a.poll_outbox().unwrap();
    a.handle_outbox(&outbox(1..=2, 5));
    let next = outbox(3..=5, 5);
    assert!(a.outbox_queued(&next[0]), "the next one: written as it is");
    assert_eq!(a.poll_outbox(), None, "and no read asked for it");
    // One that skips a seq (a send whose hand-over is still on its way): read instead.
    assert!(!a.outbox_queued(&next[2]));
    let read = a.poll_outbox().expect("the outbox is read for it");
    assert_eq!(read.after, 3);
    // A hand-over that comes while that read is under way is written once.
    assert!(a.outbox_queued(&next[1]));
    assert_eq!(a.handle_outbox(&next), vec![[5; 16]]);
    carry(&mut a, &mut b);
    assert_eq!(chats(&mut b), [1, 2, 3, 4, 5]);
    // No room: it waits for a read like any other.
    a.outbox_changed();
    a.poll_outbox().unwrap();
    a.handle_outbox(&outbox(6..=27, 12 * 1024));
    assert!(a.queued_bytes() >= FLUSH_ROOM);
    assert!(!a.outbox_queued(&outbox(28..=28, 5)[0]));
}

#[test]
fn one_session_per_peer_is_decided_alike_on_both_sides() {
    let (x, y) = (
        Identity::generate().peer_id(),
        Identity::generate().peer_id(),
    );
    let small = x.min(y);
    let large = x.max(y);
    let live = |dialer, boot: u8| Live {
        dialer,
        peer_boot: vec![boot; 16],
        relayed: false,
    };
    // Nothing held: keep it.
    assert!(keeps_new(&x, &y, None, &live(x, 1)));
    // The peer restarted (another boot id): the old connection is dead.
    assert!(keeps_new(&x, &y, Some(&live(y, 1)), &live(x, 2)));
    // The same side dialled again: the newer wins.
    assert!(keeps_new(&x, &y, Some(&live(y, 1)), &live(y, 1)));
    // Both dialled at once: on both sides, the smaller id's dial is kept.
    for (me, peer) in [(x, y), (y, x)] {
        assert!(keeps_new(
            &me,
            &peer,
            Some(&live(large, 1)),
            &live(small, 1)
        ));
        assert!(!keeps_new(
            &me,
            &peer,
            Some(&live(small, 1)),
            &live(large, 1)
        ));
    }
    // A direct connection replaces a relayed one whoever dialled; a relayed one never
    // replaces a direct one (the same on both sides).
    let relayed = |dialer| Live {
        relayed: true,
        ..live(dialer, 1)
    };
    for (me, peer) in [(x, y), (y, x)] {
        for (old, new) in [(small, large), (large, small), (x, x)] {
            assert!(keeps_new(&me, &peer, Some(&relayed(old)), &live(new, 1)));
            assert!(!keeps_new(&me, &peer, Some(&live(old, 1)), &relayed(new)));
        }
    }
}
