//! The Natter desktop app (iced 0.14): a thin client of the core's `NodeHandle` and `Event`
//! stream; it never touches sockets or SQL. Node events arrive through one `Subscription`;
//! `update` returns the node operations to run ([`Op`]), which become `Task`s — tests run the
//! same operations directly against real nodes.
#![deny(missing_docs)]

mod answers;
pub mod desktop;
pub mod flood;
pub mod identicon;
pub mod keys;
pub mod links;
mod node;
pub mod notify;
mod react;
mod roster;
pub mod screen;
mod shortcuts;
pub mod startup;
pub mod theme;

pub use node::{Node, Op, PAGE, Prefs, pref, run_op, save};
pub use roster::Roster;

use std::path::PathBuf;

use iced::widget::{column, container, row, text};
use iced::{Element, Fill, Subscription, Task, Theme};
use natter::PeerId;
use natter::control::{Answer, Command};
use natter::model::{Contact, TypingState};
use natter::node::Event;
use screen::{Action, Screen};

/// The app state: what the node told us, and what the user is doing. Each pane owns its
/// own state; the roster is what several panes show.
#[derive(Default)]
pub struct App {
    /// The running node, once started.
    pub node: Option<Node>,
    /// The screen in the window.
    pub screen: Screen,
    /// Saved preferences (loaded after start).
    pub prefs: Prefs,
    /// The window's own state (focus, the desktop's light / dark mode).
    pub window: Window,
    /// The app's place on the desktop: the window opened or closed, the tray item.
    pub desktop: desktop::Desktop,
    /// Contacts, requests, who is nearby, online and unread.
    pub roster: Roster,
    /// The sidebar's state.
    pub sidebar: screen::sidebar::State,
    /// The open conversation and what the conversation pane shows.
    pub conversation: screen::conversation::State,
    /// The search pane's state.
    pub search: screen::search::State,
    /// The rooms, and the open one.
    pub rooms: screen::room::State,
    /// The last failure, in plain words.
    pub error: Option<String>,
    /// The last thing that went well and needs saying (an export's path).
    pub notice: Option<String>,
    /// The rendezvous registration, when one is set.
    pub rendezvous: Option<Rendezvous>,
}

/// The rendezvous registration as the node last reported it.
#[derive(Debug, Clone)]
pub struct Rendezvous {
    /// Registered now.
    pub online: bool,
    /// What the node said.
    pub detail: String,
    /// The address the server sees us at, while registered.
    pub observed: Option<std::net::SocketAddr>,
    /// Registered over TCP: no UDP gets out of this network.
    pub over_tcp: bool,
}

/// The window's state as the desktop reports it.
#[derive(Default)]
pub struct Window {
    /// The desktop's light / dark preference.
    pub system_mode: iced::theme::Mode,
    /// The window lost the keyboard focus: new messages raise notifications and stay unread.
    pub background: bool,
    /// The notifications raised while in the background, coalesced per conversation.
    pub notices: notify::Coalescer,
}

/// What the app reacts to.
#[derive(Debug, Clone)]
pub enum Message {
    /// The node started (or could not).
    Booted(Result<Node, String>),
    /// Something happened in the node.
    Node(Event),
    /// The node answered a command (the one asked, then the answer).
    Answered(Command, Answer),
    /// Preferences, privacy mode, relay policy and block list.
    Prefs(Box<Prefs>),
    /// The sidebar.
    Sidebar(screen::sidebar::Message),
    /// The conversation.
    Conversation(screen::conversation::Message),
    /// The search results.
    Search(screen::search::Message),
    /// Rooms: the list and the open room.
    Room(screen::room::Message),
    /// The first-start screen.
    Onboarding(screen::onboarding::Message),
    /// The add-contact screen.
    AddContact(screen::add_contact::Message),
    /// The verify screen.
    Verify(screen::verify::Message),
    /// The contact menu.
    Contact(screen::contact::Message),
    /// Settings.
    Settings(screen::settings::Message),
    /// The connection panel.
    Connection(screen::connection::Message),
    /// The key-change warning.
    KeyWarning(screen::key_warning::Message),
    /// The quick switcher.
    Switcher(screen::switcher::Message),
    /// "Find a room".
    FindRoom(screen::find_room::Message),
    /// A keyboard shortcut.
    Shortcut(keys::Shortcut),
    /// The window gained (true) or lost the focus.
    Focus(bool),
    /// A file was dropped on the window.
    FileDropped(PathBuf),
    /// The window opened, closed or resized; the tray item.
    Desktop(desktop::Message),
    /// The desktop's light / dark preference.
    SystemTheme(iced::theme::Mode),
    /// A second went by while we are typing (for "stopped typing") or a notification waits
    /// for its quiet window to end.
    Tick(std::time::Instant),
    /// A node operation failed.
    Failed(String),
    /// A node operation finished with nothing to show.
    Done,
    /// The app fell behind the node's events: what they change is read again.
    Lagged,
}

