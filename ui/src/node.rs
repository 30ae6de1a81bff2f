//! Owns the app's side of the node: starting it, turning its events into a stream, and running
//! the operations `update` asks for.

use std::fmt;
use std::path::PathBuf;

use iced::futures::{SinkExt, Stream};
use natter::PeerId;
use natter::discovery::Interfaces;
use natter::model::{Contact, PageBefore};
use natter::model::{Status, TypingState};
use natter::node::{Event, ExportFormat, NodeConfig, NodeHandle, PrivacyMode};

use crate::Message;
use crate::theme::Choice;

/// A cheap, cloneable handle on the running node.
#[derive(Clone)]
pub struct Node(pub NodeHandle);

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({:?})", self.0.peer_id())
    }
}

/// A node operation `update` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Reload contacts and requests.
    Reload,
    /// Load the newest page of a conversation.
    History(PeerId),
    /// Load the page before a message.
    Older(PeerId, PageBefore),
    /// Mark a conversation read.
    MarkRead(PeerId),
    /// Add a contact (pins the key), with its nickname and group.
    AddContact(Contact),
    /// Accept a request.
    Accept(PeerId),
    /// Block a peer.
    Block(PeerId),
    /// Unblock a peer.
    Unblock(PeerId),
    /// Send a message.
    Send(PeerId, String),
    /// Tell a contact our typing state.
    Typing(PeerId, TypingState),
    /// Set our presence.
    Presence(Status, String),
    /// Search all history.
    Search(String),
    /// Load preferences, privacy mode and block list.
    Prefs,
    /// Save one preference.
    SetPref(String, String),
    /// Set the privacy mode.
    Privacy(PrivacyMode),
    /// Mark a contact verified or not.
    Verified(PeerId, bool),
    /// Set nickname and group.
    Rename(PeerId, String, String),
    /// Typing indicators and read receipts for a contact.
    Switches(PeerId, bool, bool),
    /// Delete the history with a peer.
    DeleteHistory(PeerId),
    /// Export all history to the downloads folder.
    ExportHistory(ExportFormat),
    /// Save a backup of the identity key to the downloads folder.
    ExportIdentity,
    /// Offer a file.
    SendFile(PeerId, PathBuf),
    /// Accept an offered file.
    AcceptFile(PeerId, String),
    /// Decline an offered file.
    DeclineFile(PeerId, String),
    /// Load the transfers.
    Transfers,
    /// Put text on the clipboard (the app does this itself; no node involved).
    Copy(String),
    /// Show a desktop notification.
    Notify(String, String),
    /// Put the keyboard focus in a field (the app does this itself; no node involved).
    Focus(&'static str),
}

/// What the app keeps in the profile, with the node's privacy mode and block list.
#[derive(Debug, Clone)]
pub struct Prefs {
    /// The first-start screen was passed.
    pub onboarded: bool,
    /// Display name.
    pub name: String,
    /// Theme.
    pub theme: Choice,
    /// Desktop notifications.
    pub notifications: bool,
    /// Advertise on the LAN.
    pub advertise: bool,
    /// Rendezvous `HOST:PORT` and key as saved.
    pub rendezvous: (String, String),
    /// Relay policy (never / ask / always); no relay is built yet.
    pub relay: String,
    /// Who may open a session.
    pub privacy: PrivacyMode,
    /// Blocked peers.
    pub blocked: Vec<PeerId>,
    /// The profile folder.
    pub profile: PathBuf,
    /// Where files and exports go.
    pub downloads: PathBuf,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            onboarded: false,
            name: String::new(),
            theme: Choice::System,
            notifications: true,
            advertise: true,
            rendezvous: Default::default(),
            relay: "never".into(),
            privacy: PrivacyMode::Requests,
            blocked: Vec::new(),
            profile: PathBuf::new(),
            downloads: PathBuf::new(),
        }
    }
}

/// App preference names (the node keeps them in its settings table).
pub mod pref {
    /// Set once the first-start screen is done.
    pub const ONBOARDED: &str = "onboarded";
    /// `system`, `light` or `dark`.
    pub const THEME: &str = "theme";
    /// `on` / `off`.
    pub const NOTIFICATIONS: &str = "notifications";
    /// `never`, `ask` or `always`.
    pub const RELAY: &str = "relay";
    pub use natter::node::{PREF_ADVERTISE as ADVERTISE, PREF_NAME as NAME};
    pub use natter::node::{PREF_RENDEZVOUS as RENDEZVOUS, PREF_RENDEZVOUS_KEY as RENDEZVOUS_KEY};
}

/// The profile folder: `NATTER_PROFILE`, else the platform data folder.
pub(crate) fn profile() -> PathBuf {
    natter::profile::resolve().unwrap_or_else(|| PathBuf::from(".natter"))
}

