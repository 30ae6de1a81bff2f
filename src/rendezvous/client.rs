//! The client side of the rendezvous protocol: one pinned QUIC connection from the node's own
//! endpoint (so the server observes the address peers will use), one stream per request.
//! Where no UDP gets out, the same QUIC connection runs inside a TLS-over-TCP tunnel to the
//! server's TCP address (`transport::tunnel`), found by trying UDP first; while on TCP the
//! client tries UDP again now and then ([`Client::try_udp`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::directory;

#[path = "client_lookups.rs"]
mod lookups;
use super::proto::{self, Register, Registered, Request, Response, request, response};
use crate::identity::{Identity, PeerId};
use crate::transport::{self, TunnelLink, tunnel};
use lookups::Batch;

/// How long a request may take before it counts as unanswered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the rendezvous is and which key it must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RendezvousConfig {
    /// Its UDP address.
    pub addr: SocketAddr,
    /// More UDP addresses of the same deployment (nodes presenting the same key): tried in
    /// turn when the one in use cannot be reached.
    pub also: Vec<SocketAddr>,
    /// Its key (printed by `natter-rendezvous` at start).
    pub key: PeerId,
    /// Its TCP address, used when no UDP gets out (`None`: UDP only).
    pub tcp: Option<SocketAddr>,
}

/// A deployment's addresses written as `HOST:PORT, HOST:PORT, …` (the app's setting): every
/// one, in order, or the first piece that is not an address.
pub fn parse_addrs(text: &str) -> Result<Vec<SocketAddr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.parse().map_err(|_| piece.to_string()))
        .collect()
}

/// The TCP port a rendezvous is tried on when its TCP address is not given.
pub const DEFAULT_TCP_PORT: u16 = 443;

impl RendezvousConfig {
    /// A rendezvous at `addr` (UDP) with `key`, and TCP on the same host's port 443.
    pub fn new(addr: SocketAddr, key: PeerId) -> Self {
        Self {
            addr,
            also: Vec::new(),
            key,
            tcp: Some(SocketAddr::new(addr.ip(), DEFAULT_TCP_PORT)),
        }
    }

    /// Every UDP address of the deployment, the first one first.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.addr).chain(self.also.iter().copied().filter(|a| *a != self.addr))
    }
}

/// Why a rendezvous request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No connection (server down, wrong address or key).
    #[error("cannot reach the rendezvous at {addr}: {reason}")]
    Unreachable {
        /// The server address.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The server asked us to slow down.
    #[error("the rendezvous is rate limiting us; retry in {} ms", retry_after.as_millis())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The server refused the request.
    #[error("the rendezvous refused: {0}")]
    Refused(String),
    /// The answer made no sense.
    #[error("the rendezvous answered badly: {0}")]
    Protocol(String),
}

/// A connection to one rendezvous server.
pub struct Client {
    endpoint: quinn::Endpoint,
    identity: Identity,
    config: RendezvousConfig,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    /// The same connection, for the relay pump, which must never wait on a dial.
    live: Mutex<Option<quinn::Connection>>,
    /// Lookup tokens already derived (an X25519 agreement each, ~40 µs): every lookup,
    /// deposit and renewal needs them again.
    tokens: Mutex<HashMap<PeerId, [u8; 32]>>,
    /// The endpoint's tunnel side, for the TCP fallback (`None`: UDP only).
    tunnels: Option<Arc<TunnelLink>>,
    /// The live connection runs over TCP.
    over_tcp: AtomicBool,
    /// The running tunnel's task (ended with its connection).
    tunnel_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    next_tunnel: AtomicU64,
    /// Which of the deployment's addresses (`RendezvousConfig::addrs`) is tried first: the
    /// one that answered last.
    current: AtomicUsize,
    /// Lookups waiting to go out together ([`Client::lookup`]).
    batch: Mutex<Batch>,
    /// The lookup that sends batches finished (or was dropped): another may take over.
    batch_idle: tokio::sync::Notify,
    /// The server answered a batch as a request it does not know (an older server): lookups
    /// go one by one from then on.
    no_batches: AtomicBool,
}

