//! One module per screen. The main window is the sidebar beside the conversation (or the
//! search results); the other screens take the whole window and are opened from it. Each
//! screen has its own `Message` and `view`; its `update` returns an [`Action`]: the node
//! operations to run and, if it changes, the screen to show next.

pub mod add_contact;
pub mod connection;
pub mod contact;
pub mod conversation;
pub mod files;
pub mod find_room;
pub mod key_warning;
pub mod onboarding;
pub mod room;
pub mod search;
pub mod settings;
pub mod sidebar;
pub mod switcher;
pub mod verify;
pub mod widget;

use crate::Op;

/// Which screen fills the window.
#[derive(Debug, Default)]
pub enum Screen {
    /// Sidebar and conversation.
    #[default]
    Main,
    /// First start: name, own ID, invite link and QR code.
    Onboarding(onboarding::State),
    /// Add a contact by ID or link, with nickname and group.
    AddContact(add_contact::State),
    /// Compare the safety number; mark verified.
    Verify(verify::State),
    /// Rename, group, block, switches, delete history.
    Contact(contact::State),
    /// Profile, privacy, servers, look, exports.
    Settings(settings::State),
    /// How this computer and each contact are reached.
    Connection(connection::State),
    /// Someone presented another key for a contact: nothing goes on until the user has read it.
    KeyWarning(key_warning::Warning),
    /// Go to a conversation by name (Ctrl+K).
    Switcher(switcher::State),
    /// Public rooms nearby and in the directory, to join.
    FindRoom(find_room::State),
}

/// What a screen's `update` asks for.
#[derive(Debug, Default)]
pub struct Action {
    /// Node operations to run.
    pub ops: Vec<Op>,
    /// The screen to show next, when it changes.
    pub go: Option<Screen>,
}

impl Action {
    /// Nothing to do.
    pub fn none() -> Self {
        Self::default()
    }

    /// Run one operation.
    pub fn run(op: impl Into<Op>) -> Self {
        Self {
            ops: vec![op.into()],
            go: None,
        }
    }

    /// Also run `op`.
    pub fn and(mut self, op: impl Into<Op>) -> Self {
        self.ops.push(op.into());
        self
    }

    /// Then show `screen`.
    pub fn then(mut self, screen: Screen) -> Self {
        self.go = Some(screen);
        self
    }

    /// Back to the main window.
    pub fn back() -> Self {
        Self::none().then(Screen::Main)
    }
}
