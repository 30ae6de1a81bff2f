//! First start: the identity already exists (the node made it); the user picks a display
//! name (optional) and sees their Natter ID with a copy button, the invite link and its QR
//! code.

use iced::widget::{button, column, container, qr_code, row, text, text_input};
use iced::{Element, Length};

use super::{Action, widget::grouped};
use crate::theme::SMALL;
use crate::{App, Op, invite_link, pref};

/// Widget id of the name field.
pub const NAME_INPUT: &str = "onboarding-name";

/// The fields of the screen.
#[derive(Debug, Default)]
pub struct State {
    /// The name being typed.
    pub name: String,
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
    /// The screen, with a name saved before (if any).
    pub fn new(name: String) -> Self {
        Self { name }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Name(n) => {
                self.name = n.chars().take(63).collect();
                Action::none()
            }
            Message::CopyId => Action::none(),
            Message::CopyLink => Action::none(),
            Message::Start => Action::run(Op::SetPref(pref::NAME.into(), self.name.trim().into()))
                .and(Op::SetPref(pref::ONBOARDED.into(), "1".into()))
                .and(Op::Prefs)
                .then(super::Screen::Main),
        }
    }

    /// The screen.
    pub fn view<'a>(&'a self, app: &'a App) -> Element<'a, Message> {
        let Some(me) = app.me else {
            return text("Starting Natter…").into();
        };
        let qr: Element<'a, Message> = match &app.invite_qr {
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

/// What the copy buttons put on the clipboard (the app runs it as a clipboard task).
pub fn copied(app: &App, message: &Message) -> Option<Op> {
    let me = app.me?;
    match message {
        Message::CopyId => Some(Op::Copy(me.to_string())),
        Message::CopyLink => Some(Op::Copy(invite_link(&me))),
        _ => None,
    }
}