fn hold<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Most tokens kept; past it the cache starts again (a node has far fewer contacts).
const TOKEN_CACHE: usize = 4096;

impl Client {
    /// A client that dials from `endpoint` as `identity`.
    pub fn new(endpoint: quinn::Endpoint, identity: Identity, config: RendezvousConfig) -> Self {
        Self {
            endpoint,
            identity,
            config,
            conn: tokio::sync::Mutex::new(None),
            live: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            tunnels: None,
            over_tcp: AtomicBool::new(false),
            tunnel_task: Mutex::new(None),
            next_tunnel: AtomicU64::new(1),
            current: AtomicUsize::new(0),
            batch: Mutex::default(),
            batch_idle: tokio::sync::Notify::new(),
            no_batches: AtomicBool::new(false),
        }
    }

    /// Lets the client fall back to TCP through `link` (the endpoint's tunnel side) when
    /// UDP does not reach the server and its config names a TCP address.
    pub fn with_tunnels(mut self, link: Arc<TunnelLink>) -> Self {
        self.tunnels = Some(link);
        self
    }

    /// Whether the live connection runs over TCP (no UDP got out).
    pub fn over_tcp(&self) -> bool {
        self.over_tcp.load(Ordering::SeqCst)
    }

    /// The server's address in use: its TCP address while over TCP, else its UDP one.
    pub fn addr_in_use(&self) -> SocketAddr {
        match self.config.tcp {
            Some(tcp) if self.over_tcp() => tcp,
            _ => self.udp_addr(),
        }
    }

    /// The deployment's UDP address tried first now.
    fn udp_addr(&self) -> SocketAddr {
        let n = self.current.load(Ordering::Relaxed);
        self.config.addrs().nth(n).unwrap_or(self.config.addr)
    }

    /// The address in use stopped answering (or its node is going away): the next of the
    /// deployment's addresses is tried first from now on.
    pub fn fail_over(&self) {
        let n = self.config.addrs().count().max(1);
        let next = (self.current.load(Ordering::Relaxed) + 1) % n;
        self.current.store(next, Ordering::Relaxed);
    }

    /// How the user reads the server in use: `HOST:PORT`, or `tcp://HOST:PORT` over TCP.
    pub fn name_in_use(&self) -> String {
        if self.over_tcp() {
            format!("tcp://{}", self.addr_in_use())
        } else {
            self.udp_addr().to_string()
        }
    }

    /// The pair secret with `other` (cached: an X25519 agreement each, ~40 µs).
    fn secret(&self, other: &PeerId) -> Option<[u8; 32]> {
        let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache.get(other) {
            return Some(*t);
        }
        let t = super::record::pair_secret(&self.identity, other)?;
        if cache.len() >= TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(*other, t);
        Some(t)
    }

    /// The token `other` registered for us, which we present to look it up, leave it mail or
    /// open a relay with it (see [`record::token`](super::record::token)); `None` when
    /// `other` is not a usable key.
    pub fn token(&self, other: &PeerId) -> Option<[u8; 32]> {
        Some(super::record::token_of(&self.secret(other)?, other))
    }

    /// The token we register for `other`, bound to us (see
    /// [`record::own_token`](super::record::own_token)).
    pub fn own_token(&self, other: &PeerId) -> Option<[u8; 32]> {
        Some(super::record::token_of(
            &self.secret(other)?,
            &self.identity.peer_id(),
        ))
    }

    /// The identity this client registers as.
    pub fn identity(&self) -> Identity {
        self.identity.clone()
    }

    /// Whether a live connection to the server is up now.
    pub fn is_connected(&self) -> bool {
        self.conn
            .try_lock()
            .map(|c| c.as_ref().is_some_and(|c| c.close_reason().is_none()))
            .unwrap_or(true)
    }

    /// The server this client talks to.
    pub fn config(&self) -> &RendezvousConfig {
        &self.config
    }

