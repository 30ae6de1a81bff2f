//! The rendezvous server (cargo feature `server`): a QUIC endpoint with its own identity that
//! keeps presence in memory, accounts (newest record + lookup tokens) and the sealed mailbox in
//! SQLite, answers lookups only for peers the target allows, forwards dial signals, and rate
//! limits per IP and per identity. Unused accounts expire, and stored mail is capped per
//! recipient, per sender, per source and in all. It never sees message content: mail is
//! sealed end to end. With `--redis URL` ([`ServerConfig::redis`]) any number of nodes share
//! accounts, presence, mail, handles and the directory in one Redis (`cluster`), and each
//! node reaches the clients the others hold through it (`holders`).

mod accounts;
mod budget;
mod cluster;
mod db;
mod deployment;
mod directory;
mod holders;
mod limits;
mod mail;
mod ops;
mod pushes;
mod relay;
mod requests;
mod tcp;
mod writer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::Instrument;

pub use limits::Limits;
pub use ops::sd_notify;
use pushes::PushHandle;
pub use relay::{RelayConfig, RelayStats};

use super::proto::{self, Empty, Push, Refused, SignedRecord, push, response};
use super::record;
use crate::identity::{Identity, PeerId};
use crate::transport;

/// How a server starts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// TCP address for clients whose network lets no UDP out (`--listen-tcp`, e.g.
    /// `0.0.0.0:443`): the same service, QUIC carried in a TLS stream (`transport::tunnel`).
    pub listen_tcp: Option<SocketAddr>,
    /// Folder for the identity and the database.
    pub data: PathBuf,
    /// Rate limits.
    pub limits: Limits,
    /// How long mail waits before it expires undelivered.
    pub mail_ttl: Duration,
    /// Most waiting messages per recipient.
    pub quota_items: u32,
    /// Most waiting bytes per recipient.
    pub quota_bytes: u64,
    /// Most bytes one sender key may have waiting in all mailboxes together (each message
    /// counts its sealed bytes and 512 for its row).
    pub sender_bytes: u64,
    /// Most bytes waiting at the server in all (counted as `sender_bytes`); a deposit past it
    /// is refused.
    pub total_bytes: u64,
    /// Bytes one source (IPv4 address or IPv6 /64) may deposit per day, all of it at once,
    /// whatever keys it uses.
    pub source_bytes_per_day: u64,
    /// How long an account lives without registering; then it goes with its mail, handle
    /// and tokens.
    pub account_ttl: Duration,
    /// Whether and how it relays.
    pub relay: RelayConfig,
    /// Redis mode: the URL of the Redis every node of the deployment shares (`redis://…`);
    /// `data` then holds only the deployment's key. `None`: memory and SQLite in `data`.
    pub redis: Option<String>,
    /// Where to answer `GET /health` and `GET /metrics` (plain HTTP; `None`: nowhere).
    pub metrics: Option<SocketAddr>,
}

