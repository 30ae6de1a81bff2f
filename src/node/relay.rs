//! Owns the node's use of a relay: the relay policy as stored (global, or a contact's own),
//! opening a relay with a contact at our rendezvous (our consent, which the server needs
//! from both sides before it forwards a byte), the pump that moves the endpoint's relayed
//! packets onto the rendezvous connection as relay frames and back, and naming a session's
//! path when it is relayed. Whether to open is `consent.rs`'s decision, asked of the task.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::consent::{Decision, RelayMsg};
use super::state::Msg;
use super::{Event, Inner, NodeError, NodeHandle};
use crate::identity::PeerId;
use crate::model::{Contact, ContactState, Path, RelayPolicy};
use crate::rendezvous::ClientError;
use crate::rendezvous::proto::{request, response};
use crate::rendezvous::relay::{self, RelayOpen};
use crate::store;

/// How long the pump waits for a packet before it looks whether the node still runs.
const PUMP_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The setting that holds the global relay policy.
pub(super) const RELAY_POLICY_KEY: &str = "relay_policy";

/// The global relay policy (default: ask).
pub(super) async fn global_policy(inner: &Inner) -> Result<RelayPolicy, NodeError> {
    let v = inner
        .store
        .call(|c| store::get_setting(c, RELAY_POLICY_KEY))
        .await?;
    Ok(v.and_then(|v| RelayPolicy::parse(&v)).unwrap_or_default())
}

/// Our relay's name as the user sees it: the rendezvous address it is part of
/// (`tcp://HOST:PORT` while we reach it over TCP).
pub(super) fn relay_name(inner: &Inner) -> Option<String> {
    inner.rv.as_ref().map(|rv| rv.name_in_use())
}

/// How a session reaches its peer: relayed when the connection talks to a mapped address
/// (then `via` names the relay and the address shown is the relay's), else LAN or direct.
pub(super) fn session_path(
    inner: &Inner,
    remote: SocketAddr,
) -> (Path, Option<String>, SocketAddr) {
    if inner.relay.key_of(remote).is_some()
        && let Some(rv) = &inner.rv
    {
        return (Path::Relayed, Some(rv.name_in_use()), rv.addr_in_use());
    }
    let path = super::path::classify(remote, &super::path::local_networks());
    (path, None, remote)
}

/// May a relay carry a session with this contact? The task asks the user or tells them it
/// is forbidden (once each) and answers with the relay's name.
pub(super) async fn decide(inner: &Inner, contact: &Contact) -> (Decision, Option<String>) {
    let policy = match contact.relay {
        Some(p) => p,
        None => global_policy(inner).await.unwrap_or_default(),
    };
    let who = if contact.nickname.is_empty() {
        contact.peer.to_string().chars().take(10).collect()
    } else {
        contact.nickname.clone()
    };
    let peer = contact.peer;
    inner
        .actor
        .ask(|reply| {
            Msg::Relay(RelayMsg::Decide {
                peer,
                policy,
                who,
                reply,
            })
        })
        .await
        .unwrap_or((Decision::Unavailable, None))
}

/// Opens a relay with `peer` at our rendezvous: from now on its packets reach the endpoint
/// at its mapped address. Returns the mapped address once frames flow (both consented),
/// `None` while the server waits for the peer's consent (its `RelayReady` wakes the dial).
pub(super) async fn open(inner: &Inner, peer: PeerId) -> Result<Option<SocketAddr>, NodeError> {
    let rv = inner
        .rv
        .clone()
        .ok_or_else(|| NodeError::Rendezvous("no rendezvous is configured".into()))?;
    let mapped = inner
        .relay
        .map(peer)
        .ok_or_else(|| NodeError::Invalid("too many relayed peers".into()))?;
    let token = rv.token(&peer).unwrap_or([0; 32]);
    let own = rv.own_token(&peer).unwrap_or([0; 32]);
    let body = request::Body::RelayOpen(RelayOpen {
        peer: peer.as_bytes().to_vec(),
        token: token.to_vec(),
        own_token: own.to_vec(),
    });
    let ready = match rv.request(body).await {
        Ok(response::Body::RelayOpened(o)) => o.ready,
        Ok(_) => {
            return Err(rendezvous_error(ClientError::Protocol(
                "expected RelayOpened".into(),
            )));
        }
        Err(e) => return Err(rendezvous_error(e)),
    };
    tracing::debug!(peer = ?peer, ready, "relay opened");
    let msg = if ready {
        RelayMsg::Ready { peer, wake: false }
    } else {
        RelayMsg::Waiting(peer)
    };
    inner.actor.tell(Msg::Relay(msg));
    Ok(ready.then_some(mapped))
}

