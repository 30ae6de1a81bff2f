//! natter-cli: the headless Natter client. Argument parsing only; the work is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use natter::control::{self, Command, Wait};
use natter::discovery::{DiscoveryConfig, Interfaces, doctor};
use natter::node::{Node, NodeConfig, PrivacyMode};
use natter::wire::{Status, TypingState};
use natter::{Identity, PeerId};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Notify;

/// The port `run` listens on unless told otherwise.
const DEFAULT_LISTEN: &str = "0.0.0.0:47100";

#[derive(Parser)]
#[command(
    name = "natter-cli",
    version = natter::VERSION,
    about = "Natter, the peer-to-peer messenger, from the command line"
)]
struct Cli {
    /// Profile folder (identity, database, control socket).
    #[arg(long, global = true, env = "NATTER_PROFILE")]
    profile: Option<PathBuf>,
    /// Print answers as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// No LAN discovery (mDNS): neither advertise nor browse.
    #[arg(long, global = true)]
    no_mdns: bool,
    /// Folder for received files (default: Downloads/Natter).
    #[arg(long, global = true)]
    downloads: Option<PathBuf>,
    /// Interfaces for mDNS: real LAN adapters only, loopback only, or all.
    #[arg(long, global = true, value_enum, default_value = "lan")]
    mdns_interfaces: Interfaces,
    /// Rendezvous server (host:port) to register with and find contacts through.
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS",
        requires = "rendezvous_key"
    )]
    rendezvous: Option<SocketAddr>,
    /// The rendezvous server's key, as `natter-rendezvous` printed it.
    #[arg(
        long,
        global = true,
        env = "NATTER_RENDEZVOUS_KEY",
        requires = "rendezvous"
    )]
    rendezvous_key: Option<PeerId>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print your Natter ID (creates the identity on first use).
    Id,
    /// Run a node in the foreground: JSON events on stdout, JSON commands on stdin.
    Run {
        /// UDP address to listen on.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Browse only: do not publish this node on the LAN.
        #[arg(long)]
        no_advertise: bool,
        /// Display name published on the LAN (none by default, for privacy).
        #[arg(long)]
        name: Option<String>,
    },
    /// Peers seen on the LAN.
    Nearby,
    /// Explain why no peers are visible on the LAN, and what to try.
    Doctor,
    /// Manage contacts.
    #[command(subcommand)]
    Contact(ContactCmd),
    /// `@handles` at the rendezvous: a name to share instead of your ID.
    #[command(subcommand)]
    Handle(HandleCmd),
    /// Block a peer: refused right after the handshake, silently.
    Block { id: PeerId },
    /// Unblock a peer.
    Unblock { id: PeerId },
    /// Show or set who may open a session with you.
    Privacy { mode: Option<PrivacyMode> },
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
        wait: Wait,
        /// Seconds to wait.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Tell a contact you are typing (typing, paused, erased, idle).
    Typing { id: PeerId, state: TypingState },
    /// Mark a conversation read (sends a read receipt if enabled).
    Read { id: PeerId },
    /// Set your presence (online, away, busy) and status text.
    Presence {
        status: Status,
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
    /// Stop the running node.
    Stop,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FileWait {
    /// The receiver has the file, hash checked.
    Done,
}

#[derive(Subcommand)]
enum HandleCmd {
    /// Claim @NAME for your key (first come; one per key).
    Claim { name: String },
    /// Print the Natter ID holding @NAME.
    Resolve { name: String },
}

/// A contact named by ID or by `@handle`.
#[derive(Clone, Debug)]
enum Target {
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
enum ContactCmd {
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
    /// Accept files from a contact automatically up to BYTES (or `off`).
    AutoAccept { id: PeerId, limit: String },
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
    },
}

fn to_command(cmd: Cmd) -> Command {
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
        }) => Command::ContactSet {
            id,
            typing,
            receipts,
        },
        Cmd::Block { id } => Command::Block { id },
        Cmd::Unblock { id } => Command::Unblock { id },
        Cmd::Privacy { mode } => Command::Privacy { mode },
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
            wait: Some(wait),
            timeout: Some(timeout),
        },
        Cmd::Typing { id, state } => Command::Typing { id, state },
        Cmd::Read { id } => Command::Read { id },
        Cmd::Presence { status, text } => Command::Presence {
            status,
            text: text.unwrap_or_default(),
        },
        Cmd::History { id, limit } => Command::History {
            id,
            limit: Some(limit),
        },
        Cmd::Search { text, limit } => Command::Search {
            text,
            limit: Some(limit),
        },
        Cmd::Stop => Command::Shutdown,
        Cmd::Nearby => Command::Nearby,
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
        Cmd::Contact(ContactCmd::AutoAccept { id, limit }) => Command::AutoAccept {
            id,
            bytes: limit.parse().ok(),
        },
        Cmd::Run { .. } | Cmd::Doctor => Command::Id,
    }
}

