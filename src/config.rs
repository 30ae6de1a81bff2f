//! Owns the config file: `config.toml` in the user's config folder (`~/.config/natter` on
//! Linux; `NATTER_CONFIG` names another), read by the desktop app and `natter-cli` alike.
//! One order everywhere: a flag, else the environment, else this file, else what the user
//! set in the app (saved in the profile), else the built-in default. A key this version does
//! not know, or a value that is not one, is an error naming the file and the line: never
//! silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::discovery::Interfaces;
use crate::identity::PeerId;
use crate::model::RelayPolicy;

/// The environment variable naming another config file.
pub const ENV: &str = "NATTER_CONFIG";

/// The file's name in the config folder.
pub const FILE: &str = "config.toml";

/// Where LAN discovery runs, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanDiscovery {
    /// No mDNS: neither advertise nor browse.
    Off,
    /// Real LAN adapters only (the default).
    Lan,
    /// Loopback only.
    Loopback,
    /// Every interface, virtual and VPN ones included.
    All,
}

impl LanDiscovery {
    /// The interfaces, or `None` for off.
    pub fn interfaces(self) -> Option<Interfaces> {
        match self {
            LanDiscovery::Off => None,
            LanDiscovery::Lan => Some(Interfaces::Lan),
            LanDiscovery::Loopback => Some(Interfaces::Loopback),
            LanDiscovery::All => Some(Interfaces::All),
        }
    }

    /// A value as the environment or a flag gives it.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(LanDiscovery::Off),
            "lan" => Ok(LanDiscovery::Lan),
            "loopback" => Ok(LanDiscovery::Loopback),
            "all" => Ok(LanDiscovery::All),
            other => Err(format!("{other:?} is not one of off, lan, loopback, all")),
        }
    }
}

/// What the config file may set; every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// UDP address to listen on (`0.0.0.0:47100`).
    pub listen: Option<SocketAddr>,
    /// The rendezvous server (`host:port`); needs `rendezvous_key`.
    pub rendezvous: Option<SocketAddr>,
    /// More addresses of the same rendezvous deployment (its other nodes, all presenting
    /// `rendezvous_key`), tried in turn when `rendezvous` cannot be reached.
    #[serde(default)]
    pub rendezvous_also: Vec<SocketAddr>,
    /// The rendezvous server's key, as `natter-rendezvous` printed it.
    pub rendezvous_key: Option<PeerId>,
    /// The rendezvous server's TCP address (default: its host, port 443).
    pub rendezvous_tcp: Option<SocketAddr>,
    /// Whether a relay may carry sessions no direct path reaches: `never`, `ask`, `always`.
    pub relay: Option<RelayPolicy>,
    /// Where received files and exports go.
    pub downloads: Option<PathBuf>,
    /// LAN discovery: `off`, `lan`, `loopback`, `all`.
    pub lan_discovery: Option<LanDiscovery>,
}

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It exists but cannot be read.
    #[error(
        "cannot read the config file {path}: {source}; create or fix it, or set {ENV} to another file"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a config this version understands.
    #[error(
        "the config file {path} is not valid: {message}Fix or remove that line (the keys: listen, rendezvous, rendezvous_also, rendezvous_key, rendezvous_tcp, relay, downloads, lan_discovery)."
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// `rendezvous` without `rendezvous_key`, or the other way round.
    #[error(
        "the config file {0} sets only one of rendezvous and rendezvous_key: a server needs both"
    )]
    HalfRendezvous(PathBuf),
}

/// The config file the environment names (`NATTER_CONFIG`), if it names one.
pub fn named() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `config.toml` in the user's config folder.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Natter", "natter").map(|d| d.config_dir().join(FILE))
}

/// The longest config file read (a config is a few lines; anything bigger is a mistake).
const MAX_BYTES: u64 = 64 * 1024;

/// Reads a config file the user named (`--config`, `NATTER_CONFIG`): it must be there.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    read(path, true)
}

/// Reads a config file; `named`: the user named it, so a missing file is an error too (else
/// no file is an empty config).
fn read(path: &Path, named: bool) -> Result<FileConfig, ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
            return Ok(FileConfig::default());
        }
        Err(e) => return Err(read(e)),
        Ok(m) if m.len() > MAX_BYTES => {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("it is {} bytes, more than a config holds. ", m.len()),
            });
        }
        Ok(_) => std::fs::read_to_string(path).map_err(read)?,
    };
    parse(path, &text)
}

/// Parses a config's text (`path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let config: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if config.rendezvous.is_some() != config.rendezvous_key.is_some() {
        return Err(ConfigError::HalfRendezvous(path.to_path_buf()));
    }
    Ok(config)
}

/// The config in force when no flag names one: the file `NATTER_CONFIG` names (which must
/// be there), else the config folder's if there is one.
pub fn load_default() -> Result<FileConfig, ConfigError> {
    match (named(), default_path()) {
        (Some(p), _) => read(&p, true),
        (None, Some(p)) => read(&p, false),
        (None, None) => Ok(FileConfig::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<FileConfig, String> {
        parse(Path::new("config.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_is_read() {
        let key = crate::Identity::generate().peer_id();
        let c = parsed(&format!(
            "listen = \"0.0.0.0:47200\"\nrendezvous = \"198.18.0.1:47300\"\n\
             rendezvous_key = \"{key}\"\nrendezvous_tcp = \"198.18.0.1:443\"\n\
             relay = \"never\"\ndownloads = \"/srv/files\"\nlan_discovery = \"off\"\n"
        ))
        .unwrap();
        assert_eq!(c.listen, Some("0.0.0.0:47200".parse().unwrap()));
        assert_eq!(c.rendezvous_key, Some(key));
        assert_eq!(c.relay, Some(RelayPolicy::Never));
        assert_eq!(c.downloads.as_deref(), Some(Path::new("/srv/files")));
        assert_eq!(c.lan_discovery, Some(LanDiscovery::Off));
        assert_eq!(parsed("").unwrap(), FileConfig::default());
    }

    #[test]
    fn a_bad_value_or_an_unknown_key_is_an_error_that_says_where() {
        for (text, says) in [
            ("listen = \"localhost\"", "line 1"),
            ("relay = \"sometimes\"", "sometimes"),
            ("lan_discovery = true", "line 1"),
            ("\nlisten_port = 47100", "listen_port"),
            ("rendezvous_key = \"not-a-key\"", "line 1"),
            ("listen = ", "line 1"),
        ] {
            let e = parsed(text).unwrap_err();
            assert!(e.contains(says) && e.contains("config.toml"), "{text}: {e}");
        }
        let half = parsed("rendezvous = \"198.18.0.1:47300\"").unwrap_err();
        assert!(half.contains("needs both"), "{half}");
    }

    #[test]
    fn no_file_is_an_empty_config_unless_named_and_a_huge_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.toml");
        assert_eq!(read(&none, false).unwrap(), FileConfig::default());
        let named = load(&none).unwrap_err().to_string();
        assert!(
            named.contains("none.toml") && named.contains("NATTER_CONFIG"),
            "{named}"
        );
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "#".repeat(100_000)).unwrap();
        assert!(
            load(&big)
                .unwrap_err()
                .to_string()
                .contains("more than a config holds")
        );
    }

    #[test]
    fn lan_discovery_words() {
        assert_eq!(LanDiscovery::parse("loopback"), Ok(LanDiscovery::Loopback));
        assert!(LanDiscovery::parse("LAN please").is_err());
        assert_eq!(LanDiscovery::Off.interfaces(), None);
    }
}
