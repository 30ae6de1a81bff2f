//! Owns LAN discovery: advertising this node as standard DNS-SD over mDNS
//! (`_natter._udp.local.`, TXT `id=`, `v=`, `name=`) and browsing for others. A record is only
//! a hint: the TLS handshake proves the key, and a record whose key differs from the one
//! presented is reported as a spoof attempt by the node.

pub mod doctor;
mod record;
mod rooms;

pub use record::{Nearby, RecordError, parse_record};
pub use rooms::{
    NearbyRoom, ROOM_SERVICE_TYPE, RoomRecordError, parse_room_record, room_properties,
};

use std::net::SocketAddr;

use mdns_sd::{IfKind, IfPredicate, ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::Serialize;

use crate::identity::PeerId;

/// The DNS-SD service type.
pub const SERVICE_TYPE: &str = "_natter._udp.local.";

/// Which interfaces mDNS uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interfaces {
    /// Real LAN interfaces: no loopback, no virtual (docker, bridges, veth) or VPN adapters.
    Lan,
    /// Loopback only (several nodes on one machine, tests).
    Loopback,
    /// Every interface, virtual and VPN ones included.
    All,
}

/// How discovery runs.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// Publish our own record (off: browse only).
    pub advertise: bool,
    /// Display name in the record (None: no name, for privacy).
    pub name: Option<String>,
    /// Interfaces to use.
    pub interfaces: Interfaces,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            advertise: true,
            name: None,
            interfaces: Interfaces::Lan,
        }
    }
}

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The mDNS daemon failed.
    #[error(
        "LAN discovery (mDNS) could not start: {0}. Peers can still be added by address; `natter-cli doctor` explains more"
    )]
    Daemon(String),
}

/// What browsing found.
#[derive(Clone, Debug)]
pub enum Found {
    /// A peer's record resolved (repeated as addresses change).
    Nearby(Nearby),
    /// A record was withdrawn or expired.
    Gone {
        /// Its DNS-SD instance name.
        fullname: String,
    },
}

/// Interface names treated as virtual or VPN adapters.
pub fn is_virtual_interface(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "docker",
        "br-",
        "veth",
        "virbr",
        "vmnet",
        "vboxnet",
        "tun",
        "tap",
        "wg",
        "tailscale",
        "zt",
        "utun",
        "ppp",
        "lxc",
        "lxd",
        "cni",
        "flannel",
        "cali",
        "vxlan",
        "kube",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A running mDNS responder and browser.
pub struct Discovery {
    daemon: ServiceDaemon,
    fullname: Option<String>,
    /// Where our listed rooms' records say we listen.
    port: u16,
    /// We publish records (off: `--no-advertise`, and our rooms are not listed here either).
    advertise: bool,
    /// The random host name of our rooms' records.
    host: String,
    /// Our listed rooms' records: instance name and the listing it carries.
    rooms: std::sync::Mutex<
        std::collections::HashMap<crate::room::RoomId, (String, crate::room::SignedListing)>,
    >,
}

/// What browsing for rooms found.
#[derive(Clone, Debug)]
pub enum FoundRoom {
    /// A room's record resolved (repeated as it changes).
    Listed(NearbyRoom),
    /// A record was withdrawn or expired.
    Gone {
        /// Its DNS-SD instance name.
        fullname: String,
    },
}

fn daemon_error(e: mdns_sd::Error) -> DiscoveryError {
    DiscoveryError::Daemon(e.to_string())
}

fn random_label() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    data_encoding::HEXLOWER.encode(&b)
}

impl Discovery {
    /// Starts the daemon, publishes our record (if advertising) and browses.
    pub fn start(
        config: &DiscoveryConfig,
        me: PeerId,
        port: u16,
    ) -> Result<(Self, mdns_sd::Receiver<ServiceEvent>), DiscoveryError> {
        let daemon = ServiceDaemon::new().map_err(daemon_error)?;
        match config.interfaces {
            Interfaces::Lan => {
                daemon
                    .disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
                    .map_err(daemon_error)?;
                daemon
                    .disable_interface(IfKind::Predicate(IfPredicate::new(|i| {
                        is_virtual_interface(&i.name)
                    })))
                    .map_err(daemon_error)?;
            }
            Interfaces::Loopback => {
                daemon
                    .disable_interface(IfKind::All)
                    .map_err(daemon_error)?;
                daemon
                    .enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
                    .map_err(daemon_error)?;
            }
            Interfaces::All => {}
        }
        let mut fullname = None;
        if config.advertise {
            let instance = format!("natter-{}", random_label());
            // A random host name: never the machine's own.
            let host = format!("natter-{}.local.", random_label());
            let mut props = vec![
                ("id", me.to_string()),
                (
                    "v",
                    format!(
                        "{}-{}",
                        crate::session::VERSIONS.0,
                        crate::session::VERSIONS.1
                    ),
                ),
            ];
            if let Some(name) = config.name.as_ref().filter(|n| !n.is_empty()) {
                props.push(("name", name.chars().take(63).collect()));
            }
            let info = ServiceInfo::new(SERVICE_TYPE, &instance, &host, "", port, &props[..])
                .map_err(daemon_error)?
                .enable_addr_auto();
            fullname = Some(info.get_fullname().to_string());
            daemon.register(info).map_err(daemon_error)?;
        }
        let events = daemon.browse(SERVICE_TYPE).map_err(daemon_error)?;
        let host = format!("natter-{}.local.", random_label());
        let rooms = Default::default();
        Ok((
            Self {
                daemon,
                fullname,
                port,
                advertise: config.advertise,
                host,
                rooms,
            },
            events,
        ))
    }

