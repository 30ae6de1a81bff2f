//! The conversation's state and what the user does in it (`view.rs` draws it): the history
//! (`history.rs`: days, groups, links, ticks), paging back as the user scrolls up, staying at
//! the newest message unless the user scrolled away, and jumping to a search hit; files
//! (offers to accept or decline, progress, drop a file on the window to send it); the typing
//! line; the composer (Enter sends, Shift+Enter starts a new line) and its emoji picker; a
//! peer's flood warning (the node throttled them); and the node's questions whether a relay
//! may carry a contact's session.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use iced::widget::{scrollable, text_editor};
use natter::PeerId;
use natter::control::{Command, YesNo};
use natter::model::MessageState;
use natter::model::TypingState;

mod history;
mod view;

pub use history::{
    COPY, COPY_LINK, Item, UNREAD_MARKER, items, message_id, state_line, unread_start,
};
pub use view::{path_badge, relay_question, view};

use super::{Action, Screen, contact, verify};
use crate::{App, Op, PAGE, flood};

pub use super::widget::COMPOSER;
/// Widget id of the history.
pub const HISTORY: &str = "history";

/// The conversation pane's state: which conversation is open, what of it is loaded, the
/// composer, the files shown under it, and the warnings of peers flooding us.
#[derive(Default)]
pub struct State {
    /// The open conversation.
    pub selected: Option<PeerId>,
    /// Loaded history per peer (oldest first; older pages are prepended).
    pub history: HashMap<PeerId, Vec<natter::Message>>,
    /// Conversations whose oldest message is loaded.
    pub history_complete: HashSet<PeerId>,
    /// Conversations with an older page on its way.
    pub loading_older: HashSet<PeerId>,
    /// Their typing state.
    pub typing: HashMap<PeerId, TypingState>,
    /// The composer (Enter sends, Shift+Enter starts a new line).
    pub composer: text_editor::Content,
    /// The typing state we last told a contact.
    pub typing_sent: Option<(PeerId, TypingState)>,
    /// When the composer's text last changed.
    pub last_edit: Option<Instant>,
    /// File transfers, newest last.
    pub transfers: Vec<natter::Transfer>,
    /// Bytes moved per transfer (file id → (bytes, size)).
    pub progress: HashMap<String, (u64, u64)>,
    /// The node's questions waiting for the user: may this relay carry the session with this
    /// contact (no direct path exists)? Oldest first, one per contact.
    pub relay_asks: Vec<(PeerId, String)>,
    /// Peers the node throttled (they flood us): the latest warning for each, shown on their
    /// conversation until dismissed.
    pub flooding: flood::Warnings,
    /// How many of their messages were unread when this conversation opened, until its
    /// newest page comes and the marker is placed.
    pub unread_marker: Option<(PeerId, usize)>,
    /// The first message that was unread when the conversation opened: the "New messages"
    /// marker stays above it while the conversation is open.
    pub marker: Option<(PeerId, String)>,
    /// The search hit the history jumped to: shown highlighted, near the bottom.
    pub jump: Option<Jump>,
    /// The message whose actions show (a right click on it).
    pub picked: Option<String>,
    /// The history is scrolled away from the newest message.
    pub scrolled_up: bool,
    /// Messages that came while scrolled up (a button goes down to them).
    pub below: usize,
    /// The emoji picker is open.
    pub emoji_open: bool,
}

/// The emoji the picker offers (any other comes from the keyboard or an input method).
pub const EMOJI: [&str; 24] = [
    "😀", "😂", "😊", "😍", "😉", "😎", "🤔", "😢", "😮", "😡", "👍", "👎", "👏", "🙏", "👋", "💪",
    "❤️", "🎉", "🔥", "✅", "❌", "☕", "🍕", "🚀",
];
/// The button that opens the picker.
pub const EMOJI_BUTTON: &str = "☺";

/// A search hit the history shows: the history loads back until it holds it, then shows it
/// with a few messages after it, highlighted, until the user goes back to the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// Its conversation.
    pub peer: PeerId,
    /// Its id.
    pub id: String,
}

/// Messages shown after a search hit.
pub const AFTER_HIT: usize = 3;

