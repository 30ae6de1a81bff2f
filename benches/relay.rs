//! The relayed path against the direct path in one run, on loopback. Two peers, each on one
//! node endpoint (`transport::node_endpoint`: the same UDP socket dials and accepts peers and
//! holds the peer's rendezvous connection, as in the node), register at a real
//! `natter-rendezvous --relay` process with each other's pair token and both consent
//! (`RelayOpen`); a pump per side moves the endpoint's relayed packets onto the rendezvous
//! connection as relay frames (QUIC datagrams) and hands the frames that come back to the
//! endpoint, as `node/relay.rs` does. Relayed figures dial the other's mapped address; direct
//! figures dial its loopback address from the same endpoints. Samples alternate between the
//! two paths. Rows: a new connection (mutual-auth handshake, pinned keys) plus a first 256 B
//! echo on a bidirectional stream; a 256 B echo on a fresh stream of an open connection; bulk
//! on one stream (MiB/s). The server's relay limit is raised for these rows (`--relay-rate`,
//! `--relay-burst`; the default is 4 MiB/s per client, 1 MiB burst); a last row runs bulk
//! through a second server left at the default limit. The server binary is the one Cargo
//! builds for this bench (`CARGO_BIN_EXE_natter-rendezvous`: nothing to build first).
//! Run: `cargo bench --bench relay` (`NATTER_BENCH_MIB` sets the bulk size, default 64).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use natter::internals::transport::{self, RelayLink};
use natter::rendezvous::proto::{PresenceRecord, Register, request, response};
use natter::rendezvous::relay::{self, RelayOpen};
use natter::rendezvous::{Client, RendezvousConfig, record};
use natter::{Identity, PeerId};
use serde_json::Value;

const CONNECT_SAMPLES: usize = 40;
const ECHO_SAMPLES: usize = 1000;
const WARMUP: usize = 5;
const ECHO: usize = 256;
/// Streams up to this size are echoed; a larger one is answered with its length.
const ECHO_MAX: usize = 4096;
/// The relay limit for the main rows: 1 GiB/s per client, 64 MiB burst.
const RELAY_RATE: u32 = 1 << 30;
const RELAY_BURST: u32 = 64 << 20;
/// Bulk through the server at its default limit (4 MiB/s per client).
const DEFAULT_LIMIT_MIB: u64 = 16;
const DEFAULT_LIMIT_WAIT: Duration = Duration::from_secs(120);

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `natter-rendezvous --relay` process; its relay counters are read from its stdout.
struct Server {
    child: Child,
    config: RendezvousConfig,
    /// The last relay counters it printed (it prints them at exit too).
    stats: Option<std::thread::JoinHandle<Option<Value>>>,
}

