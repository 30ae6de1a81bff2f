//! Settings: profile (name, ID, identity backup), privacy mode and block list, rendezvous
//! server, the listening port and the way to the connection panel, the node's global relay
//! policy, LAN advertising, theme, notifications, the data folder, and history export (JSON
//! lines or text).

use iced::widget::{
    Column, button, column, pick_list, radio, row, scrollable, text, text_input, toggler,
};
use iced::{Element, Length};
use natter::PeerId;
use natter::control::Command;
use natter::model::RelayPolicy;
use natter::node::{ExportFormat, PrivacyMode};

use super::{Action, widget::grouped, widget::relay_words};
use crate::theme::{Choice, SMALL, TITLE};
use crate::{App, Op, pref, save};

/// A global relay policy as the picker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay(pub RelayPolicy);

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(relay_words(self.0))
    }
}

/// Relay policies the picker offers.
pub const RELAY: [Relay; 3] = [
    Relay(RelayPolicy::Never),
    Relay(RelayPolicy::Ask),
    Relay(RelayPolicy::Always),
];

/// The fields of the screen.
#[derive(Debug, Default)]
pub struct State {
    /// Own ID (for the copy button).
    pub id: String,
    /// Display name being edited.
    pub name: String,
    /// Rendezvous `HOST:PORT` being edited (a deployment's nodes separated by commas).
    pub rendezvous: String,
    /// Rendezvous key being edited.
    pub rendezvous_key: String,
    /// Listening port being edited.
    pub port: String,
    /// What is wrong with the fields.
    pub error: Option<String>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Name changed.
    Name(String),
    /// Save the name.
    SaveName,
    /// Copy the ID.
    CopyId,
    /// Save an identity backup.
    ExportIdentity,
    /// Privacy mode picked.
    Privacy(PrivacyMode),
    /// Unblock a peer.
    Unblock(PeerId),
    /// Rendezvous address changed.
    Rendezvous(String),
    /// Rendezvous key changed.
    RendezvousKey(String),
    /// Save the rendezvous.
    SaveRendezvous,
    /// Open the connection panel.
    Connection,
    /// Listening port changed.
    Port(String),
    /// Save the port (used at the next start).
    SavePort,
    /// Global relay policy picked (the node's own; the shown value follows its answer).
    Relay(Relay),
    /// LAN advertising on / off.
    Advertise(bool),
    /// Theme picked.
    Theme(Choice),
    /// Notifications on / off.
    Notifications(bool),
    /// Message text in notifications on / off.
    NotificationText(bool),
    /// Start at login (in the tray) on / off.
    Autostart(bool),
    /// Export all history.
    Export(ExportFormat),
    /// Back.
    Back,
}

impl State {
    /// The screen, filled from the saved preferences.
    pub fn new(app: &App) -> Self {
        Self {
            id: app.me().map(|m| m.to_string()).unwrap_or_default(),
            name: app.prefs.name.clone(),
            rendezvous: app.prefs.rendezvous.0.clone(),
            rendezvous_key: app.prefs.rendezvous.1.clone(),
            port: app.prefs.port.clone(),
            error: None,
        }
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        let set = |name: &str, value: &str| Action::run(save(name, value));
        let on_off = |on: bool| if on { "on" } else { "off" };
        match message {
            Message::Name(n) => {
                self.name = n.chars().take(63).collect();
                Action::none()
            }
            Message::SaveName => set(pref::NAME, self.name.trim()),
            Message::CopyId => Action::run(Op::Copy(self.id.clone())),
            Message::ExportIdentity => Action::run(Command::ExportIdentity { path: None }),
            Message::Privacy(mode) => Action::run(Command::Privacy { mode: Some(mode) }),
            Message::Unblock(peer) => Action::run(Command::Unblock { id: peer }),
            Message::Rendezvous(s) => {
                self.rendezvous = s;
                Action::none()
            }
            Message::RendezvousKey(s) => {
                self.rendezvous_key = s;
                Action::none()
            }
            Message::SaveRendezvous => {
                let (addr, key) = (self.rendezvous.trim(), self.rendezvous_key.trim());
                let both_empty = addr.is_empty() && key.is_empty();
                match natter::rendezvous::parse_addrs(addr) {
                    Err(piece) if !both_empty => {
                        self.error = Some(format!(
                            "{piece:?} is not an address like 192.0.2.7:4433 (separate a \
                             deployment's nodes by commas)."
                        ));
                        return Action::none();
                    }
                    Ok(addrs) if addrs.is_empty() && !both_empty => {
                        self.error = Some("Give the server's address, like 192.0.2.7:4433.".into());
                        return Action::none();
                    }
                    _ => {}
                }
                if !both_empty && key.parse::<PeerId>().is_err() {
                    self.error = Some(
                        "The key is not a Natter key: paste the whole key the server printed."
                            .into(),
                    );
                    return Action::none();
                }
                self.error = None;
                Action::run(save(pref::RENDEZVOUS, addr)).and(save(pref::RENDEZVOUS_KEY, key))
            }
            Message::Connection => {
                let (panel, load) = super::connection::State::open();
                load.then(super::Screen::Connection(panel))
            }
            Message::Port(p) => {
                self.port = p.chars().filter(char::is_ascii_digit).take(5).collect();
                Action::none()
            }
            Message::SavePort => match self.port.trim().parse::<u16>() {
                Ok(p) if p >= 1024 => {
                    self.error = None;
                    set(pref::PORT, &p.to_string())
                }
                _ => {
                    self.error = Some(format!(
                        "{:?} is not a port Natter can use: pick one from 1024 to 65535.",
                        self.port
                    ));
                    Action::none()
                }
            },
            Message::Relay(Relay(policy)) => Action::run(Command::RelayPolicy {
                policy: Some(policy),
            }),
            Message::Advertise(on) => set(pref::ADVERTISE, on_off(on)),
            Message::Theme(c) => set(pref::THEME, c.as_str()),
            Message::Notifications(on) => set(pref::NOTIFICATIONS, on_off(on)),
            Message::NotificationText(on) => set(pref::NOTIFICATION_TEXT, on_off(on)),
            Message::Autostart(on) => Action::run(crate::desktop::Do::Autostart(on)),
            Message::Export(format) => Action::run(crate::Op::Export(format)),
            Message::Back => Action::back(),
        }
    }

