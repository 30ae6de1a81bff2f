//! Owns the running node: the actor that ties the endpoint, the sessions and the store
//! together. `Node::start(config) -> (NodeHandle, events)`; the CLI and the GUI are thin
//! clients of the handle (commands in) and the event stream (state changes out).

mod account;
mod actor;
mod config;
mod conn;
mod consent;
mod dial;
mod drive;
mod event;
mod files;
mod flood;
mod gate;
mod lan;
mod mailbox;
mod messages;
mod msg;
mod netwatch;
mod path;
mod policy;
mod prefs;
mod relay;
mod rendezvous;
mod rooms;
mod state;
mod throttle;
mod visibility;

pub use account::ExportFormat;
pub use config::{DEFAULT_PORT, LISTING_TTL, NodeConfig, PORT_TRIES};
pub use event::{DialFailure, Event};
pub use lan::NearbyPeer;
pub use prefs::{PREF_ADVERTISE, PREF_NAME, PREF_PORT, PREF_RENDEZVOUS, PREF_RENDEZVOUS_KEY};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actor::Actor;
use state::{Cmd, Msg};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::discovery::DiscoveryConfig;
use crate::identity::{Identity, IdentityError, PeerId};
use crate::model::Paths;
use crate::store::{self, Contact, ContactState, Store, StoreError};
use crate::transport::{self, TransportError};
use crate::wire::Status;

/// File name of the lock that keeps two nodes off one profile.
pub const LOCK_FILE: &str = "node.lock";

/// Who may open a session with us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivacyMode {
    /// Strangers land in the requests inbox until accepted (default).
    #[default]
    Requests,
    /// Strangers are refused after the handshake.
    ContactsOnly,
    /// Anyone may talk with us (AIM's "allow all users"): a stranger's messages, typing and
    /// presence show as a contact's would, and we may answer while its session is up; it
    /// stays in the requests inbox (off the buddy list) until accepted, under a stranger's
    /// flood limits.
    Everyone,
}

/// Why a node command failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Identity problem.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Database problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Endpoint problem.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The peer is not a contact.
    #[error("{0} is not in your contacts; add it first with `contact add`")]
    NotAContact(PeerId),
    /// The peer is blocked.
    #[error("{0} is blocked; unblock it first")]
    Blocked(PeerId),
    /// Bad argument.
    #[error("{0}")]
    Invalid(String),
    /// A transfer that does not exist (or not with this peer).
    #[error("no file transfer {0} with that contact; see `natter-cli transfers`")]
    NoTransfer(String),
    /// A file problem on this side.
    #[error("{0}")]
    File(String),
    /// A rendezvous request failed, or none is configured.
    #[error("{0}")]
    Rendezvous(String),
    /// Another node runs on this profile.
    #[error(
        "another Natter is already running on the profile {0}; stop it, or use another --profile"
    )]
    ProfileInUse(PathBuf),
    /// The profile folder could not be used.
    #[error("cannot use the profile folder {path}: {source}")]
    Profile {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Inner {
    /// Asks for a contact to be dialled: the node's task runs one dial loop per contact
    /// (see `dial.rs`), until a session is up or there is nowhere left to try.
    pub(crate) fn dial(&self, peer: PeerId) {
        self.actor.tell(Msg::Dial(peer));
    }

    /// The flood limits as rooms use them (a public room's messages per author, joins into
    /// the rooms we list): whether one more may go ahead now, and whether to report it.
    pub(crate) fn pace(&self) -> impl Fn(flood::Kind, &PeerId, bool) -> (bool, bool) + Sync + '_ {
        move |kind, key, contact| {
            lock(&self.flood).one(*key, kind, contact, std::time::Instant::now())
        }
    }
}

