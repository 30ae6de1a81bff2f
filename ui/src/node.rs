//! Owns the app's side of the node: starting it, turning its events into a stream, and running
//! the operations `update` asks for.

use std::fmt;
use std::path::PathBuf;

use iced::futures::{SinkExt, Stream};
use natter::PeerId;
use natter::control::{self, Answer, Command, ControlError};
use natter::discovery::DiscoveryConfig;
use natter::model::RelayPolicy;
use natter::node::{NodeConfig, NodeHandle, PrivacyMode};

use crate::Message;
use crate::theme::Choice;

/// A cheap, cloneable handle on the running node.
#[derive(Clone)]
pub struct Node(pub NodeHandle);

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({:?})", self.0.peer_id())
    }
}

/// A node operation `update` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A command of the node's command language (the one `natter-cli` speaks); its answer
    /// comes back as [`Message::Answered`].
    Node(Command),
    /// Load preferences, privacy mode, relay policy and block list.
    Prefs,
    /// Put text on the clipboard (the app does this itself; no node involved).
    Copy(String),
    /// Show a desktop notification: a title and a body as the peer wrote them (made safe
    /// for the notification server when shown, `natter::text::for_notification`), and the
    /// conversation a click opens.
    Notify(crate::desktop::notices::Note),
    /// Put the keyboard focus in a field (the app does this itself; no node involved).
    Focus(&'static str),
    /// Open, close or raise the window, or quit (the app does this itself).
    Desktop(crate::desktop::Do),
    /// Ask the desktop's file chooser for a file to send to the open conversation.
    PickFile,
    /// Ask where to save, then export all history there (`export_history`).
    Export(natter::node::ExportFormat),
    /// Open a link from a message in the desktop's browser (or mail app): `http`, `https`
    /// and `mailto` only (`links::openable`).
    OpenLink(String),
    /// Scroll the history to the newest message (the app does this itself).
    ToNewest,
    /// Open a file with the desktop's application for it, or show it in its folder.
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// Show it in the file manager instead of opening it.
        reveal: bool,
    },
}

/// Saves an app preference.
pub fn save(name: &str, value: &str) -> Command {
    Command::Preference {
        name: name.to_string(),
        value: Some(value.to_string()),
    }
}

impl From<Command> for Op {
    fn from(c: Command) -> Self {
        Op::Node(c)
    }
}

/// What the app keeps in the profile, with the node's privacy mode, relay policy and block
/// list.
#[derive(Debug, Clone)]
pub struct Prefs {
    /// Read from the node (false until the first load).
    pub loaded: bool,
    /// The first-start screen was passed.
    pub onboarded: bool,
    /// Display name.
    pub name: String,
    /// Theme.
    pub theme: Choice,
    /// Desktop notifications.
    pub notifications: bool,
    /// A message's text shown in its notification (else only who wrote, and how many).
    pub notification_text: bool,
    /// Advertise on the LAN.
    pub advertise: bool,
    /// Rendezvous `HOST:PORT` and key as saved.
    pub rendezvous: (String, String),
    /// The node's global relay policy: whether a relay may carry a session when no direct
    /// path exists (contacts with a choice of their own follow theirs).
    pub relay: RelayPolicy,
    /// The UDP port saved to listen on (empty: the default, 47100).
    pub port: String,
    /// Who may open a session.
    pub privacy: PrivacyMode,
    /// Our presence as the node keeps it (restored at start: invisible stays invisible).
    pub presence: (natter::model::Status, String),
    /// Blocked peers.
    pub blocked: Vec<PeerId>,
    /// The profile folder.
    pub profile: PathBuf,
    /// Where files and exports go.
    pub downloads: PathBuf,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            loaded: false,
            onboarded: false,
            name: String::new(),
            theme: Choice::System,
            notifications: true,
            notification_text: true,
            advertise: true,
            rendezvous: Default::default(),
            relay: RelayPolicy::default(),
            port: String::new(),
            privacy: PrivacyMode::Requests,
            presence: Default::default(),
            blocked: Vec::new(),
            profile: PathBuf::new(),
            downloads: PathBuf::new(),
        }
    }
}

impl Prefs {
    /// Takes in one saved preference (as loaded, or as the node says it changed).
    pub fn apply(&mut self, name: &str, value: &str) {
        match name {
            pref::ONBOARDED => self.onboarded = true,
            pref::NAME => self.name = value.to_string(),
            pref::THEME => self.theme = Choice::parse(value),
            pref::NOTIFICATIONS => self.notifications = value != "off",
            pref::NOTIFICATION_TEXT => self.notification_text = value != "off",
            pref::ADVERTISE => self.advertise = value != "off",
            pref::RENDEZVOUS => self.rendezvous.0 = value.to_string(),
            pref::RENDEZVOUS_KEY => self.rendezvous.1 = value.to_string(),
            pref::PORT => self.port = value.to_string(),
            _ => {}
        }
    }
}

