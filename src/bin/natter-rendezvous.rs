//! natter-rendezvous: the rendezvous server. Argument parsing only; the work is in
//! `natter::rendezvous::server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use natter::rendezvous::server::{RelayConfig, Server, ServerConfig};

#[derive(Parser)]
#[command(
    name = "natter-rendezvous",
    version = natter::VERSION,
    about = "Natter's rendezvous server: finds peers, carries dial signals and sealed mail, and relays for peers that consent"
)]
struct Args {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:47200")]
    listen: SocketAddr,
    /// TCP address for clients whose network lets no UDP out (e.g. `0.0.0.0:443`): the same
    /// service, carried in TLS over TCP. Off unless given.
    #[arg(long)]
    listen_tcp: Option<SocketAddr>,
    /// Folder for the server identity and its database.
    #[arg(long, default_value = "natter-rendezvous-data")]
    data: PathBuf,
    /// Days a sealed message waits before it expires undelivered.
    #[arg(long, default_value_t = 30)]
    mail_days: u64,
    /// Seconds a sealed message waits (overrides --mail-days; for tests).
    #[arg(long, hide = true)]
    mail_ttl_secs: Option<u64>,
    /// MiB of sealed mail the server stores in all; a deposit past it is refused (the
    /// sender keeps the message).
    #[arg(long, default_value_t = 1024)]
    mail_total_mib: u64,
    /// MiB of mail one sender key may have waiting in all mailboxes together.
    #[arg(long, default_value_t = 128)]
    mail_sender_mib: u64,
    /// MiB of mail one IPv4 address or IPv6 /64 may deposit per day, whatever keys it uses.
    #[arg(long, default_value_t = 128)]
    mail_source_mib_per_day: u64,
    /// Days an account lives without registering; then it is deleted with its mail, its
    /// handle and its lookup tokens.
    #[arg(long, default_value_t = 90)]
    account_days: u64,
    /// Seconds an account lives without registering (overrides --account-days; for tests).
    #[arg(long, hide = true)]
    account_ttl_secs: Option<u64>,
    /// Requests per second one client identity may make.
    #[arg(long, default_value_t = 20)]
    requests_per_second: u32,
    /// Burst of requests one client identity may make.
    #[arg(long, default_value_t = 40)]
    request_burst: u32,
    /// New connections per second from one IP address.
    #[arg(long, default_value_t = 20)]
    handshakes_per_second: u32,
    /// Burst of new connections from one IP address.
    #[arg(long, default_value_t = 50)]
    handshake_burst: u32,
    /// Relay encrypted QUIC packets between clients that both consent and allow each other
    /// (for pairs whose NATs let no direct path exist).
    #[arg(long)]
    relay: bool,
    /// Bytes per second one client may send through the relay.
    #[arg(long, default_value_t = 4 << 20)]
    relay_rate: u32,
    /// Burst of bytes one client may send through the relay at once.
    #[arg(long, default_value_t = 1 << 20)]
    relay_burst: u32,
    /// Share accounts, presence, mail, handles and the room directory with the other nodes
    /// of this deployment in this Redis (`redis://host:6379/0`). Every
    /// node needs the same key file in --data, which then holds nothing else. Redis must run
    /// with `appendonly yes` and `appendfsync always`.
    #[arg(long, env = "NATTER_REDIS")]
    redis: Option<String>,
    /// Answer `GET /health` and `GET /metrics` (Prometheus text) over plain HTTP here, e.g.
    /// `127.0.0.1:9464`; keep it private. Off unless given.
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

const MIB: u64 = 1 << 20;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = ServerConfig::new(args.listen, &args.data);
    config.listen_tcp = args.listen_tcp;
    config.mail_ttl =
        std::time::Duration::from_secs(args.mail_ttl_secs.unwrap_or(args.mail_days * 24 * 3600));
    config.total_bytes = args.mail_total_mib.saturating_mul(MIB);
    config.sender_bytes = args.mail_sender_mib.saturating_mul(MIB);
    config.source_bytes_per_day = args.mail_source_mib_per_day.saturating_mul(MIB);
    config.account_ttl = std::time::Duration::from_secs(
        args.account_ttl_secs
            .unwrap_or(args.account_days.saturating_mul(24 * 3600)),
    );
    config.limits.requests_per_peer = args.requests_per_second;
    config.limits.request_burst = args.request_burst;
    config.limits.handshakes_per_ip = args.handshakes_per_second;
    config.limits.handshake_burst = args.handshake_burst;
    config.relay = RelayConfig {
        enabled: args.relay,
        bytes_per_second: args.relay_rate,
        burst_bytes: args.relay_burst,
    };
    config.redis = args.redis;
    config.metrics = args.metrics;
    let server = Server::open(config)
        .await
        .context("cannot start the rendezvous")?;
    let addr = server
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let tcp = server.local_tcp_addr().map(|a| a.to_string());
    let metrics = server.local_metrics_addr().map(|a| a.to_string());
    // One line a script can read: where we are and the key clients must pin.
    say(serde_json::json!({
        "event": "listening", "addr": addr, "key": server.peer_id().to_string(), "relay": args.relay,
        "tcp": tcp, "metrics": metrics,
    }));
    // Under systemd (Type=notify): serving from here on.
    natter::rendezvous::server::sd_notify("READY=1");
    // The relay's counters, as a line whenever they changed (at most every 2 s).
    let stats = server.stats_handle();
    if args.relay {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut last = stats.relay();
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let now = stats.relay();
                if now != last {
                    say(serde_json::json!({ "event": "relay_stats", "relay": now }));
                    last = now;
                }
            }
        });
    }
    let stop = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    let stop = async {
        stop.await;
        natter::rendezvous::server::sd_notify("STOPPING=1");
    };
    server.run(stop).await;
    say(serde_json::json!({ "event": "stopped", "relay": stats.relay() }));
    Ok(())
}

/// One JSON line on stdout; a closed stdout (its reader went away) is not an error.
fn say(v: serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}").and_then(|()| out.flush());
}
