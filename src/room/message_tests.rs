//! Room messages and sender keys: sealing, signatures, who can open what, catch-up rules and
//! the shared display order.

use prost::Message;

use super::*;
use crate::identity::Identity;

fn id(n: u8) -> Identity {
    Identity::from_seed([n; 32])
}

fn room() -> RoomId {
    RoomId::derive(&id(1).peer_id(), &[7; 16])
}

fn draft(seq: u64, lamport: u64) -> MessageDraft {
    MessageDraft {
        room: room(),
        seq,
        lamport,
        timestamp_ms: 1_700_000_000_000,
        state_version: 3,
    }
}

fn text(t: &str) -> Content {
    Content { text: t.into() }
}

#[test]
fn a_sealed_message_opens_with_its_authors_key_from_the_iteration_given_on() {
    let alice = id(1);
    let key = SenderKey::generate().unwrap();
    let m = RoomMessage::seal(&alice, &draft(6, 9), Some((&key, 5)), &text("hello room")).unwrap();
    let read = RoomMessage::decode(m.bytes()).unwrap();
    assert_eq!(read, m);
    assert_eq!(
        (read.author(), read.seq(), read.lamport()),
        (alice.peer_id(), 6, 9)
    );
    assert_eq!(read.sealed_by(), Some((key.id(), 5)));
    assert_eq!(read.open(Some(&key)).unwrap().text, "hello room");
    // The text is not in the bytes.
    assert!(!m.bytes().windows(10).any(|w| w == b"hello room"));

    // A member given the chain at iteration 5 reads it; one given it at 6 (added later) not.
    assert_eq!(
        read.open(Some(&key.at(5).unwrap())).unwrap().text,
        "hello room"
    );
    assert_eq!(
        read.open(Some(&key.at(6).unwrap())),
        Err(MessageError::Key(KeyError::Before))
    );
    // Another key (the one made after a removal, say): not this message's.
    let newer = SenderKey::generate().unwrap();
    assert_eq!(read.open(Some(&newer)), Err(MessageError::NoKey(key.id())));
    assert_eq!(read.open(None), Err(MessageError::NoKey(key.id())));
    // Past a key's life: refused before any work.
    assert_eq!(key.seal(ROTATE_AFTER + 1, b"", b"x"), Err(KeyError::TooFar));
}

#[test]
fn a_message_under_a_key_made_after_a_removal_stays_closed_to_the_removed_member() {
    // Bob is removed; Alice turns over her key and hands the new one to those who remain.
    let alice = id(1);
    let before = SenderKey::generate().unwrap();
    let bobs_copy = before.clone();
    let after = SenderKey::generate().unwrap();
    let m = RoomMessage::seal(&alice, &draft(40, 80), Some((&after, 0)), &text("after")).unwrap();
    // Bob, given a copy of the bytes (forwarded, or read from a mailbox), holds only the old key.
    let copy = RoomMessage::decode(m.bytes()).unwrap();
    assert_eq!(
        copy.open(Some(&bobs_copy)),
        Err(MessageError::NoKey(after.id()))
    );
    // Even naming his key as the one that sealed it does not help: the seal does not open.
    let forged_id = SenderKey::from_parts(after.id(), *bobs_copy.chain(), 0);
    assert_eq!(
        copy.open(Some(&forged_id)),
        Err(MessageError::Key(KeyError::Open))
    );
    assert_eq!(copy.open(Some(&after)).unwrap().text, "after");
}

#[test]
fn a_forged_author_or_a_changed_byte_is_refused() {
    let (alice, mallory) = (id(1), id(2));
    let key = SenderKey::generate().unwrap();
    let m = RoomMessage::seal(&alice, &draft(1, 1), Some((&key, 0)), &text("mine")).unwrap();

    // Mallory puts Alice's name on her own signed message.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Signed {
        #[prost(bytes = "vec", tag = "1")]
        body: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        sig: Vec<u8>,
    }
    let hers = RoomMessage::seal(&mallory, &draft(1, 1), Some((&key, 0)), &text("x")).unwrap();
    let mut signed = Signed::decode(hers.bytes()).unwrap();
    let at = signed
        .body
        .windows(32)
        .position(|w| w == mallory.peer_id().as_bytes())
        .unwrap();
    signed.body[at..at + 32].copy_from_slice(alice.peer_id().as_bytes());
    assert_eq!(
        RoomMessage::decode(&signed.encode_to_vec()),
        Err(MessageError::BadSignature)
    );
    // Every flipped byte: an error or a message that is not the original.
    for at in 0..m.bytes().len() {
        let mut b = m.bytes().to_vec();
        b[at] ^= 0x01;
        if let Ok(other) = RoomMessage::decode(&b) {
            assert_ne!(other.bytes(), m.bytes());
        }
    }
    // Caps.
    assert_eq!(
        RoomMessage::decode(&vec![0; MAX_MESSAGE + 1]),
        Err(MessageError::TooLarge(MAX_MESSAGE + 1))
    );
    let long = text(&"x".repeat(MAX_TEXT + 1));
    assert_eq!(
        RoomMessage::seal(&alice, &draft(2, 2), None, &long),
        Err(MessageError::TextTooLong)
    );
}

#[test]
fn a_public_rooms_message_is_signed_and_plain() {
    let alice = id(1);
    let m = RoomMessage::seal(&alice, &draft(1, 1), None, &text("hi all")).unwrap();
    assert_eq!(m.sealed_by(), None);
    assert_eq!(m.open(None).unwrap().text, "hi all");
}

#[test]
fn each_author_is_stored_in_order_and_gaps_are_fetched() {
    assert_eq!(arrival(4, 5), Arrival::Store);
    assert_eq!(arrival(4, 4), Arrival::Duplicate);
    assert_eq!(arrival(4, 1), Arrival::Duplicate);
    assert_eq!(arrival(4, 7), Arrival::Gap);

    let (a, b, c) = (id(1).peer_id(), id(2).peer_id(), id(3).peer_id());
    let ours: Vector = [(a, 10), (b, 3), (c, 5)].into_iter().collect();
    let theirs: Vector = [(a, 10), (b, 7), (c, 0)].into_iter().collect();
    let mut want = vec![(c, 1, 5)];
    want.sort();
    assert_eq!(gaps(&ours, &theirs), want);
    assert_eq!(gaps(&theirs, &ours), vec![(b, 4, 7)]);
    assert!(gaps(&ours, &ours).is_empty());
}

#[test]
fn every_member_shows_the_same_order_whatever_order_messages_arrived_in() {
    let authors = [id(1), id(2), id(3)];
    let mut msgs = Vec::new();
    let mut lamport = 0;
    for round in 1..=5u64 {
        for (n, a) in authors.iter().enumerate() {
            // Two authors often post "at once": the same Lamport clock.
            if n != 1 {
                lamport += 1;
            }
            let m = RoomMessage::seal(a, &draft(round, lamport), None, &text("m")).unwrap();
            msgs.push(m);
        }
    }
    let sorted = |mut v: Vec<RoomMessage>| {
        v.sort_by_key(OrderKey::of);
        v.iter().map(|m| (m.author(), m.seq())).collect::<Vec<_>>()
    };
    let one = sorted(msgs.clone());
    let mut reversed = msgs.clone();
    reversed.reverse();
    let mut interleaved = msgs.clone();
    interleaved.rotate_left(7);
    assert_eq!(sorted(reversed), one);
    assert_eq!(sorted(interleaved), one);
    // Per author, the order is its own sequence.
    for a in &authors {
        let seqs: Vec<u64> = one
            .iter()
            .filter(|(p, _)| *p == a.peer_id())
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    }
}
