//! The node as a process, with its baselines in the same run, on loopback:
//! - CPU per message received (stored durably, acked), in a process of its own, against a raw
//!   quinn receiver process (one stream per 200 B message, a 1-byte answer: what the
//!   transport alone costs);
//! - the RSS of an idle node with 1,000 contacts against the same node with none, and the CPU
//!   it spends idle (its dial loops and timers).
//!
//! Each measured side is this program started again in a role (`NATTER_BENCH_ROLE`), so its
//! CPU and memory are its own. Run: `cargo bench --bench node`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::Identity;
use natter::identity::PeerId;
use natter::internals::transport;
use natter::model::Contact;

const MESSAGES: usize = 20_000;
const IN_FLIGHT: usize = 64;
const CONTACTS: usize = 1000;
const IDLE: Duration = Duration::from_secs(10);

/// CPU time this process has used (user + system), µs.
fn cpu_us() -> u64 {
    // SAFETY: getrusage writes into the struct we own; no other precondition.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(u.ru_utime) + us(u.ru_stime)
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[path = "support/nodes.rs"]
mod nodes;
use nodes::{delivered, send_many, start};

/// A child: answers `cpu` and `rss` lines on stdin until stdin ends.
fn serve_questions(first: String) {
    println!("{first}");
    for line in std::io::stdin().lock().lines() {
        match line.as_deref().unwrap_or("") {
            "cpu" => println!("{}", cpu_us()),
            "rss" => println!("{}", rss_kib()),
            _ => break,
        }
    }
}

/// Role `natter`: a node that takes the parent as a contact; prints `PEER ADDR`.
async fn natter_receiver() {
    let dir = tempfile::tempdir().expect("dir");
    let (node, _events) = start(dir.path()).await;
    let first = format!("{} {}", node.peer_id(), node.local_addr().expect("addr"));
    println!("{first}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("read");
    let parent: PeerId = line.trim().parse().expect("peer");
    node.add_contact(Contact::new(parent))
        .await
        .expect("contact");
    tokio::task::spawn_blocking(|| serve_questions("ready".into()))
        .await
        .expect("questions");
    node.shutdown().await;
}

/// Role `quinn`: a raw quinn receiver: each stream's bytes read, one byte answered.
async fn quinn_receiver() {
    let id = Identity::generate();
    let mut config = quinn::TransportConfig::default();
    config.max_concurrent_bidi_streams(quinn::VarInt::from_u32(IN_FLIGHT as u32));
    let server =
        transport::endpoint_with(&id, "127.0.0.1:0".parse().expect("addr"), Arc::new(config))
            .expect("server");
    let first = format!("{} {}", id.peer_id(), server.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Some(inc) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = inc.await else { return };
                while let Ok((mut s, mut r)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        if r.read_to_end(64 * 1024).await.is_ok() {
                            let _ = s.write_all(&[1]).await;
                            let _ = s.finish();
                        }
                    });
                }
            });
        }
    });
    tokio::task::spawn_blocking(move || serve_questions(first))
        .await
        .expect("questions");
}

