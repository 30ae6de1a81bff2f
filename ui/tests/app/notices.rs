//! What desktop notifications say, and what a click on one opens: a stranger's words are
//! never shown, message text hides when the user says so, file offers and key changes are
//! told too (the real notification server is the window test's stand-in).

use std::time::Duration;

use natter::model::Contact;
use natter::node::Event;
use natter_ui::desktop::{self, Do};
use natter_ui::notify::Source;
use natter_ui::{Message, Op};

use crate::support::*;

/// Feeds `a`'s events to the app until one matches; returns the operations that one asked.
async fn until(app: &mut natter_ui::App, a: &mut Peer, f: impl Fn(&Event) -> bool) -> Vec<Op> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .expect("the event came")
            .unwrap();
        if f(&e) {
            return app.update(Message::Node(e));
        }
        let node = a.node.clone();
        apply(app, &node, Message::Node(e)).await;
    }
}

fn notes(ops: &[Op]) -> Vec<&desktop::notices::Note> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Notify(n) => Some(n),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_words_never_reach_a_notification() {
    let mut a = peer().await;
    let stranger = peer().await;
    let mut app = booted(&a).await;
    apply(&mut app, &a.node.clone(), Message::Focus(false)).await;
    introduce(&a, &stranger).await;
    stranger
        .node
        .set_preference(natter_ui::pref::NAME, "Your Bank")
        .await
        .unwrap();
    let secret = "<b>urgent</b>: send your key to evil.example";
    stranger
        .node
        .send(a.node.peer_id(), secret.into())
        .await
        .unwrap();
    let ops = until(&mut app, &mut a, |e| {
        matches!(e, Event::MessageReceived { .. })
    })
    .await;
    let sid = stranger.node.peer_id();
    let [note] = notes(&ops)[..] else {
        panic!("one notification: {ops:?}")
    };
    assert_eq!(note.title, "Message request");
    let short = natter_ui::short(&sid);
    assert!(note.body.contains(&short), "{}", note.body);
    for words in ["urgent", "evil", "Bank"] {
        assert!(!note.body.contains(words) && !note.title.contains(words));
    }
    assert_eq!(note.opens, Some(Source::Peer(sid)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_text_file_offers_and_a_click_that_opens_the_conversation() {
    let mut a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    let mut bob = Contact::new(bid);
    bob.nickname = "Bob".into();
    a.node.add_contact(bob).await.unwrap();
    introduce(&a, &b).await;
    let mut app = booted(&a).await;
    let na = a.node.clone();
    apply(&mut app, &na, Message::Focus(false)).await;

    // Message text hidden in Settings: who wrote, not what.
    app.prefs.notification_text = false;
    b.node
        .send(a.node.peer_id(), "the plan".into())
        .await
        .unwrap();
    let ops = until(&mut app, &mut a, |e| {
        matches!(e, Event::MessageReceived { .. })
    })
    .await;
    assert_eq!(ops, vec![notify("Bob", "New message", bid.into())]);

    // A file offered: who, what and how big (text shown again).
    app.prefs.notification_text = true;
    let file = b.dir.path().join("report.pdf");
    std::fs::write(&file, vec![7u8; 3 * 1024 * 1024]).unwrap();
    b.node
        .send_file(a.node.peer_id(), file, None)
        .await
        .unwrap();
    let ops = until(&mut app, &mut a, |e| matches!(e, Event::FileOffered { .. })).await;
    assert_eq!(
        ops,
        vec![notify(
            "Bob offers a file",
            "report.pdf (3.0 MiB)",
            bid.into()
        )]
    );

    // The server took it as notification 7; a click on it opens Bob's conversation, reads
    // it and brings the window up. A click on one we did not raise does nothing.
    apply(
        &mut app,
        &na,
        Message::Desktop(desktop::Message::Noted(7, bid.into())),
    )
    .await;
    assert!(
        app.update(Message::Desktop(desktop::Message::NoteClicked(8)))
            .is_empty()
    );
    assert_eq!(app.title(), "Natter (1)");
    let ops = app.update(Message::Desktop(desktop::Message::NoteClicked(7)));
    assert!(ops.contains(&Op::Desktop(Do::Show)), "{ops:?}");
    assert_eq!(app.conversation.selected, Some(bid));
}
