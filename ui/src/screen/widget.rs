//! Owns the small view helpers more than one screen shows: a contact's presence dot, an id
//! in groups of five, a relay policy in words, and the ids of widgets other screens focus.
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
