//! Rooms: the sidebar's list (rooms, invitations to accept or decline, a new room), and the
//! room pane (secure badge, members with presence and path, messages in the order every
//! member shows, the composer, invite from the buddy list, leave, remove; in a public room,
//! ban, and for its creator, listing it). "Find a room" is `find_room.rs`.

use iced::widget::{
    Column, button, checkbox, column, container, row, scrollable, text, text_input,
};
use iced::{Element, Length};
use natter::PeerId;
use natter::control::Command;
use natter::model::{Room, RoomPost, RoomStatus};
use natter::room::{Role, RoomId};

use super::Action;
use super::widget::{dot, own_dot};
use crate::theme::{SMALL, TITLE};
use crate::{App, Op};

/// Widget id of the room composer.
pub const ROOM_COMPOSER: &str = "room-composer";
/// Widget id of the new room's name field.
pub const NEW_ROOM: &str = "new-room";
/// Messages a room pane loads.
const PAGE: usize = 200;

/// The rooms the node told us of, and the open one.
#[derive(Default)]
pub struct State {
    /// Every room: joined, invited, left.
    pub rooms: Vec<Room>,
    /// The open room.
    pub selected: Option<RoomId>,
    /// Its messages, in the shared order.
    pub posts: Vec<RoomPost>,
    /// What is being typed in it.
    pub composer: String,
    /// The new room's name.
    pub new_name: String,
    /// The new room is public.
    pub new_public: bool,
    /// The invite picker is open.
    pub inviting: bool,
    /// "Add a person" is open over the one-to-one conversation with this contact.
    pub adding_to: Option<PeerId>,
}

/// What the user does with rooms.
#[derive(Debug, Clone)]
pub enum Message {
    /// Open a room.
    Select(RoomId),
    /// The new room's name changed.
    NewName(String),
    /// Create the room.
    Create,
    /// Accept an invitation.
    Accept(RoomId),
    /// Decline an invitation.
    Decline(RoomId),
    /// The composer changed.
    Compose(String),
    /// Send what was typed.
    Send,
    /// Open or close the invite picker.
    ToggleInvite,
    /// Invite a contact to the open room.
    Invite(PeerId),
    /// Remove a member from the open room.
    Remove(PeerId),
    /// Leave the open room.
    Leave,
    /// The new room is public (or not).
    NewPublic(bool),
    /// Open "Find a room".
    Find,
    /// Ban a member of the open room.
    Ban(PeerId),
    /// Stop asking to join a public room.
    CancelJoin(RoomId),
    /// Lift a ban in the open room.
    Unban(PeerId),
    /// List the open room (ours, public) on the LAN and in the directory, or stop.
    Publish(bool),
    /// A one-to-one conversation becomes a room: with this contact (`with`) and `added`.
    AddPerson {
        /// The contact of the conversation.
        with: PeerId,
        /// The new person.
        added: PeerId,
    },
    /// Close "add a person".
    CancelAdd,
}

impl State {
    /// A room as the node reports it now.
    pub fn changed(&mut self, room: Room) {
        match self.rooms.iter_mut().find(|r| r.room_id == room.room_id) {
            Some(r) => *r = room,
            None => self.rooms.insert(0, room),
        }
    }

    /// A message that opened: shown if its room is open, else counted unread.
    pub fn post(&mut self, post: RoomPost) {
        if self.selected == Some(post.room_id) {
            if !self
                .posts
                .iter()
                .any(|p| (p.author, p.seq) == (post.author, post.seq))
            {
                let at = self.posts.partition_point(|p| order(p) <= order(&post));
                self.posts.insert(at, post);
            }
        } else if let Some(r) = self.rooms.iter_mut().find(|r| r.room_id == post.room_id)
            && !post.outgoing
        {
            r.unread += 1;
        }
    }

    /// The page the node read for a room.
    pub fn page(&mut self, room: RoomId, posts: Vec<RoomPost>) {
        if self.selected == Some(room) {
            self.posts = posts;
        }
    }

    /// A room's name as shown (its id while we do not know it).
    pub fn name_of(&self, room: &RoomId) -> String {
        self.rooms
            .iter()
            .find(|r| r.room_id == *room)
            .map_or_else(|| room.to_string(), |r| r.name.clone())
    }

