//! Targets of what reaches a node outside a session: sealed mailbox envelopes, mDNS TXT
//! records, command lines, Natter IDs and invite links.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use mdns_sd::{ResolvedService, ScopedIp, ServiceInfo, TxtProperties};
use prost::Message;

use super::keys;
use crate::control::Command;
use crate::discovery::{self, Nearby};
use crate::identity::{PeerId, PeerIdError};
use crate::seal::{self, Envelope, Recipient, SealError};
use crate::text;

/// The target `sealed_envelope`. Bytes: an envelope as a mailbox hands it over, opened as ours;
/// only a real sender's signature opens one (the fixed peer sealed every seed).
pub fn sealed_envelope(data: &[u8]) {
    let Ok(o) = seal::open(keys::me_id(), keys::my_prekeys(), data) else {
        return;
    };
    assert!(data.len() <= seal::MAX_ENVELOPE && o.sealed_ms < keys::PREKEY_EXPIRES_MS);
    let env = Envelope::decode(data).map_err(|e| e.to_string());
    assert!(env.is_ok_and(|e| e.msg_id == o.msg_id && e.sender == o.sender.as_bytes()));
    let _ = crate::wire::Chat::decode(o.plaintext.as_slice());
}

/// The target `sealed_round_trip`. Bytes: the seal time (8), the bit to change (2), the message
/// id (16), then the text the peer seals to us: it must open as itself and, with one bit
/// changed, not at all.
pub fn sealed_round_trip(data: &[u8]) {
    let (me, mine) = (keys::me_id(), keys::my_prekeys());
    let Some((head, plaintext)) = data.split_first_chunk::<26>() else {
        return;
    };
    let sealed_ms = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
    let sealed_ms = sealed_ms % keys::PREKEY_EXPIRES_MS;
    let flip = usize::from(u16::from_be_bytes([head[8], head[9]]));
    let msg_id: [u8; 16] = head[10..].try_into().unwrap_or_default();
    let to = Recipient {
        peer: me,
        prekey: mine[0].public,
        expires_ms: mine[0].expires_ms,
    };
    let (peer, prekey) = (keys::peer(), keys::peer_prekey());
    let sealed = seal::seal(
        peer,
        prekey,
        &to,
        msg_id,
        seal::KIND_CHAT,
        plaintext,
        sealed_ms,
    );
    let mut sealed = match sealed {
        Ok(s) => s,
        Err(e) => panic!("cannot seal with valid keys: {e}"),
    };
    match seal::open(me, mine, &sealed) {
        Ok(o) => {
            assert!(o.sender == *keys::peer_id() && o.msg_id == msg_id && o.sealed_ms == sealed_ms);
            assert!(o.kind == seal::KIND_CHAT && o.plaintext == plaintext);
        }
        Err(SealError::Malformed(_)) if sealed.len() > seal::MAX_ENVELOPE => return,
        Err(e) => panic!("a sealed message does not open: {e}"),
    }
    let at = flip % sealed.len();
    sealed[at] ^= 1 << (flip % 8);
    assert!(
        seal::open(me, mine, &sealed).is_err(),
        "opened with bit {flip} changed"
    );
}

/// A resolved record to fill in (the service name and host are never read).
fn resolved() -> &'static ResolvedService {
    static TEMPLATE: OnceLock<ResolvedService> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let props: &[(&str, &str)] = &[];
        match ServiceInfo::new(discovery::SERVICE_TYPE, "x", "h.local.", "", 1, props) {
            Ok(info) => info.as_resolved_service(),
            Err(e) => panic!("no service info: {e}"),
        }
    })
}

