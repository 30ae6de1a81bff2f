//! The desktop app's start-up time, idle memory and idle CPU, with a 100,000-message history
//! against an empty profile in the same run, under Xvfb (no GPU: the app picks iced's software renderer;
//! a second set of rows forces wgpu, which runs on llvmpipe here).
//! - start: from spawning `natter` to its window being mapped, and to the first view built
//!   with the node up and the profile loaded (logged by the app, `natter_ui::startup`). The
//!   page cache is warm (the binary ran just before), so "cold" means a new process.
//! - idle RSS: VmRSS 3 s after the conversation with 100,000 messages was opened (200 loaded,
//!   more as the user scrolls up), against the empty profile's idle main window.
//! - idle CPU: the app's CPU time over 10 s with that conversation open, then 10 s with its
//!   window hidden (unmapped, as when it is closed to the tray): hidden should cost nothing.
//! - scrolling: that conversation scrolled up wheel notch by wheel notch, each frame's time
//!   (event, update, view, layout, draw, software rasterising: `support/scroll.rs`) against
//!   a 60 Hz frame's 16.7 ms.
//!
//! Run: `cargo bench -p natter-ui --bench gui` (needs xvfb and xdotool: `./scripts/test`
//! installs them). Loopback only; LAN discovery off.
#![allow(clippy::unwrap_used)] // a bench program: fail loudly

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter::model::Contact;
use natter::node::{Node, NodeConfig, NodeHandle};

const BIN: &str = env!("CARGO_BIN_EXE_natter");
const MESSAGES: usize = 100_000;
/// How long idle CPU is counted, visible and hidden.
const IDLE: Duration = Duration::from_secs(10);
const STARTS: usize = 5;
/// Wheel notches (60 px each) scrolled up the long conversation.
const NOTCHES: usize = 1500;
/// A frame at 60 Hz.
const FRAME: Duration = Duration::from_micros(16_667);

#[path = "support/scroll.rs"]
mod scroll;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(dir: &Path) -> NodeHandle {
    let mut c = NodeConfig::new(dir);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.discovery = None;
    Node::start(c).await.unwrap().0
}

/// A profile with `n` messages with one contact (half sent, half received, all delivered).
async fn seeded(n: usize) -> tempfile::TempDir {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start(da.path()).await, start(db.path()).await);
    let mut ca = Contact::new(a.peer_id());
    ca.addr = Some(a.local_addr().unwrap().to_string());
    b.add_contact(ca).await.unwrap();
    let mut cb = Contact::new(b.peer_id());
    cb.nickname = "Bob".into();
    cb.addr = Some(b.local_addr().unwrap().to_string());
    a.add_contact(cb).await.unwrap();
    // 64 sends in flight at a time, from both sides.
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..n / 2 {
        for (from, to, text) in [
            (
                &a,
                b.peer_id(),
                format!("message {i} from the app's user, a line of ordinary length"),
            ),
            (
                &b,
                a.peer_id(),
                format!("answer {i} from their contact, also a plain line"),
            ),
        ] {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let from = from.clone();
            tokio::spawn(async move {
                from.send(to, text).await.unwrap();
                drop(permit);
            });
        }
    }
    let t = Instant::now();
    while a.history(b.peer_id(), n + 1, None).await.unwrap().len() < n {
        assert!(t.elapsed() < Duration::from_secs(300), "seeding stalled");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    a.set_preference(natter_ui::pref::ONBOARDED, "1")
        .await
        .unwrap();
    a.shutdown().await;
    b.shutdown().await;
    da
}

async fn empty() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let a = start(d.path()).await;
    a.set_preference(natter_ui::pref::ONBOARDED, "1")
        .await
        .unwrap();
    a.shutdown().await;
    d
}

