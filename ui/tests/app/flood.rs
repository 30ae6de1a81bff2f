//! A peer flooding us, as the app shows it: the node's `throttled` warning on that peer's
//! conversation and a mark in the sidebar (dismissible, replaced by a newer one), and a flood
//! of messages in the background raising two notifications, not one per message.

use std::time::{Duration, Instant};

use natter::model::{Contact, TypingState};
use natter::node::Event;
use natter_ui::notify::Coalescer;
use natter_ui::screen::sidebar;
use natter_ui::{App, Message, Op, flood, run_op};

use crate::support::*;

/// Bob (`b`) and the app's node (`a`) as contacts of each other with a session up; the app
/// followed its node's events until then.
async fn friends(app: &mut App, a: &mut Peer, b: &mut Peer) {
    let (aid, bid) = (a.node.peer_id(), b.node.peer_id());
    let mut c = Contact::new(bid);
    c.nickname = "Bob".into();
    a.node.add_contact(c).await.unwrap();
    introduce(a, b).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !app.roster.connected.contains_key(&bid) {
        let e = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .expect("a session with Bob in time")
            .unwrap();
        let node = a.node.clone();
        apply(app, &node, Message::Node(e)).await;
    }
    loop {
        let e = tokio::time::timeout_at(deadline, b.events.recv())
            .await
            .expect("Bob's side of the session in time")
            .unwrap();
        if matches!(e, Event::Connected { peer, .. } if peer == aid) {
            break;
        }
    }
}

