//! Owns the QUIC endpoint: one quinn `Endpoint` on one UDP socket per node, TLS 1.3 (rustls)
//! with both sides authenticated by their ed25519 keys, ALPN `natter/1`, and the timers.

pub mod proxy;
mod socket;
pub mod tunnel;
mod verify;

pub(crate) use socket::is_mapped;
pub use socket::{RelayLink, TunnelLink};
pub use verify::BlockList;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::Digest;

use crate::identity::{Identity, PeerId};

/// ALPN protocol id of peer sessions.
pub const ALPN: &[u8] = b"natter/1";
/// QUIC keep-alive: a PING after this much silence keeps NAT bindings and detects loss.
pub const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// QUIC idle timeout: a peer silent this long (about three missed keep-alives) is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Keep-alive on a rendezvous connection: enough for NAT bindings (RFC 4787 asks them to
/// last 2 minutes; common home routers keep ~30 s) at a tenth of the pings a server holding
/// 100k clients would get at the peer-to-peer rate.
pub const SIGNALLING_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Idle timeout on a rendezvous connection: three missed keep-alives.
pub const SIGNALLING_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Starting UDP payload size of a rendezvous connection: a relay frame (a 1200-byte QUIC
/// packet, a 32-byte key, ~40 bytes of outer QUIC) must fit. Where the path is smaller,
/// quinn's black-hole detection falls back to 1200 and relaying stops working there.
pub const SIGNALLING_MTU: u16 = 1400;
/// Relay frames queued per direction on one rendezvous connection (about 48 packets).
pub const RELAY_QUEUE_BYTES: usize = 64 * 1024;
/// How long a dial waits for the handshake before it reports the peer unreachable.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Label of the TLS exporter that derives the session id.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-natter-session-id";

/// A source as limited: an IPv4 address, or the /64 an IPv6 address is in (one host
/// commonly holds a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    Source::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

/// Application close code: normal close.
pub const CLOSE_NORMAL: u32 = 0;
/// Application close code: refused by the peer's privacy policy.
pub const CLOSE_REFUSED: u32 = 1;
/// Application close code: replaced by another connection between the same peers.
pub const CLOSE_REPLACED: u32 = 2;
/// Application close code: the server is restarting (its clients come back on their own).
pub const CLOSE_RESTARTING: u32 = 3;

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket could not be bound.
    #[error(
        "cannot listen on {addr}: {source}. Is another Natter using this port? Try another --listen address"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS configuration was refused.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The peer at the address holds another key than the pinned one.
    #[error(
        "the peer at {addr} presented the key {presented}, not the pinned {expected}; refusing to talk to it. If your contact reinstalled Natter, verify the new key with them first"
    )]
    WrongKey {
        /// Address dialled.
        addr: SocketAddr,
        /// Pinned key.
        expected: PeerId,
        /// Key presented.
        presented: PeerId,
    },
    /// The peer refused us (contacts-only, or a decision of theirs).
    #[error("the peer refused the connection: {0}")]
    Refused(String),
    /// Nothing answered, or the connection failed.
    #[error("could not reach {addr}: {reason}")]
    Unreachable {
        /// Address dialled.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
}

/// Builds a peer endpoint on one plain UDP socket, ready to accept and dial.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub fn endpoint(identity: &Identity, addr: SocketAddr) -> Result<quinn::Endpoint, TransportError> {
    endpoint_with(identity, addr, transport_config())
}

/// The same on other transport settings (benches: a raw-quinn baseline with more streams in
/// flight than a peer may open).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub fn endpoint_with(
    identity: &Identity,
    addr: SocketAddr,
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::Endpoint, TransportError> {
    let server = server_config(identity, ALPN, transport, BlockList::default())?;
    quinn::Endpoint::server(server, addr).map_err(|source| TransportError::Bind { addr, source })
}

/// The sides of an endpoint's socket that are not the wire (see `socket.rs`): relayed
/// peers and TCP tunnels, each at mapped addresses; their carriers feed and drain them.
#[derive(Clone, Debug, Default)]
pub struct Links {
    /// Peers reached through a relay.
    pub relay: Arc<RelayLink>,
    /// TCP tunnels (`tunnel.rs`).
    pub tunnel: Arc<TunnelLink>,
}

/// An endpoint on one UDP socket that also carries the `Links` (`one_segment`: no GSO,
/// for a server of many signalling connections: see `NodeSocket`).
fn linked_endpoint(
    addr: SocketAddr,
    config: quinn::EndpointConfig,
    server: quinn::ServerConfig,
    one_segment: bool,
) -> Result<(quinn::Endpoint, Links), TransportError> {
    let bind = |source| TransportError::Bind { addr, source };
    let udp = std::net::UdpSocket::bind(addr).map_err(bind)?;
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(quinn::TokioRuntime);
    let udp = runtime.wrap_udp_socket(udp).map_err(bind)?;
    let links = Links::default();
    let socket =
        socket::NodeSocket::new(udp, links.relay.clone(), links.tunnel.clone(), one_segment);
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        config,
        Some(server),
        Arc::new(socket.map_err(bind)?),
        runtime,
    )
    .map_err(bind)?;
    Ok((endpoint, links))
}

