//! Owns dialling one contact: the dial loop (the node's task runs one per contact), the
//! candidates each round tries (a stored address, LAN sightings, rendezvous answers, a
//! relay both of us opened) and the race between them; after a missed punch, a relay if the
//! policy allows (`relay.rs`). Everything else asks for a dial with `Msg::Dial` and never calls in
//! here, so the modules that find addresses (LAN, rendezvous) do not import the one that
//! dials.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::Instrument;

use super::conn::{RunEnd, run};
use super::consent::Decision;
use super::state::{Admission, Candidates, Msg};
use super::{Event, Inner};
use crate::identity::PeerId;
use crate::model::Path;
use crate::node::DialFailure;
use crate::store::{self, ContactState};
use crate::transport::{self, DialError};

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

/// Dials one contact until a session is up, and again whenever it ends, until the contact
/// is gone, blocked, refuses us, or has nowhere left to try. Sleeps between rounds; `wake`
/// cuts a sleep short (the contact came into sight, signalled, or has new messages).
/// Returns whether it stopped for want of an address (then a wake as it ends restarts it).
pub(super) async fn dial_loop(inner: &Arc<Inner>, peer: PeerId, wake: Arc<Notify>) -> bool {
    let mut backoff = Duration::from_millis(250);
    let mut reported = false;
    // Rounds that failed although the rendezvous knew where the peer is (a punch that did
    // not open a path).
    let mut missed_punches = 0;
    loop {
        if inner.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        if inner.actor.is_connected(&peer) {
            inner.actor.disconnected(&peer).await;
            continue;
        }
        let p = peer;
        let Ok((contact, blocked)) = inner
            .store
            .call(move |c| Ok((store::get_contact(c, &p)?, store::is_blocked(c, &p)?)))
            .await
        else {
            return false;
        };
        // A contact, or a member of a room we are in (no address of its own: found on the
        // LAN or at the rendezvous, which lets room members look each other up).
        let contact = match contact.filter(|c| c.state == ContactState::Contact) {
            Some(c) => c,
            None if inner.actor.ask(|reply| Msg::Admit(peer, reply)).await
                == Some(Admission::Room) =>
            {
                store::Contact::new(peer)
            }
            None => return false,
        };
        if blocked {
            return false;
        }
        // We are invisible to this contact: dialling it would show us online. What waits for
        // it goes to the mailbox; the loop looks again when we become visible (or it is
        // picked to see us).
        if inner.actor.ask(|reply| Msg::Admit(peer, reply)).await == Some(Admission::Hidden) {
            if inner.rv.is_some() {
                // A lookup without a dial signal (a signal would tell it we are here): it
                // refreshes the contact's prekey for the mailbox.
                super::rendezvous::lookup(inner, &peer, Vec::new(), false).await;
                super::mailbox::deposit_pending(inner, peer).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = wake.notified() => {}
            }
            continue;
        }
        let stored = contact
            .addr
            .as_deref()
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let Candidates {
            lan,
            hints,
            relay_ready,
        } = inner
            .actor
            .ask(|reply| Msg::Candidates(peer, reply))
            .await
            .unwrap_or_default();
        let super::rendezvous::Found {
            addrs: found,
            direct,
        } = super::rendezvous::candidates(inner, &peer, hints).await;
        // The relay only while the rendezvous says the peer is there (offline: its mail
        // goes to the mailbox below).
        let relayed = (relay_ready && !found.is_empty())
            .then(|| inner.relay.map(peer))
            .flatten();
        tracing::debug!(peer = ?peer, stored = ?stored, lan = ?lan, rendezvous = ?found, ?relayed, "dialling");
        if stored.is_none() && lan.is_empty() && found.is_empty() && relayed.is_none() {
            if inner.rv.is_none() {
                return true; // nowhere to dial; a LAN sighting starts a new loop
            }
            // Offline at the rendezvous: what waits for it goes to the mailbox, sealed;
            // look again later, or when its dial signal comes.
            super::mailbox::deposit_pending(inner, peer).await;
            tokio::select! {
                _ = tokio::time::sleep(backoff.max(Duration::from_secs(5))) => {}
                _ = wake.notified() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        // The peer is online at the rendezvous (or just signalled us): its NAT or ours may
        // let no direct path exist.
        let punching = !found.is_empty();
        // Where one of us cannot send UDP, only the relay joins us: no punch.
        let punch = if direct { found } else { Vec::new() };
        let mut attempt = dial_any(inner, peer, stored, lan, punch, relayed).await;
        // The user already heard why (a prompt, or "your policy forbids it").
        let mut told = false;
        if punching && relayed.is_none() && matches!(attempt, Err(DialError::Unreachable { .. })) {
            match through_relay(inner, &contact).await {
                Relayed::Dialled(r) => attempt = r,
                Relayed::Told => told = true,
                Relayed::No => {}
            }
        }
        let failure = match attempt {
            Ok((conn, addr)) => {
                let span =
                    tracing::info_span!("session", peer = ?peer, remote = %addr, dir = "out");
                match run(inner.clone(), conn, peer, true).instrument(span).await {
                    RunEnd::Established => {
                        backoff = Duration::from_millis(250);
                        reported = false;
                        missed_punches = 0;
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
        let punched = kind == DialFailure::Unreachable && punching;
        let error = if punched {
            missed_punches += 1;
            no_direct_path(&contact.nickname, &peer)
        } else {
            failure.to_string()
        };
        // A first punch can miss while the peer's packets are still on their way: a
        // missed punch is told from the second round on.
        let due = !punched || missed_punches >= NO_PATH_AFTER;
        if kind != DialFailure::Unreachable || (!reported && !told && due) {
            emit(inner, Event::DialFailed { peer, kind, error });
            reported = true;
        }
        if kind != DialFailure::Unreachable {
            return false; // never retry a wrong key or a refusal on our own
        }
        // Not at the rendezvous, and not at the address we knew (or on the LAN): what
        // waits for it goes to the mailbox as well (a copy that comes twice is stored once).
        if !punching && inner.rv.is_some() {
            super::mailbox::deposit_pending(inner, peer).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = wake.notified() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
}

/// How often a relayed session looks for a direct path (each look also asks the peer to
/// punch at the same moment; a network change looks at once).
const UPGRADE_EVERY: Duration = Duration::from_secs(20);

/// While the session with `peer` is relayed: now and then (and when woken by a network
/// change or the peer's punch) a direct round. A direct session that comes up replaces the
/// relayed one (`session::keeps_new`): sequence numbers and acks make the switch lossless.
/// A round woken by the peer's dial signal only answers it (no signal back, so two relayed
/// peers do not wake each other for ever).
pub(super) async fn upgrade_loop(inner: &Arc<Inner>, peer: PeerId, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(UPGRADE_EVERY) => {}
            _ = wake.notified() => {}
            _ = inner.actor.disconnected(&peer) => break,
        }
        let path = inner.actor.ask(|r| Msg::PathOf(peer, r)).await.flatten();
        if inner.shutdown.load(Ordering::SeqCst) || path != Some(Path::Relayed) {
            break;
        }
        let Candidates { lan, hints, .. } = inner
            .actor
            .ask(|reply| Msg::Candidates(peer, reply))
            .await
            .unwrap_or_default();
        let found = if hints.is_empty() {
            let f = super::rendezvous::lookup(inner, &peer, hints, true).await;
            if !f.direct {
                continue; // one of us cannot send UDP: nothing to punch for
            }
            f.addrs
        } else {
            hints
        };
        if found.is_empty() && lan.is_empty() {
            continue;
        }
        tracing::debug!(peer = ?peer, ?found, ?lan, "relayed: looking for a direct path");
        if let Ok((conn, addr)) = dial_any(inner, peer, None, lan, found, None).await {
            let span = tracing::info_span!("session", peer = ?peer, remote = %addr, dir = "out");
            run(inner.clone(), conn, peer, true).instrument(span).await;
            break;
        }
    }
    inner.actor.tell(Msg::UpgradeEnded(peer));
}

/// What a relay did for a round whose punch missed.
enum Relayed {
    /// Both sides had consented: the relay was dialled.
    Dialled(Result<(quinn::Connection, SocketAddr), DialError>),
    /// The user was asked, or told the policy forbids it.
    Told,
    /// Nothing (no relay, declined, or waiting for the peer's consent: its arrival wakes
    /// the loop, whose next round dials the relay).
    No,
}

/// After a missed punch: a relay, if the policy (or the user) allows it.
async fn through_relay(inner: &Arc<Inner>, contact: &store::Contact) -> Relayed {
    let peer = contact.peer;
    match super::relay::decide(inner, contact).await.0 {
        Decision::Open => match super::relay::open(inner, peer).await {
            Ok(Some(addr)) => {
                let r = transport::dial(&inner.endpoint, &inner.identity, peer, addr).await;
                Relayed::Dialled(r.map(|c| (c, addr)))
            }
            Ok(None) => Relayed::No,
            Err(e) => {
                tracing::debug!(error = %e, "no relay");
                Relayed::No
            }
        },
        Decision::Ask | Decision::Forbidden => Relayed::Told,
        Decision::Declined | Decision::Unavailable => Relayed::No,
    }
}

/// Punch rounds that miss before the user hears there is no direct path (each round is
/// at most a dial timeout, 5 s, plus a backoff under a second: told about 11 s after the
/// first round that found the peer online).
const NO_PATH_AFTER: u32 = 2;

/// What the user reads when the rendezvous knows where a contact is but no packet gets
/// through: both sides tried at once, so a NAT (theirs or ours) lets no direct path exist.
fn no_direct_path(nickname: &str, peer: &PeerId) -> String {
    let who = if nickname.is_empty() {
        peer.to_string().chars().take(10).collect()
    } else {
        nickname.to_string()
    };
    format!(
        "could not reach {who} directly: their network (or yours) does not allow it; \
         your messages stay queued and go out when one of you is on a network that does"
    )
}

/// Dials every candidate at once; the first handshake wins. A LAN address that presents
/// another key is a spoofed record: reported, dropped, and not fatal for the contact.
async fn dial_any(
    inner: &Arc<Inner>,
    peer: PeerId,
    stored: Option<SocketAddr>,
    lan: Vec<SocketAddr>,
    found: Vec<SocketAddr>,
    relayed: Option<SocketAddr>,
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
    // A relay both of us opened: raced with the direct candidates (a direct path wins when
    // both answer, as it usually answers first).
    addrs.extend(relayed.map(|a| (a, true)));
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
            // Only a relay that mislabels its frames could do this: not the peer's fault.
            Err(DialError::WrongKey { .. }) if transport::is_mapped(addr) => {
                last.get_or_insert(DialError::Unreachable {
                    addr,
                    reason: "the relay delivered another key".into(),
                });
            }
            Err(DialError::WrongKey { presented, .. }) if from_lan => {
                super::lan::spoofed(inner, peer, presented, addr);
            }
            // The user's own stored address presents another key: the same warning as a
            // LAN record's (the contact may have reinstalled, or someone took the address);
            // the dial loop stops there, so it is told once per dial.
            Err(e @ DialError::WrongKey { presented, .. }) => {
                emit(
                    inner,
                    Event::SpoofSuspected {
                        claimed: peer,
                        presented,
                        addr,
                    },
                );
                last = Some(e);
            }
            Err(e @ DialError::Refused(_)) => last = Some(e),
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
