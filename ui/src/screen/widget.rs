//! Owns the small view helpers more than one screen shows: a contact's presence dot, a
//! stranger's name, an id in groups of five, a relay policy in words, and the ids of widgets other screens focus.
//! Screens import this, never each other's helpers.

use natter::PeerId;
use natter::model::{RelayPolicy, Status};

use crate::App;

/// The composer's widget id (focused when a conversation opens).
pub const COMPOSER: &str = "composer";

/// The presence dot of a contact.
pub fn dot(app: &App, peer: &PeerId) -> &'static str {
    if !app.roster.connected.contains_key(peer) {
        return "○";
    }
    match app.roster.presence.get(peer).map(|p| p.0) {
        Some(Status::Away) => "◐",
        Some(Status::Busy) => "⊘",
        _ => "●",
    }
}

/// How someone who is not a contact is named: the name a peer on the LAN published ("Bob,
/// on your network": their word, not a verified name), else its short id.
pub fn stranger(app: &App, peer: &PeerId) -> String {
    let lan = app.roster.nearby.iter().find(|(p, ..)| p == peer);
    match lan.and_then(|(_, name, _)| name.as_deref()) {
        Some(name) => format!("{name}, on your network"),
        None => crate::short(peer),
    }
}

/// Our own presence dot, from the status we chose.
pub fn own_dot(app: &App) -> &'static str {
    match app.sidebar.status.0 {
        Status::Online => "●",
        Status::Away => "◐",
        Status::Busy => "⊘",
        Status::Invisible => "◌",
    }
}

/// An id in groups of five characters, so it wraps and reads aloud; pasting it back works
/// (spaces are ignored when an id is parsed).
pub fn grouped(id: &PeerId) -> String {
    let s = id.to_string();
    s.as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A relay policy in words, as the pickers show it.
pub fn relay_words(policy: RelayPolicy) -> &'static str {
    match policy {
        RelayPolicy::Never => "Never",
        RelayPolicy::Ask => "Ask each time",
        RelayPolicy::Always => "Always",
    }
}
