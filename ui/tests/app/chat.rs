//! Chatting through the app: onboarding, add by pasted ID, send and see it delivered; the
//! requests inbox; the typing line; invite links.

use iced::keyboard::key::Named;
use iced::widget::Id;
use iced_test::simulator;
use natter::model::TypingState;
use natter::node::Event;
use natter_ui::screen::onboarding::NAME_INPUT;
use natter_ui::screen::{Screen, sidebar, sidebar::ADD_INPUT, widget, widget::COMPOSER};
use natter_ui::{Message, short};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_shows_the_id_then_add_by_pasted_id_and_chat() {
    let mut a = peer_with(None, false).await;
    let mut b = peer().await;
    let mut app = booted(&a).await;
    // First start: the onboarding screen shows the ID, the invite link and asks for a name.
    assert!(matches!(app.screen, Screen::Onboarding(_)));
    let me = widget::grouped(&a.node.peer_id());
    assert!(shows(&app, &me), "own Natter ID is shown");
    let link = natter_ui::invite_link(&a.node.peer_id());
    assert!(shows(&app, &link), "invite link is shown");
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click("Copy invite link").unwrap();
    })
    .await;
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(NAME_INPUT)).unwrap();
        ui.typewrite("Alice");
        ui.tap_key(Named::Enter);
    })
    .await;
    assert!(matches!(app.screen, Screen::Main), "onboarding done");
    assert_eq!(
        a.node
            .preference(natter_ui::pref::NAME)
            .await
            .unwrap()
            .as_deref(),
        Some("Alice"),
        "the name was saved"
    );
    assert!(shows(&app, "Alice"), "the sidebar shows the name");
    // The next start goes straight to the main window.
    let again = booted(&a).await;
    assert!(matches!(again.screen, Screen::Main));
    let bid = b.node.peer_id();
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(ADD_INPUT)).unwrap();
        ui.typewrite(&bid.to_string());
        ui.click("Add contact").unwrap();
    })
    .await;
    assert_eq!(
        app.roster
            .contacts
            .iter()
            .map(|c| c.peer)
            .collect::<Vec<_>>(),
        vec![bid]
    );
    // b knows where a is, so a session comes up.
    introduce(&a, &b).await;
    pump(&mut app, &mut a, 1500).await;
    assert!(app.roster.connected.contains_key(&bid));
    let label = format!("● {}", short(&bid));
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(label.as_str()).unwrap();
    })
    .await;
    assert_eq!(app.conversation.selected, Some(bid));
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(COMPOSER)).unwrap();
        ui.typewrite("hello from the GUI");
        ui.tap_key(Named::Enter);
    })
    .await;
    assert!(
        app.conversation.composer.text().trim().is_empty(),
        "Enter sent and cleared the composer"
    );
    pump(&mut app, &mut a, 1500).await;
    assert!(
        shows(&app, "hello from the GUI") && shows(&app, "✓✓ delivered"),
        "delivery tick shown: {:?}",
        app.conversation.history.get(&bid)
    );
    let theirs = b.node.history(a.node.peer_id(), 10, None).await.unwrap();
    assert_eq!(
        theirs.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["hello from the GUI"]
    );
    // b saw a start typing when the first character went in.
    let mut saw_typing = false;
    while let Ok(e) = b.events.try_recv() {
        saw_typing |= matches!(
            e,
            Event::Typing {
                state: TypingState::Typing,
                ..
            }
        );
    }
    assert!(saw_typing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_accept_and_block_and_the_typing_line() {
    let mut a = peer().await;
    let stranger = peer().await;
    let pest = peer().await;
    let mut app = booted(&a).await;
    for p in [&stranger, &pest] {
        introduce(&a, p).await;
        p.node
            .send(a.node.peer_id(), "hi, remember me?".into())
            .await
            .unwrap();
    }
    pump(&mut app, &mut a, 2000).await;
    assert_eq!(app.roster.requests.len(), 2, "both wait in requests");
    assert_eq!(
        app.title(),
        "Natter (2)",
        "unread count in the window title"
    );
    let (sid, pid) = (stranger.node.peer_id(), pest.node.peer_id());
    let node = a.node.clone();
    // Accept the first; block the second (the rows are in the requests list).
    let mut app_requests: Vec<_> = app.roster.requests.iter().map(|r| r.peer).collect();
    app_requests.sort();
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Accept(sid)),
    )
    .await;
    assert!(app.roster.contacts.iter().any(|c| c.peer == sid));
    interact(&mut app, &node, |ui| {
        ui.click("Block").unwrap();
    })
    .await;
    assert!(
        a.node.blocked().await.unwrap().contains(&pid),
        "{app_requests:?}"
    );
    pest.node
        .send(a.node.peer_id(), "let me in".into())
        .await
        .unwrap();
    pump(&mut app, &mut a, 1500).await;
    let from_pest = a.node.history(pid, 10, None).await.unwrap();
    assert_eq!(
        from_pest.len(),
        1,
        "the blocked peer's next message was refused"
    );
    // The typing line for the three states.
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(sid)),
    )
    .await;
    let name = short(&sid);
    for (state, line) in [
        (TypingState::Typing, "typing…"),
        (TypingState::Paused, "stopped typing"),
        (TypingState::Erased, "erased what they typed"),
    ] {
        stranger
            .node
            .set_typing(a.node.peer_id(), state)
            .await
            .unwrap();
        pump(&mut app, &mut a, 400).await;
        let expected = format!("{name} {line}");
        assert!(
            simulator(app.view()).find(expected.as_str()).is_ok(),
            "{expected}"
        );
    }
}

#[test]
fn invite_links_name_an_id_or_nothing() {
    let id = natter::Identity::generate().peer_id().to_string();
    assert_eq!(
        natter_ui::id_of_link(&format!("natter://add/{id}")),
        Some(id.clone())
    );
    assert_eq!(natter_ui::id_of_link(&format!("natter:{id}")), Some(id));
    assert_eq!(natter_ui::id_of_link("natter://add/not-an-id"), None);
    assert_eq!(natter_ui::id_of_link("https://example.org/"), None);
}
