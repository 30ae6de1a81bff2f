//! Messages, receipts, typing and presence between two in-process nodes.

use natter::model::MessageState;
use natter::model::{Status, TypingState};
use natter::node::Event;

use crate::support::{TestNode, friends, node, restart};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_is_delivered_then_read_with_receipts() {
    let (mut a, mut b) = friends().await;
    let m = a.handle.send(b.id(), "hello".into()).await.unwrap();
    assert_eq!(m.state, MessageState::Queued);
    let got = b
        .wait_for(10, |e| matches!(e, Event::MessageReceived { .. }))
        .await;
    let Event::MessageReceived { message } = got else {
        unreachable!()
    };
    assert_eq!(
        (message.text.as_str(), message.seq, message.sender),
        ("hello", 1, a.id())
    );
    assert_eq!(message.id, m.id);
    let id = m.id.clone();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageDelivered { ids, .. } if ids.contains(&id)),
    )
    .await;
    b.handle.mark_read(a.id()).await.unwrap();
    let id = m.id.clone();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageRead { ids, .. } if ids.contains(&id)),
    )
    .await;
    let history = a.handle.history(b.id(), 10, None).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, MessageState::Read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_and_presence_reach_the_peer() {
    let (a, mut b) = friends().await;
    for state in [
        TypingState::Typing,
        TypingState::Paused,
        TypingState::Erased,
        TypingState::Idle,
    ] {
        a.handle.set_typing(b.id(), state).await.unwrap();
        b.wait_for(
            10,
            |e| matches!(e, Event::Typing { state: s, .. } if *s == state),
        )
        .await;
    }
    a.handle
        .set_presence(Status::Away, "lunch".into())
        .await
        .unwrap();
    b.wait_for(
        10,
        |e| matches!(e, Event::Presence { status: Status::Away, text, .. } if text == "lunch"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_switch_off_sends_nothing() {
    let (a, mut b) = friends().await;
    a.handle
        .set_switches(b.id(), Some(false), None)
        .await
        .unwrap();
    a.handle
        .set_typing(b.id(), TypingState::Typing)
        .await
        .unwrap();
    a.handle.send(b.id(), "after".into()).await.unwrap();
    b.wait_for(10, |e| matches!(e, Event::MessageReceived { .. }))
        .await;
    let events = b.drain(300).await;
    assert!(
        !events.iter().any(|e| matches!(e, Event::Typing { .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipt_switch_off_keeps_read_private() {
    let (mut a, b) = friends().await;
    b.handle
        .set_switches(a.id(), None, Some(false))
        .await
        .unwrap();
    let m = a.handle.send(b.id(), "private".into()).await.unwrap();
    let id = m.id.clone();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageDelivered { ids, .. } if ids.contains(&id)),
    )
    .await;
    b.handle.mark_read(a.id()).await.unwrap();
    let events = a.drain(500).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::MessageRead { .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_wait_for_an_offline_contact_and_go_out_in_order() {
    let mut a = node().await;
    let b_dir = tempfile::tempdir().unwrap();
    // b exists (we know its key) but is not running yet.
    let b_id = natter::Identity::load_or_create(b_dir.path())
        .unwrap()
        .peer_id();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = natter::model::Contact::new(b_id);
    c.addr = Some(format!("127.0.0.1:{port}"));
    a.handle.add_contact(c).await.unwrap();
    for i in 1..=20 {
        let m = a.handle.send(b_id, format!("m{i}")).await.unwrap();
        assert_eq!(m.state, MessageState::Queued);
    }
    a.wait_for(10, |e| matches!(e, Event::DialFailed { .. }))
        .await;
    let mut config = natter::node::NodeConfig::new(b_dir.path());
    config.discovery = None;
    config.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let (b, _events) = natter::Node::start(config).await.unwrap();
    let mut c = natter::model::Contact::new(a.id());
    c.addr = Some(a.addr.to_string());
    b.add_contact(c).await.unwrap();
    let mut delivered = 0;
    while delivered < 20 {
        if let Event::MessageDelivered { ids, .. } = a
            .wait_for(20, |e| matches!(e, Event::MessageDelivered { .. }))
            .await
        {
            delivered += ids.len();
        }
    }
    let got: Vec<String> = b
        .history(a.id(), 100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(got, (1..=20).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_messages_on_both_sides() {
    let (mut a, mut b) = friends().await;
    a.handle
        .send(b.id(), "the blue heron landed".into())
        .await
        .unwrap();
    b.wait_for(10, |e| matches!(e, Event::MessageReceived { .. }))
        .await;
    a.wait_for(10, |e| matches!(e, Event::MessageDelivered { .. }))
        .await;
    assert_eq!(a.handle.search("heron".into(), 10).await.unwrap().len(), 1);
    assert_eq!(
        b.handle.search("blue her".into(), 10).await.unwrap().len(),
        1
    );
    assert!(
        b.handle
            .search("egret".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_deleted_with_messages_unsent_then_a_send_is_delivered() {
    let (mut a, b) = friends().await;
    let m = a.handle.send(b.id(), "before".into()).await.unwrap();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageDelivered { ids, .. } if ids.contains(&m.id)),
    )
    .await;
    // b goes away; two messages wait in a's outbox, then a deletes the history.
    let bid = b.id();
    let TestNode {
        handle,
        events,
        _dir,
        ..
    } = b;
    handle.shutdown().await;
    drop((handle, events));
    a.wait_for(
        10,
        |e| matches!(e, Event::Disconnected { peer, .. } if *peer == bid),
    )
    .await;
    for t in ["unsent one", "unsent two"] {
        a.handle.send(bid, t.into()).await.unwrap();
    }
    a.handle.delete_history(bid).await.unwrap();
    let after = a.handle.send(bid, "after".into()).await.unwrap();
    assert_eq!(after.seq, 4, "sequence numbers go on past the deleted ones");
    // b comes back (same profile, a new port): the next message arrives, nothing waits on
    // the two that were withdrawn.
    let b = restart(_dir).await;
    a.add(&b).await;
    let id = after.id.clone();
    a.wait_for(
        20,
        |e| matches!(e, Event::MessageDelivered { ids, .. } if ids.contains(&id)),
    )
    .await;
    let theirs: Vec<String> = b
        .handle
        .history(a.id(), 10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(theirs, ["before", "after"]);
}
