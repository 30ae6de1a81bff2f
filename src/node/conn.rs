//! Owns one connection's life: the policy check after the handshake, the control stream, the
//! sans-IO [`Session`] driven with real bytes and time, the store work each event implies,
//! the one-session-per-peer rule, and redialling contacts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::Instrument;

use super::gate;
use super::state::{Admission, Msg};
use super::{Event, Inner, NodeError, PRIVACY_KEY, PrivacyMode};
use crate::identity::PeerId;
use crate::session::IncomingChat;
use crate::session::{FEATURES, Session, SessionConfig, VERSIONS};
use crate::store::{self, ContactState, Store};
use crate::transport::{self, CLOSE_NORMAL, CLOSE_REFUSED, DialError, is_mapped};

pub(crate) async fn privacy(store: &Store) -> Result<PrivacyMode, NodeError> {
    let v = store.call(|c| store::get_setting(c, PRIVACY_KEY)).await?;
    Ok(v.and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or(PrivacyMode::Requests))
}

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

pub(crate) async fn accept_loop(inner: Arc<Inner>) {
    while let Some(incoming) = inner.endpoint.accept().await {
        let remote = incoming.remote_address();
        // The door (`gate.rs`): handshakes per source, and address validation under load.
        // Relayed peers are at the relay's mercy already (it limits their bytes).
        if !is_mapped(remote) && !super::lock(&inner.gate).allow(remote.ip(), Instant::now()) {
            tracing::debug!(%remote, "handshake rate limit: ignored");
            incoming.ignore();
            continue;
        }
        if !incoming.remote_address_validated()
            && inner.handshakes.load(Ordering::SeqCst) >= gate::RETRY_ABOVE
        {
            let _ = incoming.retry();
            continue;
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            inner.handshakes.fetch_add(1, Ordering::SeqCst);
            let conn = incoming.await;
            inner.handshakes.fetch_sub(1, Ordering::SeqCst);
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "incoming handshake failed");
                    return;
                }
            };
            let Some(peer) = transport::peer_of(&conn) else {
                conn.close(quinn::VarInt::from_u32(CLOSE_REFUSED), b"no key");
                return;
            };
            // A relayed connection must be the peer the relay named as its source (a relay
            // that mislabels frames gets nothing through).
            if transport::is_mapped(remote) && inner.relay.key_of(remote) != Some(peer) {
                tracing::debug!(%remote, "relayed connection from another key than its source");
                conn.close(quinn::VarInt::from_u32(CLOSE_REFUSED), b"");
                return;
            }
            // The policy sees the authenticated key before any stream is accepted.
            let mut _stranger = None;
            match inner.actor.ask(|reply| Msg::Admit(peer, reply)).await {
                Some(Admission::Admit | Admission::Room) => {}
                Some(Admission::Request | Admission::Asker) => match Stranger::enter(&inner) {
                    Some(s) => _stranger = Some(s),
                    None => {
                        tracing::debug!("too many strangers at once: refused");
                        conn.close(
                            quinn::VarInt::from_u32(CLOSE_REFUSED),
                            b"too many people who are not contacts are connecting now; try again later",
                        );
                        return;
                    }
                },
                Some(Admission::Blocked | Admission::Hidden) => {
                    // Silently: the blocked party (or one we are invisible to) sees an
                    // ordinary close and learns nothing more.
                    tracing::debug!("blocked or hidden-from peer closed before any frame");
                    conn.close(quinn::VarInt::from_u32(CLOSE_NORMAL), b"");
                    return;
                }
                Some(Admission::Stranger) => {
                    emit(&inner, Event::StrangerRefused { peer });
                    conn.close(
                        quinn::VarInt::from_u32(CLOSE_REFUSED),
                        b"this user accepts contacts only",
                    );
                    return;
                }
                None => {
                    // The node is stopping.
                    conn.close(quinn::VarInt::from_u32(CLOSE_REFUSED), b"try later");
                    return;
                }
            }
            let span = tracing::info_span!("session", peer = ?peer, %remote, dir = "in");
            run(inner, conn, peer, false).instrument(span).await;
        });
    }
}

/// A stranger's place among the [`gate::MAX_STRANGERS`] allowed at once, held while its
/// connection lives.
struct Stranger(Arc<Inner>);