/// Short form of an id for lists.
pub fn short(id: &PeerId) -> String {
    id.to_string().chars().take(10).collect()
}

/// The link that opens Natter's add-contact screen with this ID.
pub fn invite_link(id: &PeerId) -> String {
    id.invite_link()
}

impl App {
    /// Own id, once the node runs.
    pub fn me(&self) -> Option<PeerId> {
        self.node.as_ref().map(|n| n.0.peer_id())
    }

    /// A contact's display name.
    pub fn name_of(&self, peer: &PeerId) -> String {
        self.roster.name_of(peer)
    }

    /// A contact, if it is one.
    pub fn contact(&self, peer: &PeerId) -> Option<&Contact> {
        self.roster.contact(peer)
    }

    /// The window title: "Natter", with the unread count when there is one.
    pub fn title(&self) -> String {
        match self.roster.unread.values().sum::<usize>() {
            0 => "Natter".into(),
            n => format!("Natter ({n})"),
        }
    }

    /// The theme to draw with.
    pub fn theme(&self) -> Theme {
        self.prefs.theme.theme(self.window.system_mode)
    }

    /// Applies a message; returns the node operations it calls for.
    pub fn update(&mut self, message: Message) -> Vec<Op> {
        let action = match message {
            Message::Booted(Ok(node)) => {
                self.node = Some(node);
                Self::reload()
            }
            Message::Booted(Err(e)) | Message::Failed(e) => {
                self.error = Some(e);
                Action::none()
            }
            Message::Answered(asked, answer) => self.answered(asked, answer),
            Message::Prefs(prefs) => self.loaded_prefs(*prefs),
            Message::Sidebar(m) => screen::sidebar::update(self, m),
            Message::Conversation(m) => screen::conversation::update(self, m),
            Message::Search(m) => screen::search::update(self, m),
            Message::Room(m) => screen::room::update(self, m),
            Message::Onboarding(m) => match &mut self.screen {
                Screen::Onboarding(s) => s.update(m),
                _ => Action::none(),
            },
            Message::AddContact(m) => match &mut self.screen {
                Screen::AddContact(s) => s.update(m),
                _ => Action::none(),
            },
            Message::Verify(m) => match &mut self.screen {
                Screen::Verify(s) => s.update(m),
                _ => Action::none(),
            },
            Message::Contact(m) => match &mut self.screen {
                Screen::Contact(s) => s.update(m),
                _ => Action::none(),
            },
            Message::Settings(m) => match &mut self.screen {
                Screen::Settings(s) => s.update(m),
                _ => Action::none(),
            },
            Message::Connection(m) => match &mut self.screen {
                Screen::Connection(s) => s.update(m),
                _ => Action::none(),
            },
            Message::KeyWarning(m) => match &mut self.screen {
                Screen::KeyWarning(w) => w.update(m),
                _ => Action::none(),
            },
            Message::Switcher(m) => screen::switcher::update(self, m),
            Message::FindRoom(m) => match &mut self.screen {
                Screen::FindRoom(s) => s.update(m),
                _ => Action::none(),
            },
            Message::Shortcut(s) => self.shortcut(s),
            Message::Focus(focused) => {
                self.window.background = !focused;
                if focused {
                    self.window.notices.clear();
                }
                match self.conversation.selected.filter(|_| focused) {
                    Some(peer) if self.roster.unread.remove(&peer).is_some() => {
                        Action::run(Command::Read { id: peer })
                    }
                    _ => Action::none(),
                }
            }
            Message::FileDropped(path) => screen::conversation::dropped(self, path),
            Message::Desktop(m) => desktop::update(self, m),
            Message::SystemTheme(mode) => {
                self.window.system_mode = mode;
                Action::none()
            }
            Message::Tick(now) => self.second_passed(now),
            Message::Node(event) => self.node_event(event),
            Message::Done => Action::none(),
            Message::Lagged => match self.conversation.selected {
                Some(peer) => Self::reload().and(Command::history(peer, PAGE, None)),
                None => Self::reload(),
            },
        };
        if let Some(next) = action.go {
            self.screen = next;
        }
        action.ops
    }

