//! Public rooms between real nodes: found in a real rendezvous's directory by a stranger who
//! joins and talks; banned, it cannot rejoin or post; a listing whose creator stops renewing
//! it goes; a listing uploaded by someone else than the room's creator is refused; and on
//! the LAN (loopback mDNS) a room is found and joined with no server while forged records
//! naming it are refused.

use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use natter::discovery::{DiscoveryConfig, Interfaces, ROOM_SERVICE_TYPE, room_properties};
use natter::model::{ListedRoom, RoomPost, RoomStatus};
use natter::node::{Event, PrivacyMode};
use natter::room::{Listing, Policy, RoomId, RoomState};

use crate::support::{Rv, TestNode, node_in, rendezvous};

/// A node of the rendezvous whose listings last `ttl` (renewed every third of it).
async fn user(rv: &Rv, ttl: Duration) -> TestNode {
    let config = rv.config.clone();
    node_in(tempfile::tempdir().unwrap(), move |c| {
        c.rendezvous = Some(config);
        c.listing_ttl = ttl;
    })
    .await
}

/// Polls `f` every 100 ms for up to `secs` seconds until it gives `Some`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn texts(n: &TestNode, room: RoomId) -> Vec<String> {
    let posts: Vec<RoomPost> = n.handle.room_history(room, 1000).await.unwrap();
    posts.into_iter().map(|p| p.text).collect()
}

