//! The node's one task: it owns the [`State`], applies every [`Msg`] in arrival order, and
//! runs the dial loops the state asks for (one per contact, see `dial.rs`) and the upgrade
//! loops of relayed sessions; [`Actor`] is the handle everything else reaches it by. It ends when
//! the node is gone (every handle dropped with it).

use std::collections::{HashMap, HashSet};
use std::sync::Weak;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::Inner;
use super::state::{Effect, Msg, State};
use crate::identity::PeerId;

pub(super) async fn run(
    inner: Weak<Inner>,
    mut state: State,
    mut inbox: mpsc::UnboundedReceiver<Msg>,
) {
    let mut loops = JoinSet::new();
    let mut peers = HashMap::new();
    loop {
        let effect = tokio::select! {
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                state.handle(msg, Instant::now())
            }
            Some(done) = loops.join_next_with_id(), if !loops.is_empty() => {
                // A loop that ended (or panicked) frees its contact for the next dial.
                let (id, on_wake) = match done {
                    Ok((id, on_wake)) => (id, on_wake),
                    Err(e) => (e.id(), false),
                };
                match peers.remove(&id) {
                    Some(peer) => state.handle(Msg::DialEnded(peer, on_wake), Instant::now()),
                    None => None,
                }
            }
        };
        match effect {
            Some(Effect::StartDial(peer, wake)) => {
                let Some(inner) = inner.upgrade() else { break };
                let task =
                    loops.spawn(async move { super::dial::dial_loop(&inner, peer, wake).await });
                peers.insert(task.id(), peer);
            }
            Some(Effect::Upgrade(peer, wake)) => {
                let Some(inner) = inner.upgrade() else { break };
                tokio::spawn(async move { super::dial::upgrade_loop(&inner, peer, wake).await });
            }
            None => {}
        }
    }
}

/// The handle everything else holds: tells and asks the node's task.
#[derive(Clone)]
pub(crate) struct Actor {
    tx: mpsc::UnboundedSender<Msg>,
    connected: watch::Receiver<HashSet<PeerId>>,
}

impl Actor {
    /// A handle and the receiving end the task runs on.
    pub(crate) fn new(
        connected: watch::Receiver<HashSet<PeerId>>,
    ) -> (Self, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, connected }, rx)
    }

    /// Tells the task (lost only when the node is gone).
    pub(crate) fn tell(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    /// Asks the task; `None` when the node is gone.
    pub(crate) async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(msg(reply)).ok()?;
        answer.await.ok()
    }

    /// Whether a session with the peer is up (as the task last published).
    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.borrow().contains(peer)
    }

    /// Waits until no session with the peer is up.
    pub(crate) async fn disconnected(&self, peer: &PeerId) {
        let mut w = self.connected.clone();
        let _ = w.wait_for(|s| !s.contains(peer)).await;
    }

    /// Waits until no session is up at all.
    pub(crate) async fn all_closed(&self) {
        let mut w = self.connected.clone();
        let _ = w.wait_for(HashSet::is_empty).await;
    }
}