/// App preference names (the node keeps them in its settings table).
pub mod pref {
    /// Set once the first-start screen is done.
    pub const ONBOARDED: &str = "onboarded";
    /// `system`, `light` or `dark`.
    pub const THEME: &str = "theme";
    /// `on` / `off`.
    pub const NOTIFICATIONS: &str = "notifications";
    /// `on` / `off`: a message's text in its notification.
    pub const NOTIFICATION_TEXT: &str = "notification_text";
    pub use natter::node::{PREF_ADVERTISE as ADVERTISE, PREF_NAME as NAME, PREF_PORT as PORT};
    pub use natter::node::{PREF_RENDEZVOUS as RENDEZVOUS, PREF_RENDEZVOUS_KEY as RENDEZVOUS_KEY};

    /// Every name the app reads at start.
    pub const ALL: [&str; 9] = [
        ONBOARDED,
        NAME,
        THEME,
        NOTIFICATIONS,
        NOTIFICATION_TEXT,
        ADVERTISE,
        RENDEZVOUS,
        RENDEZVOUS_KEY,
        PORT,
    ];
}

/// The profile folder: `NATTER_PROFILE`, else the platform data folder.
pub(crate) fn profile() -> PathBuf {
    natter::profile::resolve().unwrap_or_else(|| PathBuf::from(".natter"))
}

/// The node's configuration, in the one order: the environment (`NATTER_LISTEN`,
/// `NATTER_MDNS` = `off` | `lan` | `loopback` | `all`, `NATTER_RENDEZVOUS` with
/// `NATTER_RENDEZVOUS_KEY`), else the config file (`natter::config`), else what the user set
/// in the app (the port and rendezvous saved in Settings, read by the node), else the
/// defaults (LAN discovery on; UDP port 47100, or the next free one after it). A value that
/// is not one is an error that says which, never ignored.
pub(crate) fn config(profile: PathBuf) -> Result<NodeConfig, String> {
    let file = natter::config::load_default().map_err(|e| e.to_string())?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let bad = |name: &str, value: &str, like: &str| {
        format!("{name}={value:?} is not {like}: fix or unset it")
    };
    let mut c = NodeConfig::new(profile);
    c.listen = std::net::SocketAddr::from(([0, 0, 0, 0], natter::node::DEFAULT_PORT));
    c.stable_port = true;
    let listen = match env("NATTER_LISTEN") {
        Some(v) => Some(
            v.parse()
                .map_err(|_| bad("NATTER_LISTEN", &v, "an address like 0.0.0.0:47100"))?,
        ),
        None => file.listen,
    };
    if let Some(addr) = listen {
        // Exactly this address: the user said so.
        c.listen = addr;
        c.stable_port = false;
    }
    let lan = match env("NATTER_MDNS") {
        Some(v) => Some(
            natter::config::LanDiscovery::parse(&v)
                .map_err(|_| bad("NATTER_MDNS", &v, "one of off, lan, loopback, all"))?,
        ),
        None => file.lan_discovery,
    };
    if let Some(lan) = lan {
        c.discovery = lan.interfaces().map(|interfaces| DiscoveryConfig {
            interfaces,
            ..DiscoveryConfig::default()
        });
    }
    let server = match (env("NATTER_RENDEZVOUS"), env("NATTER_RENDEZVOUS_KEY")) {
        (Some(a), Some(k)) => Some((
            a.parse()
                .map_err(|_| bad("NATTER_RENDEZVOUS", &a, "an address like 192.0.2.7:47300"))?,
            k.parse()
                .map_err(|_| bad("NATTER_RENDEZVOUS_KEY", &k, "a server key"))?,
        )),
        (None, None) => file.rendezvous.zip(file.rendezvous_key),
        _ => {
            return Err(
                "NATTER_RENDEZVOUS and NATTER_RENDEZVOUS_KEY go together: set both or neither"
                    .into(),
            );
        }
    };
    c.rendezvous = server.map(|(addr, key)| {
        let mut r = natter::rendezvous::RendezvousConfig::new(addr, key);
        r.tcp = file.rendezvous_tcp.or(r.tcp);
        if file.rendezvous.is_some_and(|a| a == addr) {
            r.also = file.rendezvous_also.clone();
        }
        r
    });
    c.downloads = file.downloads;
    c.relay_policy = file.relay;
    Ok(c)
}

