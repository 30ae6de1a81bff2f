//! The target `room`: a room's signed states and messages as a member receives them, a
//! chain of states judged in order, and a public room's listing as the LAN and the
//! directory carry it.

use super::{keys, split_first};
use crate::room::{
    Content, LISTED_TOPIC, Listing, MAX_LISTING, MAX_MEMBERS, MAX_STATE, MessageDraft, Policy,
    RoomId, RoomMessage, RoomState, SenderKey, SignedListing, SignedState, Verdict, judge,
};

/// The fixed sender key the seeds seal with (so a corpus input still opens on replay).
pub(super) fn sender_key() -> SenderKey {
    SenderKey::from_parts([0x33; 8], [0x44; 32], 0)
}

/// The target `room`. Bytes: a mode (0 a state, 1 a message, 2 a chain of states, each
/// behind a 2-byte length, 3 a listing), then what a member or a stranger sent.
pub fn room(data: &[u8]) {
    let (mode, rest) = split_first(data);
    match mode % 4 {
        0 => state(rest),
        1 => message(rest),
        2 => chain(rest),
        _ => listing(rest),
    }
}

fn listing(bytes: &[u8]) {
    let Ok(l) = SignedListing::decode(bytes) else {
        return;
    };
    let what = l.listing();
    assert!(l.bytes().len() <= MAX_LISTING && what.topic.len() <= LISTED_TOPIC);
    assert!(what.members >= 1 && what.members as usize <= MAX_MEMBERS);
    assert_eq!(
        what.room,
        RoomId::derive(&what.creator, &what.nonce),
        "a listing of a room that is not its signer's"
    );
    assert_eq!(
        SignedListing::decode(l.bytes()).as_ref(),
        Ok(&l),
        "decodes the same twice"
    );
}

/// A listing of the seeds' public room, valid from 1 000 ms for a minute (the fuzz
/// targets read room records at that time).
pub(super) fn seed_listing() -> SignedListing {
    let creator = keys::peer();
    let s = RoomState::create(
        creator.peer_id(),
        [4; 16],
        "Fuzz café",
        "t",
        Policy::Public,
        1,
    );
    Listing::of(&s, 1_000, 60_000)
        .sign(creator, Policy::Public)
        .expect("a seed listing signs")
}

fn state(bytes: &[u8]) {
    let Ok(s) = SignedState::decode(bytes) else {
        return;
    };
    assert!(s.bytes().len() <= MAX_STATE && s.state().members.len() <= MAX_MEMBERS);
    assert_eq!(
        SignedState::decode(s.bytes()).as_ref(),
        Ok(&s),
        "decodes the same twice"
    );
    assert_eq!(
        judge(Some(&s), &s),
        Verdict::Duplicate,
        "the state held is a duplicate"
    );
    if judge(None, &s) == Verdict::Apply {
        assert_eq!(s.version(), 1, "only a first version applies to nothing");
        assert_eq!(
            s.signer(),
            s.state().creator,
            "a first version is its creator's"
        );
    }
}

fn message(bytes: &[u8]) {
    let Ok(m) = RoomMessage::decode(bytes) else {
        return;
    };
    assert!(m.seq() >= 1 && m.lamport() >= 1 && m.state_version() >= 1);
    let opened = m.open(Some(&sender_key()));
    if m.sealed_by().is_none() {
        assert_eq!(
            opened.is_ok(),
            m.open(None).is_ok(),
            "a plain message needs no key"
        );
    }
}

fn chain(mut bytes: &[u8]) {
    let mut held: Option<SignedState> = None;
    while let Some((len, rest)) = bytes.split_first_chunk::<2>() {
        let (item, tail) = rest.split_at(usize::from(u16::from_be_bytes(*len)).min(rest.len()));
        bytes = tail;
        let Ok(s) = SignedState::decode(item) else {
            continue;
        };
        if judge(held.as_ref(), &s) == Verdict::Apply {
            match &held {
                Some(h) => {
                    assert_eq!(s.version(), h.version() + 1);
                    assert_eq!(s.state().prev, Some(h.hash()));
                    assert_eq!(s.state().id, h.state().id);
                }
                None => assert_eq!(s.version(), 1),
            }
            held = Some(s);
        }
    }
}

/// Seeds: a first state, the next one (the creator invites us), a sealed and a plain
/// message, and the chain of both states.
pub(super) fn seeds() -> Vec<Vec<u8>> {
    let creator = keys::peer();
    let v1 = RoomState::create(
        creator.peer_id(),
        [9; 16],
        "Fuzz",
        "topic",
        Policy::Private,
        1,
    )
    .sign(creator)
    .expect("a seed state signs");
    let mut next = RoomState::next(&v1, 2);
    next.add(*keys::me_id());
    let v2 = next.sign(creator).expect("a seed state signs");
    let room: RoomId = v1.state().id;
    let draft = MessageDraft {
        room,
        seq: 1,
        lamport: 1,
        timestamp_ms: 1,
        state_version: 2,
    };
    let text = Content {
        text: "hello room".into(),
    };
    let sealed = RoomMessage::seal(creator, &draft, Some((&sender_key(), 3)), &text)
        .expect("a seed message seals");
    let plain = RoomMessage::seal(creator, &draft, None, &text).expect("a seed message signs");
    let framed =
        |s: &SignedState| [&(s.bytes().len() as u16).to_be_bytes()[..], s.bytes()].concat();
    vec![
        [&[0][..], v1.bytes()].concat(),
        [&[0][..], v2.bytes()].concat(),
        [&[1][..], sealed.bytes()].concat(),
        [&[1][..], plain.bytes()].concat(),
        [vec![2], framed(&v1), framed(&v2)].concat(),
        [&[3][..], seed_listing().bytes()].concat(),
    ]
}
