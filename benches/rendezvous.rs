//! Rendezvous figures against a real `natter-rendezvous` process on loopback: connections
//! (mutual-auth handshakes) per second, registrations/s and lookups/s over established
//! connections, and how many registered clients with live heartbeats the server holds, with
//! its resident memory per client. The load generator spreads the clients over a few UDP
//! sockets and stops by itself. Run: `cargo bench --bench rendezvous` (`NATTER_BENCH_CLIENTS`
//! sets how many clients; default 4000).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::internals::transport;
use natter::rendezvous::proto::{PresenceRecord, Register};
use natter::rendezvous::{Client, RendezvousConfig, record};
use natter::{Identity, PeerId};
use tokio::sync::Semaphore;

const SOCKETS: usize = 8;
const CONCURRENCY: usize = 48;
const LOOKUPS: usize = 100_000;
/// Lookups one client has in flight at once in the burst row (the server's stream limit).
const PER_CLIENT: usize = 8;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// CPU time the process has used, all threads, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
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
    /// A table row: the rate seen here (load generator on the same cores), the server's CPU
    /// per operation, and the rate one server core would sustain at that cost.
    fn row(&self, figure: &str, target: &str) -> String {
        let per_op_us = self.server_cpu_ns as f64 / 1000.0 / self.ops as f64;
        let failed = match self.failed {
            0 => String::new(),
            f => format!(" ({f} of {} failed)", self.ops),
        };
        format!(
            "| {figure} | {:.0}{failed} | {per_op_us:.1} µs | {:.0} | {target} |",
            self.ops as f64 / self.wall.as_secs_f64(),
            1e6 / per_op_us,
        )
    }
}

