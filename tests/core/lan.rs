//! LAN discovery between in-process nodes, restricted to the loopback interface (no packet
//! leaves this machine): contacts found by key alone, advertising off, spoofed and garbage
//! records.

use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use natter::discovery::{DiscoveryConfig, Interfaces, SERVICE_TYPE};
use natter::model::Contact;
use natter::node::Event;

use crate::support::{TestNode, node, node_in};

/// One LAN test at a time: mDNS daemons sharing port 5353 on one host split unicast answers
/// between them (SO_REUSEPORT), so many at once make discovery slow and flaky.
pub(crate) static LAN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn lan_node(advertise: bool) -> TestNode {
    lan_node_in(tempfile::tempdir().expect("temp dir"), advertise).await
}

async fn lan_node_in(dir: tempfile::TempDir, advertise: bool) -> TestNode {
    node_in(dir, |config| {
        config.discovery = Some(DiscoveryConfig {
            advertise,
            name: Some("tester".into()),
            interfaces: Interfaces::Loopback,
        });
    })
    .await
}

/// A hand-made mDNS responder on loopback only, for records no real node would publish.
fn responder() -> ServiceDaemon {
    let d = ServiceDaemon::new().expect("daemon");
    d.disable_interface(IfKind::All).expect("disable");
    d.enable_interface(IfKind::LoopbackV4)
        .expect("enable loopback");
    d
}

fn publish(d: &ServiceDaemon, props: &[(&str, &str)], port: u16) {
    let label: u32 = rand_label();
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &format!("fake-{label}"),
        &format!("fake-{label}.local."),
        "127.0.0.1",
        port,
        props,
    )
    .expect("service info");
    d.register(info).expect("register");
}

fn rand_label() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.subsec_nanos() ^ std::process::id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_find_each_other_by_key_alone_and_chat() {
    let _lan = LAN.lock().await;
    let mut a = lan_node(true).await;
    let mut b = lan_node(true).await;
    // Contacts by key only: no address anywhere.
    a.handle.add_contact(Contact::new(b.id())).await.unwrap();
    b.handle.add_contact(Contact::new(a.id())).await.unwrap();
    let t = Instant::now();
    let bid = b.id();
    // The sighting may come before or after the contact is added; either way a session follows.
    a.wait_for(
        15,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == bid),
    )
    .await;
    eprintln!(
        "LAN session up {:?} after the contacts were added",
        t.elapsed()
    );
    let m = a
        .handle
        .send(b.id(), "found you on the LAN".into())
        .await
        .unwrap();
    b.wait_for(11, |e| matches!(e, Event::MessageReceived { message } if message.text == "found you on the LAN")).await;
    let id = m.id.clone();
    a.wait_for(
        10,
        |e| matches!(e, Event::MessageDelivered { ids, .. } if ids.contains(&id)),
    )
    .await;
    // Both daemons share port 5353 in this one process, so one direction may resolve later.
    let deadline = Instant::now() + Duration::from_secs(15);
    let entry = loop {
        let near = a.handle.nearby().await.unwrap();
        if let Some(e) = near.into_iter().find(|n| n.peer == bid) {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "b never appeared in a's nearby table"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(entry.contact);
    assert_eq!(entry.name.as_deref(), Some("tester"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_advertising_off_a_node_is_invisible_but_still_browses() {
    let _lan = LAN.lock().await;
    let mut a = lan_node(true).await;
    let mut hidden = lan_node(false).await;
    let aid = a.id();
    hidden
        .wait_for(
            15,
            |e| matches!(e, Event::PeerNearby { peer, .. } if *peer == aid),
        )
        .await;
    let hid = hidden.id();
    let seen = a.drain(3000).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::PeerNearby { peer, .. } if *peer == hid)),
        "{seen:?}"
    );
    assert!(
        !a.handle
            .nearby()
            .await
            .unwrap()
            .iter()
            .any(|n| n.peer == hid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_record_is_refused_and_reported() {
    let _lan = LAN.lock().await;
    let mut a = lan_node(false).await;
    let victim = natter::Identity::generate().peer_id();
    a.handle.add_contact(Contact::new(victim)).await.unwrap();
    let attacker = node().await; // a real node with another key
    let d = responder();
    publish(
        &d,
        &[("id", &victim.to_string()), ("v", "1-1")],
        attacker.addr.port(),
    );
    let (claimed, presented, addr) = a.spoof_suspected(20).await;
    assert_eq!(
        (claimed, presented, addr.port()),
        (victim, attacker.id(), attacker.addr.port())
    );
    let events = a.drain(500).await;
    assert!(
        !events.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
    let _ = d.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_records_are_ignored_and_real_ones_still_seen() {
    let _lan = LAN.lock().await;
    let mut a = lan_node(false).await;
    let d = responder();
    let huge = "z".repeat(240);
    publish(&d, &[("v", "1-1")], 4000); // no id
    publish(&d, &[("id", "this-is-not-base32!")], 4001);
    publish(&d, &[("id", &huge)], 4002);
    publish(&d, &[("id", ""), ("name", &huge)], 4003);
    let real = natter::Identity::generate().peer_id();
    publish(
        &d,
        &[("id", &real.to_string()), ("v", "1-1"), ("name", &huge)],
        4004,
    );
    let e = a
        .wait_for(
            20,
            |e| matches!(e, Event::PeerNearby { peer, .. } if *peer == real),
        )
        .await;
    let Event::PeerNearby { name, .. } = e else {
        unreachable!()
    };
    assert_eq!(name.map(|n| n.len()), Some(63), "long names are cut");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Only well-formed records made it into the table; the node is alive and answering.
    let near = a.handle.nearby().await.unwrap();
    assert!(near.iter().all(|n| n.peer.to_string().len() == 55));
    assert!(near.iter().any(|n| n.peer == real));
    let _ = d.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_appearing_on_the_lan_drains_its_outbox_at_once() {
    let _lan = LAN.lock().await;
    let a = lan_node(false).await;
    let b_dir = tempfile::tempdir().unwrap();
    let b_id = natter::Identity::load_or_create(b_dir.path())
        .unwrap()
        .peer_id();
    a.handle.add_contact(Contact::new(b_id)).await.unwrap();
    for t in ["one", "two", "three"] {
        a.handle.send(b_id, t.into()).await.unwrap();
    }
    let mut b = lan_node_in(b_dir, true).await;
    b.handle.add_contact(Contact::new(a.id())).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Event::MessageReceived { message } = b
            .wait_for(15, |e| matches!(e, Event::MessageReceived { .. }))
            .await
        {
            got.push(message.text);
        }
    }
    assert_eq!(got, vec!["one", "two", "three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_display_name_reaches_the_lan_at_once() {
    let _lan = LAN.lock().await;
    let unnamed = |config: &mut natter::node::NodeConfig| {
        config.discovery = Some(DiscoveryConfig {
            advertise: true,
            name: None,
            interfaces: Interfaces::Loopback,
        });
    };
    let mut a = node_in(tempfile::tempdir().expect("temp dir"), unnamed).await;
    let b = node_in(tempfile::tempdir().expect("temp dir"), unnamed).await;
    let bid = b.id();
    a.wait_for(
        15,
        |e| matches!(e, Event::PeerNearby { peer, name: None, .. } if *peer == bid),
    )
    .await;
    b.handle
        .set_preference(natter::node::PREF_NAME, "Bob")
        .await
        .expect("set name");
    a.wait_for(15, |e| {
        matches!(e, Event::PeerNearby { peer, name: Some(n), .. } if *peer == bid && n == "Bob")
    })
    .await;
}
