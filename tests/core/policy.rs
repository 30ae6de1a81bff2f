//! Key pinning, the block list, contacts-only and the requests inbox.

use natter::model::{Contact, MessageState};
use natter::node::{DialFailure, Event, PrivacyMode};

use crate::support::{friends, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialling_a_pinned_contact_that_presents_another_key_is_refused_and_warned_of() {
    let mut a = node().await;
    let b = node().await;
    let impostor = node().await;
    let mut c = Contact::new(b.id());
    c.addr = Some(impostor.addr.to_string());
    a.handle.add_contact(c).await.unwrap();
    // The app's key-change warning: the stored address presented another key.
    let (claimed, presented, addr) = a.spoof_suspected(10).await;
    assert_eq!((claimed, presented), (b.id(), impostor.id()));
    assert_eq!(addr.port(), impostor.addr.port());
    let e = a
        .wait_for(10, |e| matches!(e, Event::DialFailed { .. }))
        .await;
    let Event::DialFailed { kind, error, .. } = e else {
        unreachable!()
    };
    assert_eq!(kind, DialFailure::WrongKey);
    assert!(error.contains(&impostor.id().to_string()), "{error}");
    assert!(error.contains("refusing"), "{error}");
    let m = a.handle.send(b.id(), "secret".into()).await.unwrap();
    let events = a.drain(500).await;
    assert!(
        !events.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
    assert_eq!(
        a.handle.history(b.id(), 5, None).await.unwrap()[0].state,
        MessageState::Queued,
        "{m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_peer_is_closed_before_any_frame_and_silently() {
    let mut a = node().await;
    let mut b = node().await;
    b.handle.block(a.id()).await.unwrap();
    a.add(&b).await;
    a.handle.send(b.id(), "let me in".into()).await.unwrap();
    let seen_a = a.drain(2000).await;
    let seen_b = b.drain(100).await;
    assert!(
        !seen_b.iter().any(|e| matches!(
            e,
            Event::Connected { .. } | Event::MessageReceived { .. } | Event::RequestReceived { .. }
        )),
        "{seen_b:?}"
    );
    assert!(
        !seen_a
            .iter()
            .any(|e| matches!(e, Event::Connected { .. } | Event::MessageDelivered { .. })),
        "{seen_a:?}"
    );
    // Silently: the blocked party is not told it was refused.
    assert!(
        !seen_a.iter().any(|e| matches!(
            e,
            Event::DialFailed {
                kind: DialFailure::Refused,
                ..
            }
        )),
        "{seen_a:?}"
    );
    assert!(b.handle.requests().await.unwrap().is_empty());
    assert_eq!(b.handle.blocked().await.unwrap(), vec![a.id()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_in_flight_when_a_block_lands_are_dropped() {
    let (a, mut b) = friends().await;
    let (aid, bid) = (a.id(), b.id());
    // Which frames are in flight when the block lands is up to the scheduler: a few rounds,
    // each a burst blocked halfway.
    for round in 0..4 {
        if round > 0 {
            b.handle.unblock(aid).await.unwrap();
            b.wait_for(
                20,
                |e| matches!(e, Event::Connected { peer, .. } if *peer == aid),
            )
            .await;
        }
        let sender = a.handle.clone();
        let burst = tokio::spawn(async move {
            for i in 0..300 {
                if sender
                    .send(bid, format!("flood {round} {i}"))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        b.wait_for(
            20,
            |e| matches!(e, Event::MessageReceived { message } if message.peer == aid),
        )
        .await;
        b.handle.block(aid).await.unwrap();
        let kept = b.handle.history(aid, 10_000, None).await.unwrap().len();
        // What the previous rounds left queued at `a` comes first on the new session.
        assert!(
            kept < 300 * (round + 1),
            "round {round}: the block came after the burst"
        );
        // Everything that was in flight has had its chance: the session is gone and the
        // sender is done.
        b.wait_for(
            20,
            |e| matches!(e, Event::Disconnected { peer, .. } if *peer == aid),
        )
        .await;
        burst.await.unwrap();
        let late = b.drain(300).await;
        assert!(
            !late.iter().any(|e| matches!(
                e,
                Event::MessageReceived { .. } | Event::Typing { .. } | Event::Connected { .. }
            )),
            "round {round}: {late:?}"
        );
        assert_eq!(
            b.handle.history(aid, 10_000, None).await.unwrap().len(),
            kept,
            "round {round}: messages were stored after the block"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_only_refuses_strangers_with_a_clear_reason() {
    let mut a = node().await;
    let mut b = node().await;
    b.handle
        .set_privacy(PrivacyMode::ContactsOnly)
        .await
        .unwrap();
    a.add(&b).await;
    let e = a
        .wait_for(10, |e| matches!(e, Event::DialFailed { .. }))
        .await;
    let Event::DialFailed { kind, error, .. } = e else {
        unreachable!()
    };
    assert_eq!(kind, DialFailure::Refused, "{error}");
    assert!(error.contains("contacts only"), "{error}");
    let aid = a.id();
    b.wait_for(
        10,
        |e| matches!(e, Event::StrangerRefused { peer } if *peer == aid),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_land_in_requests_until_accepted() {
    let mut a = node().await;
    let mut b = node().await;
    a.add(&b).await;
    a.handle
        .send(b.id(), "hi, we met at the conference".into())
        .await
        .unwrap();
    let aid = a.id();
    b.wait_for(10, |e| {
        matches!(e, Event::RequestReceived { peer, request }
            if *peer == aid && request.peer == aid
                && request.state == natter::ContactState::Request)
    })
    .await;
    b.wait_for(10, |e| matches!(e, Event::MessageReceived { .. }))
        .await;
    a.wait_for(10, |e| matches!(e, Event::MessageDelivered { .. }))
        .await;
    let requests = b.handle.requests().await.unwrap();
    assert_eq!(
        requests.iter().map(|c| c.peer).collect::<Vec<_>>(),
        vec![aid]
    );
    assert!(b.handle.contacts().await.unwrap().is_empty());
    // b cannot write to a stranger before accepting.
    assert!(b.handle.send(aid, "who?".into()).await.is_err());
    b.handle.accept(aid).await.unwrap();
    assert!(b.handle.requests().await.unwrap().is_empty());
    assert_eq!(b.handle.contacts().await.unwrap().len(), 1);
    assert!(b.handle.send(aid, "welcome".into()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_stranger_mid_session_makes_it_a_contact_at_once() {
    let a = node().await;
    let mut b = node().await;
    a.add(&b).await;
    let aid = a.id();
    b.wait_for(
        10,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == aid),
    )
    .await;
    // While a is a stranger to b, its typing is not shown.
    a.handle
        .set_typing(b.id(), natter::model::TypingState::Typing)
        .await
        .unwrap();
    let early = b.drain(300).await;
    assert!(
        !early.iter().any(|e| matches!(e, Event::Typing { .. })),
        "{early:?}"
    );
    b.add(&a).await;
    a.handle
        .set_typing(b.id(), natter::model::TypingState::Paused)
        .await
        .unwrap();
    b.wait_for(10, |e| {
        matches!(
            e,
            Event::Typing {
                state: natter::model::TypingState::Paused,
                ..
            }
        )
    })
    .await;
}

/// Every write to a contact entry or the block list is an event carrying the new state, so
/// the apps follow it without reading the contacts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_to_a_contact_or_the_block_list_is_an_event() {
    let mut a = node().await;
    let b = natter::Identity::generate().peer_id();
    let changed = |e: &Event| match e {
        Event::ContactChanged { contact } if contact.peer == b => Some(contact.clone()),
        _ => None,
    };
    a.handle.add_contact(Contact::new(b)).await.unwrap();
    let e = a.wait_for(5, |e| changed(e).is_some()).await;
    assert_eq!(changed(&e).unwrap().state, natter::ContactState::Contact);
    a.handle
        .rename(b, "Bea".into(), "work".into())
        .await
        .unwrap();
    let e = a.wait_for(5, |e| changed(e).is_some()).await;
    let c = changed(&e).unwrap();
    assert_eq!((c.nickname.as_str(), c.group.as_str()), ("Bea", "work"));
    a.handle.set_verified(b, true).await.unwrap();
    let e = a.wait_for(5, |e| changed(e).is_some()).await;
    assert_eq!(
        changed(&e).unwrap().verification,
        natter::Verification::Verified
    );
    a.handle.set_switches(b, Some(false), None).await.unwrap();
    let e = a.wait_for(5, |e| changed(e).is_some()).await;
    assert!(!changed(&e).unwrap().send_typing);
    // What the events said is what is stored.
    assert_eq!(a.handle.contact(b).await.unwrap(), changed(&e));
    a.handle.block(b).await.unwrap();
    a.wait_for(
        5,
        |e| matches!(e, Event::BlockChanged { peer, blocked: true } if *peer == b),
    )
    .await;
    a.handle.unblock(b).await.unwrap();
    a.wait_for(
        5,
        |e| matches!(e, Event::BlockChanged { peer, blocked: false } if *peer == b),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_preferences_and_a_deleted_history_are_events() {
    let mut a = node().await;
    a.handle
        .set_privacy(PrivacyMode::ContactsOnly)
        .await
        .unwrap();
    a.wait_for(
        5,
        |e| matches!(e, Event::PrivacyChanged { privacy } if *privacy == PrivacyMode::ContactsOnly),
    )
    .await;
    let pref = |e: &Event| match e {
        Event::PreferenceChanged { name, value } => Some((name.clone(), value.clone())),
        _ => None,
    };
    a.handle.set_preference("theme", "dark").await.unwrap();
    let e = a.wait_for(5, |e| pref(e).is_some()).await;
    assert_eq!(pref(&e), Some(("theme".into(), "dark".into())));
    // Saving the same value again changes nothing: the next event is the next change.
    a.handle.set_preference("theme", "dark").await.unwrap();
    a.handle.set_preference("name", "Ann").await.unwrap();
    let e = a.wait_for(5, |e| pref(e).is_some()).await;
    assert_eq!(pref(&e), Some(("name".into(), "Ann".into())));
    // A contact who is not reachable: the message waits in the outbox; deleting the
    // history takes it too, and says how many went.
    let b = natter::Identity::generate().peer_id();
    a.handle.add_contact(Contact::new(b)).await.unwrap();
    a.handle.send(b, "one".into()).await.unwrap();
    a.handle.send(b, "two".into()).await.unwrap();
    assert_eq!(a.handle.delete_history(b).await.unwrap(), 2);
    a.wait_for(
        5,
        |e| matches!(e, Event::HistoryDeleted { peer, deleted: 2 } if *peer == b),
    )
    .await;
    assert!(a.handle.history(b, 10, None).await.unwrap().is_empty());
}