impl Stranger {
    fn enter(inner: &Arc<Inner>) -> Option<Self> {
        let held = inner.strangers.fetch_add(1, Ordering::SeqCst);
        if held >= gate::MAX_STRANGERS {
            inner.strangers.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(inner.clone()))
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        self.0.strangers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a connection ended, for the dial loop.
pub(super) enum RunEnd {
    /// A session was up (it may have ended since).
    Established,
    /// Both sides dialled at once and this connection yielded to the other one.
    Duplicate,
    /// The peer refused us.
    Refused(String),
    /// No session came up.
    Failed(String),
}

pub(super) struct Conn {
    pub(super) inner: Arc<Inner>,
    pub(super) peer: PeerId,
    pub(super) conn: quinn::Connection,
    pub(super) id: usize,
    pub(super) outgoing: bool,
    pub(super) is_contact: bool,
    /// We talk with it as with a contact: it is one, or the privacy mode is `everyone`.
    pub(super) talks: bool,
    pub(super) registered: bool,
    /// A room member who is no contact: admitted for room traffic only (its one-to-one
    /// messages are not stored).
    pub(super) room_only: bool,
    /// What the flood limits hold back (`throttle.rs`).
    pub(super) inbound: Inbound,
}

/// What one session holds back from its peer, and how far it has applied its acks and
/// receipts.
#[derive(Default)]
pub(super) struct Inbound {
    /// Chats read but not stored (in order): the stream is not read while any wait.
    pub(super) held: Vec<IncomingChat>,
    /// When the held chats are tried again; `None`: when the peer is accepted.
    pub(super) resume_at: Option<Instant>,
    /// The highest ack and receipt applied on this session.
    pub(super) acked: u64,
    pub(super) read: u64,
    /// A receipt that came over the limit: applied with the next one let through.
    pub(super) read_pending: u64,
}

async fn open_streams(
    conn: &quinn::Connection,
    outgoing: bool,
) -> Result<(quinn::SendStream, quinn::RecvStream), RunEnd> {
    let fut = async {
        if outgoing {
            conn.open_bi().await
        } else {
            conn.accept_bi().await
        }
    };
    match tokio::time::timeout(crate::session::HELLO_TIMEOUT, fut).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(end_of(conn, &e)),
        Err(_) => Err(RunEnd::Failed("no control stream in time".into())),
    }
}

pub(super) fn end_of(conn: &quinn::Connection, e: &quinn::ConnectionError) -> RunEnd {
    match transport::classify(conn.remote_address(), e) {
        DialError::Refused(r) => RunEnd::Refused(r),
        other => RunEnd::Failed(other.to_string()),
    }
}

/// Runs one connection until it ends.
pub(super) async fn run(
    inner: Arc<Inner>,
    conn: quinn::Connection,
    peer: PeerId,
    outgoing: bool,
) -> RunEnd {
    let Some(session_id) = transport::session_id(&conn) else {
        return RunEnd::Failed("no session id".into());
    };
    let p = peer;
    let me = inner.me;
    let loaded = inner
        .store
        .call(move |c| Ok((store::streams(c, &me, &p)?, store::get_contact(c, &p)?)))
        .await;
    let (streams, contact) = match loaded {
        Ok(v) => v,
        Err(e) => return RunEnd::Failed(e.to_string()),
    };
    let is_contact = contact
        .as_ref()
        .is_some_and(|c| c.state == ContactState::Contact);
    let receipts = contact.as_ref().is_some_and(|c| c.send_receipts) && is_contact;
    let (send, recv) = match open_streams(&conn, outgoing).await {
        Ok(s) => s,
        Err(end) => return end,
    };
    let Some((status, status_text)) = inner.actor.ask(Msg::PresenceNow).await else {
        return RunEnd::Failed("the node is stopping".into());
    };
    let (path, via, _) = super::relay::session_path(&inner, conn.remote_address());
    let session = Session::new(
        SessionConfig {
            local: inner.me,
            remote: peer,
            session_id,
            boot_id: inner.boot_id,
            versions: VERSIONS,
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
            incarnation: streams.out_incarnation,
            acked_incarnation: streams.in_incarnation,
            acked_seq: streams.in_seq,
            read_seq: if receipts { streams.in_read_seq } else { 0 },
            status: status.on_wire(),
            status_text,
            // Announced to the peer before any message, with the relay's name if relayed.
            path: path.as_str().into(),
            via: via.unwrap_or_default(),
        },
        Instant::now(),
    );
    let room_only = !is_contact
        && matches!(
            inner.actor.ask(|reply| Msg::Admit(peer, reply)).await,
            Some(Admission::Room | Admission::Asker)
        );
    let talks = match inner.actor.ask(|reply| Msg::IsContact(peer, reply)).await {
        Some((_, talks)) => talks || is_contact,
        None => is_contact,
    };
    let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
    let mut c = Conn {
        inner,
        peer,
        conn,
        id,
        outgoing,
        is_contact,
        talks,
        registered: false,
        room_only,
        inbound: Default::default(),
    };
    let end = c.drive(session, send, recv).await;
    let established = c.registered;
    c.finish(match &end {
        RunEnd::Established | RunEnd::Duplicate => String::new(),
        RunEnd::Refused(r) | RunEnd::Failed(r) => r.clone(),
    });
    if established {
        RunEnd::Established
    } else {
        end
    }
}
