//! "Find a room": the public rooms listed on this network ("Rooms nearby", kept current by
//! the node's `room_nearby` events) and a search of the rendezvous's directory, each with a
//! Join button. A join asks the room's creator; the room opens once it lets us in.

use iced::widget::{Column, button, column, row, scrollable, text, text_input};
use iced::{Element, Length};
use natter::control::Command;
use natter::model::ListedRoom;
use natter::room::RoomId;

use super::Action;
use crate::App;
use crate::theme::{SMALL, TITLE};

/// Widget id of the directory's search field.
pub const FIND_ROOM: &str = "find-room";

/// What the screen shows.
#[derive(Debug, Default)]
pub struct State {
    /// Public rooms on this network.
    pub nearby: Vec<ListedRoom>,
    /// What is typed in the search field.
    pub query: String,
    /// The directory's answer to the last search (`None`: none made yet).
    pub found: Option<Vec<ListedRoom>>,
    /// The room we asked to join and wait for.
    pub joining: Option<RoomId>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// The search field changed.
    Query(String),
    /// Search the directory.
    Search,
    /// Ask to join a room.
    Join(RoomId),
    /// Back to the main window.
    Back,
}

impl State {
    /// The screen as it opens: the nearby list and, with a rendezvous, its largest rooms.
    pub fn open(directory: bool) -> (Self, Action) {
        let mut action = Action::run(Command::RoomNearby).and(crate::Op::Focus(FIND_ROOM));
        if directory {
            action = action.and(Command::RoomDirectory {
                query: None,
                limit: Some(20),
            });
        }
        (Self::default(), action)
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Query(q) => {
                self.query = q;
                Action::none()
            }
            Message::Search => Action::run(Command::RoomDirectory {
                query: Some(self.query.trim().to_string()),
                limit: Some(20),
            }),
            Message::Join(room) => {
                self.joining = Some(room);
                Action::run(Command::RoomJoin { room })
            }
            Message::Back => Action::back(),
        }
    }

    /// A room listed on this network, new or changed.
    pub fn seen(&mut self, room: ListedRoom) {
        self.nearby.retain(|r| r.room_id != room.room_id);
        self.nearby.push(room);
        self.nearby
            .sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.name.cmp(&b.name)));
    }

    /// A room's listing on this network went away.
    pub fn gone(&mut self, room: &RoomId) {
        self.nearby.retain(|r| r.room_id != *room);
    }

    /// The screen.
    pub fn view<'a>(&'a self, app: &'a App) -> Element<'a, Message> {
        let mut nearby = Column::new()
            .spacing(6)
            .push(text("Rooms nearby").size(TITLE));
        if self.nearby.is_empty() {
            nearby = nearby.push(text("No public room is listed on your network now.").size(SMALL));
        }
        for r in &self.nearby {
            nearby = nearby.push(self.line(app, r));
        }
        let mut find = Column::new()
            .spacing(6)
            .push(text("Find a room").size(TITLE));
        if app.rendezvous.is_none() {
            find = find.push(
                text("No rendezvous is set, so there is no directory to search (Settings → Servers).")
                    .size(SMALL),
            );
        } else {
            find = find.push(
                row![
                    text_input("Name, topic or room ID", &self.query)
                        .id(FIND_ROOM)
                        .on_input(Message::Query)
                        .on_submit(Message::Search),
                    button(text("Search")).on_press(Message::Search),
                ]
                .spacing(6),
            );
            match &self.found {
                Some(found) if found.is_empty() => {
                    find = find.push(text("No listed room matches.").size(SMALL));
                }
                Some(found) => {
                    for r in found {
                        find = find.push(self.line(app, r));
                    }
                }
                None => {}
            }
        }
        let mut col = column![
            row![
                text("Public rooms").size(20).width(Length::Fill),
                button(text("Back")).on_press(Message::Back),
            ],
            text(
                "Anyone may join a public room, and its messages are not secret: its creator \
                 lets in whoever asks, unless they are banned or the room is full."
            )
            .size(SMALL),
        ]
        .spacing(12);
        if let Some(e) = &app.error {
            col = col.push(text(e.as_str()).size(SMALL).style(text::danger));
        }
        col.push(scrollable(column![nearby, find].spacing(18)).height(Length::Fill))
            .into()
    }

    fn line<'a>(&self, app: &'a App, r: &'a ListedRoom) -> Element<'a, Message> {
        let members = match r.members {
            1 => "1 member".to_string(),
            n => format!("{n} members"),
        };
        let by = app.name_of(&r.creator);
        let mut about = column![
            text(format!("# {}", r.name)),
            text(format!("{members} · made by {by}")).size(SMALL),
        ];
        if !r.topic.is_empty() {
            about = about.push(text(r.topic.as_str()).size(SMALL));
        }
        let member = app
            .rooms
            .rooms
            .iter()
            .any(|j| j.room_id == r.room_id && j.status == natter::model::RoomStatus::Joined);
        let action: Element<'a, Message> = if member {
            text("You are in it").size(SMALL).into()
        } else if self.joining == Some(r.room_id) {
            text("Asking to join…").size(SMALL).into()
        } else {
            button(text("Join"))
                .on_press(Message::Join(r.room_id))
                .into()
        };
        row![about.width(Length::Fill), action]
            .spacing(8)
            .align_y(iced::Alignment::Center)
            .into()
    }
}