/// The node's configuration: defaults (LAN discovery on), adjusted by `NATTER_MDNS`
/// (`off`, `loopback`, `lan`, `all`) and `NATTER_LISTEN` (`HOST:PORT`).
pub(crate) fn config(profile: PathBuf) -> NodeConfig {
    let mut c = NodeConfig::new(profile);
    match std::env::var("NATTER_MDNS").as_deref() {
        Ok("off") => c.discovery = None,
        Ok("loopback") => {
            if let Some(d) = c.discovery.as_mut() {
                d.interfaces = Interfaces::Loopback;
            }
        }
        Ok("all") => {
            if let Some(d) = c.discovery.as_mut() {
                d.interfaces = Interfaces::All;
            }
        }
        _ => {}
    }
    if let Some(addr) = std::env::var("NATTER_LISTEN")
        .ok()
        .and_then(|a| a.parse().ok())
    {
        c.listen = addr;
    }
    // The same variables natter-cli reads: a rendezvous address and its pinned key.
    let addr = std::env::var("NATTER_RENDEZVOUS")
        .ok()
        .and_then(|a| a.parse().ok());
    let key = std::env::var("NATTER_RENDEZVOUS_KEY")
        .ok()
        .and_then(|k| k.parse().ok());
    if let (Some(addr), Some(key)) = (addr, key) {
        c.rendezvous = Some(natter::rendezvous::RendezvousConfig { addr, key });
    }
    c
}

