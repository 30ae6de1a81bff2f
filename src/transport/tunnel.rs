//! Owns the TCP fallback's wire: QUIC packets carried over one TLS-over-TCP stream (port 443
//! by default) as length-prefixed frames, for networks that let no UDP out. The QUIC
//! connection inside is the usual pinned, end-to-end one (to the rendezvous, and through
//! its relay to peers); the outer TLS 1.3, pinned to the same server key, makes the stream
//! an ordinary TLS connection to a middlebox, and it passes an HTTP proxy's `CONNECT` when the
//! usual settings name one (`proxy.rs`). The framing is pure ([`Decoder`], [`encode`]);
//! [`pump`] moves frames between a stream and a [`TunnelLink`](super::TunnelLink).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{DialError, TransportError, TunnelLink};
use crate::identity::{Identity, PeerId};

/// ALPN of the outer TLS.
pub const ALPN: &[u8] = b"natter-tunnel/1";
/// Bytes before a packet: its length, big-endian.
pub const HEADER: usize = 2;
/// Largest packet a frame carries (a QUIC packet is at most 1452 bytes here; room to spare).
pub const MAX_PACKET: usize = 1500;
/// How long connecting and the outer handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes written at once (frames waiting are gathered up to this).
const WRITE_BATCH: usize = 64 * 1024;

/// Why a tunnel frame could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame of length zero.
    #[error("empty tunnel frame")]
    Empty,
    /// A frame longer than any packet it may carry.
    #[error("tunnel frame of {0} bytes is over the {MAX_PACKET}-byte cap")]
    TooLarge(usize),
}

/// Appends one frame: `length (u16, big-endian) || packet`. Packets over [`MAX_PACKET`]
/// are not framed (the caller drops them: QUIC resends smaller).
pub fn encode(packet: &[u8], out: &mut BytesMut) -> bool {
    let Ok(len) = u16::try_from(packet.len()) else {
        return false;
    };
    if packet.is_empty() || packet.len() > MAX_PACKET {
        return false;
    }
    out.reserve(HEADER + packet.len());
    out.put_u16(len);
    out.put_slice(packet);
    true
}

/// Reads frames out of a byte stream; holds at most one frame's bytes beyond what it returns.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held and room allocated (the fuzz targets check both against the cap).
    #[cfg(any(test, feature = "testing"))]
    pub fn held(&self) -> (usize, usize) {
        (self.buf.len(), self.buf.capacity())
    }

    /// The next whole packet, if one is in; an error ends the stream (the peer is not
    /// speaking this protocol).
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(head) = self.buf.get(..HEADER) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > MAX_PACKET {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        self.buf.advance(HEADER);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

/// Moves packets between `stream` and `link`'s mapped address for `key` until either side
/// ends; then frees the address. Packets in become datagrams quinn reads from that address;
/// packets quinn sends there become frames on the stream.
pub async fn pump<S>(stream: S, link: Arc<TunnelLink>, key: u64) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Send,
{
    let mut out = link.attach(key);
    // Freed however the pump ends, aborted included.
    let _unmap = Unmap(link.clone(), key);
    let (mut r, mut w) = tokio::io::split(stream);
    let reading = async {
        let mut decoder = Decoder::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = r.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok::<(), String>(());
            }
            decoder.push(&buf[..n]);
            while let Some(packet) = decoder.next_packet().map_err(|e| e.to_string())? {
                link.deliver(&key, packet);
            }
        }
    };
    let writing = async {
        let mut frames = BytesMut::new();
        while let Some(packet) = out.recv().await {
            encode(&packet, &mut frames);
            while frames.len() < WRITE_BATCH
                && let Ok(more) = out.try_recv()
            {
                encode(&more, &mut frames);
            }
            w.write_all(&frames).await.map_err(|e| e.to_string())?;
            w.flush().await.map_err(|e| e.to_string())?;
            frames.clear();
        }
        Ok::<(), String>(())
    };
    tokio::select! {
        r = reading => r,
        w = writing => w,
    }
}

struct Unmap(Arc<TunnelLink>, u64);

impl Drop for Unmap {
    fn drop(&mut self) {
        self.0.unmap(&self.1);
    }
}

/// The server's side of the outer TLS (its key, as for QUIC; any client key).
pub fn acceptor(identity: &Identity) -> Result<tokio_rustls::TlsAcceptor, TransportError> {
    let tls = super::server_tls(identity, ALPN, super::BlockList::default())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))
}

/// Connects to a rendezvous's TCP address and completes the outer TLS, accepting only
/// `expected`'s key.
pub async fn connect(
    identity: &Identity,
    expected: PeerId,
    addr: SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, DialError> {
    let unreachable = |reason: String| DialError::Unreachable { addr, reason };
    let presented = Arc::new(Mutex::new(None));
    let tls = super::pinned_tls(identity, expected, ALPN, presented.clone())
        .map_err(|e| unreachable(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = ServerName::try_from("natter.invalid").map_err(|e| unreachable(e.to_string()))?;
    let attempt = async {
        // Through the HTTP proxy the usual settings name, if any (`proxy.rs`).
        let tcp = match super::proxy::from_env(&addr) {
            Some(Ok(p)) => super::proxy::connect(&p, addr)
                .await
                .map_err(std::io::Error::other)?,
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            None => TcpStream::connect(addr).await?,
        };
        tcp.set_nodelay(true)?;
        connector.connect(name, tcp).await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => {
            let shown = presented.lock().ok().and_then(|p| *p);
            Err(match shown {
                Some(presented) if presented != expected => DialError::WrongKey {
                    addr,
                    expected,
                    presented,
                },
                _ => unreachable(e.to_string()),
            })
        }
        Err(_) => Err(unreachable("no TCP answer within 5 s".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_come_back_whole_however_the_stream_cuts_them() {
        let mut wire = BytesMut::new();
        let packets: Vec<Vec<u8>> = (1..=5).map(|i| vec![i as u8; 300 * i]).collect();
        for p in &packets {
            assert!(encode(p, &mut wire));
        }
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            d.push(chunk);
            while let Some(p) = d.next_packet().unwrap() {
                got.push(p.to_vec());
            }
        }
        assert_eq!(got, packets);
    }

    #[test]
    fn empty_and_oversized_frames_are_errors_and_never_encoded() {
        let mut out = BytesMut::new();
        assert!(!encode(&[], &mut out));
        assert!(!encode(&vec![0; MAX_PACKET + 1], &mut out));
        assert!(out.is_empty());
        let mut d = Decoder::default();
        d.push(&[0, 0]);
        assert_eq!(d.next_packet(), Err(FrameError::Empty));
        let mut d = Decoder::default();
        d.push(&u16::MAX.to_be_bytes());
        assert_eq!(
            d.next_packet(),
            Err(FrameError::TooLarge(usize::from(u16::MAX)))
        );
    }

    proptest! {
        #[test]
        fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let mut d = Decoder::default();
            d.push(&bytes);
            while let Ok(Some(p)) = d.next_packet() {
                prop_assert!(!p.is_empty() && p.len() <= MAX_PACKET);
            }
        }
    }
}
