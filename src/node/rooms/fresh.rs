//! Owns knowing that we hold a room's latest state: which members told us so over the
//! session up now, and a send's short wait for that word (or for the mailbox fetch under
//! way) after we were offline.

use crate::identity::PeerId;
use crate::node::Inner;
use crate::room::RoomId;
use crate::store;

/// How long a send waits for a member's word on the room's state (see [`Fresh`]).
const FRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// For each room, the members whose Sync on the session up now (its connection id) named
/// a state no newer than ours: while one is, we hold the room's latest state (any change
/// since would have reached us over that session). A member's entry goes with its session.
#[derive(Default)]
pub(crate) struct Fresh(std::collections::HashMap<RoomId, Vec<(PeerId, usize)>>);

impl Fresh {
    pub(super) fn heard(&mut self, room: RoomId, peer: PeerId, conn: usize) {
        let heard = self.0.entry(room).or_default();
        heard.retain(|(p, _)| *p != peer);
        heard.push((peer, conn));
    }

    /// The connection `conn` with `peer` ended.
    pub(crate) fn gone(&mut self, peer: &PeerId, conn: usize) {
        for heard in self.0.values_mut() {
            heard.retain(|e| *e != (*peer, conn));
        }
    }

    fn is_fresh(&self, room: &RoomId) -> bool {
        self.0.get(room).is_some_and(|h| !h.is_empty())
    }
}

impl Inner {
    /// Waits (at most [`FRESH_WAIT`]) until what waited for us in the mailbox is in (a
    /// fetch runs now: a removal deposited while we were away turns our key over), and until
    /// a member told us the room's state, if a session with one is up.
    pub(super) async fn await_fresh(&self, room: RoomId) {
        let until = tokio::time::Instant::now() + FRESH_WAIT;
        while self.rv_fetching.load(std::sync::atomic::Ordering::SeqCst)
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let fresh = || crate::node::lock(&self.rooms_fresh).is_fresh(&room);
        if fresh() {
            return;
        }
        // The members as held now, read once (the wait polls only memory).
        let me = self.me;
        let members = self
            .store
            .call(move |c| Ok(store::head(c, &room)?.map(|h| h.state().members.clone())))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        while tokio::time::Instant::now() < until && !fresh() {
            if !members
                .iter()
                .any(|m| m.key != me && self.actor.is_connected(&m.key))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
