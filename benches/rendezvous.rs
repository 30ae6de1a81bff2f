//! Rendezvous figures against real `natter-rendezvous` processes on loopback, in one run:
//! one node (memory and SQLite), then three nodes over one real `redis-server` (Redis mode,
//! clients spread over the nodes, the looked-up target at the first). Per deployment:
//! connections (mutual-auth handshakes) per second, registrations/s and lookups/s over
//! established connections (one at a time, several at once, batched), one lookup's round
//! trip (the Redis round trip is the difference), and how many registered clients with live
//! heartbeats it holds, with resident memory per client. The load generator spreads the
//! clients over a few UDP sockets and stops by itself.
//!
//! The baseline, in the same run with the same load generator: a raw quinn server (this
//! program again, in role `quinn`) on the rendezvous' own endpoint (socket, TLS, ALPN,
//! transport settings) that reads each framed request and answers a presence-sized frame,
//! holding the stream open until the client ends it, as a registration's is. It is what the
//! transport alone costs per connection, request and held client: the limit of each row.
//! Run: `cargo bench --bench rendezvous`
//! (`NATTER_BENCH_CLIENTS` sets how many clients, default 4000; `NATTER_BENCH_REDIS=0` skips
//! the Redis deployment).

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::internals::transport;
use natter::rendezvous::proto::{PresenceRecord, Register};
use natter::rendezvous::{Client, record};
use natter::{Identity, PeerId};
use tokio::sync::Semaphore;

const SOCKETS: usize = 8;
const CONCURRENCY: usize = 48;
const LOOKUPS: usize = 100_000;
/// Lookups one client has in flight at once in the burst row (the server's stream limit).
const PER_CLIENT: usize = 8;
/// Lookups in one batched request (`proto::MAX_BATCH`).
const BATCH: usize = natter::rendezvous::proto::MAX_BATCH;
/// Sequential lookups timed one by one for the round-trip row.
const TIMED: usize = 2000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// CPU time the processes have used, all threads, in nanoseconds.
fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flat_map(|tasks| tasks.filter_map(Result::ok))
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// One measured phase: how many operations, how long, and the server's CPU time in it.
struct Phase {
    ops: usize,
    wall: Duration,
    failed: usize,
    server_cpu_ns: u64,
}

impl Phase {
    /// Operations per second seen here (load generator on the same cores).
    fn rate(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    /// Two table cells: the rate and the servers' CPU per operation.
    fn cells(&self) -> String {
        let per_op_us = self.server_cpu_ns as f64 / 1000.0 / self.ops as f64;
        let failed = match self.failed {
            0 => String::new(),
            f => format!(" ({f} of {} failed)", self.ops),
        };
        format!("{:.0}{failed} | {per_op_us:.1} µs", self.rate())
    }
}

/// Runs one phase (`run`, from [`run_all`]) and measures it with the servers' CPU time.
async fn phase(pids: &[u32], ops: usize, run: impl Future<Output = (Duration, usize)>) -> Phase {
    let cpu0 = cpu_ns(pids);
    let (wall, failed) = run.await;
    Phase {
        ops,
        wall,
        failed,
        server_cpu_ns: cpu_ns(pids) - cpu0,
    }
}

/// Waits two keep-alive rounds with the clients held; returns how long, and the share of one
/// core the processes used meanwhile.
async fn hold(pids: &[u32]) -> (Duration, f64) {
    let hold = 2 * transport::SIGNALLING_KEEP_ALIVE + Duration::from_secs(1);
    let cpu0 = cpu_ns(pids);
    tokio::time::sleep(hold).await;
    (hold, (cpu_ns(pids) - cpu0) as f64 / hold.as_nanos() as f64)
}

fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .sum()
}

fn registration(id: &Identity, allow: &[PeerId], port: u16) -> Register {
    // The port doubles as a step number: a later step's record is issued later.
    let now = now_ms() + u64::from(port) * 1000;
    let r = PresenceRecord {
        peer: id.peer_id().as_bytes().to_vec(),
        addrs: vec![format!("127.0.0.1:{port}")],
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
        tokens: allow
            .iter()
            .filter_map(|p| record::own_token(id, p))
            .map(|t| t.to_vec())
            .collect(),
        ..Default::default()
    }
}