impl Server {
    fn start(data: &std::path::Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_natter-rendezvous"))
            .args(["--listen", "127.0.0.1:0", "--relay", "--data"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("natter-rendezvous starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let v: Value = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| serde_json::from_str(&l).ok())
            .expect("the server prints its address");
        let config = RendezvousConfig {
            addr: v["addr"].as_str().expect("addr").parse().expect("addr"),
            key: v["key"].as_str().expect("key").parse().expect("key"),
            tcp: None,
            also: Vec::new(),
        };
        let stats = std::thread::spawn(move || {
            let mut last = None;
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("relay").is_some_and(Value::is_object)
                {
                    last = Some(v["relay"].clone());
                }
            }
            last
        });
        Server {
            child,
            config,
            stats: Some(stats),
        }
    }

    /// SIGTERM; the relay counters it printed last (at exit).
    fn stop(mut self) -> Option<Value> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.stats.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a pump saw: frames quinn would not send (with the first error and the packet sizes),
/// the largest packet it sent, frames sent while the datagram queue was full (quinn then drops
/// the oldest), frames the link refused (inbox full).
#[derive(Default)]
struct PumpCounts {
    send_failed: AtomicU64,
    failed_smallest: AtomicU64,
    failed_largest: AtomicU64,
    first_error: std::sync::OnceLock<String>,
    sent_largest: AtomicU64,
    queue_full: AtomicU64,
    deliver_dropped: AtomicU64,
}

/// One side: a node endpoint, its relay link and its rendezvous client.
struct Peer {
    id: Identity,
    ep: quinn::Endpoint,
    link: Arc<RelayLink>,
    client: Arc<Client>,
    counts: Arc<PumpCounts>,
    /// The registration's push stream, kept open.
    _push: (quinn::SendStream, quinn::RecvStream),
}

fn registration(id: &Identity, addr: SocketAddr, allow: &PeerId) -> Register {
    let now = now_ms();
    let r = PresenceRecord {
        peer: id.peer_id().as_bytes().to_vec(),
        addrs: vec![addr.to_string()],
        min_version: 1,
        max_version: 1,
        features: vec!["text".into()],
        prekey: vec![7; 32],
        prekey_expires_ms: now + 86_400_000,
        transports: Vec::new(),
        issued_ms: now,
        expires_ms: now + 180_000,
    };
    Register {
        record: Some(record::sign(id, &r)),
        tokens: record::own_token(id, allow)
            .map(|t| vec![t.to_vec()])
            .unwrap_or_default(),
        ..Default::default()
    }
}

async fn peer(config: RendezvousConfig, id: Identity, other: PeerId) -> Peer {
    let (ep, links) = transport::node_endpoint(
        &id,
        "127.0.0.1:0".parse().expect("addr"),
        &Default::default(),
    )
    .expect("endpoint");
    let link = links.relay;
    link.map(other).expect("mapped address");
    let client = Arc::new(Client::new(ep.clone(), id.clone(), config));
    let addr = ep.local_addr().expect("addr");
    let (_r, send, recv) = client
        .register(registration(&id, addr, &other))
        .await
        .expect("registers");
    serve(ep.clone());
    Peer {
        id,
        ep,
        link,
        client,
        counts: Arc::default(),
        _push: (send, recv),
    }
}

/// Our consent to relay with `other`; true when both sides have consented.
async fn open(p: &Peer, other: PeerId) -> bool {
    let token = p.client.token(&other).expect("token");
    let own = p.client.own_token(&other).expect("token");
    let body = request::Body::RelayOpen(RelayOpen {
        peer: other.as_bytes().to_vec(),
        token: token.to_vec(),
        own_token: own.to_vec(),
    });
    match p.client.request(body).await.expect("relay open") {
        response::Body::RelayOpened(o) => o.ready,
        other => panic!("expected RelayOpened, got {other:?}"),
    }
}

/// The node's pump: relayed packets out as relay frames on the live rendezvous connection,
/// relay frames in to the endpoint.
async fn pump(p: &Peer) {
    let conn = p.client.connection().await.expect("rendezvous connection");
    let (link, client, counts) = (p.link.clone(), p.client.clone(), p.counts.clone());
    tokio::spawn(async move {
        loop {
            let (peer, packet) = link.next_out().await;
            let Some(conn) = client.current() else {
                continue;
            };
            let frame = relay::frame(peer.as_bytes(), &packet);
            if conn.datagram_send_buffer_space() < frame.len() {
                counts.queue_full.fetch_add(1, Ordering::Relaxed);
            }
            let size = packet.len() as u64;
            match conn.send_datagram(frame) {
                Ok(()) => {
                    counts.sent_largest.fetch_max(size, Ordering::Relaxed);
                }
                Err(e) => {
                    counts.send_failed.fetch_add(1, Ordering::Relaxed);
                    counts.failed_largest.fetch_max(size, Ordering::Relaxed);
                    let _ = counts.failed_smallest.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |m| Some(if m == 0 { size } else { m.min(size) }),
                    );
                    let _ = counts.first_error.set(e.to_string());
                }
            }
        }
    });
    let (link, counts) = (p.link.clone(), p.counts.clone());
    tokio::spawn(async move {
        while let Ok(frame) = conn.read_datagram().await {
            if let Ok((key, packet)) = relay::parse(&frame)
                && let Ok(from) = PeerId::from_bytes(key)
                && !link.deliver(&from, packet)
            {
                counts.deliver_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// Two peers relaying through `server`, pumps running.
async fn pair(server: &Server) -> (Peer, Peer) {
    let (ia, ib) = (Identity::generate(), Identity::generate());
    let (pa, pb) = (ia.peer_id(), ib.peer_id());
    let a = peer(server.config.clone(), ia, pb).await;
    let b = peer(server.config.clone(), ib, pa).await;
    let first = open(&a, pb).await;
    let second = open(&b, pa).await;
    assert!(!first && second, "both consented: the relay is ready");
    pump(&a).await;
    pump(&b).await;
    (a, b)
}

/// Accepts peer connections and answers each bidirectional stream: an echo of up to
/// `ECHO_MAX` bytes, else the stream's length.
fn serve(ep: quinn::Endpoint) {
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut s, mut r)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        let (mut kept, mut total) = (Vec::new(), 0usize);
                        while let Ok(Some(c)) = r.read_chunk(1 << 20, true).await {
                            total += c.bytes.len();
                            if kept.len() < ECHO_MAX {
                                kept.extend_from_slice(&c.bytes);
                            }
                        }
                        let reply = if total <= ECHO_MAX {
                            kept
                        } else {
                            (total as u64).to_be_bytes().to_vec()
                        };
                        let _ = s.write_all(&reply).await;
                        let _ = s.finish();
                    });
                }
            });
        }
    });
}