/// Starts the node for a profile and streams its events as messages. (`&PathBuf`: the
/// subscription's data must be an owned, hashable value.)
#[allow(clippy::ptr_arg)]
pub(crate) fn events(profile: &PathBuf) -> impl Stream<Item = Message> + use<> {
    let profile = profile.clone();
    iced::stream::channel(256, async move |mut out| {
        let started = match config(profile) {
            Ok(c) => natter::Node::start(c).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let (handle, mut events) = match started {
            Ok(v) => v,
            Err(e) => {
                let _ = out.send(Message::Booted(Err(e))).await;
                return;
            }
        };
        // One instance per profile: `natter-cli` and a second start reach this app.
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        crate::desktop::instance::serve(&handle, stop.clone());
        let _ = out.send(Message::Booted(Ok(Node(handle)))).await;
        loop {
            let received = tokio::select! {
                e = events.recv() => e,
                () = stop.notified() => {
                    // `natter-cli stop`: the app quits as if chosen from the tray.
                    let _ = out.send(Message::Desktop(crate::desktop::Message::Quit)).await;
                    continue;
                }
            };
            match received {
                Ok(e) => {
                    if out.send(Message::Node(e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Events were missed: read again what they would have changed.
                    if out.send(Message::Lagged).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
}

fn failed(e: impl fmt::Display) -> Message {
    Message::Failed(e.to_string())
}

/// Runs one operation against the node; the answer is the next message.
pub async fn run_op(node: Node, op: Op) -> Message {
    let n = node.0;
    match op {
        Op::Node(cmd) => match control::execute(&n, cmd.clone()).await {
            Ok(answer) => Message::Answered(cmd, answer),
            Err(e) => failed(e),
        },
        Op::Prefs => match load_prefs(&n).await {
            Ok(p) => Message::Prefs(Box::new(p)),
            Err(e) => failed(e),
        },
        Op::Copy(_) | Op::Focus(_) | Op::Desktop(_) | Op::ToNewest => Message::Done,
        Op::OpenLink(link) => match crate::desktop::files::open_link(&link).await {
            Ok(()) => Message::Done,
            Err(e) => Message::Failed(e),
        },
        Op::PickFile if !crate::desktop::files::chooser_available().await => failed(
            "This desktop has no file chooser (no XDG desktop portal, no zenity): drop the \
             file on the window to send it.",
        ),
        Op::PickFile => match crate::desktop::files::pick("Send a file").await {
            Some(path) => Message::FileDropped(path),
            None => Message::Done,
        },
        Op::Export(format) => {
            let name = format!(
                "natter-history-{}.{}",
                natter::dates::stamp(natter::dates::now_ms()),
                format.extension()
            );
            // Where no dialog can ask, the export goes to the downloads folder (the answer
            // says where, as before there was a dialog).
            let path = match crate::desktop::files::chooser_available().await {
                true => {
                    let chosen =
                        crate::desktop::files::save_as("Export history", n.downloads(), &name);
                    match chosen.await {
                        Some(path) => Some(path),
                        None => return Message::Done,
                    }
                }
                false => None,
            };
            let cmd = Command::ExportHistory {
                format,
                path,
                id: None,
            };
            match control::execute(&n, cmd.clone()).await {
                Ok(answer) => Message::Answered(cmd, answer),
                Err(e) => failed(e),
            }
        }
        Op::Open { path, reveal } => match crate::desktop::files::open(path, reveal).await {
            Ok(()) => Message::Done,
            Err(e) => Message::Failed(e),
        },
        Op::Notify(note) => match crate::desktop::notices::show(&note).await.zip(note.opens) {
            Some((id, opens)) => Message::Desktop(crate::desktop::Message::Noted(id, opens)),
            None => Message::Done,
        },
    }
}

/// Messages per history page.
pub const PAGE: usize = 200;

/// The preferences, privacy mode, relay policy and block list, read with the node's own
/// commands.
async fn load_prefs(n: &NodeHandle) -> Result<Prefs, ControlError> {
    let mut prefs = Prefs {
        loaded: true,
        profile: n.profile().to_path_buf(),
        downloads: n.downloads().to_path_buf(),
        ..Prefs::default()
    };
    for name in pref::ALL {
        let read = Command::Preference {
            name: name.to_string(),
            value: None,
        };
        if let Answer::Preference {
            value: Some(value), ..
        } = control::execute(n, read).await?
        {
            prefs.apply(name, &value);
        }
    }
    if let Answer::Privacy { privacy } =
        control::execute(n, Command::Privacy { mode: None }).await?
    {
        prefs.privacy = privacy;
    }
    if let Answer::RelayPolicy { relay_policy } =
        control::execute(n, Command::RelayPolicy { policy: None }).await?
    {
        prefs.relay = relay_policy;
    }
    if let Answer::BlockList { blocked } = control::execute(n, Command::BlockList).await? {
        prefs.blocked = blocked;
    }
    prefs.presence = n.presence().await.map_err(ControlError::from)?;
    Ok(prefs)
}
