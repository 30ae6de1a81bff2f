//! Owns running one [`Command`] against a node: the node calls it makes, and the waits
//! `send --wait` and `send-file --wait` ask for.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{Answer, Command, ControlError, Wait, YesNo};
use crate::model::{Contact, Message};
use crate::node::{Event, NodeError, NodeHandle};

/// Runs one command against a node and returns its answer.
pub async fn execute(node: &NodeHandle, cmd: Command) -> Result<Answer, ControlError> {
    Ok(match cmd {
        Command::RoomCreate { .. }
        | Command::RoomInvite { .. }
        | Command::RoomAccept { .. }
        | Command::RoomDecline { .. }
        | Command::RoomSend { .. }
        | Command::RoomHistory { .. }
        | Command::RoomMembers { .. }
        | Command::RoomLeave { .. }
        | Command::RoomRemove { .. }
        | Command::RoomList
        | Command::RoomSearch { .. }
        | Command::RoomDeleteHistory { .. }
        | Command::RoomPublish { .. }
        | Command::RoomNearby
        | Command::RoomDirectory { .. }
        | Command::RoomJoin { .. }
        | Command::RoomBan { .. }
        | Command::RoomUnban { .. } => super::rooms::execute(node, &cmd).await?,
        Command::Id => Answer::Id {
            peer_id: node.peer_id(),
            fingerprint: node.peer_id().fingerprint(),
            listen: node.local_addr().map(|a| a.to_string()),
        },
        Command::ContactAdd {
            id,
            name,
            group,
            addr,
        } => {
            let mut c = Contact::new(id);
            c.nickname = name.unwrap_or_default();
            c.group = group.unwrap_or_default();
            c.addr = addr;
            Answer::Contact(node.add_contact(c).await?)
        }
        Command::ContactAddHandle {
            handle,
            name,
            group,
        } => {
            let id = node.resolve_handle(&handle).await?;
            let mut c = Contact::new(id);
            c.nickname = name.unwrap_or_else(|| handle.trim_start_matches('@').to_string());
            c.group = group.unwrap_or_default();
            Answer::Contact(node.add_contact(c).await?)
        }
        Command::HandleClaim { name } => Answer::Handle {
            handle: node.claim_handle(&name).await?,
        },
        Command::HandleResolve { name } => {
            let id = node.resolve_handle(&name).await?;
            Answer::Resolved { handle: name, id }
        }
        Command::ContactList => Answer::Contacts(node.contacts().await?),
        Command::ContactSet {
            id,
            typing,
            receipts,
            relay,
            sees_invisible,
        } => {
            let mut contact = node.set_switches(id, typing, receipts).await?;
            if let Some(r) = relay {
                contact = node.set_contact_relay(id, r.policy()).await?;
            }
            if let Some(sees) = sees_invisible {
                contact = node.set_sees_invisible(id, sees).await?;
            }
            Answer::Contact(contact)
        }
        Command::Verify { id, verified } => {
            let contact = match verified {
                Some(v) => node.set_verified(id, v).await?,
                None => node.contact(id).await?.ok_or(NodeError::NotAContact(id))?,
            };
            Answer::Verify {
                peer: id,
                safety_number: node.safety_number(&id),
                verification: contact.verification,
                contact,
            }
        }
        Command::Block { id } => {
            node.block(id).await?;
            Answer::Blocked { blocked: id }
        }
        Command::Unblock { id } => {
            node.unblock(id).await?;
            Answer::Unblocked { unblocked: id }
        }
        Command::BlockList => Answer::BlockList {
            blocked: node.blocked().await?,
        },
        Command::Privacy { mode } => {
            if let Some(mode) = mode {
                node.set_privacy(mode).await?;
            }
            Answer::Privacy {
                privacy: node.privacy().await?,
            }
        }
        Command::Requests => Answer::Contacts(node.requests().await?),
        Command::Accept { id } => Answer::Contact(node.accept(id).await?),
        Command::Send {
            id,
            text,
            wait,
            timeout,
        } => {
            let wait = wait.unwrap_or(Wait::Queued);
            let secs = timeout.unwrap_or(30.0).clamp(0.0, 86_400.0);
            // Subscribed before the send, so no state change is missed.
            let events = (wait != Wait::Queued).then(|| node.subscribe());
            let message = node.send(id, text).await?;
            let (state, expires_ms) = match events {
                None => (Wait::Queued, None),
                Some(events) => await_state(events, &message, wait, secs).await?,
            };
            Answer::Sent {
                id: message.id,
                seq: message.seq,
                state,
                peer: id,
                expires_ms,
            }
        }
        Command::Typing { id, state } => {
            node.set_typing(id, state).await?;
            Answer::Typing { typing: state }
        }
        Command::Read { id } => Answer::Read {
            read_up_to: node.mark_read(id).await?,
        },
        Command::Presence { status, text } => {
            node.set_presence(status, text.clone()).await?;
            Answer::Presence { status, text }
        }
        Command::History { id, limit, before } => {
            Answer::Messages(node.history(id, limit.unwrap_or(50), before).await?)
        }
        Command::Search { text, limit } => {
            Answer::Messages(node.search(text, limit.unwrap_or(50)).await?)
        }
        Command::Nearby => Answer::Nearby(node.nearby().await?),
        Command::SendFile {
            id,
            path,
            name,
            wait,
            timeout,
        } => {
            let events = wait.then(|| node.subscribe());
            let t = node.send_file(id, path, name).await?;
            match events {
                Some(events) => await_file(events, &t.file_id, timeout.unwrap_or(600.0)).await?,
                None => Answer::Transfer(t),
            }
        }
        Command::Transfers => Answer::Transfers(node.transfers().await?),
        Command::AcceptFile { id, file_id } => {
            Answer::Transfer(node.accept_file(id, &file_id).await?)
        }
        Command::DeclineFile { id, file_id } => {
            Answer::Transfer(node.decline_file(id, &file_id).await?)
        }
        Command::CancelFile { file_id } => Answer::Transfer(node.cancel_file(&file_id).await?),
        Command::AutoAccept { id, bytes } => {
            node.set_auto_accept(id, bytes).await?;
            Answer::AutoAccept {
                auto_accept_bytes: bytes,
            }
        }
        Command::Rename { id, name, group } => Answer::Contact(node.rename(id, name, group).await?),
        Command::DeleteHistory { id } => Answer::HistoryDeleted {
            peer: id,
            deleted: node.delete_history(id).await?,
        },
        Command::ExportHistory { format, path, id } => {
            let (exported, path) = node.export_history(path, format, id).await?;
            Answer::Exported { exported, path }
        }
        Command::ExportIdentity { path } => Answer::IdentityExported {
            identity_backup: node.export_identity(path).await?,
        },
        Command::Preference { name, value } => {
            if let Some(value) = &value {
                node.set_preference(&name, value).await?;
            }
            let value = node.preference(&name).await?;
            Answer::Preference { name, value }
        }
        Command::Paths => Answer::Paths(node.paths().await),
        Command::RelayPolicy { policy } => {
            if let Some(p) = policy {
                node.set_relay_policy(p).await?;
            }
            Answer::RelayPolicy {
                relay_policy: node.relay_policy().await?,
            }
        }
        Command::RelayConsent { id, answer } => {
            let consent = answer == YesNo::Yes;
            node.relay_consent(id, consent).await?;
            Answer::RelayConsent { peer: id, consent }
        }
        Command::Show { link } => {
            node.show_requested(link);
            Answer::Shown { shown: true }
        }
        Command::Shutdown => Answer::Stopping { stopping: true },
    })
}