/// The node's endpoint: one UDP socket that also carries relayed peers and its TCP tunnel
/// to the rendezvous, each at a mapped address (see `socket.rs`).
pub fn node_endpoint(
    identity: &Identity,
    addr: SocketAddr,
    blocked: &BlockList,
) -> Result<(quinn::Endpoint, Links), TransportError> {
    let server = server_config(identity, ALPN, transport_config(), blocked.clone())?;
    linked_endpoint(addr, quinn::EndpointConfig::default(), server, false)
}

/// An endpoint that answers one ALPN (the rendezvous server uses its own), with tunnels
/// beside its UDP socket. Its stateless reset key is derived from its identity, so a
/// restarted server resets its clients' old connections at their first packet instead of
/// leaving them to time out.
pub fn endpoint_for(
    identity: &Identity,
    addr: SocketAddr,
    alpn: &[u8],
    transport: Arc<quinn::TransportConfig>,
) -> Result<(quinn::Endpoint, Links), TransportError> {
    let server = server_config(identity, alpn, transport, BlockList::default())?;
    // A deterministic signature over a fixed context: secret, and the same every start.
    let seed = sha2::Sha256::digest(identity.sign(RESET_CONTEXT));
    let reset = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &seed);
    // Signalling connections: one datagram per send, ~13 KiB less per held client.
    linked_endpoint(
        addr,
        quinn::EndpointConfig::new(Arc::new(reset)),
        server,
        true,
    )
}

/// What a server signs to make its stateless reset key.
const RESET_CONTEXT: &[u8] = b"natter stateless reset key v1";

/// The TLS side of a server: TLS 1.3 only, our key as a raw public key, any client key not
/// on the block list (its holder is authenticated, and the caller's policy decides), one ALPN.
fn server_tls(
    identity: &Identity,
    alpn: &[u8],
    blocked: BlockList,
) -> Result<rustls::ServerConfig, TransportError> {
    let key = certified_key(identity)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verify::AnyKey { blocked }))
        .with_cert_resolver(Arc::new(
            rustls::server::AlwaysResolvesServerRawPublicKeys::new(key),
        ));
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(tls)
}

fn server_config(
    identity: &Identity,
    alpn: &[u8],
    transport: Arc<quinn::TransportConfig>,
    blocked: BlockList,
) -> Result<quinn::ServerConfig, TransportError> {
    let quic = QuicServerConfig::try_from(Arc::new(server_tls(identity, alpn, blocked)?))
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(transport);
    Ok(server)
}

/// Streams a peer may open towards us at once: the control stream (a spare for a
/// replacement in flight).
pub const PEER_BIDI_STREAMS: u32 = 2;
/// One-way streams a peer may open at once: one per file transfer.
pub const PEER_UNI_STREAMS: u32 = 16;
/// Bytes one stream of a peer may have in flight to us (a file's bandwidth-delay product:
/// 1 MiB is 80 Mbit/s at 100 ms).
pub const PEER_STREAM_WINDOW: u32 = 1 << 20;
/// Bytes all of a peer's streams may have in flight to us together.
pub const PEER_CONNECTION_WINDOW: u32 = 4 << 20;

/// The peer-to-peer timers (keep-alive every 4 s, idle timeout 15 s) and bounds: what any
/// key that completes a handshake can make us hold is a few streams and 4 MiB of data, not
/// quinn's defaults (100 streams of each kind, an unlimited connection window).
pub fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(PEER_BIDI_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(PEER_UNI_STREAMS));
    t.stream_receive_window(quinn::VarInt::from_u32(PEER_STREAM_WINDOW));
    t.receive_window(quinn::VarInt::from_u32(PEER_CONNECTION_WINDOW));
    Arc::new(t)
}

