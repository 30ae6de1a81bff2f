//! The real app state and views, driven through iced_test's Simulator (clicks, typing, Enter)
//! and backed by real nodes on loopback. The operations `update` asks for run against the
//! node exactly as the app's Tasks would run them.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use iced::keyboard::key::Named;
use iced::widget::Id;
use iced_test::simulator;
use natter::node::{Event, Node as CoreNode, NodeConfig, NodeHandle};
use natter::store::Contact;
use natter::wire::TypingState;
use natter_ui::screen::{conversation::COMPOSER, sidebar::ADD_INPUT};
use natter_ui::{App, Message, Node, run_op, short};
use tokio::sync::broadcast;

struct Peer {
    node: NodeHandle,
    events: broadcast::Receiver<Event>,
    _dir: tempfile::TempDir,
}

async fn peer() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let mut c = NodeConfig::new(dir.path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.discovery = None;
    c.downloads = Some(dir.path().join("downloads"));
    let (node, events) = CoreNode::start(c).await.unwrap();
    Peer {
        node,
        events,
        _dir: dir,
    }
}

/// Applies a message and runs every operation it leads to, as the app's Tasks would.
async fn apply(app: &mut App, node: &NodeHandle, message: Message) {
    let mut queue = vec![message];
    while let Some(m) = queue.pop() {
        for op in app.update(m) {
            queue.push(run_op(Node(node.clone()), op).await);
        }
    }
}

/// Feeds the node's events to the app for `ms` milliseconds.
async fn pump(app: &mut App, p: &mut Peer, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, p.events.recv()).await {
        let node = p.node.clone();
        apply(app, &node, Message::Node(e)).await;
    }
}

/// Clicks and types in the current view; applies what the user did.
async fn interact(
    app: &mut App,
    node: &NodeHandle,
    f: impl FnOnce(&mut iced_test::Simulator<'_, Message>),
) {
    let messages: Vec<Message> = {
        let mut ui = simulator(app.view());
        f(&mut ui);
        ui.into_messages().collect()
    };
    for m in messages {
        apply(app, node, m).await;
    }
}

async fn booted(a: &Peer) -> App {
    let mut app = App::default();
    apply(&mut app, &a.node, Message::Booted(Ok(Node(a.node.clone())))).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_shows_the_id_then_add_by_pasted_id_and_chat() {
    let mut a = peer().await;
    let mut b = peer().await;
    let mut app = booted(&a).await;
    let me = natter_ui::screen::sidebar::grouped(&a.node.peer_id());
    assert!(
        simulator(app.view()).find(me.as_str()).is_ok(),
        "own Natter ID is shown"
    );
    let bid = b.node.peer_id();
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(ADD_INPUT)).unwrap();
        ui.typewrite(&bid.to_string());
        ui.click("Add contact").unwrap();
    })
    .await;
    assert_eq!(
        app.contacts.iter().map(|c| c.peer).collect::<Vec<_>>(),
        vec![bid]
    );
    // b knows where a is, so a session comes up.
    let mut c = Contact::new(a.node.peer_id());
    c.addr = Some(a.node.local_addr().unwrap().to_string());
    b.node.add_contact(c).await.unwrap();
    pump(&mut app, &mut a, 1500).await;
    assert!(app.connected.contains(&bid));
    let label = format!("● {}", short(&bid));
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(label.as_str()).unwrap();
    })
    .await;
    assert_eq!(app.selected, Some(bid));
    interact(&mut app, &a.node.clone(), |ui| {
        ui.click(Id::new(COMPOSER)).unwrap();
        ui.typewrite("hello from the GUI");
        ui.tap_key(Named::Enter);
    })
    .await;
    assert!(
        app.composer.is_empty(),
        "Enter sent and cleared the composer"
    );
    pump(&mut app, &mut a, 1500).await;
    let line = "me: hello from the GUI  ✓✓ delivered";
    assert!(
        simulator(app.view()).find(line).is_ok(),
        "delivery tick shown: {:?}",
        app.history.get(&bid)
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
        let mut c = Contact::new(a.node.peer_id());
        c.addr = Some(a.node.local_addr().unwrap().to_string());
        p.node.add_contact(c).await.unwrap();
        p.node
            .send(a.node.peer_id(), "hi, remember me?".into())
            .await
            .unwrap();
    }
    pump(&mut app, &mut a, 2000).await;
    assert_eq!(app.requests.len(), 2, "both wait in requests");
    assert_eq!(
        app.title(),
        "Natter (2)",
        "unread count in the window title"
    );
    let (sid, pid) = (stranger.node.peer_id(), pest.node.peer_id());
    let node = a.node.clone();
    // Accept the first; block the second (the rows are in the requests list).
    let mut app_requests: Vec<_> = app.requests.iter().map(|r| r.peer).collect();
    app_requests.sort();
    apply(&mut app, &node, Message::Accept(sid)).await;
    assert!(app.contacts.iter().any(|c| c.peer == sid));
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
    apply(&mut app, &node, Message::Select(sid)).await;
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
