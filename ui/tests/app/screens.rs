//! The other screens against real nodes: verify, the contact menu, settings, search, paging
//! back through a long history, the key-change warning, changes made elsewhere, the
//! connection panel.

use std::time::Duration;

use iced::widget::Id;
use natter::control::Command;
use natter::model::{Contact, Status, Verification};
use natter::node::{Event, ExportFormat, PrivacyMode};
use natter_ui::screen::{Screen, contact, settings, sidebar};
use natter_ui::theme::Choice;
use natter_ui::{Message, Op, PAGE};

use crate::support::*;

async fn contact_of(a: &Peer, b: &Peer) -> Contact {
    a.node.contact(b.node.peer_id()).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_the_contact_menu_and_settings_change_the_node() {
    let a = peer().await;
    let b = peer().await;
    let node = a.node.clone();
    let bid = b.node.peer_id();
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::AddInput(bid.to_string())),
    )
    .await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::AddContact),
    )
    .await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;

    // Verify: the same safety number as the node's, four groups a line; mark verified.
    interact(&mut app, &node, |ui| {
        ui.click("Verify").unwrap();
    })
    .await;
    assert!(matches!(app.screen, Screen::Verify(_)));
    let number = a.node.safety_number(&bid);
    let first_line = number.split(' ').take(4).collect::<Vec<_>>().join("  ");
    assert!(
        shows(&app, &first_line),
        "safety number shown: {first_line}"
    );
    interact(&mut app, &node, |ui| {
        ui.click("Mark as verified").unwrap();
    })
    .await;
    assert_eq!(
        contact_of(&a, &b).await.verification,
        Verification::Verified
    );
    assert!(matches!(app.screen, Screen::Main));
    assert!(shows(&app, "✔ verified"));

    // The contact menu: rename and regroup, switches, delete history (twice), block.
    a.node.send(bid, "to be deleted".into()).await.unwrap();
    interact(&mut app, &node, |ui| {
        ui.click("Contact…").unwrap();
    })
    .await;
    assert!(matches!(app.screen, Screen::Contact(_)));
    let menu = |m| Message::Contact(m);
    apply(
        &mut app,
        &node,
        menu(contact::Message::Nickname("Bobby".into())),
    )
    .await;
    apply(
        &mut app,
        &node,
        menu(contact::Message::Group("Friends".into())),
    )
    .await;
    apply(&mut app, &node, menu(contact::Message::Typing(false))).await;
    let c = contact_of(&a, &b).await;
    assert!(
        !c.send_typing && c.send_receipts,
        "typing indicators off only"
    );
    apply(&mut app, &node, menu(contact::Message::SeesInvisible(true))).await;
    let c = contact_of(&a, &b).await;
    assert!(
        c.sees_invisible && !c.send_typing,
        "picked to see us invisible"
    );
    interact(&mut app, &node, |ui| {
        ui.click("Delete history on this computer").unwrap();
    })
    .await;
    assert_eq!(
        a.node.history(bid, 10, None).await.unwrap().len(),
        1,
        "asks once more first"
    );
    interact(&mut app, &node, |ui| {
        ui.click("Really delete? Press again").unwrap();
    })
    .await;
    assert!(
        a.node.history(bid, 10, None).await.unwrap().is_empty(),
        "{:?}",
        app.error
    );
    interact(&mut app, &node, |ui| {
        ui.click("Block").unwrap();
    })
    .await;
    assert!(a.node.blocked().await.unwrap().contains(&bid));
    assert!(shows(&app, "Unblock"));
    interact(&mut app, &node, |ui| {
        ui.click("Unblock").unwrap();
    })
    .await;
    assert!(!a.node.blocked().await.unwrap().contains(&bid));
    interact(&mut app, &node, |ui| {
        ui.click("Save").unwrap();
    })
    .await;
    let c = contact_of(&a, &b).await;
    assert_eq!(
        (c.nickname.as_str(), c.group.as_str()),
        ("Bobby", "Friends")
    );
    assert!(shows(&app, "Friends"), "the buddy list shows the group");

    // Settings: privacy, theme, exports, a bad rendezvous address.
    interact(&mut app, &node, |ui| {
        ui.click("Settings").unwrap();
    })
    .await;
    assert!(matches!(app.screen, Screen::Settings(_)));
    assert!(shows(&app, "Privacy"));
    let set = |m| Message::Settings(m);
    apply(
        &mut app,
        &node,
        set(settings::Message::Privacy(PrivacyMode::ContactsOnly)),
    )
    .await;
    assert_eq!(a.node.privacy().await.unwrap(), PrivacyMode::ContactsOnly);
    apply(
        &mut app,
        &node,
        set(settings::Message::Privacy(PrivacyMode::Everyone)),
    )
    .await;
    assert_eq!(a.node.privacy().await.unwrap(), PrivacyMode::Everyone);
    apply(
        &mut app,
        &node,
        set(settings::Message::Theme(Choice::Light)),
    )
    .await;
    assert_eq!(app.theme(), iced::Theme::Light);
    assert_eq!(
        a.node.preference("theme").await.unwrap().as_deref(),
        Some("light")
    );
    a.node
        .send(bid, "kept for the export".into())
        .await
        .unwrap();
    // (Below the fold of the simulated window: the button's message itself.) No file chooser
    // runs here, so the export goes where it went before there was a dialog.
    apply(
        &mut app,
        &node,
        set(settings::Message::Export(ExportFormat::Text)),
    )
    .await;
    // A new file of its own in the downloads folder, named by the time (peers' files land
    // there too); the app says which.
    let named = |start: &str, end: &str| {
        let found: Vec<_> = std::fs::read_dir(a.node.downloads())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with(start) && n.ends_with(end)
            })
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    };
    let exported = named("natter-history-", ".txt");
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains("me: kept for the export"), "{text}");
    assert!(shows(
        &app,
        &format!("Exported 1 messages to {}", exported.display())
    ));
    interact(&mut app, &node, |ui| {
        ui.click("Save identity backup").unwrap();
    })
    .await;
    let backup = std::fs::read(named("natter-identity-backup-", ".pem")).unwrap();
    let key = std::fs::read(a.dir.path().join(natter::identity::KEY_FILE)).unwrap();
    assert_eq!(backup, key, "the backup is the identity key");
    apply(
        &mut app,
        &node,
        set(settings::Message::Rendezvous("nowhere".into())),
    )
    .await;
    apply(&mut app, &node, set(settings::Message::SaveRendezvous)).await;
    assert!(shows(
        &app,
        "\"nowhere\" is not an address like 192.0.2.7:4433 (separate a deployment's nodes by commas)."
    ));
    assert_eq!(
        a.node.preference("rendezvous").await.unwrap(),
        None,
        "nothing saved"
    );
    // A deployment of several nodes: their addresses, separated by commas.
    let nodes = "127.0.0.1:47200, 127.0.0.1:47201";
    for m in [
        settings::Message::Rendezvous(nodes.into()),
        settings::Message::RendezvousKey(a.node.peer_id().to_string()),
        settings::Message::SaveRendezvous,
    ] {
        apply(&mut app, &node, set(m)).await;
    }
    assert_eq!(
        a.node.preference("rendezvous").await.unwrap().as_deref(),
        Some(nodes)
    );
    interact(&mut app, &node, |ui| {
        ui.click("Back").unwrap();
    })
    .await;
    assert!(matches!(app.screen, Screen::Main));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_messages_and_opens_their_conversation() {
    let a = peer().await;
    let b = peer().await;
    let (node, bid) = (a.node.clone(), b.node.peer_id());
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::AddInput(bid.to_string())),
    )
    .await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::AddContact),
    )
    .await;
    for t in ["apples and pears", "a banana split", "cherries"] {
        a.node.send(bid, t.into()).await.unwrap();
    }
    interact(&mut app, &node, |ui| {
        ui.click(Id::new(sidebar::SEARCH_INPUT)).unwrap();
        ui.typewrite("bana");
    })
    .await;
    assert!(shows(&app, "1 messages with “bana” (newest first)"));
    interact(&mut app, &node, |ui| {
        ui.click("You: a banana split").unwrap();
    })
    .await;
    assert_eq!(app.conversation.selected, Some(bid));
    assert!(app.search.words.is_empty() && app.search.results.is_none());
    assert!(
        shows(&app, "cherries") && shows(&app, "🕓 queued"),
        "the conversation is open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_pages_back_and_is_grouped_by_day() {
    let a = peer().await;
    let b = peer().await;
    let (node, bid) = (a.node.clone(), b.node.peer_id());
    a.node.add_contact(Contact::new(bid)).await.unwrap();
    let total = 2 * PAGE + 50;
    for i in 0..total {
        a.node.send(bid, format!("line {i}")).await.unwrap();
    }
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    assert_eq!(
        app.conversation.history[&bid].len(),
        PAGE,
        "one page at first"
    );
    assert!(shows(&app, &format!("line {}", total - 1)));
    assert!(shows(&app, "Today"), "day heading");
    for expected in [2 * PAGE, total] {
        interact(&mut app, &node, |ui| {
            ui.click("Load older messages").unwrap();
        })
        .await;
        assert_eq!(app.conversation.history[&bid].len(), expected);
    }
    let texts: Vec<String> = app.conversation.history[&bid]
        .iter()
        .map(|m| m.text.clone())
        .collect();
    let want: Vec<String> = (0..total).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, want, "every message once, oldest first");
    assert!(!shows(&app, "Load older messages"), "nothing older to load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_change_blocks_the_window_until_read() {
    let a = peer().await;
    let b = peer().await;
    let impostor = natter::Identity::generate().peer_id();
    let (node, bid) = (a.node.clone(), b.node.peer_id());
    let mut app = booted(&a).await;
    let mut c = Contact::new(bid);
    c.nickname = "Bob".into();
    a.node.add_contact(c).await.unwrap();
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    // What the node reports when a LAN record claims Bob but the host proves another key.
    let spoof = Event::SpoofSuspected {
        claimed: bid,
        presented: impostor,
        addr: "127.0.0.1:9".parse().unwrap(),
    };
    apply(&mut app, &node, Message::Node(spoof)).await;
    assert!(matches!(app.screen, Screen::KeyWarning(_)));
    assert!(shows(&app, "⚠ This is not the key you know"));
    assert!(!shows(&app, "Type a message"), "the conversation is hidden");
    interact(&mut app, &node, |ui| {
        ui.click("Block that key").unwrap();
    })
    .await;
    assert!(a.node.blocked().await.unwrap().contains(&impostor));
    assert!(!a.node.blocked().await.unwrap().contains(&bid), "Bob stays");
    assert!(matches!(app.screen, Screen::Main));
}