/// Rendezvous connections, on both ends: the signalling timers above and small windows (a
/// request or answer is at most `max_message` bytes, a client has a few streams open, and
/// the server holds many clients: quinn's defaults, sized for bulk transfer, cost far more
/// memory per connection). A client may open `streams` requests at once; quinn keeps
/// per-stream state for each, so the server allows 8 (the push stream, a renewal, lookups
/// and deposits) and the client, which only answers, allows none.
pub fn signalling_config(max_message: usize, streams: u32) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    let window = quinn::VarInt::from_u32(2 * max_message as u32);
    t.stream_receive_window(window);
    t.receive_window(window);
    t.send_window(2 * max_message as u64);
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(streams));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    // Relay frames ride as datagrams: a full QUIC packet and a key must fit in one, and
    // each direction queues a bounded number (then the oldest is dropped).
    t.initial_mtu(SIGNALLING_MTU);
    t.datagram_receive_buffer_size(Some(RELAY_QUEUE_BYTES));
    t.datagram_send_buffer_size(RELAY_QUEUE_BYTES);
    t.keep_alive_interval(Some(SIGNALLING_KEEP_ALIVE));
    t.max_idle_timeout(quinn::IdleTimeout::try_from(SIGNALLING_IDLE_TIMEOUT).ok());
    Arc::new(t)
}

fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, TransportError> {
    let der = PrivatePkcs8KeyDer::from(identity.pkcs8_der());
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&der)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let spki = CertificateDer::from(verify::spki_of(&identity.peer_id()));
    Ok(Arc::new(CertifiedKey::new(vec![spki], signer)))
}

/// A dialler's TLS side: TLS 1.3 only, our key as a raw public key, and only `expected`'s
/// key accepted (`presented` records what the other side showed, for the error).
fn pinned_tls(
    identity: &Identity,
    expected: PeerId,
    alpn: &[u8],
    presented: Arc<Mutex<Option<PeerId>>>,
) -> Result<rustls::ClientConfig, TransportError> {
    let key = certified_key(identity)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verify::PinnedKey {
            expected,
            presented,
        }))
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(key),
        ));
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(tls)
}

/// A dialler's TLS configuration that accepts only `expected`.
struct Pinned {
    config: quinn::ClientConfig,
    presented: Arc<Mutex<Option<PeerId>>>,
}

fn pinned_client(
    identity: &Identity,
    expected: PeerId,
    alpn: &[u8],
    transport: Arc<quinn::TransportConfig>,
) -> Result<Pinned, TransportError> {
    let presented = Arc::new(Mutex::new(None));
    let tls = pinned_tls(identity, expected, alpn, presented.clone())?;
    let quic = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport);
    Ok(Pinned { config, presented })
}

/// Dials `addr`, accepting only the key `expected`.
pub async fn dial(
    endpoint: &quinn::Endpoint,
    identity: &Identity,
    expected: PeerId,
    addr: SocketAddr,
) -> Result<quinn::Connection, DialError> {
    dial_for(endpoint, identity, expected, addr, ALPN, transport_config()).await
}

/// Dials `addr` speaking `alpn` with `transport`'s timers and windows, pinning `expected`
/// (the node dials its rendezvous this way, from the same endpoint it uses for peers).
pub async fn dial_for(
    endpoint: &quinn::Endpoint,
    identity: &Identity,
    expected: PeerId,
    addr: SocketAddr,
    alpn: &[u8],
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::Connection, DialError> {
    let unreachable = |reason: String| DialError::Unreachable { addr, reason };
    let pinned = pinned_client(identity, expected, alpn, transport)
        .map_err(|e| unreachable(e.to_string()))?;
    let connecting = endpoint
        .connect_with(pinned.config, addr, "natter.invalid")
        .map_err(|e| unreachable(e.to_string()))?;
    let result = match tokio::time::timeout(DIAL_TIMEOUT, connecting).await {
        Ok(r) => r,
        Err(_) => Err(quinn::ConnectionError::TimedOut),
    };
    match result {
        Ok(conn) => Ok(conn),
        Err(e) => {
            let presented = pinned.presented.lock().ok().and_then(|p| *p);
            Err(match presented {
                Some(presented) => DialError::WrongKey {
                    addr,
                    expected,
                    presented,
                },
                None => classify(addr, &e),
            })
        }
    }
}

/// Maps a connection error to what the user should hear.
pub fn classify(addr: SocketAddr, e: &quinn::ConnectionError) -> DialError {
    match e {
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == quinn::VarInt::from_u32(CLOSE_REFUSED) =>
        {
            DialError::Refused(String::from_utf8_lossy(&c.reason).into_owned())
        }
        quinn::ConnectionError::TimedOut => DialError::Unreachable {
            addr,
            reason: "no answer (is the peer running, and the address right?)".into(),
        },
        other => DialError::Unreachable {
            addr,
            reason: other.to_string(),
        },
    }
}

/// The authenticated key of a connection's peer.
pub fn peer_of(conn: &quinn::Connection) -> Option<PeerId> {
    let any = conn.peer_identity()?;
    let certs = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    verify::peer_of_spki(certs.first()?.as_ref())
}

/// The session id of a connection: 16 bytes from the TLS exporter (RFC 8446 §7.5).
pub fn session_id(conn: &quinn::Connection) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    conn.export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .ok()?;
    Some(out)
}