/// Runs one phase (`run`, from [`run_all`]) and measures it with the server's CPU time.
async fn phase(pid: u32, ops: usize, run: impl Future<Output = (Duration, usize)>) -> Phase {
    let cpu0 = cpu_ns(pid);
    let (wall, failed) = run.await;
    Phase {
        ops,
        wall,
        failed,
        server_cpu_ns: cpu_ns(pid) - cpu0,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
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

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("NATTER_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dir = tempfile::tempdir().expect("dir");
    // NATTER_BENCH_WRAP runs the server under a profiler, e.g. `heaptrack` (the RSS rows
    // then measure the wrapper's process).
    let bin = env!("CARGO_BIN_EXE_natter-rendezvous");
    let mut server = match std::env::var("NATTER_BENCH_WRAP") {
        Ok(w) if !w.is_empty() => {
            let mut c = Command::new(w);
            c.arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    let mut server = server
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args([
            "--requests-per-second",
            "1000000",
            "--request-burst",
            "1000000",
        ])
        .args([
            "--handshakes-per-second",
            "1000000",
            "--handshake-burst",
            "1000000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("natter-rendezvous starts");
    // The first JSON line (a wrapper may print its own lines before it).
    let v: serde_json::Value = BufReader::new(server.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .find_map(|l| serde_json::from_str(&l).ok())
        .expect("the server prints its address");
    let config = RendezvousConfig {
        addr: v["addr"].as_str().expect("addr").parse().expect("addr"),
        key: v["key"].as_str().expect("key").parse().expect("key"),
        tcp: None,
        also: Vec::new(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.id();
    let rss_idle = rss_kib(pid);

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
                    config.clone(),
                ))
            })
            .collect(),
    );
    // A target every client may look up.
    let target_id = Identity::generate();
    let target = Client::new(endpoints[0].clone(), target_id.clone(), config);
    // The target allows the first 4096 clients (the token cap); they do the lookups.
    let lookers: Vec<usize> = (0..n.min(4096)).collect();
    let tokens: Vec<PeerId> = lookers
        .iter()
        .map(|i| clients[*i].identity().peer_id())
        .collect();
    let (_r2, _s2, _p2) = target
        .register(registration(&target_id, &tokens, 1))
        .await
        .expect("target registers");

    // 1. Connections: one mutual-auth handshake per client.
    eprintln!("rendezvous bench: connecting {n} clients");
    let c = clients.clone();
    let connect = phase(
        pid,
        n,
        run_all(n, move |i| {
            let c = c[i].clone();
            async move { c.connection().await.map(drop).map_err(|e| e.to_string()) }
        }),
    )
    .await;

    // 2. Registrations over the established connections; push streams kept open.
    eprintln!("rendezvous bench: registering");
    let streams = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let (c, s) = (clients.clone(), streams.clone());
    let register = phase(
        pid,
        n,
        run_all(n, move |i| {
            let (c, s) = (c[i].clone(), s.clone());
            async move {
                let id = c.identity();
                let reg = registration(&id, &[], 2);
                let (_r, send, recv) = c.register(reg).await.map_err(|e| e.to_string())?;
                s.lock().expect("lock").push((send, recv));
                Ok(())
            }
        }),
    )
    .await;

    // 2b. Renewals: the same clients register again (a heartbeat's work).
    eprintln!("rendezvous bench: renewing");
    let (c, s2) = (clients.clone(), streams.clone());
    let renew = phase(
        pid,
        n,
        run_all(n, move |i| {
            let (c, s) = (c[i].clone(), s2.clone());
            async move {
                let id = c.identity();
                let reg = registration(&id, &[], 3);
                let (_r, send, recv) = c.register(reg).await.map_err(|e| e.to_string())?;
                s.lock().expect("lock").push((send, recv));
                Ok(())
            }
        }),
    )
    .await;

    // 3. Lookups of the target by allowed clients.
    eprintln!("rendezvous bench: looking up");
    // A large run outlasts the target's first record: it renews, as a node would.
    let (_r3, _s3, _p3) = target
        .register(registration(&target_id, &tokens, 4))
        .await
        .expect("target renews");
    let (c, l) = (clients.clone(), Arc::new(lookers));
    let tid = target_id.peer_id();
    let lookup = phase(
        pid,
        LOOKUPS,
        run_all(LOOKUPS, move |i| {
            let c = c[l[i % l.len()]].clone();
            async move {
                let p = c.lookup(&tid, false).await.map_err(|e| e.to_string())?;
                p.online
                    .then_some(())
                    .ok_or_else(|| "target offline".to_string())
            }
        }),
    )
    .await;

    // 3b. The same lookups, PER_CLIENT at once from each client (a node that starts and
    // looks up its contacts together; quinn packs their streams into shared packets).
    eprintln!("rendezvous bench: looking up, {PER_CLIENT} at once per client");
    let (c, l) = (
        clients.clone(),
        Arc::new((0..n.min(4096)).collect::<Vec<usize>>()),
    );
    let lookup_burst = phase(
        pid,
        LOOKUPS / PER_CLIENT * PER_CLIENT,
        run_all(LOOKUPS / PER_CLIENT, move |i| {
            let c = c[l[i % l.len()]].clone();
            async move {
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..PER_CLIENT {
                    let c = c.clone();
                    all.spawn(async move { c.lookup(&tid, false).await });
                }
                let mut failed = None;
                while let Some(p) = all.join_next().await {
                    match p.map_err(|e| e.to_string()) {
                        Ok(Ok(p)) if p.online => {}
                        Ok(Ok(_)) => failed = Some("target offline".to_string()),
                        Ok(Err(e)) => failed = Some(e.to_string()),
                        Err(e) => failed = Some(e),
                    }
                }
                failed.map_or(Ok(()), Err)
            }
        }),
    )
    .await;

    // 4. Held: every client registered, keep-alives flowing; wait two rounds.
    eprintln!("rendezvous bench: holding");
    let hold = 2 * transport::SIGNALLING_KEEP_ALIVE + Duration::from_secs(1);
    let cpu0 = cpu_ns(pid);
    tokio::time::sleep(hold).await;
    let hold_cpu = (cpu_ns(pid) - cpu0) as f64 / hold.as_nanos() as f64;
    let alive = clients.iter().filter(|c| c.is_connected()).count();
    let rss_held = rss_kib(pid);
    let per_client = (rss_held.saturating_sub(rss_idle) as f64) / n as f64;

    println!(
        "rendezvous, {n} clients over {SOCKETS} UDP sockets, {CONCURRENCY} requests in flight"
    );
    println!(
        "| figure | Natter, per second (load generator on the same 2 cores) | server CPU per operation | per server core, per second | target |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "{}",
        connect.row("connections (mutual-auth handshakes)", "—")
    );
    println!(
        "{}",
        register.row(
            "first registrations (record verified, account committed)",
            "≥ 5000/s"
        )
    );
    println!("{}", renew.row("renewals (same clients again)", "≥ 5000/s"));
    println!(
        "{}",
        lookup.row(
            "lookups, one at a time per client (allowed, online)",
            "≥ 50000/s"
        )
    );
    println!(
        "{}",
        lookup_burst.row(
            &format!("lookups, {PER_CLIENT} at once per client"),
            "≥ 50000/s"
        )
    );
    println!(
        "| clients held with heartbeats after {} s | {alive} of {n} | | | ≥ 100000 |",
        hold.as_secs()
    );
    println!(
        "| server CPU while holding them (keep-alives only) | {:.1} % of one core | | | — |",
        hold_cpu * 100.0
    );
    println!(
        "| server RSS per held client | {per_client:.1} KiB (idle {rss_idle} KiB, held {rss_held} KiB) | | | ≤ 20 KiB |"
    );
    drop(streams);
    let _ = server.kill();
    let _ = server.wait();
}
