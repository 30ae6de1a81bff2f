//! Owns the command language shared by `natter-cli run` (JSON lines on stdin), the local
//! control socket and one-shot CLI invocations: [`Command`] in, a JSON answer out.

mod render;
mod run;
mod socket;

pub use render::render;
pub use run::{RunError, one_shot, run};
pub use socket::{SOCKET_FILE, answer as socket_answer, request, serve};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::identity::PeerId;
use crate::node::{Event, NodeError, NodeHandle, PrivacyMode};
use crate::store::{Contact, Message};
use crate::wire::{Status, TypingState};

/// How long `send` waits, and for what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// Committed to the outbox.
    Queued,
    /// Written to a session.
    Sent,
    /// Sealed in the rendezvous mailbox for an offline peer (ends a wait for delivered or
    /// read: the receipts follow when the peer has it).
    Stored,
    /// Stored by the peer.
    Delivered,
    /// Read by the peer.
    Read,
}

/// One command.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Own PeerId and listening address.
    Id,
    /// Add or update a contact.
    ContactAdd {
        /// Its PeerId.
        id: PeerId,
        /// Nickname.
        #[serde(default)]
        name: Option<String>,
        /// Group.
        #[serde(default)]
        group: Option<String>,
        /// Address to dial.
        #[serde(default)]
        addr: Option<String>,
    },
    /// Add a contact by its `@handle` at the rendezvous.
    ContactAddHandle {
        /// The handle.
        handle: String,
        /// Nickname (default: the handle).
        #[serde(default)]
        name: Option<String>,
        /// Group.
        #[serde(default)]
        group: Option<String>,
    },
    /// Claim `@name` at the rendezvous.
    HandleClaim {
        /// The handle.
        name: String,
    },
    /// Which Natter ID holds `@name`.
    HandleResolve {
        /// The handle.
        name: String,
    },
    /// List contacts.
    ContactList,
    /// Per-contact switches.
    ContactSet {
        /// The contact.
        id: PeerId,
        /// Send typing indicators.
        #[serde(default)]
        typing: Option<bool>,
        /// Send read receipts.
        #[serde(default)]
        receipts: Option<bool>,
    },
    /// Show the safety number of a contact; mark it verified or not.
    Verify {
        /// The contact.
        id: PeerId,
        /// Set the level: true verified, false unverified; absent: only show the number.
        #[serde(default)]
        verified: Option<bool>,
    },
    /// Block a peer.
    Block {
        /// The peer.
        id: PeerId,
    },
    /// Unblock a peer.
    Unblock {
        /// The peer.
        id: PeerId,
    },
    /// Show or set the privacy mode.
    Privacy {
        /// New mode.
        #[serde(default)]
        mode: Option<PrivacyMode>,
    },
    /// List message requests.
    Requests,
    /// Accept a request.
    Accept {
        /// The stranger.
        id: PeerId,
    },
    /// Send a message.
    Send {
        /// To whom.
        id: PeerId,
        /// Text.
        text: String,
        /// What to wait for before answering.
        #[serde(default)]
        wait: Option<Wait>,
        /// Seconds to wait.
        #[serde(default)]
        timeout: Option<f64>,
    },
    /// Tell a contact our typing state.
    Typing {
        /// The contact.
        id: PeerId,
        /// State.
        state: TypingState,
    },
    /// Mark a conversation read.
    Read {
        /// The contact.
        id: PeerId,
    },
    /// Set our presence.
    Presence {
        /// Status.
        status: Status,
        /// Status text.
        #[serde(default)]
        text: String,
    },
    /// Conversation history.
    History {
        /// The contact.
        id: PeerId,
        /// Most messages.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Full-text search.
    Search {
        /// Words.
        text: String,
        /// Most results.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Peers seen on the LAN.
    Nearby,
    /// Offer a file to a contact.
    SendFile {
        /// To whom.
        id: PeerId,
        /// The file.
        path: std::path::PathBuf,
        /// Name to offer (default: the file's name).
        #[serde(default)]
        name: Option<String>,
        /// Wait until the receiver confirms it arrived intact.
        #[serde(default)]
        wait: bool,
        /// Seconds to wait.
        #[serde(default)]
        timeout: Option<f64>,
    },
    /// List transfers.
    Transfers,
    /// Accept an offered file.
    AcceptFile {
        /// The sender.
        id: PeerId,
        /// The file id.
        file_id: String,
    },
    /// Decline an offered file.
    DeclineFile {
        /// The sender.
        id: PeerId,
        /// The file id.
        file_id: String,
    },
    /// Cancel a transfer.
    CancelFile {
        /// The file id.
        file_id: String,
    },
    /// Accept files from a contact automatically up to a size (None: off).
    AutoAccept {
        /// The contact.
        id: PeerId,
        /// Largest size in bytes.
        #[serde(default)]
        bytes: Option<u64>,
    },
    /// Stop the node.
    Shutdown,
}

impl Command {
    /// Whether a node started just for this command should dial contacts.
    pub fn needs_network(&self) -> bool {
        matches!(
            self,
            Command::Send { .. }
                | Command::Typing { .. }
                | Command::Read { .. }
                | Command::ContactAddHandle { .. }
                | Command::HandleClaim { .. }
                | Command::HandleResolve { .. }
        )
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The node refused.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// `--wait` ran out of time.
    #[error(
        "timed out after {secs}s waiting for {wait:?}; the message {id} stays queued and goes out when the contact is reachable"
    )]
    Timeout {
        /// Message id.
        id: String,
        /// What was awaited.
        wait: Wait,
        /// Seconds waited.
        secs: f64,
    },
    /// The peer refused or could not be authenticated.
    #[error("{0}")]
    Dial(String),
    /// The socket conversation failed.
    #[error("control socket: {0}")]
    Socket(String),
}