/// The target `mdns_txt`. Bytes: the port (2), which addresses (1: bit 0 an IPv4 one, bit 1 an
/// IPv6 one; bit 2: read it as a public room's record), then the TXT record's rdata as it
/// comes in a DNS answer (length-prefixed `key=value` strings).
pub fn mdns_txt(data: &[u8]) {
    let (Some(port), Some(&which)) = (data.get(..2), data.get(2)) else {
        return;
    };
    let txt = &data[3..];
    let mut info = resolved().clone();
    info.txt_properties = TxtProperties::from(txt);
    info.port = u16::from_be_bytes([port[0], port[1]]);
    info.addresses.clear();
    if which & 1 == 1 {
        info.addresses
            .insert(ScopedIp::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))));
    }
    if which & 2 == 2 {
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
        info.addresses.insert(ScopedIp::from(IpAddr::V6(v6)));
    }
    if which & 4 == 4 {
        return room_record(&info);
    }
    let Ok(n) = discovery::parse_record(&info) else {
        return;
    };
    let Nearby {
        peer,
        addrs,
        name,
        versions,
        ..
    } = n;
    let id = info.get_property_val_str("id").unwrap_or_default();
    assert_eq!(
        peer.to_string(),
        canonical_id(id),
        "another key than the record's"
    );
    assert!(info.port != 0 && !addrs.is_empty() && addrs.is_sorted());
    assert!(addrs.iter().all(|a| a.port() == info.port));
    if let Some(name) = name {
        assert!(!name.is_empty() && name.chars().count() <= 63, "{name:?}");
        assert!(
            text::printable(&name) == name,
            "a name that steers: {name:?}"
        );
    }
    let range = versions.split_once('-');
    assert!(range.is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()));
}

/// A public room's record, read at 1 000 ms (when the seeds' listing is valid).
fn room_record(info: &ResolvedService) {
    let Ok(n) = discovery::parse_room_record(info, 1_000) else {
        return;
    };
    let named = info.get_property_val_str("room").unwrap_or_default();
    assert_eq!(
        n.listing.listing().room.to_string(),
        named.trim().to_ascii_lowercase()
    );
    assert_eq!(n.listing.live(1_000), Ok(()));
    assert!(info.port != 0 && !n.addrs.is_empty() && n.addrs.is_sorted());
}

/// A pasted ID as its checksum is computed: no spaces or line breaks, lowercase.
fn canonical_id(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The target `control_command`. Bytes: one command line, as stdin and the control socket take
/// it.
pub fn control_command(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let answer = match serde_json::from_str::<Command>(line) {
        Ok(cmd) => {
            let _ = cmd.needs_network();
            let json = match serde_json::to_string(&cmd) {
                Ok(j) => j,
                Err(e) => panic!("a command read does not write: {e}"),
            };
            match serde_json::from_str::<Command>(&json) {
                Ok(back) => assert_eq!(back, cmd, "round trip through {json}"),
                Err(e) => panic!("{json} does not read back: {e}"),
            }
            return;
        }
        Err(e) => {
            serde_json::json!({ "answer": { "ok": false, "error": format!("bad command: {e}") } })
        }
    };
    // The refusal quotes the line: printed, nothing in it may steer the terminal.
    let printed = text::terminal_json(&answer.to_string());
    assert!(
        text::printable(&printed) == printed,
        "the answer steers: {printed:?}"
    );
    match serde_json::from_str::<serde_json::Value>(&printed) {
        Ok(back) => assert_eq!(back, answer, "escaping changed the answer"),
        Err(e) => panic!("the printed answer is not JSON: {e}"),
    }
}

/// The target `natter_id`. Bytes: a Natter ID or an invite link, as pasted.
pub fn natter_id(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let canonical = canonical_id(s);
    match s.parse::<PeerId>() {
        Ok(id) => {
            assert_eq!(id.to_string(), canonical, "not the ID pasted");
            assert_eq!(PeerId::from_stored(s), Ok(id));
            assert_eq!(PeerId::from_invite_link(&id.invite_link()), Some(id));
            let _ = format!("{id:?} {}", id.fingerprint());
        }
        Err(PeerIdError::Length(n)) => {
            assert!(
                n != 55 && n == canonical.chars().count(),
                "a length of {n} refused"
            );
        }
        Err(_) => {}
    }
    if let Ok(id) = PeerId::from_stored(s) {
        assert_eq!(id.to_string(), canonical);
    }
    if let Some(id) = PeerId::from_invite_link(s) {
        assert!(canonical.contains(&id.to_string()), "a link to another ID");
    }
}
