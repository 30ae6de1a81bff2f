//! The lab builds each kind of network it names, and proves it before a test trusts it.

use natter_lab::{Lab, Nat};

#[test]
fn every_router_kind_behaves_as_named() {
    let mut lab = Lab::new().unwrap();
    for (i, kind) in [
        Nat::Public,
        Nat::Home,
        Nat::FullCone,
        Nat::Symmetric,
        Nat::UdpBlocked,
    ]
    .into_iter()
    .enumerate()
    {
        let (host, seen) = lab.site(&format!("h{i}"), kind).unwrap();
        assert_eq!(seen.kind(host.ip), kind, "{kind:?}: {seen:?}");
        // Asked again from a new socket, the network answers the same way.
        let again = lab.probe(&host).unwrap();
        assert_eq!(
            again.kind(host.ip),
            kind,
            "{kind:?} the second time: {again:?}"
        );
    }
}
