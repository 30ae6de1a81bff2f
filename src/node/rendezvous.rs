//! The node's use of the rendezvous: keeps a signed presence registered from the node's own
//! endpoint (renewed every minute; re-registered with jittered backoff when the server or
//! the network goes away), finds contacts that are not on the LAN, dials back peers that
//! signal they are dialling us, and runs the sealed mailbox (see `mailbox.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::state::Msg;
use super::{Event, Inner};
use crate::rendezvous::proto::{self, PresenceRecord, Push, Register, push};
use crate::rendezvous::record::{self, Meeting};
use crate::rendezvous::{Client, ClientError};
use crate::session::FEATURES;
use crate::store::{self, ContactState};

/// How often presence is renewed.
const RENEW: Duration = Duration::from_secs(60);
/// How long one registration is valid without renewal.
const RECORD_TTL: Duration = Duration::from_secs(180);
/// Longest wait between re-registration attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// While registered over TCP, how often UDP is tried again.
const UDP_RETRY: Duration = Duration::from_secs(30);

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

pub(super) fn now_ms() -> u64 {
    store::now_ms().max(0) as u64
}

/// A random fraction of `d` between 50 % and 100 %, so clients do not return in lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let f = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 2.0;
    d.mul_f64(f)
}

/// Starts the registration loop if a rendezvous is configured.
pub(super) fn start(inner: &Arc<Inner>) {
    if let Some(rv) = inner.rv.clone() {
        tokio::spawn(register_loop(inner.clone(), rv));
    }
}