    fn open(&self) -> Option<&Room> {
        self.rooms.iter().find(|r| Some(r.room_id) == self.selected)
    }
}

/// The shared display order: Lamport clock, author key, sequence number.
fn order(p: &RoomPost) -> (u64, [u8; 32], u64) {
    (p.lamport, *p.author.as_bytes(), p.seq)
}

/// Applies what the user did.
pub fn update(app: &mut App, message: Message) -> Action {
    let rooms = &mut app.rooms;
    match message {
        Message::Select(room) => {
            rooms.selected = Some(room);
            rooms.posts.clear();
            rooms.inviting = false;
            if let Some(r) = rooms.rooms.iter_mut().find(|r| r.room_id == room) {
                r.unread = 0;
            }
            app.conversation.selected = None;
            app.window.notices.forget(crate::notify::Source::Room(room));
            Action::run(Command::RoomHistory {
                room,
                limit: Some(PAGE),
            })
            .and(Op::Focus(ROOM_COMPOSER))
        }
        Message::NewName(s) => {
            rooms.new_name = s;
            Action::none()
        }
        Message::Create => {
            let name = rooms.new_name.trim().to_string();
            if name.is_empty() {
                return Action::none();
            }
            rooms.new_name.clear();
            Action::run(Command::RoomCreate {
                name,
                topic: None,
                invite: Vec::new(),
                public: std::mem::take(&mut rooms.new_public),
            })
        }
        Message::Accept(room) => Action::run(Command::RoomAccept { room }),
        Message::Decline(room) => Action::run(Command::RoomDecline { room }),
        Message::Compose(s) => {
            rooms.composer = s;
            Action::none()
        }
        Message::Send => match rooms.selected {
            Some(room) if !rooms.composer.trim().is_empty() => {
                let text = std::mem::take(&mut rooms.composer);
                Action::run(Command::RoomSend { room, text })
            }
            _ => Action::none(),
        },
        Message::AddPerson { with, added } => {
            rooms.adding_to = None;
            Action::run(Command::RoomCreate {
                name: group_name(app, &[with, added]),
                topic: None,
                invite: vec![with, added],
                public: false,
            })
        }
        Message::CancelAdd => {
            rooms.adding_to = None;
            Action::none()
        }
        Message::ToggleInvite => {
            rooms.inviting = !rooms.inviting;
            Action::none()
        }
        Message::Invite(id) => match rooms.selected {
            Some(room) => {
                rooms.inviting = false;
                Action::run(Command::RoomInvite { room, id })
            }
            None => Action::none(),
        },
        Message::Remove(id) => match rooms.selected {
            Some(room) => Action::run(Command::RoomRemove { room, id }),
            None => Action::none(),
        },
        Message::Leave => match rooms.selected.take() {
            Some(room) => Action::run(Command::RoomLeave { room }),
            None => Action::none(),
        },
        Message::NewPublic(on) => {
            rooms.new_public = on;
            Action::none()
        }
        Message::Find => {
            let (screen, action) = super::find_room::State::open(app.rendezvous.is_some());
            action.then(super::Screen::FindRoom(screen))
        }
        Message::CancelJoin(room) => Action::run(Command::RoomLeave { room }),
        Message::Unban(id) => match rooms.selected {
            Some(room) => Action::run(Command::RoomUnban { room, id }),
            None => Action::none(),
        },
        Message::Ban(id) => match rooms.selected {
            Some(room) => Action::run(Command::RoomBan { room, id }),
            None => Action::none(),
        },
        Message::Publish(on) => match rooms.selected {
            Some(room) => Action::run(Command::RoomPublish { room, off: !on }),
            None => Action::none(),
        },
    }
}