/// What the user does in the conversation.
#[derive(Debug, Clone)]
pub enum Message {
    /// An edit in the composer.
    Edit(text_editor::Action),
    /// Send the composer's text.
    Send,
    /// Load the page before the oldest loaded message.
    LoadOlder,
    /// The history scrolled.
    Scrolled(scrollable::Viewport),
    /// Open the verify screen.
    Verify,
    /// Open or close "add a person" (the conversation becomes a room).
    AddPerson,
    /// Open the contact menu.
    Menu,
    /// Accept an offered file.
    AcceptFile(String),
    /// Decline an offered file.
    DeclineFile(String),
    /// Open the desktop's file chooser to send a file to this contact.
    PickFile,
    /// Cancel a transfer (either way).
    CancelFile(String),
    /// Open a received file with the desktop's application for it.
    OpenFile(String),
    /// Show a received file in the desktop's file manager.
    ShowFile(String),
    /// Answer the node's question whether a relay may carry the session with a contact.
    Relay(PeerId, YesNo),
    /// Dismiss the flood warning on a peer's conversation.
    DismissFlood(PeerId),
    /// A link in a message was clicked: open it in the browser.
    OpenLink(String),
    /// Show a message's actions (a right click).
    Pick(String),
    /// Hide them.
    Unpick,
    /// Copy text (a message's, or a link in it).
    Copy(String),
    /// Back to the newest messages (from a search hit, or scrolled up).
    ToNewest,
    /// Open or close the emoji picker.
    EmojiPicker,
    /// Put an emoji in the composer where the cursor is.
    Emoji(&'static str),
}

/// The tick for a message state.
pub fn tick(state: MessageState) -> &'static str {
    match state {
        MessageState::Queued => "🕓 queued",
        MessageState::Sent => "✓ sent",
        MessageState::Stored => "✉ stored for them",
        MessageState::Delivered => "✓✓ delivered",
        MessageState::Read => "✓✓ read",
        MessageState::Received => "",
    }
}

/// The typing line for a state.
pub fn typing_line(state: TypingState) -> Option<&'static str> {
    match state {
        TypingState::Typing => Some("typing…"),
        TypingState::Paused => Some("stopped typing"),
        TypingState::Erased => Some("erased what they typed"),
        TypingState::Idle => None,
    }
}

/// Applies what the user did.
pub fn update(app: &mut App, message: Message) -> Action {
    if let Message::Relay(id, answer) = message {
        // Answered: the question goes (the node does not ask again this run).
        app.conversation.relay_asks.retain(|(p, _)| *p != id);
        return Action::run(Command::RelayConsent { id, answer });
    }
    if let Message::DismissFlood(peer) = message {
        app.conversation.flooding.dismiss(&peer);
        return Action::none();
    }
    match message {
        Message::OpenLink(link) if crate::links::openable(&link) => {
            return Action::run(Op::OpenLink(link));
        }
        Message::OpenLink(_) => return Action::none(),
        Message::Pick(id) => {
            app.conversation.picked = Some(id);
            return Action::none();
        }
        Message::Unpick => {
            app.conversation.picked = None;
            return Action::none();
        }
        Message::Copy(text) => {
            app.conversation.picked = None;
            app.said("Copied.".into());
            return Action::run(Op::Copy(text));
        }
        Message::EmojiPicker => {
            app.conversation.emoji_open = !app.conversation.emoji_open;
            return Action::none();
        }
        Message::ToNewest => {
            app.conversation.jump = None;
            app.conversation.below = 0;
            app.conversation.scrolled_up = false;
            return Action::run(Op::ToNewest);
        }
        _ => {}
    }
    let Some(peer) = app.conversation.selected else {
        return Action::none();
    };
    match message {
        Message::Emoji(emoji) => {
            app.conversation.emoji_open = false;
            let paste = text_editor::Edit::Paste(std::sync::Arc::new(emoji.to_string()));
            update(app, Message::Edit(text_editor::Action::Edit(paste))).and(Op::Focus(COMPOSER))
        }
        Message::Edit(edit) => {
            let before = app.conversation.composer.text();
            app.conversation.composer.perform(edit);
            let after = app.conversation.composer.text();
            if before == after {
                return Action::none(); // a cursor move or a selection
            }
            app.conversation.last_edit = Some(Instant::now());
            app.conversation.typing(peer, after.trim().is_empty())
        }
        Message::Send => {
            let text = app.conversation.composer.text().trim().to_string();
            if text.is_empty() {
                return Action::none();
            }
            app.conversation.composer = text_editor::Content::new();
            app.conversation.typing_sent = None; // the message itself ends the typing line
            // What the user just sent is shown: back to the newest.
            app.conversation.jump = None;
            app.conversation.below = 0;
            app.conversation.scrolled_up = false;
            Action::run(Command::send(peer, text)).and(Op::ToNewest)
        }
        Message::LoadOlder => app.conversation.older(peer),
        Message::Scrolled(viewport) => {
            // Anchored at the bottom: the offset is the distance from the newest message, the
            // reversed one the distance from the top.
            app.conversation.scrolled(viewport.absolute_offset().y);
            let near_top = viewport.absolute_offset_reversed().y < 80.0;
            let scrolls = viewport.content_bounds().height > viewport.bounds().height;
            if near_top && scrolls {
                app.conversation.older(peer)
            } else {
                Action::none()
            }
        }
        Message::Verify => Action::none().then(Screen::Verify(verify::State::new(app, peer))),
        Message::AddPerson => {
            app.rooms.adding_to = (app.rooms.adding_to != Some(peer)).then_some(peer);
            Action::none()
        }
        Message::Menu => match app.contact(&peer) {
            Some(c) => Action::none().then(Screen::Contact(contact::State::new(c))),
            None => Action::none(),
        },
        Message::AcceptFile(file_id) => Action::run(Command::AcceptFile { id: peer, file_id }),
        Message::DeclineFile(file_id) => Action::run(Command::DeclineFile { id: peer, file_id }),
        Message::PickFile => Action::run(Op::PickFile),
        Message::CancelFile(file_id) => Action::run(Command::CancelFile { file_id }),
        Message::OpenFile(file_id) => super::files::open(app, &file_id, false),
        Message::ShowFile(file_id) => super::files::open(app, &file_id, true),
        // Answered above, open conversation or not.
        Message::Relay(..)
        | Message::DismissFlood(_)
        | Message::OpenLink(_)
        | Message::Pick(_)
        | Message::Unpick
        | Message::Copy(_)
        | Message::ToNewest
        | Message::EmojiPicker => Action::none(),
    }
}

