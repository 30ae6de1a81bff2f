//! Rooms between in-process nodes on loopback that find each other through a real
//! rendezvous (room members who are not contacts look each other up there): invitations,
//! messages from every member, catch-up from a member who is not the author, removal and
//! key turnover, a one-to-one chat that becomes a room.

use std::time::Duration;

use natter::PeerId;
use natter::model::{Room, RoomPost, RoomStatus};
use natter::node::Event;
use natter::room::RoomId;

use crate::support::{Rv, TestNode, node_in, rendezvous, restart_with};

async fn member(rv: &Rv) -> TestNode {
    let config = rv.config.clone();
    node_in(tempfile::tempdir().unwrap(), move |c| {
        c.rendezvous = Some(config)
    })
    .await
}

/// Makes `a` and `b` contacts of each other (loopback addresses).
async fn befriend(a: &TestNode, b: &TestNode) {
    a.add(b).await;
    b.add(a).await;
}

/// Waits until `f` holds of the node's history of the room (polled), and returns it.
async fn history_until(
    n: &TestNode,
    room: RoomId,
    secs: u64,
    f: impl Fn(&[RoomPost]) -> bool,
) -> Vec<RoomPost> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let h = n.handle.room_history(room, 10_000).await.unwrap();
        if f(&h) {
            return h;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "history of {} messages after {secs}s: {:?}",
                h.len(),
                h.iter().map(|p| (p.author, p.seq)).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn room_until(n: &TestNode, room: RoomId, secs: u64, f: impl Fn(&Room) -> bool) -> Room {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(r) = n.handle.room(room).await
            && f(&r)
        {
            return r;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "room not as expected after {secs}s: {:?}",
                n.handle.room(room).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `invitee` waits for the invitation and accepts it.
async fn join(invitee: &mut TestNode, room: RoomId) {
    invitee
        .wait_for(
            20,
            |e| matches!(e, Event::RoomInvited { room: r } if r.room_id == room),
        )
        .await;
    let r = invitee.handle.room_accept(room).await.unwrap();
    assert_eq!(r.status, RoomStatus::Joined);
}

/// Alice, Bob and Carol at one rendezvous; Alice knows both, they know only her.
async fn alice_bob_and_carol() -> (Rv, TestNode, TestNode, TestNode) {
    let rv = rendezvous().await;
    let a = member(&rv).await;
    let b = member(&rv).await;
    let c = member(&rv).await;
    befriend(&a, &b).await;
    befriend(&a, &c).await;
    (rv, a, b, c)
}

/// Alice (who knows both), Bob and Carol in a room of Alice's; Bob's "before" reached Carol.
async fn three_in_a_room(name: &str) -> (Rv, TestNode, TestNode, TestNode, RoomId) {
    let (rv, a, mut b, mut c) = alice_bob_and_carol().await;
    let room = a.handle.room_create(name, "").await.unwrap().room_id;
    for other in [&mut b, &mut c] {
        a.handle.room_invite(room, other.id()).await.unwrap();
        join(other, room).await;
    }
    for n in [&a, &b, &c] {
        room_until(n, room, 20, |r| r.members.len() == 3).await;
    }
    b.handle.room_send(room, "before").await.unwrap();
    history_until(&c, room, 30, |h| h.iter().any(|p| p.text == "before")).await;
    (rv, a, b, c, room)
}

fn order(h: &[RoomPost]) -> Vec<(PeerId, u64, String)> {
    h.iter()
        .map(|p| (p.author, p.seq, p.text.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_talk_and_one_offline_catches_up_from_a_member_who_is_not_the_author() {
    let rv = rendezvous().await;
    let a = member(&rv).await;
    let mut b = member(&rv).await;
    let mut c = member(&rv).await;
    let mut d = member(&rv).await;
    // Alice knows everyone; the others know only Alice.
    for other in [&b, &c, &d] {
        befriend(&a, other).await;
    }
    let room = a.handle.room_create("Book club", "").await.unwrap().room_id;
    for other in [&mut b, &mut c, &mut d] {
        a.handle.room_invite(room, other.id()).await.unwrap();
        join(other, room).await;
    }
    for n in [&a, &b, &c, &d] {
        room_until(n, room, 20, |r| {
            r.members.len() == 4 && r.status == RoomStatus::Joined
        })
        .await;
    }

    // Messages from all four, every history the same, in the same order.
    for (i, n) in [&a, &b, &c, &d].iter().enumerate() {
        for k in 0..3 {
            n.handle
                .room_send(room, &format!("from {i}, #{k}"))
                .await
                .unwrap();
        }
    }
    let want = history_until(&a, room, 60, |h| h.len() == 12).await;
    for n in [&b, &c, &d] {
        let got = history_until(n, room, 60, |h| h.len() == 12).await;
        assert_eq!(
            order(&got),
            order(&want),
            "every member shows the same order"
        );
    }

    // Dave goes offline; Alice sends 200; Alice goes offline too. Dave comes back and
    // catches up from Bob or Carol, who are not the author.
    let TestNode {
        handle: d_handle,
        events: d_events,
        _dir: d_dir,
        ..
    } = d;
    d_handle.shutdown().await;
    drop((d_handle, d_events));
    for k in 0..200 {
        a.handle
            .room_send(room, &format!("while Dave was away {k}"))
            .await
            .unwrap();
    }
    for n in [&b, &c] {
        history_until(n, room, 60, |h| h.len() == 212).await;
    }
    a.handle.shutdown().await;
    let config = rv.config.clone();
    let d = restart_with(d_dir, |c| c.rendezvous = Some(config.clone())).await;
    let caught = history_until(&d, room, 90, |h| h.len() >= 212).await;
    assert_eq!(caught.len(), 212, "nothing twice");
    let alices: Vec<u64> = caught
        .iter()
        .filter(|p| p.author == a.id())
        .map(|p| p.seq)
        .collect();
    assert_eq!(
        alices,
        (1..=203).collect::<Vec<_>>(),
        "Alice's messages once, in her order"
    );
    assert_eq!(
        order(&caught),
        order(&history_until(&b, room, 5, |h| h.len() == 212).await)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_reads_nothing_sent_after_and_its_old_state_changes_nothing() {
    let (_rv, a, b, c, room) = three_in_a_room("Plans").await;

    a.handle.room_remove(room, c.id()).await.unwrap();
    room_until(&b, room, 20, |r| r.members.len() == 2).await;
    room_until(&c, room, 20, |r| r.status == RoomStatus::Removed).await;
    b.handle.room_send(room, "after").await.unwrap();
    history_until(&a, room, 30, |h| h.iter().any(|p| p.text == "after")).await;

    // Carol never gets it, and a copy of its bytes does not open with any key she holds.
    let copy = crate::rooms_db::message_bytes(&b, room, b.id(), 2);
    for key in crate::rooms_db::keys_of(&c, room, b.id()) {
        let m = natter::room::RoomMessage::decode(&copy).unwrap();
        assert!(
            m.open(Some(&key)).is_err(),
            "a removed member's key opens a later message"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hers = c.handle.room_history(room, 100).await.unwrap();
    assert!(!hers.iter().any(|p| p.text == "after"));
    // Her old state (version 3, which lists her) offered again changes nothing for Bob.
    let stale = crate::rooms_db::state(&c, room, 3);
    let held = crate::rooms_db::state(&b, room, 4);
    assert!(matches!(
        natter::room::judge(Some(&held), &stale),
        natter::room::Verdict::Stale { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_to_one_chat_becomes_a_room_by_inviting_a_third_person() {
    let (_rv, a, mut b, mut c) = alice_bob_and_carol().await;
    a.handle.send(b.id(), "hi Bob".into()).await.unwrap();
    // "Add a person" in Alice's conversation with Bob: a room of the three.
    let answer = natter::control::execute(
        &a.handle,
        natter::control::Command::RoomCreate {
            name: "Alice, Bob and Carol".into(),
            topic: None,
            invite: vec![b.id(), c.id()],
            public: false,
        },
    )
    .await
    .unwrap();
    let natter::control::Answer::Room(r) = answer else {
        panic!("{answer:?}")
    };
    let room = r.room_id;
    join(&mut b, room).await;
    join(&mut c, room).await;
    c.handle.room_send(room, "hello both").await.unwrap();
    for n in [&a, &b] {
        history_until(n, room, 60, |h| h.iter().any(|p| p.text == "hello both")).await;
    }
    // Room messages are found by search (the last word as a prefix while typed), and a
    // history deleted here leaves the room and the others' copies.
    let found = a.handle.room_search("hello bo", 10).await.unwrap();
    assert_eq!(
        found.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
        ["hello both"]
    );
    assert!(
        a.handle
            .room_search("hello bo ", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(a.handle.room_delete_history(room).await.unwrap(), 1);
    assert!(a.handle.room_history(room, 10).await.unwrap().is_empty());
    assert!(a.handle.room_search("hello", 10).await.unwrap().is_empty());
    assert_eq!(b.handle.room_history(room, 10).await.unwrap().len(), 1);
    // The one-to-one conversation is untouched.
    let dm = b.handle.history(a.id(), 10, None).await.unwrap();
    assert_eq!(
        dm.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["hi Bob"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_member_cannot_forge_replay_downgrade_or_oversize_and_the_room_stays_intact() {
    use natter::Identity;
    use natter::internals::session::FEATURES;
    use natter::internals::wire::{Frame, KeyGrant, RoomFrame, RoomOp};
    use natter::room::{Content, MessageDraft, RoomMessage, SenderKey};

    let rv = rendezvous().await;
    let a = member(&rv).await;
    let mut b = member(&rv).await;
    befriend(&a, &b).await;
    let mallory = Identity::generate();
    let mut m = natter::model::Contact::new(mallory.peer_id());
    m.nickname = "Mallory".into();
    a.handle.add_contact(m).await.unwrap();
    let room = a.handle.room_create("Intact", "").await.unwrap().room_id;
    a.handle.room_invite(room, b.id()).await.unwrap();
    join(&mut b, room).await;
    a.handle.room_invite(room, mallory.peer_id()).await.unwrap();
    b.handle.room_send(room, "from Bob").await.unwrap();
    history_until(&a, room, 30, |h| h.len() == 1).await;
    let version = a.handle.room(room).await.unwrap().version;

    // Mallory, a member, connects to Alice with raw frames.
    let mut x = crate::hostile::raw_as(&a, mallory.clone(), FEATURES).await;
    assert!(matches!(x.next().await, Some(Frame::Hello(_))));
    let frame = |op: RoomOp| RoomFrame {
        op: op as i32,
        room: room.as_bytes().to_vec(),
        ..Default::default()
    };
    let key = SenderKey::generate().unwrap();
    x.write(&Frame::Room(RoomFrame {
        key: Some(KeyGrant {
            key_id: key.id().to_vec(),
            chain: key.chain().to_vec(),
            iteration: 0,
        }),
        ..frame(RoomOp::Key)
    }))
    .await;
    let draft = |seq| MessageDraft {
        room,
        seq,
        lamport: 100 + seq,
        timestamp_ms: 1,
        state_version: version,
    };
    let text = |t: &str| Content { text: t.into() };
    // Her one honest message, sent twice (a replay).
    let honest = RoomMessage::seal(&mallory, &draft(1), Some((&key, 0)), &text("hi")).unwrap();
    // A message that claims Bob as its author: signed by her, so its signature is not Bob's.
    let forged = {
        let hers =
            RoomMessage::seal(&mallory, &draft(2), Some((&key, 1)), &text("I am Bob")).unwrap();
        let mut bytes = hers.bytes().to_vec();
        let at = bytes
            .windows(32)
            .position(|w| w == mallory.peer_id().as_bytes())
            .unwrap();
        bytes[at..at + 32].copy_from_slice(b.id().as_bytes());
        bytes
    };
    // A plain message in a private room (a downgrade).
    let plain = RoomMessage::seal(&mallory, &draft(2), None, &text("in the clear")).unwrap();
    x.write(&Frame::Room(RoomFrame {
        messages: vec![
            honest.bytes().to_vec(),
            honest.bytes().to_vec(),
            forged,
            plain.bytes().to_vec(),
        ],
        ..frame(RoomOp::Messages)
    }))
    .await;
    // An oversized state, and a state version signed by her (no admin) that removes Alice.
    let mut fake = natter::room::RoomState::next(&crate::rooms_db::state(&a, room, version), 1);
    fake.remove(&a.id());
    let fake = fake.sign(&mallory).unwrap();
    x.write(&Frame::Room(RoomFrame {
        states: vec![
            vec![7u8; natter::room::MAX_STATE + 1],
            fake.bytes().to_vec(),
        ],
        ..frame(RoomOp::States)
    }))
    .await;
    x.write(&Frame::Room(RoomFrame {
        states: vec![fake.bytes().to_vec()],
        ..frame(RoomOp::States)
    }))
    .await;

    let h = history_until(&a, room, 10, |h| h.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let h2 = a.handle.room_history(room, 100).await.unwrap();
    assert_eq!(h2, h, "nothing more arrives");
    let texts: Vec<(PeerId, &str)> = h.iter().map(|p| (p.author, p.text.as_str())).collect();
    assert_eq!(texts, [(b.id(), "from Bob"), (mallory.peer_id(), "hi")]);
    let r = a.handle.room(room).await.unwrap();
    assert_eq!(r.version, version, "the room's state is unchanged");
    assert_eq!(r.members.len(), 3);
    // The session lives on: she is still heard (a frame the core refuses is dropped, not fatal).
    let again =
        RoomMessage::seal(&mallory, &draft(2), Some((&key, 1)), &text("still here")).unwrap();
    x.write(&Frame::Room(RoomFrame {
        messages: vec![again.bytes().to_vec()],
        ..frame(RoomOp::Messages)
    }))
    .await;
    history_until(&a, room, 10, |h| h.iter().any(|p| p.text == "still here")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_back_from_offline_takes_the_latest_state_before_it_sends() {
    let (rv, a, b, c, room) = three_in_a_room("Away").await;

    // Bob is offline while Alice removes Carol.
    let TestNode {
        handle,
        events,
        _dir: b_dir,
        ..
    } = b;
    handle.shutdown().await;
    drop((handle, events));
    a.handle.room_remove(room, c.id()).await.unwrap();
    room_until(&c, room, 20, |r| r.status == RoomStatus::Removed).await;

    // Bob comes back and sends as soon as his session with Alice is up.
    let config = rv.config.clone();
    let mut b = restart_with(b_dir, |c| c.rendezvous = Some(config.clone())).await;
    let aid = a.id();
    b.wait_for(
        30,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == aid),
    )
    .await;
    let sent = b.handle.room_send(room, "back again").await.unwrap();
    assert_eq!(
        b.handle.room(room).await.unwrap().members.len(),
        2,
        "the removal came first"
    );
    let bytes = crate::rooms_db::message_bytes(&b, room, b.id(), sent.seq);
    let m = natter::room::RoomMessage::decode(&bytes).unwrap();
    for key in crate::rooms_db::keys_of(&c, room, b.id()) {
        assert!(
            m.open(Some(&key)).is_err(),
            "the removed member opens what was sent after"
        );
    }
    history_until(&a, room, 30, |h| h.iter().any(|p| p.text == "back again")).await;
}

/// Shuts a node down; its profile folder, to start it again.
async fn offline(n: TestNode) -> tempfile::TempDir {
    let TestNode {
        handle,
        events,
        _dir,
        ..
    } = n;
    handle.shutdown().await;
    drop((handle, events));
    _dir
}

/// Waits until `n`'s messages up to `seq` went into `member`'s mailbox (or `member` told
/// `n` it holds them).
async fn mailed_until(n: &TestNode, room: RoomId, member: PeerId, seq: u64) {
    mailed_while(n, room, member, |m| m.seq < seq).await
}

/// Waits while `waiting` holds of what `n` deposited for `member` (at most 60 s).
async fn mailed_while(
    n: &TestNode,
    room: RoomId,
    member: PeerId,
    waiting: impl Fn(&natter::internals::store::Mailed) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while waiting(&crate::rooms_db::mailed(n, room, member)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not deposited after 60s: {:?}",
            crate::rooms_db::mailed(n, room, member)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_online_a_room_goes_through_the_mailbox_both_ways_and_nothing_comes_twice() {
    let rv = rendezvous().await;
    let config = rv.config.clone();
    let a = member(&rv).await;
    let c = member(&rv).await;
    let (aid, cid) = (a.id(), c.id());
    befriend(&a, &c).await;
    // Carol registers with Alice among her contacts (the rendezvous then lets Alice find
    // her record, and her prekey, while she is away).
    let mut c = restart_with(offline(c).await, |cfg| {
        cfg.rendezvous = Some(config.clone())
    })
    .await;
    c.wait_for(20, |e| matches!(e, Event::Rendezvous { online: true, .. }))
        .await;

    // Carol is offline before the room exists: the invitation, Alice's key and her
    // messages wait sealed at the rendezvous, and then Alice goes offline too.
    let c_dir = offline(c).await;
    let room = a.handle.room_create("Letters", "").await.unwrap().room_id;
    a.handle.room_invite(room, cid).await.unwrap();
    for t in ["one", "two", "three"] {
        a.handle.room_send(room, t).await.unwrap();
    }
    mailed_until(&a, room, cid, 3).await;
    assert_eq!(
        crate::rooms_db::mailed(&a, room, cid).version,
        2,
        "the whole chain went: created, then Carol invited"
    );
    let a_dir = offline(a).await;

    // Carol, back with nobody online, is invited, accepts and reads all three.
    let mut c = restart_with(c_dir, |cfg| cfg.rendezvous = Some(config.clone())).await;
    join(&mut c, room).await;
    let got = history_until(&c, room, 30, |h| h.len() == 3).await;
    let texts: Vec<&str> = got.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(got.iter().all(|p| p.author == aid));

    // Her answer (and her key) go the same way while Alice is away.
    c.handle.room_send(room, "got them").await.unwrap();
    mailed_until(&c, room, aid, 1).await;
    let c_dir = offline(c).await;
    let a = restart_with(a_dir, |cfg| cfg.rendezvous = Some(config.clone())).await;
    let got = history_until(&a, room, 30, |h| h.len() == 4).await;
    assert_eq!(
        (got[3].author, got[3].text.as_str()),
        (cid, "got them"),
        "Carol's answer opened at Alice's"
    );

    // Both online: they sync, and nothing that came by mail comes twice.
    let mut c = restart_with(c_dir, |cfg| cfg.rendezvous = Some(config.clone())).await;
    c.wait_for(
        30,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == aid),
    )
    .await;
    a.handle.room_send(room, "all here").await.unwrap();
    let hers = history_until(&c, room, 30, |h| h.len() == 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let his = history_until(&a, room, 5, |h| h.len() == 5).await;
    assert_eq!(
        order(&hers),
        order(&his),
        "the same five, once, in one order"
    );
    assert_eq!(c.handle.room_history(room, 100).await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_back_with_nobody_online_takes_a_removal_from_the_mailbox_before_it_sends() {
    let (rv, a, b, c, room) = three_in_a_room("Mailed removal").await;
    let config = rv.config.clone();
    let bid = b.id();
    // Carol's keys of Bob's, as she holds them while still a member.
    let hers = crate::rooms_db::keys_of(&c, room, bid);
    assert!(!hers.is_empty());

    // Bob is away while Alice removes Carol; the removal waits in Bob's mailbox, and then
    // nobody is online.
    let b_dir = offline(b).await;
    a.handle.room_remove(room, c.id()).await.unwrap();
    room_until(&c, room, 20, |r| r.status == RoomStatus::Removed).await;
    mailed_while(&a, room, bid, |m| m.version < 4).await;
    offline(a).await;
    offline(c).await;

    // Bob comes back and sends the moment he is registered: the fetch under way comes
    // first, so he seals under a key Carol never had.
    let mut b = restart_with(b_dir, |cfg| cfg.rendezvous = Some(config.clone())).await;
    b.wait_for(20, |e| matches!(e, Event::Rendezvous { online: true, .. }))
        .await;
    let sent = b.handle.room_send(room, "just us now").await.unwrap();
    assert_eq!(
        b.handle.room(room).await.unwrap().members.len(),
        2,
        "the removal came first"
    );
    let bytes = crate::rooms_db::message_bytes(&b, room, bid, sent.seq);
    let m = natter::room::RoomMessage::decode(&bytes).unwrap();
    for key in &hers {
        assert!(
            m.open(Some(key)).is_err(),
            "the removed member opens what was sent after"
        );
    }
}
