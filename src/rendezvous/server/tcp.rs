//! The server's TCP listener (`--listen-tcp`): each connection, once its outer TLS is done,
//! is a tunnel whose mapped address stands for the client on the one QUIC endpoint, so
//! every function (register, lookups, mail, handles, the relay) is served the same way as
//! over UDP. New connections are rate limited per source IP like QUIC handshakes, the outer
//! handshake has a deadline, and the number of tunnels is capped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::Instrument;

use super::{State, lock};
use crate::transport::tunnel;

/// Most tunnels open at once (each holds a mapped address and two small queues).
const MAX_TUNNELS: usize = 16_384;
/// How long a client may take to finish the outer TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Accepts TCP clients until the task is aborted.
pub(super) async fn accept(
    state: Arc<State>,
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
) {
    let next = AtomicU64::new(1);
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await; // out of descriptors: breathe
            continue;
        };
        if !state.limits.handshake(from.ip()) {
            tracing::debug!(%from, "TCP connection rate limit: closed");
            continue;
        }
        if lock(&state.tcp_clients).len() >= MAX_TUNNELS {
            tracing::debug!(%from, "too many TCP clients: closed");
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let id = next.fetch_add(1, Ordering::Relaxed);
        let (state, tls) = (state.clone(), tls.clone());
        let span = tracing::info_span!("tcp", %from, id);
        tokio::spawn(
            async move {
                let stream = match tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "outer TLS failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("outer TLS took too long");
                        return;
                    }
                };
                if state.tunnels.map(id).is_none() {
                    return;
                }
                lock(&state.tcp_clients).insert(id, from);
                tracing::debug!("tunnel open");
                let ended = tunnel::pump(stream, state.tunnels.clone(), id).await;
                lock(&state.tcp_clients).remove(&id);
                tracing::debug!(?ended, "tunnel closed");
            }
            .instrument(span),
        );
    }
}
