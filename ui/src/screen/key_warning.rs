//! The key-change warning: a host claimed to be a contact but presented another key. Natter
//! already refused it; this screen blocks the window until the user has read what it means.

use iced::Element;
use iced::widget::{button, column, row, text};
use natter::PeerId;
use natter::control::Command;

use super::Action;
use crate::short;

/// What happened.
#[derive(Debug, Clone)]
pub struct Warning {
    /// The contact the host claimed to be.
    pub claimed: PeerId,
    /// Its name here.
    pub claimed_name: String,
    /// The key it presented.
    pub presented: PeerId,
    /// Where.
    pub addr: String,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Block the key that was presented.
    BlockImpostor,
    /// Read and understood.
    Dismiss,
}

impl Warning {
    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::BlockImpostor => {
                Action::run(Command::Block { id: self.presented }).then(super::Screen::Main)
            }
            Message::Dismiss => Action::back(),
        }
    }

    /// The screen.
    pub fn view(&self) -> Element<'_, Message> {
        column![
            text("⚠ This is not the key you know")
                .size(28)
                .style(text::danger),
            text(format!(
                "A computer at {} said it was {}, but it proved a different key ({}…). Natter \
                 refused to talk to it; nothing was sent.",
                self.addr,
                self.claimed_name,
                short(&self.presented)
            )),
            text(format!(
                "Your contact {} still has the key you added. If they tell you they reinstalled \
                 Natter, ask for their new ID and compare safety numbers before adding it. \
                 Otherwise someone on this network may be trying to listen in.",
                self.claimed_name
            )),
            row![
                button(text("Block that key"))
                    .on_press(Message::BlockImpostor)
                    .style(button::danger),
                button(text("I understand")).on_press(Message::Dismiss),
            ]
            .spacing(8),
        ]
        .spacing(14)
        .max_width(720)
        .into()
    }
}
