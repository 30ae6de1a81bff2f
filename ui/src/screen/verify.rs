//! Verify a contact: both sides see the same safety number (60 digits); compare it in person
//! or on a call, or scan the other's QR code, then mark the contact verified.

use iced::Element;
use iced::widget::{button, column, qr_code, row, text};
use natter::PeerId;
use natter::control::Command;
use natter::model::Verification;

use super::{Action, Screen};
use crate::theme::SMALL;
use crate::{App, Roster, short};

/// The screen's data.
#[derive(Debug)]
pub struct State {
    /// The contact.
    pub peer: PeerId,
    /// The safety number, in groups of five digits.
    pub number: String,
    /// QR code of the safety number.
    pub qr: Option<qr_code::Data>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Mark verified (true) or not.
    Mark(bool),
    /// Back.
    Back,
}

impl State {
    /// The screen for a contact.
    pub fn new(app: &App, peer: PeerId) -> Self {
        let number = app
            .node
            .as_ref()
            .map(|n| n.0.safety_number(&peer))
            .unwrap_or_default();
        let qr = qr_code::Data::new(number.replace(' ', "")).ok();
        Self { peer, number, qr }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Mark(v) => Action::run(Command::Verify {
                id: self.peer,
                verified: Some(v),
            })
            .then(Screen::Main),
            Message::Back => Action::back(),
        }
    }

    /// The screen.
    pub fn view<'a>(&'a self, roster: &'a Roster) -> Element<'a, Message> {
        let verified = roster
            .contact(&self.peer)
            .is_some_and(|c| c.verification == Verification::Verified);
        let groups: Vec<&str> = self.number.split(' ').collect();
        let mut digits = column![].spacing(4);
        for line in groups.chunks(4) {
            digits = digits.push(text(line.join("  ")).size(22));
        }
        let qr: Element<'a, Message> = match &self.qr {
            Some(d) => qr_code(d).cell_size(5).into(),
            None => text("").into(),
        };
        let mark = if verified {
            button(text("Mark as not verified")).on_press(Message::Mark(false))
        } else {
            button(text("Mark as verified")).on_press(Message::Mark(true))
        };
        column![
            text(format!("Verify {}", roster.name_of(&self.peer))).size(24),
            text(format!("Their Natter ID starts {}", short(&self.peer))).size(SMALL),
            text("Compare these numbers with theirs, in person or on a call you trust. If they are the same, nobody sits between you."),
            digits,
            qr,
            text(if verified { "✔ You verified this contact." } else { "Not verified yet." }),
            row![
                mark,
                button(text("Back")).on_press(Message::Back).style(button::secondary)
            ]
            .spacing(8),
        ]
        .spacing(12)
        .max_width(720)
        .into()
    }
}
