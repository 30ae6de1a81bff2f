//! The sidebar: own id, add contact, buddy list (presence dot, unread count, verification
//! badge), nearby peers and the requests inbox.

use iced::widget::{Column, button, column, row, scrollable, text, text_input};
use iced::{Element, Length};
use natter::store::Verification;
use natter::wire::Status;

use crate::{App, Message, short};

/// Widget id of the add-contact field.
pub const ADD_INPUT: &str = "add-contact";

fn dot(app: &App, peer: &natter::PeerId) -> &'static str {
    if !app.connected.contains(peer) {
        return "○";
    }
    match app.presence.get(peer).map(|p| p.0) {
        Some(Status::Away) => "◐",
        Some(Status::Busy) => "⊘",
        _ => "●",
    }
}

/// An id in groups of five characters, so it wraps and reads aloud; pasting it back works
/// (spaces are ignored when an id is parsed).
pub fn grouped(id: &natter::PeerId) -> String {
    let s = id.to_string();
    s.as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sidebar.
pub fn view(app: &App) -> Element<'_, Message> {
    let me = app.me.map(|id| grouped(&id)).unwrap_or_default();
    let mut list = Column::new().spacing(6);
    for c in &app.contacts {
        let unread = app.unread.get(&c.peer).copied().unwrap_or(0);
        let badge = if c.verification == Verification::Verified {
            " ✔"
        } else {
            ""
        };
        let label = match unread {
            0 => format!("{} {}{badge}", dot(app, &c.peer), app.name_of(&c.peer)),
            n => format!(
                "{} {}{badge} ({n})",
                dot(app, &c.peer),
                app.name_of(&c.peer)
            ),
        };
        list = list.push(
            button(text(label))
                .on_press(Message::Select(c.peer))
                .width(Length::Fill),
        );
    }
    let mut nearby = Column::new().spacing(4).push(text("Nearby").size(14));
    for (peer, name, contact) in app.nearby.iter().filter(|(_, _, c)| !c) {
        let label = name.clone().unwrap_or_else(|| short(peer));
        let _ = contact;
        nearby = nearby.push(
            row![
                text(label),
                button(text("Add")).on_press(Message::AddNearby(*peer))
            ]
            .spacing(6),
        );
    }
    let mut requests = Column::new().spacing(4).push(text("Requests").size(14));
    for r in &app.requests {
        requests = requests.push(
            row![
                button(text(short(&r.peer))).on_press(Message::Select(r.peer)),
                button(text("Accept")).on_press(Message::Accept(r.peer)),
                button(text("Block")).on_press(Message::Block(r.peer)),
            ]
            .spacing(6),
        );
    }
    let add = row![
        text_input("Paste a Natter ID", &app.add_input)
            .id(ADD_INPUT)
            .on_input(Message::AddInput)
            .on_submit(Message::AddContact),
        button(text("Add contact")).on_press(Message::AddContact),
    ]
    .spacing(6);
    let mut col = column![
        text("Your Natter ID").size(14),
        text(me).size(12),
        add,
        text("Contacts").size(14),
        scrollable(list).height(Length::Fill),
        nearby,
        requests,
    ]
    .spacing(10)
    .width(Length::FillPortion(2));
    if let Some((online, detail)) = &app.rendezvous {
        let state = if *online {
            "Rendezvous: connected"
        } else {
            "Rendezvous: unreachable, retrying"
        };
        col = col.push(text(format!("{state}\n{detail}")).size(11));
    }
    if let Some(e) = &app.error {
        col = col.push(text(e.clone()).size(13));
    }
    col.into()
}
