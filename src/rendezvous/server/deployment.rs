//! This node in its deployment (Redis mode): its own channels and heartbeat, the task that
//! publishes relayed packets for other nodes' clients, the listings read at start, and the
//! bus reader, which delivers what other nodes publish — pushes, displacements (the client
//! registered at another node), knock answers, directory changes, relay pairs and packets —
//! and subscribes again after a lost Redis connection. Nothing here in SQLite mode.

use std::sync::Arc;

use redis::{PushInfo, PushKind, Value};

use super::cluster::{Bus, Cluster, body, channel};
use super::holders::cluster;
use super::{State, directory, lock, now_ms};
use crate::identity::PeerId;

/// Publishes relayed packets for other nodes' clients, as many per round trip as wait.
async fn relay_out(c: Arc<Cluster>, mut out: tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    let mut batch = Vec::with_capacity(RELAY_BATCH);
    while out.recv_many(&mut batch, RELAY_BATCH).await > 0 {
        if let Err(e) = c.publish_many(&batch).await {
            tracing::debug!(error = %e, packets = batch.len(), "relayed packets not published");
        }
        batch.clear();
    }
}

/// Most relayed packets per publishing round trip, and waiting for one.
const RELAY_BATCH: usize = 256;
const RELAY_QUEUE: usize = 4096;

/// Redis mode: reads every listing into this node's copy of the directory.
pub(super) async fn load_directory(state: &State) -> Result<(), super::cluster::ClusterError> {
    let Some(c) = cluster(state) else {
        return Ok(());
    };
    let listings = c.listings().await?;
    let now = now_ms();
    let mut d = lock(&state.directory);
    for l in listings {
        d.replicate(&l, now);
    }
    Ok(())
}

/// Redis mode: drops expired listings from Redis (every node's copy expires them itself).
pub(super) async fn expire_listings(state: &State, now: u64) {
    if let Some(c) = cluster(state)
        && let Err(e) = c.expire_listings(now).await
    {
        tracing::debug!(error = %e, "cannot expire listings");
    }
}

/// Redis mode: the node's own channels, its heartbeat and the bus reader.
pub(super) async fn start(state: &Arc<State>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(c) = cluster(state).cloned() else {
        return Vec::new();
    };
    let own = own_channels(&c);
    if let Err(e) = c.subscribe(&own).await {
        tracing::warn!(error = %e, "cannot subscribe to this node's channels");
    }
    let beat = {
        let c = c.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(super::cluster::BEAT).await;
                if let Err(e) = c.beat().await {
                    tracing::warn!(error = %e, "Redis: cannot say this node is alive");
                }
            }
        })
    };
    let mut tasks = vec![beat];
    if state.relay.enabled() {
        let (tx, rx) = tokio::sync::mpsc::channel(RELAY_QUEUE);
        state.relay.set_outbox(tx);
        tasks.push(tokio::spawn(relay_out(c.clone(), rx)));
    }
    let Some(mut incoming) = c.incoming() else {
        return tasks;
    };
    let reader = {
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(p) = incoming.recv().await {
                on_push(&state, &c, p);
            }
        })
    };
    tasks.push(reader);
    tasks
}

fn own_channels(c: &Cluster) -> Vec<String> {
    vec![c.node_channel(), Cluster::directory_channel()]
}

/// A clean stop: every client held here leaves, and so does the node.
pub(super) async fn stopped(state: &State) {
    let Some(c) = cluster(state) else { return };
    let peers: Vec<PeerId> = lock(&state.online).keys().copied().collect();
    for p in &peers {
        let _ = c.leave(p).await;
    }
    let _ = c.gone().await;
}

fn on_push(state: &Arc<State>, c: &Arc<Cluster>, p: PushInfo) {
    match p.kind {
        PushKind::SMessage => {
            let (Some(Value::BulkString(chan)), Some(Value::BulkString(msg))) =
                (p.data.first(), p.data.get(1))
            else {
                return;
            };
            match Bus::read(msg) {
                Ok(b) => on_bus(state, c, chan, b),
                Err(e) => tracing::warn!(error = %e, "a bus message does not decode"),
            }
        }
        PushKind::Disconnection => {
            tracing::warn!("lost Redis: subscribing again once it is back");
            let (state, c) = (state.clone(), c.clone());
            tokio::spawn(async move { resubscribe(&state, &c).await });
        }
        _ => {}
    }
}

/// Subscribes again to everything this node listens to, retrying until Redis answers.
async fn resubscribe(state: &State, c: &Cluster) {
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        tokio::time::sleep(wait).await;
        let mut all = own_channels(c);
        all.extend(lock(&state.online).keys().map(channel));
        // At most a few thousand channels per command.
        let mut ok = true;
        for chunk in all.chunks(2048) {
            if let Err(e) = c.subscribe(chunk).await {
                tracing::debug!(error = %e, "not subscribed yet");
                ok = false;
                break;
            }
        }
        if ok {
            tracing::info!(channels = all.len(), "Redis is back: subscribed again");
            let _ = c.beat().await;
            return;
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(5));
    }
}

fn on_bus(state: &Arc<State>, c: &Arc<Cluster>, chan: &[u8], b: body::Body) {
    let client = chan
        .strip_prefix(b"natter:c:")
        .and_then(|h| data_encoding::HEXLOWER.decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(PeerId::for_lookup);
    match (b, client) {
        (body::Body::Push(p), Some(peer)) => {
            if let Some(o) = lock(&state.online).get(&peer) {
                o.push.send(p);
            }
        }
        (body::Body::Displace(tag), Some(peer)) => {
            if tag.split(':').next() == Some(c.node()) {
                return; // our own
            }
            if lock(&state.online).remove(&peer).is_some() {
                tracing::debug!(peer = ?peer, "registered at another node: let go here");
                let c = c.clone();
                tokio::spawn(async move {
                    let _ = c.unsubscribe(&[channel(&peer)]).await;
                });
            }
        }
        (body::Body::Answer(r), None) => directory::routed(state, r),
        (body::Body::Listed(l), None) => lock(&state.directory).replicate(&l, now_ms()),
        (body::Body::Unlisted(room), None) => lock(&state.directory).forget(&room),
        (body::Body::RelayPair(p), None) => super::relay::remote_pair(state, p),
        (body::Body::Relayed(r), None) => state.relay.deliver(r),
        _ => tracing::debug!("a bus message on the wrong channel"),
    }
}
