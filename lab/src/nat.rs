//! Owns the router kinds and the nftables rule set that makes each (checked on this kernel:
//! `../shared/FACTS.md`).

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::LabError;

/// How a router maps and filters UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nat {
    /// No NAT: the host has a public address (its router only forwards).
    Public,
    /// Endpoint-independent mapping (one public port for every destination), inbound only
    /// from where the host has sent (most home routers).
    Home,
    /// Endpoint-independent mapping, and anyone may send to it.
    FullCone,
    /// A new random public port per destination, inbound only from where the host has sent
    /// (offices, cloud NAT, many mobile hotspots).
    Symmetric,
    /// No UDP out at all but DNS (captive portals, strict offices).
    UdpBlocked,
}

/// The mapping kept in a map of our own, so a port is the same towards every destination
/// (plain `snat`/`masquerade` keeps it only by luck), with or without the inbound filter.
fn endpoint_independent(wan: Ipv4Addr, filter: bool) -> String {
    let drop = if filter { "iifname \"rw\" drop" } else { "" };
    format!(
        r#"table ip nat {{
  map eim {{
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout 120s
  }}
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "rw" meta l4proto udp update @eim {{ udp sport : ip saddr . udp sport }}
    oifname "rw" snat to {wan}
  }}
  chain pre {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "rw" meta l4proto udp dnat ip to udp dport map @eim
  }}
}}
table ip filter {{
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "rw" ct state established,related accept
    {drop}
  }}
}}
"#
    )
}

fn rules(kind: Nat, wan: Ipv4Addr) -> String {
    match kind {
        Nat::Public => String::new(),
        Nat::Home => endpoint_independent(wan, true),
        Nat::FullCone => endpoint_independent(wan, false),
        Nat::Symmetric => r#"table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "rw" masquerade random
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "rw" ct state established,related accept
    iifname "rw" drop
  }
}
"#
        .into(),
        Nat::UdpBlocked => r#"table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "rw" masquerade
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    oifname "rw" meta l4proto udp udp dport != 53 drop
    iifname "rw" ct state established,related accept
    iifname "rw" drop
  }
}
"#
        .into(),
    }
}

/// Loads the rule set of `kind` into a router's namespace.
pub(crate) fn install(ns: &str, kind: Nat, wan: Ipv4Addr) -> Result<(), LabError> {
    let rules = rules(kind, wan);
    if rules.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Setup(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(rules.as_bytes())
            .map_err(|e| LabError::Setup(format!("cannot feed nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::Setup(format!("nft: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: format!("nft -f - ({kind:?} rules in {ns})"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
