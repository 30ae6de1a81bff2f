//! natter-rendezvous: the rendezvous server. Argument parsing only; the work is in
//! `natter::rendezvous::server`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use natter::rendezvous::server::{RelayConfig, Server, ServerConfig};

#[derive(Parser)]
#[command(
    name = "natter-rendezvous",
    version = natter::VERSION,
    about = "Natter's rendezvous server: finds peers, carries dial signals and sealed mail, and relays for peers that consent",
    // The config file's settings come first as flags; the command line's own then win.
    args_override_self = true
)]
struct Args {
    /// A TOML file of settings, one per flag, named as the flag with `_` for `-`
    /// (`listen = "0.0.0.0:47200"`, `relay = true`, `redis = "redis://…"`). A flag on the
    /// command line wins over the file, and NATTER_REDIS over its `redis`.
    #[arg(long, env = "NATTER_RENDEZVOUS_CONFIG")]
    config: Option<PathBuf>,
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
    let args = parse_args()?;
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
    // SIGTERM is ours before anyone can read that we listen (a TERM right after READY=1
    // must stop us cleanly, not kill us).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
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

/// The command line, after the config file's settings (`--config`, or NATTER_RENDEZVOUS_CONFIG)
/// turned into flags in front of it.
fn parse_args() -> Result<Args> {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let path = config_path(&argv).or_else(|| std::env::var_os("NATTER_RENDEZVOUS_CONFIG"));
    if let Some(path) = path.map(PathBuf::from) {
        let flags = file_flags(&path, &Args::command())?;
        argv.splice(1..1, flags);
    }
    Ok(Args::parse_from(argv))
}

/// `--config FILE` or `--config=FILE` on the command line.
fn config_path(argv: &[OsString]) -> Option<OsString> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().cloned();
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(path.into());
        }
    }
    None
}

/// The file's settings as flags: `key = "text"` or a number gives `--key value`, `key = true`
/// gives `--key`, `key = false` nothing. Unknown keys and values of the wrong kind are errors
/// that name the key.
fn file_flags(path: &Path, command: &clap::Command) -> Result<Vec<OsString>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {shown}; fix the --config path"))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("the config file {shown} is not valid TOML"))?;
    let settable: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "config" && a.get_long().is_some())
        .collect();
    let key_of = |a: &clap::Arg| a.get_long().unwrap_or_default().replace('-', "_");
    let mut flags = Vec::new();
    for (key, value) in table {
        let Some(arg) = settable.iter().find(|a| key_of(a) == key) else {
            let keys: Vec<String> = settable.iter().map(|a| key_of(a)).collect();
            bail!(
                "the config file {shown} has an unknown key {key:?}; the keys are: {}",
                keys.join(", ")
            );
        };
        if key == "redis" && std::env::var_os("NATTER_REDIS").is_some() {
            continue;
        }
        let flag = OsString::from(format!("--{}", arg.get_long().unwrap_or_default()));
        let takes_value = arg.get_action().takes_values();
        match value {
            toml::Value::String(text) if takes_value => flags.extend([flag, text.into()]),
            toml::Value::Integer(n) if takes_value => flags.extend([flag, n.to_string().into()]),
            toml::Value::Boolean(true) if !takes_value => flags.push(flag),
            toml::Value::Boolean(false) if !takes_value => {}
            other => bail!(
                "the config file {shown} sets {key} = {}; give {}",
                written(&other),
                match takes_value {
                    true => "a string or a number",
                    false => "true or false",
                }
            ),
        }
    }
    Ok(flags)
}

/// A setting's value as the file wrote it (for errors).
fn written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// One JSON line on stdout; a closed stdout (its reader went away) is not an error.
fn say(v: serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}").and_then(|()| out.flush());
}
