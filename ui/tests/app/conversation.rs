//! The conversation pane against real nodes: a dropped file offered, accepted and saved;
//! notifications while the window is in the background; the composer's Shift+Enter; what the
//! contact hears as we type.

use std::time::{Duration, Instant};

use iced::keyboard::{self, key::Named};
use iced::widget::Id;
use natter::control::Command;
use natter::model::{Contact, TransferState};
use natter::node::Event;
use natter_ui::screen::{conversation, sidebar};
use natter_ui::{Message, Op};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_is_offered_accepted_and_saved() {
    let mut a = peer().await;
    let mut b = peer().await;
    let (bid, aid) = (b.node.peer_id(), a.node.peer_id());
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    introduce(&a, &b).await;
    let mut app_a = booted(&a).await;
    let mut app_b = booted(&b).await;
    let (na, nb) = (a.node.clone(), b.node.clone());
    apply(
        &mut app_a,
        &na,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    apply(
        &mut app_b,
        &nb,
        Message::Sidebar(sidebar::Message::Select(aid)),
    )
    .await;
    pump(&mut app_a, &mut a, 1000).await;
    let file = a.dir.path().join("notes.txt");
    std::fs::write(&file, vec![b'x'; 300_000]).unwrap();
    apply(&mut app_a, &na, Message::FileDropped(file)).await;
    pump(&mut app_b, &mut b, 1500).await;
    assert!(
        shows(&app_b, "📄 notes.txt (293.0 KiB) offered"),
        "{:?}",
        app_b.conversation.transfers
    );
    interact(&mut app_b, &nb, |ui| {
        ui.click("Accept").unwrap();
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app_b
        .conversation
        .transfers
        .iter()
        .any(|t| t.state == TransferState::Done)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            app_b.conversation.transfers
        );
        pump(&mut app_b, &mut b, 200).await;
    }
    let saved = b.dir.path().join("downloads/notes.txt");
    assert_eq!(std::fs::read(&saved).unwrap().len(), 300_000);
    assert!(shows(
        &app_b,
        &format!("📄 notes.txt (293.0 KiB) saved to {}", saved.display())
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_messages_notify_and_stay_unread_until_focus() {
    let mut a = peer().await;
    let b = peer().await;
    let (na, bid) = (a.node.clone(), b.node.peer_id());
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    introduce(&a, &b).await;
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &na,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    apply(&mut app, &na, Message::Focus(false)).await;
    b.node
        .send(a.node.peer_id(), "are you there?".into())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ops = loop {
        let e = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(e, Event::MessageReceived { .. }) {
            break app.update(Message::Node(e));
        }
        apply(&mut app, &na, Message::Node(e)).await;
    };
    let name = app.name_of(&bid);
    assert!(
        ops.contains(&notify(&name, "are you there?", bid.into())),
        "{ops:?}"
    );
    assert!(
        !ops.contains(&Op::Node(Command::Read { id: bid })),
        "not read while in the background"
    );
    assert_eq!(app.title(), "Natter (1)");
    let ops = app.update(Message::Focus(true));
    assert_eq!(ops, vec![Op::Node(Command::Read { id: bid })]);
    assert_eq!(app.title(), "Natter");
    // Switched off in settings: no notification.
    app.prefs.notifications = false;
    apply(&mut app, &na, Message::Focus(false)).await;
    b.node
        .send(a.node.peer_id(), "still?".into())
        .await
        .unwrap();
    let ops = loop {
        let e = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(e, Event::MessageReceived { .. }) {
            break app.update(Message::Node(e));
        }
    };
    assert!(!ops.iter().any(|o| matches!(o, Op::Notify(..))), "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_enter_starts_a_new_line_and_enter_sends_both() {
    let a = peer().await;
    let b = peer().await;
    let (na, bid) = (a.node.clone(), b.node.peer_id());
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &na,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    let shift_enter = keyboard::Event::KeyPressed {
        key: keyboard::Key::Named(Named::Enter),
        modified_key: keyboard::Key::Named(Named::Enter),
        physical_key: keyboard::key::Physical::Unidentified(
            keyboard::key::NativeCode::Unidentified,
        ),
        location: keyboard::Location::Standard,
        modifiers: keyboard::Modifiers::SHIFT,
        repeat: false,
        text: Some("\n".into()),
    };
    interact(&mut app, &na, |ui| {
        ui.click(Id::new(conversation::COMPOSER)).unwrap();
        ui.typewrite("first line");
        ui.simulate([iced::Event::Keyboard(shift_enter)]);
        ui.typewrite("second line");
        ui.tap_key(Named::Enter);
    })
    .await;
    let sent = a.node.history(bid, 10, None).await.unwrap();
    assert_eq!(
        sent.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["first line\nsecond line"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_hears_typing_stopped_typing_and_erased() {
    let a = peer().await;
    let b = peer().await;
    let (na, bid) = (a.node.clone(), b.node.peer_id());
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &na,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    let typed = |app: &mut natter_ui::App, text: &str| {
        let mut ops = Vec::new();
        for c in text.chars() {
            let edit =
                iced::widget::text_editor::Action::Edit(iced::widget::text_editor::Edit::Insert(c));
            ops.extend(app.update(Message::Conversation(conversation::Message::Edit(edit))));
        }
        ops
    };
    let t = |state| Op::Node(Command::Typing { id: bid, state });
    use natter::model::TypingState::*;
    assert_eq!(
        typed(&mut app, "hel"),
        vec![t(Typing)],
        "told once, not per key"
    );
    let now = app.conversation.last_edit.unwrap();
    assert!(
        app.update(Message::Tick(now + Duration::from_secs(2)))
            .is_empty()
    );
    assert_eq!(
        app.update(Message::Tick(now + conversation::PAUSE_AFTER)),
        vec![t(Paused)]
    );
    assert!(
        app.update(Message::Tick(now + Duration::from_secs(9)))
            .is_empty(),
        "once"
    );
    assert_eq!(typed(&mut app, "lo"), vec![t(Typing)], "typing again");
    let erase = iced::widget::text_editor::Action::Edit(iced::widget::text_editor::Edit::Backspace);
    let mut ops = Vec::new();
    for _ in 0..5 {
        ops.extend(
            app.update(Message::Conversation(conversation::Message::Edit(
                erase.clone(),
            ))),
        );
    }
    assert_eq!(ops, vec![t(Erased)], "erased when the composer is emptied");
    assert_eq!(typed(&mut app, "x"), vec![t(Typing)]);
    let sent = app.update(Message::Conversation(conversation::Message::Send));
    assert_eq!(
        sent,
        vec![Op::Node(Command::send(bid, "x".into())), Op::ToNewest]
    );
    assert!(
        app.update(Message::Tick(Instant::now() + Duration::from_secs(60)))
            .is_empty(),
        "sending ends it"
    );
}
