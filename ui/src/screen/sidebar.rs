//! The sidebar: own name and status, search over all history, quick add, the buddy list in
//! groups (presence dot, status text, unread count, verification badge, a mark on peers the
//! node throttled), nearby peers and the requests inbox (accept / block).

use std::collections::BTreeMap;
use std::fmt;

use iced::widget::{Column, button, column, pick_list, row, scrollable, text, text_input};
use iced::{Element, Length};
use natter::PeerId;
use natter::control::Command;
use natter::model::Status;
use natter::model::{Contact, Verification};

use super::widget::dot;
use super::{Action, Screen, add_contact, settings, widget};
use crate::theme::{SMALL, TITLE};
use crate::{App, Op, PAGE, short};

/// Widget id of the add-contact field.
pub const ADD_INPUT: &str = "add-contact";
/// Widget id of the search field.
pub const SEARCH_INPUT: &str = "search";

/// The sidebar's own state.
#[derive(Default)]
pub struct State {
    /// The quick add-contact field.
    pub add_input: String,
    /// Our presence, as chosen here.
    pub status: (Status, String),
}

/// What the user does in the sidebar.
#[derive(Debug, Clone)]
pub enum Message {
    /// Open a conversation.
    Select(PeerId),
    /// The quick add field changed.
    AddInput(String),
    /// Add the pasted ID (or link) at once.
    AddContact,
    /// Open the add-contact screen (nickname, group, nearby).
    OpenAdd,
    /// Add a nearby peer.
    AddNearby(PeerId),
    /// Accept a request.
    Accept(PeerId),
    /// Block a request.
    Block(PeerId),
    /// The search field changed.
    Search(String),
    /// Own status picked.
    Status(StatusChoice),
    /// Own status text changed.
    StatusText(String),
    /// Own status text confirmed.
    StatusSubmit,
    /// Open settings.
    Settings,
}

/// A status in the picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChoice(pub Status);

impl StatusChoice {
    /// Every status the user can pick.
    pub const ALL: [StatusChoice; 4] = [
        StatusChoice(Status::Online),
        StatusChoice(Status::Away),
        StatusChoice(Status::Busy),
        StatusChoice(Status::Invisible),
    ];
}

impl fmt::Display for StatusChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Status::Online => "● Online",
            Status::Away => "◐ Away",
            Status::Busy => "⊘ Busy",
            Status::Invisible => "◌ Invisible",
        })
    }
}

/// Applies what the user did.
pub fn update(app: &mut App, message: Message) -> Action {
    match message {
        Message::Select(peer) => {
            app.conversation.selected = Some(peer);
            app.rooms.selected = None;
            let unread = app.roster.unread.remove(&peer).unwrap_or(0);
            app.conversation.unread_marker = Some((peer, unread));
            app.conversation.marker = None;
            app.conversation.jump = None;
            app.conversation.picked = None;
            app.conversation.below = 0;
            app.conversation.scrolled_up = false;
            app.window.notices.forget(peer);
            app.search.words.clear();
            app.search.results = None;
            Action::run(Command::history(peer, PAGE, None))
                .and(Command::Read { id: peer })
                .and(Op::Focus(widget::COMPOSER))
        }
        Message::AddInput(s) => {
            app.sidebar.add_input = s;
            Action::none()
        }
        Message::AddContact => match add_contact::parse_id(&app.sidebar.add_input) {
            Ok(peer) => {
                app.sidebar.add_input.clear();
                app.error = None;
                Action::run(Command::ContactAdd {
                    id: peer,
                    name: None,
                    group: None,
                    addr: None,
                })
            }
            Err(e) => {
                app.error = Some(e);
                Action::none()
            }
        },
        Message::OpenAdd => {
            let state = add_contact::State::with_id(std::mem::take(&mut app.sidebar.add_input));
            Action::none().then(Screen::AddContact(state))
        }
        Message::AddNearby(peer) => {
            let name = app.roster.nearby.iter().find(|(p, ..)| *p == peer);
            Action::run(Command::ContactAdd {
                id: peer,
                name: name.and_then(|(_, name, _)| name.clone()),
                group: None,
                addr: None,
            })
        }
        Message::Accept(peer) => Action::run(Command::Accept { id: peer }),
        Message::Block(peer) => Action::run(Command::Block { id: peer }),
        Message::Search(s) => {
            let words = s.trim().to_string();
            app.search.words = s;
            if words.is_empty() {
                app.search.results = None;
                Action::none()
            } else {
                Action::run(Command::Search {
                    text: words,
                    limit: Some(50),
                })
            }
        }
        Message::Status(StatusChoice(status)) => {
            app.sidebar.status.0 = status;
            Action::run(Command::Presence {
                status,
                text: app.sidebar.status.1.clone(),
            })
        }
        Message::StatusText(s) => {
            app.sidebar.status.1 = s;
            Action::none()
        }
        Message::StatusSubmit => Action::run(Command::Presence {
            status: app.sidebar.status.0,
            text: app.sidebar.status.1.clone(),
        }),
        Message::Settings => Action::none().then(Screen::Settings(settings::State::new(app))),
    }
}

/// The mark of a peer the node throttled (its conversation says why).
pub const FLOODING: &str = " ⚠";

fn flooding(app: &App, peer: &PeerId) -> &'static str {
    if app.conversation.flooding.contains(peer) {
        FLOODING
    } else {
        ""
    }
}

