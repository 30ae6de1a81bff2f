//! The contact menu: rename, move to a group, block or unblock, typing indicators and read
//! receipts on or off, whether a relay may carry sessions with them (their own choice or the
//! global one), the size up to which their files are accepted without asking, and delete the
//! history on this computer (asks once more first).

use iced::Element;
use iced::widget::{button, column, pick_list, row, text, text_input, toggler};
use natter::PeerId;
use natter::control::{Command, ContactRelay};
use natter::model::{Contact, RelayPolicy};

use super::{Action, Screen, widget::relay_words};
use crate::theme::SMALL;
use crate::{Prefs, Roster};

/// The fields of the screen.
#[derive(Debug)]
pub struct State {
    /// The contact.
    pub peer: PeerId,
    /// Nickname being edited.
    pub nickname: String,
    /// Group being edited.
    pub group: String,
    /// Send typing indicators.
    pub typing: bool,
    /// Send read receipts.
    pub receipts: bool,
    /// They see us online while we are invisible.
    pub sees_invisible: bool,
    /// The delete button was pressed once.
    pub confirm_delete: bool,
    /// The auto-accept size being edited (`50MB`; empty or `off`: ask for every file).
    pub auto_accept: String,
    /// Why the size typed is not one.
    pub auto_accept_error: Option<String>,
}

/// A contact's relay choice as the picker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay(pub ContactRelay);

impl Relay {
    /// The choice a contact's stored policy is (`None`: the global one).
    pub fn of(policy: Option<RelayPolicy>) -> Self {
        Relay(match policy {
            None => ContactRelay::Default,
            Some(RelayPolicy::Never) => ContactRelay::Never,
            Some(RelayPolicy::Ask) => ContactRelay::Ask,
            Some(RelayPolicy::Always) => ContactRelay::Always,
        })
    }
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.policy() {
            Some(policy) => f.write_str(relay_words(policy)),
            None => f.write_str("As in Settings"),
        }
    }
}

/// The relay choices the picker offers.
pub const RELAY: [Relay; 4] = [
    Relay(ContactRelay::Default),
    Relay(ContactRelay::Never),
    Relay(ContactRelay::Ask),
    Relay(ContactRelay::Always),
];

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Nickname changed.
    Nickname(String),
    /// Group changed.
    Group(String),
    /// Save nickname and group.
    Save,
    /// Typing indicators on / off.
    Typing(bool),
    /// Read receipts on / off.
    Receipts(bool),
    /// Whether they see us while we are invisible.
    SeesInvisible(bool),
    /// Relay choice picked (the shown value follows the node's answer).
    Relay(Relay),
    /// Block them.
    Block,
    /// Unblock them.
    Unblock,
    /// The auto-accept size edited.
    AutoAccept(String),
    /// Save the auto-accept size.
    SaveAutoAccept,
    /// Delete the history (twice to confirm).
    Delete,
    /// Back.
    Back,
}

impl State {
    /// The menu for a contact.
    pub fn new(c: &Contact) -> Self {
        Self {
            peer: c.peer,
            nickname: c.nickname.clone(),
            group: c.group.clone(),
            typing: c.send_typing,
            receipts: c.send_receipts,
            sees_invisible: c.sees_invisible,
            confirm_delete: false,
            auto_accept: c
                .auto_accept_bytes
                .map(|n| n.to_string())
                .unwrap_or_default(),
            auto_accept_error: None,
        }
    }

