//! Owns the command language: every operation an app asks of a node, as one list. The CLI
//! speaks it as JSON lines (`{"cmd":…}`), the desktop app as values.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::identity::PeerId;
use crate::model::{PageBefore, RelayPolicy};
use crate::node::{ExportFormat, PrivacyMode};
use crate::room::RoomId;
use crate::wire::{Status, TypingState};

/// How long `send` waits, and for what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// Committed to the outbox.
    Queued,
    /// Written to a session.
    Sent,
    /// Sealed in the rendezvous mailbox for an offline peer (ends a wait for delivered or
    /// read: the receipts follow when the peer has it).
    Stored,
    /// Stored by the peer.
    Delivered,
    /// Read by the peer.
    Read,
}

/// A contact's relay choice: a policy of its own, or the global one (`default`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRelay {
    /// Never relay sessions with this contact.
    Never,
    /// Ask before relaying.
    Ask,
    /// Relay without asking (still announced to both sides).
    Always,
    /// Follow the global relay policy.
    Default,
}

impl ContactRelay {
    /// The contact's own policy (`None`: the global one).
    pub fn policy(self) -> Option<RelayPolicy> {
        match self {
            ContactRelay::Never => Some(RelayPolicy::Never),
            ContactRelay::Ask => Some(RelayPolicy::Ask),
            ContactRelay::Always => Some(RelayPolicy::Always),
            ContactRelay::Default => None,
        }
    }
}

/// An answer to a question the node asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YesNo {
    /// Yes.
    Yes,
    /// No.
    No,
}

