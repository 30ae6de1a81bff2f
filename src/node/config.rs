//! Owns how a node starts: its configuration, and binding its one UDP endpoint (the desktop
//! app's stable port, or exactly the address given).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{NodeError, prefs};
use crate::discovery::DiscoveryConfig;
use crate::identity::Identity;
use crate::store::Store;
use crate::transport::{self, BlockList, Links};

/// How a node starts.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Profile folder (identity, database, control socket).
    pub profile: PathBuf,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Dial every contact with a known address at start (off for one-shot local commands).
    pub autodial: bool,
    /// LAN discovery over mDNS; `None` turns it off (`--no-mdns`).
    pub discovery: Option<DiscoveryConfig>,
    /// Where received files go; `None`: the user's Downloads/Natter (or `downloads` in the profile).
    pub downloads: Option<PathBuf>,
    /// The rendezvous server to register with and find contacts through; `None`: LAN and
    /// stored addresses only.
    pub rendezvous: Option<crate::rendezvous::RendezvousConfig>,
    /// The desktop app's way to listen: on the port saved in the `port` preference (else
    /// `listen`'s), or, when another program holds it, the next free one of the
    /// [`PORT_TRIES`] after it. Off: exactly `listen`, or an error.
    pub stable_port: bool,
    /// The relay policy from the config file, set at start (over the one saved in the app:
    /// the file comes first); `None`: the saved one.
    pub relay_policy: Option<crate::model::RelayPolicy>,
    /// How long a listing of a public room of ours lasts on the LAN and in the directory
    /// unless renewed (it is renewed every third of it while the node runs); held to 3 s
    /// – 10 min.
    pub listing_ttl: std::time::Duration,
}

/// How long a room listing lasts by default.
pub const LISTING_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// How many ports after the preferred one a `stable_port` node tries.
pub const PORT_TRIES: u16 = 10;

/// The port the desktop app listens on unless the user picks another.
pub const DEFAULT_PORT: u16 = 47100;

impl NodeConfig {
    /// A config for a profile folder, listening on all interfaces on a random port.
    pub fn new(profile: impl Into<PathBuf>) -> Self {
        Self {
            profile: profile.into(),
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            autodial: true,
            discovery: Some(DiscoveryConfig::default()),
            downloads: None,
            rendezvous: None,
            stable_port: false,
            relay_policy: None,
            listing_ttl: LISTING_TTL,
        }
    }
}

/// The endpoint on the configured address, or for the desktop app on its stable port (see
/// [`NodeConfig::stable_port`]).
pub(super) async fn bind(
    identity: &Identity,
    config: &NodeConfig,
    store: &Store,
    blocked: &BlockList,
) -> Result<(quinn::Endpoint, Links), NodeError> {
    if !config.stable_port {
        return Ok(transport::node_endpoint(identity, config.listen, blocked)?);
    }
    let saved = prefs::port_from_preferences(store).await?;
    let first = saved.unwrap_or(config.listen.port());
    let mut last = None;
    for port in (0..=PORT_TRIES).filter_map(|i| first.checked_add(i)) {
        let addr = SocketAddr::new(config.listen.ip(), port);
        match transport::node_endpoint(identity, addr, blocked) {
            Ok(e) => {
                if port != first {
                    tracing::info!(
                        taken = first,
                        port,
                        "the preferred port is taken; using the next free one"
                    );
                }
                return Ok(e);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(NodeError::from)
        .unwrap_or_else(|| NodeError::Invalid(format!("no port to listen on after {first}"))))
}