/// The sidebar's room list: joined rooms (unread counts), invitations, a new room.
pub fn list(app: &App) -> Element<'_, Message> {
    let mut col = Column::new().spacing(6).push(text("Rooms").size(TITLE));
    for r in &app.rooms.rooms {
        match r.status {
            RoomStatus::Joined => {
                let label = match r.unread {
                    0 => format!("# {}", r.name),
                    n => format!("# {} ({n})", r.name),
                };
                col = col.push(
                    button(text(label))
                        .on_press(Message::Select(r.room_id))
                        .style(if app.rooms.selected == Some(r.room_id) {
                            button::primary
                        } else {
                            button::secondary
                        })
                        .width(Length::Fill),
                );
            }
            RoomStatus::Invited => {
                let from = r
                    .inviter
                    .map(|p| app.name_of(&p))
                    .unwrap_or_else(|| "someone".into());
                col = col.push(
                    column![
                        text(format!("{from} invites you to # {}", r.name)).size(SMALL),
                        row![
                            button(text("Join")).on_press(Message::Accept(r.room_id)),
                            button(text("Decline"))
                                .on_press(Message::Decline(r.room_id))
                                .style(button::secondary),
                        ]
                        .spacing(6),
                    ]
                    .spacing(4),
                );
            }
            RoomStatus::Joining => {
                col = col.push(
                    row![
                        text(format!("# {} (asking to join…)", r.name))
                            .size(SMALL)
                            .width(Length::Fill),
                        button(text("Cancel").size(SMALL))
                            .on_press(Message::CancelJoin(r.room_id))
                            .style(button::secondary),
                    ]
                    .align_y(iced::Alignment::Center),
                );
            }
            _ => {}
        }
    }
    col.push(
        row![
            text_input("New room", &app.rooms.new_name)
                .id(NEW_ROOM)
                .on_input(Message::NewName)
                .on_submit(Message::Create),
            button(text("Create room")).on_press(Message::Create),
        ]
        .spacing(6),
    )
    .push(
        row![
            checkbox(app.rooms.new_public)
                .label("Public: anyone may join")
                .on_toggle(Message::NewPublic)
                .size(14)
                .text_size(SMALL),
            button(text("Find a room").size(SMALL))
                .on_press(Message::Find)
                .style(button::secondary),
        ]
        .spacing(6)
        .align_y(iced::Alignment::Center),
    )
    .width(Length::Fill)
    .into()
}

/// How a member is reached now, in words.
fn reach(app: &App, peer: &PeerId) -> String {
    match app.roster.connected.get(peer) {
        Some((path, _, via)) => match via {
            Some(relay) => format!("{} via {relay}", path.as_str()),
            None => path.as_str().to_string(),
        },
        None => "not connected".into(),
    }
}

/// A room made from a conversation is named after its people: "Bob, Carol and Alice"
/// (our display name, or our id's start), at most 60 characters.
fn group_name(app: &App, others: &[PeerId]) -> String {
    let me = match app.prefs.name.trim() {
        "" => app
            .me()
            .map(|p| p.to_string().chars().take(10).collect())
            .unwrap_or_default(),
        name => name.to_string(),
    };
    let names: Vec<String> = others.iter().map(|p| app.name_of(p)).collect();
    let name = format!("{} and {me}", names.join(", "));
    name.chars().take(60).collect()
}

/// "Add a person" over a one-to-one conversation: the other contacts, each making a room
/// with both of them and us (`None` while it is closed).
pub fn add_person(app: &App) -> Option<Element<'_, Message>> {
    let with = app
        .rooms
        .adding_to
        .filter(|p| app.conversation.selected == Some(*p))?;
    let mut picker = Column::new().spacing(4).push(
        text(format!(
            "Make a room with {} and someone else:",
            app.name_of(&with)
        ))
        .size(SMALL),
    );
    for c in app.roster.contacts.iter().filter(|c| c.peer != with) {
        picker = picker.push(
            button(text(app.name_of(&c.peer)))
                .on_press(Message::AddPerson {
                    with,
                    added: c.peer,
                })
                .style(button::secondary),
        );
    }
    Some(
        picker
            .push(
                button(text("Cancel").size(SMALL))
                    .on_press(Message::CancelAdd)
                    .style(button::secondary),
            )
            .into(),
    )
}