/// What every part of a running node shares: what it was started with and the ways to
/// reach its parts. Nothing here changes after start but the shutdown flag, the table of
/// running file tasks and the mailbox fetch flag; the node's live state is its task's
/// (`state.rs`), reached through [`Actor`].
pub(crate) struct Inner {
    pub(crate) profile: PathBuf,
    /// LAN discovery as configured (before the user's preferences); `None`: off.
    pub(crate) lan_config: Option<DiscoveryConfig>,
    pub(crate) identity: Identity,
    pub(crate) me: PeerId,
    pub(crate) store: Store,
    pub(crate) endpoint: quinn::Endpoint,
    /// The relayed side of the endpoint's socket: peers reached through a relay, each at a
    /// mapped address (`transport::RelayLink`).
    pub(crate) relay: Arc<transport::RelayLink>,
    pub(crate) events: broadcast::Sender<Event>,
    /// The node's task, which owns its live state.
    pub(crate) actor: Actor,
    /// The block list the TLS verifier, the policy and the sessions read; changed inside the
    /// store job that writes it.
    pub(crate) blocked: transport::BlockList,
    pub(crate) boot_id: [u8; 16],
    pub(crate) next_conn: AtomicUsize,
    /// Where received files go.
    pub(crate) downloads: PathBuf,
    /// Running file transfer tasks (held only for a look-up and an insert, never across
    /// an await).
    pub(crate) files: Mutex<files::Running>,
    pub(crate) shutdown: AtomicBool,
    /// The rendezvous client, when one is configured.
    pub(crate) rv: Option<Arc<crate::rendezvous::Client>>,
    /// Re-register now (contacts changed).
    pub(crate) rv_wake: tokio::sync::Notify,
    /// A mailbox fetch is running.
    pub(crate) rv_fetching: AtomicBool,
    /// When the user was last told the disk is full (ms since the epoch; once a minute).
    pub(crate) disk_full_told: std::sync::atomic::AtomicU64,
    /// Flood limits per peer and kind of frame (`flood.rs`).
    pub(crate) flood: Mutex<flood::Flood>,
    /// Handshakes per source (`gate.rs`).
    pub(crate) gate: Mutex<gate::Gate>,
    /// Incoming handshakes in flight (above a bound, clients must validate their address).
    pub(crate) handshakes: AtomicUsize,
    /// Strangers holding a session now (capped at `gate::MAX_STRANGERS`).
    pub(crate) strangers: AtomicUsize,
    /// Which rooms a member has told us the state of on a session up now (`rooms::Fresh`).
    pub(crate) rooms_fresh: Mutex<rooms::Fresh>,
    /// Public rooms others list that we have seen (LAN, directory).
    pub(crate) room_listings: Mutex<rooms::Seen>,
    /// List our public rooms again now (published, unpublished, members changed).
    pub(crate) listing_wake: Arc<tokio::sync::Notify>,
    /// How long a listing of ours lasts unless renewed (renewed every third of it).
    pub(crate) listing_ttl: std::time::Duration,
    _lock: std::fs::File,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Commands into a running node. Cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Inner>,
}

/// The node itself (see [`Node::start`]).
pub struct Node;

/// Events capacity: a slow reader that falls this far behind misses events (never messages,
/// which are in the store).
const EVENTS: usize = 65_536;

const PRIVACY_KEY: &str = "privacy";
const STATUS_KEY: &str = "status";

