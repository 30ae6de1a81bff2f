//! First start: the identity already exists (the node made it); the user picks a display
//! name (optional) and sees their Natter ID with a copy button, the invite link and its QR
//! code.

use iced::widget::{button, column, container, qr_code, row, text, text_input};
use iced::{Element, Length};

use natter::PeerId;

use super::{Action, widget::grouped};
use crate::theme::SMALL;
use crate::{Op, invite_link, pref, save};

/// Widget id of the name field.
pub const NAME_INPUT: &str = "onboarding-name";

/// The fields of the screen, and the identity it shows.
pub struct State {
    /// The name being typed.
    pub name: String,
    /// Our Natter ID.
    pub me: PeerId,
    /// The invite link's QR code.
    qr: Option<qr_code::Data>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("name", &self.name)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// The name changed.
    Name(String),
    /// Copy the ID.
    CopyId,
    /// Copy the invite link.
    CopyLink,
    /// Done: save the name, go to the main window.
    Start,
}

impl State {
    /// The screen for our ID, with a name saved before (if any).
    pub fn new(me: PeerId, name: String) -> Self {
        Self {
            name,
            me,
            qr: qr_code::Data::new(invite_link(&me)).ok(),
        }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Name(n) => {
                self.name = n.chars().take(63).collect();
                Action::none()
            }
            Message::CopyId => Action::run(Op::Copy(self.me.to_string())),
            Message::CopyLink => Action::run(Op::Copy(invite_link(&self.me))),
            Message::Start => Action::run(save(pref::NAME, self.name.trim()))
                .and(save(pref::ONBOARDED, "1"))
                .then(super::Screen::Main),
        }
    }

    /// The screen.
    pub fn view(&self) -> Element<'_, Message> {
        let me = self.me;
        let qr: Element<'_, Message> = match &self.qr {
            Some(data) => qr_code(data).cell_size(4).into(),
            None => text("").into(),
        };
        let body = column![
            text("Welcome to Natter").size(28),
            text("Your identity was created on this computer. Nothing about you is on a server.")
                .size(SMALL),
            text("Your name (optional: shown to people near you on the LAN)"),
            text_input("e.g. Alice", &self.name)
                .id(NAME_INPUT)
                .on_input(Message::Name)
                .on_submit(Message::Start)
                .width(360),
            text("Your Natter ID: give it to the people you want to talk to"),
            text(grouped(&me)).size(16),
            row![
                button(text("Copy ID")).on_press(Message::CopyId),
                button(text("Copy invite link")).on_press(Message::CopyLink),
            ]
            .spacing(8),
            text(invite_link(&me)).size(SMALL),
            qr,
            button(text("Start chatting")).on_press(Message::Start),
        ]
        .spacing(12)
        .max_width(640);
        container(body).center_x(Length::Fill).into()
    }
}
