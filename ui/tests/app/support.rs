//! Real nodes on loopback and the glue that runs the app's operations against them.

use std::path::Path;
use std::time::Duration;

use natter::node::{Event, Node as CoreNode, NodeConfig, NodeHandle};
use natter_ui::{App, Message, Node, run_op};
use tokio::sync::broadcast;

pub(crate) struct Peer {
    pub node: NodeHandle,
    pub events: broadcast::Receiver<Event>,
    pub dir: tempfile::TempDir,
}

/// A node on loopback with no LAN discovery; `key`: a fixed identity from tests/fixtures.
pub(crate) async fn peer_with(key: Option<&str>, onboarded: bool) -> Peer {
    peer_config(key, onboarded, |_| {}).await
}

/// [`peer_with`], with the node's config changed by `tweak` (a rendezvous…).
pub(crate) async fn peer_config(
    key: Option<&str>,
    onboarded: bool,
    tweak: impl FnOnce(&mut NodeConfig),
) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    if let Some(name) = key {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.pem"));
        let key = dir.path().join(natter::identity::KEY_FILE);
        std::fs::copy(src, &key).unwrap();
        // A checkout's files are 0644; a key must be the user's alone.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut c = NodeConfig::new(dir.path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.discovery = None;
    c.downloads = Some(dir.path().join("downloads"));
    tweak(&mut c);
    let (node, events) = CoreNode::start(c).await.unwrap();
    if onboarded {
        node.set_preference(natter_ui::pref::ONBOARDED, "1")
            .await
            .unwrap();
    }
    Peer { node, events, dir }
}

/// A node whose user already passed the first-start screen.
pub(crate) async fn peer() -> Peer {
    peer_with(None, true).await
}

/// Applies a message and runs every operation it leads to, as the app's Tasks would.
pub(crate) async fn apply(app: &mut App, node: &NodeHandle, message: Message) {
    let mut queue = vec![message];
    while let Some(m) = queue.pop() {
        for op in app.update(m) {
            queue.push(run_op(Node(node.clone()), op).await);
        }
    }
}

/// Feeds the node's events to the app for `ms` milliseconds.
pub(crate) async fn pump(app: &mut App, p: &mut Peer, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, p.events.recv()).await {
        let node = p.node.clone();
        apply(app, &node, Message::Node(e)).await;
    }
}

/// Clicks and types in the current view; applies what the user did.
pub(crate) async fn interact(
    app: &mut App,
    node: &NodeHandle,
    f: impl FnOnce(&mut iced_test::Simulator<'_, natter_ui::Message>),
) {
    let messages: Vec<Message> = {
        let mut ui = iced_test::simulator(app.view());
        f(&mut ui);
        ui.into_messages().collect()
    };
    for m in messages {
        apply(app, node, m).await;
    }
}

/// The app after the node started (and its preferences loaded).
pub(crate) async fn booted(a: &Peer) -> App {
    let mut app = App::default();
    apply(&mut app, &a.node, Message::Booted(Ok(Node(a.node.clone())))).await;
    app
}

/// Makes `b` know where `a` is, as a contact: `b` dials, a session comes up.
pub(crate) async fn introduce(a: &Peer, b: &Peer) {
    let mut c = natter::model::Contact::new(a.node.peer_id());
    c.addr = Some(a.node.local_addr().unwrap().to_string());
    b.node.add_contact(c).await.unwrap();
}

/// The notification the app raises with this title and body, opening `from` when clicked.
pub(crate) fn notify(title: &str, body: &str, from: natter_ui::notify::Source) -> natter_ui::Op {
    natter_ui::Op::Notify(natter_ui::desktop::notices::Note::new(title, body).opening(from))
}

/// Whether the view shows this text.
pub(crate) fn shows(app: &App, text: &str) -> bool {
    iced_test::simulator(app.view()).find(text).is_ok()
}

/// The same profile started again (the app restarted): the node shut down, a new one on
/// the same folder, with the same settings as `peer_with`. The old node's tasks let go of
/// the profile lock a moment after the shutdown: tried again for up to 10 s.
pub(crate) async fn restart(p: Peer) -> Peer {
    p.node.shutdown().await;
    drop(p.node);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = NodeConfig::new(p.dir.path());
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.discovery = None;
        c.downloads = Some(p.dir.path().join("downloads"));
        match CoreNode::start(c).await {
            Ok((node, events)) => {
                return Peer {
                    node,
                    events,
                    dir: p.dir,
                };
            }
            Err(natter::node::NodeError::ProfileInUse(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the node starts again: {e}"),
        }
    }
}

/// Applies a message and returns the operations it asks for, without running them (for
/// operations that reach outside the test: a browser, the clipboard, quitting).
pub(crate) fn ops_of(app: &mut App, messages: Vec<Message>) -> Vec<natter_ui::Op> {
    messages.into_iter().flat_map(|m| app.update(m)).collect()
}

/// How many text widgets in the view read exactly `text` (the Simulator's `find` stops at
/// the first).
pub(crate) fn count(app: &App, text: &str) -> usize {
    use iced_test::selector::{Candidate, Selector};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counting(String, Arc<AtomicUsize>);
    impl Selector for Counting {
        type Output = ();
        fn select(&mut self, candidate: Candidate<'_>) -> Option<()> {
            if let Candidate::Text { content, .. } = candidate
                && content == self.0
            {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
            None // never found: the walk goes on over the whole tree
        }
        fn description(&self) -> String {
            format!("every text == {:?}", self.0)
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let mut ui = iced_test::simulator(app.view());
    let _ = ui.find(Counting(text.to_string(), seen.clone()));
    seen.load(Ordering::Relaxed)
}

/// Clicks what `selector` finds in the current view and applies what the user did; returns
/// the operations asked for, without running them (`ops_of`).
pub(crate) fn click_ops<S>(app: &mut App, selector: S) -> Vec<natter_ui::Op>
where
    S: iced_test::selector::Selector + Send,
    S::Output: iced_test::selector::Bounded + Clone + Send + Sync + 'static,
{
    let messages: Vec<Message> = {
        let mut ui = iced_test::simulator(app.view());
        ui.click(selector).unwrap();
        ui.into_messages().collect()
    };
    ops_of(app, messages)
}
