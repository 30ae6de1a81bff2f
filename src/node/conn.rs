//! Owns one connection's life: the policy check after the handshake, the control stream, the
//! sans-IO [`Session`] driven with real bytes and time, the store work each event implies,
//! the one-session-per-peer rule, and redialling contacts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{Event, Inner, NodeError, PRIVACY_KEY, PrivacyMode, lock};
use crate::identity::PeerId;
use crate::node::DialFailure;
use crate::session::{FEATURES, Session, SessionConfig, VERSIONS};
use crate::store::{self, ContactState, Store};
use crate::transport::{self, CLOSE_NORMAL, CLOSE_REFUSED, DialError};
use crate::wire::{Status, TypingState};

/// Commands from the node to a connection task.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// New messages are in the outbox.
    Flush,
    /// Send our typing state.
    Typing(TypingState),
    /// Send a read receipt.
    Read(u64),
    /// Send our presence.
    Presence(Status, String),
    /// The peer's contact entry changed: read it again.
    Refresh,
    /// Send a file control frame.
    File(crate::wire::FileFrame),
    /// Close the session with this application code.
    Close(u32),
}

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
        let inner = inner.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let conn = match incoming.await {
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
            // The policy sees the authenticated key before any stream is accepted.
            match admit(&inner, &peer).await {
                Ok(Admission::Admit) => {}
                Ok(Admission::Blocked) => {
                    // Silently: the blocked party sees an ordinary close and learns nothing.
                    tracing::debug!("blocked peer closed before any frame");
                    conn.close(quinn::VarInt::from_u32(CLOSE_NORMAL), b"");
                    return;
                }
                Ok(Admission::Stranger) => {
                    emit(&inner, Event::StrangerRefused { peer });
                    conn.close(
                        quinn::VarInt::from_u32(CLOSE_REFUSED),
                        b"this user accepts contacts only",
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "policy check failed; refusing");
                    conn.close(quinn::VarInt::from_u32(CLOSE_REFUSED), b"try later");
                    return;
                }
            }
            let span = tracing::info_span!("session", peer = ?peer, %remote, dir = "in");
            run(inner, conn, peer, false).instrument(span).await;
        });
    }
}

enum Admission {
    Admit,
    Blocked,
    Stranger,
}

/// The privacy policy, decided on the authenticated key alone.
async fn admit(inner: &Arc<Inner>, peer: &PeerId) -> Result<Admission, NodeError> {
    let p = *peer;
    let (blocked, contact) = inner
        .store
        .call(move |c| Ok((store::is_blocked(c, &p)?, store::get_contact(c, &p)?)))
        .await?;
    if blocked {
        return Ok(Admission::Blocked);
    }
    let is_contact = contact.is_some_and(|c| c.state == ContactState::Contact);
    if !is_contact && privacy(&inner.store).await? == PrivacyMode::ContactsOnly {
        return Ok(Admission::Stranger);
    }
    Ok(Admission::Admit)
}

/// Starts a dial loop for a contact unless one runs or a session is up.
pub(crate) fn ensure_dialing(inner: &Arc<Inner>, peer: PeerId) {
    if inner.shutdown.load(Ordering::SeqCst) || !lock(&inner.dialing).insert(peer) {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        dial_loop(&inner, peer).await;
        lock(&inner.dialing).remove(&peer);
    });
}