fn xdo(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time the process has used (user + system).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis: utime and stime are the 12th
    // and 13th there (14 and 15 in all), in clock ticks.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

struct Run {
    mapped: Duration,
    ready: Duration,
    rss_kib: u64,
    /// CPU over [`IDLE`] with the window shown, then hidden (when asked for).
    idle_cpu: Option<(Duration, Duration)>,
}

/// Starts the app on a profile; measures map and ready times; opens the first conversation
/// if `open`; returns the idle RSS 3 s later, and then the idle CPU shown and hidden if
/// `idle`.
fn run(display: &str, profile: &Path, backend: Option<&str>, open: bool, idle: bool) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.env("DISPLAY", display)
        .env("NATTER_PROFILE", profile)
        .env("NATTER_MDNS", "off")
        .env("NATTER_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "natter_ui::startup=info")
        .env("NO_COLOR", "1")
        .env("NATTER_LOG_DIR", profile.join("logs"))
        .env_remove("ICED_BACKEND")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(b) = backend {
        cmd.env("ICED_BACKEND", b);
    }
    let t = Instant::now();
    let mut child = Killed(cmd.spawn().unwrap());
    // The app logs to stderr; its lines are kept for a failure's message.
    let stderr = child.0.stderr.take().unwrap();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = said.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut all) = kept.lock() {
                all.push_str(&line);
                all.push('\n');
            }
            if line.contains("ready view") {
                let ms = line
                    .split("ms=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok());
                let _ = tx.send(ms);
            }
        }
    });
    let wid = loop {
        let ids = xdo(display, &["search", "--name", "^Natter"]);
        if let Some(id) = ids.lines().next().filter(|s| !s.is_empty()) {
            break id.to_string();
        }
        let exited = child.0.try_wait().ok().flatten();
        assert!(
            t.elapsed() < Duration::from_secs(60) && exited.is_none(),
            "no window (exit {exited:?}): {}",
            said.lock().map(|s| s.clone()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let mapped = t.elapsed();
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .map(|ms| Duration::from_secs_f64(ms / 1e3))
        .expect("the app logs its ready view");
    std::thread::sleep(Duration::from_millis(500));
    if open {
        // The first buddy in the list (layout of ui/tests/snapshots, 1024×768).
        xdo(
            display,
            &["mousemove", "--window", &wid, "150", "218", "click", "1"],
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss_kib = rss_kib(child.0.id());
    let idle_cpu = idle.then(|| {
        let pid = child.0.id();
        let before = cpu(pid);
        std::thread::sleep(IDLE);
        let shown = cpu(pid) - before;
        // Hidden as the tray hides it: the window is unmapped.
        xdo(display, &["windowunmap", &wid]);
        std::thread::sleep(Duration::from_secs(1));
        let before = cpu(pid);
        std::thread::sleep(IDLE);
        (shown, cpu(pid) - before)
    });
    Run {
        mapped,
        ready,
        rss_kib,
        idle_cpu,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    for tool in ["Xvfb", "xdotool"] {
        let found = Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: ./scripts/test installs xvfb and xdotool"
        );
    }
    let display = format!(":{}", 500 + std::process::id() % 100);
    let _x = Killed(
        Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !Command::new("xwininfo")
        .env("DISPLAY", &display)
        .arg("-root")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Xvfb on {display} did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("Xvfb on {display}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let full = rt.block_on(seeded(MESSAGES));
    eprintln!("seeded {MESSAGES} messages in {:?}", t.elapsed());
    let none = rt.block_on(empty());
    println!("| figure | Natter, 100,000 messages | baseline: empty profile | ratio |");
    println!("|---|---|---|---|");
    let backends = [
        (None, "auto (software: no GPU)"),
        (Some("wgpu"), "wgpu (llvmpipe)"),
    ];
    for (backend, label) in backends {
        let _ = run(&display, none.path(), backend, false, false); // warm the page cache
        let (mut fm, mut fr, mut em, mut er) = (vec![], vec![], vec![], vec![]);
        let (mut full_rss, mut empty_rss) = (0, 0);
        let (mut full_cpu, mut empty_cpu) = (None, None);
        for i in 0..STARTS {
            // Idle CPU once, with the software renderer (the one this machine uses).
            let idle = i == 0 && backend.is_none();
            let f = run(&display, full.path(), backend, i == 0, idle);
            let e = run(&display, none.path(), backend, false, idle);
            if i == 0 {
                (full_rss, empty_rss) = (f.rss_kib, e.rss_kib);
                (full_cpu, empty_cpu) = (f.idle_cpu, e.idle_cpu);
            }
            fm.push(f.mapped);
            fr.push(f.ready);
            em.push(e.mapped);
            er.push(e.ready);
        }
        let (fm, fr, em, er) = (median(fm), median(fr), median(em), median(er));
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "| {label}: start → window mapped (median of {STARTS}) | {} | {} | {:.2}× |",
            ms(fm),
            ms(em),
            ratio(fm, em)
        );
        println!(
            "| {label}: start → first view with the profile loaded | {} | {} | {:.2}× |",
            ms(fr),
            ms(er),
            ratio(fr, er)
        );
        println!(
            "| {label}: idle RSS, conversation open | {:.1} MiB | {:.1} MiB | {:.2}× |",
            full_rss as f64 / 1024.0,
            empty_rss as f64 / 1024.0,
            full_rss as f64 / empty_rss.max(1) as f64
        );
        if let (Some((fs, fh)), Some((es, eh))) = (full_cpu, empty_cpu) {
            let per_s =
                |d: Duration| format!("{:.1} ms/s", d.as_secs_f64() * 1e3 / IDLE.as_secs_f64());
            println!(
                "| {label}: idle CPU, window shown, conversation open | {} | {} | — |",
                per_s(fs),
                per_s(es)
            );
            println!(
                "| {label}: idle CPU, window hidden (tray) | {} | {} | — (target ≈ 0) |",
                per_s(fh),
                per_s(eh)
            );
        }
    }
    let frames = rt.block_on(async {
        let node = start(full.path()).await;
        let peer = node.contacts().await.unwrap()[0].peer;
        let frames = scroll::scroll_up(&node, peer, NOTCHES).await;
        node.shutdown().await;
        frames
    });
    assert!(frames.pages > 0, "scrolling up loaded no older page");
    let (p50, p99, max) = (frames.pct(0.5), frames.pct(0.99), frames.pct(1.0));
    println!(
        "| software renderer: scrolling up {NOTCHES} wheel notches ({} frames, {} older pages loaded), frame time p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | one frame at 60 Hz: {:.1} ms | p99 {:.2}× |",
        frames.times.len(),
        frames.pages,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        FRAME.as_secs_f64() * 1e3,
        p99.as_secs_f64() / FRAME.as_secs_f64()
    );
}
