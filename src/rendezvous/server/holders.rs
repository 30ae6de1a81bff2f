//! Which node holds which client. A push for a client held here goes to its queue; in Redis
//! mode a push for one held elsewhere is published on its channel, which its holder
//! subscribes to while it holds it (the subscription is the presence). What other nodes
//! publish is read in `deployment`. In SQLite mode every function here is local only.

use std::sync::Arc;

use super::cluster::{Bus, Cluster, body, channel};
use super::proto::{Empty, Push, push};
use super::{Backend, State, lock};
use crate::identity::PeerId;

pub(super) fn cluster(state: &State) -> Option<&Arc<Cluster>> {
    match &state.backend {
        Backend::Redis(c) => Some(c),
        Backend::Sqlite(_) => None,
    }
}

/// Sends `push` to `peer` wherever it is held; dropped when no node holds it.
pub(super) fn push_to(state: &State, peer: &PeerId, push: Push) {
    if let Some(o) = lock(&state.online).get(peer) {
        o.push.send(push);
        return;
    }
    if let Some(c) = cluster(state) {
        let (c, chan) = (c.clone(), channel(peer));
        let msg = Bus::of(body::Body::Push(push));
        tokio::spawn(async move {
            if let Err(e) = c.publish(&chan, &msg).await {
                tracing::debug!(error = %e, "push not published");
            }
        });
    }
}

/// `peer` registered here on connection `conn` (`newly`: it was not held here before):
/// subscribe to its channel, and tell any other holder to let go.
pub(super) async fn held(state: &State, peer: &PeerId, conn: usize, newly: bool) {
    let Some(c) = cluster(state) else { return };
    if !newly {
        return;
    }
    if let Err(e) = c.subscribe(&[channel(peer)]).await {
        tracing::warn!(error = %e, "cannot subscribe to a client's channel");
    }
    let tag = format!("{}:{conn}", c.node());
    if let Err(e) = c
        .publish(&channel(peer), &Bus::of(body::Body::Displace(tag)))
        .await
    {
        tracing::debug!(error = %e, "displacement not published");
    }
}

/// These clients are no longer held here: unsubscribe, and drop their presence where this
/// node still holds it.
pub(super) fn let_go(state: &State, peers: Vec<PeerId>) {
    let Some(c) = cluster(state) else { return };
    if peers.is_empty() {
        return;
    }
    let c = c.clone();
    tokio::spawn(async move {
        let channels: Vec<String> = peers.iter().map(channel).collect();
        if let Err(e) = c.unsubscribe(&channels).await {
            tracing::debug!(error = %e, "cannot unsubscribe");
        }
        for p in &peers {
            if let Err(e) = c.leave(p).await {
                tracing::debug!(error = %e, "presence not dropped");
            }
        }
    });
}

/// `peer` left on purpose (unregistered): as [`let_go`], done before the answer, so a
/// lookup right after finds it offline at every node.
pub(super) async fn left(state: &State, peer: PeerId) {
    let Some(c) = cluster(state) else { return };
    if let Err(e) = c.unsubscribe(&[channel(&peer)]).await {
        tracing::debug!(error = %e, "cannot unsubscribe");
    }
    if let Err(e) = c.leave(&peer).await {
        tracing::debug!(error = %e, "presence not dropped");
    }
}

/// Redis mode: a client's relay consents end with its connection.
pub(super) fn relay_gone(state: &State, peer: PeerId, consented: Vec<PeerId>) {
    let Some(c) = cluster(state) else { return };
    if consented.is_empty() {
        return;
    }
    let c = c.clone();
    tokio::spawn(async move {
        if let Err(e) = c.relay_withdraw(&peer, &consented).await {
            tracing::debug!(error = %e, "relay consents not withdrawn");
        }
    });
}

/// Tells the online ones of `senders`, wherever they are held, that mail of theirs expired
/// undelivered.
pub(super) fn tell_senders(state: &State, senders: Vec<PeerId>) {
    if senders.is_empty() {
        return;
    }
    tracing::info!(
        senders = senders.len(),
        "mail expired undelivered; telling its senders"
    );
    for s in senders {
        let waiting = Push {
            body: Some(push::Body::MailWaiting(Empty {})),
        };
        push_to(state, &s, waiting);
    }
}