    /// Live paths changed: the connection panel, if open, asks the node again.
    pub(crate) fn paths_changed(&self) -> Action {
        match self.screen {
            Screen::Connection(_) => Action::run(Command::Paths),
            _ => Action::none(),
        }
    }

    /// Reads all the node's state the app shows (at start, and when it fell behind).
    fn reload() -> Action {
        Action::run(Command::ContactList)
            .and(Command::Requests)
            .and(Op::Prefs)
            .and(Command::Transfers)
            .and(Command::RoomList)
    }

    fn loaded_prefs(&mut self, prefs: Prefs) -> Action {
        let first = !self.prefs.loaded;
        let onboard = first && !prefs.onboarded && matches!(self.screen, Screen::Main);
        let name = prefs.name.clone();
        // The picker shows what the node restored (an invisible user must not see "Online").
        self.sidebar.status = prefs.presence.clone();
        self.prefs = prefs;
        match self.me().filter(|_| onboard) {
            Some(me) => Action::run(Op::Focus(screen::onboarding::NAME_INPUT))
                .then(Screen::Onboarding(screen::onboarding::State::new(me, name))),
            None => Action::none(),
        }
    }

    /// The view of a window (the app has one).
    pub fn window_view(&self, _window: iced::window::Id) -> Element<'_, Message> {
        self.view()
    }

    /// The whole window.
    pub fn view(&self) -> Element<'_, Message> {
        startup::view_built(self.node.is_some() && self.prefs.loaded);
        let body: Element<'_, Message> = match (&self.node, &self.error) {
            (None, Some(e)) => text(format!(
                "Natter could not start: {e}\nDo what it says, then start Natter again."
            ))
            .into(),
            (None, None) => text("Starting Natter…").into(),
            (Some(_), _) => match &self.screen {
                Screen::Main => {
                    let pane =
                        if self.search.results.is_some() && !self.search.words.trim().is_empty() {
                            screen::search::view(&self.search, &self.roster).map(Message::Search)
                        } else if self.rooms.selected.is_some() {
                            screen::room::view(self).map(Message::Room)
                        } else if let Some(add) = screen::room::add_person(self) {
                            column![
                                add.map(Message::Room),
                                screen::conversation::view(self).map(Message::Conversation),
                            ]
                            .spacing(10)
                            .into()
                        } else {
                            screen::conversation::view(self).map(Message::Conversation)
                        };
                    let side = column![
                        screen::sidebar::view(self).map(Message::Sidebar),
                        screen::room::list(self).map(Message::Room),
                    ]
                    .spacing(10)
                    .width(theme::SIDEBAR);
                    row![side, pane].spacing(16).into()
                }
                Screen::Onboarding(s) => s.view().map(Message::Onboarding),
                Screen::AddContact(s) => s.view(&self.roster).map(Message::AddContact),
                Screen::Verify(s) => s.view(&self.roster).map(Message::Verify),
                Screen::Contact(s) => s.view(&self.roster, &self.prefs).map(Message::Contact),
                Screen::Settings(s) => s.view(self).map(Message::Settings),
                Screen::Connection(s) => s.view(self).map(Message::Connection),
                Screen::KeyWarning(w) => w.view().map(Message::KeyWarning),
                Screen::Switcher(s) => screen::switcher::view(self, s).map(Message::Switcher),
                Screen::FindRoom(s) => s.view(self).map(Message::FindRoom),
            },
        };
        container(body).padding(16).width(Fill).height(Fill).into()
    }
}

