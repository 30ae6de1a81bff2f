//! Flood control between peers: a stranger's burst is held (not stored, not acked) and
//! comes through, whole and in order, once accepted; a contact's typing flood is cut to its
//! burst; each flood is one `throttled` event.

use std::time::Duration;

use natter::model::TypingState;
use natter::node::Event;

use crate::support::{friends, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_burst_is_held_until_accepted_and_nothing_is_lost() {
    let a = node().await;
    let mut b = node().await;
    a.add(&b).await;
    let (aid, bid) = (a.id(), b.id());
    for i in 0..30 {
        a.handle.send(bid, format!("buy now {i}")).await.unwrap();
    }
    b.wait_for(20, |e| {
        matches!(e, Event::Throttled { peer, kind: "messages", effect: "held" } if *peer == aid)
    })
    .await;
    // The stranger's burst (10) is stored; the rest waits at its sender, unacked. (A token
    // comes back every 5 s: a slow machine may let one more through.)
    let _ = b.drain(1000).await;
    let stored = b.handle.history(aid, 100, None).await.unwrap().len();
    assert!((10..=12).contains(&stored), "{stored} stored");
    let delivered = a.handle.history(bid, 100, None).await.unwrap();
    let acked = delivered
        .iter()
        .filter(|m| {
            matches!(
                m.state,
                natter::model::MessageState::Delivered | natter::model::MessageState::Read
            )
        })
        .count();
    assert!(acked <= stored, "{acked} acked, {stored} stored");
    // Accepted: everything comes through, once each, in order.
    b.handle.accept(aid).await.unwrap();
    let texts: Vec<String> = loop {
        let h = b.handle.history(aid, 100, None).await.unwrap();
        if h.len() >= 30 {
            break h.into_iter().map(|m| m.text).collect();
        }
        b.wait_for(20, |e| matches!(e, Event::MessageReceived { .. }))
            .await;
    };
    let sent: Vec<String> = (0..30).map(|i| format!("buy now {i}")).collect();
    assert_eq!(texts, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_typing_flood_is_cut_to_its_burst_and_reported_once() {
    let (a, mut b) = friends().await;
    let (aid, bid) = (a.id(), b.id());
    for i in 0..200 {
        let state = if i % 2 == 0 {
            TypingState::Typing
        } else {
            TypingState::Paused
        };
        a.handle.set_typing(bid, state).await.unwrap();
    }
    // A message after the flood, on the same stream: when it is in, so is the flood.
    a.handle.send(bid, "done".into()).await.unwrap();
    let (mut typing, mut throttled) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, b.events.recv()).await {
            Ok(Ok(Event::Typing { peer, .. })) if peer == aid => typing += 1,
            Ok(Ok(Event::Throttled {
                peer,
                kind: "typing",
                effect: "dropped",
            })) if peer == aid => throttled += 1,
            Ok(Ok(Event::MessageReceived { message })) if message.text == "done" => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("events: {e}"),
            Err(_) => panic!("no 'done' in time; {typing} typing events"),
        }
    }
    // The burst is 20 and 4 more come back each second the flood lasts.
    assert!(typing >= 20, "{typing}");
    assert!(typing < 100, "{typing} of 200 typing events shown");
    assert_eq!(throttled, 1);
}
