//! The connection panel: how others reach this computer and how each contact is reached —
//! our port and addresses, the rendezvous and the address it sees us at (so the kind of NAT
//! we are behind, as far as one server can tell), every live session's path and address,
//! the punch counters, and the LAN diagnosis `natter-cli doctor` gives, in words.

use std::net::SocketAddr;

use iced::widget::{Column, button, column, row, scrollable, text};
use iced::{Element, Length};
use natter::control::Command;
use natter::discovery::doctor::{self, Finding, Level};
use natter::model::{Path, Paths};

use super::Action;
use crate::theme::{SMALL, TITLE};
use crate::{App, Rendezvous};

/// What the panel shows beyond the app's own state.
#[derive(Debug, Default)]
pub struct State {
    /// The node's answer to `paths`, once it came.
    pub paths: Option<Paths>,
    /// The LAN diagnosis when the panel opened.
    pub findings: Vec<Finding>,
}

/// What the user does.
#[derive(Debug, Clone)]
pub enum Message {
    /// Ask the node again.
    Refresh,
    /// Back to settings' caller: the main window.
    Back,
}

impl State {
    /// The panel, with the LAN looked at now; the paths follow from the node.
    pub fn open() -> (Self, Action) {
        let state = Self {
            paths: None,
            findings: doctor::diagnose(&doctor::interfaces()),
        };
        (state, Action::run(Command::Paths))
    }

    /// Applies what the user did.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Refresh => {
                self.findings = doctor::diagnose(&doctor::interfaces());
                Action::run(Command::Paths)
            }
            Message::Back => Action::back(),
        }
    }

    /// The panel.
    pub fn view<'a>(&'a self, app: &'a App) -> Element<'a, Message> {
        let port = app
            .node
            .as_ref()
            .and_then(|n| n.0.local_addr())
            .map(|a| a.port());
        let addresses = self.paths.as_ref().map(|p| &p.addresses[..]).unwrap_or(&[]);
        let listening = match port {
            Some(p) => format!("Listening on UDP port {p}"),
            None => "Not listening yet".into(),
        };
        let mut here = Column::new().spacing(2).push(text(listening));
        for a in addresses {
            here = here.push(text(format!("  {a}")).size(SMALL));
        }
        let rendezvous = match &app.rendezvous {
            None => "No rendezvous: contacts are found on the LAN and at saved addresses.".into(),
            Some(Rendezvous { online: false, .. }) => {
                "The rendezvous is unreachable; Natter keeps trying on its own.".into()
            }
            Some(Rendezvous { over_tcp: true, .. }) => {
                "Registered over TCP: no UDP gets out of this network, so contacts are reached \
                 through the rendezvous's relay (with your consent)."
                    .into()
            }
            Some(Rendezvous { observed, .. }) => match observed {
                Some(seen) => format!("Registered; the rendezvous sees us at {seen}."),
                None => "Registered.".into(),
            },
        };
        // Over TCP the address it sees says nothing of how UDP is mapped.
        let observed = app
            .rendezvous
            .as_ref()
            .filter(|r| !r.over_tcp)
            .and_then(|r| r.observed);
        let mut sessions = Column::new().spacing(4);
        let mut counters = String::new();
        if let Some(p) = &self.paths {
            for s in &p.sessions {
                sessions = sessions.push(
                    row![
                        text(app.name_of(&s.peer)).width(Length::Fill),
                        text(path_words(s.path)),
                        text(s.remote.to_string()).size(SMALL),
                    ]
                    .spacing(12),
                );
            }
            if p.sessions.is_empty() {
                sessions = sessions.push(text("No contact is connected now.").size(SMALL));
            }
            counters = format!(
                "{} sessions since Natter started, {} of them direct or on the LAN.",
                p.conns_opened, p.conns_direct
            );
        }
        let mut lan = Column::new().spacing(4);
        for f in &self.findings {
            let mark = match f.level {
                Level::Ok => "ok",
                Level::Warning => "maybe",
                Level::Problem => "problem",
            };
            lan = lan.push(text(format!("{mark}: {}", f.what)).size(SMALL));
            if f.level != Level::Ok {
                lan = lan.push(text(format!("  try: {}", f.try_next)).size(SMALL));
            }
        }
        let body = column![
            row![
                text("Connection").size(24).width(Length::Fill),
                button(text("Refresh")).on_press(Message::Refresh),
                button(text("Back")).on_press(Message::Back),
            ]
            .spacing(8),
            text("This computer").size(TITLE),
            here,
            text("Rendezvous").size(TITLE),
            text(rendezvous),
            text(if app.rendezvous.as_ref().is_some_and(|r| r.over_tcp) {
                "No UDP gets out of this network (a firewall or captive portal): no direct \
                 path can exist from here."
                    .to_string()
            } else {
                nat_words(observed, port, addresses)
            })
            .size(SMALL),
            text("Contacts").size(TITLE),
            sessions,
            text(counters).size(SMALL),
            text("Local network").size(TITLE),
            lan,
        ]
        .spacing(10)
        .max_width(720);
        scrollable(body).into()
    }
}

/// A path in words.
pub fn path_words(path: Path) -> &'static str {
    match path {
        Path::Lan => "on the LAN",
        Path::Direct => "direct",
        Path::Relayed => "through a relay",
    }
}

/// What the address the rendezvous sees says about the network we are behind, as far as one
/// server can tell.
pub fn nat_words(observed: Option<SocketAddr>, port: Option<u16>, ours: &[SocketAddr]) -> String {
    let Some(seen) = observed else {
        return "The kind of network you are behind is unknown until a rendezvous sees us.".into();
    };
    if ours.iter().any(|a| a.ip() == seen.ip()) {
        "No NAT: this computer has a public address, so contacts can reach it directly.".into()
    } else if Some(seen.port()) == port {
        "Behind a router that keeps our port (a home or full-cone NAT, as far as one server \
         can tell): direct connections work with most contacts."
            .into()
    } else {
        "Behind a router that gives each destination a new port (a symmetric NAT, as far as \
         one server can tell): contacts behind home routers or symmetric NATs cannot reach \
         you directly; public and full-cone ones can."
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_rendezvous_sees_names_the_network_we_are_behind() {
        let addr = |s: &str| s.parse::<SocketAddr>().ok();
        let ours = [addr("198.18.1.2:47100"), addr("192.0.2.9:47100")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let seen = |s| nat_words(addr(s), Some(47100), &ours);
        assert!(nat_words(None, Some(47100), &ours).contains("unknown"));
        assert!(seen("192.0.2.9:47100").starts_with("No NAT"));
        assert!(seen("198.19.0.2:47100").contains("keeps our port"));
        assert!(seen("198.19.0.2:31877").contains("symmetric"));
    }
}