async fn register_loop(inner: Arc<Inner>, rv: Arc<Client>) {
    let mut backoff = Duration::from_millis(500);
    let mut was_online = false;
    // `issued_ms` of our last registration: each must be later than the one before.
    let mut issued = 0;
    // The push stream of the registration a renewal replaces: read to its end, since the
    // server writes to it until the renewal is in (a knock pushed meanwhile is not lost).
    let mut previous: Option<quinn::RecvStream> = None;
    while !inner.shutdown.load(Ordering::SeqCst) {
        let reg = match registration(&inner, &rv, &mut issued).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the presence record");
                tokio::time::sleep(MAX_BACKOFF).await;
                continue;
            }
        };
        let register = rv.register(reg);
        tokio::pin!(register);
        let registered = loop {
            tokio::select! {
                r = &mut register => break r,
                p = next_push(&mut previous) => match p {
                    Some(Ok(Some(p))) if !is_restarting(&p) => on_push(&inner, p).await,
                    _ => previous = None,
                },
            }
        };
        match registered {
            Ok((registered, _send, mut pushes)) => {
                backoff = Duration::from_millis(500);
                // The fetch is under way before anyone hears we are registered (a room send
                // waits for it: see `rooms::fresh`).
                super::mailbox::fetch_soon(&inner);
                if !was_online {
                    let how = if rv.over_tcp() {
                        " over TCP (no UDP gets out of this network: sessions go through its relay)"
                    } else {
                        ""
                    };
                    emit(
                        &inner,
                        Event::Rendezvous {
                            online: true,
                            detail: format!(
                                "registered at the rendezvous {}{how}; it sees us at {}",
                                rv.addr_in_use(),
                                registered.observed
                            ),
                            observed: registered.observed.parse().ok(),
                            transport: Some(if rv.over_tcp() { "tcp" } else { "udp" }),
                        },
                    );
                }
                was_online = true;
                super::relay::available(&inner, registered.relay);
                let renew = tokio::time::sleep(RENEW);
                tokio::pin!(renew);
                // Relay frames arrive as datagrams on the same connection.
                let Ok(conn) = rv.connection().await else {
                    continue;
                };
                let udp_retry = tokio::time::sleep(UDP_RETRY);
                tokio::pin!(udp_retry);
                let mut renewing = false;
                loop {
                    tokio::select! {
                        // On TCP: does UDP get out now? Then register over it instead.
                        _ = &mut udp_retry, if rv.over_tcp() => {
                            if rv.try_udp().await {
                                tracing::info!("UDP reaches the rendezvous again: leaving TCP");
                                was_online = false;
                                break;
                            }
                            udp_retry.as_mut().reset(tokio::time::Instant::now() + UDP_RETRY);
                        },
                        d = conn.read_datagram() => match d {
                            Ok(frame) => super::relay::incoming(&inner, &frame),
                            Err(_) => {
                                lost(&inner, &rv).await;
                                was_online = false;
                                break;
                            }
                        },
                        p = proto::read::<Push>(&mut pushes) => match p {
                            Ok(Some(p)) if !is_restarting(&p) => on_push(&inner, p).await,
                            // The server went away, restarted, or says it is restarting.
                            _ => {
                                lost(&inner, &rv).await;
                                was_online = false;
                                break;
                            }
                        },
                        p = next_push(&mut previous) => match p {
                            Some(Ok(Some(p))) if !is_restarting(&p) => on_push(&inner, p).await,
                            _ => previous = None,
                        },
                        _ = &mut renew => {
                            renewing = true;
                            break;
                        }
                        _ = inner.rv_wake.notified() => {
                            renewing = true;
                            break;
                        }
                    }
                }
                previous = renewing.then_some(pushes);
            }
            Err(e) => {
                if was_online || backoff == Duration::from_millis(500) {
                    emit(
                        &inner,
                        Event::Rendezvous {
                            online: false,
                            detail: format!("{e}; retrying on its own"),
                            observed: None,
                            transport: None,
                        },
                    );
                }
                was_online = false;
                let wait = match e {
                    ClientError::RateLimited { retry_after } => retry_after,
                    // No answer: the next of the deployment's addresses is tried first.
                    ClientError::Unreachable { .. } => {
                        rv.reset().await;
                        rv.fail_over();
                        jitter(backoff)
                    }
                    _ => {
                        rv.reset().await;
                        jitter(backoff)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = inner.rv_wake.notified() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The server went away (or restarted, or says it is restarting): every relay with it is
/// gone; register again.
async fn lost(inner: &Inner, rv: &Client) {
    rv.reset().await;
    // A deployment of several nodes: the next one is tried first.
    rv.fail_over();
    super::relay::available(inner, false);
    emit(
        inner,
        Event::Rendezvous {
            online: false,
            detail: "lost the rendezvous; registering again on our own".into(),
            observed: None,
            transport: None,
        },
    );
}

/// The transports we can use now, as our record lists them: a node on TCP can be reached
/// only through the relay.
fn transports(rv: &Client) -> Vec<String> {
    let names: &[&str] = if rv.over_tcp() {
        &[proto::TRANSPORT_RELAY_TCP]
    } else {
        &[proto::TRANSPORT_QUIC, proto::TRANSPORT_RELAY_UDP]
    };
    names.iter().map(|t| t.to_string()).collect()
}

/// Our signed record and the lookup tokens of our contacts.
async fn registration(
    inner: &Arc<Inner>,
    rv: &Client,
    last_issued: &mut u64,
) -> Result<Register, super::NodeError> {
    let me = inner.me;
    let (contacts, blocked, members) = inner
        .store
        .call(move |c| {
            Ok((
                store::list_contacts(c, ContactState::Contact)?,
                store::blocked(c)?,
                super::rooms::members(c, &me)?,
            ))
        })
        .await?;
    // Contacts look us up, and so do the members of the rooms we are in ("allowed because
    // we share a room").
    let mut allowed: Vec<crate::identity::PeerId> = contacts.iter().map(|c| c.peer).collect();
    for m in members {
        if !allowed.contains(&m) {
            allowed.push(m);
        }
    }
    let tokens = allowed
        .iter()
        .filter(|p| !blocked.contains(p))
        .filter_map(|p| rv.own_token(p))
        .map(|t| t.to_vec())
        .collect();
    // Invisible: offline to all but the contacts picked to see us, and no address in the
    // record (they find us by the address the server observes, and by dial signals).
    let hidden = inner
        .actor
        .ask(Msg::PresenceNow)
        .await
        .is_some_and(|(s, _)| s == crate::wire::Status::Invisible);
    let visible = match hidden {
        true => contacts
            .iter()
            .filter(|c| c.sees_invisible && !blocked.contains(&c.peer))
            .filter_map(|c| rv.own_token(&c.peer))
            .map(|t| t.to_vec())
            .collect(),
        false => Vec::new(),
    };
    let prekey = super::mailbox::current_prekey(inner).await?;
    let now = now_ms();
    *last_issued = now.max(*last_issued + 1);
    let issued = *last_issued;
    let record = PresenceRecord {
        transports: transports(rv),
        peer: inner.me.as_bytes().to_vec(),
        addrs: if hidden {
            Vec::new()
        } else {
            local_candidates(inner)
        },
        min_version: 1,
        max_version: 1,
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        prekey: prekey.public.to_vec(),
        prekey_expires_ms: prekey.expires_ms,
        issued_ms: issued,
        expires_ms: now + RECORD_TTL.as_millis() as u64,
    };
    Ok(Register {
        record: Some(record::sign(&inner.identity, &record)),
        tokens,
        hidden,
        visible,
    })
}

/// The addresses we listen on: the bound one, or every interface's for a wildcard bind.
pub(super) fn local_candidates(inner: &Inner) -> Vec<String> {
    let Ok(bound) = inner.endpoint.local_addr() else {
        return Vec::new();
    };
    if !bound.ip().is_unspecified() {
        return vec![bound.to_string()];
    }
    let ifs = if_addrs::get_if_addrs().unwrap_or_default();
    let mut out: Vec<String> = ifs
        .iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4() == bound.is_ipv4())
        .filter(|ip| !matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .map(|ip| SocketAddr::new(ip, bound.port()).to_string())
        .collect();
    out.truncate(proto::MAX_ADDRS - 1);
    out
}

/// The next push on the stream of a registration being replaced (never, without one).
async fn next_push(
    stream: &mut Option<quinn::RecvStream>,
) -> Option<Result<Option<Push>, proto::ProtoError>> {
    match stream {
        Some(s) => Some(proto::read::<Push>(s).await),
        None => std::future::pending().await,
    }
}

/// The server says it is stopping and will be back: register again (it answers once up).
fn is_restarting(p: &Push) -> bool {
    matches!(p.body, Some(push::Body::Restarting(_)))
}

fn peer_of(bytes: &[u8]) -> Option<crate::PeerId> {
    <[u8; 32]>::try_from(bytes)
        .ok()
        .and_then(|b| crate::PeerId::from_bytes(b).ok())
}

async fn on_push(inner: &Arc<Inner>, p: Push) {
    match p.body {
        Some(push::Body::MailWaiting(_)) => super::mailbox::fetch_soon(inner),
        Some(push::Body::DialMe(d)) => {
            let Some(from) = peer_of(&d.from) else {
                return;
            };
            // The node's task acts on it only for a contact that is not blocked, and only
            // on so many (`Msg::Hint`).
            let mut addrs: Vec<SocketAddr> = d.observed.parse().ok().into_iter().collect();
            if let Some(v) = d.record.and_then(|r| record::verify(&r, Some(&from)).ok()) {
                addrs.extend(v.addrs);
            }
            tracing::debug!(peer = ?from, ?addrs, "dial signal from the rendezvous");
            inner.actor.tell(Msg::Hint(from, addrs));
        }
        Some(push::Body::RelayAsked(a)) => {
            if let Some(from) = peer_of(&a.from) {
                let inner = inner.clone();
                // Answering may ask the store and the server: not in the way of pushes.
                tokio::spawn(async move { super::relay::asked(&inner, from).await });
            }
        }
        Some(push::Body::RelayReady(r)) => {
            if let Some(peer) = peer_of(&r.peer) {
                super::relay::ready(inner, peer);
            }
        }
        Some(push::Body::Knocked(k)) => {
            let (Some(from), Some(room)) =
                (peer_of(&k.from), crate::room::RoomId::from_slice(&k.room))
            else {
                return;
            };
            let mut addrs: Vec<SocketAddr> = k.observed.parse().ok().into_iter().collect();
            if let Some(v) = k.record.and_then(|r| record::verify(&r, Some(&from)).ok()) {
                addrs.extend(v.addrs);
            }
            let inner = inner.clone();
            // Answering writes the store and may ask the server: not in the way of pushes.
            tokio::spawn(async move { inner.knocked(room, from, addrs).await });
        }
        Some(push::Body::Restarting(_)) | None => {}
    }
}

/// What the rendezvous says of a contact.
pub(super) struct Found {
    /// Where it is (after the hints from a signal it sent us); empty without a rendezvous
    /// or when it is offline.
    pub(super) addrs: Vec<SocketAddr>,
    /// A direct path may exist: both of us can send UDP (`record::meeting`). Otherwise
    /// only the relay joins us, and punching is pointless.
    pub(super) direct: bool,
}

/// Where the rendezvous says `peer` is, with a dial signal to it.
pub(super) async fn candidates(
    inner: &Arc<Inner>,
    peer: &crate::PeerId,
    hints: Vec<SocketAddr>,
) -> Found {
    lookup(inner, peer, hints, true).await
}

/// Like [`candidates`]; `signal`: the peer is asked to dial us at the same moment.
pub(super) async fn lookup(
    inner: &Arc<Inner>,
    peer: &crate::PeerId,
    hints: Vec<SocketAddr>,
    signal: bool,
) -> Found {
    let mut out = hints;
    let Some(rv) = inner.rv.clone() else {
        return Found {
            addrs: out,
            direct: true,
        };
    };
    let ours = transports(&rv);
    let mut direct = !rv.over_tcp();
    match rv.lookup(peer, signal).await {
        Ok(p) => {
            let verified = p.record.and_then(|r| record::verify(&r, Some(peer)).ok());
            if let Some(v) = &verified {
                super::mailbox::remember_prekey(inner, *peer, v);
            }
            if p.online {
                if let Ok(a) = p.observed.parse() {
                    out.push(a);
                }
                if let Some(v) = &verified {
                    direct = record::meeting(&ours, &v.record.transports) == Meeting::Direct;
                }
                out.extend(verified.into_iter().flat_map(|v| v.addrs));
            }
        }
        Err(e) => tracing::debug!(error = %e, "rendezvous lookup failed"),
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(*a));
    Found { addrs: out, direct }
}
