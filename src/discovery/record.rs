//! Owns the reading of a resolved DNS-SD record: every field checked, anything odd refused.

use std::net::SocketAddr;

use mdns_sd::ResolvedService;
use serde::Serialize;

use crate::identity::{PeerId, PeerIdError};

/// Longest display name kept from a record.
const MAX_NAME: usize = 63;

/// A peer seen on the LAN (a hint until the handshake proves the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Nearby {
    /// The key the record claims.
    pub peer: PeerId,
    /// Where it says to dial.
    pub addrs: Vec<SocketAddr>,
    /// Display name, if published.
    pub name: Option<String>,
    /// Protocol versions it claims, "min-max".
    pub versions: String,
    /// DNS-SD instance name.
    #[serde(skip)]
    pub fullname: String,
}

/// Why a record was ignored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// No `id=` key.
    #[error("no id in the TXT record")]
    MissingId,
    /// `id=` is not a PeerId.
    #[error("bad id in the TXT record: {0}")]
    BadId(PeerIdError),
    /// No usable address or port.
    #[error("no address or port")]
    NoAddress,
    /// A version range that does not parse.
    #[error("bad protocol version range {0:?}")]
    BadVersions(String),
}

/// Where a resolved record says its host listens, sorted: `None` without a port or an
/// address.
pub(crate) fn addresses(info: &ResolvedService) -> Option<Vec<SocketAddr>> {
    let port = info.get_port();
    let mut addrs: Vec<SocketAddr> = info
        .get_addresses()
        .iter()
        .map(|ip| SocketAddr::new(ip.to_ip_addr(), port))
        .collect();
    addrs.sort();
    (port != 0 && !addrs.is_empty()).then_some(addrs)
}

/// Reads a resolved record.
pub fn parse_record(info: &ResolvedService) -> Result<Nearby, RecordError> {
    let id = info
        .get_property_val_str("id")
        .ok_or(RecordError::MissingId)?;
    if id.len() > 64 {
        return Err(RecordError::BadId(PeerIdError::Length(id.len())));
    }
    let peer: PeerId = id.parse().map_err(RecordError::BadId)?;
    let versions = info.get_property_val_str("v").unwrap_or("1-1");
    let valid = versions
        .split_once('-')
        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
    if !valid {
        return Err(RecordError::BadVersions(
            versions.chars().take(16).collect(),
        ));
    }
    // Nothing that steers (control characters, bidi overrides) is kept; a name of
    // nothing else is no name.
    let name = info
        .get_property_val_str("name")
        .map(|n| {
            n.chars()
                .filter(|c| !crate::text::steers(*c))
                .take(MAX_NAME)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    let addrs = addresses(info).ok_or(RecordError::NoAddress)?;
    Ok(Nearby {
        peer,
        addrs,
        name,
        versions: versions.to_string(),
        fullname: info.get_fullname().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use mdns_sd::ServiceInfo;

    fn resolved(props: &[(&str, &str)], port: u16, ip: &str) -> ResolvedService {
        ServiceInfo::new(super::super::SERVICE_TYPE, "x", "h.local.", ip, port, props)
            .unwrap()
            .as_resolved_service()
    }

    #[test]
    fn a_good_record_is_read() {
        let id = Identity::generate().peer_id();
        let r = resolved(
            &[("id", &id.to_string()), ("v", "1-1"), ("name", "Ann\u{7}")],
            4000,
            "192.0.2.1",
        );
        let n = parse_record(&r).unwrap();
        assert_eq!(n.peer, id);
        assert_eq!(n.addrs, vec!["192.0.2.1:4000".parse().unwrap()]);
        assert_eq!(n.name.as_deref(), Some("Ann"));
    }

    #[test]
    fn garbage_records_are_refused() {
        let id = Identity::generate().peer_id().to_string();
        assert_eq!(
            parse_record(&resolved(&[("v", "1-1")], 4000, "192.0.2.1")),
            Err(RecordError::MissingId)
        );
        assert!(matches!(
            parse_record(&resolved(&[("id", "not-base32!")], 4000, "192.0.2.1")),
            Err(RecordError::BadId(_))
        ));
        let huge = "a".repeat(200);
        assert!(matches!(
            parse_record(&resolved(&[("id", &huge)], 4000, "192.0.2.1")),
            Err(RecordError::BadId(PeerIdError::Length(200)))
        ));
        assert!(matches!(
            parse_record(&resolved(&[("id", &id), ("v", "x-y")], 4000, "192.0.2.1")),
            Err(RecordError::BadVersions(_))
        ));
        assert_eq!(
            parse_record(&resolved(&[("id", &id)], 4000, "")),
            Err(RecordError::NoAddress)
        );
        assert_eq!(
            parse_record(&resolved(&[("id", &id)], 0, "192.0.2.1")),
            Err(RecordError::NoAddress)
        );
        let long_name = "n".repeat(200);
        let n = parse_record(&resolved(
            &[("id", &id), ("name", &long_name)],
            1,
            "192.0.2.1",
        ))
        .unwrap();
        assert_eq!(n.name.map(|s| s.len()), Some(63));
    }

    /// Found by fuzzing (`mdns_txt`): a name of control characters only became an empty
    /// name instead of none, and bidi overrides (which reorder the text around them in the
    /// nearby list) were kept.
    #[test]
    fn a_name_that_only_steers_is_no_name_and_overrides_are_dropped() {
        let id = Identity::generate().peer_id().to_string();
        let name = |n: &str| {
            parse_record(&resolved(&[("id", &id), ("name", n)], 1, "192.0.2.1"))
                .unwrap()
                .name
        };
        assert_eq!(name("\0\0\u{7}"), None);
        assert_eq!(name("\u{202E}\u{2066}"), None);
        assert_eq!(name("Ann\u{202E}gnp.exe"), Some("Anngnp.exe".into()));
    }
}