fn default_profile() -> Result<PathBuf> {
    natter::profile::platform_default()
        .context("no home folder to keep the profile in; pass --profile DIR")
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    // Exit explicitly: the runtime would otherwise wait for the blocking stdin reader.
    match real_main().await {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("natter-cli: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let profile = match cli.profile {
        Some(p) => p,
        None => default_profile()?,
    };
    let rendezvous = cli
        .rendezvous
        .zip(cli.rendezvous_key)
        .map(|(addr, key)| natter::rendezvous::RendezvousConfig { addr, key });
    match cli.command {
        Cmd::Id => {
            let id = Identity::load_or_create(&profile)?;
            println!("{}", id.peer_id());
            Ok(())
        }
        Cmd::Run {
            listen,
            no_advertise,
            name,
        } => {
            let discovery = (!cli.no_mdns).then_some(DiscoveryConfig {
                advertise: !no_advertise,
                name,
                interfaces: cli.mdns_interfaces,
            });
            run(profile, listen, discovery, cli.downloads, rendezvous).await
        }
        Cmd::Doctor => doctor(cli.json),
        other => {
            // A node started for one command browses the LAN but does not advertise.
            let discovery = (!cli.no_mdns).then_some(DiscoveryConfig {
                advertise: false,
                name: None,
                interfaces: cli.mdns_interfaces,
            });
            one_shot(
                profile,
                to_command(other),
                cli.json,
                discovery,
                cli.downloads,
                rendezvous,
            )
            .await
        }
    }
}

fn print_answer(cmd: &Command, answer: &serde_json::Value, json: bool) -> Result<()> {
    if answer.get("ok").and_then(|v| v.as_bool()) != Some(true) {
        let error = answer
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown error");
        bail!("{error}");
    }
    let result = answer.get("result").cloned().unwrap_or_default();
    if json {
        println!("{result}");
    } else {
        println!("{}", control::render(cmd, &result));
    }
    Ok(())
}

fn doctor(json: bool) -> Result<()> {
    let findings = doctor::diagnose(&doctor::interfaces());
    if json {
        println!("{}", serde_json::to_string(&findings)?);
        return Ok(());
    }
    for f in &findings {
        let mark = match f.level {
            doctor::Level::Ok => "ok     ",
            doctor::Level::Warning => "maybe  ",
            doctor::Level::Problem => "PROBLEM",
        };
        println!("{mark} {}", f.what);
        if f.level != doctor::Level::Ok {
            println!("        try: {}", f.try_next);
        }
    }
    Ok(())
}

async fn one_shot(
    profile: PathBuf,
    cmd: Command,
    json: bool,
    discovery: Option<DiscoveryConfig>,
    downloads: Option<PathBuf>,
    rendezvous: Option<natter::rendezvous::RendezvousConfig>,
) -> Result<()> {
    let socket = profile.join(control::SOCKET_FILE);
    if let Some(answer) = control::request(&socket, &cmd).await? {
        return print_answer(&cmd, &answer, json);
    }
    if matches!(cmd, Command::Shutdown) {
        bail!("no Natter node is running on {}", profile.display());
    }
    let mut config = NodeConfig::new(&profile);
    config.autodial = cmd.needs_network();
    config.discovery = discovery.filter(|_| cmd.needs_network());
    config.downloads = downloads;
    config.rendezvous = rendezvous.filter(|_| cmd.needs_network());
    let (node, _events) = Node::start(config).await?;
    if matches!(cmd, Command::Nearby) {
        // Records take about a second to resolve (probing); listen a little longer.
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    }
    // A node started just for `send` gives the message a few seconds to go out.
    let run = match &cmd {
        Command::Send {
            id,
            text,
            wait: Some(Wait::Queued) | None,
            ..
        } => Command::Send {
            id: *id,
            text: text.clone(),
            wait: Some(Wait::Delivered),
            timeout: Some(3.0),
        },
        other => other.clone(),
    };
    let mut answer = control::execute(&node, run).await;
    if let (
        Command::Send { .. },
        Err(control::ControlError::Timeout {
            id,
            wait: Wait::Delivered,
            secs,
        }),
    ) = (&cmd, &answer)
        && *secs == 3.0
    {
        answer = Ok(
            serde_json::json!({ "id": id, "state": "queued", "note": "the contact is not reachable now; the message goes out the next time Natter runs and reaches them" }),
        );
    }
    node.shutdown().await;
    print_answer(&cmd, &control::socket_answer(answer), json)
}

async fn run(
    profile: PathBuf,
    listen: SocketAddr,
    discovery: Option<DiscoveryConfig>,
    downloads: Option<PathBuf>,
    rendezvous: Option<natter::rendezvous::RendezvousConfig>,
) -> Result<()> {
    let mut config = NodeConfig::new(&profile);
    config.rendezvous = rendezvous;
    config.listen = listen;
    config.discovery = discovery;
    config.downloads = downloads;
    let (node, mut events) = Node::start(config).await?;
    let stop = Arc::new(Notify::new());
    let socket = profile.join(control::SOCKET_FILE);
    {
        let (node, stop) = (node.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = control::serve(node, &socket, stop).await {
                eprintln!("natter-cli: control socket stopped: {e}");
            }
        });
    }
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => match serde_json::to_string(&e) {
                    Ok(line) => println!("{line}"),
                    Err(err) => tracing::warn!(error = %err, "event not printable"),
                },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("{}", serde_json::json!({ "event": "lagged", "missed": n }));
                }
                Err(_) => break,
            }
        }
    });
    {
        let (node, stop) = (node.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                let answer = match serde_json::from_str::<Command>(&line) {
                    Ok(Command::Shutdown) => {
                        stop.notify_one();
                        break;
                    }
                    Ok(cmd) => control::socket_answer(control::execute(&node, cmd).await),
                    Err(e) => {
                        serde_json::json!({ "ok": false, "error": format!("bad command: {e}") })
                    }
                };
                println!("{}", serde_json::json!({ "answer": answer }));
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = stop.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    node.shutdown().await;
    let _ = std::fs::remove_file(profile.join(control::SOCKET_FILE));
    Ok(())
}