/// Seconds without an edit before the contact sees "stopped typing".
pub const PAUSE_AFTER: Duration = Duration::from_secs(5);

impl State {
    /// The history scrolled: `from_newest` pixels away from the newest message.
    pub fn scrolled(&mut self, from_newest: f32) {
        self.scrolled_up = from_newest > 40.0;
        if !self.scrolled_up {
            self.below = 0;
        }
    }

    /// A message of theirs came into the open conversation: counted while the user reads older
    /// ones.
    pub(crate) fn arrived(&mut self, peer: PeerId) {
        if self.selected == Some(peer) && (self.scrolled_up || self.jump.is_some()) {
            self.below += 1;
        }
    }

    /// The loaded history while jumping to a search hit: asks for the next older page until
    /// the hit is loaded (or the conversation's start is).
    pub(crate) fn seek(&mut self, peer: PeerId) -> Action {
        let Some(jump) = self.jump.as_ref().filter(|j| j.peer == peer) else {
            return Action::none();
        };
        let loaded = self
            .history
            .get(&peer)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if loaded.iter().any(|m| m.id == jump.id) {
            return Action::none();
        }
        self.older(peer)
    }

    /// What of the loaded history shows: all of it, or while jumping to a search hit, up to
    /// a few messages after it (`None`: the hit is not loaded yet, and older pages are).
    pub fn shown<'a>(
        &self,
        peer: PeerId,
        loaded: &'a [natter::Message],
    ) -> Option<&'a [natter::Message]> {
        match self.jump.as_ref().filter(|j| j.peer == peer) {
            None => Some(loaded),
            Some(j) => match loaded.iter().position(|m| m.id == j.id) {
                Some(at) => Some(&loaded[..(at + 1 + AFTER_HIT).min(loaded.len())]),
                // Gone meanwhile (a deleted history): the whole conversation shows.
                None if self.history_complete.contains(&peer) => Some(loaded),
                None => None,
            },
        }
    }

    /// The node asks whether a relay may carry the session with `peer`: one question per
    /// contact, the newest relay named.
    pub(crate) fn relay_asked(&mut self, peer: PeerId, relay: String) {
        match self.relay_asks.iter_mut().find(|(p, _)| *p == peer) {
            Some(asked) => asked.1 = relay,
            None => self.relay_asks.push((peer, relay)),
        }
    }

    /// A transfer changed: known ones are updated in place, new ones go last.
    pub(crate) fn transfer(&mut self, t: natter::Transfer) {
        if t.state.is_final() {
            self.progress.remove(&t.file_id);
        }
        match self.transfers.iter_mut().find(|x| x.file_id == t.file_id) {
            Some(known) => *known = t,
            None => self.transfers.push(t),
        }
    }

    /// The newest page of a conversation arrived: it replaces what was loaded.
    pub(crate) fn newest_page(&mut self, peer: PeerId, page: Vec<natter::Message>) {
        if page.len() < PAGE {
            self.history_complete.insert(peer);
        }
        if let Some((p, unread)) = self.unread_marker.take_if(|(p, _)| *p == peer) {
            self.marker = unread_start(&page, unread).map(|i| (p, page[i].id.clone()));
        }
        self.history.insert(peer, page);
    }

    /// An older page arrived: it goes before what is loaded.
    pub(crate) fn older_page(&mut self, peer: PeerId, mut page: Vec<natter::Message>) {
        self.loading_older.remove(&peer);
        if page.len() < PAGE {
            self.history_complete.insert(peer);
        }
        let loaded = self.history.entry(peer).or_default();
        page.append(loaded);
        *loaded = page;
    }

    /// Sealed copies wait in the mailbox until `expires_ms`.
    pub(crate) fn stored(&mut self, peer: PeerId, ids: &[String], expires_ms: u64) {
        self.mark(peer, ids, MessageState::Stored);
        for m in self.history.entry(peer).or_default().iter_mut() {
            if ids.contains(&m.id) && m.state == MessageState::Stored {
                m.stored_until_ms = i64::try_from(expires_ms).ok();
                m.expired = false;
            }
        }
    }

    /// The mailbox let them expire undelivered: queued again, for the next session.
    pub(crate) fn expired(&mut self, peer: PeerId, ids: &[String]) {
        for m in self.history.entry(peer).or_default().iter_mut() {
            if ids.contains(&m.id) && m.state == MessageState::Stored {
                m.state = MessageState::Queued;
                m.stored_until_ms = None;
                m.expired = true;
            }
        }
    }

    /// Messages moved on (sent, stored, delivered, read); a state never goes back.
    pub(crate) fn mark(&mut self, peer: PeerId, ids: &[String], state: MessageState) {
        for m in self.history.entry(peer).or_default().iter_mut() {
            if ids.contains(&m.id) && m.state < state {
                m.state = state;
            }
        }
    }

    /// What to tell the contact after an edit: typing (again), or erased when the composer
    /// was emptied after they were told we type.
    fn typing(&mut self, peer: PeerId, empty: bool) -> Action {
        let told = self.typing_sent.filter(|(p, _)| *p == peer).map(|(_, s)| s);
        let next = match (empty, told) {
            (true, Some(TypingState::Typing | TypingState::Paused)) => TypingState::Erased,
            (false, Some(TypingState::Typing)) | (true, _) => return Action::none(),
            (false, _) => TypingState::Typing,
        };
        self.typing_sent = (next != TypingState::Erased).then_some((peer, next));
        Action::run(Command::Typing {
            id: peer,
            state: next,
        })
    }

    /// A second went by: typing with no edit for [`PAUSE_AFTER`] becomes "stopped typing".
    pub fn second_passed(&mut self, now: Instant) -> Action {
        match (self.typing_sent, self.last_edit) {
            (Some((peer, TypingState::Typing)), Some(at))
                if now.duration_since(at) >= PAUSE_AFTER =>
            {
                self.typing_sent = Some((peer, TypingState::Paused));
                Action::run(Command::Typing {
                    id: peer,
                    state: TypingState::Paused,
                })
            }
            _ => Action::none(),
        }
    }

    /// Asks for the page before the oldest loaded message, unless it is all loaded or
    /// already asked for.
    fn older(&mut self, peer: PeerId) -> Action {
        if self.history_complete.contains(&peer) || self.loading_older.contains(&peer) {
            return Action::none();
        }
        match self.history.get(&peer).and_then(|h| h.first()) {
            Some(oldest) => {
                self.loading_older.insert(peer);
                Action::run(Command::history(peer, PAGE, Some(oldest.into())))
            }
            None => Action::none(),
        }
    }
}

/// A file dropped on the window goes to the open conversation.
pub fn dropped(app: &mut App, path: PathBuf) -> Action {
    match app
        .conversation
        .selected
        .filter(|p| app.contact(p).is_some())
    {
        Some(peer) => Action::run(Command::SendFile {
            id: peer,
            path,
            name: None,
            wait: false,
            timeout: None,
        }),
        None => {
            app.error =
                Some("Open a contact's conversation first, then drop the file on it.".into());
            Action::none()
        }
    }
}

/// Bytes in KiB / MiB / GiB.
pub fn human_size(bytes: u64) -> String {
    natter::size::show(bytes)
}
