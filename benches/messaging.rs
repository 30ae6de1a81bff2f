//! Messaging figures with their baselines in the same run, on loopback:
//! send → delivered (durable on both sides) against a raw quinn 256 B echo on a fresh stream,
//! and sustained delivered messages/s against raw quinn echoes with 64 in flight.
//! Run: `cargo bench --bench messaging`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::Identity;
use natter::internals::transport;
use natter::model::Contact;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use tokio::sync::broadcast;

const LATENCY_SAMPLES: usize = 2000;
const BULK: usize = 20_000;
const IN_FLIGHT: usize = 64;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn start(dir: &std::path::Path) -> (NodeHandle, broadcast::Receiver<Event>) {
    let mut c = NodeConfig::new(dir);
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.discovery = None;
    Node::start(c).await.expect("node")
}

async fn add(a: &NodeHandle, b: &NodeHandle) {
    let mut c = Contact::new(b.peer_id());
    c.addr = Some(b.local_addr().expect("addr").to_string());
    a.add_contact(c).await.expect("contact");
}

async fn delivered(events: &mut broadcast::Receiver<Event>, n: usize) {
    let mut seen = 0;
    while seen < n {
        if let Ok(Event::MessageDelivered { ids, .. }) = events.recv().await {
            seen += ids.len();
        }
    }
}

async fn natter_figures() -> (Vec<Duration>, f64) {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, mut ea) = start(da.path()).await;
    let (b, _eb) = start(db.path()).await;
    add(&a, &b).await;
    add(&b, &a).await;
    while !a.is_connected(&b.peer_id()) || !b.is_connected(&a.peer_id()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = "x".repeat(200);
    let mut lat = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let t = Instant::now();
        a.send(b.peer_id(), text.clone()).await.expect("send");
        delivered(&mut ea, 1).await;
        lat.push(t.elapsed());
    }
    eprintln!("messaging bench: sustained, {IN_FLIGHT} in flight");
    let t = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let bid = b.peer_id();
    for _ in 0..BULK {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let (a, text) = (a.clone(), text.clone());
        tokio::spawn(async move {
            a.send(bid, text).await.expect("send");
            drop(permit);
        });
    }
    delivered(&mut ea, BULK).await;
    let rate = BULK as f64 / t.elapsed().as_secs_f64();
    a.shutdown().await;
    b.shutdown().await;
    (lat, rate)
}

async fn quinn_baseline() -> (Vec<Duration>, f64) {
    let (si, ci) = (Identity::generate(), Identity::generate());
    let server = transport::endpoint(&si, "127.0.0.1:0".parse().expect("addr")).expect("server");
    let client = transport::endpoint(&ci, "127.0.0.1:0".parse().expect("addr")).expect("client");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Some(inc) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = inc.await else { return };
                while let Ok((mut s, mut r)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        if let Ok(buf) = r.read_to_end(64 * 1024).await {
                            let _ = s.write_all(&buf).await;
                            let _ = s.finish();
                        }
                    });
                }
            });
        }
    });
    let conn = transport::dial(&client, &ci, si.peer_id(), addr)
        .await
        .expect("dial");
    let payload = vec![7u8; 256];
    let echo = |conn: quinn::Connection, payload: Vec<u8>| async move {
        let (mut s, mut r) = conn.open_bi().await.expect("bi");
        s.write_all(&payload).await.expect("write");
        s.finish().expect("finish");
        r.read_to_end(64 * 1024).await.expect("read")
    };
    let mut lat = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let t = Instant::now();
        echo(conn.clone(), payload.clone()).await;
        lat.push(t.elapsed());
    }
    eprintln!("messaging bench: sustained, {IN_FLIGHT} in flight");
    let t = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(BULK);
    for _ in 0..BULK {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let (conn, payload) = (conn.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            echo(conn, payload).await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    (lat, BULK as f64 / t.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let (mut nl, nrate) = natter_figures().await;
    let (mut ql, qrate) = quinn_baseline().await;
    nl.sort();
    ql.sort();
    println!("| figure | Natter | baseline (raw quinn) | ratio |");
    println!("|---|---|---|---|");
    for (name, p) in [
        ("send → delivered p50", 0.5),
        ("send → delivered p99", 0.99),
    ] {
        let (n, q) = (pct(&nl, p), pct(&ql, p));
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.2}× |",
            us(n),
            us(q),
            us(n) / us(q)
        );
    }
    println!(
        "| sustained, {IN_FLIGHT} in flight | {nrate:.0} msg/s | {qrate:.0} echo/s | {:.2}× |",
        nrate / qrate
    );
    println!(
        "({LATENCY_SAMPLES} latency samples, {BULK} bulk messages of 200 B, durable: synchronous=FULL on both sides)"
    );
}