impl ServerConfig {
    /// Defaults for a data folder: 30-day mail, 1000 messages / 16 MiB per recipient,
    /// 128 MiB per sender, 128 MiB per source a day, 1 GiB in all, 90-day accounts
    /// (docs/SECURITY.md says why).
    pub fn new(listen: SocketAddr, data: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            listen_tcp: None,
            data: data.into(),
            limits: Limits::default(),
            mail_ttl: Duration::from_secs(30 * 24 * 3600),
            quota_items: 1000,
            quota_bytes: 16 << 20,
            sender_bytes: 128 << 20,
            total_bytes: 1 << 30,
            source_bytes_per_day: 128 << 20,
            account_ttl: Duration::from_secs(90 * 24 * 3600),
            relay: RelayConfig::default(),
            redis: None,
            metrics: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Identity file problem.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// Socket / TLS problem.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// Database problem.
    #[error("rendezvous database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database's schema could not be brought up to date.
    #[error("cannot update the rendezvous database's schema: {0}")]
    Schema(String),
    /// Folder problem.
    #[error("cannot use the data folder {0}: {1}")]
    Data(PathBuf, std::io::Error),
    /// Redis mode could not start.
    #[error("{0}")]
    Redis(String),
    /// Redis mode was asked of the synchronous constructor.
    #[error("a server in Redis mode starts with Server::open")]
    NeedsOpen,
}

/// Where the shared state lives.
enum Backend {
    /// One node: accounts in memory and SQLite, mail and handles in SQLite.
    Sqlite(writer::Db),
    /// Many nodes over one Redis.
    Redis(Arc<cluster::Cluster>),
}

struct Online {
    conn: usize,
    signed: SignedRecord,
    observed: SocketAddr,
    expires_ms: u64,
    push: PushHandle,
    /// Invisible: only holders of these tokens see it online.
    hidden: Option<std::collections::HashSet<[u8; 32]>>,
}

struct State {
    config: ServerConfig,
    online: Mutex<HashMap<PeerId, Online>>,
    /// Accounts (SQLite mode; in Redis mode they live there).
    accounts: Mutex<HashMap<PeerId, accounts::Account>>,
    backend: Backend,
    limits: limits::Limiters,
    /// Each source's deposit budget.
    budget: Mutex<budget::Budget>,
    relay: relay::Relay,
    /// Public rooms listed here, and pending knocks.
    directory: Mutex<directory::Directory>,
    next_conn: AtomicUsize,
    /// What the node counted (`/metrics`).
    counters: ops::Counters,
    /// Clients on TCP: each tunnel's mapped address stands for it on the endpoint.
    tunnels: Arc<transport::TunnelLink>,
    /// The real address of each tunnel (what such a client is observed at).
    tcp_clients: Mutex<HashMap<u64, SocketAddr>>,
}

impl State {
    /// Where a client's packets come from: its UDP address, or for a client on TCP the
    /// TCP address behind its tunnel.
    fn observed(&self, remote: SocketAddr) -> SocketAddr {
        self.tunnels
            .key_of(remote)
            .and_then(|id| lock(&self.tcp_clients).get(&id).copied())
            .unwrap_or(remote)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    crate::store::now_ms().max(0) as u64
}

/// A running server.
pub struct Server {
    endpoint: quinn::Endpoint,
    tcp: Option<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
    identity: Identity,
    state: Arc<State>,
}

impl Server {
    /// Opens the data folder (identity, database) and binds the socket (SQLite mode only:
    /// Redis mode starts with [`Server::open`]).
    pub fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        if config.redis.is_some() {
            return Err(ServerError::NeedsOpen);
        }
        std::fs::create_dir_all(&config.data)
            .map_err(|e| ServerError::Data(config.data.clone(), e))?;
        let identity = Identity::load_or_create(&config.data)?;
        let mut conn = db::open(&config.data.join("rendezvous.sqlite3"))?;
        db::migrate(&mut conn, now_ms()).map_err(|e| ServerError::Schema(e.to_string()))?;
        let accounts = db::load_accounts(&conn)?
            .into_iter()
            .filter_map(|a| {
                let v = record::verify(&a.signed, Some(&a.peer)).ok()?;
                Some((
                    a.peer,
                    accounts::Account {
                        issued_ms: v.record.issued_ms,
                        prekey: v.prekey,
                        signed: a.signed,
                        tokens: a.tokens,
                        saved_ms: a.registered_ms,
                    },
                ))
            })
            .collect();
        let db = writer::Db::start(conn).map_err(|e| ServerError::Data(config.data.clone(), e))?;
        Self::with(config, identity, Backend::Sqlite(db), accounts)
    }

    /// Opens the server in either mode: with `config.redis`, connects to that Redis (which
    /// must serve this key's deployment or none, and keep what it acknowledges); else as
    /// [`Server::bind`].
    pub async fn open(config: ServerConfig) -> Result<Self, ServerError> {
        let Some(url) = config.redis.clone() else {
            return Self::bind(config);
        };
        std::fs::create_dir_all(&config.data)
            .map_err(|e| ServerError::Data(config.data.clone(), e))?;
        let identity = Identity::load_or_create(&config.data)?;
        let cluster = cluster::Cluster::connect(&url, &identity.peer_id())
            .await
            .map_err(|e| ServerError::Redis(e.to_string()))?;
        let server = Self::with(
            config,
            identity,
            Backend::Redis(Arc::new(cluster)),
            HashMap::new(),
        )?;
        deployment::load_directory(&server.state)
            .await
            .map_err(|e| ServerError::Redis(e.to_string()))?;
        Ok(server)
    }