/// What changes in the node from elsewhere (natter-cli on the same profile, a stranger
/// writing) reaches the window as events: nothing is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_elsewhere_reach_the_window_as_events() {
    let mut a = peer().await;
    let b = peer().await;
    let node = a.node.clone();
    let mut app = booted(&a).await;
    let cid = natter::Identity::generate().peer_id();
    node.add_contact(Contact::new(cid)).await.unwrap();
    node.send(cid, "soon deleted".into()).await.unwrap();
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(cid)),
    )
    .await;
    assert_eq!(app.conversation.history[&cid].len(), 1);

    node.set_privacy(PrivacyMode::ContactsOnly).await.unwrap();
    node.set_preference("theme", "dark").await.unwrap();
    node.delete_history(cid).await.unwrap();
    node.set_privacy(PrivacyMode::Requests).await.unwrap();
    introduce(&a, &b).await;
    b.node
        .send(a.node.peer_id(), "hello, stranger".into())
        .await
        .unwrap();

    let rereads = |op: &Op| {
        matches!(
            op,
            Op::Prefs
                | Op::Node(Command::ContactList | Command::Requests | Command::History { .. })
        )
    };
    let bid = b.node.peer_id();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.roster.requests.iter().any(|r| r.peer == bid) {
        let e = match tokio::time::timeout_at(deadline, a.events.recv()).await {
            Ok(Ok(e)) => e,
            other => panic!("no request from b: {other:?}"),
        };
        let ops = app.update(Message::Node(e.clone()));
        assert!(!ops.iter().any(rereads), "{e:?} -> {ops:?}");
        for op in ops {
            let next = natter_ui::run_op(natter_ui::Node(node.clone()), op).await;
            app.update(next);
        }
    }
    assert_eq!(app.prefs.privacy, PrivacyMode::Requests);
    assert_eq!(app.theme(), iced::Theme::Dark);
    assert!(app.conversation.history[&cid].is_empty(), "deleted");
    let request = app.roster.requests.iter().find(|r| r.peer == bid).unwrap();
    assert_eq!(request.state, natter::ContactState::Request);
}

