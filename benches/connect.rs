//! Connect + hello + first message delivered to a known peer, against a raw quinn
//! mutual-auth handshake (the same TLS 1.3 raw-key setup) in the same run, on loopback.
//! Natter's figure starts when a just-started node (its contact known, not yet connected)
//! sends, and ends when that first message is durably stored by the peer: dial, handshake,
//! Hello both ways, store, ack. A second row adds `Node::start` (profile, SQLite, bind).
//! Run: `cargo bench --bench connect`.

use std::time::{Duration, Instant};

use natter::Identity;
use natter::internals::transport;
use natter::model::Contact;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use tokio::sync::broadcast;

const SAMPLES: usize = 40;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn start(dir: &std::path::Path) -> (NodeHandle, broadcast::Receiver<Event>) {
    let mut c = NodeConfig::new(dir);
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.discovery = None;
    Node::start(c).await.expect("node")
}

#[tokio::main]
async fn main() {
    // Baseline: raw quinn handshakes, both sides authenticated by their keys.
    let (ia, ib) = (Identity::generate(), Identity::generate());
    let ea = transport::endpoint(&ia, "127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    let eb = transport::endpoint(&ib, "127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    let baddr = eb.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Some(incoming) = eb.accept().await {
            tokio::spawn(async move {
                if let Ok(c) = incoming.await {
                    let _ = c.closed().await;
                }
            });
        }
    });
    let mut base = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let c = transport::dial(&ea, &ia, ib.peer_id(), baddr)
            .await
            .expect("handshake");
        base.push(t.elapsed());
        c.close(0u32.into(), b"");
    }
    server.abort();

    // Natter: B runs; A is started, sends one message, and is stopped, SAMPLES times.
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (b, _eb) = start(db.path()).await;
    let a_id = {
        let (a, _) = start(da.path()).await;
        let mut c = Contact::new(b.peer_id());
        c.addr = Some(b.local_addr().expect("addr").to_string());
        a.add_contact(c).await.expect("contact");
        let id = a.peer_id();
        a.shutdown().await;
        id
    };
    b.add_contact(Contact::new(a_id)).await.expect("contact");
    let (mut ours, mut whole) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for i in 0..SAMPLES {
        // The stopped node's last tasks may still hold the profile lock for a moment.
        let (t, a, mut events) = loop {
            let t = Instant::now();
            let mut c = NodeConfig::new(da.path());
            c.listen = "127.0.0.1:0".parse().expect("addr");
            c.discovery = None;
            match Node::start(c).await {
                Ok((a, e)) => break (t, a, e),
                Err(natter::NodeError::ProfileInUse(_)) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("{e}"),
            }
        };
        let started = Instant::now();
        a.send(b.peer_id(), format!("hello {i}"))
            .await
            .expect("send");
        loop {
            if let Ok(Event::MessageDelivered { .. }) = events.recv().await {
                break;
            }
        }
        ours.push(started.elapsed());
        whole.push(t.elapsed());
        a.shutdown().await;
    }
    ours.sort();
    whole.sort();
    base.sort();
    println!("connect + hello + first message delivered, loopback, {SAMPLES} samples");
    println!("| figure | Natter | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| p50 | {:.2} ms | {:.2} ms (raw quinn mutual-auth handshake) | {:.1}× | ≤ 3× |",
        ms(pct(&ours, 0.5)),
        ms(pct(&base, 0.5)),
        pct(&ours, 0.5).as_secs_f64() / pct(&base, 0.5).as_secs_f64()
    );
    println!(
        "| p99 | {:.2} ms | {:.2} ms | {:.1}× | — |",
        ms(pct(&ours, 0.99)),
        ms(pct(&base, 0.99)),
        pct(&ours, 0.99).as_secs_f64() / pct(&base, 0.99).as_secs_f64()
    );
    println!(
        "| p50 including Node::start (profile, SQLite, bind) | {:.2} ms | — | — | — |",
        ms(pct(&whole, 0.5))
    );
    b.shutdown().await;
}
