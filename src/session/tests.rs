use super::*;
use crate::identity::Identity;

fn config(local: PeerId, remote: PeerId) -> SessionConfig {
    SessionConfig {
        local,
        remote,
        session_id: [9; 16],
        boot_id: [1; 16],
        versions: VERSIONS,
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        incarnation: incarnation(&local),
        acked_incarnation: None,
        acked_seq: 0,
        read_seq: 0,
        status: Status::Online,
        status_text: String::new(),
        path: "direct".into(),
        via: String::new(),
    }
}

/// A test incarnation: derived from the key, so each side's differs.
fn incarnation(p: &PeerId) -> Incarnation {
    let mut i = [0; 16];
    i.copy_from_slice(&p.as_bytes()[..16]);
    i
}

fn pair() -> (Session, Session) {
    let a = Identity::generate().peer_id();
    let b = Identity::generate().peer_id();
    let now = Instant::now();
    (
        Session::new(config(a, b), now),
        Session::new(config(b, a), now),
    )
}

/// Moves every queued byte from one session to the other, both ways, until quiet.
fn pump(a: &mut Session, b: &mut Session) {
    let now = Instant::now();
    loop {
        let mut moved = false;
        while let Some(bytes) = a.poll_transmit() {
            b.handle_bytes(&bytes, now);
            moved = true;
        }
        while let Some(bytes) = b.poll_transmit() {
            a.handle_bytes(&bytes, now);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn chat(seq: u64, text: &str) -> OutgoingChat {
    OutgoingChat {
        msg_id: [seq as u8; 16],
        seq,
        timestamp_ms: 1000 + seq,
        text: text.into(),
        base_seq: 0,
    }
}

#[test]
fn hello_establishes_on_the_intersection() {
    let (mut a, mut b) = pair();
    b.config.features = vec!["text".into(), "typing".into(), "voice".into()];
    // b's Hello was queued with the full list; rebuild it with the narrowed one.
    let now = Instant::now();
    b = Session::new(b.config.clone(), now);
    pump(&mut a, &mut b);
    let Some(SessionEvent::Established(n)) = events(&mut a).into_iter().next() else {
        panic!("a not established");
    };
    assert_eq!(n.version, 1);
    assert_eq!(n.features, vec!["text".to_string(), "typing".to_string()]);
    assert!(matches!(events(&mut b)[0], SessionEvent::Established(_)));
}

#[test]
fn no_common_version_is_a_clear_error_on_both_sides() {
    let (mut a, mut b) = pair();
    b.config.versions = (2, 3);
    b = Session::new(b.config.clone(), Instant::now());
    pump(&mut a, &mut b);
    let ea = events(&mut a);
    assert!(
        ea.contains(&SessionEvent::Closed(SessionError::NoCommonVersion {
            ours: (1, 1),
            theirs: (2, 3)
        })),
        "{ea:?}"
    );
    let eb = events(&mut b);
    assert!(
        eb.iter().any(|e| matches!(
            e,
            SessionEvent::Closed(SessionError::NoCommonVersion { .. })
                | SessionEvent::Closed(SessionError::PeerClosed {
                    code: GoodbyeCode::NoCommonVersion,
                    ..
                })
        )),
        "{eb:?}"
    );
}

#[test]
fn no_common_features_is_a_clear_error_on_both_sides() {
    let (mut a, mut b) = pair();
    b.config.features = vec!["rooms".into()];
    b = Session::new(b.config.clone(), Instant::now());
    pump(&mut a, &mut b);
    assert!(events(&mut a).iter().any(|e| matches!(e,
        SessionEvent::Closed(SessionError::NoCommonFeatures { missing }) if missing == "text")));
    assert!(
        events(&mut b)
            .iter()
            .any(|e| matches!(e, SessionEvent::Closed(_)))
    );
    assert!(a.is_closed() && b.is_closed());
}

#[test]
fn session_id_mismatch_is_refused() {
    let (mut a, mut b) = pair();
    b.config.session_id = [8; 16];
    b = Session::new(b.config.clone(), Instant::now());
    pump(&mut a, &mut b);
    assert!(events(&mut a).contains(&SessionEvent::Closed(SessionError::SessionMismatch)));
}

#[test]
fn chat_ack_read_typing_presence_flow() {
    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    events(&mut a);
    events(&mut b);
    a.send_chat(&chat(1, "hi")).unwrap();
    a.send_typing(TypingState::Erased);
    a.send_presence(Status::Busy, "in a meeting");
    pump(&mut a, &mut b);
    let eb = events(&mut b);
    assert_eq!(
        eb,
        vec![
            SessionEvent::Chat(IncomingChat {
                msg_id: [1; 16],
                seq: 1,
                timestamp_ms: 1001,
                text: "hi".into(),
                incarnation: Some(a.config.incarnation),
                base_seq: 0,
            }),
            SessionEvent::Typing(TypingState::Erased),
            SessionEvent::Presence(Status::Busy, "in a meeting".into()),
        ]
    );
    b.send_ack(1);
    b.send_read(1);
    pump(&mut a, &mut b);
    assert_eq!(
        events(&mut a),
        vec![SessionEvent::Acked(1), SessionEvent::Read(1)]
    );
}

#[test]
fn frames_before_hello_are_a_protocol_error() {
    let (mut a, mut b) = pair();
    let _ = b.poll_transmit(); // drop b's hello
    let conv = a.conversation().to_vec();
    let bytes = wire::encode(&Frame::Ack(wire::Ack {
        conversation: conv,
        up_to_seq: 3,
    }))
    .unwrap();
    a.handle_bytes(&bytes, Instant::now());
    assert!(
        events(&mut a)
            .iter()
            .any(|e| matches!(e, SessionEvent::Closed(SessionError::Protocol(_))))
    );
}

#[test]
fn unknown_frame_kinds_are_answered_not_fatal() {
    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    events(&mut a);
    let unknown = [0u8, 0, 0, 3, wire::HEADER_VERSION, 0x40, 0x00];
    a.handle_bytes(&unknown, Instant::now());
    assert!(!a.is_closed());
    let answer = a.poll_transmit().unwrap();
    assert_eq!(
        wire::decode_one(&answer).unwrap(),
        Some(Frame::Unsupported(wire::Unsupported { kind: 0x4000 }))
    );
    assert!(events(&mut a).is_empty());
}

#[test]
fn wrong_conversation_and_bad_message_ids_close_the_session() {
    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    events(&mut a);
    let bad = wire::encode(&Frame::Chat(wire::Chat {
        msg_id: vec![1; 16],
        conversation: vec![0; 16],
        seq: 1,
        timestamp_ms: 0,
        text: "x".into(),
        ..wire::Chat::default()
    }))
    .unwrap();
    a.handle_bytes(&bad, Instant::now());
    assert!(a.is_closed());

    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    events(&mut a);
    let conv = a.conversation().to_vec();
    let bad = wire::encode(&Frame::Chat(wire::Chat {
        msg_id: vec![1; 3],
        conversation: conv,
        seq: 1,
        timestamp_ms: 0,
        text: "x".into(),
        ..wire::Chat::default()
    }))
    .unwrap();
    a.handle_bytes(&bad, Instant::now());
    assert!(a.is_closed());
}

fn established(s: &mut Session) -> Negotiated {
    match events(s).into_iter().next() {
        Some(SessionEvent::Established(n)) => n,
        other => panic!("not established: {other:?}"),
    }
}

#[test]
fn a_peer_position_counting_another_incarnation_of_ours_is_ignored() {
    // b stored 3 of a's messages and read 2, but of an incarnation a no longer has (a
    // started over on a new database): a must not mark its new messages with them.
    let (a, b) = pair();
    let mut cb = b.config.clone();
    cb.acked_incarnation = Some([0xee; 16]);
    (cb.acked_seq, cb.read_seq) = (3, 2);
    let (mut a, mut b) = (
        Session::new(a.config.clone(), Instant::now()),
        Session::new(cb.clone(), Instant::now()),
    );
    pump(&mut a, &mut b);
    let n = established(&mut a);
    assert_eq!((n.peer_acked_seq, n.peer_read_seq), (0, 0));
    assert_eq!(n.peer_incarnation, Some(b.config.incarnation));

    // Counted in a's own incarnation, the same positions stand.
    cb.acked_incarnation = Some(a.config.incarnation);
    let (mut a, mut b) = (
        Session::new(a.config.clone(), Instant::now()),
        Session::new(cb, Instant::now()),
    );
    pump(&mut a, &mut b);
    let n = established(&mut a);
    assert_eq!((n.peer_acked_seq, n.peer_read_seq), (3, 2));
}

#[test]
fn a_message_carries_its_incarnation_and_base_and_may_name_no_other() {
    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    events(&mut a);
    events(&mut b);
    let mut m = chat(7, "after a deleted history");
    m.base_seq = 7;
    a.send_chat(&m).unwrap();
    pump(&mut a, &mut b);
    match events(&mut b).as_slice() {
        [SessionEvent::Chat(c)] => {
            assert_eq!((c.seq, c.base_seq), (7, 7));
            assert_eq!(c.incarnation, Some(a.config.incarnation));
        }
        other => panic!("{other:?}"),
    }
    let conv = b.conversation().to_vec();
    let other = wire::encode(&Frame::Chat(wire::Chat {
        msg_id: vec![1; 16],
        conversation: conv,
        seq: 8,
        text: "x".into(),
        incarnation: vec![0xee; 16],
        ..wire::Chat::default()
    }))
    .unwrap();
    b.handle_bytes(&other, Instant::now());
    assert!(
        b.is_closed(),
        "a message of another incarnation is a protocol error"
    );
}

#[test]
fn an_incarnation_that_is_not_16_bytes_closes_the_session() {
    let (_, mut b) = pair();
    let hello = wire::encode(&Frame::Hello(wire::Hello {
        min_version: VERSIONS.0,
        max_version: VERSIONS.1,
        features: vec![FEATURE_TEXT.into()],
        session_id: b.config.session_id.to_vec(),
        incarnation: vec![1; 5],
        ..wire::Hello::default()
    }))
    .unwrap();
    b.handle_bytes(&hello, Instant::now());
    assert!(b.is_closed());
}

#[test]
fn hello_timeout_fires_at_its_deadline_only() {
    let (mut a, _b) = pair();
    let deadline = a.poll_timeout().unwrap();
    a.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!a.is_closed());
    a.handle_timeout(deadline);
    assert!(events(&mut a).contains(&SessionEvent::Closed(SessionError::HelloTimeout)));
}

#[test]
fn oversized_text_is_refused_locally() {
    let (mut a, mut b) = pair();
    pump(&mut a, &mut b);
    assert!(a.send_chat(&chat(1, &"x".repeat(MAX_TEXT + 1))).is_err());
}

proptest::proptest! {
    #[test]
    fn random_bytes_after_hello_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
        let (mut a, mut b) = pair();
        pump(&mut a, &mut b);
        a.handle_bytes(&bytes, Instant::now());
        while a.poll_event().is_some() {}
    }
}