/// The path given, or `name` in the downloads folder (created if missing).
async fn await_file(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    file_id: &str,
    secs: f64,
) -> Result<Answer, ControlError> {
    let watch = async {
        loop {
            match events.recv().await {
                Ok(Event::FileSent { transfer }) if transfer.file_id == file_id => {
                    return Ok(Answer::Transfer(transfer));
                }
                Ok(Event::FileEnded { transfer }) if transfer.file_id == file_id => {
                    let reason = transfer.reason.unwrap_or_default();
                    return Err(ControlError::Dial(format!("the transfer ended: {reason}")));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Err(ControlError::Socket("node stopped".into())),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)), watch).await {
        Ok(r) => r,
        Err(_) => Err(ControlError::Dial(format!(
            "timed out after {secs}s waiting for file {file_id}; the offer stays open and goes on when the contact is reachable"
        ))),
    }
}

async fn await_state(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    message: &Message,
    wait: Wait,
    secs: f64,
) -> Result<(Wait, Option<u64>), ControlError> {
    let peer = message.peer;
    let watch = async {
        loop {
            let reached = match events.recv().await {
                Ok(Event::MessageSent { ids, .. }) if ids.contains(&message.id) => Wait::Sent,
                Ok(Event::MessageStored {
                    ids, expires_ms, ..
                }) if ids.contains(&message.id) && wait >= Wait::Stored => {
                    return Ok((Wait::Stored, Some(expires_ms)));
                }
                Ok(Event::MessageDelivered { ids, .. }) if ids.contains(&message.id) => {
                    Wait::Delivered
                }
                Ok(Event::MessageRead { ids, .. }) if ids.contains(&message.id) => Wait::Read,
                Ok(Event::DialFailed {
                    peer: p,
                    kind,
                    error,
                }) if p == peer && kind != crate::node::DialFailure::Unreachable => {
                    return Err(ControlError::Dial(error));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Err(ControlError::Socket("node stopped".into())),
            };
            if reached >= wait {
                return Ok((reached, None));
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs_f64(secs), watch).await {
        Ok(r) => r,
        Err(_) => Err(ControlError::Timeout {
            id: message.id.clone(),
            wait,
            secs,
        }),
    }
}
