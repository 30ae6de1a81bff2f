//! Owns naming a session's path from the address it really talks to, as the connection
//! reports it: `lan` when that address is this machine or on one of our own networks,
//! `direct` otherwise (`relayed` comes with the relay). Pure: the networks are passed in.

use std::net::{IpAddr, SocketAddr};

use crate::model::Path;

/// One of our networks: an address and its prefix length.
pub(crate) type Network = (IpAddr, u8);

/// Our networks now (every interface's address and prefix).
pub(crate) fn local_networks() -> Vec<Network> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| match i.addr {
            if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), a.prefixlen),
            if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), a.prefixlen),
        })
        .collect()
}

fn same_network(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The path to `remote`, given our networks.
pub(crate) fn classify(remote: SocketAddr, ours: &[Network]) -> Path {
    let ip = remote.ip().to_canonical();
    if ip.is_loopback()
        || ours
            .iter()
            .any(|(net, prefix)| same_network(net.to_canonical(), ip, *prefix))
    {
        Path::Lan
    } else {
        Path::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn an_address_on_our_own_network_is_the_lan_and_any_other_is_direct() {
        let ours: Vec<Network> = vec![
            ("198.18.1.2".parse().unwrap_or(IpAddr::from([0; 4])), 24),
            ("2001:2::5".parse().unwrap_or(IpAddr::from([0; 16])), 64),
        ];
        assert_eq!(classify(addr("198.18.1.77:47100"), &ours), Path::Lan);
        assert_eq!(classify(addr("198.18.2.2:47100"), &ours), Path::Direct);
        assert_eq!(classify(addr("198.19.0.3:9"), &ours), Path::Direct);
        assert_eq!(classify(addr("127.0.0.1:47100"), &ours), Path::Lan);
        assert_eq!(classify(addr("[::1]:47100"), &ours), Path::Lan);
        assert_eq!(classify(addr("[2001:2::9]:1"), &ours), Path::Lan);
        assert_eq!(classify(addr("[2001:2:0:1::9]:1"), &ours), Path::Direct);
        // An IPv4 peer seen on a dual-stack socket is still an IPv4 address.
        assert_eq!(classify(addr("[::ffff:198.18.1.9]:1"), &ours), Path::Lan);
        // A /0 network holds everything; a /32 only itself.
        let all: Vec<Network> = vec![(IpAddr::from([10, 0, 0, 1]), 0)];
        assert_eq!(classify(addr("198.19.0.3:9"), &all), Path::Lan);
        let one: Vec<Network> = vec![(IpAddr::from([10, 0, 0, 1]), 32)];
        assert_eq!(classify(addr("10.0.0.2:9"), &one), Path::Direct);
    }
}
