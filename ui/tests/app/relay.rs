//! Relays through the app: the node's consent prompt and its two answers, the relayed path
//! badge naming the relay, the global relay policy in Settings and a contact's own choice,
//! and the line a dial refused by the policy leaves.

use natter::control::{Command, ContactRelay, YesNo};
use natter::model::{Contact, Path, RelayPolicy};
use natter::node::{DialFailure, Event};
use natter_ui::screen::{Screen, contact, conversation, settings, sidebar};
use natter_ui::{Message, Op};

use crate::support::*;

const RELAY: &str = "198.19.0.2:4433";

/// A contact named Bob (no node behind it: the events are fed to the app).
async fn with_bob(a: &Peer) -> natter::PeerId {
    let bid = natter::Identity::generate().peer_id();
    let mut c = Contact::new(bid);
    c.nickname = "Bob".into();
    a.node.add_contact(c).await.unwrap();
    bid
}

fn consent(peer: natter::PeerId) -> Message {
    Message::Node(Event::RelayConsent {
        peer,
        relay: RELAY.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_prompt_names_the_contact_and_allow_answers_yes() {
    let a = peer().await;
    let node = a.node.clone();
    let bid = with_bob(&a).await;
    let mut app = booted(&a).await;
    apply(&mut app, &node, consent(bid)).await;
    let question = format!(
        "No direct path to Bob. Let the relay {RELAY} carry this conversation? It sees only \
         encrypted packets; both of you are shown it is used."
    );
    assert_eq!(question, conversation::relay_question("Bob", RELAY));
    assert!(shows(&app, &question), "asked with no conversation open");
    let ops = click_ops(&mut app, "Allow");
    assert_eq!(
        ops,
        vec![Op::Node(Command::RelayConsent {
            id: bid,
            answer: YesNo::Yes
        })]
    );
    assert!(!shows(&app, &question), "answered: the question goes");

    // Asked again (a new policy, say): "Not now" answers no, and the node takes it.
    apply(&mut app, &node, consent(bid)).await;
    apply(&mut app, &node, consent(bid)).await;
    assert_eq!(
        app.conversation.relay_asks.len(),
        1,
        "one question a contact"
    );
    let ops = click_ops(&mut app, "Not now");
    assert_eq!(
        ops,
        vec![Op::Node(Command::RelayConsent {
            id: bid,
            answer: YesNo::No
        })]
    );
    for op in ops {
        let answered = natter_ui::run_op(natter_ui::Node(node.clone()), op).await;
        assert!(
            matches!(
                answered,
                Message::Answered(
                    _,
                    natter::control::Answer::RelayConsent { consent: false, .. }
                )
            ),
            "{answered:?}"
        );
        apply(&mut app, &node, answered).await;
    }
    assert!(!shows(&app, &question));
    assert_eq!(app.error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_session_shows_its_relay_in_the_header() {
    let a = peer().await;
    let node = a.node.clone();
    let bid = with_bob(&a).await;
    let mut app = booted(&a).await;
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Select(bid)),
    )
    .await;
    apply(&mut app, &node, consent(bid)).await;
    assert_eq!(app.conversation.relay_asks.len(), 1);
    let connected = Event::Connected {
        peer: bid,
        session_id: "00".into(),
        version: 1,
        features: vec![],
        direction: "outgoing",
        path: Path::Relayed,
        remote: RELAY.parse().unwrap(),
        via: Some(RELAY.into()),
    };
    apply(&mut app, &node, Message::Node(connected)).await;
    assert!(
        shows(&app, &format!("● Bob · relayed via {RELAY}")),
        "{:?}",
        app.roster.connected.get(&bid)
    );
    assert!(
        app.conversation.relay_asks.is_empty(),
        "the session is up: nothing left to ask"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_the_contact_menu_set_the_nodes_relay_policy() {
    let mut a = peer().await;
    let node = a.node.clone();
    let bid = with_bob(&a).await;
    let mut app = booted(&a).await;
    assert_eq!(app.prefs.relay, RelayPolicy::Ask, "read from the node");

    // Settings: the picker sets the node's policy; the shown value is the node's answer.
    apply(
        &mut app,
        &node,
        Message::Sidebar(sidebar::Message::Settings),
    )
    .await;
    assert!(shows(
        &app,
        "When no direct path exists, a relay on your rendezvous can carry the session; it sees \
         only encrypted packets, and both sides are shown that it is used."
    ));
    let pick = Message::Settings(settings::Message::Relay(settings::Relay(
        RelayPolicy::Always,
    )));
    let ops = app.update(pick.clone());
    assert_eq!(
        ops,
        vec![Op::Node(Command::RelayPolicy {
            policy: Some(RelayPolicy::Always)
        })]
    );
    apply(&mut app, &node, pick).await;
    assert_eq!(a.node.relay_policy().await.unwrap(), RelayPolicy::Always);
    assert_eq!(app.prefs.relay, RelayPolicy::Always);
    // Set elsewhere (natter-cli on the same profile): the event brings it.
    a.node.set_relay_policy(RelayPolicy::Never).await.unwrap();
    pump(&mut app, &mut a, 500).await;
    assert_eq!(app.prefs.relay, RelayPolicy::Never);

    // The contact menu: the contact's own choice, sent without the switches.
    let c = a.node.contact(bid).await.unwrap().unwrap();
    app.screen = Screen::Contact(contact::State::new(&c));
    assert!(shows(
        &app,
        "“As in Settings” is now “Never”. A relay sees only encrypted packets; both of you are \
         shown that it is used."
    ));
    let pick = Message::Contact(contact::Message::Relay(contact::Relay(
        ContactRelay::Always,
    )));
    assert_eq!(
        app.update(pick.clone()),
        vec![Op::Node(Command::ContactSet {
            id: bid,
            typing: None,
            receipts: None,
            relay: Some(ContactRelay::Always),
            sees_invisible: None,
        })]
    );
    apply(&mut app, &node, pick).await;
    let stored = a.node.contact(bid).await.unwrap().unwrap();
    assert_eq!(stored.relay, Some(RelayPolicy::Always));
    assert!(
        stored.send_typing && stored.send_receipts,
        "the switches were left alone"
    );
    assert_eq!(app.contact(&bid).unwrap().relay, Some(RelayPolicy::Always));
    assert_eq!(
        contact::Relay::of(app.contact(&bid).unwrap().relay),
        contact::Relay(ContactRelay::Always),
        "the picker shows the contact's choice"
    );

    // A dial the policy forbids leaves a line saying where to change it.
    app.screen = Screen::Main;
    let refused = Event::DialFailed {
        peer: bid,
        kind: DialFailure::NeedsRelay,
        error: "Bob needs a relay; your policy forbids it".into(),
    };
    apply(&mut app, &node, Message::Node(refused)).await;
    assert!(shows(
        &app,
        "Bob needs a relay; your policy forbids it. In Natter: Settings → Relay, or the \
         contact's menu (Contact…)."
    ));
}
