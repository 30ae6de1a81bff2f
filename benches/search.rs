//! History search at 1M messages, newest 50: Natter's `search` (through the store thread,
//! whole messages back) against a raw SQLite FTS5 query on the same file, for a word in
//! every message, a word in 1 % of them and prefixes. Building the history takes about a
//! minute. Run: `cargo bench --bench search` (`NATTER_BENCH_ROWS` changes the count).

use std::time::{Duration, Instant};

use natter::internals::session::IncomingChat;
use natter::internals::store::{self, Store};
use natter::node::{Node, NodeConfig};
use natter::{Identity, PeerId};

const BATCH: usize = 10_000;
const QUERIES: usize = 200;
const WORDS: [&str; 16] = [
    "lunch", "meeting", "tomorrow", "photo", "train", "coffee", "report", "weekend", "budget",
    "garden", "concert", "ticket", "dinner", "draft", "holiday", "review",
];

fn text(i: usize) -> String {
    let a = WORDS[i % 16];
    let b = WORDS[(i / 16) % 16];
    let rare = if i % 100 == 7 { " zanzibar" } else { "" };
    format!("hello {a} and {b} at {}{rare}", i % 1000)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("NATTER_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("dir");
    let me = Identity::load_or_create(dir.path())
        .expect("identity")
        .peer_id();
    let peer: PeerId = Identity::generate().peer_id();
    let t = Instant::now();
    {
        let store = Store::open(dir.path()).expect("store");
        let mut seq = 0u64;
        while (seq as usize) < rows {
            let chats: Vec<IncomingChat> = (0..BATCH.min(rows - seq as usize))
                .map(|k| {
                    let i = seq as usize + k;
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    IncomingChat {
                        msg_id: id,
                        seq: seq + k as u64 + 1,
                        timestamp_ms: 1_700_000_000_000 + i as u64,
                        text: text(i),
                        incarnation: None,
                        base_seq: 0,
                    }
                })
                .collect();
            seq += chats.len() as u64;
            store
                .call(move |c| store::receive(c, &me, &peer, &chats).map(|_| ()))
                .await
                .expect("batch stored");
        }
    }
    let built = t.elapsed();
    let mut config = NodeConfig::new(dir.path());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.discovery = None;
    config.autodial = false;
    let (node, _events) = Node::start(config).await.expect("node");
    let raw = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).expect("raw");

    println!(
        "history search, {rows} messages (built in {:.1} s), newest 50, {QUERIES} queries each",
        built.as_secs_f64()
    );
    println!("| query | Natter p50 / p99 | raw FTS5 p50 / p99 | ratio (p50) | target |");
    println!("|---|---|---|---|---|");
    // The raw query is the FTS5 expression whose rows Natter returns: whole words, and the
    // last word as a prefix when whole words find fewer than 50 (see `store::search`).
    for (label, q, raw_q) in [
        ("word in every message", "hello", "\"hello\""),
        ("word in 1 %", "zanzibar", "\"zanzibar\""),
        ("two words", "lunch budget", "\"lunch\" \"budget\""),
        ("4-letter prefix (indexed)", "conc", "\"conc\"*"),
        ("6-letter prefix of a word in 1/16", "meetin", "\"meetin\"*"),
        (
            "same word typed as a prefix, old way (every doclist)",
            "hello",
            "\"hello\"*",
        ),
    ] {
        let mut ours = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let t = Instant::now();
            let found = node.search(q.to_string(), 50).await.expect("search");
            ours.push(t.elapsed());
            assert_eq!(found.len(), 50, "{q}");
        }
        let mut stmt = raw
            .prepare(
                "SELECT rowid, text FROM messages_fts WHERE messages_fts MATCH ?1
                 ORDER BY rowid DESC LIMIT 50",
            )
            .expect("prepare");
        let mut base = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let t = Instant::now();
            let n = stmt
                .query_map([raw_q], |r| r.get::<_, i64>(0))
                .expect("query")
                .count();
            base.push(t.elapsed());
            assert_eq!(n, 50);
        }
        ours.sort();
        base.sort();
        println!(
            "| {label} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2}× | ≤ 10 ms, ≤ 1.5× |",
            ms(pct(&ours, 0.5)),
            ms(pct(&ours, 0.99)),
            ms(pct(&base, 0.5)),
            ms(pct(&base, 0.99)),
            pct(&ours, 0.5).as_secs_f64() / pct(&base, 0.5).as_secs_f64()
        );
    }
    node.shutdown().await;
}
