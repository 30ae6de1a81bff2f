//! Owns who sees us: our presence (invisible included: the LAN record withdrawn, the
//! rendezvous asked to show us offline to all but the contacts picked, every other session
//! closed) and picking the contacts who see us while we are invisible.

use super::state::Msg;
use super::{NodeError, NodeHandle, STATUS_KEY};
use crate::identity::PeerId;
use crate::model::Contact;
use crate::store;
use crate::wire::Status;

impl NodeHandle {
    /// Sets our presence and tells every session. Invisible: we look offline to everyone but
    /// the contacts picked to see us (`set_sees_invisible`); they see us online.
    pub async fn set_presence(&self, status: Status, text: String) -> Result<(), NodeError> {
        let value = serde_json::to_string(&(status, &text))
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let before = self.inner.actor.ask(Msg::PresenceNow).await;
        let actor = self.inner.actor.clone();
        self.inner
            .store
            .call(move |c| {
                store::set_setting(c, STATUS_KEY, &value)?;
                // In the same job: no handshake admitted after this write misses it.
                actor.tell(Msg::Presence(status, text));
                Ok(())
            })
            .await?;
        let was_invisible = before.is_some_and(|(s, _)| s == Status::Invisible);
        if was_invisible != (status == Status::Invisible) {
            // The rendezvous record and the LAN record follow at once.
            self.inner.rv_wake.notify_one();
            super::lan::restart(&self.inner).await?;
        }
        Ok(())
    }

    /// Sets whether a contact sees us online while we are invisible.
    pub async fn set_sees_invisible(&self, peer: PeerId, sees: bool) -> Result<Contact, NodeError> {
        let mut c = self
            .contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        c.sees_invisible = sees;
        // Saving tells the node's task, in the order of the writes.
        let saved = self.save_contact(c).await?;
        self.inner.rv_wake.notify_one();
        Ok(saved)
    }
}

impl NodeHandle {
    /// Our presence as stored (what the node restores at start).
    pub async fn presence(&self) -> Result<(Status, String), NodeError> {
        stored(&self.inner.store).await
    }
}

/// The stored presence (online with no text if none).
async fn stored(store: &store::Store) -> Result<(Status, String), NodeError> {
    Ok(store
        .call(|c| store::get_setting(c, STATUS_KEY))
        .await?
        .and_then(|s| serde_json::from_str::<(Status, String)>(&s).ok())
        .unwrap_or((Status::Online, String::new())))
}

/// Whether the stored presence is invisible (read at start, before the node's task runs).
pub(super) async fn invisible_stored(store: &store::Store) -> Result<bool, NodeError> {
    Ok(stored(store).await?.0 == Status::Invisible)
}
