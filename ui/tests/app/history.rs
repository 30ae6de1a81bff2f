//! The conversation view of today against real nodes: names and groups, ours apart from
//! theirs, links that open in the browser, copying a message, a search hit shown in place
//! and highlighted, the unread marker and counts that survive a restart, a LAN name on a
//! request, the key warning for a stored address, and every keyboard shortcut.

use iced::mouse;
use iced::widget::Id;
use natter::model::Contact;
use natter::node::Event;
use natter_ui::keys::{self, Shortcut};
use natter_ui::screen::conversation::{self, COPY, COPY_LINK, UNREAD_MARKER};
use natter_ui::screen::{Screen, add_contact, sidebar, switcher};
use natter_ui::{Message, Op, PAGE};

use crate::support::*;

/// `b` writes to `a` (a contact named "Bob" there, at `b`'s address): a session comes up.
async fn bob_writes(a: &Peer, b: &Peer, texts: &[&str]) {
    let mut bob = Contact::new(b.node.peer_id());
    bob.nickname = "Bob".into();
    bob.addr = Some(b.node.local_addr().unwrap().to_string());
    a.node.add_contact(bob).await.unwrap();
    introduce(a, b).await;
    for t in texts {
        b.node.send(a.node.peer_id(), (*t).into()).await.unwrap();
    }
}

