//! Public rooms in the app, against a real rendezvous: Alice makes a public room and lists
//! it; Carol, a stranger, finds it with "Find a room", joins, and it opens; Alice bans her
//! from the member list. Rooms nearby follow the node's LAN events.

use std::time::Duration;

use iced::widget::Id;
use natter::model::{ListedRoom, RoomStatus};
use natter::node::Event;
use natter::rendezvous::RendezvousConfig;
use natter::rendezvous::server::{Server, ServerConfig};
use natter_ui::Message;
use natter_ui::screen::Screen;
use natter_ui::screen::find_room::FIND_ROOM;
use natter_ui::screen::room::NEW_ROOM;

use crate::support::*;

async fn rendezvous(dir: &std::path::Path) -> (RendezvousConfig, tokio::sync::oneshot::Sender<()>) {
    let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir)).unwrap();
    let config = RendezvousConfig {
        addr: server.local_addr().unwrap(),
        key: server.peer_id(),
        tcp: None,
        also: Vec::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    (config, stop)
}

/// Feeds events until `f` holds of the app (at most 20 s).
async fn pump_until(
    app: &mut natter_ui::App,
    p: &mut Peer,
    what: &str,
    f: impl Fn(&natter_ui::App) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f(app) {
        assert!(tokio::time::Instant::now() < deadline, "{what} within 20 s");
        pump(app, p, 200).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_room_is_listed_found_joined_and_a_member_banned_from_the_app() {
    let rv_dir = tempfile::tempdir().unwrap();
    let (rv, _stop) = rendezvous(rv_dir.path()).await;
    let mut a = peer_config(None, true, |c| c.rendezvous = Some(rv.clone())).await;
    let mut c = peer_config(None, true, |c| c.rendezvous = Some(rv)).await;
    let mut alice = booted(&a).await;
    let mut carol = booted(&c).await;
    pump_until(&mut carol, &mut c, "Carol registered", |app| {
        app.rendezvous.as_ref().is_some_and(|r| r.online)
    })
    .await;

    // Alice: a public room, then "List it".
    interact(&mut alice, &a.node.clone(), |ui| {
        ui.click(Id::new(NEW_ROOM)).unwrap();
        ui.typewrite("Book swap");
        ui.click("Public: anyone may join").unwrap();
        ui.click("Create room").unwrap();
    })
    .await;
    let room = alice.rooms.selected.expect("the new room is open");
    assert!(shows(&alice, "Public") && shows(&alice, "anyone may read it · 1 member"));
    interact(&mut alice, &a.node.clone(), |ui| {
        ui.click("List it").unwrap();
    })
    .await;
    assert!(shows(&alice, "Stop listing"), "the room is listed");

    // Carol: "Find a room", a search, Join: the room opens.
    interact(&mut carol, &c.node.clone(), |ui| {
        ui.click("Find a room").unwrap();
    })
    .await;
    assert!(matches!(carol.screen, Screen::FindRoom(_)));
    assert!(
        shows(&carol, "Rooms nearby")
            && shows(&carol, "No public room is listed on your network now.")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !shows(&carol, "# Book swap") {
        assert!(tokio::time::Instant::now() < deadline, "found within 10 s");
        interact(&mut carol, &c.node.clone(), |ui| {
            ui.click(Id::new(FIND_ROOM)).unwrap();
            ui.typewrite("book");
            ui.click("Search").unwrap();
        })
        .await;
        if let Screen::FindRoom(s) = &mut carol.screen {
            s.query.clear();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let by = carol.name_of(&a.node.peer_id());
    assert!(shows(&carol, &format!("1 member · made by {by}")));
    interact(&mut carol, &c.node.clone(), |ui| {
        ui.click("Join").unwrap();
    })
    .await;
    assert!(
        matches!(carol.screen, Screen::Main),
        "back in the main window"
    );
    assert_eq!(carol.rooms.selected, Some(room), "the room opened");
    assert!(shows(&carol, "# Book swap") && shows(&carol, "anyone may read it · 2 members"));

    // Alice sees her, and bans her from the member list.
    pump_until(&mut alice, &mut a, "Carol in Alice's list", |app| {
        shows(app, "anyone may read it · 2 members")
    })
    .await;
    interact(&mut alice, &a.node.clone(), |ui| {
        ui.click("Ban").unwrap();
    })
    .await;
    assert!(shows(&alice, "anyone may read it · 1 member"));
    let carol_id = c.node.peer_id();
    let banned_line = format!("⊘ {} (banned)", alice.name_of(&carol_id));
    assert!(
        shows(&alice, &banned_line),
        "the ban is listed with a way to lift it"
    );
    let r = a.node.room(room).await.unwrap();
    assert_eq!(r.banned, vec![carol_id]);
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), c.events.recv())
            .await
            .expect("Carol hears of it")
            .unwrap();
        if matches!(&e, Event::RoomState { room: r } if r.room_id == room && r.status == RoomStatus::Removed)
        {
            apply(&mut carol, &c.node.clone(), Message::Node(e)).await;
            break;
        }
    }
    assert_eq!(carol.rooms.selected, None, "her pane closed");
    // Alice lifts the ban from the same list.
    interact(&mut alice, &a.node.clone(), |ui| {
        ui.click("Lift ban").unwrap();
    })
    .await;
    assert!(!shows(&alice, &banned_line));
    assert!(a.node.room(room).await.unwrap().banned.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_nearby_follow_the_lan_and_a_refusal_is_said() {
    let mut c = peer().await;
    let mut carol = booted(&c).await;
    pump(&mut carol, &mut c, 300).await;
    interact(&mut carol, &c.node.clone(), |ui| {
        ui.click("Find a room").unwrap();
    })
    .await;
    assert!(shows(
        &carol,
        "No rendezvous is set, so there is no directory to search (Settings → Servers)."
    ));
    let alice = natter::identity::Identity::generate().peer_id();
    let listed = |members| ListedRoom {
        room_id: "aaaaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap(),
        name: "Hackspace".into(),
        topic: "soldering on Thursdays".into(),
        members,
        creator: alice,
        seen: "lan",
        expires_ms: u64::MAX,
    };
    let node = c.node.clone();
    apply(
        &mut carol,
        &node,
        Message::Node(Event::RoomNearby { room: listed(3) }),
    )
    .await;
    assert!(shows(&carol, "# Hackspace") && shows(&carol, "soldering on Thursdays"));
    assert!(shows(
        &carol,
        &format!("3 members · made by {}", carol.name_of(&alice))
    ));
    // A newer listing replaces it; the creator's refusal is said; gone, it goes.
    apply(
        &mut carol,
        &node,
        Message::Node(Event::RoomNearby { room: listed(4) }),
    )
    .await;
    assert_eq!(count(&carol, "# Hackspace"), 1);
    apply(
        &mut carol,
        &node,
        Message::Node(Event::RoomJoinRefused {
            room_id: listed(4).room_id,
            reason: "you are banned from this room".into(),
        }),
    )
    .await;
    let said = format!(
        "The creator of # {} did not let you in: you are banned from this room",
        listed(4).room_id
    );
    assert!(shows(&carol, &said), "the reason is shown");
    apply(
        &mut carol,
        &node,
        Message::Node(Event::RoomNearbyGone {
            room_id: listed(4).room_id,
        }),
    )
    .await;
    assert!(!shows(&carol, "# Hackspace"));
    interact(&mut carol, &c.node.clone(), |ui| {
        ui.click("Back").unwrap();
    })
    .await;
    assert!(matches!(carol.screen, Screen::Main));
}
