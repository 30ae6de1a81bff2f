//! Owns the app's side of the node: starting it, turning its events into a stream, and running
//! the operations `update` asks for.

use std::fmt;
use std::path::PathBuf;

use iced::futures::{SinkExt, Stream};
use natter::PeerId;
use natter::discovery::Interfaces;
use natter::node::{NodeConfig, NodeHandle};
use natter::store::Contact;
use natter::wire::TypingState;

use crate::Message;

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
    /// Load a conversation.
    History(PeerId),
    /// Mark a conversation read.
    MarkRead(PeerId),
    /// Add a contact (pins the key).
    AddContact(PeerId),
    /// Accept a request.
    Accept(PeerId),
    /// Block a peer.
    Block(PeerId),
    /// Send a message.
    Send(PeerId, String),
    /// Tell a contact our typing state.
    Typing(PeerId, TypingState),
}

/// The profile folder: `NATTER_PROFILE`, else the platform data folder.
pub fn profile() -> PathBuf {
    natter::profile::resolve().unwrap_or_else(|| PathBuf::from(".natter"))
}

/// The node's configuration: defaults (LAN discovery on), adjusted by `NATTER_MDNS`
/// (`off`, `loopback`, `lan`, `all`) and `NATTER_LISTEN` (`HOST:PORT`).
pub fn config(profile: PathBuf) -> NodeConfig {
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
pub fn events(profile: &PathBuf) -> impl Stream<Item = Message> + use<> {
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
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    })
}

fn failed(e: impl fmt::Display) -> Message {
    Message::Failed(e.to_string())
}

/// Runs one operation against the node; the answer is the next message.
pub async fn run_op(node: Node, op: Op) -> Message {
    let n = node.0;
    match op {
        Op::Reload => run_reload(&n).await,
        Op::History(peer) => match n.history(peer, 200, None).await {
            Ok(h) => Message::History(peer, h),
            Err(e) => failed(e),
        },
        Op::MarkRead(peer) => n
            .mark_read(peer)
            .await
            .map(|_| Message::Done)
            .unwrap_or_else(failed),
        Op::AddContact(peer) => match n.add_contact(Contact::new(peer)).await {
            Ok(_) => run_reload(&n).await,
            Err(e) => failed(e),
        },
        Op::Accept(peer) => match n.accept(peer).await {
            Ok(_) => run_reload(&n).await,
            Err(e) => failed(e),
        },
        Op::Block(peer) => match n.block(peer).await {
            Ok(()) => run_reload(&n).await,
            Err(e) => failed(e),
        },
        Op::Send(peer, text) => n
            .send(peer, text)
            .await
            .map(|_| Message::Done)
            .unwrap_or_else(failed),
        Op::Typing(peer, state) => n
            .set_typing(peer, state)
            .await
            .map(|_| Message::Done)
            .unwrap_or_else(failed),
    }
}

async fn run_reload(n: &NodeHandle) -> Message {
    match (n.contacts().await, n.requests().await) {
        (Ok(c), Ok(r)) => Message::Loaded(c, r),
        (Err(e), _) | (_, Err(e)) => failed(e),
    }
}