/// A contact neither the LAN nor a rendezvous finds is added by address; the connection
/// panel then shows how it is reached (as the node reports it), our port, and the punch
/// counters; the listening port is saved for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_added_by_address_connects_and_the_panel_shows_its_path() {
    use natter_ui::screen::{add_contact, connection};
    let mut a = peer().await;
    let b = peer().await;
    let node = a.node.clone();
    let bid = b.node.peer_id();
    let b_addr = b.node.local_addr().unwrap().to_string();
    let mut app = booted(&a).await;
    app.screen = Screen::AddContact(add_contact::State::with_id(bid.to_string()));
    let add = |m| Message::AddContact(m);
    apply(
        &mut app,
        &node,
        add(add_contact::Message::Addr("nowhere".into())),
    )
    .await;
    apply(&mut app, &node, add(add_contact::Message::Add)).await;
    assert!(shows(
        &app,
        "\"nowhere\" is not an address like 192.0.2.7:47100 (IP:PORT)."
    ));
    assert!(
        a.node.contact(bid).await.unwrap().is_none(),
        "nothing added"
    );
    apply(
        &mut app,
        &node,
        add(add_contact::Message::Addr(b_addr.clone())),
    )
    .await;
    apply(&mut app, &node, add(add_contact::Message::Add)).await;
    assert!(matches!(app.screen, Screen::Main));
    let stored = a.node.contact(bid).await.unwrap().unwrap();
    assert_eq!(stored.addr.as_deref(), Some(b_addr.as_str()));
    pump(&mut app, &mut a, 2000).await;
    let (path, remote, _) = app.roster.connected[&bid].clone();
    assert_eq!(
        (path, remote.to_string()),
        (natter::model::Path::Lan, b_addr.clone())
    );

    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Settings),
    )
    .await;
    let port = a.node.local_addr().unwrap().port();
    assert!(shows(&app, &format!("Listening on UDP port {port}")));
    // At the foot of Settings (scrolled to by the user).
    assert!(shows(&app, "Connection details"));
    apply(
        &mut app,
        &node,
        Message::Settings(settings::Message::Connection),
    )
    .await;
    let Screen::Connection(panel) = &app.screen else {
        panic!("the connection panel is open");
    };
    let paths = panel.paths.clone().expect("the node answered");
    assert_eq!(paths.sessions.len(), 1);
    assert!(
        paths.conns_opened >= 1 && paths.conns_direct >= 1,
        "{paths:?}"
    );
    assert!(shows(
        &app,
        connection::path_words(natter::model::Path::Lan)
    ));
    assert!(shows(&app, &b_addr));
    assert!(shows(
        &app,
        "1 sessions since Natter started, 1 of them direct or on the LAN."
    ));
    // The peer leaves: the panel asks again and lists nobody.
    b.node.shutdown().await;
    pump(&mut app, &mut a, 2000).await;
    assert!(shows(&app, "No contact is connected now."));

    apply(
        &mut app,
        &node,
        Message::Connection(connection::Message::Back),
    )
    .await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Settings),
    )
    .await;
    let set = |m| Message::Settings(m);
    apply(&mut app, &node, set(settings::Message::Port("80".into()))).await;
    apply(&mut app, &node, set(settings::Message::SavePort)).await;
    assert!(shows(
        &app,
        "\"80\" is not a port Natter can use: pick one from 1024 to 65535."
    ));
    apply(
        &mut app,
        &node,
        set(settings::Message::Port("47123".into())),
    )
    .await;
    apply(&mut app, &node, set(settings::Message::SavePort)).await;
    assert_eq!(
        a.node.preference("port").await.unwrap().as_deref(),
        Some("47123")
    );
    assert_eq!(app.prefs.port, "47123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_is_picked_in_the_sidebar_and_shown_again_at_start() {
    let a = peer().await;
    let node = a.node.clone();
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Status(sidebar::StatusChoice(
            Status::Invisible,
        ))),
    )
    .await;
    assert_eq!(a.node.presence().await.unwrap().0, Status::Invisible);
    // Another start of the app on the same node: the picker shows what the node restored,
    // never "Online" while it is invisible.
    let again = booted(&a).await;
    assert_eq!(again.sidebar.status.0, Status::Invisible);
}

