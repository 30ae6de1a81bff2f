//! Owns the network lab the system tests run in: a WAN (a bridge in a namespace of its own),
//! public hosts on it, and NAT routers of named kinds with one host behind each (a host can
//! move to a new router, as a laptop changes networks) — every one a
//! network namespace this process creates, names with a per-run prefix, and deletes when the
//! [`Lab`] is dropped. Each router's kind is proven by probing before a test trusts it.
//!
//! Addresses: the WAN is 198.19.0.0/24, the LAN behind router `k` is 198.18.k.0/24 — all in
//! 198.18.0.0/15, and only inside this lab's namespaces (labs running at once cannot see each
//! other). Needs root, iproute2 and nftables.

mod capture;
mod child;
mod nat;
mod probe;

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use capture::{Capture, Captured};
pub use child::JsonChild;
pub use nat::Nat;
pub use probe::Observed;

/// Why the lab could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Not root, or a tool is missing.
    #[error("{0}")]
    Setup(String),
    /// A command that builds the network failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// A router does not behave as the kind it was built as.
    #[error("the {built:?} router behaves as {seen}; its rule set is wrong on this kernel")]
    WrongKind {
        /// The kind asked for.
        built: Nat,
        /// What the probe saw.
        seen: String,
    },
    /// No line matched in time.
    #[error("timed out after {secs}s; last lines:\n{tail}")]
    Timeout {
        /// Seconds waited.
        secs: u64,
        /// The last lines read.
        tail: String,
    },
    /// A command was answered with an error.
    #[error("refused: {0}")]
    Refused(String),
    /// Entering a namespace or using a socket in it failed.
    #[error("in namespace {ns}: {error}")]
    Io {
        /// The namespace.
        ns: String,
        /// What failed.
        error: std::io::Error,
    },
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs a command; its failure is an error with what it printed.
pub(crate) fn run(args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| LabError::Setup(format!("cannot run {}: {e}", args[0])))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -n NS ARGS…` (the arguments split on spaces).
fn ip(ns: &str, args: &str) -> Result<String, LabError> {
    let mut all = vec!["ip", "-n", ns];
    all.extend(args.split(' '));
    run(&all)
}

/// A host in the lab: a namespace with one address.
#[derive(Clone, Debug)]
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    /// Its address (on the WAN for a public host, on its LAN behind a router).
    pub ip: Ipv4Addr,
}

impl Host {
    /// A command run inside this host's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Runs `f` on a thread of its own inside this host's namespace, and waits for it:
    /// sockets it opens live there.
    pub fn enter<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LabError> {
        match self.spawn(f)?.join() {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Starts `f` on a thread of its own inside this host's namespace (the thread panics,
    /// and `f` never runs, if it cannot enter it).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<T>, LabError> {
        let ns = self.ns.clone();
        let file =
            std::fs::File::open(format!("/run/netns/{ns}")).map_err(|error| LabError::Io {
                ns: ns.clone(),
                error,
            })?;
        Ok(std::thread::spawn(move || {
            // SAFETY: setns changes only this new thread's network namespace, with a
            // namespace file it holds open; the thread ends after `f`.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert!(
                r == 0,
                "cannot enter namespace {ns}: {}",
                std::io::Error::last_os_error()
            );
            f()
        }))
    }
}

/// A NAT router: its namespace, its WAN address, and the kind it was proven to be.
#[derive(Clone, Debug)]
pub struct Router {
    /// The namespace.
    pub ns: String,
    /// Its address on the WAN (the one hosts behind it appear from).
    pub wan_ip: Ipv4Addr,
    /// The kind, as proven.
    pub kind: Nat,
    /// What the probe saw.
    pub observed: Observed,
}

/// A lab: the WAN and everything on it. Dropping it deletes every namespace it made.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    /// Namespaces on the WAN, which route to public sites.
    wan_hosts: Vec<String>,
    /// Public sites' networks and the WAN address they are reached through.
    routes: Vec<(String, Ipv4Addr)>,
    next_wan: u8,
    next_lan: u8,
    probes: Option<[Host; 3]>,
}

impl Lab {
    /// An empty WAN. The namespace prefix is `NATTER_LAB_PREFIX` (set by `scripts/test`, which
    /// removes what a killed run left) or `nl`, then this process's id and a counter.
    pub fn new() -> Result<Lab, LabError> {
        let uid = run(&["id", "-u"]).unwrap_or_default();
        if uid.trim() != "0" {
            return Err(LabError::Setup(
                "the NAT lab creates network namespaces and needs root; run ./scripts/test as root (CI does)".into(),
            ));
        }
        for tool in ["ip", "nft"] {
            if run(&["sh", "-c", &format!("command -v {tool}")]).is_err() {
                return Err(LabError::Setup(format!(
                    "{tool} is missing: ./scripts/test installs iproute2 and nftables"
                )));
            }
        }
        let base = std::env::var("NATTER_LAB_PREFIX").unwrap_or_else(|_| "nl".into());
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut lab = Lab {
            prefix: format!("{base}{}x{n}", std::process::id()),
            namespaces: Vec::new(),
            wan_hosts: Vec::new(),
            routes: Vec::new(),
            next_wan: 2,
            next_lan: 1,
            probes: None,
        };
        let wan = lab.namespace("wan")?;
        run(&["ip", "-n", &wan, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &wan, "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// The prefix of every namespace this lab makes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn namespace(&mut self, name: &str) -> Result<String, LabError> {
        let ns = format!("{}{name}", self.prefix);
        run(&["ip", "netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace with an interface `iface` on the WAN bridge; returns it and its address.
    fn on_wan(&mut self, name: &str, iface: &str) -> Result<(String, Ipv4Addr), LabError> {
        let n = self.next_wan;
        self.next_wan = n
            .checked_add(1)
            .filter(|n| *n < 250)
            .ok_or_else(|| LabError::Setup("the WAN is full (248 hosts)".into()))?;
        let ns = self.namespace(name)?;
        let wan = format!("{}wan", self.prefix);
        let port = format!("w{n}");
        run(&[
            "ip", "link", "add", &port, "netns", &wan, "type", "veth", "peer", "name", iface,
            "netns", &ns,
        ])?;
        run(&[
            "ip", "-n", &wan, "link", "set", &port, "master", "br0", "up",
        ])?;
        let ip = Ipv4Addr::new(198, 19, 0, n);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            iface,
        ])?;
        run(&["ip", "-n", &ns, "link", "set", iface, "up"])?;
        for (net, via) in &self.routes {
            run(&[
                "ip",
                "-n",
                &ns,
                "route",
                "add",
                net,
                "via",
                &via.to_string(),
            ])?;
        }
        self.wan_hosts.push(ns.clone());
        Ok((ns, ip))
    }

    /// A host with a public address on the WAN.
    pub fn public(&mut self, name: &str) -> Result<Host, LabError> {
        let (ns, ip) = self.on_wan(name, "eth0")?;
        Ok(Host { ns, ip })
    }

    /// A host on a network of `kind`, proven by probing before it is returned, with what
    /// the probe saw. A public host has an address of its own network (behind a router that
    /// only forwards), so two public peers do not share a link as two hosts on one LAN do.
    pub fn site(&mut self, name: &str, kind: Nat) -> Result<(Host, Observed), LabError> {
        self.behind(name, kind)
            .map(|(router, host)| (host, router.observed))
    }

    /// A router of `kind` on the WAN and one host behind it; the router's kind is proven
    /// (by probing from the host) before it is returned.
    pub fn behind(&mut self, name: &str, kind: Nat) -> Result<(Router, Host), LabError> {
        let hns = self.namespace(name)?;
        self.attach(&hns, &format!("{name}r"), kind)
    }

    /// The host leaves its network for a new one of `kind` (a laptop moving from one
    /// Wi-Fi to another): its interface goes away, a new one comes up behind a new router
    /// with a new address. Returns the new router (proven) and the host as it is now.
    pub fn move_to(&mut self, host: &Host, kind: Nat) -> Result<(Router, Host), LabError> {
        ip(&host.ns, "link del eth0")?;
        let name = format!(
            "{}m{}",
            host.ns.trim_start_matches(&self.prefix),
            self.next_lan
        );
        self.attach(&host.ns, &name, kind)
    }

    /// A new router `name` of `kind` on the WAN, with the host namespace `hns` behind it.
    fn attach(&mut self, hns: &str, name: &str, kind: Nat) -> Result<(Router, Host), LabError> {
        let k = self.next_lan;
        self.next_lan = k
            .checked_add(1)
            .ok_or_else(|| LabError::Setup("no LAN numbers left (255 sites)".into()))?;
        let (rns, wan_ip) = self.on_wan(name, "rw")?;
        run(&[
            "ip", "link", "add", "rl", "netns", &rns, "type", "veth", "peer", "name", "eth0",
            "netns", hns,
        ])?;
        let gw = Ipv4Addr::new(198, 18, k, 1);
        let host_ip = Ipv4Addr::new(198, 18, k, 2);
        ip(&rns, &format!("addr add {gw}/24 dev rl"))?;
        ip(&rns, "link set rl up")?;
        ip(hns, &format!("addr add {host_ip}/24 dev eth0"))?;
        ip(hns, "link set eth0 up")?;
        ip(hns, &format!("route add default via {gw}"))?;
        run(&[
            "ip",
            "netns",
            "exec",
            &rns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])?;
        nat::install(&rns, kind, wan_ip)?;
        if kind == Nat::Public {
            // Everyone on the WAN reaches this network through its router.
            let net = format!("198.18.{k}.0/24");
            for ns in self.wan_hosts.iter().filter(|ns| **ns != rns) {
                ip(ns, &format!("route add {net} via {wan_ip}"))?;
            }
            self.routes.push((net, wan_ip));
        }
        let host = Host {
            ns: hns.to_string(),
            ip: host_ip,
        };
        let observed = self.probe(&host)?;
        let seen = observed.kind(host.ip);
        if seen != kind {
            return Err(LabError::WrongKind {
                built: kind,
                seen: format!("{seen:?} ({observed:?})"),
            });
        }
        let router = Router {
            ns: rns,
            wan_ip,
            kind,
            observed,
        };
        Ok((router, host))
    }

    /// What a host's traffic looks like from the WAN (see [`Observed`]).
    pub fn probe(&mut self, host: &Host) -> Result<Observed, LabError> {
        let probes = match &self.probes {
            Some(p) => p.clone(),
            None => {
                let p = [
                    self.public("probe1")?,
                    self.public("probe2")?,
                    self.public("probe3")?,
                ];
                self.probes = Some(p.clone());
                p
            }
        };
        probe::observe(host, &probes)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
