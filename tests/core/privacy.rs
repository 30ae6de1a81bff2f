//! Who may reach us, as AIM let users choose: invisible (offline to all but the contacts
//! picked, restored at start) and the privacy mode `everyone`.

use natter::model::{Status, TypingState};
use natter::node::{Event, PrivacyMode};

use crate::support::{TestNode, node, node_in, restart};

fn connected_to(peer: natter::PeerId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Connected { peer: p, .. } if *p == peer)
}

fn saw_connected(events: &[Event], peer: natter::PeerId) -> bool {
    events.iter().any(connected_to(peer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_looks_offline_to_all_but_the_contacts_picked_and_is_restored_at_start() {
    let mut b = node_in(tempfile::tempdir().unwrap(), |_| {}).await;
    let (mut a, mut c) = (node().await, node().await);
    let (aid, bid, cid) = (a.id(), b.id(), c.id());
    b.handle
        .set_presence(Status::Invisible, "gone fishing".into())
        .await
        .unwrap();
    b.add(&a).await;
    b.add(&c).await;
    b.handle.set_sees_invisible(aid, true).await.unwrap();
    a.add(&b).await;
    c.add(&b).await;

    // a, picked, is connected and sees b online (never "invisible": that is not on the wire).
    a.wait_for(10, connected_to(bid)).await;
    let seen = a
        .wait_for(
            10,
            |e| matches!(e, Event::Presence { peer, .. } if *peer == bid),
        )
        .await;
    assert!(
        matches!(&seen, Event::Presence { status: Status::Online, text, .. } if text == "gone fishing"),
        "{seen:?}"
    );
    // c is not: its dial fails as if b were not there, and b never has a session with it.
    c.wait_for(
        20,
        |e| matches!(e, Event::DialFailed { peer, .. } if *peer == bid),
    )
    .await;
    assert!(!saw_connected(&c.drain(500).await, bid));
    assert!(!saw_connected(&b.drain(0).await, cid));

    // Visible again: c gets its session; invisible again: c loses it, a keeps its own.
    b.handle
        .set_presence(Status::Online, String::new())
        .await
        .unwrap();
    b.wait_for(20, connected_to(cid)).await;
    b.handle
        .set_presence(Status::Invisible, String::new())
        .await
        .unwrap();
    c.wait_for(
        10,
        |e| matches!(e, Event::Disconnected { peer, .. } if *peer == bid),
    )
    .await;
    assert!(
        !a.drain(500)
            .await
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. })),
        "a, picked, kept its session"
    );

    // Restarted, b is still invisible: a gets in again; a new contact d, not picked, does
    // not.
    let TestNode {
        handle,
        events,
        _dir,
        ..
    } = b;
    handle.shutdown().await;
    drop((handle, events));
    let mut b = restart(_dir).await;
    a.wait_for(20, connected_to(bid)).await;
    let mut d = node().await;
    let did = d.id();
    b.add(&d).await;
    d.add(&b).await;
    d.wait_for(
        20,
        |e| matches!(e, Event::DialFailed { peer, .. } if *peer == bid),
    )
    .await;
    assert!(!saw_connected(&d.drain(500).await, bid));
    assert!(!saw_connected(&b.drain(0).await, did));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_privacy_everyone_a_stranger_talks_as_a_contact_would_until_accepted() {
    let mut a = node().await;
    let mut b = node().await;
    b.handle.set_privacy(PrivacyMode::Everyone).await.unwrap();
    let (aid, bid) = (a.id(), b.id());
    a.add(&b).await;
    a.handle
        .send(bid, "hello, we have not met".into())
        .await
        .unwrap();
    b.wait_for(
        10,
        |e| matches!(e, Event::MessageReceived { message } if message.peer == aid),
    )
    .await;
    // Its typing shows (in `requests` it would not), and b can answer before accepting.
    a.handle.set_typing(bid, TypingState::Typing).await.unwrap();
    b.wait_for(
        10,
        |e| matches!(e, Event::Typing { peer, state: TypingState::Typing } if *peer == aid),
    )
    .await;
    b.handle.send(aid, "hello to you".into()).await.unwrap();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageReceived { message } if message.text == "hello to you"),
    )
    .await;
    // It is still a request, off the buddy list.
    let requests = b.handle.requests().await.unwrap();
    assert_eq!(
        requests.iter().map(|c| c.peer).collect::<Vec<_>>(),
        vec![aid]
    );
    assert!(b.handle.contacts().await.unwrap().is_empty());
    // In `requests` mode b may not answer a stranger.
    b.handle.set_privacy(PrivacyMode::Requests).await.unwrap();
    assert!(b.handle.send(aid, "and now?".into()).await.is_err());
}