    /// The screen.
    pub fn view<'a>(&'a self, app: &'a App) -> Element<'a, Message> {
        let p = &app.prefs;
        let id = app.me().map(|m| grouped(&m)).unwrap_or_default();
        let mut blocked = Column::new().spacing(4);
        for peer in &p.blocked {
            blocked = blocked.push(
                row![
                    text(app.name_of(peer)).width(Length::Fill),
                    button(text("Unblock")).on_press(Message::Unblock(*peer))
                ]
                .spacing(6),
            );
        }
        if p.blocked.is_empty() {
            blocked = blocked.push(text("Nobody is blocked.").size(SMALL));
        }
        let rv_state = match &app.rendezvous {
            Some(r) if r.online => format!("Connected. {}", r.detail),
            Some(r) => format!("Unreachable, retrying. {}", r.detail),
            None => "None in use: Natter works on the LAN and with saved addresses.".into(),
        };
        let listening = match app.node.as_ref().and_then(|n| n.0.local_addr()) {
            Some(addr) => format!("Listening on UDP port {}", addr.port()),
            None => "Not listening yet".into(),
        };
        let privacy = column![
            radio(
                "Anyone can talk with me (strangers stay in Requests until I accept)",
                PrivacyMode::Everyone,
                Some(p.privacy),
                Message::Privacy
            ),
            radio(
                "Strangers can write; they wait in Requests",
                PrivacyMode::Requests,
                Some(p.privacy),
                Message::Privacy
            ),
            radio(
                "Only my contacts can reach me",
                PrivacyMode::ContactsOnly,
                Some(p.privacy),
                Message::Privacy
            ),
        ]
        .spacing(6);
        let mut col = column![
            row![
                text("Settings").size(24).width(Length::Fill),
                button(text("Back")).on_press(Message::Back)
            ],
            text("Profile").size(TITLE),
            row![
                text_input("Your name", &self.name)
                    .on_input(Message::Name)
                    .on_submit(Message::SaveName),
                button(text("Save name")).on_press(Message::SaveName)
            ]
            .spacing(6),
            text(format!("Natter ID: {id}")).size(SMALL),
            row![
                button(text("Copy ID")).on_press(Message::CopyId),
                button(text("Save identity backup")).on_press(Message::ExportIdentity),
            ]
            .spacing(6),
            text("Privacy").size(TITLE),
            privacy,
            text("Blocked").size(TITLE),
            blocked,
            text("Rendezvous server (finds contacts outside the LAN; used from the next start)")
                .size(TITLE),
            row![
                text_input("HOST:PORT (more nodes: comma-separated)", &self.rendezvous)
                    .on_input(Message::Rendezvous),
                text_input("Server key", &self.rendezvous_key).on_input(Message::RendezvousKey),
                button(text("Save")).on_press(Message::SaveRendezvous),
            ]
            .spacing(6),
            text(rv_state).size(SMALL),
            text("Relay").size(TITLE),
            row![
                pick_list(RELAY, Some(Relay(p.relay)), Message::Relay),
                text(
                    "When no direct path exists, a relay on your rendezvous can carry the \
                     session; it sees only encrypted packets, and both sides are shown that it \
                     is used."
                )
                .size(SMALL),
            ]
            .spacing(6),
            text("Look and behaviour").size(TITLE),
            toggler(p.advertise)
                .label("Show me to people on this network (from the next start)")
                .on_toggle(Message::Advertise),
            row![
                text("Theme"),
                pick_list(Choice::ALL, Some(p.theme), Message::Theme)
            ]
            .spacing(6),
            toggler(p.notifications)
                .label("Notify me of new messages when the window is in the background")
                .on_toggle(Message::Notifications),
            toggler(p.notification_text)
                .label("Show what the message says in notifications")
                .on_toggle(Message::NotificationText),
            toggler(app.desktop.autostart)
                .label("Start Natter when I log in (in the tray, window closed)")
                .on_toggle(Message::Autostart),
            text("Data").size(TITLE),
            text(format!("Profile folder: {}", p.profile.display())).size(SMALL),
            text(format!(
                "Files and exports go to: {}",
                p.downloads.display()
            ))
            .size(SMALL),
            row![
                button(text("Export history (JSON)")).on_press(Message::Export(ExportFormat::Json)),
                button(text("Export history (text)")).on_press(Message::Export(ExportFormat::Text)),
            ]
            .spacing(6),
            text("Connection").size(TITLE),
            row![
                text(listening).width(Length::Fill),
                button(text("Connection details")).on_press(Message::Connection),
            ]
            .spacing(6),
            row![
                text_input("Port (from the next start)", &self.port)
                    .on_input(Message::Port)
                    .on_submit(Message::SavePort),
                button(text("Save port")).on_press(Message::SavePort),
            ]
            .spacing(6),
        ]
        .spacing(10)
        .max_width(760);
        if let Some(e) = &self.error {
            col = col.push(text(e.as_str()).style(text::danger));
        }
        if let Some(n) = &app.notice {
            col = col.push(text(n.as_str()).style(text::success));
        }
        if let Some(e) = &app.error {
            col = col.push(text(e.as_str()).style(text::danger));
        }
        scrollable(col).into()
    }
}
