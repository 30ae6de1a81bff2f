//! A hand-driven peer that speaks raw frames: replays, garbage, oversized frames, feature
//! mismatches and unknown kinds against a real node.

use std::time::Duration;

use natter::Identity;
use natter::internals::session::{FEATURES, conversation_id};
use natter::internals::transport;
use natter::internals::wire::{self, Frame, GoodbyeCode};
use natter::node::Event;

use crate::support::{TestNode, friends, node};

pub(crate) struct Raw {
    pub(crate) identity: Identity,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: wire::Decoder,
    _endpoint: quinn::Endpoint,
}

async fn raw(target: &TestNode, features: &[&str]) -> Raw {
    raw_as(target, Identity::generate(), features).await
}

/// A raw peer with a given key (to come back as the same peer on a new connection).
pub(crate) async fn raw_as(target: &TestNode, identity: Identity, features: &[&str]) -> Raw {
    let endpoint = transport::endpoint(&identity, "127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = transport::dial(&endpoint, &identity, target.id(), target.addr)
        .await
        .unwrap();
    let (send, recv) = conn.open_bi().await.unwrap();
    let mut r = Raw {
        identity,
        conn,
        send,
        recv,
        decoder: wire::Decoder::new(),
        _endpoint: endpoint,
    };
    let hello = wire::Hello {
        min_version: 1,
        max_version: 1,
        features: features.iter().map(|s| s.to_string()).collect(),
        max_frame: wire::MAX_FRAME as u32,
        session_id: transport::session_id(&r.conn).unwrap().to_vec(),
        boot_id: vec![3; 16],
        ..Default::default()
    };
    r.write(&Frame::Hello(hello)).await;
    r
}

impl Raw {
    pub(crate) async fn write(&mut self, f: &Frame) {
        self.write_bytes(&wire::encode(f).unwrap()).await;
    }

    async fn write_bytes(&mut self, b: &[u8]) {
        self.send.write_all(b).await.unwrap();
    }

    /// The next frame, or None when the stream ends or nothing comes within 5 s.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(Some(f)) = self.decoder.next_frame() {
                return Some(f);
            }
            match tokio::time::timeout(Duration::from_secs(5), self.recv.read(&mut buf)).await {
                Ok(Ok(Some(n))) => self.decoder.push(&buf[..n]),
                _ => return None,
            }
        }
    }

    pub(crate) async fn next_matching(&mut self, f: impl Fn(&Frame) -> bool) -> Option<Frame> {
        while let Some(frame) = self.next().await {
            if f(&frame) {
                return Some(frame);
            }
        }
        None
    }

    fn chat(&self, target: &TestNode, seq: u64, id: u8, text: &str) -> Frame {
        Frame::Chat(wire::Chat {
            msg_id: vec![id; 16],
            conversation: conversation_id(&self.identity.peer_id(), &target.id()).to_vec(),
            seq,
            timestamp_ms: 1,
            text: text.into(),
            ..Default::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_message_frames_never_make_a_second_row() {
    let mut b = node().await;
    let mut x = raw(&b, FEATURES).await;
    assert!(matches!(x.next().await, Some(Frame::Hello(_))));
    let first = x.chat(&b, 1, 1, "once");
    x.write(&first).await;
    x.write(&first).await; // replay, same seq
    x.write(&x.chat(&b, 2, 1, "once")).await; // same id under a new seq
    x.write(&x.chat(&b, 3, 3, "third")).await;
    let ack = x
        .next_matching(|f| matches!(f, Frame::Ack(a) if a.up_to_seq == 3))
        .await;
    assert!(ack.is_some(), "acked up to 3");
    b.wait_for(
        5,
        |e| matches!(e, Event::MessageReceived { message } if message.text == "third"),
    )
    .await;
    let rows = b
        .handle
        .history(x.identity.peer_id(), 10, None)
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["once", "third"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_frames_end_the_session_not_the_node() {
    let b = node().await;
    for bad in [
        vec![0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 3], // 4 GiB announced
        vec![0, 0, 0, 1, 1],                   // shorter than its header
        vec![0, 0, 0, 5, 1, 0, wire::KIND_CHAT as u8, 0xFF, 0xFF], // malformed body
    ] {
        let mut x = raw(&b, FEATURES).await;
        assert!(matches!(x.next().await, Some(Frame::Hello(_))));
        x.write_bytes(&bad).await;
        let bye = x.next_matching(|f| matches!(f, Frame::Goodbye(_))).await;
        let Some(Frame::Goodbye(g)) = bye else {
            panic!("no goodbye for {bad:?}")
        };
        assert_eq!(g.code, GoodbyeCode::ProtocolError as i32, "{}", g.reason);
    }
    // The node still serves real peers.
    let (mut a, b2) = friends().await;
    a.handle.send(b2.id(), "still fine".into()).await.unwrap();
    a.wait_for(10, |e| matches!(e, Event::MessageDelivered { .. }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_no_common_features_gets_a_clear_goodbye() {
    let b = node().await;
    let mut x = raw(&b, &["rooms", "video"]).await;
    let bye = x.next_matching(|f| matches!(f, Frame::Goodbye(_))).await;
    let Some(Frame::Goodbye(g)) = bye else {
        panic!("no goodbye")
    };
    assert_eq!(g.code, GoodbyeCode::NoCommonFeatures as i32);
    assert!(g.reason.contains("\"text\""), "{}", g.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_frame_kinds_are_answered_and_the_session_goes_on() {
    let mut b = node().await;
    let mut x = raw(&b, FEATURES).await;
    assert!(matches!(x.next().await, Some(Frame::Hello(_))));
    x.write_bytes(&[0, 0, 0, 5, wire::HEADER_VERSION, 0x7A, 0x00, 1, 2])
        .await;
    let answer = x
        .next_matching(|f| matches!(f, Frame::Unsupported(_)))
        .await;
    assert_eq!(
        answer,
        Some(Frame::Unsupported(wire::Unsupported { kind: 0x7A00 }))
    );
    x.write(&x.chat(&b, 1, 9, "after unknown")).await;
    b.wait_for(
        5,
        |e| matches!(e, Event::MessageReceived { message } if message.text == "after unknown"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_streamed_twice_is_saved_once_and_whole() {
    use sha2::{Digest, Sha256};
    let mut b = node().await;
    let mut x = raw(&b, FEATURES).await;
    b.handle
        .add_contact(natter::model::Contact::new(x.identity.peer_id()))
        .await
        .unwrap();
    assert!(matches!(x.next().await, Some(Frame::Hello(_))));
    let data = b"twice over".to_vec();
    // Round 0: the second stream begins while the first is mid-file. Later rounds: the
    // second arrives right behind a complete first, while the file is being put in place.
    for round in 0u8..16 {
        let id = [round + 1; 16];
        let name = format!("twice{round:02}.txt");
        x.write(&Frame::File(wire::FileFrame {
            op: wire::FileOp::Offer as i32,
            file_id: id.to_vec(),
            name: name.clone(),
            size: data.len() as u64,
            sha256: Sha256::digest(&data).to_vec(),
            mime: "text/plain".into(),
            ..Default::default()
        }))
        .await;
        let offer = match b
            .wait_for(5, |e| matches!(e, Event::FileOffered { .. }))
            .await
        {
            Event::FileOffered { transfer } => transfer,
            _ => unreachable!(),
        };
        b.handle
            .accept_file(x.identity.peer_id(), &offer.file_id)
            .await
            .unwrap();
        let accept = x
            .next_matching(|f| matches!(f, Frame::File(f) if f.op == wire::FileOp::Accept as i32))
            .await;
        assert!(accept.is_some(), "accept reached the sender");
        // The node may refuse either stream (whichever it saw second): writes may be stopped.
        let head = natter::internals::files::header(&id, 0);
        let mut first = x.conn.open_uni().await.unwrap();
        let _ = first.write_all(&head).await;
        if round == 0 {
            let mut second = x.conn.open_uni().await.unwrap();
            let _ = second.write_all(&head).await;
            let _ = first.write_all(&data[..4]).await;
            let _ = second.write_all(&data).await;
            let _ = second.finish();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = first.write_all(&data[4..]).await;
            let _ = first.finish();
        } else {
            let _ = first.write_all(&data).await;
            let _ = first.finish();
            // Sweep the moment the file is being put in place (fsync, rename, commit).
            tokio::time::sleep(Duration::from_micros(1500 * u64::from(round - 1))).await;
            let mut second = x.conn.open_uni().await.unwrap();
            let _ = second.write_all(&head).await;
            let _ = second.write_all(&data).await;
            let _ = second.finish();
        }
        b.wait_for(5, |e| matches!(e, Event::FileReceived { .. }))
            .await;
    }
    let later = b.drain(1000).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, Event::FileReceived { .. } | Event::FileEnded { .. })),
        "{later:?}"
    );
    let mut saved: Vec<_> = std::fs::read_dir(b.downloads())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    let expected: Vec<_> = (0..16).map(|r| format!("twice{r:02}.txt")).collect();
    assert_eq!(saved, expected);
    for name in expected {
        assert_eq!(std::fs::read(b.downloads().join(name)).unwrap(), data);
    }
}

/// A file's outcome sent on a connection that went away is not lost: when the sender asks
/// again about it (an offer on its next session), the receiver answers how it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_missed_how_its_file_ended_hears_it_when_it_asks_again() {
    use sha2::{Digest, Sha256};
    let mut b = node().await;
    let identity = Identity::generate();
    b.handle
        .add_contact(natter::model::Contact::new(identity.peer_id()))
        .await
        .unwrap();
    let mut x = raw_as(&b, identity.clone(), FEATURES).await;
    assert!(matches!(x.next().await, Some(Frame::Hello(_))));
    let (id, real, sent) = (
        [9u8; 16],
        b"the real thing".to_vec(),
        b"a fake of same".to_vec(),
    );
    let offer = Frame::File(wire::FileFrame {
        op: wire::FileOp::Offer as i32,
        file_id: id.to_vec(),
        name: "real.txt".into(),
        size: real.len() as u64,
        sha256: Sha256::digest(&real).to_vec(),
        mime: "text/plain".into(),
        ..Default::default()
    });
    x.write(&offer).await;
    let Event::FileOffered { transfer } = b
        .wait_for(5, |e| matches!(e, Event::FileOffered { .. }))
        .await
    else {
        unreachable!()
    };
    b.handle
        .accept_file(identity.peer_id(), &transfer.file_id)
        .await
        .unwrap();
    let is = |op: wire::FileOp| move |f: &Frame| matches!(f, Frame::File(f) if f.op == op as i32);
    assert!(x.next_matching(is(wire::FileOp::Accept)).await.is_some());
    let mut stream = x.conn.open_uni().await.unwrap();
    stream
        .write_all(&natter::internals::files::header(&id, 0))
        .await
        .unwrap();
    stream.write_all(&sent).await.unwrap();
    let _ = stream.finish();
    b.wait_for(5, |e| matches!(e, Event::FileEnded { .. }))
        .await;
    // The sender never read the outcome: its connection goes, and it comes back asking.
    x.conn.close(quinn::VarInt::from_u32(0), b"gone");
    let mut y = raw_as(&b, identity, FEATURES).await;
    assert!(matches!(y.next().await, Some(Frame::Hello(_))));
    y.write(&offer).await;
    let Some(Frame::File(done)) = y.next_matching(is(wire::FileOp::Done)).await else {
        panic!("the receiver did not say how the file ended");
    };
    assert!(!done.ok);
    assert!(done.reason.contains("SHA-256"), "{}", done.reason);
}