    /// The switches as they are on this screen.
    fn switches(&self, peer: PeerId) -> Command {
        Command::ContactSet {
            id: peer,
            typing: Some(self.typing),
            receipts: Some(self.receipts),
            relay: None,
            sees_invisible: Some(self.sees_invisible),
        }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        let peer = self.peer;
        match message {
            Message::Nickname(s) => self.nickname = s,
            Message::Group(s) => self.group = s,
            Message::Save => {
                return Action::run(Command::Rename {
                    id: peer,
                    name: self.nickname.clone(),
                    group: self.group.clone(),
                })
                .then(Screen::Main);
            }
            Message::Typing(on) => {
                self.typing = on;
                return Action::run(self.switches(peer));
            }
            Message::Receipts(on) => {
                self.receipts = on;
                return Action::run(self.switches(peer));
            }
            Message::SeesInvisible(on) => {
                self.sees_invisible = on;
                return Action::run(self.switches(peer));
            }
            Message::Relay(Relay(relay)) => {
                return Action::run(Command::ContactSet {
                    id: peer,
                    typing: None,
                    receipts: None,
                    relay: Some(relay),
                    sees_invisible: None,
                });
            }
            Message::AutoAccept(s) => {
                self.auto_accept = s;
                self.auto_accept_error = None;
            }
            Message::SaveAutoAccept => {
                let typed = self.auto_accept.trim();
                let bytes = match typed {
                    "" => None,
                    t if t.eq_ignore_ascii_case("off") => None,
                    t => match natter::size::parse(t) {
                        Ok(n) => Some(n),
                        Err(e) => {
                            self.auto_accept_error = Some(e.to_string());
                            return Action::none();
                        }
                    },
                };
                return Action::run(Command::AutoAccept { id: peer, bytes });
            }
            Message::Block => return Action::run(Command::Block { id: peer }),
            Message::Unblock => return Action::run(Command::Unblock { id: peer }),
            Message::Delete if self.confirm_delete => {
                self.confirm_delete = false;
                return Action::run(Command::DeleteHistory { id: peer });
            }
            Message::Delete => self.confirm_delete = true,
            Message::Back => return Action::back(),
        }
        Action::none()
    }

    /// The screen.
    pub fn view<'a>(&'a self, roster: &'a Roster, prefs: &Prefs) -> Element<'a, Message> {
        let blocked = prefs.blocked.contains(&self.peer);
        let block = if blocked {
            button(text("Unblock")).on_press(Message::Unblock)
        } else {
            button(text("Block"))
                .on_press(Message::Block)
                .style(button::danger)
        };
        let relay = Relay::of(roster.contact(&self.peer).and_then(|c| c.relay));
        let auto_accept = match roster.contact(&self.peer).and_then(|c| c.auto_accept_bytes) {
            Some(n) => format!(
                "Their files up to {} are saved without asking.",
                natter::size::show(n)
            ),
            None => "Every file they offer waits for you to accept it.".into(),
        };
        let auto_accept = self.auto_accept_error.clone().unwrap_or(auto_accept);
        let delete = if self.confirm_delete {
            "Really delete? Press again"
        } else {
            "Delete history on this computer"
        };
        column![
            text(roster.name_of(&self.peer)).size(24),
            text("Nickname"),
            text_input("Nickname", &self.nickname).on_input(Message::Nickname),
            text("Group"),
            text_input("Group (empty: Contacts)", &self.group).on_input(Message::Group),
            button(text("Save")).on_press(Message::Save),
            toggler(self.typing)
                .label("Tell them when I am typing")
                .on_toggle(Message::Typing),
            toggler(self.receipts)
                .label("Tell them when I have read their messages")
                .on_toggle(Message::Receipts),
            toggler(self.sees_invisible)
                .label("They see me online when I am invisible")
                .on_toggle(Message::SeesInvisible),
            row![
                text("Relay when no direct path exists"),
                pick_list(RELAY, Some(relay), Message::Relay),
            ]
            .spacing(6),
            text(format!(
                "“As in Settings” is now “{}”. A relay sees only encrypted packets; both of \
                 you are shown that it is used.",
                relay_words(prefs.relay)
            ))
            .size(SMALL),
            row![
                text("Accept their files without asking up to"),
                text_input("e.g. 50MB (empty: always ask)", &self.auto_accept)
                    .on_input(Message::AutoAccept)
                    .on_submit(Message::SaveAutoAccept),
                button(text("Set")).on_press(Message::SaveAutoAccept),
            ]
            .spacing(6),
            text(auto_accept).size(SMALL),
            text(if blocked {
                "Blocked: they cannot reach you."
            } else {
                "Blocking closes any session and refuses them from now on."
            })
            .size(SMALL),
            row![
                block,
                button(text(delete))
                    .on_press(Message::Delete)
                    .style(button::danger)
            ]
            .spacing(8),
            button(text("Back"))
                .on_press(Message::Back)
                .style(button::secondary),
        ]
        .spacing(10)
        .max_width(640)
        .into()
    }
}
