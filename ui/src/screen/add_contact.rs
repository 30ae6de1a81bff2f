//! Add a contact: paste a Natter ID or an invite link, or pick someone nearby; optional
//! nickname, group and an address to dial (`IP:PORT`, for a contact neither the LAN nor a
//! rendezvous finds). Adding pins their key.

use iced::widget::{Column, button, column, row, text, text_input};
use iced::{Element, Length};
use natter::PeerId;
use natter::control::Command;

use super::{Action, Screen};
use crate::theme::{SMALL, TITLE};
use crate::{Roster, id_of_link, short};

/// Widget id of the ID field.
pub const ID_INPUT: &str = "add-id";

/// The fields of the screen.
#[derive(Debug, Default)]
pub struct State {
    /// ID or link.
    pub id: String,
    /// Nickname.
    pub nickname: String,
    /// Group.
    pub group: String,
    /// Where to dial them (`IP:PORT`), if given.
    pub addr: String,
    /// What is wrong with the fields.
    pub error: Option<String>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// The ID field changed.
    Id(String),
    /// The nickname changed.
    Nickname(String),
    /// The group changed.
    Group(String),
    /// The address changed.
    Addr(String),
    /// Fill the fields from a nearby peer.
    Pick(PeerId, Option<String>),
    /// Add.
    Add,
    /// Back without adding.
    Cancel,
}

/// A Natter ID from what the user pasted: the ID itself (spaces allowed) or an invite link.
pub fn parse_id(input: &str) -> Result<PeerId, String> {
    let input = input.trim();
    let id = id_of_link(input).unwrap_or_else(|| input.to_string());
    id.parse::<PeerId>()
        .map_err(|e| format!("That is not a Natter ID: {e}. Paste the whole ID or invite link."))
}

/// An address to dial from what the user typed: empty is none; else `IP:PORT`.
pub fn parse_addr(input: &str) -> Result<Option<String>, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    input
        .parse::<std::net::SocketAddr>()
        .map(|a| Some(a.to_string()))
        .map_err(|_| format!("{input:?} is not an address like 192.0.2.7:47100 (IP:PORT)."))
}

impl State {
    /// The screen with an ID filled in.
    pub fn with_id(id: String) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Id(s) => self.id = s,
            Message::Nickname(s) => self.nickname = s,
            Message::Group(s) => self.group = s,
            Message::Addr(s) => self.addr = s,
            Message::Pick(peer, name) => {
                self.id = peer.to_string();
                self.nickname = name.unwrap_or_default();
            }
            Message::Add => match (parse_id(&self.id), parse_addr(&self.addr)) {
                (Ok(peer), Ok(addr)) => {
                    let add = Command::ContactAdd {
                        id: peer,
                        name: Some(self.nickname.trim().to_string()),
                        group: Some(self.group.trim().to_string()),
                        addr,
                    };
                    return Action::run(add).then(Screen::Main);
                }
                (Err(e), _) | (_, Err(e)) => self.error = Some(e),
            },
            Message::Cancel => return Action::back(),
        }
        Action::none()
    }

    /// The screen.
    pub fn view<'a>(&'a self, roster: &'a Roster) -> Element<'a, Message> {
        let mut nearby = Column::new().spacing(4);
        for (peer, name, contact) in &roster.nearby {
            let label = name.clone().unwrap_or_else(|| short(peer));
            let mut line = row![text(label).width(Length::Fill)].spacing(6);
            line = if *contact {
                line.push(text("already a contact").size(SMALL))
            } else {
                line.push(button(text("Pick")).on_press(Message::Pick(*peer, name.clone())))
            };
            nearby = nearby.push(line);
        }
        if roster.nearby.is_empty() {
            nearby = nearby.push(text("No one on this network yet.").size(SMALL));
        }
        let mut col = column![
            text("Add a contact").size(24),
            text("Natter ID or invite link"),
            text_input("Paste it here", &self.id)
                .id(ID_INPUT)
                .on_input(Message::Id)
                .on_submit(Message::Add),
            text("Nickname (only you see it)"),
            text_input("e.g. Bob", &self.nickname).on_input(Message::Nickname),
            text("Group"),
            text_input("e.g. Work (empty: Contacts)", &self.group).on_input(Message::Group),
            text("Address (optional: only if the LAN and the rendezvous cannot find them)"),
            text_input("e.g. 192.0.2.7:47100", &self.addr).on_input(Message::Addr),
            row![
                button(text("Add")).on_press(Message::Add),
                button(text("Cancel"))
                    .on_press(Message::Cancel)
                    .style(button::secondary),
            ]
            .spacing(8),
            text("Nearby").size(TITLE),
            nearby,
        ]
        .spacing(10)
        .max_width(640);
        if let Some(e) = &self.error {
            col = col.push(text(e.as_str()).style(text::danger));
        }
        col.into()
    }
}