fn update(app: &mut App, message: Message) -> Task<Message> {
    let ops = app.update(message);
    let mut tasks = Vec::with_capacity(ops.len() + 1);
    for op in ops {
        tasks.push(match op {
            Op::Copy(text) => iced::clipboard::write(text),
            Op::Focus(id) => iced::widget::operation::focus(id),
            Op::ToNewest => iced::widget::operation::snap_to_end(screen::conversation::HISTORY),
            Op::Desktop(what) => desktop::run(app, what),
            op => match app.node.clone() {
                Some(node) => Task::perform(run_op(node, op), |m| m),
                None => Task::none(),
            },
        });
    }
    tasks.push(desktop::sync_tray(app));
    Task::batch(tasks)
}

fn subscription(app: &App) -> Subscription<Message> {
    let typing = matches!(app.conversation.typing_sent, Some((_, TypingState::Typing)));
    Subscription::batch([
        if typing || app.window.notices.waiting() {
            iced::time::every(std::time::Duration::from_secs(1)).map(Message::Tick)
        } else {
            Subscription::none()
        },
        Subscription::run_with(node::profile(), node::events),
        iced::window::events().filter_map(|(id, e)| match e {
            iced::window::Event::Focused => Some(Message::Focus(true)),
            iced::window::Event::Unfocused => Some(Message::Focus(false)),
            iced::window::Event::FileDropped(path) => Some(Message::FileDropped(path)),
            iced::window::Event::CloseRequested => {
                Some(Message::Desktop(desktop::Message::CloseRequested(id)))
            }
            iced::window::Event::Closed => Some(Message::Desktop(desktop::Message::Closed(id))),
            iced::window::Event::Opened { size, .. } | iced::window::Event::Resized(size) => {
                Some(Message::Desktop(desktop::Message::Resized(size)))
            }
            _ => None,
        }),
        iced::system::theme_changes().map(Message::SystemTheme),
        // Every key press, used by a widget or not: the composer and fields keep theirs.
        iced::event::listen_with(|event, _status, _window| match event {
            iced::Event::Keyboard(iced::keyboard::Event::KeyPressed { key, modifiers, .. }) => {
                keys::of(&key, modifiers).map(Message::Shortcut)
            }
            _ => None,
        }),
        Subscription::run(desktop::tray::run).map(|e| Message::Desktop(desktop::Message::Tray(e))),
        Subscription::run(desktop::notices::clicks)
            .map(|id| Message::Desktop(desktop::Message::NoteClicked(id))),
    ])
}

/// The application, as `main` runs it.
pub fn application() -> iced::Daemon<impl iced::Program<Message = Message, Theme = Theme>> {
    application_with(None)
}

/// The application opened by a `natter://add/<ID>` link (the desktop's URL handler): the
/// add-contact screen opens with the ID filled in, for the user to confirm. It runs as a
/// daemon: its one window may close while the node keeps running (see [`desktop`]).
pub fn application_with(
    link: Option<String>,
) -> iced::Daemon<impl iced::Program<Message = Message, Theme = Theme>> {
    application_started(link, false)
}

/// The application; `hidden` (`natter --hidden`, as started at login) opens no window while
/// a tray item shows the app (with no tray, the window opens).
pub fn application_started(
    link: Option<String>,
    hidden: bool,
) -> iced::Daemon<impl iced::Program<Message = Message, Theme = Theme>> {
    let prefill = link.as_deref().and_then(id_of_link);
    iced::daemon(
        move || {
            let mut app = App::default();
            if let Some(id) = prefill.clone() {
                app.sidebar.add_input = id.clone();
                app.screen = Screen::AddContact(screen::add_contact::State::with_id(id));
            }
            app.desktop.autostart =
                desktop::autostart::folder().is_some_and(|f| desktop::autostart::is_on(&f));
            let opened = match hidden {
                true => Task::none(),
                false => desktop::show(&mut app).map(Message::Desktop),
            };
            let theme = iced::system::theme().map(Message::SystemTheme);
            (app, Task::batch([opened, theme]))
        },
        update,
        App::window_view,
    )
    .title(|app: &App, _window| app.title())
    .subscription(subscription)
    .theme(|app: &App, _window| app.theme())
}

/// The Natter ID in `natter://add/<ID>` (or `natter:<ID>`), if it is one.
pub fn id_of_link(link: &str) -> Option<String> {
    PeerId::from_invite_link(link).map(|p| p.to_string())
}

/// The profile folder the app uses.
pub fn profile() -> PathBuf {
    node::profile()
}