/// Role `idle`: a node with `NATTER_BENCH_CONTACTS` contacts (none reachable), left alone.
async fn idle_node() {
    let n: usize = std::env::var("NATTER_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dir = tempfile::tempdir().expect("dir");
    let (node, _events) = start(dir.path()).await;
    for _ in 0..n {
        let mut c = Contact::new(Identity::generate().peer_id());
        c.nickname = "someone with a name".into();
        node.add_contact(c).await.expect("contact");
    }
    // Their first dial rounds end (no address, no rendezvous) before anything is read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| serve_questions("ready".into()))
        .await
        .expect("questions");
    node.shutdown().await;
}

struct Kid {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Kid {
    fn start(role: &str, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(std::env::current_exe().expect("exe"));
        cmd.env("NATTER_BENCH_ROLE", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("child");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).expect("read");
        s.trim().to_string()
    }

    fn say(&mut self, s: &str) {
        writeln!(self.stdin, "{s}").expect("write");
    }

    fn ask(&mut self, q: &str) -> u64 {
        self.say(q);
        self.line().parse().expect("number")
    }

    fn end(mut self) {
        let _ = writeln!(self.stdin, "bye");
        let _ = self.child.wait();
    }
}

fn peer_and_addr(line: &str) -> (PeerId, std::net::SocketAddr) {
    let mut it = line.split_whitespace();
    let peer = it.next().and_then(|p| p.parse().ok()).expect("peer");
    let addr = it.next().and_then(|a| a.parse().ok()).expect("addr");
    (peer, addr)
}

/// CPU the Natter receiver spends per message received, µs.
async fn natter_cpu_per_message() -> f64 {
    let mut kid = Kid::start("natter", &[]);
    let (peer, addr) = peer_and_addr(&kid.line());
    let dir = tempfile::tempdir().expect("dir");
    let (a, mut events) = start(dir.path()).await;
    kid.say(&a.peer_id().to_string());
    assert_eq!(kid.line(), "ready");
    let mut c = Contact::new(peer);
    c.addr = Some(addr.to_string());
    a.add_contact(c).await.expect("contact");
    while !a.is_connected(&peer) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One message through first: the session is up on both sides.
    a.send(peer, "warm".into()).await.expect("send");
    delivered(&mut events, 1).await;
    let before = kid.ask("cpu");
    send_many(&a, peer, &"x".repeat(200), MESSAGES, IN_FLIGHT).await;
    delivered(&mut events, MESSAGES).await;
    let used = kid.ask("cpu") - before;
    kid.end();
    a.shutdown().await;
    used as f64 / MESSAGES as f64
}

/// CPU a raw quinn receiver spends per 200 B message on its own stream, µs.
async fn quinn_cpu_per_message() -> f64 {
    let mut kid = Kid::start("quinn", &[]);
    let (peer, addr) = peer_and_addr(&kid.line());
    let id = Identity::generate();
    let client = transport::endpoint(&id, "127.0.0.1:0".parse().expect("addr")).expect("client");
    let conn = transport::dial(&client, &id, peer, addr)
        .await
        .expect("dial");
    let one = |conn: quinn::Connection| async move {
        let (mut s, mut r) = conn.open_bi().await.expect("bi");
        s.write_all(&[7u8; 200]).await.expect("write");
        s.finish().expect("finish");
        r.read_to_end(16).await.expect("read")
    };
    one(conn.clone()).await;
    let before = kid.ask("cpu");
    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(MESSAGES);
    for _ in 0..MESSAGES {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            one(conn).await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let used = kid.ask("cpu") - before;
    kid.end();
    used as f64 / MESSAGES as f64
}

/// An idle node's RSS (KiB) and its CPU over [`IDLE`] (ms), with `contacts` contacts.
fn idle(contacts: usize) -> (u64, f64) {
    let mut kid = Kid::start("idle", &[("NATTER_BENCH_CONTACTS", contacts.to_string())]);
    assert_eq!(kid.line(), "ready");
    let before = kid.ask("cpu");
    std::thread::sleep(IDLE);
    let cpu = kid.ask("cpu") - before;
    let rss = kid.ask("rss");
    kid.end();
    (rss, cpu as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    match std::env::var("NATTER_BENCH_ROLE").as_deref() {
        Ok("natter") => return natter_receiver().await,
        Ok("quinn") => return quinn_receiver().await,
        Ok("idle") => return idle_node().await,
        _ => {}
    }
    eprintln!("node bench: CPU per message received ({MESSAGES} messages, {IN_FLIGHT} in flight)");
    let t = Instant::now();
    let natter = natter_cpu_per_message().await;
    let quinn = quinn_cpu_per_message().await;
    eprintln!(
        "node bench: idle, {CONTACTS} contacts and none ({} s each)",
        IDLE.as_secs()
    );
    let (rss0, cpu0) = idle(0);
    let (rss1, cpu1) = idle(CONTACTS);
    println!("| figure | Natter | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| CPU per message received (stored durably, acked), receiving process | {natter:.1} µs | raw quinn receiver, 200 B per stream + 1 B answer: {quinn:.1} µs | {:.2}× |",
        natter / quinn
    );
    println!(
        "| idle node RSS, {CONTACTS} contacts | {:.1} MiB | the same node, no contacts: {:.1} MiB | {:.2}× ({:.1} KiB per contact) |",
        rss1 as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        rss1 as f64 / rss0 as f64,
        (rss1 as f64 - rss0 as f64) / CONTACTS as f64
    );
    println!(
        "| idle node CPU over {} s, {CONTACTS} contacts | {cpu1:.0} ms | no contacts: {cpu0:.0} ms | {:.1} ms more |",
        IDLE.as_secs(),
        cpu1 - cpu0
    );
    println!(
        "(each side a process of its own; CPU from getrusage; {:.0} s in all)",
        t.elapsed().as_secs_f64()
    );
}
