//! The Natter desktop app (iced 0.14): a thin client of the core's `NodeHandle` and `Event`
//! stream; it never touches sockets or SQL. Node events arrive through one `Subscription`;
//! `update` returns the node operations to run ([`Op`]), which become `Task`s — tests run the
//! same operations directly against real nodes.
#![deny(missing_docs)]

mod node;
pub mod screen;

pub use node::{Node, Op, run_op};

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use iced::widget::{container, row, text};
use iced::{Element, Fill, Subscription, Task, Theme};
use natter::PeerId;
use natter::node::Event;
use natter::store::{Contact, Message as Stored, MessageState};
use natter::wire::{Status, TypingState};

/// The app state.
#[derive(Default)]
pub struct App {
    /// The running node, once started.
    pub node: Option<Node>,
    /// Own id.
    pub me: Option<PeerId>,
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Strangers who wrote.
    pub requests: Vec<Contact>,
    /// Peers on the LAN: (id, name, is contact).
    pub nearby: Vec<(PeerId, Option<String>, bool)>,
    /// The open conversation.
    pub selected: Option<PeerId>,
    /// Loaded history per peer.
    pub history: HashMap<PeerId, Vec<Stored>>,
    /// Unread count per peer.
    pub unread: HashMap<PeerId, usize>,
    /// Their typing state.
    pub typing: HashMap<PeerId, TypingState>,
    /// Their presence.
    pub presence: HashMap<PeerId, (Status, String)>,
    /// Peers with a live session.
    pub connected: HashSet<PeerId>,
    /// The add-contact field.
    pub add_input: String,
    /// The composer.
    pub composer: String,
    /// The last failure, in plain words.
    pub error: Option<String>,
    /// The rendezvous registration (registered?, what the node said), when one is set.
    pub rendezvous: Option<(bool, String)>,
}

/// What the app reacts to.
#[derive(Debug, Clone)]
pub enum Message {
    /// The node started (or could not).
    Booted(Result<Node, String>),
    /// Something happened in the node.
    Node(Event),
    /// Contacts and requests were (re)loaded.
    Loaded(Vec<Contact>, Vec<Contact>),
    /// A conversation's history was loaded.
    History(PeerId, Vec<Stored>),
    /// Open a conversation.
    Select(PeerId),
    /// The add-contact field changed.
    AddInput(String),
    /// Add the pasted id as a contact.
    AddContact,
    /// Add a nearby peer.
    AddNearby(PeerId),
    /// Accept a request.
    Accept(PeerId),
    /// Block a peer.
    Block(PeerId),
    /// The composer changed.
    Compose(String),
    /// Send the composer's text.
    Send,
    /// A node operation failed.
    Failed(String),
    /// A node operation finished with nothing to show.
    Done,
}

/// Short form of an id for lists.
pub fn short(id: &PeerId) -> String {
    id.to_string().chars().take(10).collect()
}

impl App {
    /// A contact's display name.
    pub fn name_of(&self, peer: &PeerId) -> String {
        self.contacts
            .iter()
            .chain(&self.requests)
            .find(|c| c.peer == *peer)
            .map(|c| c.nickname.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| short(peer))
    }

    /// The window title: "Natter", with the unread count when there is one.
    pub fn title(&self) -> String {
        match self.unread.values().sum::<usize>() {
            0 => "Natter".into(),
            n => format!("Natter ({n})"),
        }
    }

    /// Applies a message; returns the node operations it calls for.
    pub fn update(&mut self, message: Message) -> Vec<Op> {
        match message {
            Message::Booted(Ok(node)) => {
                self.me = Some(node.0.peer_id());
                self.node = Some(node);
                return vec![Op::Reload];
            }
            Message::Booted(Err(e)) | Message::Failed(e) => self.error = Some(e),
            Message::Loaded(contacts, requests) => {
                self.contacts = contacts;
                self.requests = requests;
            }
            Message::History(peer, messages) => {
                self.history.insert(peer, messages);
            }
            Message::Select(peer) => {
                self.selected = Some(peer);
                self.unread.remove(&peer);
                return vec![Op::History(peer), Op::MarkRead(peer)];
            }
            Message::AddInput(s) => self.add_input = s,
            Message::AddContact => match self.add_input.trim().parse::<PeerId>() {
                Ok(peer) => {
                    self.add_input.clear();
                    self.error = None;
                    return vec![Op::AddContact(peer)];
                }
                Err(e) => {
                    self.error = Some(format!("That is not a Natter ID: {e}. Paste the whole ID."))
                }
            },
            Message::AddNearby(peer) => return vec![Op::AddContact(peer)],
            Message::Accept(peer) => return vec![Op::Accept(peer)],
            Message::Block(peer) => return vec![Op::Block(peer)],
            Message::Compose(s) => {
                let ops = self.typing_ops(&s);
                self.composer = s;
                return ops;
            }
            Message::Send => {
                let text = self.composer.trim().to_string();
                if let (Some(peer), false) = (self.selected, text.is_empty()) {
                    self.composer.clear();
                    return vec![Op::Send(peer, text)];
                }
            }
            Message::Node(event) => return self.node_event(event),
            Message::Done => {}
        }
        Vec::new()
    }

