//! Owns `natter-cli doctor`: why no peers are visible on the LAN, in plain words, with what to
//! try next. Reads the interface list and flags from the OS; sends nothing.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use serde::Serialize;

use super::is_virtual_interface;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Fine.
    Ok,
    /// Might explain missing peers.
    Warning,
    /// Explains missing peers.
    Problem,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// What was found.
    pub what: String,
    /// What to try.
    pub try_next: String,
}

fn finding(level: Level, what: impl Into<String>, try_next: impl Into<String>) -> Finding {
    Finding {
        level,
        what: what.into(),
        try_next: try_next.into(),
    }
}

/// An interface as the doctor sees it.
#[derive(Clone, Debug)]
pub struct Iface {
    /// Name.
    pub name: String,
    /// Up and running.
    pub up: bool,
    /// Multicast capable.
    pub multicast: bool,
    /// Loopback.
    pub loopback: bool,
    /// IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
}

/// The machine's interfaces (Linux: /sys/class/net flags + getifaddrs).
pub fn interfaces() -> Vec<Iface> {
    let addrs = if_addrs::get_if_addrs().unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_else(|_| addrs.iter().map(|a| a.name.clone()).collect());
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
                .ok()
                .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok());
            let ipv4: Vec<Ipv4Addr> = addrs
                .iter()
                .filter(|a| a.name == name)
                .filter_map(|a| match a.ip() {
                    std::net::IpAddr::V4(v4) => Some(v4),
                    _ => None,
                })
                .collect();
            let loopback = flags
                .map(|f| f & 0x8 != 0)
                .unwrap_or(ipv4.iter().any(|a| a.is_loopback()));
            Iface {
                up: flags.map(|f| f & 0x1 != 0).unwrap_or(!ipv4.is_empty()),
                multicast: flags.map(|f| f & 0x1000 != 0).unwrap_or(true),
                loopback,
                name,
                ipv4,
            }
        })
        .collect()
}

/// Whether UDP 5353 can be shared with other mDNS responders (as mdns-sd needs).
fn port_5353_shareable() -> Result<(), String> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .map_err(|e| e.to_string())?;
    socket.set_reuse_address(true).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    socket.set_reuse_port(true).map_err(|e| e.to_string())?;
    socket
        .bind(&SocketAddr::from(([0, 0, 0, 0], 5353)).into())
        .map_err(|e| e.to_string())?;
    let _: UdpSocket = socket.into();
    Ok(())
}

/// Examines the machine and explains what stands between it and LAN discovery.
pub fn diagnose(ifaces: &[Iface]) -> Vec<Finding> {
    let mut out = Vec::new();
    let usable: Vec<&Iface> = ifaces
        .iter()
        .filter(|i| i.up && !i.loopback && !i.ipv4.is_empty())
        .collect();
    let lan: Vec<&Iface> = usable
        .iter()
        .copied()
        .filter(|i| !is_virtual_interface(&i.name))
        .collect();
    if usable.is_empty() {
        out.push(finding(
            Level::Problem,
            "only the loopback interface is up: this computer is not on any network",
            "connect to Wi-Fi or plug in Ethernet; to chat on this machine only, run with --mdns-interfaces loopback",
        ));
    } else if lan.is_empty() {
        let names: Vec<&str> = usable.iter().map(|i| i.name.as_str()).collect();
        out.push(finding(
            Level::Problem,
            format!("only virtual or VPN adapters are up ({}); Natter skips them and multicast rarely crosses them", names.join(", ")),
            "connect to the LAN directly, run with --mdns-interfaces all, or add the peer by address: contact add ID --addr HOST:PORT",
        ));
    } else {
        for i in &lan {
            if !i.multicast {
                out.push(finding(
                    Level::Problem,
                    format!("interface {} does not support multicast", i.name),
                    "use another network interface, or add peers by address: contact add ID --addr HOST:PORT",
                ));
            } else {
                let ips: Vec<String> = i.ipv4.iter().map(|a| a.to_string()).collect();
                out.push(finding(
                    Level::Ok,
                    format!("interface {} is up with {}", i.name, ips.join(", ")),
                    "nothing",
                ));
            }
        }
    }
    match port_5353_shareable() {
        Ok(()) => out.push(finding(Level::Ok, "the mDNS port 5353 can be shared", "nothing")),
        Err(e) => out.push(finding(
            Level::Problem,
            format!("the mDNS port 5353 is held exclusively by another program ({e})"),
            "stop the program that holds it (see `ss -ulpn sport = :5353`), or add peers by address",
        )),
    }
    out.push(finding(
        Level::Warning,
        "a firewall that drops UDP 5353 multicast (or Natter's own UDP port) would hide peers; this cannot be checked from here",
        "allow UDP 5353 and Natter's port on the LAN (e.g. `sudo ufw allow 5353/udp`), or add peers by address",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, up: bool, loopback: bool, ip: &str) -> Iface {
        Iface {
            name: name.into(),
            up,
            multicast: true,
            loopback,
            ipv4: if ip.is_empty() {
                vec![]
            } else {
                vec![ip.parse().unwrap()]
            },
        }
    }

    #[test]
    fn only_loopback_is_explained() {
        let f = diagnose(&[
            iface("lo", true, true, "127.0.0.1"),
            iface("eth0", false, false, ""),
        ]);
        assert_eq!(f[0].level, Level::Problem);
        assert!(f[0].what.contains("only the loopback"));
    }

    #[test]
    fn only_vpn_is_explained() {
        let f = diagnose(&[
            iface("lo", true, true, "127.0.0.1"),
            iface("wg0", true, false, "10.9.0.2"),
        ]);
        assert!(
            f[0].what.contains("virtual or VPN") && f[0].what.contains("wg0"),
            "{:?}",
            f[0]
        );
    }

    #[test]
    fn a_lan_interface_is_fine() {
        let f = diagnose(&[iface("eth0", true, false, "198.18.0.2")]);
        assert_eq!(f[0].level, Level::Ok);
    }
}
