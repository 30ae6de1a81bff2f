//! Owns proving what a router is: a host asks two probe servers on the WAN which address
//! they see it at (one port for both, or one per destination?), and a third server that it
//! never wrote to sends to that address (let in, or dropped?).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::{Host, LabError, Nat};

/// The probe servers' UDP port.
const PORT: u16 = 3478;

/// What the WAN saw of a host's UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The address the first probe server saw (none: nothing got through).
    pub first: Option<SocketAddrV4>,
    /// The address the second probe server saw, from the same socket.
    pub second: Option<SocketAddrV4>,
    /// A packet from a third server the host never wrote to arrived.
    pub unsolicited_arrived: bool,
}

impl Observed {
    /// The kind of network this is, for a host whose own address is `host`.
    pub fn kind(&self, host: Ipv4Addr) -> Nat {
        match (self.first, self.second) {
            (None, _) | (_, None) => Nat::UdpBlocked,
            (Some(a), _) if *a.ip() == host => Nat::Public,
            (Some(a), Some(b)) if a.port() != b.port() => Nat::Symmetric,
            _ if self.unsolicited_arrived => Nat::FullCone,
            _ => Nat::Home,
        }
    }
}

fn io(host: &Host) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |error| LabError::Io {
        ns: host.ns.clone(),
        error,
    }
}

/// Answers each packet with the address it came from, until told to stop.
fn reflect(ready: mpsc::Sender<std::io::Result<()>>, stop: Arc<AtomicBool>) {
    let socket = match UdpSocket::bind(("0.0.0.0", PORT)) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = ready.send(Ok(()));
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(from.to_string().as_bytes(), from);
        }
    }
}

/// Asks one probe server where it sees us (three tries).
fn ask(socket: &UdpSocket, server: Ipv4Addr) -> Option<SocketAddrV4> {
    let mut buf = [0u8; 64];
    for _ in 0..3 {
        socket.send_to(b"where am I", (server, PORT)).ok()?;
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && from == SocketAddr::from((server, PORT))
        {
            return std::str::from_utf8(&buf[..n]).ok()?.parse().ok();
        }
    }
    None
}

pub(crate) fn observe(host: &Host, probes: &[Host; 3]) -> Result<Observed, LabError> {
    let (ready_tx, ready) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let mut reflectors = Vec::new();
    for p in &probes[..2] {
        let (tx, stop) = (ready_tx.clone(), stop.clone());
        reflectors.push(p.spawn(move || reflect(tx, stop))?);
    }
    let observed = ask_and_listen(host, probes, ready);
    stop.store(true, Ordering::SeqCst);
    for r in reflectors {
        let _ = r.join();
    }
    observed
}

fn ask_and_listen(
    host: &Host,
    probes: &[Host; 3],
    ready: mpsc::Receiver<std::io::Result<()>>,
) -> Result<Observed, LabError> {
    for p in &probes[..2] {
        ready
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| LabError::Setup(format!("probe server in {} did not start", p.ns)))?
            .map_err(io(p))?;
    }
    let servers = [probes[0].ip, probes[1].ip];
    let third = probes[2].ip;
    let (mapped_tx, mapped) = mpsc::channel();
    let asking = host.spawn(move || -> std::io::Result<Observed> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(300)))?;
        let first = ask(&socket, servers[0]);
        let second = ask(&socket, servers[1]);
        let _ = mapped_tx.send(first);
        // Wait for the third server's packet (and nothing else).
        socket.set_read_timeout(Some(Duration::from_millis(1500)))?;
        let mut buf = [0u8; 64];
        let mut unsolicited_arrived = false;
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            if from.ip() == third {
                unsolicited_arrived = true;
                break;
            }
        }
        Ok(Observed {
            first,
            second,
            unsolicited_arrived,
        })
    })?;
    let first = mapped
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| LabError::Setup(format!("the probe in {} did not answer", host.ns)))?;
    if let Some(addr) = first {
        probes[2]
            .enter(move || {
                let s = UdpSocket::bind("0.0.0.0:0")?;
                // Twice: the first may wait on ARP.
                for _ in 0..2 {
                    s.send_to(b"unsolicited", addr)?;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok::<_, std::io::Error>(())
            })?
            .map_err(io(&probes[2]))?;
    }
    match asking.join() {
        Ok(r) => r.map_err(io(host)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(port: u16) -> Option<SocketAddrV4> {
        Some(SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 2), port))
    }

    #[test]
    fn each_kind_is_told_apart_by_what_the_probes_saw() {
        let host = Ipv4Addr::new(198, 18, 1, 2);
        let seen = |first, second, unsolicited_arrived| Observed {
            first,
            second,
            unsolicited_arrived,
        };
        assert_eq!(seen(None, None, false).kind(host), Nat::UdpBlocked);
        assert_eq!(seen(at(1), None, false).kind(host), Nat::UdpBlocked);
        let public = Some(SocketAddrV4::new(host, 5));
        assert_eq!(seen(public, public, true).kind(host), Nat::Public);
        assert_eq!(seen(at(1), at(2), false).kind(host), Nat::Symmetric);
        assert_eq!(seen(at(1), at(1), true).kind(host), Nat::FullCone);
        assert_eq!(seen(at(1), at(1), false).kind(host), Nat::Home);
    }
}
