//! Owns how the app state takes in the node's answers to its commands: pages of history,
//! search hits, the roster, transfers, and the entry a write returns (the node also sends
//! the event; applying both is harmless).

use natter::control::{Answer, Command};
use natter::model::RoomStatus;

use crate::App;
use crate::screen::{Action, Screen};

impl App {
    pub(crate) fn answered(&mut self, asked: Command, answer: Answer) -> Action {
        let creating = matches!(asked, Command::RoomCreate { .. });
        match (asked, answer) {
            (Command::History { id, before, .. }, Answer::Messages(page)) => {
                match before {
                    None => self.conversation.newest_page(id, page),
                    Some(_) => self.conversation.older_page(id, page),
                }
                // Jumping to a search hit: on to the next older page until it is loaded.
                return self.conversation.seek(id);
            }
            // Hits for words the user has since changed are dropped.
            (Command::Search { text, .. }, Answer::Messages(found))
                if text == self.search.words.trim() =>
            {
                self.search.results = Some((text, found))
            }
            (Command::ContactList, Answer::Contacts(contacts)) => {
                self.unread_stored(&contacts);
                self.roster.contacts = contacts;
            }
            (Command::Requests, Answer::Contacts(requests)) => {
                self.unread_stored(&requests);
                self.roster.requests = requests;
            }
            (_, Answer::Contact(contact) | Answer::Verify { contact, .. }) => {
                self.roster.changed(contact)
            }
            (_, Answer::Blocked { blocked }) => self.block_changed(blocked, true),
            (_, Answer::Unblocked { unblocked }) => self.block_changed(unblocked, false),
            (_, Answer::Privacy { privacy }) => self.prefs.privacy = privacy,
            (_, Answer::RelayPolicy { relay_policy }) => self.prefs.relay = relay_policy,
            (
                _,
                Answer::Preference {
                    name,
                    value: Some(value),
                },
            ) => self.prefs.apply(&name, &value),
            (_, Answer::Paths(paths)) => {
                if let Screen::Connection(panel) = &mut self.screen {
                    panel.paths = Some(paths);
                }
            }
            (_, Answer::Transfers(transfers)) => self.conversation.transfers = transfers,
            (_, Answer::Rooms(rooms)) => self.rooms.rooms = rooms,
            (Command::RoomNearby, Answer::ListedRooms(rooms)) => {
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.nearby = rooms;
                }
            }
            (Command::RoomDirectory { .. }, Answer::ListedRooms(rooms)) => {
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.found = Some(rooms);
                }
            }
            (Command::RoomJoin { .. }, Answer::Room(room)) => {
                let (id, joined) = (room.room_id, room.status == RoomStatus::Joined);
                self.rooms.changed(room);
                if let Screen::FindRoom(s) = &mut self.screen {
                    s.joining = None;
                }
                // Let in: the room opens in the main window.
                if joined {
                    self.error = None;
                    return crate::screen::room::update(
                        self,
                        crate::screen::room::Message::Select(id),
                    )
                    .then(Screen::Main);
                }
                self.said("Asked to join; the room opens when its creator lets you in.".into());
            }
            (_, Answer::Room(room)) => {
                let created = !self.rooms.rooms.iter().any(|r| r.room_id == room.room_id);
                let id = room.room_id;
                self.rooms.changed(room);
                // A room just made opens at once.
                if created && creating {
                    return crate::screen::room::update(
                        self,
                        crate::screen::room::Message::Select(id),
                    );
                }
            }
            (Command::RoomHistory { room, .. }, Answer::RoomPosts(posts)) => {
                self.rooms.page(room, posts)
            }
            (_, Answer::RoomPost(post)) => self.rooms.post(post),
            (_, Answer::Transfer(transfer)) => self.conversation.transfer(transfer),
            (_, Answer::HistoryDeleted { peer, .. }) => self.conversation.newest_page(peer, vec![]),
            (_, Answer::Exported { exported, path }) => self.said(format!(
                "Exported {exported} messages to {}",
                path.display()
            )),
            (_, Answer::IdentityExported { identity_backup }) => self.said(format!(
                "Identity backup saved to {}. Anyone with this file can be you: keep it offline.",
                identity_backup.display()
            )),
            _ => {}
        }
        Action::none()
    }

    /// The unread counts the node kept (across a restart): the open conversation's, read
    /// while the window has the focus, is not counted again.
    fn unread_stored(&mut self, list: &[natter::Contact]) {
        for c in list {
            let reading = self.conversation.selected == Some(c.peer) && !self.window.background;
            match c.unread {
                n if n > 0 && !reading => self.roster.unread.insert(c.peer, n as usize),
                _ => self.roster.unread.remove(&c.peer),
            };
        }
    }

    /// A peer went on or off the block list.
    pub(crate) fn block_changed(&mut self, peer: natter::PeerId, blocked: bool) {
        self.prefs.blocked.retain(|p| *p != peer);
        if blocked {
            self.prefs.blocked.push(peer);
        }
    }

    /// Something went well and needs saying.
    pub(crate) fn said(&mut self, notice: String) {
        self.notice = Some(notice);
        self.error = None;
    }
}
