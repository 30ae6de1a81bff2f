//! Search results over all history (newest first), shown in place of the conversation
//! while the search field has words; picking one opens its conversation.

use iced::widget::{Column, button, column, scrollable, text};
use iced::{Element, Length};
use natter::PeerId;

use super::Action;
use crate::theme::SMALL;
use crate::{App, Roster};

/// The search pane's state.
#[derive(Default)]
pub struct State {
    /// The search field.
    pub words: String,
    /// Search results, for the words in the field when they came.
    pub results: Option<(String, Vec<natter::Message>)>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Open the conversation of a result at that message (its id).
    Open(PeerId, String),
}

/// Applies what the user did.
pub fn update(app: &mut App, message: Message) -> Action {
    match message {
        Message::Open(peer, id) => {
            let opened = super::sidebar::update(app, super::sidebar::Message::Select(peer));
            app.conversation.jump = Some(super::conversation::Jump { peer, id });
            opened
        }
    }
}

/// The results pane.
pub fn view<'a>(state: &'a State, roster: &'a Roster) -> Element<'a, Message> {
    let Some((words, found)) = &state.results else {
        return text("").into();
    };
    let mut list = Column::new().spacing(6);
    let zone = natter::dates::local_zone();
    for m in found {
        let who = if m.outgoing {
            "You".to_string()
        } else {
            roster.name_of(&m.peer)
        };
        list = list.push(
            button(column![
                text(format!(
                    "{} · {} {}",
                    roster.name_of(&m.peer),
                    natter::dates::date_in(m.ts_ms, &zone),
                    natter::dates::time_of_day_in(m.ts_ms, &zone)
                ))
                .size(SMALL),
                text(format!("{who}: {}", m.text)),
            ])
            .on_press(Message::Open(m.peer, m.id.clone()))
            .style(button::secondary)
            .width(Length::Fill),
        );
    }
    let title = match found.len() {
        0 => format!("No messages with “{words}”"),
        n => format!("{n} messages with “{words}” (newest first)"),
    };
    column![text(title).size(20), scrollable(list).height(Length::Fill)]
        .spacing(10)
        .width(Length::FillPortion(5))
        .into()
}
