//! The conversation pane's view: the relay questions, the header (name, presence, path,
//! verification, the contact's buttons), a flood warning, the history (`history.rs`) with
//! the buttons that page back and go down to the newest, the files, the typing line and the
//! composer with its emoji picker.

use iced::keyboard::key::Named;
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{Column, button, row, scrollable, text, text_editor};
use iced::{Element, Length};
use natter::PeerId;
use natter::control::YesNo;
use natter::model::{Path, Verification};

use super::{COMPOSER, EMOJI, EMOJI_BUTTON, HISTORY, Message, history, typing_line};
use crate::theme::SMALL;
use crate::{App, flood};

/// How the conversation reaches the contact now, as the node reported it.
pub fn path_badge(app: &App, peer: &PeerId) -> String {
    let badge = match app.roster.connected.get(peer) {
        Some((Path::Lan, ..)) => "LAN",
        Some((Path::Direct, ..)) => "direct",
        Some((Path::Relayed, _, Some(via))) => return format!("relayed via {via}"),
        Some((Path::Relayed, _, None)) => "relayed",
        None if app.rendezvous.as_ref().is_some_and(|r| r.online) => {
            "offline — messages wait at the mailbox"
        }
        None => "offline — messages wait until they are back",
    };
    badge.into()
}

/// The question the user reads when only a relay could reach a contact.
pub fn relay_question(name: &str, relay: &str) -> String {
    format!(
        "No direct path to {name}. Let the relay {relay} carry this conversation? It sees only \
         encrypted packets; both of you are shown it is used."
    )
}

/// The node's questions about relays, each with its two answers.
fn relay_asks(app: &App) -> Column<'_, Message> {
    let mut col = Column::new().spacing(6);
    for (peer, relay) in &app.conversation.relay_asks {
        col = col.push(
            row![
                text(relay_question(&app.name_of(peer), relay)).width(Length::Fill),
                button(text("Allow")).on_press(Message::Relay(*peer, YesNo::Yes)),
                button(text("Not now"))
                    .on_press(Message::Relay(*peer, YesNo::No))
                    .style(button::secondary),
            ]
            .spacing(6),
        );
    }
    col
}

/// The conversation pane.
pub fn view(app: &App) -> Element<'_, Message> {
    let mut pane = Column::new().spacing(10).width(Length::FillPortion(5));
    if !app.conversation.relay_asks.is_empty() {
        pane = pane.push(relay_asks(app));
    }
    let Some(peer) = app.conversation.selected else {
        return pane
            .push(text("Pick a contact, or paste a Natter ID to add one."))
            .into();
    };
    let contact = app.contact(&peer);
    let verified = contact.is_some_and(|c| c.verification == Verification::Verified);
    // A request is named by what it claims, said as a claim.
    let name = match contact {
        Some(_) => app.name_of(&peer),
        None => crate::screen::widget::stranger(app, &peer),
    };
    let mut header = row![
        text(format!(
            "{} {} · {}",
            crate::screen::widget::dot(app, &peer),
            name,
            path_badge(app, &peer)
        ))
        .size(20)
        .width(Length::Fill),
        text(if verified {
            "✔ verified"
        } else {
            "not verified"
        })
        .size(SMALL),
    ]
    .spacing(8);
    if contact.is_some() {
        header = header
            .push(button(text("Add a person")).on_press(Message::AddPerson))
            .push(button(text("Verify")).on_press(Message::Verify))
            .push(button(text("Contact…")).on_press(Message::Menu));
    } else {
        header = header.push(text("Request: accept or block them in the sidebar").size(SMALL));
    }
    pane = pane.push(header);
    if let Some(f) = app.conversation.flooding.get(&peer) {
        let warning = flood::warning(&app.name_of(&peer), f.kind, f.effect, contact.is_some());
        pane = pane.push(
            row![
                text(warning).style(text::warning).width(Length::Fill),
                button(text("Dismiss"))
                    .on_press(Message::DismissFlood(peer))
                    .style(button::secondary),
            ]
            .spacing(6),
        );
    }
    let loaded = app
        .conversation
        .history
        .get(&peer)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let more = !app.conversation.history_complete.contains(&peer) && !loaded.is_empty();
    let shown = app.conversation.shown(peer, loaded);
    let history = match shown {
        Some(page) => history::view(app, peer, page),
        None => Column::new().push(text("Finding the message…").size(SMALL)),
    };
    let cut = shown.is_some_and(|s| s.len() < loaded.len());
    let newest: Element<'_, Message> = match (cut, app.conversation.below) {
        (true, _) => button(text("Show the newest messages").size(SMALL))
            .on_press(Message::ToNewest)
            .style(button::secondary)
            .into(),
        (false, 0) => iced::widget::space().into(),
        (false, n) => button(text(format!("↓ {n} new below")).size(SMALL))
            .on_press(Message::ToNewest)
            .style(button::secondary)
            .into(),
    };
    let typing = app
        .conversation
        .typing
        .get(&peer)
        .copied()
        .and_then(typing_line)
        .map(|l| format!("{} {l}", app.name_of(&peer)));
    let composer = text_editor(&app.conversation.composer)
        .id(COMPOSER)
        .placeholder("Type a message (Enter sends, Shift+Enter: new line)")
        .on_action(Message::Edit)
        .height(Length::Shrink)
        .max_height(160)
        .key_binding(|press: KeyPress| {
            // The app's shortcuts are not the editor's.
            if crate::keys::of(&press.key, press.modifiers).is_some() {
                return None;
            }
            let enter = press.key == iced::keyboard::Key::Named(Named::Enter);
            if enter && !press.modifiers.shift() {
                Some(Binding::Custom(Message::Send))
            } else {
                Binding::from_key_press(press)
            }
        });
    let older: Element<'_, Message> = if more {
        button(text("Load older messages").size(SMALL))
            .on_press(Message::LoadOlder)
            .style(button::text)
            .into()
    } else {
        iced::widget::space().into()
    };
    pane.push(older)
        .push(
            scrollable(history)
                .id(HISTORY)
                .anchor_bottom()
                .on_scroll(Message::Scrolled)
                .height(Length::Fill)
                .width(Length::Fill),
        )
        .push(newest)
        .push(crate::screen::files::list(app, peer))
        .push(text(typing.unwrap_or_default()).size(13))
        .push(emoji_picker(app))
        .push(
            row![
                button(text(EMOJI_BUTTON))
                    .on_press(Message::EmojiPicker)
                    .style(button::secondary),
                composer,
                crate::screen::files::send_button()
            ]
            .spacing(6),
        )
        .into()
}

/// The emoji picker above the composer, while open.
fn emoji_picker(app: &App) -> Element<'_, Message> {
    if !app.conversation.emoji_open {
        return iced::widget::space().into();
    }
    let mut grid = iced::widget::Row::new().spacing(2);
    for e in EMOJI {
        grid = grid.push(
            button(text(e).size(20))
                .on_press(Message::Emoji(e))
                .style(button::text),
        );
    }
    grid.wrap().into()
}
