//! natter-cli's `room` subcommands, mapped onto the library's room commands.

use clap::Subcommand;
use natter::PeerId;
use natter::control::Command;
use natter::room::RoomId;

#[derive(Subcommand)]
pub(crate) enum RoomCmd {
    /// Create a room: you are its only member and admin (`--json`: `{"room_id": …}`).
    /// Private (invitation only, end-to-end encrypted) unless `--public`.
    Create {
        name: String,
        #[arg(long)]
        topic: Option<String>,
        /// Anyone may join (you let them in; ban by key); messages are signed, not secret.
        /// List it with `room publish`.
        #[arg(long)]
        public: bool,
        /// Contacts to invite at once (repeat it; a one-to-one chat becomes a room by
        /// inviting that contact and a new person).
        #[arg(long = "invite")]
        invite: Vec<PeerId>,
    },
    /// Invite a contact (you must be an admin); it reads what is sent from now on.
    Invite { room: RoomId, peer: PeerId },
    /// Accept an invitation (it waits until you do).
    Accept { room: RoomId },
    /// Decline an invitation.
    Decline { room: RoomId },
    /// Send a message to the room.
    Send { room: RoomId, text: String },
    /// The room's messages, in the order every member sees them.
    History {
        room: RoomId,
        /// Most messages (the newest).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// The members, their roles and who is connected now.
    Members { room: RoomId },
    /// Leave the room; every remaining member turns over its key.
    Leave { room: RoomId },
    /// Remove a member (you must be an admin); it reads nothing sent after.
    Remove { room: RoomId, peer: PeerId },
    /// Every room: joined, invited, left.
    List,
    /// Search the rooms' messages (newest first).
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Delete the room's messages on this device (the others keep theirs; you stay in it).
    DeleteHistory { room: RoomId },
    /// List a public room you created on your network and in your rendezvous's directory
    /// (renewed while Natter runs; `--off` stops).
    Publish {
        room: RoomId,
        /// Stop listing it.
        #[arg(long)]
        off: bool,
    },
    /// Public rooms listed on your network now.
    Nearby,
    /// Search your rendezvous's directory of public rooms (name, topic or room id).
    Directory {
        query: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Ask to join a public room seen nearby or in the directory (waits up to 30 s for its
    /// creator to let you in).
    Join { room: RoomId },
    /// Ban someone from a room (you must be an admin): removed, and not let in again.
    Ban { room: RoomId, peer: PeerId },
    /// Lift a ban (you must be an admin): they may ask to join again.
    Unban { room: RoomId, peer: PeerId },
}

impl From<RoomCmd> for Command {
    fn from(c: RoomCmd) -> Self {
        match c {
            RoomCmd::Create {
                name,
                topic,
                invite,
                public,
            } => Command::RoomCreate {
                name,
                topic,
                invite,
                public,
            },
            RoomCmd::Invite { room, peer } => Command::RoomInvite { room, id: peer },
            RoomCmd::Accept { room } => Command::RoomAccept { room },
            RoomCmd::Decline { room } => Command::RoomDecline { room },
            RoomCmd::Send { room, text } => Command::RoomSend { room, text },
            RoomCmd::History { room, limit } => Command::RoomHistory { room, limit },
            RoomCmd::Members { room } => Command::RoomMembers { room },
            RoomCmd::Leave { room } => Command::RoomLeave { room },
            RoomCmd::Remove { room, peer } => Command::RoomRemove { room, id: peer },
            RoomCmd::List => Command::RoomList,
            RoomCmd::Search { text, limit } => Command::RoomSearch {
                text,
                limit: Some(limit),
            },
            RoomCmd::DeleteHistory { room } => Command::RoomDeleteHistory { room },
            RoomCmd::Publish { room, off } => Command::RoomPublish { room, off },
            RoomCmd::Nearby => Command::RoomNearby,
            RoomCmd::Directory { query, limit } => Command::RoomDirectory {
                query,
                limit: Some(limit),
            },
            RoomCmd::Join { room } => Command::RoomJoin { room },
            RoomCmd::Ban { room, peer } => Command::RoomBan { room, id: peer },
            RoomCmd::Unban { room, peer } => Command::RoomUnban { room, id: peer },
        }
    }
}
