//! Shared helpers: in-process nodes on loopback, each with its own profile folder.

use std::net::SocketAddr;
use std::time::Duration;

use natter::model::Contact;
use natter::node::{Event, Node, NodeConfig, NodeHandle};
use tokio::sync::broadcast;

pub(crate) struct TestNode {
    pub handle: NodeHandle,
    pub events: broadcast::Receiver<Event>,
    pub addr: SocketAddr,
    pub _dir: tempfile::TempDir,
}

/// Logs to the test output when RUST_LOG is set.
pub(crate) fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) async fn node() -> TestNode {
    node_in(tempfile::tempdir().expect("temp dir"), |_| {}).await
}

/// A node on loopback in `dir`, with no LAN discovery unless `tweak` turns it on.
pub(crate) async fn node_in(
    dir: tempfile::TempDir,
    tweak: impl FnOnce(&mut NodeConfig),
) -> TestNode {
    logs();
    let mut config = NodeConfig::new(dir.path());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.discovery = None;
    config.downloads = Some(dir.path().join("downloads"));
    tweak(&mut config);
    let (handle, events) = Node::start(config).await.expect("node starts");
    let addr = handle.local_addr().expect("bound");
    TestNode {
        handle,
        events,
        addr,
        _dir: dir,
    }
}

/// Starts a node again on the profile of one that was shut down. Its tasks let go of the
/// profile lock as they end, a moment after the shutdown: wait for that, up to 10 s.
pub(crate) async fn restart(dir: tempfile::TempDir) -> TestNode {
    restart_with(dir, |_| {}).await
}

/// [`restart`], with the config adjusted by `tweak`.
pub(crate) async fn restart_with(
    dir: tempfile::TempDir,
    tweak: impl Fn(&mut NodeConfig),
) -> TestNode {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut config = NodeConfig::new(dir.path());
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.discovery = None;
        config.downloads = Some(dir.path().join("downloads"));
        tweak(&mut config);
        match Node::start(config).await {
            Ok((handle, events)) => {
                let addr = handle.local_addr().expect("bound");
                return TestNode {
                    handle,
                    events,
                    addr,
                    _dir: dir,
                };
            }
            Err(natter::node::NodeError::ProfileInUse(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("node restarts: {e}"),
        }
    }
}

impl TestNode {
    pub(crate) fn downloads(&self) -> std::path::PathBuf {
        self.handle.downloads().to_path_buf()
    }

    pub(crate) fn id(&self) -> natter::PeerId {
        self.handle.peer_id()
    }

    /// Adds `other` as a contact with its loopback address.
    pub(crate) async fn add(&self, other: &TestNode) {
        let mut c = Contact::new(other.id());
        c.addr = Some(other.addr.to_string());
        self.handle.add_contact(c).await.expect("contact added");
    }

    /// Waits for an event matching `f`; panics with what was seen on timeout.
    /// The next `spoof_suspected` within `secs`: (claimed, presented, address).
    pub(crate) async fn spoof_suspected(
        &mut self,
        secs: u64,
    ) -> (natter::PeerId, natter::PeerId, std::net::SocketAddr) {
        match self
            .wait_for(secs, |e| matches!(e, Event::SpoofSuspected { .. }))
            .await
        {
            Event::SpoofSuspected {
                claimed,
                presented,
                addr,
            } => (claimed, presented, addr),
            _ => unreachable!(),
        }
    }

    pub(crate) async fn wait_for(&mut self, secs: u64, f: impl Fn(&Event) -> bool) -> Event {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(e)) if f(&e) => return e,
                Ok(Ok(e)) => seen.push(format!("{e:?}")),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(e)) => panic!("event stream ended: {e}"),
                Err(_) => panic!("timed out after {secs}s; saw:\n{}", seen.join("\n")),
            }
        }
    }

    /// Collects events for `ms` milliseconds.
    pub(crate) async fn drain(&mut self, ms: u64) -> Vec<Event> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(e);
        }
        out
    }
}

/// Two nodes that have each other as contacts and are connected.
pub(crate) async fn friends() -> (TestNode, TestNode) {
    let mut a = node().await;
    let mut b = node().await;
    a.add(&b).await;
    b.add(&a).await;
    let bid = b.id();
    a.wait_for(
        10,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == bid),
    )
    .await;
    let aid = a.id();
    b.wait_for(
        10,
        |e| matches!(e, Event::Connected { peer, .. } if *peer == aid),
    )
    .await;
    (a, b)
}

/// A rendezvous server in this process, on loopback, stopped when dropped.
pub(crate) struct Rv {
    pub(crate) config: natter::rendezvous::RendezvousConfig,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub(crate) async fn rendezvous() -> Rv {
    let dir = tempfile::tempdir().unwrap();
    use natter::rendezvous::server::{Server, ServerConfig};
    let server = Server::bind(ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path(),
    ))
    .unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();
    let config = natter::rendezvous::RendezvousConfig {
        addr,
        key: server.peer_id(),
        tcp: None,
        also: Vec::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Rv {
        config,
        _dir: dir,
        _stop: stop,
    }
}