/// A second start hands its `natter://add/<ID>` link to the running app (the `show`
/// command): the window is asked to come up, and the add-contact screen opens with the ID
/// filled in for the user to confirm; a bare `show` only brings the window up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_handed_over_by_a_second_start_opens_add_contact() {
    let mut a = peer().await;
    let node = a.node.clone();
    let mut app = booted(&a).await;
    let bob = natter::Identity::generate().peer_id();
    let show = |link: Option<String>| Command::Show { link };
    natter::control::execute(&node, show(None)).await.unwrap();
    natter::control::execute(&node, show(Some(bob.invite_link())))
        .await
        .unwrap();
    let mut asked = Vec::new();
    while asked.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(5), a.events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(e, Event::ShowRequested { .. }) {
            asked.push(app.update(Message::Node(e)));
        }
    }
    let up = Op::Desktop(natter_ui::desktop::Do::Show);
    assert_eq!(asked, vec![vec![up.clone()], vec![up]]);
    match &app.screen {
        Screen::AddContact(s) => assert_eq!(s.id, bob.to_string()),
        _ => panic!("the add-contact screen did not open"),
    }
    assert!(shows(&app, "Add a contact"));
}

/// The tray item's menu: a status chosen there is the node's status (and the sidebar's);
/// "Open Natter" brings the window up, "Quit Natter" quits; a close asked for with no tray
/// quits too, since nothing would bring the window back (with one, it only closes the
/// window: the real-window test `desktop` checks that against a stand-in tray host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_menu_sets_the_status_opens_and_quits() {
    use natter_ui::desktop::{Do, Message as Desk, tray::Event as TrayEvent};
    let a = peer().await;
    let node = a.node.clone();
    let mut app = booted(&a).await;
    let tray = |e| Message::Desktop(Desk::Tray(e));
    apply(&mut app, &node, tray(TrayEvent::Status(Status::Away))).await;
    assert_eq!(node.presence().await.unwrap().0, Status::Away);
    assert_eq!(app.sidebar.status.0, Status::Away);
    let desk = |op: Do| vec![Op::Desktop(op)];
    assert_eq!(app.update(tray(TrayEvent::Open)), desk(Do::Show));
    assert_eq!(app.update(tray(TrayEvent::Quit)), desk(Do::Quit));
    let close = Message::Desktop(Desk::CloseRequested(iced::window::Id::unique()));
    assert_eq!(app.update(close), desk(Do::Quit), "no tray: quit");
}

