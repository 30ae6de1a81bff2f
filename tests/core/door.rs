//! The node's door, against hostile keys on loopback: a handshake flood from one address is
//! cut to its burst, a peer gets a few streams and 4 MiB in flight (not quinn's defaults),
//! and strangers at once are capped while contacts still get in. Each test fails without
//! its defence.

use std::time::Duration;

use natter::Identity;
use natter::internals::transport;

use crate::support::{TestNode, node};

/// A key of its own on an endpoint bound to `from`, dialling `target`.
async fn dial_from(
    from: &str,
    target: &TestNode,
) -> (
    quinn::Endpoint,
    Result<quinn::Connection, transport::DialError>,
) {
    let identity = Identity::generate();
    let endpoint = transport::endpoint(&identity, from.parse().unwrap()).unwrap();
    let conn = transport::dial(&endpoint, &identity, target.id(), target.addr).await;
    (endpoint, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_flood_from_one_address_is_cut_to_its_burst() {
    let b = node().await;
    // 300 handshakes at once from one address (another loopback address than the tests').
    let identity = Identity::generate();
    let endpoint = transport::endpoint(&identity, "127.0.0.2:0".parse().unwrap()).unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let (endpoint, identity, id, addr) = (endpoint.clone(), identity.clone(), b.id(), b.addr);
        set.spawn(async move {
            transport::dial(&endpoint, &identity, id, addr)
                .await
                .is_ok()
        });
    }
    let mut done = 0;
    while let Some(ok) = set.join_next().await {
        done += usize::from(ok.unwrap());
    }
    // At most the burst (40) and what refills while the flood lasts (20/s: the ignored ones
    // try again until their 5 s dial timeout): 140, however fast the machine.
    assert!(done >= 1, "the door let nobody in");
    assert!(done <= 160, "{done} of 300 handshakes got through the door");
    // Another address is not held back by the flood.
    let (_e, other) = dial_from("127.0.0.3:0", &b).await;
    assert!(other.is_ok(), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gets_a_few_streams_and_four_mib_in_flight() {
    let b = node().await;
    let (_e, conn) = dial_from("127.0.0.1:0", &b).await;
    let conn = conn.unwrap();
    // Two streams both ways; a third waits for credit that never comes.
    let _control = conn.open_bi().await.unwrap();
    let _spare = conn.open_bi().await.unwrap();
    let third = tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await;
    assert!(third.is_err(), "a third stream was allowed");
    // Sixteen one-way streams, each pushed 1 MiB the node never reads (no Hello was sent,
    // so no session takes them): the connection window holds all of it to 4 MiB.
    let mut streams = Vec::new();
    for _ in 0..transport::PEER_UNI_STREAMS {
        streams.push(conn.open_uni().await.unwrap());
    }
    let seventeenth = tokio::time::timeout(Duration::from_millis(500), conn.open_uni()).await;
    assert!(seventeenth.is_err(), "a 17th one-way stream was allowed");
    let chunk = vec![0x5a; 16 * 1024];
    let mut sent = 0usize;
    let pushing = async {
        loop {
            let mut progressed = false;
            for s in &mut streams {
                if let Some(Ok(n)) = futures_now(s.write(&chunk)).await {
                    sent += n;
                    progressed |= n > 0;
                }
            }
            if !progressed {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), pushing).await;
    let cap = transport::PEER_CONNECTION_WINDOW as usize;
    assert!(
        sent > cap / 2,
        "only {sent} bytes got out: the test pushes too little"
    );
    assert!(
        sent <= cap + 64 * 1024,
        "{sent} bytes in flight, over the {cap}-byte window"
    );
}

/// A write that does not wait: `None` when the stream has no credit now.
async fn futures_now<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(Duration::from_millis(1), f).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_at_once_are_capped_and_contacts_still_get_in() {
    let b = node().await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let (e, conn) = dial_from("127.0.0.1:0", &b).await;
        held.push((e, conn.unwrap()));
    }
    // Give the node the moment it takes to admit them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_e, seventeenth) = dial_from("127.0.0.1:0", &b).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), seventeenth.unwrap().closed())
        .await
        .expect("the 17th stranger was not refused");
    let quinn::ConnectionError::ApplicationClosed(c) = closed else {
        panic!("{closed:?}");
    };
    assert_eq!(
        c.error_code,
        quinn::VarInt::from_u32(transport::CLOSE_REFUSED)
    );
    assert!(String::from_utf8_lossy(&c.reason).contains("try again later"));
    for (_, conn) in &held {
        assert!(
            conn.close_reason().is_none(),
            "an admitted stranger was dropped"
        );
    }
    // A contact is not a stranger: it gets in while the strangers hold every place.
    let mut a = node().await;
    a.add(&b).await;
    b.add(&a).await;
    let bid = b.id();
    a.wait_for(
        10,
        |e| matches!(e, natter::node::Event::Connected { peer, .. } if *peer == bid),
    )
    .await;
    // One stranger leaves: another gets its place.
    if let Some((_e, conn)) = held.pop() {
        conn.close(quinn::VarInt::from_u32(0), b"bye");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_e, next) = dial_from("127.0.0.1:0", &b).await;
    let next = next.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        next.close_reason().is_none(),
        "no place freed: {:?}",
        next.close_reason()
    );
}