impl Node {
    /// Loads (or creates) the profile, opens the store, binds the endpoint and starts
    /// accepting and dialling. Must run inside a tokio runtime.
    pub async fn start(
        config: NodeConfig,
    ) -> Result<(NodeHandle, broadcast::Receiver<Event>), NodeError> {
        let profile = config.profile.clone();
        // File work, off the async runtime: the folder made private, then the key.
        let identity = tokio::task::spawn_blocking(move || {
            crate::profile::make_private(&profile).map_err(|source| NodeError::Profile {
                path: profile.clone(),
                source,
            })?;
            Ok::<_, NodeError>(Identity::load_or_create(&profile)?)
        })
        .await
        .map_err(|e| NodeError::Invalid(format!("identity task failed: {e}")))??;
        let lock_path = config.profile.join(LOCK_FILE);
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| NodeError::Profile {
                path: lock_path.clone(),
                source,
            })?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(NodeError::ProfileInUse(config.profile.clone()));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(NodeError::Profile {
                    path: lock_path,
                    source,
                });
            }
        }
        let profile = config.profile.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&profile))
            .await
            .map_err(|e| NodeError::Invalid(format!("store task failed: {e}")))??;
        let me = identity.peer_id();
        let policy = store
            .call(move |c| {
                let contacts = store::list_contacts(c, ContactState::Contact)?;
                Ok((contacts, store::blocked(c)?, rooms::members(c, &me)?))
            })
            .await?;
        // The block list is in the TLS verifier before the endpoint answers anyone.
        let blocked = transport::BlockList::new(policy.1);
        let (endpoint, links) = config::bind(&identity, &config, &store, &blocked).await?;
        let (events, rx) = broadcast::channel(EVENTS);
        let mut boot_id = [0u8; 16];
        getrandom::fill(&mut boot_id)
            .map_err(|e| NodeError::Invalid(format!("no randomness: {e}")))?;
        let status = store
            .call(|c| store::get_setting(c, STATUS_KEY))
            .await?
            .and_then(|s| serde_json::from_str::<(Status, String)>(&s).ok())
            .unwrap_or((Status::Online, String::new()));
        let rendezvous = match config.rendezvous {
            Some(c) => Some(c),
            None => prefs::rendezvous_from_preferences(&store).await?,
        };
        let rv = rendezvous.map(|c| {
            Arc::new(
                crate::rendezvous::Client::new(endpoint.clone(), identity.clone(), c)
                    .with_tunnels(links.tunnel.clone()),
            )
        });
        let policy = state::Policy {
            visible: policy
                .0
                .iter()
                .filter(|c| c.sees_invisible)
                .map(|c| c.peer)
                .collect(),
            contacts: policy.0.into_iter().map(|c| c.peer).collect(),
            blocked: blocked.clone(),
            privacy: conn::privacy(&store).await?,
            room_members: policy.2,
            listing: false,
        };
        let (state, connected) =
            state::State::new(identity.peer_id(), events.clone(), status, policy);
        let (actor, inbox) = Actor::new(connected);
        let inner = Arc::new(Inner {
            profile: config.profile.clone(),
            lan_config: config.discovery.clone(),
            me: identity.peer_id(),
            identity,
            store,
            endpoint,
            relay: links.relay,
            events,
            actor,
            blocked,
            boot_id,
            downloads: config.downloads.clone().unwrap_or_else(|| {
                directories::UserDirs::new()
                    .and_then(|d| d.download_dir().map(|p| p.join("Natter")))
                    .unwrap_or_else(|| config.profile.join("downloads"))
            }),
            files: Mutex::default(),
            next_conn: Default::default(),
            shutdown: Default::default(),
            rv,
            rv_wake: tokio::sync::Notify::new(),
            rv_fetching: AtomicBool::new(false),
            disk_full_told: Default::default(),
            flood: Mutex::default(),
            gate: Mutex::default(),
            handshakes: AtomicUsize::new(0),
            strangers: AtomicUsize::new(0),
            rooms_fresh: Mutex::default(),
            room_listings: Mutex::default(),
            listing_wake: Arc::default(),
            // Renewed every third of it: never a spin, and never past what a reader takes.
            listing_ttl: config
                .listing_ttl
                .clamp(Duration::from_secs(3), Duration::from_secs(600)),
            _lock: lock_file,
        });
        let handle = NodeHandle { inner };
        let listen = handle
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(peer = %handle.inner.me, %listen, "node started");
        handle.emit(Event::Started {
            peer_id: handle.inner.me,
            listen,
        });
        tokio::spawn(conn::accept_loop(handle.inner.clone()));
        tokio::spawn(actor::run(Arc::downgrade(&handle.inner), state, inbox));
        tokio::spawn(rooms::publish_loop(Arc::downgrade(&handle.inner)));
        if let Some(policy) = config.relay_policy {
            handle.set_relay_policy(policy).await?;
        }
        if let Some(d) = config.discovery.clone() {
            let d = prefs::discovery_with_preferences(&handle.inner.store, d).await?;
            lan::start(&handle.inner, &d).await;
        }
        rendezvous::start(&handle.inner);
        relay::start_pump(&handle.inner);
        netwatch::start(&handle.inner);
        let findable = handle.inner.rv.is_some();
        for c in handle.contacts().await? {
            if config.autodial && (c.addr.is_some() || findable) {
                handle.inner.dial(c.peer);
            }
        }
        // The members of our rooms, found like contacts (rendezvous, LAN).
        if config.autodial && (findable || config.discovery.is_some()) {
            let me = handle.inner.me;
            for m in handle
                .inner
                .store
                .call(move |c| rooms::members(c, &me))
                .await?
            {
                handle.inner.dial(m);
            }
        }
        Ok((handle, rx))
    }
}

impl NodeHandle {
    fn emit(&self, e: Event) {
        let _ = self.inner.events.send(e);
    }

    /// Asks whoever shows this node (the desktop app) to raise its window, opening `link`
    /// if there is one: emits [`Event::ShowRequested`].
    pub fn show_requested(&self, link: Option<String>) {
        self.emit(Event::ShowRequested { link });
    }