async fn select(app: &mut natter_ui::App, p: &Peer, peer: natter::PeerId) {
    apply(
        app,
        &p.node,
        Message::Sidebar(sidebar::Message::Select(peer)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_show_names_links_open_and_a_right_click_copies() {
    let mut a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    let link = "https://natter.example/docs";
    bob_writes(&a, &b, &["hi there", link]).await;
    let mut app = booted(&a).await;
    pump(&mut app, &mut a, 1500).await;
    select(&mut app, &a, bid).await;
    a.node.send(bid, "hello Bob".into()).await.unwrap();
    pump(&mut app, &mut a, 500).await;
    // Their group under their name, ours under "You"; no "me:" / "them:" any more.
    for shown in ["Bob", "You", "hi there", "hello Bob"] {
        assert!(shows(&app, shown), "{shown}");
    }
    assert!(!shows(&app, "them: hi there") && !shows(&app, "me: hello Bob"));
    // One name over each group: Bob's two messages in one minute are one group.
    let loaded = &app.conversation.history[&bid];
    let zone = natter::dates::local_zone();
    let marker = app.conversation.marker.as_ref();
    let marker = marker.and_then(|(_, id)| loaded.iter().position(|m| m.id == *id));
    let theirs = conversation::items(loaded, marker, &zone)
        .into_iter()
        .filter(|i| matches!(i, conversation::Item::Group(r) if !loaded[r.start].outgoing))
        .count();
    let minute = |m: &natter::Message| natter::dates::time_of_day_in(m.ts_ms, &zone);
    if minute(&loaded[0]) == minute(&loaded[1]) {
        assert_eq!(theirs, 1, "one minute, one group");
    }
    assert_eq!(count(&app, "Bob"), theirs);
    assert_eq!(count(&app, "You"), 1);
    assert_eq!(count(&app, "hi there"), 1);
    let loaded = app.conversation.history[&bid].clone();
    let at = |text: &str| loaded.iter().find(|m| m.text == text).unwrap().id.clone();

    // A click on the link opens it in the browser (and nothing else does).
    assert_eq!(
        click_ops(&mut app, conversation::message_id(&at(link))),
        vec![Op::OpenLink(link.into())]
    );
    let hostile = conversation::Message::OpenLink("file:///etc/passwd".into());
    assert!(ops_of(&mut app, vec![Message::Conversation(hostile)]).is_empty());

    // A right click shows the message's actions; "Copy text" copies it.
    let picked: Vec<Message> = {
        let mut ui = iced_test::simulator(app.view());
        let target = ui.find("hi there").unwrap();
        ui.point_at(target.visible_bounds().unwrap().center());
        ui.simulate([
            iced::Event::Mouse(mouse::Event::ButtonPressed(mouse::Button::Right)),
            iced::Event::Mouse(mouse::Event::ButtonReleased(mouse::Button::Right)),
        ]);
        ui.into_messages().collect()
    };
    assert!(ops_of(&mut app, picked).is_empty());
    assert!(
        shows(&app, COPY) && !shows(&app, COPY_LINK),
        "no link in it"
    );
    assert_eq!(click_ops(&mut app, COPY), vec![Op::Copy("hi there".into())]);
    assert!(!shows(&app, COPY), "the actions close once used");
    // The link's message offers its link too.
    app.update(Message::Conversation(conversation::Message::Pick(at(link))));
    assert_eq!(click_ops(&mut app, COPY_LINK), vec![Op::Copy(link.into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_hit_far_back_opens_at_the_message_highlighted() {
    let a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    let total = 2 * PAGE + 20;
    for i in 0..total {
        let text = if i == 5 {
            "the needle".into()
        } else {
            format!("line {i}")
        };
        a.node.send(bid, text).await.unwrap();
    }
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &a.node,
        Message::Sidebar(sidebar::Message::Search("needle".into())),
    )
    .await;
    interact(&mut app, &a.node, |ui| {
        ui.click("You: the needle").unwrap();
    })
    .await;
    // Older pages were read until the hit was loaded; it shows with a few after it.
    assert_eq!(
        app.conversation.history[&bid].len(),
        total,
        "loaded back to it"
    );
    assert!(app.conversation.jump.is_some());
    assert!(shows(&app, "the needle"));
    assert!(shows(
        &app,
        &format!("line {}", 5 + conversation::AFTER_HIT)
    ));
    assert!(!shows(
        &app,
        &format!("line {}", 6 + conversation::AFTER_HIT)
    ));
    assert!(
        !shows(&app, &format!("line {}", total - 1)),
        "the newest wait below"
    );
    // Esc (or the button) goes back to the newest.
    let ops = ops_of(&mut app, vec![Message::Shortcut(Shortcut::Close)]);
    assert_eq!(ops, vec![Op::ToNewest]);
    assert!(app.conversation.jump.is_none());
    assert!(shows(&app, &format!("line {}", total - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_survive_a_restart_and_the_marker_shows_where_they_start() {
    let mut a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    bob_writes(&a, &b, &["one", "two", "three"]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while a.node.history(bid, 5, None).await.unwrap().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's messages arrive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The app was not running; Natter starts again (the node too).
    a = restart(a).await;
    let mut app = booted(&a).await;
    assert_eq!(app.roster.unread.get(&bid), Some(&3));
    assert_eq!(app.title(), "Natter (3)");
    let label = sidebar::label(&app, app.contact(&bid).unwrap());
    assert!(
        label.ends_with("Bob (3)") && shows(&app, &label),
        "the buddy list counts them"
    );
    select(&mut app, &a, bid).await;
    assert!(shows(&app, UNREAD_MARKER));
    // Above the first of the three, and there it stays when more come.
    assert_eq!(
        app.conversation.marker,
        Some((bid, page_id(&app, bid, "one")))
    );
    b.node.send(a.node.peer_id(), "four".into()).await.unwrap();
    pump(&mut app, &mut a, 1000).await;
    assert!(
        app.conversation.history[&bid]
            .iter()
            .any(|m| m.text == "four")
    );
    assert_eq!(
        app.conversation.marker,
        Some((bid, page_id(&app, bid, "one")))
    );
    // Read now: another restart shows none.
    pump(&mut app, &mut a, 200).await;
    drop(app);
    a = restart(a).await;
    let app = booted(&a).await;
    assert!(app.roster.unread.is_empty(), "{:?}", app.roster.unread);
    assert_eq!(app.title(), "Natter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_the_lan_shows_the_name_they_published() {
    let mut a = peer().await;
    let c = peer().await;
    let cid = c.node.peer_id();
    introduce(&a, &c).await;
    c.node
        .send(a.node.peer_id(), "hello?".into())
        .await
        .unwrap();
    let mut app = booted(&a).await;
    pump(&mut app, &mut a, 1500).await;
    apply(
        &mut app,
        &a.node,
        Message::Answered(
            natter::control::Command::Requests,
            natter::control::execute(&a.node, natter::control::Command::Requests)
                .await
                .unwrap(),
        ),
    )
    .await;
    assert!(
        shows(&app, &format!("{} (1)", natter_ui::short(&cid))),
        "no name: the id"
    );
    let seen = Event::PeerNearby {
        peer: cid,
        name: Some("Carol".into()),
        addrs: vec![c.node.local_addr().unwrap()],
        contact: false,
    };
    apply(&mut app, &a.node, Message::Node(seen)).await;
    assert!(shows(&app, "Carol, on your network (1)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_address_that_presents_another_key_raises_the_key_warning() {
    let mut a = peer().await;
    let b = peer().await;
    let impostor = peer().await;
    let mut app = booted(&a).await;
    let mut bob = Contact::new(b.node.peer_id());
    bob.nickname = "Bob".into();
    bob.addr = Some(impostor.node.local_addr().unwrap().to_string());
    a.node.add_contact(bob).await.unwrap();
    pump(&mut app, &mut a, 3000).await;
    let Screen::KeyWarning(w) = &app.screen else {
        panic!("no key warning: {:?}", app.screen);
    };
    assert_eq!(
        (w.claimed, w.presented),
        (b.node.peer_id(), impostor.node.peer_id())
    );
    assert!(shows(&app, "⚠ This is not the key you know"));
    // Esc does not skip it.
    ops_of(&mut app, vec![Message::Shortcut(Shortcut::Close)]);
    assert!(matches!(app.screen, Screen::KeyWarning(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shortcut_does_what_it_says() {
    let a = peer().await;
    let (ann, bob) = (peer().await, peer().await);
    for (p, name) in [(&ann, "Ann"), (&bob, "Bob")] {
        let mut c = Contact::new(p.node.peer_id());
        c.nickname = name.into();
        a.node.add_contact(c).await.unwrap();
    }
    let (aid, bid) = (ann.node.peer_id(), bob.node.peer_id());
    let mut app = booted(&a).await;
    let key = |app: &mut natter_ui::App, keys: &str| {
        let (key, modifiers) = keys::parse(keys).unwrap();
        let shortcut = keys::of(&key, modifiers).unwrap();
        app.update(Message::Shortcut(shortcut))
    };
    assert_eq!(
        key(&mut app, "Ctrl+F"),
        vec![Op::Focus(sidebar::SEARCH_INPUT)]
    );
    // Alt+↓ / Alt+↑ walk the list (Ann, then Bob).
    for (keys, want) in [
        ("Alt+Down", aid),
        ("Alt+Down", bid),
        ("Alt+Down", bid),
        ("Alt+Up", aid),
    ] {
        for op in key(&mut app, keys) {
            apply_op(&mut app, &a, op).await;
        }
        assert_eq!(app.conversation.selected, Some(want), "{keys}");
    }
    // Ctrl+K: type part of a name, Enter opens it.
    assert_eq!(key(&mut app, "Ctrl+K"), vec![Op::Focus(switcher::INPUT)]);
    assert!(matches!(app.screen, Screen::Switcher(_)) && shows(&app, "Ann") && shows(&app, "Bob"));
    interact(&mut app, &a.node, |ui| {
        ui.click(Id::new(switcher::INPUT)).unwrap();
        ui.typewrite("bo");
        ui.tap_key(iced::keyboard::key::Named::Enter);
    })
    .await;
    assert!(matches!(app.screen, Screen::Main));
    assert_eq!(app.conversation.selected, Some(bid));
    // Ctrl+N: add a contact; Esc closes it.
    assert_eq!(
        key(&mut app, "Ctrl+N"),
        vec![Op::Focus(add_contact::ID_INPUT)]
    );
    assert!(matches!(app.screen, Screen::AddContact(_)));
    key(&mut app, "Escape");
    assert!(matches!(app.screen, Screen::Main));
    // Esc clears a search.
    apply(
        &mut app,
        &a.node,
        Message::Sidebar(sidebar::Message::Search("x".into())),
    )
    .await;
    key(&mut app, "Escape");
    assert!(app.search.words.is_empty() && app.search.results.is_none());
    // Ctrl+Q quits.
    assert_eq!(
        key(&mut app, "Ctrl+Q"),
        vec![Op::Desktop(natter_ui::desktop::Do::Quit)]
    );
}

/// The id of the loaded message with this text.
fn page_id(app: &natter_ui::App, peer: natter::PeerId, text: &str) -> String {
    let page = &app.conversation.history[&peer];
    page.iter().find(|m| m.text == text).unwrap().id.clone()
}

/// Runs one operation as the app's Tasks would.
async fn apply_op(app: &mut natter_ui::App, p: &Peer, op: Op) {
    let next = natter_ui::run_op(natter_ui::Node(p.node.clone()), op).await;
    apply(app, &p.node, next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_a_mailbox_says_until_when_and_an_expired_one_says_what_next() {
    let a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    b.node.shutdown().await;
    let mut app = booted(&a).await;
    select(&mut app, &a, bid).await;
    let m = a.node.send(bid, "for later".into()).await.unwrap();
    apply(
        &mut app,
        &a.node,
        Message::Node(Event::MessageQueued { message: m.clone() }),
    )
    .await;
    assert!(shows(&app, "🕓 queued"));
    // The rendezvous took it, until a week from a fixed moment.
    let until = 1_800_000_000_000_i64;
    let stored = Event::MessageStored {
        peer: bid,
        ids: vec![m.id.clone()],
        expires_ms: until as u64,
    };
    apply(&mut app, &a.node, Message::Node(stored)).await;
    let zone = natter::dates::local_zone();
    let line = format!(
        "✉ stored for them until {} {}",
        natter::dates::date_in(until, &zone),
        natter::dates::time_of_day_in(until, &zone)
    );
    assert!(shows(&app, &line), "{line}");
    // It expired there undelivered: it waits for them to be online.
    let expired = Event::MessageExpired {
        peer: bid,
        ids: vec![m.id.clone()],
    };
    apply(&mut app, &a.node, Message::Node(expired)).await;
    assert!(!shows(&app, &line));
    assert!(shows(
        &app,
        "⌛ expired in the mailbox: goes out when they are online"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolled_up_new_messages_wait_below_a_button_and_at_the_bottom_they_show() {
    let mut a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    bob_writes(&a, &b, &["first"]).await;
    let mut app = booted(&a).await;
    pump(&mut app, &mut a, 1500).await;
    select(&mut app, &a, bid).await;
    // At the newest message: what comes is simply shown (the history is anchored there).
    b.node
        .send(a.node.peer_id(), "second".into())
        .await
        .unwrap();
    pump(&mut app, &mut a, 1000).await;
    assert_eq!(app.conversation.below, 0);
    assert!(!shows(&app, "↓ 1 new below"));
    // Scrolled up to read: what comes is counted on a button that goes down to it.
    app.conversation.scrolled(600.0);
    b.node.send(a.node.peer_id(), "third".into()).await.unwrap();
    pump(&mut app, &mut a, 1000).await;
    assert!(shows(&app, "↓ 1 new below"));
    assert_eq!(click_ops(&mut app, "↓ 1 new below"), vec![Op::ToNewest]);
    assert!(!shows(&app, "↓ 1 new below"));
    // Sending goes down to the newest too.
    app.conversation.scrolled(600.0);
    app.conversation.composer = iced::widget::text_editor::Content::with_text("mine");
    let sent = app.update(Message::Conversation(conversation::Message::Send));
    assert_eq!(sent.last(), Some(&Op::ToNewest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emoji_picker_puts_an_emoji_where_the_cursor_is_and_it_is_sent() {
    let mut a = peer().await;
    let b = peer().await;
    let bid = b.node.peer_id();
    bob_writes(&a, &b, &[]).await;
    let mut app = booted(&a).await;
    select(&mut app, &a, bid).await;
    interact(&mut app, &a.node, |ui| {
        ui.click(Id::new(conversation::COMPOSER)).unwrap();
        ui.typewrite("thanks ");
    })
    .await;
    assert!(!shows(&app, "👍"), "closed at first");
    interact(&mut app, &a.node, |ui| {
        ui.click(conversation::EMOJI_BUTTON).unwrap();
    })
    .await;
    interact(&mut app, &a.node, |ui| {
        ui.click("👍").unwrap();
    })
    .await;
    assert_eq!(app.conversation.composer.text().trim_end(), "thanks 👍");
    assert!(!app.conversation.emoji_open, "the picker closes once used");
    interact(&mut app, &a.node, |ui| {
        ui.click(Id::new(conversation::COMPOSER)).unwrap();
        ui.tap_key(iced::keyboard::key::Named::Enter);
    })
    .await;
    pump(&mut app, &mut a, 1000).await;
    let sent = a.node.history(bid, 5, None).await.unwrap();
    assert_eq!(sent.last().map(|m| m.text.as_str()), Some("thanks 👍"));
}