async fn directory(n: &TestNode, query: &str) -> Vec<ListedRoom> {
    n.handle.room_directory(query, 20).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_finds_a_room_in_the_directory_joins_talks_and_once_banned_stays_out() {
    let rv = rendezvous().await;
    let alice = user(&rv, Duration::from_secs(60)).await;
    let mut carol = user(&rv, Duration::from_secs(60)).await;
    // Alice accepts contacts only: a stranger still gets into the room she lists.
    alice
        .handle
        .set_privacy(PrivacyMode::ContactsOnly)
        .await
        .unwrap();
    let room = alice
        .handle
        .room_create_public("Rust Berlin", "meetups and questions")
        .await
        .unwrap();
    let id = room.room_id;
    assert!(!room.secure && room.policy == Policy::Public);
    alice.handle.room_publish(id, true).await.unwrap();
    let found = until(10, "the room in the directory", || async {
        directory(&carol, "berlin")
            .await
            .into_iter()
            .find(|r| r.room_id == id)
    })
    .await;
    assert_eq!(
        (found.members, found.creator, found.seen),
        (1, alice.id(), "directory")
    );
    assert_eq!(found.topic, "meetups and questions");

    // Carol, a stranger, asks; Alice's node lets her in.
    let joined = carol.handle.room_join(id).await.unwrap();
    assert_eq!(joined.status, RoomStatus::Joined, "{joined:?}");
    assert_eq!(joined.members.len(), 2);
    carol.handle.room_send(id, "hi all").await.unwrap();
    until(20, "Carol's message at Alice's", || async {
        texts(&alice, id)
            .await
            .contains(&"hi all".to_string())
            .then_some(())
    })
    .await;
    alice.handle.room_send(id, "welcome Carol").await.unwrap();
    until(20, "Alice's message at Carol's", || async {
        texts(&carol, id)
            .await
            .contains(&"welcome Carol".to_string())
            .then_some(())
    })
    .await;
    // The listing counts her.
    until(10, "two members listed", || async {
        directory(&carol, &id.to_string())
            .await
            .first()
            .filter(|r| r.members == 2)
            .map(|_| ())
    })
    .await;

    // Banned: out, and not let in again; what she sends reaches no one.
    let banned = alice.handle.room_ban(id, carol.id()).await.unwrap();
    assert_eq!(banned.banned, vec![carol.id()]);
    carol
        .wait_for(20, |e| {
            matches!(e, Event::RoomState { room } if room.room_id == id && room.status == RoomStatus::Removed)
        })
        .await;
    let err = carol.handle.room_join(id).await.unwrap_err().to_string();
    assert!(err.contains("banned"), "{err}");
    assert!(carol.handle.room_send(id, "let me back").await.is_err());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(texts(&alice, id).await, vec!["hi all", "welcome Carol"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_goes_when_its_creator_stops_and_only_the_creator_lists_a_room() {
    let rv = rendezvous().await;
    let alice = user(&rv, Duration::from_secs(3)).await;
    let bob = user(&rv, Duration::from_secs(60)).await;
    let room = alice.handle.room_create_public("Chess", "").await.unwrap();
    alice.handle.room_publish(room.room_id, true).await.unwrap();
    until(10, "listed", || async {
        (!directory(&bob, "chess").await.is_empty()).then_some(())
    })
    .await;

    // Mallory uploads Alice's signed listing as her own entry: refused by the server.
    let mallory = natter::identity::Identity::generate();
    let endpoint =
        natter::internals::transport::endpoint(&mallory, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = natter::rendezvous::Client::new(endpoint, mallory.clone(), rv.config.clone());
    let alices = client
        .search("chess", 5, natter::internals::store::now_ms() as u64)
        .await
        .unwrap()
        .remove(0);
    let err = client.publish(&alices).await.unwrap_err().to_string();
    assert!(err.contains("creator"), "{err}");
    // Another's room of the same name is listed apart, under its own id.
    let carol = user(&rv, Duration::from_secs(60)).await;
    let hers = carol.handle.room_create_public("Chess", "").await.unwrap();
    carol.handle.room_publish(hers.room_id, true).await.unwrap();
    let both = until(10, "two rooms named Chess", || async {
        let both = directory(&bob, "chess").await;
        (both.len() == 2).then_some(both)
    })
    .await;
    assert!(both.iter().any(|r| r.creator == carol.id()));
    let by_id = directory(&bob, &room.room_id.to_string()).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].creator, alice.id());

    // Alice stops: her entry goes (unlisted at a clean stop; a killed node's lapses within
    // its period, `tests/cli/public_rooms.rs`), Carol's stays.
    alice.handle.shutdown().await;
    until(10, "Alice's listing gone", || async {
        let left = directory(&bob, "chess").await;
        (left.len() == 1 && left[0].creator == carol.id()).then_some(())
    })
    .await;
}

async fn lan_node() -> TestNode {
    node_in(tempfile::tempdir().unwrap(), |c| {
        c.discovery = Some(DiscoveryConfig {
            advertise: true,
            name: None,
            interfaces: Interfaces::Loopback,
        });
    })
    .await
}

fn forge(d: &ServiceDaemon, props: &[(String, String)], label: &str) {
    let props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let info = ServiceInfo::new(
        ROOM_SERVICE_TYPE,
        &format!("forged-{label}"),
        &format!("forged-{label}.local."),
        "127.0.0.1",
        4444,
        &props[..],
    )
    .unwrap();
    d.register(info).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_on_the_lan_is_joined_with_no_server_and_records_forged_in_its_name_are_refused() {
    // One LAN test at a time, with `lan.rs`'s.
    let _lan = crate::lan::LAN.lock().await;
    let alice = lan_node().await;
    let mut bob = lan_node().await;
    let room = alice.handle.room_create_public("Café", "").await.unwrap();
    let id = room.room_id;
    let family = alice.handle.room_create("Family", "").await.unwrap();

    // Mallory, on the same network, lists rooms in Alice's name: her own listing under
    // Alice's room id, and a listing of her own that names it in `room=`.
    let mallory = natter::identity::Identity::generate();
    let forger = ServiceDaemon::new().unwrap();
    forger.disable_interface(IfKind::All).unwrap();
    forger.enable_interface(IfKind::LoopbackV4).unwrap();
    let hers = RoomState::create(mallory.peer_id(), [5; 16], "Café", "", Policy::Public, 1);
    let hers = Listing::of(&hers, natter::internals::store::now_ms() as u64, 60_000)
        .sign(&mallory, Policy::Public)
        .unwrap();
    let mut renamed = room_properties(&hers);
    renamed[0].1 = id.to_string();
    forge(&forger, &renamed, "renamed");
    let mut unsigned = room_properties(&hers);
    // Alice's id in the signed bytes' place: the signature no longer holds.
    let at = unsigned.iter().position(|(k, _)| k == "l1").unwrap();
    unsigned[at].1 = unsigned[at].1.chars().rev().collect();
    forge(&forger, &unsigned, "tampered");
    // And, last, her own room under its own id: a record Bob must show (when it shows, the
    // forged ones had their chance).
    let own = RoomState::create(
        mallory.peer_id(),
        [6; 16],
        "Mallory's",
        "",
        Policy::Public,
        1,
    );
    let own = Listing::of(&own, natter::internals::store::now_ms() as u64, 60_000)
        .sign(&mallory, Policy::Public)
        .unwrap();
    forge(&forger, &room_properties(&own), "own");

    alice.handle.room_publish(id, true).await.unwrap();
    bob.wait_for(
        20,
        |e| matches!(e, Event::RoomNearby { room } if room.room_id == id),
    )
    .await;
    let mallorys = own.listing().room;
    until(20, "Mallory's own room nearby too", || async {
        let n = bob.handle.room_nearby().await;
        n.iter().any(|l| l.room_id == mallorys).then_some(())
    })
    .await;
    // Only those two; Alice's room is listed as Alice's.
    let nearby = bob.handle.room_nearby().await;
    assert_eq!(nearby.len(), 2, "{nearby:?}");
    let alices = nearby.iter().find(|l| l.room_id == id).unwrap();
    assert_eq!(
        (alices.creator, alices.seen, alices.name.as_str()),
        (alice.id(), "lan", "Café")
    );

    let joined = bob.handle.room_join(id).await.unwrap();
    assert_eq!(joined.status, RoomStatus::Joined, "{joined:?}");
    let paced_since = std::time::Instant::now();
    bob.handle.room_send(id, "bonjour").await.unwrap();
    alice.handle.room_send(id, "salut Bob").await.unwrap();
    until(20, "both messages on both sides", || async {
        let (a, b) = (texts(&alice, id).await, texts(&bob, id).await);
        (a.len() == 2 && b.len() == 2).then_some(())
    })
    .await;
    // Bob holds the one room he joined, nothing of Alice's others.
    assert!(bob.handle.room(family.room_id).await.is_err());
    assert_eq!(bob.handle.rooms().await.unwrap().len(), 1);

    // A public room's pace: 10 at once from a member, then one every 5 s. Bob sent one
    // already; however long the above took, a burst meets the limit.
    let mut sent = 1;
    let err = loop {
        match bob.handle.room_send(id, &format!("burst {sent}")).await {
            Ok(_) => sent += 1,
            Err(e) => break e.to_string(),
        }
        assert!(sent < 100, "a burst is cut");
    };
    let refilled = paced_since.elapsed().as_secs() / 5 + 1;
    assert!(
        (10..=10 + refilled).contains(&sent),
        "{sent} sent before the limit"
    );
    assert!(err.contains("one every 5 s"), "{err}");
    forger.shutdown().unwrap();
}