/// Feeds the app its node's events until Bob's message `text` is in; returns the
/// notifications asked for on the way (the other operations run against the node).
async fn follow_until(app: &mut App, a: &mut Peer, text: &str) -> Vec<Op> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut notified = Vec::new();
    loop {
        let e = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {text:?} in time"))
            .unwrap();
        let last = matches!(&e, Event::MessageReceived { message } if message.text == text);
        for op in app.update(Message::Node(e)) {
            match op {
                Op::Notify(..) => notified.push(op),
                op => {
                    let next = run_op(natter_ui::Node(a.node.clone()), op).await;
                    apply(app, &a.node.clone(), next).await;
                }
            }
        }
        if last {
            return notified;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_typing_flood_is_shown_on_their_conversation_and_in_the_sidebar() {
    let mut a = peer().await;
    let mut b = peer().await;
    let (aid, bid) = (a.node.peer_id(), b.node.peer_id());
    let mut app = booted(&a).await;
    let node = a.node.clone();
    // Carol: another contact, who floods nothing.
    let cid = natter::Identity::generate().peer_id();
    let mut carol = Contact::new(cid);
    carol.nickname = "Carol".into();
    node.add_contact(carol).await.unwrap();
    friends(&mut app, &mut a, &mut b).await;
    for i in 0..200 {
        let state = if i % 2 == 0 {
            TypingState::Typing
        } else {
            TypingState::Paused
        };
        b.node.set_typing(aid, state).await.unwrap();
    }
    // A message after the flood, on the same stream: when it is in, so is the flood.
    b.node.send(aid, "done".into()).await.unwrap();
    follow_until(&mut app, &mut a, "done").await;

    let warning = flood::warning("Bob", "typing", "dropped", true);
    assert_eq!(
        warning,
        "⚠ Bob is flooding you (typing): throttled. Some typing updates were skipped."
    );
    let label = |app: &App, peer| {
        let c = app.contact(&peer).unwrap().clone();
        sidebar::label(app, &c)
    };
    // The sidebar marks Bob, and only Bob.
    let bob = label(&app, bid);
    assert!(bob.contains(&format!("Bob{} ", sidebar::FLOODING)), "{bob}");
    assert!(shows(&app, &bob), "{bob}");
    assert!(!label(&app, cid).contains('⚠'));
    // Carol's conversation says nothing of it; Bob's does.
    let select = |peer| Message::Sidebar(sidebar::Message::Select(peer));
    apply(&mut app, &node, select(cid)).await;
    assert!(!shows(&app, &warning), "not on Carol's conversation");
    apply(&mut app, &node, select(bid)).await;
    assert!(
        shows(&app, &warning),
        "{:?}",
        app.conversation.flooding.get(&bid)
    );
    // A newer warning for Bob replaces it.
    let files = Event::Throttled {
        peer: bid,
        kind: "files",
        effect: "declined",
    };
    apply(&mut app, &node, Message::Node(files)).await;
    assert!(!shows(&app, &warning), "replaced");
    assert!(shows(
        &app,
        "⚠ Bob is flooding you (file offers): throttled. Some file offers were declined; they \
         can offer them again in a minute."
    ));
    // Dismissed: the warning and the mark go.
    interact(&mut app, &node, |ui| {
        ui.click("Dismiss").unwrap();
    })
    .await;
    assert!(app.conversation.flooding.is_empty());
    assert!(!label(&app, bid).contains('⚠'));
    assert!(!shows(&app, "Dismiss"));
    // A stranger whose messages are held: marked in the requests, told they come on
    // acceptance.
    let sid = natter::Identity::generate().peer_id();
    let mut request = Contact::new(sid);
    request.state = natter::ContactState::Request;
    let events = [
        Event::RequestReceived { peer: sid, request },
        Event::Throttled {
            peer: sid,
            kind: "messages",
            effect: "held",
        },
    ];
    for e in events {
        apply(&mut app, &node, Message::Node(e)).await;
    }
    assert!(shows(
        &app,
        &format!("{}{}", natter_ui::short(&sid), sidebar::FLOODING)
    ));
    apply(&mut app, &node, select(sid)).await;
    let name = app.name_of(&sid);
    assert!(shows(
        &app,
        &flood::warning(&name, "messages", "held", false)
    ));
}

#[test]
fn a_strangers_held_messages_are_said_to_arrive_later_or_on_acceptance() {
    assert_eq!(
        flood::warning("1abc", "messages", "held", false),
        "⚠ 1abc is flooding you (messages): throttled. Nothing is lost: their messages will \
         arrive as the limit allows, or at once if you accept them."
    );
    assert_eq!(
        flood::warning("Bob", "presence", "dropped", true),
        "⚠ Bob is flooding you (status updates): throttled. Some status updates were skipped."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_messages_in_the_background_raises_two_notifications() {
    let mut a = peer().await;
    let mut b = peer().await;
    let (aid, bid) = (a.node.peer_id(), b.node.peer_id());
    let mut app = booted(&a).await;
    friends(&mut app, &mut a, &mut b).await;
    // A quiet window no machine's flood outlasts; the tick below ends it.
    let quiet = Duration::from_secs(3600);
    app.window.notices = Coalescer::new(quiet);
    app.update(Message::Focus(false));
    for i in 0..50 {
        b.node.send(aid, format!("flood {i}")).await.unwrap();
    }
    let during = follow_until(&mut app, &mut a, "flood 49").await;
    assert_eq!(
        during,
        vec![notify("Bob", "flood 0", bid.into())],
        "the first at once, the rest counted"
    );
    assert!(app.window.notices.waiting(), "the timer runs");
    assert_eq!(app.title(), "Natter (50)", "all of them unread");
    let ended = Instant::now() + quiet;
    let ops = app.update(Message::Tick(ended));
    assert_eq!(
        ops,
        vec![notify("49 new messages from Bob", "flood 49", bid.into())]
    );
    assert!(!app.window.notices.waiting(), "the timer stops");
    assert!(app.update(Message::Tick(ended + quiet)).is_empty(), "once");
    // The window ended with nothing counted: the next message raises at once again, the
    // one after it is counted.
    for (text, raised) in [("one more", 1), ("and another", 0)] {
        b.node.send(aid, text.into()).await.unwrap();
        let ops = follow_until(&mut app, &mut a, text).await;
        assert_eq!(ops.len(), raised, "{text}: {ops:?}");
    }
    // Focus clears what is counted: the next message in the background raises at once.
    assert!(app.window.notices.waiting());
    app.update(Message::Focus(true));
    assert!(!app.window.notices.waiting());
    app.update(Message::Focus(false));
    b.node.send(aid, "hello again".into()).await.unwrap();
    assert_eq!(
        follow_until(&mut app, &mut a, "hello again").await,
        vec![notify("Bob", "hello again", bid.into())]
    );
}

#[test]
fn flood_warnings_are_kept_for_the_newest_hundred_peers() {
    let mut app = App::default();
    let peers: Vec<_> = (0..=flood::MAX_WARNINGS + 1)
        .map(|_| natter::Identity::generate().peer_id())
        .collect();
    let throttled = |peer, kind| {
        Message::Node(Event::Throttled {
            peer,
            kind,
            effect: "dropped",
        })
    };
    for peer in &peers[..flood::MAX_WARNINGS] {
        assert!(app.update(throttled(*peer, "typing")).is_empty());
    }
    // The first peer floods again: its warning is the newest now, the second's the oldest.
    app.update(throttled(peers[0], "presence"));
    assert_eq!(
        app.conversation.flooding.get(&peers[0]).unwrap().kind,
        "presence"
    );
    for peer in &peers[flood::MAX_WARNINGS..] {
        app.update(throttled(*peer, "typing"));
    }
    let kept = &app.conversation.flooding;
    assert_eq!(kept.len(), flood::MAX_WARNINGS);
    let gone: Vec<_> = peers.iter().filter(|p| !kept.contains(p)).collect();
    assert_eq!(gone, vec![&peers[1], &peers[2]], "the oldest went");
}
