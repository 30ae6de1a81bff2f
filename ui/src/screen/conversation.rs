//! The conversation: header with name, presence and path badge, history with delivery ticks,
//! the typing line, and the composer (Enter sends).

use iced::widget::{Column, column, scrollable, text, text_input};
use iced::{Element, Length};
use natter::store::MessageState;
use natter::wire::TypingState;

use crate::{App, Message};

/// Widget id of the composer.
pub const COMPOSER: &str = "composer";

/// The tick for a message state.
pub fn tick(state: MessageState) -> &'static str {
    match state {
        MessageState::Queued => "🕓 queued",
        MessageState::Sent => "✓ sent",
        MessageState::Stored => "✉ stored for them",
        MessageState::Delivered => "✓✓ delivered",
        MessageState::Read => "✓✓ read",
        MessageState::Received => "",
    }
}

/// The typing line for a state.
pub fn typing_line(state: TypingState) -> Option<&'static str> {
    match state {
        TypingState::Typing => Some("typing…"),
        TypingState::Paused => Some("stopped typing"),
        TypingState::Erased => Some("erased what they typed"),
        TypingState::Idle => None,
    }
}

/// The conversation pane.
pub fn view(app: &App) -> Element<'_, Message> {
    let Some(peer) = app.selected else {
        return column![text("Pick a contact, or paste a Natter ID to add one.")]
            .width(Length::FillPortion(5))
            .into();
    };
    let path = if app.connected.contains(&peer) {
        "direct"
    } else {
        "offline"
    };
    let header = text(format!("{} · {path}", app.name_of(&peer))).size(20);
    let mut history = Column::new().spacing(4);
    for m in app
        .history
        .get(&peer)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let who = if m.outgoing { "me" } else { "them" };
        history = history.push(text(format!("{who}: {}  {}", m.text, tick(m.state))));
    }
    let typing = app
        .typing
        .get(&peer)
        .copied()
        .and_then(typing_line)
        .map(|l| format!("{} {l}", app.name_of(&peer)));
    column![
        header,
        scrollable(history).height(Length::Fill),
        text(typing.unwrap_or_default()).size(13),
        text_input("Type a message", &app.composer)
            .id(COMPOSER)
            .on_input(Message::Compose)
            .on_submit(Message::Send),
    ]
    .spacing(10)
    .width(Length::FillPortion(5))
    .into()
}