/// The room pane.
pub fn view(app: &App) -> Element<'_, Message> {
    let Some(room) = app.rooms.open() else {
        return text("Pick a room").into();
    };
    let me = app.me();
    let admin = room
        .members
        .iter()
        .any(|m| Some(m.peer) == me && m.role == Role::Admin);
    let (badge, style): (_, fn(&iced::Theme) -> container::Style) = if room.secure {
        ("Secure", container::success)
    } else {
        ("Public", container::secondary)
    };
    let about = if room.secure {
        "only members read it"
    } else {
        "anyone may read it"
    };
    let mut header = row![
        text(format!("# {}", room.name))
            .size(18)
            .width(Length::Fill),
    ]
    .spacing(6);
    if !room.secure && Some(room.creator) == me {
        header = header.push(match room.published {
            false => button(text("List it")).on_press(Message::Publish(true)),
            true => button(text("Stop listing"))
                .on_press(Message::Publish(false))
                .style(button::secondary),
        });
    }
    let header = header
        .push(button(text("Invite")).on_press(Message::ToggleInvite))
        .push(
            button(text("Leave room"))
                .on_press(Message::Leave)
                .style(button::danger),
        );
    let mut members = Column::new().spacing(2).push(
        row![
            container(text(badge).size(SMALL))
                .padding([1, 6])
                .style(style),
            text(match room.members.len() {
                1 => format!("{about} · 1 member"),
                n => format!("{about} · {n} members"),
            })
            .size(SMALL),
        ]
        .spacing(6)
        .align_y(iced::Alignment::Center),
    );
    for m in &room.members {
        let mine = Some(m.peer) == me;
        let who = if mine {
            "you".into()
        } else {
            app.name_of(&m.peer)
        };
        let role = if m.role == Role::Admin {
            " (admin)"
        } else {
            ""
        };
        let how = if mine {
            String::new()
        } else {
            format!(" · {}", reach(app, &m.peer))
        };
        let mut line = row![
            text(format!(
                "{} {who}{role}{how}",
                if mine {
                    own_dot(app)
                } else {
                    dot(app, &m.peer)
                }
            ))
            .size(SMALL)
            .width(Length::Fill)
        ];
        if admin && !mine {
            line = line.push(
                button(text("Remove").size(SMALL))
                    .on_press(Message::Remove(m.peer))
                    .style(button::secondary),
            );
            if !room.secure && m.role != Role::Admin {
                line = line.push(
                    button(text("Ban").size(SMALL))
                        .on_press(Message::Ban(m.peer))
                        .style(button::danger),
                );
            }
        }
        members = members.push(line);
    }
    if admin {
        for key in &room.banned {
            members = members.push(
                row![
                    text(format!("⊘ {} (banned)", app.name_of(key)))
                        .size(SMALL)
                        .width(Length::Fill),
                    button(text("Lift ban").size(SMALL))
                        .on_press(Message::Unban(*key))
                        .style(button::secondary),
                ]
                .align_y(iced::Alignment::Center),
            );
        }
    }
    let mut col = column![header, members].spacing(8);
    if app.rooms.inviting {
        let mut picker = Column::new()
            .spacing(4)
            .push(text("Invite from your contacts").size(SMALL));
        let outside = app
            .roster
            .contacts
            .iter()
            .filter(|c| !room.members.iter().any(|m| m.peer == c.peer));
        for c in outside {
            picker = picker.push(
                button(text(app.name_of(&c.peer)))
                    .on_press(Message::Invite(c.peer))
                    .style(button::secondary),
            );
        }
        col = col.push(picker);
    }
    let mut lines = Column::new().spacing(4);
    for p in &app.rooms.posts {
        let who = if p.outgoing {
            "you".to_string()
        } else {
            app.name_of(&p.author)
        };
        lines = lines.push(text(format!("{who}: {}", p.text)));
    }
    col = col.push(scrollable(lines).height(Length::Fill));
    if room.status == RoomStatus::Joined {
        col = col.push(
            text_input("Message the room", &app.rooms.composer)
                .id(ROOM_COMPOSER)
                .on_input(Message::Compose)
                .on_submit(Message::Send),
        );
    } else {
        col = col.push(
            text(format!(
                "You are not in this room ({})",
                room.status.as_str()
            ))
            .size(SMALL),
        );
    }
    col.width(Length::FillPortion(5)).into()
}
