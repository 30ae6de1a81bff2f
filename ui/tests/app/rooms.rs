//! Rooms in the app: create one, invite from the buddy list, an invitation to join, messages
//! both ways in the room pane, the secure badge and members with presence, a notification
//! in the background, leave.

use std::time::Duration;

use iced::keyboard::key::Named;
use iced::widget::Id;
use natter::model::RoomStatus;
use natter::node::Event;
use natter_ui::Message;
use natter_ui::screen::room::{NEW_ROOM, ROOM_COMPOSER};

use crate::support::*;

/// Waits for the peer's event matching `f`.
async fn event(p: &mut Peer, f: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = p.events.recv().await.unwrap();
            if f(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event came")
}

/// Alice, Bob and Carol know each other's addresses; Alice has Bob and Carol as named
/// contacts, and her own name set.
async fn alice_knows_bob_and_carol(a: &Peer, b: &Peer, c: &Peer) {
    for (other, name) in [(b, "Bob"), (c, "Carol")] {
        introduce(a, other).await;
        introduce(other, a).await;
        let mut k = natter::model::Contact::new(other.node.peer_id());
        k.nickname = name.into();
        a.node.add_contact(k).await.unwrap();
    }
    a.node
        .set_preference(natter_ui::pref::NAME, "Alice")
        .await
        .unwrap();
}

/// Keeps a picture of the app as it is now (target/tmp/screenshots/NAME-tiny-skia.png; the
/// README's room screenshot is this one).
fn picture(app: &natter_ui::App, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(dir.join(format!("{name}-tiny-skia.png")));
    let mut ui = iced_test::simulator(app.view());
    let snap = ui.snapshot(&iced::Theme::Light).unwrap();
    assert!(snap.matches_image(&path).unwrap(), "the picture is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_made_joined_and_talked_in_from_the_app() {
    let mut a = peer().await;
    let mut b = peer().await;
    let c = peer().await;
    alice_knows_bob_and_carol(&a, &b, &c).await;
    let mut app = booted(&a).await;
    pump(&mut app, &mut a, 500).await;

    // Create a room from the sidebar: it opens, secure, with us alone.
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(NEW_ROOM)).unwrap();
        ui.typewrite("Book club");
        ui.click("Create room").unwrap();
    })
    .await;
    let room = app.rooms.selected.expect("the new room is open");
    assert!(shows(&app, "# Book club"));
    assert!(shows(&app, "Secure") && shows(&app, "only members read it · 1 member"));

    // Invite Bob from the buddy list; he accepts (his node), and says hello.
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click("Invite").unwrap();
    })
    .await;
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click("Bob").unwrap();
    })
    .await;
    event(
        &mut b,
        |e| matches!(e, Event::RoomInvited { room: r } if r.room_id == room),
    )
    .await;
    b.node.room_accept(room).await.unwrap();
    b.node.room_send(room, "hello from Bob").await.unwrap();
    for _ in 0..50 {
        pump(&mut app, &mut a, 200).await;
        if shows(&app, "Bob: hello from Bob") {
            break;
        }
    }
    assert!(
        shows(&app, "Bob: hello from Bob"),
        "Bob's message in the room pane"
    );
    assert!(shows(&app, "only members read it · 2 members"));

    // Type in the room's composer and press Enter: Bob stores it.
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(ROOM_COMPOSER)).unwrap();
        ui.typewrite("hi Bob");
        ui.tap_key(Named::Enter);
    })
    .await;
    assert!(shows(&app, "you: hi Bob"));
    event(
        &mut b,
        |e| matches!(e, Event::RoomMessage { post } if post.text == "hi Bob"),
    )
    .await;

    picture(&app, "room");

    // In the background, Bob's next message raises a notification titled with the room.
    let na = a.node.clone();
    apply(&mut app, &na, Message::Focus(false)).await;
    b.node.room_send(room, "are you all there?").await.unwrap();
    let ops = loop {
        let e = event(&mut a, |_| true).await;
        if matches!(&e, Event::RoomMessage { post } if post.text == "are you all there?") {
            break app.update(Message::Node(e));
        }
        apply(&mut app, &na, Message::Node(e)).await;
    };
    assert!(
        ops.contains(&notify(
            "# Book club",
            "Bob: are you all there?",
            natter_ui::notify::Source::Room(room)
        )),
        "{ops:?}"
    );
    apply(&mut app, &na, Message::Focus(true)).await;

    // Carol's room: the invitation shows in the sidebar; Join takes us in.
    let other = c.node.room_create("Carol's", "").await.unwrap().room_id;
    c.node.room_invite(other, a.node.peer_id()).await.unwrap();
    for _ in 0..50 {
        pump(&mut app, &mut a, 200).await;
        if shows(&app, "Join") {
            break;
        }
    }
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click("Join").unwrap();
    })
    .await;
    pump(&mut app, &mut a, 300).await;
    let joined = app.rooms.rooms.iter().find(|r| r.room_id == other).unwrap();
    assert_eq!(joined.status, RoomStatus::Joined);
    assert!(shows(&app, "# Carol's"));

    // Leave the first room from its pane.
    apply(
        &mut app,
        &a.node.clone(),
        Message::Room(natter_ui::screen::room::Message::Select(room)),
    )
    .await;
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click("Leave room").unwrap();
    })
    .await;
    pump(&mut app, &mut a, 300).await;
    assert_eq!(a.node.room(room).await.unwrap().status, RoomStatus::Left);
    event(
        &mut b,
        |e| matches!(e, Event::RoomState { room: r } if r.room_id == room && r.members.len() == 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_person_turns_a_one_to_one_conversation_into_a_room() {
    let mut a = peer().await;
    let mut b = peer().await;
    let mut c = peer().await;
    alice_knows_bob_and_carol(&a, &b, &c).await;
    let mut app = booted(&a).await;
    pump(&mut app, &mut a, 500).await;
    let na = a.node.clone();
    let bid = b.node.peer_id();
    apply(
        &mut app,
        &na,
        Message::Sidebar(natter_ui::screen::sidebar::Message::Select(bid)),
    )
    .await;

    // In the conversation with Bob: "Add a person", then Carol.
    interact(&mut app, &na, |ui| {
        ui.click("Add a person").unwrap();
    })
    .await;
    assert!(shows(&app, "Make a room with Bob and someone else:"));
    interact(&mut app, &na, |ui| {
        ui.click("Carol").unwrap();
    })
    .await;
    pump(&mut app, &mut a, 300).await;
    let room = app.rooms.selected.expect("the new room is open");
    assert!(shows(&app, "# Bob, Carol and Alice"));
    assert!(
        !shows(&app, "Make a room with Bob and someone else:"),
        "closed"
    );
    for p in [&mut b, &mut c] {
        event(
            p,
            |e| matches!(e, Event::RoomInvited { room: r } if r.room_id == room),
        )
        .await;
        let mut members = 0;
        for _ in 0..100 {
            members = p.node.room(room).await.unwrap().members.len();
            if members == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(members, 3, "Alice, Bob and Carol");
    }
}
