//! What the benches that run Natter nodes share: a loopback node, waiting for deliveries, and
//! a burst of sends with a fixed number in flight.

use std::sync::Arc;

use natter::identity::PeerId;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use tokio::sync::broadcast;

/// A node on a fresh loopback port, LAN discovery off.
pub(crate) async fn start(dir: &std::path::Path) -> (NodeHandle, broadcast::Receiver<Event>) {
    let mut c = NodeConfig::new(dir);
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.discovery = None;
    Node::start(c).await.expect("node")
}

/// Waits until `n` messages are reported delivered.
pub(crate) async fn delivered(events: &mut broadcast::Receiver<Event>, n: usize) {
    let mut seen = 0;
    while seen < n {
        match events.recv().await {
            Ok(Event::MessageDelivered { ids, .. }) => seen += ids.len(),
            Ok(_) => {}
            // Counting would never end: say so rather than hang.
            Err(e) => panic!("the bench missed node events ({e}); fewer messages per run"),
        }
    }
}

/// Sends `n` copies of `text` to `to`, `in_flight` sends at a time; returns once each send
/// has been queued (not delivered: see [`delivered`]).
pub(crate) async fn send_many(
    from: &NodeHandle,
    to: PeerId,
    text: &str,
    n: usize,
    in_flight: usize,
) {
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let (from, text) = (from.clone(), text.to_string());
        tokio::spawn(async move {
            from.send(to, text).await.expect("send");
            drop(permit);
        });
    }
}
