//! The node's one task: it owns the [`State`], applies every [`Msg`] in arrival order, and
//! runs the dial loops the state asks for (one per contact, see `dial.rs`). It ends when
//! the node is gone (every handle dropped with it).

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Inner;
use super::state::{Effect, Msg, State};

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
        if let Some(Effect::StartDial(peer, wake)) = effect {
            let Some(inner) = inner.upgrade() else { break };
            let task = loops.spawn(async move { super::dial::dial_loop(&inner, peer, wake).await });
            peers.insert(task.id(), peer);
        }
    }
}