/// One command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Own PeerId and listening address.
    Id,
    /// Add or update a contact.
    ContactAdd {
        /// Its PeerId.
        id: PeerId,
        /// Nickname.
        #[serde(default)]
        name: Option<String>,
        /// Group.
        #[serde(default)]
        group: Option<String>,
        /// Address to dial.
        #[serde(default)]
        addr: Option<String>,
    },
    /// Add a contact by its `@handle` at the rendezvous.
    ContactAddHandle {
        /// The handle.
        handle: String,
        /// Nickname (default: the handle).
        #[serde(default)]
        name: Option<String>,
        /// Group.
        #[serde(default)]
        group: Option<String>,
    },
    /// Claim `@name` at the rendezvous.
    HandleClaim {
        /// The handle.
        name: String,
    },
    /// Which Natter ID holds `@name`.
    HandleResolve {
        /// The handle.
        name: String,
    },
    /// List contacts.
    ContactList,
    /// Per-contact switches.
    ContactSet {
        /// The contact.
        id: PeerId,
        /// Send typing indicators.
        #[serde(default)]
        typing: Option<bool>,
        /// Send read receipts.
        #[serde(default)]
        receipts: Option<bool>,
        /// Whether a relay may carry sessions with it (`default`: the global policy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<ContactRelay>,
        /// Whether it sees us online while we are invisible.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sees_invisible: Option<bool>,
    },
    /// Show the safety number of a contact; mark it verified or not.
    Verify {
        /// The contact.
        id: PeerId,
        /// Set the level: true verified, false unverified; absent: only show the number.
        #[serde(default)]
        verified: Option<bool>,
    },
    /// Block a peer.
    Block {
        /// The peer.
        id: PeerId,
    },
    /// Unblock a peer.
    Unblock {
        /// The peer.
        id: PeerId,
    },
    /// Show or set the privacy mode.
    Privacy {
        /// New mode.
        #[serde(default)]
        mode: Option<PrivacyMode>,
    },
    /// List message requests.
    Requests,
    /// Accept a request.
    Accept {
        /// The stranger.
        id: PeerId,
    },
    /// Send a message.
    Send {
        /// To whom.
        id: PeerId,
        /// Text.
        text: String,
        /// What to wait for before answering.
        #[serde(default)]
        wait: Option<Wait>,
        /// Seconds to wait.
        #[serde(default)]
        timeout: Option<f64>,
    },
    /// Tell a contact our typing state.
    Typing {
        /// The contact.
        id: PeerId,
        /// State.
        state: TypingState,
    },
    /// Mark a conversation read.
    Read {
        /// The contact.
        id: PeerId,
    },
    /// Set our presence.
    Presence {
        /// Status.
        status: Status,
        /// Status text.
        #[serde(default)]
        text: String,
    },
    /// Conversation history: the newest page, or the page before a message.
    History {
        /// The contact.
        id: PeerId,
        /// Most messages.
        #[serde(default)]
        limit: Option<usize>,
        /// Only messages before this one (`{"ts_ms":…,"id":…}`, from the oldest shown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<PageBefore>,
    },
    /// Full-text search.
    Search {
        /// Words.
        text: String,
        /// Most results.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Peers seen on the LAN.
    Nearby,
    /// Offer a file to a contact.
    SendFile {
        /// To whom.
        id: PeerId,
        /// The file.
        path: PathBuf,
        /// Name to offer (default: the file's name).
        #[serde(default)]
        name: Option<String>,
        /// Wait until the receiver confirms it arrived intact.
        #[serde(default)]
        wait: bool,
        /// Seconds to wait.
        #[serde(default)]
        timeout: Option<f64>,
    },
    /// List transfers.
    Transfers,
    /// Accept an offered file.
    AcceptFile {
        /// The sender.
        id: PeerId,
        /// The file id.
        file_id: String,
    },
    /// Decline an offered file.
    DeclineFile {
        /// The sender.
        id: PeerId,
        /// The file id.
        file_id: String,
    },
    /// Cancel a transfer.
    CancelFile {
        /// The file id.
        file_id: String,
    },
    /// Accept files from a contact automatically up to a size (None: off).
    AutoAccept {
        /// The contact.
        id: PeerId,
        /// Largest size in bytes.
        #[serde(default)]
        bytes: Option<u64>,
    },
    /// Set a contact's nickname and group exactly (empty clears them).
    Rename {
        /// The contact.
        id: PeerId,
        /// Nickname.
        #[serde(default)]
        name: String,
        /// Group.
        #[serde(default)]
        group: String,
    },
    /// The block list.
    BlockList,
    /// Delete the history with a peer on this device (theirs is untouched).
    DeleteHistory {
        /// The peer.
        id: PeerId,
    },
    /// Write all history to a new file (default: the downloads folder); an existing file is
    /// never overwritten.
    ExportHistory {
        /// `json` (one object per line) or `text`.
        #[serde(default)]
        format: ExportFormat,
        /// Where (default: `natter-history-YYYY-MM-DD-HHMMSS.jsonl` or `.txt` in the
        /// downloads folder, numbered if taken; the answer says which).
        #[serde(default)]
        path: Option<PathBuf>,
        /// One conversation only (default: every conversation, then every room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<PeerId>,
    },
    /// Back the identity key up to a new file only the user can read (default: the
    /// downloads folder); an existing file is never overwritten. Whoever holds it can be you.
    ExportIdentity {
        /// Where (default: `natter-identity-backup-YYYY-MM-DD-HHMMSS.pem` in the downloads
        /// folder, numbered if taken; the answer says which).
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// Show an app preference, or save it.
    Preference {
        /// Its name (`name`, `theme`, `advertise`…).
        name: String,
        /// New value; absent: only show it.
        #[serde(default)]
        value: Option<String>,
    },
    /// The live sessions' paths and the punch counters.
    Paths,
    /// Show or set the global relay policy (`never`, `ask`, `always`).
    RelayPolicy {
        /// New policy; absent: only show it.
        #[serde(default)]
        policy: Option<RelayPolicy>,
    },
    /// Answer a `relay_consent` prompt for a contact.
    RelayConsent {
        /// The contact.
        id: PeerId,
        /// `yes` or `no`.
        answer: YesNo,
    },
    /// Create a room (we are its only member and admin): private, or public (anyone may
    /// join; listed once published).
    RoomCreate {
        /// Its name.
        name: String,
        /// Its topic.
        #[serde(default)]
        topic: Option<String>,
        /// A public room (added with public rooms; default private).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        public: bool,
        /// Contacts invited at once (a one-to-one conversation becomes a room by inviting
        /// its contact and a new person).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        invite: Vec<PeerId>,
    },
    /// Invite a contact to a room (we must be an admin).
    RoomInvite {
        /// The room.
        room: RoomId,
        /// The contact.
        id: PeerId,
    },
    /// Accept an invitation.
    RoomAccept {
        /// The room.
        room: RoomId,
    },
    /// Decline an invitation.
    RoomDecline {
        /// The room.
        room: RoomId,
    },
    /// Send a message to a room.
    RoomSend {
        /// The room.
        room: RoomId,
        /// Text.
        text: String,
    },
    /// A room's messages, in the order every member shows them.
    RoomHistory {
        /// The room.
        room: RoomId,
        /// Most messages (the newest).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// A room's members, their roles and who is connected now.
    RoomMembers {
        /// The room.
        room: RoomId,
    },
    /// Leave a room.
    RoomLeave {
        /// The room.
        room: RoomId,
    },
    /// Remove a member from a room (we must be an admin).
    RoomRemove {
        /// The room.
        room: RoomId,
        /// The member.
        id: PeerId,
    },
    /// Every room: joined, invited, left.
    RoomList,
    /// Full-text search over the rooms' messages, newest first.
    RoomSearch {
        /// Words (the last one may be the start of a word).
        text: String,
        /// Most results.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Delete a room's messages on this device (the other members keep theirs; we stay in
    /// the room).
    RoomDeleteHistory {
        /// The room.
        room: RoomId,
    },
    /// List a public room of ours on the LAN and in the rendezvous's directory (its creator
    /// only), or stop listing it (`off`).
    RoomPublish {
        /// The room.
        room: RoomId,
        /// Stop listing it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        off: bool,
    },
    /// Public rooms listed on the LAN now.
    RoomNearby,
    /// Search the rendezvous's room directory (name, topic or room id; none: the largest).
    RoomDirectory {
        /// The text to look for.
        #[serde(default)]
        query: Option<String>,
        /// Most results (at most 50).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Ask to join a public room seen nearby or in the directory; waits up to 30 s for its
    /// creator's answer.
    RoomJoin {
        /// The room.
        room: RoomId,
    },
    /// Ban a key from a room (we must be an admin): removed, and not let in again.
    RoomBan {
        /// The room.
        room: RoomId,
        /// The key.
        id: PeerId,
    },
    /// Lift a ban (we must be an admin): the key may ask to join again.
    RoomUnban {
        /// The room.
        room: RoomId,
        /// The key.
        id: PeerId,
    },
    /// Ask the app running this node to show its window (a second start of the desktop app
    /// hands its `natter://` link over this way); the node emits `show_requested`.
    Show {
        /// A `natter://add/<ID>` link to open, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// Stop the node.
    Shutdown,
}

impl Command {
    /// Send a message and answer once it is queued.
    pub fn send(id: PeerId, text: String) -> Self {
        Command::Send {
            id,
            text,
            wait: None,
            timeout: None,
        }
    }

    /// A page of history: the newest, or the one before a message.
    pub fn history(id: PeerId, limit: usize, before: Option<PageBefore>) -> Self {
        Command::History {
            id,
            limit: Some(limit),
            before,
        }
    }

    /// Whether a node started just for this command should dial contacts.
    pub fn needs_network(&self) -> bool {
        matches!(
            self,
            Command::Send { .. }
                | Command::Typing { .. }
                | Command::Read { .. }
                | Command::ContactAddHandle { .. }
                | Command::HandleClaim { .. }
                | Command::HandleResolve { .. }
                | Command::RelayConsent { .. }
                | Command::RoomInvite { .. }
                | Command::RoomAccept { .. }
                | Command::RoomDecline { .. }
                | Command::RoomSend { .. }
                | Command::RoomLeave { .. }
                | Command::RoomRemove { .. }
        )
    }
}