/// The contact menu sets the size up to which a contact's files are saved without asking:
/// sizes as people write them; what is not one is said and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_menu_sets_auto_accept_by_size() {
    let a = peer().await;
    let node = a.node.clone();
    let bid = natter::Identity::generate().peer_id();
    node.add_contact(Contact::new(bid)).await.unwrap();
    let mut app = booted(&a).await;
    app.screen = Screen::Contact(contact::State::new(&contact_of_id(&a, bid).await));
    let set = |typed: &str| {
        vec![
            Message::Contact(contact::Message::AutoAccept(typed.into())),
            Message::Contact(contact::Message::SaveAutoAccept),
        ]
    };
    for m in set("50MB") {
        apply(&mut app, &node, m).await;
    }
    assert_eq!(
        contact_of_id(&a, bid).await.auto_accept_bytes,
        Some(50_000_000)
    );
    let mut a = a;
    pump(&mut app, &mut a, 300).await;
    assert!(shows(
        &app,
        "Their files up to 47.7 MiB are saved without asking."
    ));
    for m in set("fifty") {
        apply(&mut app, &node, m).await;
    }
    let said = natter::size::NotASize("fifty".into()).to_string();
    assert!(shows(&app, &said), "the mistake is said");
    assert_eq!(
        contact_of_id(&a, bid).await.auto_accept_bytes,
        Some(50_000_000)
    );
    for m in set("") {
        apply(&mut app, &node, m).await;
    }
    assert_eq!(contact_of_id(&a, bid).await.auto_accept_bytes, None);
}

async fn contact_of_id(a: &Peer, id: natter::PeerId) -> Contact {
    a.node.contact(id).await.unwrap().unwrap()
}