    fn typing_ops(&self, new: &str) -> Vec<Op> {
        let Some(peer) = self.selected else {
            return Vec::new();
        };
        match (self.composer.is_empty(), new.is_empty()) {
            (true, false) => vec![Op::Typing(peer, TypingState::Typing)],
            (false, true) => vec![Op::Typing(peer, TypingState::Erased)],
            _ => Vec::new(),
        }
    }

    fn node_event(&mut self, event: Event) -> Vec<Op> {
        match event {
            Event::Connected { peer, .. } => {
                self.connected.insert(peer);
            }
            Event::Rendezvous { online, detail } => self.rendezvous = Some((online, detail)),
            Event::Disconnected { peer, .. } => {
                self.connected.remove(&peer);
                self.typing.remove(&peer);
            }
            Event::MessageQueued { message } | Event::MessageReceived { message } => {
                let peer = message.peer;
                if !message.outgoing && self.selected != Some(peer) {
                    *self.unread.entry(peer).or_default() += 1;
                }
                if !message.outgoing {
                    self.typing.remove(&peer);
                }
                self.history.entry(peer).or_default().push(message);
                if self.selected == Some(peer) {
                    return vec![Op::MarkRead(peer)];
                }
            }
            Event::MessageSent { peer, ids } => self.mark(peer, &ids, MessageState::Sent),
            Event::MessageStored { peer, ids, .. } => self.mark(peer, &ids, MessageState::Stored),
            Event::MessageDelivered { peer, ids } => self.mark(peer, &ids, MessageState::Delivered),
            Event::MessageRead { peer, ids } => self.mark(peer, &ids, MessageState::Read),
            Event::Typing { peer, state } => {
                self.typing.insert(peer, state);
            }
            Event::Presence { peer, status, text } => {
                self.presence.insert(peer, (status, text));
            }
            Event::PeerNearby {
                peer,
                name,
                contact,
                ..
            } => {
                self.nearby.retain(|(p, ..)| *p != peer);
                self.nearby.push((peer, name, contact));
            }
            Event::PeerGone { peer } => self.nearby.retain(|(p, ..)| *p != peer),
            Event::RequestReceived { .. } => return vec![Op::Reload],
            Event::DialFailed { error, .. } => self.error = Some(error),
            Event::SpoofSuspected { claimed, .. } => {
                self.error = Some(format!(
                    "Someone on this network pretended to be {}; Natter refused to talk to them.",
                    self.name_of(&claimed)
                ))
            }
            Event::Error { message } => self.error = Some(message),
            _ => {}
        }
        Vec::new()
    }

    fn mark(&mut self, peer: PeerId, ids: &[String], state: MessageState) {
        for m in self.history.entry(peer).or_default().iter_mut() {
            if ids.contains(&m.id) && m.state < state {
                m.state = state;
            }
        }
    }

    /// The whole window.
    pub fn view(&self) -> Element<'_, Message> {
        let body: Element<'_, Message> = match (&self.node, &self.error) {
            (None, Some(e)) => text(format!("Natter could not start: {e}")).into(),
            (None, None) => text("Starting Natter…").into(),
            (Some(_), _) => row![
                screen::sidebar::view(self),
                screen::conversation::view(self)
            ]
            .spacing(16)
            .into(),
        };
        container(body).padding(16).width(Fill).height(Fill).into()
    }
}

fn update(app: &mut App, message: Message) -> Task<Message> {
    let ops = app.update(message);
    match &app.node {
        Some(node) => Task::batch(
            ops.into_iter()
                .map(|op| Task::perform(run_op(node.clone(), op), |m| m)),
        ),
        None => Task::none(),
    }
}

fn subscription(_app: &App) -> Subscription<Message> {
    Subscription::run_with(node::profile(), node::events)
}

/// The application, as `main` runs it.
pub fn application() -> iced::Application<impl iced::Program<Message = Message, Theme = Theme>> {
    application_with(None)
}

/// The application opened by a `natter://add/<ID>` link (the desktop's URL handler): the
/// add-contact field starts filled in, for the user to confirm with Add.
pub fn application_with(
    link: Option<String>,
) -> iced::Application<impl iced::Program<Message = Message, Theme = Theme>> {
    let prefill = link.as_deref().and_then(id_of_link);
    iced::application(
        move || {
            let app = App {
                add_input: prefill.clone().unwrap_or_default(),
                ..App::default()
            };
            (app, Task::none())
        },
        update,
        App::view,
    )
    .title(App::title)
    .subscription(subscription)
    .theme(|_: &App| Theme::Dark)
}

/// The Natter ID in `natter://add/<ID>` (or `natter:<ID>`), if it is one.
pub fn id_of_link(link: &str) -> Option<String> {
    let rest = link.strip_prefix("natter:")?.trim_start_matches('/');
    let id = rest
        .strip_prefix("add/")
        .unwrap_or(rest)
        .trim_end_matches('/');
    id.parse::<PeerId>().ok().map(|p| p.to_string())
}

/// The profile folder the app uses.
pub fn profile() -> PathBuf {
    node::profile()
}
