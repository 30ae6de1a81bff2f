//! What an operator watches: a health answer and Prometheus metrics over plain HTTP on the
//! address `--metrics` names (keep it on a private network: it tells how many clients a
//! node holds, nothing about who), and systemd's readiness (`sd_notify`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Backend, State, lock};

/// What the node counted since it started.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) registrations: AtomicU64,
    pub(super) lookups: AtomicU64,
    pub(super) deposits: AtomicU64,
    pub(super) fetches: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) rate_limited: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The first request line a client may send, in bytes (`GET /metrics HTTP/1.1`).
const MAX_REQUEST: usize = 1024;

/// Serves `GET /health` and `GET /metrics` on `listener` until the task is aborted.
pub(super) async fn serve(state: Arc<State>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_REQUEST];
            let mut n = 0;
            // The request line and headers, up to their end or the cap, within 2 s.
            let read = async {
                while n < buf.len() {
                    match stream.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(2), read)
                .await
                .is_err()
            {
                return;
            }
            let line = buf[..n].split(|b| *b == b'\r').next().unwrap_or_default();
            let (status, body) = match line {
                l if l.starts_with(b"GET /metrics ") => ("200 OK", metrics(&state)),
                l if l.starts_with(b"GET /health ") => match health(&state).await {
                    Ok(()) => ("200 OK", "ok\n".to_string()),
                    Err(e) => ("503 Service Unavailable", format!("{e}\n")),
                },
                _ => ("404 Not Found", "GET /health or /metrics\n".to_string()),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Healthy: serving, and in Redis mode Redis answers within a second.
async fn health(state: &State) -> Result<(), String> {
    match &state.backend {
        Backend::Sqlite(_) => Ok(()),
        Backend::Redis(c) => match tokio::time::timeout(Duration::from_secs(1), c.beat()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("Redis did not answer within 1 s".into()),
        },
    }
}

fn metrics(state: &State) -> String {
    let c = &state.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let relay = state.relay.stats();
    let rows: [(&str, &str, &str, u64); 11] = [
        (
            "natter_clients",
            "gauge",
            "Clients registered at this node now",
            lock(&state.online).len() as u64,
        ),
        (
            "natter_registrations_total",
            "counter",
            "Registrations and renewals accepted",
            get(&c.registrations),
        ),
        (
            "natter_lookups_total",
            "counter",
            "Lookups answered (each of a batch counts)",
            get(&c.lookups),
        ),
        (
            "natter_deposits_total",
            "counter",
            "Sealed messages deposited",
            get(&c.deposits),
        ),
        (
            "natter_fetches_total",
            "counter",
            "Mailbox fetches",
            get(&c.fetches),
        ),
        (
            "natter_refused_total",
            "counter",
            "Requests refused",
            get(&c.refused),
        ),
        (
            "natter_rate_limited_total",
            "counter",
            "Requests answered RateLimited",
            get(&c.rate_limited),
        ),
        (
            "natter_relay_clients",
            "gauge",
            "Clients with a relay open",
            relay.clients as u64,
        ),
        (
            "natter_relay_packets_total",
            "counter",
            "Relay packets forwarded",
            relay.packets,
        ),
        (
            "natter_relay_bytes_total",
            "counter",
            "Relay bytes forwarded",
            relay.bytes,
        ),
        (
            "natter_relay_dropped_total",
            "counter",
            "Relay frames dropped",
            relay.dropped,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in rows {
        out.push_str(&format!(
            "# HELP {name} {help}.\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    let redis = u64::from(matches!(state.backend, Backend::Redis(_)));
    out.push_str(&format!(
        "# HELP natter_redis_mode 1 when this node shares its state through Redis.\n# TYPE natter_redis_mode gauge\nnatter_redis_mode {redis}\n"
    ));
    out
}

/// Tells systemd (`Type=notify`) how the service is: `READY=1`, `STOPPING=1`. Nothing
/// without `NOTIFY_SOCKET`.
pub fn sd_notify(what: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return;
        };
        let path = path.to_string_lossy().into_owned();
        let addr = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&path),
        };
        let sent = UnixDatagram::unbound()
            .and_then(|s| addr.and_then(|a| s.send_to_addr(what.as_bytes(), &a)));
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot tell systemd {what}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = what;
}