fn rendezvous_error(e: ClientError) -> NodeError {
    NodeError::Rendezvous(format!("could not open the relay: {e}"))
}

/// The peer `from` opened a relay with us: if the policy lets us (or the user already said
/// yes), we open too and frames flow; under `ask` the user is asked; under `never` told.
pub(super) async fn asked(inner: &Arc<Inner>, from: PeerId) {
    let contact = inner
        .store
        .call(move |c| Ok((store::get_contact(c, &from)?, store::is_blocked(c, &from)?)))
        .await;
    let Ok((Some(contact), false)) = contact else {
        return;
    };
    if contact.state != ContactState::Contact {
        return;
    }
    if decide(inner, &contact).await.0 == Decision::Open
        && let Err(e) = open(inner, from).await
    {
        tracing::debug!(error = %e, "could not answer a relay request");
    }
}

/// The user answered a relay prompt for `peer`: a yes opens the relay now.
pub(super) async fn answer(inner: &Arc<Inner>, peer: PeerId, yes: bool) -> Result<(), NodeError> {
    inner.actor.tell(Msg::Relay(RelayMsg::Answer(peer, yes)));
    if yes && let Some(_mapped) = open(inner, peer).await? {
        inner
            .actor
            .tell(Msg::Relay(RelayMsg::Ready { peer, wake: true }));
    }
    Ok(())
}

/// The server says `peer` consented after us: frames flow; dial it through the relay.
pub(super) fn ready(inner: &Inner, peer: PeerId) {
    inner
        .actor
        .tell(Msg::Relay(RelayMsg::Ready { peer, wake: true }));
}

/// Registered at a rendezvous that relays (or lost it).
pub(super) fn available(inner: &Inner, relays: bool) {
    let name = relays.then(|| relay_name(inner)).flatten();
    inner.actor.tell(Msg::Relay(RelayMsg::Available(name)));
}

/// A relay frame came in on the rendezvous connection: its packet goes to the endpoint
/// as a datagram from the source's mapped address (dropped unless we opened for it).
pub(super) fn incoming(inner: &Inner, frame: &Bytes) {
    match relay::parse(frame) {
        Ok((key, packet)) => {
            if let Ok(from) = PeerId::from_bytes(key) {
                inner.relay.deliver(&from, packet);
            }
        }
        Err(e) => tracing::debug!(error = %e, "bad relay frame"),
    }
}

/// Starts the pump: each packet the endpoint sends to a mapped address goes out as a relay
/// frame on the live rendezvous connection (dropped when there is none: QUIC resends).
/// Holds the node only weakly: it ends within [`PUMP_IDLE`] of the node's end.
pub(super) fn start_pump(inner: &Arc<Inner>) {
    let link = Arc::downgrade(&inner.relay);
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            let Some(strong) = link.upgrade() else { return };
            let next = tokio::time::timeout(PUMP_IDLE, strong.next_out()).await;
            drop(strong);
            let Ok((peer, packet)) = next else { continue };
            let Some(inner) = weak.upgrade() else { return };
            let Some(conn) = inner.rv.as_ref().and_then(|rv| rv.current()) else {
                continue;
            };
            if let Err(e) = conn.send_datagram(relay::frame(peer.as_bytes(), &packet)) {
                tracing::trace!(error = %e, "relay frame not sent");
            }
        }
    });
}

/// Tells the user the relay policy changed.
pub(super) fn policy_changed(inner: &Inner, policy: RelayPolicy) {
    let _ = inner.events.send(Event::RelayPolicyChanged { policy });
    inner.actor.tell(Msg::Relay(RelayMsg::PolicyChanged));
}

impl NodeHandle {
    /// The global relay policy: whether a relay may carry sessions with contacts that have
    /// no choice of their own (default: ask).
    pub async fn relay_policy(&self) -> Result<RelayPolicy, NodeError> {
        global_policy(&self.inner).await
    }

    /// Sets the global relay policy.
    pub async fn set_relay_policy(&self, policy: RelayPolicy) -> Result<(), NodeError> {
        self.inner
            .store
            .call(move |c| store::set_setting(c, RELAY_POLICY_KEY, policy.as_str()))
            .await?;
        policy_changed(&self.inner, policy);
        Ok(())
    }

    /// Answers a `relay_consent` prompt: yes opens the relay with the contact now (and the
    /// session follows once they consent too); no keeps it closed for this run.
    pub async fn relay_consent(&self, peer: PeerId, yes: bool) -> Result<(), NodeError> {
        let contact = self
            .contact(peer)
            .await?
            .filter(|c| c.state == ContactState::Contact)
            .ok_or(NodeError::NotAContact(peer))?;
        answer(&self.inner, contact.peer, yes).await
    }
}
