//! Owns what the user does with messages: sending (to a contact, or to a stranger who wrote
//! while anyone may talk with us), typing, marking read, history pages and search.

use super::state::{Cmd, Msg};
use super::{Event, NodeError, NodeHandle, PRIVACY_KEY, PrivacyMode};
use crate::identity::PeerId;
use crate::store::{self, ContactState, Message};
use crate::wire::TypingState;

impl NodeHandle {
    /// Queues a message: committed to the outbox before this returns; sent when a session is up.
    pub async fn send(&self, peer: PeerId, text: String) -> Result<Message, NodeError> {
        if text.len() > crate::session::MAX_TEXT {
            return Err(NodeError::Invalid(format!(
                "message of {} bytes is over the {}-byte limit; split it",
                text.len(),
                crate::session::MAX_TEXT
            )));
        }
        let me = self.inner.me;
        let queued = self
            .inner
            .store
            .call(move |c| {
                if store::is_blocked(c, &peer)? {
                    return Ok(Err(NodeError::Blocked(peer)));
                }
                // A contact; or, while anyone may talk with us, a stranger who wrote (the
                // reply goes while its session is up, or when it comes back).
                let everyone = || {
                    store::get_setting(c, PRIVACY_KEY)
                        .map(|v| v.and_then(|v| serde_json::from_str(&v).ok()))
                        .map(|m: Option<PrivacyMode>| m == Some(PrivacyMode::Everyone))
                };
                match store::contact_state(c, &peer)? {
                    Some(ContactState::Contact) => {}
                    Some(_) if everyone()? => {}
                    _ => return Ok(Err(NodeError::NotAContact(peer))),
                }
                let message = store::enqueue(c, &me, &peer, &text)?;
                let chat = store::as_outgoing(c, &me, &peer, &message)?;
                Ok(Ok((message, chat)))
            })
            .await?;
        let (message, chat) = queued?;
        self.emit(Event::MessageQueued {
            message: message.clone(),
        });
        // The session writes it as it is, without reading the outbox back.
        self.inner.actor.tell(Msg::Outbox(peer, Some(chat)));
        Ok(message)
    }

    /// Tells the peer our typing state (if the contact's switch allows it).
    pub async fn set_typing(&self, peer: PeerId, state: TypingState) -> Result<(), NodeError> {
        let contact = self
            .contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        if contact.send_typing && contact.state == ContactState::Contact {
            self.inner.actor.tell(Msg::Typing(peer, state));
        }
        Ok(())
    }

    /// Marks the conversation read; sends a read receipt if the contact's switch allows it.
    pub async fn mark_read(&self, peer: PeerId) -> Result<u64, NodeError> {
        let me = self.inner.me;
        let seq = self
            .inner
            .store
            .call(move |c| store::mark_read(c, &me, &peer))
            .await?;
        let contact = self.contact(peer).await?;
        if contact.is_some_and(|c| c.send_receipts && c.state == ContactState::Contact) {
            self.to_session(&peer, Cmd::Read(seq));
        }
        Ok(seq)
    }

    /// The newest `limit` messages with a peer, oldest first.
    pub async fn history(
        &self,
        peer: PeerId,
        limit: usize,
        before: Option<store::PageBefore>,
    ) -> Result<Vec<Message>, NodeError> {
        let me = self.inner.me;
        Ok(self
            .inner
            .store
            .call(move |c| store::history(c, &me, &peer, limit, before.as_ref()))
            .await?)
    }

    /// Full-text search over all history, newest first.
    pub async fn search(&self, text: String, limit: usize) -> Result<Vec<Message>, NodeError> {
        Ok(self
            .inner
            .store
            .call(move |c| store::search(c, &text, limit))
            .await?)
    }
}