/// Runs `n` jobs with at most `CONCURRENCY` at once; each returns how many of its operations
/// failed. Returns the elapsed time and the failures (the first few are printed).
async fn run_all<F, Fut>(n: usize, f: F) -> (Duration, usize)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let fut = f(i);
        set.spawn(async move {
            let r = fut.await;
            drop(permit);
            r
        });
    }
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            failed += 1;
            if failed <= 3 {
                eprintln!("rendezvous bench: failed: {e}");
            }
        }
    }
    (t.elapsed(), failed)
}

#[path = "support/deploy.rs"]
mod deploy;

#[path = "support/raw_rendezvous.rs"]
mod raw;
use raw::{RawFigures, measure_raw, raw_server};

/// p50 and p99 of `times`.
fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        times
            .get((times.len() as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (pct(0.5), pct(0.99))
}

/// What one deployment did.
struct Figures {
    connect: Phase,
    register: Phase,
    renew: Phase,
    lookup: Phase,
    lookup_burst: Phase,
    lookup_batched: Phase,
    /// One lookup's round trip, p50 and p99, in µs (one client, one at a time).
    round_trip: (f64, f64),
    alive: usize,
    hold: Duration,
    hold_cpu: f64,
    /// The nodes' resident memory before the clients came, once they are registered (before
    /// the lookup phases, whose buffers the allocator keeps), and at the end, KiB.
    rss_idle: u64,
    rss_registered: u64,
    rss_held: u64,
    /// The same for Redis (0 without it).
    redis_idle: u64,
    redis_held: u64,
}

/// Registrations, lookups and held clients against `d`, with `n` clients spread over its
/// nodes and the target every client looks up at its first node.
async fn measure(d: &deploy::Deployment, n: usize) -> Figures {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pids = d.pids.clone();
    let rss_idle = rss_kib(&d.nodes);
    let redis_idle = rss_kib(&pids) - rss_idle;
    let endpoints: Vec<quinn::Endpoint> = (0..SOCKETS)
        .map(|_| {
            transport::endpoint(&Identity::generate(), "127.0.0.1:0".parse().expect("addr"))
                .expect("endpoint")
        })
        .collect();
    let clients: Arc<Vec<Arc<Client>>> = Arc::new(
        (0..n)
            .map(|i| {
                Arc::new(Client::new(
                    endpoints[i % SOCKETS].clone(),
                    Identity::generate(),
                    d.configs[i % d.configs.len()].clone(),
                ))
            })
            .collect(),
    );
    // A target every client may look up.
    let target_id = Identity::generate();
    let target = Client::new(
        endpoints[0].clone(),
        target_id.clone(),
        d.configs[0].clone(),
    );
    // The target allows the first 4096 clients (the token cap); they do the lookups.
    let lookers: Arc<Vec<usize>> = Arc::new((0..n.min(4096)).collect());
    let tokens: Vec<PeerId> = lookers
        .iter()
        .map(|i| clients[*i].identity().peer_id())
        .collect();
    let (_r2, _s2, _p2) = target
        .register(registration(&target_id, &tokens, 1))
        .await
        .expect("target registers");

    // 1. Connections: one mutual-auth handshake per client.
    eprintln!("rendezvous bench, {}: connecting {n} clients", d.name);
    let c = clients.clone();
    let connect = phase(
        &pids,
        n,
        run_all(n, move |i| {
            let c = c[i].clone();
            async move { c.connection().await.map(drop).map_err(|e| e.to_string()) }
        }),
    )
    .await;

    // 2. Registrations over the established connections (push streams kept open), then
    // renewals: the same clients again, a heartbeat's work.
    eprintln!("rendezvous bench, {}: registering", d.name);
    let streams = Arc::new(std::sync::Mutex::new(Vec::with_capacity(2 * n)));
    let mut registered = Vec::new();
    for step in [2, 3] {
        let (c, s) = (clients.clone(), streams.clone());
        registered.push(
            phase(
                &pids,
                n,
                run_all(n, move |i| {
                    let (c, s) = (c[i].clone(), s.clone());
                    async move {
                        let reg = registration(&c.identity(), &[], step);
                        let (_r, send, recv) = c.register(reg).await.map_err(|e| e.to_string())?;
                        s.lock().expect("lock").push((send, recv));
                        Ok(())
                    }
                }),
            )
            .await,
        );
    }
    let rss_registered = rss_kib(&d.nodes);
    let redis_registered = rss_kib(&pids) - rss_registered;
    let renew = registered.pop().expect("renewals");
    let register = registered.pop().expect("registrations");

    // 3. Lookups of the target by allowed clients: one at a time per client, then
    // PER_CLIENT at once (the client sends them together), then BATCH per request.
    eprintln!("rendezvous bench, {}: looking up", d.name);
    // A large run outlasts the target's first record: it renews, as a node would.
    let (_r3, _s3, _p3) = target
        .register(registration(&target_id, &tokens, 4))
        .await
        .expect("target renews");
    let tid = target_id.peer_id();
    let looker = |i: usize| clients[lookers[i % lookers.len()]].clone();
    let online = |p: natter::rendezvous::proto::Presence| {
        p.online
            .then_some(())
            .ok_or_else(|| "target offline".to_string())
    };
    let lookup = phase(
        &pids,
        LOOKUPS,
        run_all(LOOKUPS, |i| {
            let c = looker(i);
            async move { online(c.lookup(&tid, false).await.map_err(|e| e.to_string())?) }
        }),
    )
    .await;
    let lookup_burst = phase(
        &pids,
        LOOKUPS / PER_CLIENT * PER_CLIENT,
        run_all(LOOKUPS / PER_CLIENT, |i| {
            let c = looker(i);
            async move {
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..PER_CLIENT {
                    let c = c.clone();
                    all.spawn(async move { c.lookup(&tid, false).await });
                }
                let mut failed = Ok(());
                while let Some(p) = all.join_next().await {
                    let p = p
                        .map_err(|e| e.to_string())
                        .and_then(|p| p.map_err(|e| e.to_string()));
                    if let Err(e) = p.and_then(online) {
                        failed = Err(e);
                    }
                }
                failed
            }
        }),
    )
    .await;
    let lookup_batched = phase(
        &pids,
        LOOKUPS / BATCH * BATCH,
        run_all(LOOKUPS / BATCH, |i| {
            let c = looker(i);
            async move {
                let all = c
                    .lookup_many(&[(tid, false); BATCH])
                    .await
                    .map_err(|e| e.to_string())?;
                if all.len() != BATCH {
                    return Err(format!("{} answers of {BATCH}", all.len()));
                }
                all.into_iter().try_for_each(online)
            }
        }),
    )
    .await;
    let one = looker(1);
    let mut times = Vec::with_capacity(TIMED);
    for _ in 0..TIMED {
        let t = Instant::now();
        if one.lookup(&tid, false).await.is_ok() {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let round_trip = percentiles(times);

    // 4. Held: every client registered, keep-alives flowing; wait two rounds.
    eprintln!("rendezvous bench, {}: holding", d.name);
    let (hold, hold_cpu) = hold(&pids).await;
    let alive = clients.iter().filter(|c| c.is_connected()).count();
    let rss_held = rss_kib(&d.nodes);
    drop(streams);
    Figures {
        connect,
        register,
        renew,
        lookup,
        lookup_burst,
        lookup_batched,
        round_trip,
        alive,
        hold,
        hold_cpu,
        rss_idle,
        rss_registered,
        rss_held,
        redis_idle,
        redis_held: redis_registered,
    }
}

#[tokio::main]
async fn main() {
    if std::env::var("NATTER_BENCH_ROLE").as_deref() == Ok("quinn") {
        raw_server().await;
        return;
    }
    let n: usize = std::env::var("NATTER_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    // NATTER_BENCH_WRAP runs the one node under a profiler, e.g. `heaptrack` (the RSS rows
    // then measure the wrapper's process).
    let wrap = std::env::var("NATTER_BENCH_WRAP")
        .ok()
        .filter(|w| !w.is_empty());
    let dir = tempfile::tempdir().expect("dir");
    // The baseline first: nothing has run on the machine before it.
    let raw = {
        let d = deploy::role("raw quinn", "quinn");
        measure_raw(&d, n).await
    };
    let one = {
        let d = deploy::one_node(&dir.path().join("one"), wrap.as_deref());
        measure(&d, n).await
    };
    let redis = std::env::var("NATTER_BENCH_REDIS").map_or(true, |v| v != "0");
    let three = match redis {
        true => {
            let d = deploy::three_nodes(&dir.path().join("three"));
            Some(measure(&d, n).await)
        }
        false => None,
    };
    print(n, &one, three.as_ref(), &raw);
}

/// Resident memory per client between two readings, KiB.
fn per_client(n: usize, held: u64, idle: u64) -> f64 {
    held.saturating_sub(idle) as f64 / n as f64
}

fn print(n: usize, one: &Figures, three: Option<&Figures>, raw: &RawFigures) {
    println!(
        "rendezvous, {n} clients over {SOCKETS} UDP sockets, {CONCURRENCY} requests in flight; \
         per second with the load generator on the same 2 cores; CPU per operation summed over \
         the servers (and Redis). Baseline: a raw quinn server on the same endpoint settings \
         under the same load (one framed request, one presence-sized answer, per stream); \
         ratio = one node ÷ raw (rates: 1 is the transport's limit; round trips, CPU and \
         memory: how many times the transport's own)"
    );
    println!(
        "| figure | one node: per second | server CPU per op | three nodes over Redis: per second | servers + Redis CPU per op | raw quinn: per second | its CPU per op | ratio | target |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let none = "— | —".to_string();
    let row = |figure: &str, f: &dyn Fn(&Figures) -> String, base: String, target: &str| {
        println!(
            "| {figure} | {} | {} | {base} | {target} |",
            f(one),
            three.map_or_else(|| none.clone(), f)
        );
    };
    let vs = |p: &Phase, base: &Phase| format!("{} | {:.2}×", base.cells(), p.rate() / base.rate());
    row(
        "connections (mutual-auth handshakes)",
        &|f| f.connect.cells(),
        vs(&one.connect, &raw.connect),
        "—",
    );
    row(
        "first registrations (record verified, account stored)",
        &|f| f.register.cells(),
        vs(&one.register, &raw.register),
        "≥ 5000/s",
    );
    row(
        "renewals (same clients again)",
        &|f| f.renew.cells(),
        vs(&one.renew, &raw.register),
        "≥ 5000/s",
    );
    row(
        "lookups, one at a time per client",
        &|f| f.lookup.cells(),
        vs(&one.lookup, &raw.lookup),
        "—",
    );
    row(
        &format!("lookups, {PER_CLIENT} at once per client (sent together)"),
        &|f| f.lookup_burst.cells(),
        vs(&one.lookup_burst, &raw.lookup),
        "—",
    );
    row(
        &format!("lookups, batched {BATCH} per request (baseline: one request each)"),
        &|f| f.lookup_batched.cells(),
        vs(&one.lookup_batched, &raw.lookup),
        "≥ 50000/s",
    );
    row(
        "one lookup's round trip, p50 / p99 (µs)",
        &|f| format!("{:.0} / {:.0} | —", f.round_trip.0, f.round_trip.1),
        format!(
            "{:.0} / {:.0} | — | {:.2}× / {:.2}×",
            raw.round_trip.0,
            raw.round_trip.1,
            one.round_trip.0 / raw.round_trip.0,
            one.round_trip.1 / raw.round_trip.1
        ),
        "—",
    );
    row(
        "clients held with heartbeats",
        &|f| format!("{} of {n} after {} s | —", f.alive, f.hold.as_secs()),
        format!("{} of {n} | — | —", raw.alive),
        "all",
    );
    row(
        "CPU while holding them (keep-alives only)",
        &|f| format!("{:.1} % of one core | —", f.hold_cpu * 100.0),
        format!(
            "{:.1} % of one core | — | {:.2}×",
            raw.hold_cpu * 100.0,
            one.hold_cpu / raw.hold_cpu
        ),
        "—",
    );
    let raw_rss = per_client(n, raw.rss_registered, raw.rss_idle);
    row(
        "server RSS per held client (the nodes)",
        &|f| {
            format!(
                "{:.1} KiB | idle {} KiB, registered {} KiB, at the end {} KiB",
                per_client(n, f.rss_registered, f.rss_idle),
                f.rss_idle,
                f.rss_registered,
                f.rss_held
            )
        },
        format!(
            "{raw_rss:.1} KiB | idle {} KiB, held {} KiB | {:.2}×",
            raw.rss_idle,
            raw.rss_registered,
            per_client(n, one.rss_registered, one.rss_idle) / raw_rss
        ),
        "≤ 20 KiB",
    );
    row(
        "Redis RSS per held client",
        &|f| format!("{:.1} KiB | —", per_client(n, f.redis_held, f.redis_idle)),
        "— | — | —".into(),
        "—",
    );
}