async fn echo(conn: &quinn::Connection, payload: &[u8]) {
    let (mut s, mut r) = conn.open_bi().await.expect("stream");
    s.write_all(payload).await.expect("write");
    s.finish().expect("finish");
    let back = r.read_to_end(ECHO_MAX).await.expect("read");
    assert!(back == payload, "the echo came back changed");
}

/// A new connection from `a` to `b` at `addr` and one echo on it.
async fn connect_echo(a: &Peer, b: PeerId, addr: SocketAddr, payload: &[u8]) -> Duration {
    let t = Instant::now();
    let conn = transport::dial(&a.ep, &a.id, b, addr).await.expect("dial");
    echo(&conn, payload).await;
    let d = t.elapsed();
    conn.close(0u32.into(), b"");
    d
}

async fn timed_echo(conn: &quinn::Connection, payload: &[u8]) -> Duration {
    let t = Instant::now();
    echo(conn, payload).await;
    t.elapsed()
}

/// `bytes` on one stream, until the other side has read them all and said so.
async fn bulk(conn: &quinn::Connection, bytes: u64) -> Duration {
    let buf = vec![7u8; 256 * 1024];
    let t = Instant::now();
    let (mut s, mut r) = conn.open_bi().await.expect("stream");
    for _ in 0..bytes / buf.len() as u64 {
        s.write_all(&buf).await.expect("write");
    }
    s.finish().expect("finish");
    let back = r.read_to_end(8).await.expect("read");
    let got = u64::from_be_bytes(back.try_into().expect("a length"));
    assert_eq!(got, bytes, "the other side read everything");
    t.elapsed()
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn conn_note(name: &str, c: &quinn::Connection) -> String {
    let s = c.stats();
    format!(
        "{name}: path MTU {} B ({} of {} MTU probes lost, {} black holes), RTT {:.0} µs, {} packets sent, {} lost, {} congestion events",
        s.path.current_mtu,
        s.path.lost_plpmtud_probes,
        s.path.sent_plpmtud_probes,
        s.path.black_holes_detected,
        us(c.rtt()),
        s.path.sent_packets,
        s.path.lost_packets,
        s.path.congestion_events,
    )
}

fn pump_note(name: &str, p: &Peer) -> String {
    let c = &p.counts;
    format!(
        "{name}'s pump: largest packet relayed {} B; {} not sent ({}, packets of {}–{} B); {} frames sent while the datagram queue was full (quinn drops the oldest); {} refused by the link; rendezvous connection: largest datagram {} B",
        c.sent_largest.load(Ordering::Relaxed),
        c.send_failed.load(Ordering::Relaxed),
        c.first_error.get().map_or("no error", String::as_str),
        c.failed_smallest.load(Ordering::Relaxed),
        c.failed_largest.load(Ordering::Relaxed),
        c.queue_full.load(Ordering::Relaxed),
        c.deliver_dropped.load(Ordering::Relaxed),
        p.client
            .current()
            .and_then(|c| c.max_datagram_size())
            .map_or_else(|| "?".into(), |n| n.to_string()),
    )
}

#[tokio::main]
async fn main() {
    let bulk_mib: u64 = std::env::var("NATTER_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let bulk_bytes = bulk_mib << 20;
    let dir = tempfile::tempdir().expect("dir");
    let (rate, burst) = (RELAY_RATE.to_string(), RELAY_BURST.to_string());
    let server = Server::start(
        &dir.path().join("raised"),
        &["--relay-rate", &rate, "--relay-burst", &burst],
    );
    let (a, b) = pair(&server).await;
    let pb = b.id.peer_id();
    let direct = b.ep.local_addr().expect("addr");
    let mapped = a.link.map(pb).expect("mapped address");
    let payload = vec![0x5au8; ECHO];

    // 1. A new connection and a first echo, alternating paths.
    eprintln!("relay bench: {CONNECT_SAMPLES} connections each way");
    for _ in 0..WARMUP {
        connect_echo(&a, pb, direct, &payload).await;
        connect_echo(&a, pb, mapped, &payload).await;
    }
    let (mut cd, mut cr) = (Vec::new(), Vec::new());
    for i in 0..CONNECT_SAMPLES {
        if i % 2 == 0 {
            cd.push(connect_echo(&a, pb, direct, &payload).await);
            cr.push(connect_echo(&a, pb, mapped, &payload).await);
        } else {
            cr.push(connect_echo(&a, pb, mapped, &payload).await);
            cd.push(connect_echo(&a, pb, direct, &payload).await);
        }
    }

    // 2. Echoes on one open connection per path.
    eprintln!("relay bench: {ECHO_SAMPLES} echoes each way");
    let dconn = transport::dial(&a.ep, &a.id, pb, direct)
        .await
        .expect("dial");
    let rconn = transport::dial(&a.ep, &a.id, pb, mapped)
        .await
        .expect("dial");
    for _ in 0..WARMUP * 10 {
        echo(&dconn, &payload).await;
        echo(&rconn, &payload).await;
    }
    let (mut ed, mut er) = (Vec::new(), Vec::new());
    for i in 0..ECHO_SAMPLES {
        if i % 2 == 0 {
            ed.push(timed_echo(&dconn, &payload).await);
            er.push(timed_echo(&rconn, &payload).await);
        } else {
            er.push(timed_echo(&rconn, &payload).await);
            ed.push(timed_echo(&dconn, &payload).await);
        }
    }

    // 3. Bulk on one stream, direct then relayed.
    eprintln!("relay bench: {bulk_mib} MiB each way");
    let bd = bulk(&dconn, bulk_bytes).await;
    let br = bulk(&rconn, bulk_bytes).await;
    let notes = [
        conn_note("direct connection", &dconn),
        conn_note("relayed connection", &rconn),
        pump_note("A", &a),
        pump_note("B", &b),
    ];
    dconn.close(0u32.into(), b"");
    rconn.close(0u32.into(), b"");
    let raised_stats = server.stop();

    // 4. Bulk through a server at its default relay limit.
    eprintln!("relay bench: {DEFAULT_LIMIT_MIB} MiB at the default relay limit");
    let server = Server::start(&dir.path().join("default"), &[]);
    let (a2, b2) = pair(&server).await;
    let mapped2 = a2.link.map(b2.id.peer_id()).expect("mapped address");
    let conn2 = transport::dial(&a2.ep, &a2.id, b2.id.peer_id(), mapped2)
        .await
        .expect("dial");
    let limited = tokio::time::timeout(DEFAULT_LIMIT_WAIT, bulk(&conn2, DEFAULT_LIMIT_MIB << 20))
        .await
        .ok();
    let limited_note = conn_note("relayed connection at the default limit", &conn2);
    conn2.close(0u32.into(), b"");
    let default_stats = server.stop();

    for v in [&mut cd, &mut cr, &mut ed, &mut er] {
        v.sort();
    }
    let ratio = |r: Duration, d: Duration| r.as_secs_f64() / d.as_secs_f64();
    println!(
        "relayed vs direct, loopback, {} build; relayed rows through natter-rendezvous --relay --relay-rate {RELAY_RATE} --relay-burst {RELAY_BURST} (1 GiB/s, 64 MiB; the default limit is 4 MiB/s per client, 1 MiB burst)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!("| figure | direct | relayed | ratio (relayed / direct) |");
    println!("|---|---|---|---|");
    for (p, name) in [(0.5, "p50"), (0.99, "p99")] {
        println!(
            "| connect + first 256 B echo, {name} ({CONNECT_SAMPLES} samples) | {:.2} ms | {:.2} ms | {:.2}× |",
            ms(pct(&cd, p)),
            ms(pct(&cr, p)),
            ratio(pct(&cr, p), pct(&cd, p)),
        );
    }
    for (p, name) in [(0.5, "p50"), (0.99, "p99")] {
        println!(
            "| 256 B echo on an open connection, {name} ({ECHO_SAMPLES} samples) | {:.0} µs | {:.0} µs | {:.2}× |",
            us(pct(&ed, p)),
            us(pct(&er, p)),
            ratio(pct(&er, p), pct(&ed, p)),
        );
    }
    let (md, mr) = (mib_s(bulk_bytes, bd), mib_s(bulk_bytes, br));
    println!(
        "| bulk, one stream, {bulk_mib} MiB | {md:.0} MiB/s ({:.2} s) | {mr:.0} MiB/s ({:.2} s) | {:.2}× |",
        bd.as_secs_f64(),
        br.as_secs_f64(),
        mr / md,
    );
    match limited {
        Some(d) => println!(
            "| bulk, one stream, {DEFAULT_LIMIT_MIB} MiB, relay at its default limit (4 MiB/s per client) | — | {:.1} MiB/s ({:.2} s) | — |",
            mib_s(DEFAULT_LIMIT_MIB << 20, d),
            d.as_secs_f64(),
        ),
        None => println!(
            "| bulk, one stream, {DEFAULT_LIMIT_MIB} MiB, relay at its default limit (4 MiB/s per client) | — | not done in {} s | — |",
            DEFAULT_LIMIT_WAIT.as_secs()
        ),
    }
    println!();
    for n in notes.iter().chain([&limited_note]) {
        println!("{n}");
    }
    let show = |v: Option<Value>| v.map_or_else(|| "not printed".into(), |v| v.to_string());
    println!(
        "server relay counters, raised limit: {}",
        show(raised_stats)
    );
    println!(
        "server relay counters, default limit: {}",
        show(default_stats)
    );
}
