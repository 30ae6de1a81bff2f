//! Owns the app preferences the node itself reads (display name, advertising, the saved
//! rendezvous): their keys in the store and how they shape the node's configuration.

use super::NodeError;
use crate::discovery::DiscoveryConfig;
use crate::store::{self, Store};

/// Preference: the display name the user picked (may be empty).
pub const PREF_NAME: &str = "name";
/// Preference: `off` stops advertising on the LAN (browsing stays on).
pub const PREF_ADVERTISE: &str = "advertise";

pub(super) fn pref_key(name: &str) -> String {
    format!("pref.{name}")
}

/// Several preferences in one store call.
async fn read_prefs<const N: usize>(
    store: &Store,
    names: [&'static str; N],
) -> Result<[Option<String>; N], NodeError> {
    Ok(store
        .call(move |c| {
            let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
            for (value, name) in out.iter_mut().zip(names) {
                *value = store::get_setting(c, &pref_key(name))?;
            }
            Ok(out)
        })
        .await?)
}

/// The LAN discovery config with the user's preferences applied: the display name goes into
/// the record only when the user set one; advertising can be switched off.
pub(super) async fn discovery_with_preferences(
    store: &Store,
    mut d: DiscoveryConfig,
) -> Result<DiscoveryConfig, NodeError> {
    let [name, advertise] = read_prefs(store, [PREF_NAME, PREF_ADVERTISE]).await?;
    if d.name.is_none() {
        d.name = name.filter(|n| !n.trim().is_empty());
    }
    // Invisible: nothing on the LAN says we are here (we still browse, and dial those who
    // see us).
    if advertise.as_deref() == Some("off") || super::visibility::invisible_stored(store).await? {
        d.advertise = false;
    }
    Ok(d)
}

/// Preference: the UDP port the desktop app listens on (read at start).
pub const PREF_PORT: &str = "port";

/// The port the user saved in the app, if it is one (1–65535).
pub(super) async fn port_from_preferences(store: &Store) -> Result<Option<u16>, NodeError> {
    let [port] = read_prefs(store, [PREF_PORT]).await?;
    Ok(port
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p != 0))
}

/// Preference: the rendezvous server as `HOST:PORT` (used when the config names none); a
/// deployment's other nodes follow, separated by commas.
pub const PREF_RENDEZVOUS: &str = "rendezvous";
/// Preference: the rendezvous server's key.
pub const PREF_RENDEZVOUS_KEY: &str = "rendezvous_key";

/// The rendezvous the user saved in the app, if the config names none and both parts parse.
pub(super) async fn rendezvous_from_preferences(
    store: &Store,
) -> Result<Option<crate::rendezvous::RendezvousConfig>, NodeError> {
    let [addr, key] = read_prefs(store, [PREF_RENDEZVOUS, PREF_RENDEZVOUS_KEY]).await?;
    Ok(match (addr, key) {
        (Some(a), Some(k)) => match (crate::rendezvous::parse_addrs(&a), k.trim().parse()) {
            (Ok(addrs), Ok(key)) => addrs.split_first().map(|(addr, also)| {
                let mut config = crate::rendezvous::RendezvousConfig::new(*addr, key);
                config.also = also.to_vec();
                config
            }),
            _ => None,
        },
        _ => None,
    })
}