    /// Browses for public rooms' records.
    pub fn browse_rooms(&self) -> Result<mdns_sd::Receiver<ServiceEvent>, DiscoveryError> {
        self.daemon.browse(ROOM_SERVICE_TYPE).map_err(daemon_error)
    }

    /// Lists exactly these rooms of ours: a record for each new or changed listing, and the
    /// records of rooms no longer listed withdrawn.
    pub fn set_rooms(&self, listings: &[crate::room::SignedListing]) -> Result<(), DiscoveryError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let listings = if self.advertise { listings } else { &[] };
        let keep: Vec<_> = listings.iter().map(|l| l.listing().room).collect();
        let gone: Vec<_> = rooms
            .keys()
            .filter(|r| !keep.contains(r))
            .copied()
            .collect();
        for room in gone {
            if let Some((name, _)) = rooms.remove(&room) {
                let _ = self.daemon.unregister(&name);
            }
        }
        for l in listings {
            let room = l.listing().room;
            let instance = match rooms.get(&room) {
                Some((_, held)) if held.listing().expires_ms >= l.listing().expires_ms => continue,
                Some((name, _)) => name.split('.').next().unwrap_or_default().to_string(),
                None => format!("natter-room-{}", random_label()),
            };
            let props = room_properties(l);
            let props: Vec<(&str, &str)> = props
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let info = ServiceInfo::new(
                ROOM_SERVICE_TYPE,
                &instance,
                &self.host,
                "",
                self.port,
                &props[..],
            )
            .map_err(daemon_error)?
            .enable_addr_auto();
            let name = info.get_fullname().to_string();
            self.daemon.register(info).map_err(daemon_error)?;
            rooms.insert(room, (name, l.clone()));
        }
        Ok(())
    }

    /// Our own record's instance name, if advertising.
    pub fn own_fullname(&self) -> Option<&str> {
        self.fullname.as_deref()
    }

    /// Withdraws our record (goodbye packets) and stops the daemon.
    pub fn shutdown(&self) {
        let _ = self.set_rooms(&[]);
        if let Some(name) = &self.fullname
            && let Ok(rx) = self.daemon.unregister(name)
        {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

/// Translates a daemon event into what the node needs, dropping garbage with a debug log.
pub fn translate(event: ServiceEvent) -> Option<Found> {
    match event {
        ServiceEvent::ServiceResolved(info) => match parse_record(&info) {
            Ok(n) => Some(Found::Nearby(n)),
            Err(e) => {
                tracing::debug!(record = %info.get_fullname(), error = %e, "mDNS record ignored");
                None
            }
        },
        ServiceEvent::ServiceRemoved(_, fullname) => Some(Found::Gone { fullname }),
        _ => None,
    }
}

/// Translates a daemon event of the rooms' browse, dropping refused records with a debug log.
pub fn translate_room(event: ServiceEvent, now_ms: u64) -> Option<FoundRoom> {
    match event {
        ServiceEvent::ServiceResolved(info) => match parse_room_record(&info, now_ms) {
            Ok(n) => Some(FoundRoom::Listed(n)),
            Err(e) => {
                tracing::debug!(record = %info.get_fullname(), error = %e, "room record refused");
                None
            }
        },
        ServiceEvent::ServiceRemoved(_, fullname) => Some(FoundRoom::Gone { fullname }),
        _ => None,
    }
}

/// Usable socket addresses of a record (IPv4 and global IPv6; link-local IPv6 needs a scope).
pub(crate) fn dialable(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .filter(|a| match a {
            SocketAddr::V4(_) => true,
            SocketAddr::V6(v6) => (v6.ip().segments()[0] & 0xffc0) != 0xfe80,
        })
        .copied()
        .collect()
}
