//! natter-cli's arguments: the clap grammar and the mapping of each subcommand onto the
//! library's command language (the value enums are in `values.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use natter::PeerId;
use natter::control::{Command, YesNo};

use crate::values::{
    ContactRelayArg, ExportArg, InterfacesArg, Limit, PrivacyArg, RelayArg, StatusArg, TypingArg,
    WaitArg, YesNoArg, auto_accept_limit,
};

/// The port `run` listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:47100";

#[derive(Parser)]
#[command(
    name = "natter-cli",
    version = natter::VERSION,
    about = "Natter, the peer-to-peer messenger, from the command line"
)]
pub(crate) struct Cli {
    /// Profile folder (identity, database, control socket).
    #[arg(long, global = true, env = "NATTER_PROFILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Config file (default: config.toml in the config folder, ~/.config/natter). Flags and
    /// the environment come before it.
    #[arg(long, global = true, env = "NATTER_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print answers as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No LAN discovery (mDNS): neither advertise nor browse.
    #[arg(long, global = true)]
    pub(crate) no_mdns: bool,
    /// Folder for received files (default: Downloads/Natter).
    #[arg(long, global = true)]
    pub(crate) downloads: Option<PathBuf>,
    /// Interfaces for mDNS: real LAN adapters only (the default), loopback only, or all.
    #[arg(long, global = true, value_enum)]
    pub(crate) mdns_interfaces: Option<InterfacesArg>,
    /// Rendezvous server (host:port) to register with and find contacts through.
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS",
        requires = "rendezvous_key"
    )]
    pub(crate) rendezvous: Option<SocketAddr>,
    /// The rendezvous server's key, as `natter-rendezvous` printed it.
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS_KEY",
        requires = "rendezvous"
    )]
    pub(crate) rendezvous_key: Option<PeerId>,
    /// The rendezvous server's TCP address, tried when no UDP gets out (default: the same
    /// host, port 443).
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS_TCP",
        requires = "rendezvous"
    )]
    pub(crate) rendezvous_tcp: Option<SocketAddr>,
    /// More addresses of the same rendezvous deployment (nodes presenting the same key),
    /// tried in turn when the first cannot be reached; repeat the flag or separate by commas.
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS_ALSO",
        value_delimiter = ',',
        requires = "rendezvous"
    )]
    pub(crate) rendezvous_also: Vec<SocketAddr>,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Print your Natter ID (creates the identity on first use).
    Id,
    /// Run a node in the foreground: JSON events on stdout, JSON commands on stdin.
    Run {
        /// UDP address to listen on (default: the config file's, else 0.0.0.0:47100).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Browse only: do not publish this node on the LAN.
        #[arg(long)]
        no_advertise: bool,
        /// Display name published on the LAN (none by default, for privacy).
        #[arg(long)]
        name: Option<String>,
        /// How long a listing of your public rooms lasts unless renewed, in seconds (it is
        /// renewed every third of it while the node runs; default 300).
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(3..=600))]
        listing_secs: u64,
    },
    /// Peers seen on the LAN.
    Nearby,
    /// Live sessions: how each reaches its peer (lan, direct, relayed) and where to.
    Paths,
    /// Show or set whether a relay may carry sessions no direct path reaches (default: ask).
    RelayPolicy { policy: Option<RelayArg> },
    /// Answer a relay prompt (`relay_consent` event) for a contact.
    RelayConsent { id: PeerId, answer: YesNoArg },
    /// Explain why no peers are visible on the LAN, and what to try.
    Doctor,
    /// Manage contacts.
    #[command(subcommand)]
    Contact(ContactCmd),
    /// `@handles` at the rendezvous: a name to share instead of your ID.
    #[command(subcommand)]
    Handle(HandleCmd),
    /// Rooms: private, invitation only, end-to-end encrypted.
    #[command(subcommand)]
    Room(super::room_args::RoomCmd),
    /// Block a peer: refused right after the handshake, silently.
    Block { id: PeerId },
    /// Unblock a peer.
    Unblock { id: PeerId },
    /// Show or set who may open a session with you.
    Privacy { mode: Option<PrivacyArg> },
    /// List strangers waiting in the requests inbox.
    Requests,
    /// Accept a request: the stranger becomes a contact.
    Accept { id: PeerId },
    /// Send a message.
    Send {
        id: PeerId,
        text: String,
        /// What to wait for.
        #[arg(long, value_enum, default_value = "queued")]
        wait: WaitArg,
        /// Seconds to wait.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Tell a contact you are typing (typing, paused, erased, idle).
    Typing { id: PeerId, state: TypingArg },
    /// Mark a conversation read (sends a read receipt if enabled).
    Read { id: PeerId },
    /// Set your presence (online, away, busy) and status text.
    Presence {
        status: StatusArg,
        text: Option<String>,
    },
    /// Show a conversation.
    History {
        id: PeerId,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Search all history.
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Offer a file to a contact (it waits until they are reachable).
    SendFile {
        id: PeerId,
        path: PathBuf,
        /// Name to offer instead of the file's own.
        #[arg(long)]
        name: Option<String>,
        /// `done`: wait until the receiver confirms the file arrived intact.
        #[arg(long)]
        wait: Option<FileWait>,
        /// Seconds to wait.
        #[arg(long, default_value_t = 600.0)]
        timeout: f64,
    },
    /// List file transfers.
    Transfers,
    /// Accept a file offered by ID.
    AcceptFile { id: PeerId, file_id: String },
    /// Decline a file offered by ID.
    DeclineFile { id: PeerId, file_id: String },
    /// Cancel a transfer (either direction).
    CancelFile { file_id: String },
    /// Raise the running app's window (opening a natter://add/<ID> link, if given).
    Show { link: Option<String> },
    /// Export history to a new file: one conversation, or every conversation and room.
    Export {
        /// Only the conversation with this contact.
        id: Option<PeerId>,
        /// JSON lines, or readable text.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportArg,
        /// The file to create (default: a new one in the downloads folder); never
        /// overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script: `source <(natter-cli completions bash)`.
    Completions { shell: clap_complete::Shell },
    /// Print natter-cli's manual page (roff), as the packages install it.
    #[command(hide = true)]
    ManPage,
    /// Stop the running node.
    Stop,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FileWait {
    /// The receiver has the file, hash checked.
    Done,
}

#[derive(Subcommand)]
pub(crate) enum HandleCmd {
    /// Claim @NAME for your key (first come; one per key).
    Claim { name: String },
    /// Print the Natter ID holding @NAME.
    Resolve { name: String },
}

/// A contact named by ID or by `@handle`.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Id(PeerId),
    Handle(String),
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().starts_with('@') {
            return Ok(Target::Handle(s.trim().to_string()));
        }
        s.parse::<PeerId>()
            .map(Target::Id)
            .map_err(|e| format!("{e} (or give an @handle)"))
    }
}

#[derive(Subcommand)]
pub(crate) enum ContactCmd {
    /// Add a contact (pins its key): a Natter ID, or an `@handle` at the rendezvous.
    Add {
        id: Target,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        group: Option<String>,
        /// Address to dial, HOST:PORT.
        #[arg(long)]
        addr: Option<String>,
    },
    /// List contacts.
    List,
    /// Accept files from a contact automatically up to a size (50MB, 1.5GB, 700KiB, bytes)
    /// or `off`.
    AutoAccept {
        id: PeerId,
        #[arg(value_parser = auto_accept_limit)]
        limit: Limit,
    },
    /// Show the safety number to compare in person; `--mark` once it matches.
    Verify {
        id: PeerId,
        /// Mark the contact verified.
        #[arg(long, conflicts_with = "unmark")]
        mark: bool,
        /// Mark the contact unverified again.
        #[arg(long)]
        unmark: bool,
    },
    /// Per-contact switches.
    Set {
        id: PeerId,
        #[arg(long)]
        typing: Option<bool>,
        #[arg(long)]
        receipts: Option<bool>,
        /// Whether a relay may carry sessions with this contact (default: the global policy).
        #[arg(long, value_enum)]
        relay: Option<ContactRelayArg>,
        /// Whether this contact sees you online while you are invisible.
        #[arg(long)]
        sees_invisible: Option<bool>,
    },
}

/// The command language's form of a subcommand (`run` and `doctor` are not commands).
pub(crate) fn to_command(cmd: Cmd) -> Command {
    match cmd {
        Cmd::Id => Command::Id,
        Cmd::Contact(ContactCmd::Add {
            id: Target::Id(id),
            name,
            group,
            addr,
        }) => Command::ContactAdd {
            id,
            name,
            group,
            addr,
        },
        Cmd::Contact(ContactCmd::Add {
            id: Target::Handle(handle),
            name,
            group,
            ..
        }) => Command::ContactAddHandle {
            handle,
            name,
            group,
        },
        Cmd::Handle(HandleCmd::Claim { name }) => Command::HandleClaim { name },
        Cmd::Handle(HandleCmd::Resolve { name }) => Command::HandleResolve { name },
        Cmd::Contact(ContactCmd::List) => Command::ContactList,
        Cmd::Contact(ContactCmd::Verify { id, mark, unmark }) => Command::Verify {
            id,
            verified: (mark || unmark).then_some(mark),
        },
        Cmd::Contact(ContactCmd::Set {
            id,
            typing,
            receipts,
            relay,
            sees_invisible,
        }) => Command::ContactSet {
            id,
            typing,
            receipts,
            relay: relay.map(Into::into),
            sees_invisible,
        },
        Cmd::Room(r) => r.into(),
        Cmd::Block { id } => Command::Block { id },
        Cmd::Unblock { id } => Command::Unblock { id },
        Cmd::Privacy { mode } => Command::Privacy {
            mode: mode.map(Into::into),
        },
        Cmd::Requests => Command::Requests,
        Cmd::Accept { id } => Command::Accept { id },
        Cmd::Send {
            id,
            text,
            wait,
            timeout,
        } => Command::Send {
            id,
            text,
            wait: Some(wait.into()),
            timeout: Some(timeout),
        },
        Cmd::Typing { id, state } => Command::Typing {
            id,
            state: state.into(),
        },
        Cmd::Read { id } => Command::Read { id },
        Cmd::Presence { status, text } => Command::Presence {
            status: status.into(),
            text: text.unwrap_or_default(),
        },
        Cmd::History { id, limit } => Command::History {
            before: None,
            id,
            limit: Some(limit),
        },
        Cmd::Search { text, limit } => Command::Search {
            text,
            limit: Some(limit),
        },
        Cmd::Stop => Command::Shutdown,
        Cmd::Show { link } => Command::Show { link },
        Cmd::Export { id, format, out } => Command::ExportHistory {
            format: match format {
                ExportArg::Json => natter::node::ExportFormat::Json,
                ExportArg::Text => natter::node::ExportFormat::Text,
            },
            // The running node may work in another folder: the path goes whole.
            path: out.map(|p| std::path::absolute(&p).unwrap_or(p)),
            id,
        },
        Cmd::Nearby => Command::Nearby,
        Cmd::Paths => Command::Paths,
        Cmd::RelayPolicy { policy } => Command::RelayPolicy {
            policy: policy.map(Into::into),
        },
        Cmd::RelayConsent { id, answer } => Command::RelayConsent {
            id,
            answer: match answer {
                YesNoArg::Yes => YesNo::Yes,
                YesNoArg::No => YesNo::No,
            },
        },
        Cmd::SendFile {
            id,
            path,
            name,
            wait,
            timeout,
        } => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            Command::SendFile {
                id,
                path,
                name,
                wait: wait.is_some(),
                timeout: Some(timeout),
            }
        }
        Cmd::Transfers => Command::Transfers,
        Cmd::AcceptFile { id, file_id } => Command::AcceptFile { id, file_id },
        Cmd::DeclineFile { id, file_id } => Command::DeclineFile { id, file_id },
        Cmd::CancelFile { file_id } => Command::CancelFile { file_id },
        Cmd::Contact(ContactCmd::AutoAccept { id, limit }) => {
            Command::AutoAccept { id, bytes: limit.0 }
        }
        Cmd::Run { .. } | Cmd::Doctor | Cmd::Completions { .. } | Cmd::ManPage => Command::Id,
    }
}
