//! Owns how the app state follows the node's events: sessions, messages and their ticks,
//! typing and presence, nearby peers, files, the rendezvous, relay prompts and policy, and
//! the warnings the user must see (a key change, a peer flooding us). Incoming messages (a
//! contact's, a stranger's, or a room's), file offers and key changes raise a desktop
//! notification when the window is not focused, messages coalesced per conversation
//! (`notify.rs`); what each says is decided here (a stranger's words never).

use std::time::Instant;

use natter::model::MessageState;
use natter::node::{DialFailure, Event};

use crate::desktop::notices::Note;
use crate::notify::{Notice, Source};
use crate::screen::{Action, Screen, key_warning};
use crate::{App, Op};
use natter::control::Command;

impl App {
    pub(crate) fn node_event(&mut self, event: Event) -> Action {
        match event {
            Event::Connected {
                peer,
                path,
                remote,
                via,
                ..
            } => {
                self.roster.connected.insert(peer, (path, remote, via));
                // A session is up: a question about relaying it is moot.
                self.conversation.relay_asks.retain(|(p, _)| *p != peer);
                return self.paths_changed();
            }
            Event::Rendezvous {
                online,
                detail,
                observed,
                transport,
            } => {
                self.rendezvous = Some(crate::Rendezvous {
                    online,
                    detail,
                    observed,
                    over_tcp: transport == Some("tcp"),
                })
            }
            Event::Disconnected { peer, .. } => {
                self.roster.connected.remove(&peer);
                self.conversation.typing.remove(&peer);
                return self.paths_changed();
            }
            Event::MessageQueued { message } | Event::MessageReceived { message } => {
                let peer = message.peer;
                let mut action = Action::none();
                if !message.outgoing {
                    self.conversation.typing.remove(&peer);
                    if self.conversation.selected != Some(peer) || self.window.background {
                        *self.roster.unread.entry(peer).or_default() += 1;
                    }
                    if self.window.background && self.prefs.notifications {
                        let now = Instant::now();
                        if let Some(n) = self.window.notices.on_message(peer, &message.text, now) {
                            action = action.and(self.notification(n));
                        }
                    }
                }
                let loaded = self.conversation.history.entry(peer).or_default();
                if !loaded.iter().any(|m| m.id == message.id) {
                    let theirs = !message.outgoing;
                    loaded.push(message);
                    if theirs {
                        self.conversation.arrived(peer);
                    }
                }
                if self.conversation.selected == Some(peer) && !self.window.background {
                    action = action.and(Command::Read { id: peer });
                }
                return action;
            }
            Event::MessageSent { peer, ids } => {
                self.conversation.mark(peer, &ids, MessageState::Sent)
            }
            Event::MessageStored {
                peer,
                ids,
                expires_ms,
            } => self.conversation.stored(peer, &ids, expires_ms),
            Event::MessageExpired { peer, ids } => self.conversation.expired(peer, &ids),
            Event::MessageDelivered { peer, ids } => {
                self.conversation.mark(peer, &ids, MessageState::Delivered)
            }
            Event::MessageRead { peer, ids } => {
                self.conversation.mark(peer, &ids, MessageState::Read)
            }
            Event::Typing { peer, state } => {
                self.conversation.typing.insert(peer, state);
            }
            Event::Presence { peer, status, text } => {
                self.roster.presence.insert(peer, (status, text));
            }
            Event::PeerNearby {
                peer,
                name,
                contact,
                ..
            } => {
                self.roster.nearby.retain(|(p, ..)| *p != peer);
                self.roster.nearby.push((peer, name, contact));
                self.roster.nearby.sort_by_key(|(p, n, _)| (n.clone(), *p));
            }
            Event::PeerGone { peer } => self.roster.nearby.retain(|(p, ..)| *p != peer),
            Event::RequestReceived { request, .. } => self.roster.changed(request),
            Event::ContactChanged { contact } => self.roster.changed(contact),
            Event::BlockChanged { peer, blocked } => self.block_changed(peer, blocked),
            Event::PrivacyChanged { privacy } => self.prefs.privacy = privacy,
            Event::PreferenceChanged { name, value } => self.prefs.apply(&name, &value),
            Event::HistoryDeleted { peer, .. } => self.conversation.newest_page(peer, vec![]),
            Event::DialFailed {
                kind: DialFailure::NeedsRelay,
                error,
                ..
            } => {
                self.error = Some(format!(
                    "{}. In Natter: Settings → Relay, or the contact's menu (Contact…).",
                    error.trim_end_matches('.')
                ))
            }
            Event::DialFailed { error, .. } => self.error = Some(error),
            Event::RelayConsent { peer, relay } => self.conversation.relay_asked(peer, relay),
            Event::RelayPolicyChanged { policy } => {
                self.prefs.relay = policy;
                // The node asks again where the new policy still says to ask.
                self.conversation.relay_asks.clear();
            }
            Event::SpoofSuspected {
                claimed,
                presented,
                addr,
            } => {
                let warning = key_warning::Warning {
                    claimed,
                    claimed_name: self.name_of(&claimed),
                    presented,
                    addr: addr.to_string(),
                };
                // Never missed: the warning waits in the window, and says so on the desktop.
                let note = Note::new(
                    format!("{} presented another key", self.name_of(&claimed)),
                    "Natter refused the connection: it may not be them. Open Natter to read \
                     what to do.",
                )
                .opening(Source::Peer(claimed));
                let action = match self.window.background && self.prefs.notifications {
                    true => Action::run(Op::Notify(note)),
                    false => Action::none(),
                };
                return action.then(Screen::KeyWarning(warning));
            }
            Event::FileOffered { transfer } => {
                let note = self.file_offered(&transfer);
                self.conversation.transfer(transfer);
                return note.map_or_else(Action::none, Action::run);
            }
            Event::FileReceived { transfer }
            | Event::FileSent { transfer }
            | Event::FileEnded { transfer } => self.conversation.transfer(transfer),
            Event::FileProgress {
                file_id,
                bytes,
                size,
                ..
            } => {
                self.conversation.progress.insert(file_id, (bytes, size));
            }
            Event::Throttled { peer, kind, effect } => {
                self.conversation.flooding.throttled(peer, kind, effect)
            }
            Event::Error { message } => self.error = Some(message),
            Event::ShowRequested { link } => {
                // A second start, a link clicked: the window comes up, the link's ID filled
                // in for the user to confirm.
                let opened = link.as_deref().and_then(crate::id_of_link).map(|id| {
                    self.sidebar.add_input = id.clone();
                    crate::Screen::AddContact(crate::screen::add_contact::State::with_id(id))
                });
                let action = Action::run(crate::desktop::Do::Show);
                return match opened {
                    Some(screen) => action.then(screen),
                    None => action,
                };
            }
            Event::RoomInvited { room } => {
                let from = room.inviter.map(|p| self.name_of(&p)).unwrap_or_default();
                let notice = format!("{from} invited you to the room {}", room.name);
                self.rooms.changed(room);
                self.said(notice);
            }
            Event::RoomState { room } => {
                if self.rooms.selected == Some(room.room_id)
                    && room.status != natter::model::RoomStatus::Joined
                    && room.status != natter::model::RoomStatus::Invited
                {
                    self.rooms.selected = None;
                }
                self.rooms.changed(room)
            }
            Event::RoomNearby { room } => {
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.seen(room);
                }
            }
            Event::RoomNearbyGone { room_id } => {
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.gone(&room_id);
                }
            }
            Event::RoomJoinRefused { room_id, reason } => {
                let name = self.rooms.name_of(&room_id);
                self.error = Some(format!(
                    "The creator of # {name} did not let you in: {reason}"
                ));
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.joining = None;
                }
            }
            Event::RoomMessage { post } => {
                let mut action = Action::none();
                if !post.outgoing && self.window.background && self.prefs.notifications {
                    let text = format!("{}: {}", self.name_of(&post.author), post.text);
                    let from = Source::Room(post.room_id);
                    if let Some(n) = self.window.notices.on_message(from, &text, Instant::now()) {
                        action = action.and(self.notification(n));
                    }
                }
                self.rooms.post(post);
                return action;
            }
            _ => {}
        }
        Action::none()
    }

    /// The desktop notification for a notice: the contact's name and message, or how many
    /// came and the latest; a click opens the conversation. A stranger's words (their text,
    /// the name they chose) are never shown: only that someone new wrote, and their ID's
    /// start. With message text hidden in Settings, only who wrote and how many.
    pub(crate) fn notification(&self, n: Notice) -> Op {
        let shown = |text: String, count: usize| match (self.prefs.notification_text, count) {
            (true, _) => text,
            (false, 1) => "New message".into(),
            (false, n) => format!("{n} new messages"),
        };
        let note = match (n.from, n.count) {
            (Source::Peer(p), _) if !self.is_contact(&p) => Note::new(
                "Message request",
                format!(
                    "Someone new wrote to you (ID {}…). Open Natter to read it, then accept \
                     or decline.",
                    crate::short(&p)
                ),
            ),
            (Source::Peer(p), 1) => Note::new(self.name_of(&p), shown(n.text, 1)),
            (Source::Peer(p), count) => Note::new(
                format!("{count} new messages from {}", self.name_of(&p)),
                shown(n.text, count),
            ),
            (Source::Room(r), count) => {
                let room = self.rooms.name_of(&r);
                match count {
                    1 => Note::new(format!("# {room}"), shown(n.text, 1)),
                    _ => Note::new(
                        format!("{count} new messages in # {room}"),
                        shown(n.text, count),
                    ),
                }
            }
        };
        Op::Notify(note.opening(n.from))
    }

    /// Whether a peer is a contact (not a stranger in Requests, not someone unknown).
    fn is_contact(&self, peer: &natter::PeerId) -> bool {
        self.contact(peer)
            .is_some_and(|c| c.state == natter::ContactState::Contact)
    }

    /// A file offered while the window is in the background: who offers what (a stranger's
    /// file name is their words: not shown).
    fn file_offered(&self, t: &natter::model::Transfer) -> Option<Op> {
        let asks = !t.outgoing && t.state == natter::model::TransferState::Offered;
        if !(asks && self.window.background && self.prefs.notifications) {
            return None;
        }
        let note = if self.is_contact(&t.peer) {
            let body = match self.prefs.notification_text {
                true => format!("{} ({})", t.name, natter::size::show(t.size)),
                false => natter::size::show(t.size),
            };
            Note::new(format!("{} offers a file", self.name_of(&t.peer)), body)
        } else {
            Note::new(
                "A file from someone new",
                format!("ID {}…: open Natter to see it.", crate::short(&t.peer)),
            )
        };
        Some(Op::Notify(note.opening(Source::Peer(t.peer))))
    }

    /// A second went by: "stopped typing" when due, and the notifications whose quiet window
    /// ended.
    pub(crate) fn second_passed(&mut self, now: Instant) -> Action {
        let mut action = self.conversation.second_passed(now);
        for n in self.window.notices.due(now) {
            if self.prefs.notifications {
                action = action.and(self.notification(n));
            }
        }
        action
    }
}