fn to_value<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs one command against a node and returns its JSON answer.
pub async fn execute(node: &NodeHandle, cmd: Command) -> Result<Value, ControlError> {
    Ok(match cmd {
        Command::Id => json!({
            "peer_id": node.peer_id(),
            "fingerprint": node.peer_id().fingerprint(),
            "listen": node.local_addr().map(|a| a.to_string()),
        }),
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
            to_value(node.add_contact(c).await?)
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
            to_value(node.add_contact(c).await?)
        }
        Command::HandleClaim { name } => json!({ "handle": node.claim_handle(&name).await? }),
        Command::HandleResolve { name } => {
            json!({ "handle": name, "id": node.resolve_handle(&name).await? })
        }
        Command::ContactList => to_value(node.contacts().await?),
        Command::ContactSet {
            id,
            typing,
            receipts,
        } => to_value(node.set_switches(id, typing, receipts).await?),
        Command::Verify { id, verified } => {
            let contact = match verified {
                Some(v) => node.set_verified(id, v).await?,
                None => node.contact(id).await?.ok_or(NodeError::NotAContact(id))?,
            };
            json!({
                "peer": id,
                "safety_number": node.safety_number(&id),
                "verification": contact.verification,
            })
        }
        Command::Block { id } => {
            node.block(id).await?;
            json!({ "blocked": id })
        }
        Command::Unblock { id } => {
            node.unblock(id).await?;
            json!({ "unblocked": id })
        }
        Command::Privacy { mode } => {
            if let Some(mode) = mode {
                node.set_privacy(mode).await?;
            }
            json!({ "privacy": node.privacy().await? })
        }
        Command::Requests => to_value(node.requests().await?),
        Command::Accept { id } => to_value(node.accept(id).await?),
        Command::Send {
            id,
            text,
            wait,
            timeout,
        } => {
            let wait = wait.unwrap_or(Wait::Queued);
            let secs = timeout.unwrap_or(30.0).clamp(0.0, 86_400.0);
            let events = node.subscribe();
            let message = node.send(id, text).await?;
            let (state, expires_ms) = if wait == Wait::Queued {
                (Wait::Queued, None)
            } else {
                await_state(events, &message, wait, secs).await?
            };
            let mut v = json!({ "id": message.id, "seq": message.seq, "state": state, "peer": id });
            if let Some(e) = expires_ms {
                v["expires_ms"] = json!(e);
            }
            v
        }
        Command::Typing { id, state } => {
            node.set_typing(id, state).await?;
            json!({ "typing": state })
        }
        Command::Read { id } => json!({ "read_up_to": node.mark_read(id).await? }),
        Command::Presence { status, text } => {
            node.set_presence(status, text.clone()).await?;
            json!({ "status": status, "text": text })
        }
        Command::History { id, limit } => {
            to_value(node.history(id, limit.unwrap_or(50), None).await?)
        }
        Command::Search { text, limit } => to_value(node.search(text, limit.unwrap_or(50)).await?),
        Command::Nearby => to_value(node.nearby().await?),
        Command::SendFile {
            id,
            path,
            name,
            wait,
            timeout,
        } => {
            let events = node.subscribe();
            let t = node.send_file(id, path, name).await?;
            if wait {
                await_file(events, &t.file_id, timeout.unwrap_or(600.0)).await?
            } else {
                to_value(t)
            }
        }
        Command::Transfers => to_value(node.transfers().await?),
        Command::AcceptFile { id, file_id } => to_value(node.accept_file(id, &file_id).await?),
        Command::DeclineFile { id, file_id } => to_value(node.decline_file(id, &file_id).await?),
        Command::CancelFile { file_id } => to_value(node.cancel_file(&file_id).await?),
        Command::AutoAccept { id, bytes } => {
            node.set_auto_accept(id, bytes).await?;
            json!({ "auto_accept_bytes": bytes })
        }
        Command::Shutdown => json!({ "stopping": true }),
    })
}

async fn await_file(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    file_id: &str,
    secs: f64,
) -> Result<Value, ControlError> {
    let watch = async {
        loop {
            match events.recv().await {
                Ok(Event::FileSent { transfer }) if transfer.file_id == file_id => {
                    return Ok(to_value(transfer));
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