    fn unreachable(&self, reason: impl ToString) -> ClientError {
        ClientError::Unreachable {
            addr: self.udp_addr(),
            reason: reason.to_string(),
        }
    }

    /// The live connection, dialling if there is none: UDP first, then TCP.
    pub async fn connection(&self) -> Result<quinn::Connection, ClientError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let c = match self.dial_udp().await {
            Ok(c) => {
                self.over_tcp.store(false, Ordering::SeqCst);
                c
            }
            Err(udp) => match (&self.tunnels, self.config.tcp) {
                (Some(link), Some(tcp)) => {
                    let c = self
                        .dial_tcp(link, tcp)
                        .await
                        .map_err(|e| self.unreachable(format!("{udp}; over TCP at {tcp}: {e}")))?;
                    self.over_tcp.store(true, Ordering::SeqCst);
                    c
                }
                _ => return Err(self.unreachable(udp)),
            },
        };
        *slot = Some(c.clone());
        *hold(&self.live) = Some(c.clone());
        Ok(c)
    }

    /// Dials the deployment's UDP addresses in turn, from the one in use; the first that
    /// answers is in use from then on. The error is the last address's.
    async fn dial_udp(&self) -> Result<quinn::Connection, transport::DialError> {
        let addrs: Vec<SocketAddr> = self.config.addrs().collect();
        let first = self.current.load(Ordering::Relaxed) % addrs.len().max(1);
        let mut last = None;
        for i in 0..addrs.len() {
            let n = (first + i) % addrs.len();
            match self.dial_at(addrs[n]).await {
                Ok(c) => {
                    if n != first {
                        tracing::info!(addr = %addrs[n], "the rendezvous answers at another of its addresses");
                    }
                    self.current.store(n, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(transport::DialError::Unreachable {
            addr: self.config.addr,
            reason: "no address".into(),
        }))
    }

    async fn dial_at(&self, addr: SocketAddr) -> Result<quinn::Connection, transport::DialError> {
        transport::dial_for(
            &self.endpoint,
            &self.identity,
            self.config.key,
            addr,
            proto::ALPN,
            transport::signalling_config(proto::MAX_MESSAGE, 0),
        )
        .await
    }

    /// The QUIC connection inside a new TLS-over-TCP tunnel to `tcp`.
    async fn dial_tcp(
        &self,
        link: &Arc<TunnelLink>,
        tcp: SocketAddr,
    ) -> Result<quinn::Connection, transport::DialError> {
        let stream = tunnel::connect(&self.identity, self.config.key, tcp).await?;
        let id = self.next_tunnel.fetch_add(1, Ordering::Relaxed);
        let mapped = link.map(id).ok_or(transport::DialError::Unreachable {
            addr: tcp,
            reason: "no tunnel address left".into(),
        })?;
        let link = link.clone();
        let task = tokio::spawn(async move {
            let ended = tunnel::pump(stream, link, id).await;
            tracing::debug!(?ended, "rendezvous tunnel closed");
        });
        if let Some(old) = hold(&self.tunnel_task).replace(task) {
            old.abort();
        }
        self.dial_at(mapped).await
    }

    /// While over TCP: whether UDP reaches the server now. If it does, the UDP connection
    /// takes over (the TCP one is closed: register again on it).
    pub async fn try_udp(&self) -> bool {
        if !self.over_tcp() {
            return false;
        }
        let Ok(c) = self.dial_udp().await else {
            return false;
        };
        let mut slot = self.conn.lock().await;
        if let Some(old) = slot.replace(c.clone()) {
            old.close(quinn::VarInt::from_u32(transport::CLOSE_NORMAL), b"udp");
        }
        *hold(&self.live) = Some(c);
        self.over_tcp.store(false, Ordering::SeqCst);
        if let Some(t) = hold(&self.tunnel_task).take() {
            t.abort();
        }
        true
    }

    /// The live connection now, without dialling or waiting (relay frames go out on it).
    pub fn current(&self) -> Option<quinn::Connection> {
        let live = hold(&self.live);
        live.as_ref()
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }

    /// Drops the connection (the next request dials again).
    pub async fn reset(&self) {
        hold(&self.live).take();
        if let Some(t) = hold(&self.tunnel_task).take() {
            t.abort();
        }
        if let Some(c) = self.conn.lock().await.take() {
            c.close(quinn::VarInt::from_u32(transport::CLOSE_NORMAL), b"bye");
        }
    }

    async fn open(
        &self,
        body: request::Body,
    ) -> Result<(quinn::SendStream, quinn::RecvStream, response::Body), ClientError> {
        let conn = self.connection().await?;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| self.unreachable(e))?;
            send.write_all(&proto::frame(&Request { body: Some(body) }))
                .await
                .map_err(|e| self.unreachable(e))?;
            let answer = proto::read::<Response>(&mut recv)
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?
                .and_then(|r| r.body)
                .ok_or_else(|| ClientError::Protocol("no answer".into()))?;
            Ok((send, recv, answer))
        };
        let (send, recv, answer) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unreachable("no answer within 5 s"))??;
        match answer {
            response::Body::RateLimited(r) => Err(ClientError::RateLimited {
                retry_after: Duration::from_millis(r.retry_after_ms),
            }),
            response::Body::Refused(r) => Err(ClientError::Refused(r.reason)),
            other => Ok((send, recv, other)),
        }
    }

    /// One request, one answer.
    pub async fn request(&self, body: request::Body) -> Result<response::Body, ClientError> {
        let (mut send, _recv, answer) = self.open(body).await?;
        let _ = send.finish();
        Ok(answer)
    }

    /// Registers; the returned stream then carries the server's pushes.
    pub async fn register(
        &self,
        reg: Register,
    ) -> Result<(Registered, quinn::SendStream, quinn::RecvStream), ClientError> {
        match self.open(request::Body::Register(reg)).await? {
            (send, recv, response::Body::Registered(r)) => Ok((r, send, recv)),
            _ => Err(ClientError::Protocol("expected Registered".into())),
        }
    }

    /// Leaves a sealed message; returns its expiry.
    pub async fn deposit(
        &self,
        to: &PeerId,
        msg_id: [u8; 16],
        sealed: Vec<u8>,
    ) -> Result<u64, ClientError> {
        let token = self.token(to).unwrap_or([0; 32]);
        let body = request::Body::Deposit(proto::Deposit {
            to: to.as_bytes().to_vec(),
            token: token.to_vec(),
            msg_id: msg_id.to_vec(),
            sealed,
        });
        match self.request(body).await? {
            response::Body::Stored(s) => Ok(s.expires_ms),
            _ => Err(ClientError::Protocol("expected Stored".into())),
        }
    }

    /// Fetches waiting mail and expiry notices.
    pub async fn fetch(&self) -> Result<proto::Mail, ClientError> {
        match self.request(request::Body::Fetch(proto::Empty {})).await? {
            response::Body::Mail(m) => Ok(m),
            _ => Err(ClientError::Protocol("expected Mail".into())),
        }
    }

    /// Acknowledges mail (the server deletes it) and expiry notices.
    pub async fn ack(&self, ack: proto::AckMail) -> Result<(), ClientError> {
        self.request(request::Body::Ack(ack)).await.map(|_| ())
    }

    /// Claims `@name` for our key (first come).
    pub async fn claim_handle(&self, name: &str) -> Result<String, ClientError> {
        let name = proto::normalize_handle(name).map_err(ClientError::Refused)?;
        let signature = self.identity.sign(&proto::handle_message(&name)).to_vec();
        let body = request::Body::ClaimHandle(proto::Handle {
            name,
            peer: Vec::new(),
            signature,
        });
        match self.request(body).await? {
            response::Body::Handle(h) => Ok(h.name),
            _ => Err(ClientError::Protocol("expected Handle".into())),
        }
    }

    /// The key holding `@name`, checked against its signed claim.
    pub async fn resolve_handle(&self, name: &str) -> Result<PeerId, ClientError> {
        let name = proto::normalize_handle(name).map_err(ClientError::Refused)?;
        let body = request::Body::ResolveHandle(proto::Handle {
            name: name.clone(),
            ..Default::default()
        });
        let h = match self.request(body).await? {
            response::Body::Handle(h) => h,
            _ => return Err(ClientError::Protocol("expected Handle".into())),
        };
        super::record::check_resolved(&h, &name).map_err(ClientError::Protocol)
    }

    /// Lists a public room of ours (or renews its listing).
    pub async fn publish(&self, listing: &crate::room::SignedListing) -> Result<(), ClientError> {
        let body = request::Body::Publish(directory::Publish {
            listing: listing.bytes().to_vec(),
        });
        self.request(body).await.map(|_| ())
    }

    /// Stops listing a room of ours.
    pub async fn unpublish(&self, room: &crate::room::RoomId) -> Result<(), ClientError> {
        let body = request::Body::Unpublish(directory::Unpublish {
            room: room.as_bytes().to_vec(),
        });
        self.request(body).await.map(|_| ())
    }

    /// Searches the directory: the listings that check out (signed by their room's creator,
    /// not expired at `now_ms`); the others are dropped with a debug line.
    pub async fn search(
        &self,
        query: &str,
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<crate::room::SignedListing>, ClientError> {
        let body = request::Body::Search(directory::Search {
            query: query.to_owned(),
            limit: limit.min(directory::MAX_RESULTS) as u32,
        });
        let found = match self.request(body).await? {
            response::Body::Listings(l) => l.listings,
            _ => return Err(ClientError::Protocol("expected Listings".into())),
        };
        Ok(found
            .iter()
            .filter_map(|b| {
                let l = crate::room::SignedListing::decode(b).and_then(|l| {
                    l.live(now_ms)?;
                    Ok(l)
                });
                if let Err(e) = &l {
                    tracing::debug!(error = %e, "directory listing refused");
                }
                l.ok()
            })
            .collect())
    }

    /// Knocks at a listed room: its creator is told (if it is online here), and what it
    /// answers within a few seconds is the answer.
    pub async fn knock(
        &self,
        room: &crate::room::RoomId,
    ) -> Result<directory::KnockResult, ClientError> {
        let body = request::Body::Knock(directory::Knock {
            room: room.as_bytes().to_vec(),
        });
        match self.request(body).await? {
            response::Body::KnockResult(r) => Ok(r),
            _ => Err(ClientError::Protocol("expected KnockResult".into())),
        }
    }

    /// Answers a knocker through the server: let in (`None`), or not and why.
    pub async fn answer_knock(
        &self,
        room: &crate::room::RoomId,
        knocker: &PeerId,
        refused: Option<&str>,
    ) -> Result<(), ClientError> {
        let body = request::Body::KnockAnswer(directory::KnockAnswer {
            room: room.as_bytes().to_vec(),
            peer: knocker.as_bytes().to_vec(),
            let_in: refused.is_none(),
            reason: refused.unwrap_or_default().to_owned(),
        });
        self.request(body).await.map(|_| ())
    }

    /// Leaves presence (clean exit).
    pub async fn unregister(&self) -> Result<(), ClientError> {
        self.request(request::Body::Unregister(proto::Empty {}))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addrs;

    #[test]
    fn a_deployments_addresses_parse_in_order_and_a_bad_piece_is_named() {
        let addrs = parse_addrs(" 198.18.0.7:47200,[2001:2::1]:47200 ,, ").unwrap();
        assert_eq!(
            addrs,
            [
                "198.18.0.7:47200".parse().unwrap(),
                "[2001:2::1]:47200".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_addrs("198.18.0.7:47200, nowhere"),
            Err("nowhere".into())
        );
        assert_eq!(parse_addrs(""), Ok(vec![]));
    }
}