async fn dial_loop(inner: &Arc<Inner>, peer: PeerId) {
    let mut backoff = Duration::from_millis(250);
    let mut reported = false;
    loop {
        if inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if lock(&inner.sessions).contains_key(&peer) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let p = peer;
        let Ok((Some(contact), blocked)) = inner
            .store
            .call(move |c| Ok((store::get_contact(c, &p)?, store::is_blocked(c, &p)?)))
            .await
        else {
            return;
        };
        if blocked || contact.state != ContactState::Contact {
            return;
        }
        let stored = contact
            .addr
            .as_deref()
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let lan = super::lan::candidates(inner, &peer);
        let found = super::rendezvous::candidates(inner, &peer).await;
        tracing::debug!(peer = ?peer, stored = ?stored, lan = ?lan, rendezvous = ?found, "dialling");
        if stored.is_none() && lan.is_empty() && found.is_empty() {
            if inner.rv.is_none() {
                return; // nowhere to dial; a LAN sighting starts a new loop
            }
            // Offline at the rendezvous: what waits for it goes to the mailbox, sealed;
            // look again later, or when its dial signal comes.
            super::mailbox::deposit_pending(inner, peer).await;
            tokio::select! {
                _ = tokio::time::sleep(backoff.max(Duration::from_secs(5))) => {}
                _ = inner.wake.notified() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        let failure = match dial_any(inner, peer, stored, lan, found).await {
            Ok((conn, addr)) => {
                let span =
                    tracing::info_span!("session", peer = ?peer, remote = %addr, dir = "out");
                match run(inner.clone(), conn, peer, true).instrument(span).await {
                    RunEnd::Established => {
                        backoff = Duration::from_millis(250);
                        reported = false;
                        continue;
                    }
                    RunEnd::Duplicate => continue,
                    RunEnd::Refused(reason) => DialError::Refused(reason),
                    RunEnd::Failed(reason) => DialError::Unreachable { addr, reason },
                }
            }
            Err(e) => e,
        };
        let kind = match failure {
            DialError::WrongKey { .. } => DialFailure::WrongKey,
            DialError::Refused(_) => DialFailure::Refused,
            DialError::Unreachable { .. } => DialFailure::Unreachable,
        };
        if kind != DialFailure::Unreachable || !reported {
            emit(
                inner,
                Event::DialFailed {
                    peer,
                    kind,
                    error: failure.to_string(),
                },
            );
            reported = true;
        }
        if kind != DialFailure::Unreachable {
            return; // never retry a wrong key or a refusal on our own
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = inner.wake.notified() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
}

/// Dials every candidate at once; the first handshake wins. A LAN address that presents
/// another key is a spoofed record: reported, dropped, and not fatal for the contact.
async fn dial_any(
    inner: &Arc<Inner>,
    peer: PeerId,
    stored: Option<SocketAddr>,
    lan: Vec<SocketAddr>,
    found: Vec<SocketAddr>,
) -> Result<(quinn::Connection, SocketAddr), DialError> {
    let mut set = tokio::task::JoinSet::new();
    // (address, is a hint): a LAN record or a rendezvous answer is only a hint, so a wrong
    // key there is not fatal for the contact; a stored address is the user's own word.
    let mut addrs: Vec<(SocketAddr, bool)> = lan.into_iter().map(|a| (a, true)).collect();
    for a in found {
        if !addrs.iter().any(|(b, _)| *b == a) {
            addrs.push((a, true));
        }
    }
    if let Some(s) = stored
        && !addrs.iter().any(|(a, _)| *a == s)
    {
        addrs.push((s, false));
    }
    for (addr, from_lan) in addrs {
        let inner = inner.clone();
        set.spawn(async move {
            let r = transport::dial(&inner.endpoint, &inner.identity, peer, addr).await;
            (addr, from_lan, r)
        });
    }
    let mut last = None;
    while let Some(joined) = set.join_next().await {
        let Ok((addr, from_lan, result)) = joined else {
            continue;
        };
        match result {
            Ok(conn) => {
                set.abort_all();
                return Ok((conn, addr));
            }
            Err(DialError::WrongKey { presented, .. }) if from_lan => {
                super::lan::spoofed(inner, peer, presented, addr);
            }
            Err(e @ (DialError::WrongKey { .. } | DialError::Refused(_))) => last = Some(e),
            Err(e) => {
                if last.is_none() {
                    last = Some(e);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| DialError::Unreachable {
        addr: stored.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        reason: "no address answered".into(),
    }))
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
    pub(super) last_sent: u64,
    /// The last flush stopped at its window: more of the outbox waits for this session.
    pub(super) more_to_flush: bool,
    pub(super) registered: bool,
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
async fn run(inner: Arc<Inner>, conn: quinn::Connection, peer: PeerId, outgoing: bool) -> RunEnd {
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
    let (status, status_text) = lock(&inner.presence).clone();
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
            status,
            status_text,
        },
        Instant::now(),
    );
    let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
    let mut c = Conn {
        inner,
        peer,
        conn,
        id,
        outgoing,
        is_contact,
        last_sent: 0,
        more_to_flush: false,
        registered: false,
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