    /// A new receiver of the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Own PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.inner.me
    }

    /// The UDP address the endpoint listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.endpoint.local_addr().ok()
    }

    /// The addresses others can dial us at on our own networks: the bound one, or every
    /// interface's (loopback left out) with our port for a wildcard bind.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        rendezvous::local_candidates(&self.inner)
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Whether a session with the peer is up.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.inner.actor.is_connected(peer)
    }

    /// Adds or updates a contact (pinning its key) and dials it if it has an address.
    pub async fn add_contact(&self, contact: Contact) -> Result<Contact, NodeError> {
        if contact.peer == self.inner.me {
            return Err(NodeError::Invalid("that is your own Natter ID".into()));
        }
        if let Some(addr) = &contact.addr {
            addr.parse::<SocketAddr>().map_err(|_| {
                NodeError::Invalid(format!("{addr:?} is not an address like 192.0.2.7:4433"))
            })?;
        }
        let (c, actor) = (contact.clone(), self.inner.actor.clone());
        let saved = self
            .inner
            .store
            .call(move |conn| {
                let mut merged = store::get_contact(conn, &c.peer)?.unwrap_or_else(|| c.clone());
                merged.state = ContactState::Contact;
                if !c.nickname.is_empty() {
                    merged.nickname = c.nickname.clone();
                }
                if !c.group.is_empty() {
                    merged.group = c.group.clone();
                }
                if c.addr.is_some() {
                    merged.addr = c.addr.clone();
                }
                store::upsert_contact(conn, &merged)?;
                // Told in the order of the writes (see `contact_stored`).
                actor.tell(Msg::ContactStored(merged.peer, true));
                Ok(merged)
            })
            .await?;
        self.contact_stored(&saved);
        self.to_session(&saved.peer, Cmd::Refresh);
        self.inner.rv_wake.notify_one();
        // A contact seen on the LAN is dialled too: its loop finds nowhere to go otherwise.
        self.inner.dial(saved.peer);
        Ok(saved)
    }

    fn rendezvous(&self) -> Result<&Arc<crate::rendezvous::Client>, NodeError> {
        self.inner.rv.as_ref().ok_or_else(|| {
            NodeError::Rendezvous(
                "no rendezvous configured: run with --rendezvous HOST:PORT --rendezvous-key KEY"
                    .into(),
            )
        })
    }

    /// Claims `@name` at the rendezvous for our key (first come, one per key).
    pub async fn claim_handle(&self, name: &str) -> Result<String, NodeError> {
        self.rendezvous()?
            .claim_handle(name)
            .await
            .map_err(|e| NodeError::Rendezvous(e.to_string()))
    }

    /// The key holding `@name` at the rendezvous (its signed claim checked).
    pub async fn resolve_handle(&self, name: &str) -> Result<PeerId, NodeError> {
        self.rendezvous()?
            .resolve_handle(name)
            .await
            .map_err(|e| NodeError::Rendezvous(e.to_string()))
    }

    /// All contacts.
    pub async fn contacts(&self) -> Result<Vec<Contact>, NodeError> {
        Ok(self
            .inner
            .store
            .call(|c| store::list_contacts(c, ContactState::Contact))
            .await?)
    }

    /// The requests inbox.
    pub async fn requests(&self) -> Result<Vec<Contact>, NodeError> {
        Ok(self
            .inner
            .store
            .call(|c| store::list_contacts(c, ContactState::Request))
            .await?)
    }

    /// Accepts a request: the stranger becomes a contact.
    pub async fn accept(&self, peer: PeerId) -> Result<Contact, NodeError> {
        let actor = self.inner.actor.clone();
        let saved = self
            .inner
            .store
            .call(move |c| {
                let mut contact =
                    store::get_contact(c, &peer)?.unwrap_or_else(|| Contact::new(peer));
                contact.state = ContactState::Contact;
                store::upsert_contact(c, &contact)?;
                actor.tell(Msg::ContactStored(peer, true));
                Ok(contact)
            })
            .await?;
        self.contact_stored(&saved);
        self.to_session(&peer, Cmd::Refresh);
        self.inner.rv_wake.notify_one();
        Ok(saved)
    }

    /// The live sessions' paths (LAN, direct, relayed, and the address each talks to), and
    /// how many sessions came up since start and how many of them without a relay.
    pub async fn paths(&self) -> Paths {
        let mut paths = self.inner.actor.ask(Msg::Paths).await.unwrap_or_default();
        paths.addresses = self.addresses();
        paths
    }

    fn contact_stored(&self, c: &Contact) {
        self.emit(Event::ContactChanged { contact: c.clone() });
    }

    fn to_session(&self, peer: &PeerId, cmd: Cmd) {
        self.inner.actor.tell(Msg::ToSession(*peer, cmd));
    }

    /// Closes every session with a goodbye and the endpoint; waits up to 2 s for peers to hear.
    pub async fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        if let Some(rv) = &self.inner.rv {
            // Our listed rooms leave the directory (nobody would be let in while we are
            // away), and presence ends at once rather than lapse.
            let listed = self
                .inner
                .store
                .call(store::published_rooms)
                .await
                .unwrap_or_default();
            let unlist = async {
                for s in &listed {
                    let _ = rv.unpublish(&s.state().id).await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), unlist).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), rv.unregister()).await;
        }
        lan::stop(&self.inner).await;
        self.inner.actor.tell(Msg::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.actor.all_closed()).await;
        self.inner
            .endpoint
            .close(quinn::VarInt::from_u32(transport::CLOSE_NORMAL), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.inner.endpoint.wait_idle()).await;
        // What was answered before its commit (acks applied) is on disk before we return.
        self.inner.store.settled().await;
    }
}