    fn with(
        config: ServerConfig,
        identity: Identity,
        backend: Backend,
        accounts: HashMap<PeerId, accounts::Account>,
    ) -> Result<Self, ServerError> {
        let (endpoint, links) = transport::endpoint_for(
            &identity,
            config.listen,
            proto::ALPN,
            transport::signalling_config(proto::MAX_MESSAGE, 8),
        )?;
        let tcp = config.listen_tcp.map(tcp_listener).transpose()?;
        let metrics = config.metrics.map(tcp_listener).transpose()?;
        let limits = limits::Limiters::new(&config.limits);
        let relay = relay::Relay::new(config.relay);
        let budget = Mutex::new(budget::Budget::new(config.source_bytes_per_day));
        Ok(Self {
            endpoint,
            tcp,
            metrics,
            identity,
            state: Arc::new(State {
                config,
                online: Mutex::new(HashMap::new()),
                accounts: Mutex::new(accounts),
                backend,
                limits,
                budget,
                relay,
                directory: Mutex::default(),
                next_conn: AtomicUsize::new(1),
                counters: ops::Counters::default(),
                tunnels: links.tunnel,
                tcp_clients: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The server's key (clients pin it).
    pub fn peer_id(&self) -> PeerId {
        self.identity.peer_id()
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// The bound TCP address (`listen_tcp`), if any.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound metrics address (`metrics`), if any.
    pub fn local_metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle to read the relay's counters while the server runs.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.state.clone())
    }

    /// Serves until `stop` resolves, then closes every connection. Every deposit was
    /// committed before it was answered, so nothing acknowledged is lost.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let sweeper = tokio::spawn(sweep(self.state.clone()));
        let mut bus = deployment::start(&self.state).await;
        match self.metrics.map(tokio::net::TcpListener::from_std) {
            Some(Ok(l)) => bus.push(tokio::spawn(ops::serve(self.state.clone(), l))),
            Some(Err(e)) => tracing::warn!(error = %e, "no metrics listener"),
            None => {}
        }
        let tcp = match self.tcp.map(tokio::net::TcpListener::from_std) {
            Some(Ok(listener)) => match transport::tunnel::acceptor(&self.identity) {
                Ok(tls) => Some(tokio::spawn(tcp::accept(self.state.clone(), listener, tls))),
                Err(e) => {
                    tracing::warn!(error = %e, "no TCP listener");
                    None
                }
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "no TCP listener");
                None
            }
            None => None,
        };
        let accept = async {
            while let Some(incoming) = self.endpoint.accept().await {
                let ip = incoming.remote_address().ip();
                if !self.state.limits.handshake(ip) {
                    tracing::debug!(%ip, "handshake rate limit: ignored");
                    incoming.ignore();
                    continue;
                }
                if !incoming.remote_address_validated() && self.state.limits.busy() {
                    // Many handshakes at once: make clients prove their address first.
                    let _ = incoming.retry();
                    continue;
                }
                let state = self.state.clone();
                tokio::spawn(async move {
                    state.limits.handshake_started();
                    let conn = incoming.await;
                    state.limits.handshake_ended();
                    if let Ok(conn) = conn {
                        serve(state, conn).await;
                    }
                });
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = stop => {}
        }
        sweeper.abort();
        if let Some(t) = tcp {
            t.abort();
        }
        for task in bus {
            task.abort();
        }
        // Tell every client we are going and will be back, so relayed sessions move on now
        // rather than at their idle timeout; give the pushes a moment to leave.
        for o in lock(&self.state.online).values() {
            o.push.send(Push {
                body: Some(push::Body::Restarting(Empty {})),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.endpoint.close(
            quinn::VarInt::from_u32(transport::CLOSE_RESTARTING),
            b"server restarting",
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        deployment::stopped(&self.state).await;
    }
}

/// A non-blocking TCP listener on `addr` (for tokio to take over in `run`).
fn tcp_listener(addr: SocketAddr) -> Result<std::net::TcpListener, transport::TransportError> {
    let bind = |source| transport::TransportError::Bind { addr, source };
    let l = std::net::TcpListener::bind(addr).map_err(bind)?;
    l.set_nonblocking(true).map_err(bind)?;
    Ok(l)
}

/// Reads a running server's relay counters.
#[derive(Clone)]
pub struct StatsHandle(Arc<State>);

impl StatsHandle {
    /// What the relay did so far (all zero without `--relay`).
    pub fn relay(&self) -> RelayStats {
        self.0.relay.stats()
    }
}

async fn sweep(state: Arc<State>) {
    for round in 1u64.. {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = now_ms();
        let mut expired = Vec::new();
        lock(&state.online).retain(|peer, o| {
            let live = o.expires_ms > now;
            if !live {
                expired.push(*peer);
            }
            live
        });
        holders::let_go(&state, expired);
        lock(&state.directory).expire(now);
        deployment::expire_listings(&state, now).await;
        mail::expire(&state, now).await;
        accounts::expire(&state, now).await;
        if round % 30 == 0 {
            // Every minute: sources and keys that are quiet again.
            state.limits.prune();
            lock(&state.budget).prune(now);
        }
    }
}

async fn serve(state: Arc<State>, conn: quinn::Connection) {
    let Some(peer) = transport::peer_of(&conn) else {
        return;
    };
    let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("client", peer = ?peer, remote = %state.observed(conn.remote_address()));
    async {
        tracing::debug!("connected");
        let frames = state.relay.enabled().then(|| {
            let (state, conn) = (state.clone(), conn.clone());
            tokio::spawn(
                async move {
                    while let Ok(frame) = conn.read_datagram().await {
                        state.relay.forward(&peer, &frame);
                    }
                }
                .in_current_span(),
            )
        });
        while let Ok((send, recv)) = conn.accept_bi().await {
            let state = state.clone();
            let conn = (id, conn.clone());
            tokio::spawn(requests::stream(state, peer, conn, send, recv).in_current_span());
        }
        if let Some(f) = frames {
            f.abort();
        }
        let gone = {
            let mut online = lock(&state.online);
            online.get(&peer).is_some_and(|o| o.conn == id) && online.remove(&peer).is_some()
        };
        if gone {
            holders::let_go(&state, vec![peer]);
        }
        let consented = state.relay.gone(&peer, id);
        holders::relay_gone(&state, peer, consented);
        tracing::debug!("gone");
    }
    .instrument(span)
    .await;
}

fn refused(reason: &str) -> response::Body {
    response::Body::Refused(Refused {
        reason: reason.into(),
    })
}

/// A key named in a request, for finding it among registered peers: no curve check (~20 µs),
/// since bytes that are not a key match no registration.
fn key(bytes: &[u8]) -> Option<PeerId> {
    Some(PeerId::for_lookup(bytes.try_into().ok()?))
}
