//! Rendezvous deployments for the benches: one `natter-rendezvous` process (memory and
//! SQLite), or three over one `redis-server` of their own (Redis mode, durable as it
//! requires), on loopback with their limits raised for a load test; or the bench program
//! itself in a server role (a baseline).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter::rendezvous::RendezvousConfig;

/// Running servers (and the Redis they share); killed when dropped.
pub(crate) struct Deployment {
    pub(crate) name: &'static str,
    pub(crate) configs: Vec<RendezvousConfig>,
    /// The rendezvous processes.
    pub(crate) nodes: Vec<u32>,
    /// Every process whose CPU and memory count: the nodes, and Redis.
    pub(crate) pids: Vec<u32>,
    children: Vec<Child>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const RAISED: [&str; 8] = [
    "--requests-per-second",
    "1000000",
    "--request-burst",
    "1000000",
    "--handshakes-per-second",
    "1000000",
    "--handshake-burst",
    "1000000",
];

/// One node; `wrap` runs it under a profiler (e.g. `heaptrack`).
pub(crate) fn one_node(data: &Path, wrap: Option<&str>) -> Deployment {
    let (child, config) = node(data, &[], wrap);
    Deployment {
        name: "one node",
        configs: vec![config],
        nodes: vec![child.id()],
        pids: vec![child.id()],
        children: vec![child],
    }
}

/// Three nodes of one deployment over one Redis.
pub(crate) fn three_nodes(dir: &Path) -> Deployment {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    std::fs::create_dir_all(dir.join("redis")).expect("dir");
    let redis = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(dir.join("redis"))
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs (Debian: apt install redis-server)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("redis://127.0.0.1:{port}/");
    let mut d = Deployment {
        name: "three nodes over Redis",
        configs: Vec::new(),
        nodes: Vec::new(),
        pids: vec![redis.id()],
        children: vec![redis],
    };
    for i in 0..3 {
        let data = dir.join(format!("n{i}"));
        if i > 0 {
            std::fs::create_dir_all(&data).expect("dir");
            std::fs::copy(dir.join("n0/identity.pem"), data.join("identity.pem"))
                .expect("the deployment's key");
        }
        let (child, config) = node(&data, &["--redis", &url], None);
        d.nodes.push(child.id());
        d.pids.push(child.id());
        d.children.push(child);
        d.configs.push(config);
    }
    d
}

fn node(data: &Path, extra: &[&str], wrap: Option<&str>) -> (Child, RendezvousConfig) {
    let bin = env!("CARGO_BIN_EXE_natter-rendezvous");
    let mut command = match wrap {
        Some(w) => {
            let mut c = Command::new(w);
            c.arg(bin);
            c
        }
        None => Command::new(bin),
    };
    command
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(RAISED)
        .args(extra)
        .env("RUST_LOG", "warn");
    spawn(command)
}

/// The bench program itself again, in `role` (`NATTER_BENCH_ROLE`): a server of its own that
/// prints its address and key as `natter-rendezvous` does (the raw quinn baseline).
pub(crate) fn role(name: &'static str, role: &str) -> Deployment {
    let mut command = Command::new(std::env::current_exe().expect("the bench program"));
    command.env("NATTER_BENCH_ROLE", role);
    let (child, config) = spawn(command);
    Deployment {
        name,
        configs: vec![config],
        nodes: vec![child.id()],
        pids: vec![child.id()],
        children: vec![child],
    }
}

/// Starts `command` and reads the address and key from the first JSON line it prints.
fn spawn(mut command: Command) -> (Child, RendezvousConfig) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    // The first JSON line (a wrapper may print its own lines before it).
    let v: serde_json::Value = BufReader::new(child.stdout.take().expect("stdout"))
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
    (child, config)
}