/// How a request is listed: as `widget::stranger` names it, with its unread count.
pub fn request_name(app: &App, peer: &PeerId) -> String {
    let name = widget::stranger(app, peer);
    match app.roster.unread.get(peer).copied().unwrap_or(0) {
        0 => name,
        n => format!("{name} ({n})"),
    }
}

/// The buddy-list label of a contact: dot, name, badges (verified, flooding), unread count.
pub fn label(app: &App, c: &Contact) -> String {
    let verified = if c.verification == Verification::Verified {
        " ✔"
    } else {
        ""
    };
    let badge = format!("{verified}{}", flooding(app, &c.peer));
    let name = app.name_of(&c.peer);
    match app.roster.unread.get(&c.peer).copied().unwrap_or(0) {
        0 => format!("{} {name}{badge}", dot(app, &c.peer)),
        n => format!("{} {name}{badge} ({n})", dot(app, &c.peer)),
    }
}

fn buddy_list(app: &App) -> Column<'_, Message> {
    let mut groups: BTreeMap<&str, Vec<&Contact>> = BTreeMap::new();
    for c in &app.roster.contacts {
        groups.entry(c.group.as_str()).or_default().push(c);
    }
    let mut list = Column::new().spacing(6);
    for (group, members) in groups {
        let title = if group.is_empty() { "Contacts" } else { group };
        list = list.push(text(title).size(TITLE));
        for c in members {
            let mut entry = column![text(label(app, c))];
            if let Some((_, status)) = app.roster.presence.get(&c.peer).filter(|p| !p.1.is_empty())
            {
                entry = entry.push(text(status.as_str()).size(SMALL));
            }
            list = list.push(
                button(entry)
                    .on_press(Message::Select(c.peer))
                    .style(if app.conversation.selected == Some(c.peer) {
                        button::primary
                    } else {
                        button::secondary
                    })
                    .width(Length::Fill),
            );
        }
    }
    if app.roster.contacts.is_empty() {
        list = list.push(
            text("No contacts yet: paste a Natter ID above, or add someone nearby.").size(SMALL),
        );
    }
    list
}

/// The sidebar.
pub fn view(app: &App) -> Element<'_, Message> {
    let me = if app.prefs.name.is_empty() {
        app.me().map(|id| short(&id)).unwrap_or_default()
    } else {
        app.prefs.name.clone()
    };
    let header = row![
        text(me).size(18).width(Length::Fill),
        button(text("Settings")).on_press(Message::Settings),
    ]
    .spacing(6);
    let status = row![
        pick_list(
            StatusChoice::ALL,
            Some(StatusChoice(app.sidebar.status.0)),
            Message::Status
        ),
        text_input("Status text", &app.sidebar.status.1)
            .on_input(Message::StatusText)
            .on_submit(Message::StatusSubmit),
    ]
    .spacing(6);
    let search = text_input("Search all messages", &app.search.words)
        .id(SEARCH_INPUT)
        .on_input(Message::Search);
    let add = row![
        text_input("Paste an ID", &app.sidebar.add_input)
            .id(ADD_INPUT)
            .on_input(Message::AddInput)
            .on_submit(Message::AddContact),
        button(text("Add contact")).on_press(Message::AddContact),
        button(text("…")).on_press(Message::OpenAdd),
    ]
    .spacing(6);
    let mut nearby = Column::new().spacing(4);
    // The node's flag is from when the peer was seen; a contact added since counts too.
    let strangers = || {
        app.roster
            .nearby
            .iter()
            .filter(|(p, _, contact)| !contact && app.contact(p).is_none())
    };
    for (peer, name, _) in strangers() {
        let label = name.clone().unwrap_or_else(|| short(peer));
        nearby = nearby.push(
            row![
                text(label).width(Length::Fill),
                button(text("Add")).on_press(Message::AddNearby(*peer))
            ]
            .spacing(6),
        );
    }
    let mut requests = Column::new().spacing(4);
    for r in &app.roster.requests {
        // The name on a line of its own: a LAN name can be long, the answers stay in view.
        requests = requests.push(
            column![
                button(text(format!(
                    "{}{}",
                    request_name(app, &r.peer),
                    flooding(app, &r.peer)
                )))
                .on_press(Message::Select(r.peer))
                .style(button::secondary)
                .width(Length::Fill),
                row![
                    button(text("Accept")).on_press(Message::Accept(r.peer)),
                    button(text("Block"))
                        .on_press(Message::Block(r.peer))
                        .style(button::danger),
                ]
                .spacing(6),
            ]
            .spacing(4),
        );
    }
    let mut col = column![
        header,
        status,
        search,
        add,
        scrollable(buddy_list(app)).height(Length::Fill)
    ]
    .spacing(10)
    .width(Length::Fill);
    if strangers().next().is_some() {
        col = col.push(text("Nearby").size(TITLE)).push(nearby);
    }
    if !app.roster.requests.is_empty() {
        col = col.push(text("Requests").size(TITLE)).push(requests);
    }
    if let Some(crate::Rendezvous { online, detail, .. }) = &app.rendezvous {
        let state = if *online {
            "Rendezvous: connected"
        } else {
            "Rendezvous: unreachable, retrying"
        };
        col = col.push(text(format!("{state}\n{detail}")).size(11));
    }
    if let Some(e) = &app.error {
        col = col.push(text(e.clone()).size(13).style(text::danger));
    } else if let Some(n) = &app.notice {
        col = col.push(text(n.clone()).size(13).style(text::success));
    }
    col.into()
}
