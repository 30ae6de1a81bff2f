//! Messaging figures with their baselines in the same run, on loopback:
//! send → delivered (durable on both sides) against a raw quinn 256 B echo on a fresh stream,
//! and sustained delivered messages/s against raw quinn echoes with 64 in flight.
//! Then a real messenger peer: XMPP, Debian's prosody on loopback with two slixmpp clients and
//! XEP-0184 receipts (`benches/support/xmpp/`), send → receipt and sustained messages/s.
//! Run: `cargo bench --bench messaging`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::Identity;
use natter::internals::transport;
use natter::model::Contact;
use natter::node::NodeHandle;

const LATENCY_SAMPLES: usize = 2000;
const BULK: usize = 20_000;
const IN_FLIGHT: usize = 64;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn add(a: &NodeHandle, b: &NodeHandle) {
    let mut c = Contact::new(b.peer_id());
    c.addr = Some(b.local_addr().expect("addr").to_string());
    a.add_contact(c).await.expect("contact");
}

#[path = "support/nodes.rs"]
mod nodes;
use nodes::{delivered, send_many, start};

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
    send_many(&a, b.peer_id(), &text, BULK, IN_FLIGHT).await;
    delivered(&mut ea, BULK).await;
    let rate = BULK as f64 / t.elapsed().as_secs_f64();
    a.shutdown().await;
    b.shutdown().await;
    (lat, rate)
}

async fn quinn_baseline() -> (Vec<Duration>, f64) {
    let (si, ci) = (Identity::generate(), Identity::generate());
    // Raw quinn with the in-flight streams the figure needs: a peer connection allows only 2
    // streams at once (`PEER_BIDI_STREAMS`), which would cap the baseline at 2 echoes in flight.
    let mut config = quinn::TransportConfig::default();
    config.max_concurrent_bidi_streams(quinn::VarInt::from_u32(IN_FLIGHT as u32));
    let server =
        transport::endpoint_with(&si, "127.0.0.1:0".parse().expect("addr"), Arc::new(config))
            .expect("server");
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

/// One durable commit as the store makes them (WAL, `synchronous=FULL`): a 200 B row in a
/// transaction of its own, on the disk the nodes' profiles use; sorted samples.
fn durable_commits() -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("dir");
    let db = rusqlite::Connection::open(dir.path().join("commits.sqlite3")).expect("db");
    db.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .expect("wal");
    db.pragma_update(None, "synchronous", "FULL").expect("full");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)", [])
        .expect("table");
    let body = vec![7u8; 200];
    let mut samples: Vec<Duration> = (0..LATENCY_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            db.execute("INSERT INTO t (body) VALUES (?1)", [&body])
                .expect("insert");
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

/// Messages the XMPP peer sends one at a time, then with `IN_FLIGHT` unacknowledged (a
/// Python client: ~2k messages/s, so fewer than Natter's rows).
const XMPP_SEQUENTIAL: usize = 1000;
const XMPP_SUSTAINED: usize = 5000;

/// The XMPP peer's figures (one JSON object), or why it did not run: the script installs
/// nothing and says how to get prosody or slixmpp when one is missing.
fn xmpp_peer() -> Result<serde_json::Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/support/xmpp/run.sh");
    let out = std::process::Command::new(script)
        .env("N", XMPP_SEQUENTIAL.to_string())
        .env("M", XMPP_SUSTAINED.to_string())
        .env("W", IN_FLIGHT.to_string())
        .env("BODY", "200")
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("the XMPP peer printed {last:?}: {e}"))
}

fn print_xmpp(natter: &[Duration], natter_rate: f64) {
    eprintln!("messaging bench: the XMPP peer");
    let peer = match xmpp_peer() {
        Ok(peer) => peer,
        Err(why) => {
            println!("\nXMPP peer not run:\n{why}");
            return;
        }
    };
    let num = |key: &str| peer[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "\n| figure | Natter (durable on both sides, end-to-end encrypted, direct) | XMPP: prosody {} + slixmpp {}, receipts (XEP-0184) | Natter ÷ XMPP |",
        peer["prosody"].as_str().unwrap_or("?"),
        peer["slixmpp"].as_str().unwrap_or("?"),
    );
    println!("|---|---|---|---|");
    for (name, p, key) in [("p50", 0.5, "p50_us"), ("p99", 0.99, "p99_us")] {
        let (n, x) = (us(pct(natter, p)), num(key));
        println!(
            "| send → delivered (XMPP: → receipt), {name} | {n:.0} µs | {x:.0} µs | {:.2}× |",
            n / x
        );
    }
    let x = num("sustained_per_s");
    println!(
        "| sustained, {IN_FLIGHT} in flight | {natter_rate:.0} msg/s | {x:.0} msg/s | {:.2}× |",
        natter_rate / x
    );
    println!(
        "(XMPP: {XMPP_SEQUENTIAL} sequential and {XMPP_SUSTAINED} sustained messages of 200 B; c2s in plain TCP on 127.0.0.1, no TLS, nothing stored; a receipt crosses the server twice)"
    );
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
    // The physical limit of a message durable on both sides: one round trip and two commits.
    let commits = durable_commits();
    println!(
        "\n| figure | Natter | limit: raw quinn echo + 2 durable commits | Natter ÷ limit | target |"
    );
    println!("|---|---|---|---|---|");
    for (name, p, target) in [("p50", 0.5, "≤ 1.5×"), ("p99", 0.99, "≤ 2 ms")] {
        let (n, q, c) = (us(pct(&nl, p)), us(pct(&ql, p)), us(pct(&commits, p)));
        let limit = q + 2.0 * c;
        println!(
            "| send → delivered, {name} | {n:.0} µs | {limit:.0} µs ({q:.0} + 2 × {c:.0}) | {:.2}× | {target} |",
            n / limit
        );
    }
    println!(
        "| sustained, {IN_FLIGHT} in flight | {nrate:.0} msg/s | raw quinn {qrate:.0} echo/s | {:.2}× | ≥ 0.5× |",
        nrate / qrate
    );
    let _ = tokio::task::spawn_blocking(move || print_xmpp(&nl, nrate)).await;
}