/// Starts the node for a profile and streams its events as messages. (`&PathBuf`: the
/// subscription's data must be an owned, hashable value.)
#[allow(clippy::ptr_arg)]
pub(crate) fn events(profile: &PathBuf) -> impl Stream<Item = Message> + use<> {
    let profile = profile.clone();
    iced::stream::channel(256, async move |mut out| {
        let (handle, mut events) = match natter::Node::start(config(profile)).await {
            Ok(v) => v,
            Err(e) => {
                let _ = out.send(Message::Booted(Err(e.to_string()))).await;
                return;
            }
        };
        let _ = out.send(Message::Booted(Ok(Node(handle)))).await;
        loop {
            match events.recv().await {
                Ok(e) => {
                    if out.send(Message::Node(e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Events were missed: read again what they would have changed.
                    if out.send(Message::Lagged).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
}

fn failed(e: impl fmt::Display) -> Message {
    Message::Failed(e.to_string())
}

/// What a write that changed a contact answers: the event the node also sends, so the app
/// follows the change without reading the contacts again (applying it twice is harmless).
fn changed(contact: natter::Contact) -> Message {
    Message::Node(Event::ContactChanged { contact })
}

fn done<T, E: fmt::Display>(r: Result<T, E>) -> Message {
    r.map(|_| Message::Done).unwrap_or_else(failed)
}

/// Runs one operation against the node; the answer is the next message.
pub async fn run_op(node: Node, op: Op) -> Message {
    let n = node.0;
    match op {
        Op::Reload => run_reload(&n).await,
        Op::History(peer) => match n.history(peer, PAGE, None).await {
            Ok(h) => Message::History(peer, h),
            Err(e) => failed(e),
        },
        Op::Older(peer, before) => match n.history(peer, PAGE, Some(before)).await {
            Ok(h) => Message::Older(peer, h),
            Err(e) => failed(e),
        },
        Op::MarkRead(peer) => done(n.mark_read(peer).await),
        Op::AddContact(c) => match n.add_contact(c).await {
            Ok(contact) => changed(contact),
            Err(e) => failed(e),
        },
        Op::Accept(peer) => match n.accept(peer).await {
            Ok(contact) => changed(contact),
            Err(e) => failed(e),
        },
        Op::Block(peer) => match n.block(peer).await {
            Ok(()) => Message::Node(Event::BlockChanged {
                peer,
                blocked: true,
            }),
            Err(e) => failed(e),
        },
        Op::Unblock(peer) => match n.unblock(peer).await {
            Ok(()) => Message::Node(Event::BlockChanged {
                peer,
                blocked: false,
            }),
            Err(e) => failed(e),
        },
        Op::Send(peer, text) => done(n.send(peer, text).await),
        Op::Typing(peer, state) => done(n.set_typing(peer, state).await),
        Op::Presence(status, text) => done(n.set_presence(status, text).await),
        Op::Search(q) => match n.search(q.clone(), 50).await {
            Ok(found) => Message::Results(q, found),
            Err(e) => failed(e),
        },
        Op::Prefs => run_prefs(&n).await,
        Op::SetPref(name, value) => done(n.set_preference(&name, &value).await),
        Op::Privacy(mode) => done(n.set_privacy(mode).await),
        Op::Verified(peer, v) => match n.set_verified(peer, v).await {
            Ok(contact) => changed(contact),
            Err(e) => failed(e),
        },
        Op::Rename(peer, nick, group) => match n.rename(peer, nick, group).await {
            Ok(contact) => changed(contact),
            Err(e) => failed(e),
        },
        Op::Switches(peer, typing, receipts) => {
            match n.set_switches(peer, Some(typing), Some(receipts)).await {
                Ok(contact) => changed(contact),
                Err(e) => failed(e),
            }
        }
        Op::DeleteHistory(peer) => match n.delete_history(peer).await {
            Ok(_) => Message::History(peer, Vec::new()),
            Err(e) => failed(e),
        },
        Op::ExportHistory(format) => {
            let ext = match format {
                ExportFormat::Json => "jsonl",
                ExportFormat::Text => "txt",
            };
            let path = export_path(&n, &format!("natter-history.{ext}"));
            match n.export_history(path.clone(), format).await {
                Ok(count) => {
                    Message::Notice(format!("Exported {count} messages to {}", path.display()))
                }
                Err(e) => failed(e),
            }
        }
        Op::ExportIdentity => {
            let path = export_path(&n, "natter-identity-backup.pem");
            match n.export_identity(path.clone()).await {
                Ok(()) => Message::Notice(format!(
                    "Identity backup saved to {}. Anyone with this file can be you: keep it offline.",
                    path.display()
                )),
                Err(e) => failed(e),
            }
        }
        Op::SendFile(peer, path) => match n.send_file(peer, path, None).await {
            Ok(_) => run_transfers(&n).await,
            Err(e) => failed(e),
        },
        Op::AcceptFile(peer, id) => match n.accept_file(peer, &id).await {
            Ok(_) => run_transfers(&n).await,
            Err(e) => failed(e),
        },
        Op::DeclineFile(peer, id) => match n.decline_file(peer, &id).await {
            Ok(_) => run_transfers(&n).await,
            Err(e) => failed(e),
        },
        Op::Transfers => run_transfers(&n).await,
        Op::Copy(_) | Op::Focus(_) => Message::Done,
        Op::Notify(title, body) => {
            let shown = tokio::task::spawn_blocking(move || {
                notify_rust::Notification::new()
                    .appname("Natter")
                    .summary(&title)
                    .body(&body)
                    .show()
                    .map(|_| ())
            })
            .await;
            match shown {
                Ok(Ok(())) => Message::Done,
                // No notification service (a bare X session): nothing to tell the user.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "no desktop notification");
                    Message::Done
                }
                Err(e) => failed(e),
            }
        }
    }
}

/// Messages per history page.
pub const PAGE: usize = 200;

fn export_path(n: &NodeHandle, name: &str) -> PathBuf {
    let dir = n.downloads().to_path_buf();
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

async fn run_reload(n: &NodeHandle) -> Message {
    match (n.contacts().await, n.requests().await) {
        (Ok(c), Ok(r)) => Message::Loaded(c, r),
        (Err(e), _) | (_, Err(e)) => failed(e),
    }
}

async fn run_transfers(n: &NodeHandle) -> Message {
    match n.transfers().await {
        Ok(t) => Message::Transfers(t),
        Err(e) => failed(e),
    }
}

async fn run_prefs(n: &NodeHandle) -> Message {
    match load_prefs(n).await {
        Ok(p) => Message::Prefs(Box::new(p)),
        Err(e) => failed(e),
    }
}

async fn load_prefs(n: &NodeHandle) -> Result<Prefs, natter::node::NodeError> {
    let get = async |name: &str| n.preference(name).await;
    let d = Prefs::default();
    Ok(Prefs {
        onboarded: get(pref::ONBOARDED).await?.is_some(),
        name: get(pref::NAME).await?.unwrap_or_default(),
        theme: get(pref::THEME)
            .await?
            .map(|t| Choice::parse(&t))
            .unwrap_or_default(),
        notifications: get(pref::NOTIFICATIONS).await?.as_deref() != Some("off"),
        advertise: get(pref::ADVERTISE).await?.as_deref() != Some("off"),
        rendezvous: (
            get(pref::RENDEZVOUS).await?.unwrap_or_default(),
            get(pref::RENDEZVOUS_KEY).await?.unwrap_or_default(),
        ),
        relay: get(pref::RELAY).await?.unwrap_or(d.relay),
        privacy: n.privacy().await?,
        blocked: n.blocked().await?,
        profile: n.profile().to_path_buf(),
        downloads: n.downloads().to_path_buf(),
    })
}
