//! The quick switcher (Ctrl+K): type part of a name, Enter opens the first conversation or
//! room that matches, ↓/↑ are the sidebar's Alt+↓/↑; Esc closes it. It lists contacts,
//! requests and joined rooms; the unread count shows beside each.

use iced::widget::{Column, button, column, text, text_input};
use iced::{Element, Length};
use natter::PeerId;
use natter::model::RoomStatus;
use natter::room::RoomId;

use super::{Action, Screen};
use crate::App;
use crate::theme::SMALL;

/// Widget id of the switcher's field.
pub const INPUT: &str = "switcher";
/// Most matches listed.
const SHOWN: usize = 8;

/// What the user typed.
#[derive(Debug, Default)]
pub struct State {
    /// Part of a name (or an id).
    pub query: String,
}

/// A place to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A contact's (or a request's) conversation.
    Peer(PeerId),
    /// A room.
    Room(RoomId),
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// The field changed.
    Query(String),
    /// Enter: the first match.
    Submit,
    /// One match picked.
    Open(Target),
}

/// The matches for `query`, best first: names that start with it, then names (or ids) that
/// hold it; all of them when it is empty.
pub fn matches(app: &App, query: &str) -> Vec<(Target, String)> {
    let q = query.trim().to_lowercase();
    let people = app
        .roster
        .contacts
        .iter()
        .chain(&app.roster.requests)
        .map(|c| {
            (
                Target::Peer(c.peer),
                app.name_of(&c.peer),
                c.peer.to_string(),
            )
        });
    let rooms = app
        .rooms
        .rooms
        .iter()
        .filter(|r| r.status == RoomStatus::Joined)
        .map(|r| {
            (
                Target::Room(r.room_id),
                format!("# {}", r.name),
                String::new(),
            )
        });
    let mut found: Vec<(bool, Target, String)> = people
        .chain(rooms)
        .filter_map(|(t, name, id)| {
            let lower = name.to_lowercase();
            let bare = lower.trim_start_matches("# ");
            let starts = bare.starts_with(&q);
            (starts || lower.contains(&q) || id.to_lowercase().starts_with(&q))
                .then_some((!starts, t, name))
        })
        .collect();
    found.sort_by_key(|(later, _, name)| (*later, name.to_lowercase()));
    found.into_iter().map(|(_, t, name)| (t, name)).collect()
}

/// Applies what the user did.
pub fn update(app: &mut App, message: Message) -> Action {
    let Screen::Switcher(state) = &mut app.screen else {
        return Action::none();
    };
    let target = match message {
        Message::Query(q) => {
            state.query = q;
            return Action::none();
        }
        Message::Submit => {
            let query = state.query.clone();
            match matches(app, &query).first() {
                Some((t, _)) => *t,
                None => return Action::none(),
            }
        }
        Message::Open(t) => t,
    };
    let opened = open(app, target);
    Action {
        go: Some(Screen::Main),
        ..opened
    }
}

/// Opens a conversation or a room, as the sidebar does.
pub fn open(app: &mut App, target: Target) -> Action {
    match target {
        Target::Peer(peer) => super::sidebar::update(app, super::sidebar::Message::Select(peer)),
        Target::Room(room) => super::room::update(app, super::room::Message::Select(room)),
    }
}

/// Every conversation in the order the sidebar lists them: contacts by group, requests,
/// then the joined rooms.
pub fn in_list_order(app: &App) -> Vec<Target> {
    let mut contacts: Vec<_> = app.roster.contacts.iter().collect();
    // The sidebar's groups are a sorted map: a stable sort by group keeps the store's order
    // inside each.
    contacts.sort_by(|a, b| a.group.cmp(&b.group));
    let people = contacts.into_iter().chain(&app.roster.requests);
    let rooms = app
        .rooms
        .rooms
        .iter()
        .filter(|r| r.status == RoomStatus::Joined);
    people
        .map(|c| Target::Peer(c.peer))
        .chain(rooms.map(|r| Target::Room(r.room_id)))
        .collect()
}

/// The conversation `step` places down (up, when negative) the list from the open one;
/// from none open, the first (or the last).
pub fn step(app: &mut App, step: isize) -> Action {
    let all = in_list_order(app);
    if all.is_empty() {
        return Action::none();
    }
    let current = match (app.rooms.selected, app.conversation.selected) {
        (Some(r), _) => Some(Target::Room(r)),
        (None, Some(p)) => Some(Target::Peer(p)),
        (None, None) => None,
    };
    let at = current.and_then(|t| all.iter().position(|x| *x == t));
    let next = match at {
        Some(i) => (i as isize + step).clamp(0, all.len() as isize - 1) as usize,
        None if step > 0 => 0,
        None => all.len() - 1,
    };
    match at == Some(next) {
        true => Action::none(),
        false => open(app, all[next]),
    }
}

/// The switcher: a field and the matches.
pub fn view<'a>(app: &'a App, state: &'a State) -> Element<'a, Message> {
    let mut list = Column::new().spacing(4);
    for (target, name) in matches(app, &state.query).into_iter().take(SHOWN) {
        let unread = match target {
            Target::Peer(p) => app.roster.unread.get(&p).copied().unwrap_or(0),
            Target::Room(r) => app
                .rooms
                .rooms
                .iter()
                .find(|x| x.room_id == r)
                .map_or(0, |x| x.unread as usize),
        };
        let label = match unread {
            0 => name,
            n => format!("{name} ({n})"),
        };
        list = list.push(
            button(text(label))
                .on_press(Message::Open(target))
                .style(button::secondary)
                .width(Length::Fill),
        );
    }
    column![
        text("Go to a conversation").size(20),
        text_input("Type a name, Enter opens the first", &state.query)
            .id(INPUT)
            .on_input(Message::Query)
            .on_submit(Message::Submit),
        list,
        text("Esc closes").size(SMALL),
    ]
    .spacing(10)
    .max_width(520)
    .into()
}
