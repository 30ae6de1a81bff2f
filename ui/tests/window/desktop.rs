//! The app on a desktop: a D-Bus session bus the test starts, a stand-in tray host (a
//! StatusNotifierWatcher that records the item) and notification server (it records what
//! is raised and clicks one), a window closed as a window manager closes it
//! (WM_DELETE_WINDOW), a second start, and `natter-cli`'s socket reaching the app.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter::control::{self, Command as Cmd};
use serde_json::Value;

use super::{BIN, Killed, SERIAL, need, screenshot, wait, window_ids, xdo, xvfb};

/// A private session bus: `dbus-daemon` on a socket in `dir`.
struct Bus {
    _daemon: Killed,
    address: String,
}

fn session_bus(dir: &Path) -> Bus {
    need("dbus-daemon");
    let address = format!("unix:path={}", dir.join("bus").display());
    let daemon = Killed(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait("the session bus", || dir.join("bus").exists());
    Bus {
        _daemon: daemon,
        address,
    }
}

/// One test's desktop: an X server of its own (display `base` + pid % 200: the tests' ranges
/// do not meet), a session bus, and the lock that runs real windows one at a time.
struct Desk {
    display: String,
    dir: tempfile::TempDir,
    bus: Bus,
    _x: Killed,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Desk {
    fn new(base: u32) -> Desk {
        for tool in ["Xvfb", "xdotool"] {
            need(tool);
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let display = format!(":{}", base + std::process::id() % 200);
        let x = xvfb(&display);
        let dir = tempfile::tempdir().unwrap();
        let bus = session_bus(dir.path());
        Desk {
            display,
            dir,
            bus,
            _x: x,
            _serial: serial,
        }
    }
}

/// The stand-in tray host: records which items registered.
#[derive(Clone, Default)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // An item names its bus name, or (by the specification) its object path on the
        // caller's connection.
        let name = match header.sender() {
            Some(sender) if service.starts_with('/') => sender.to_string(),
            _ => service.to_string(),
        };
        self.items.lock().unwrap().push(name);
    }

    async fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    async fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    async fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(property)]
    async fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }
}

/// A notification raised: (id, title, body, actions).
type Raised = (u32, String, String, Vec<String>);

/// The stand-in notification server: records each notification.
#[derive(Clone, Default)]
struct Notifier {
    raised: Arc<Mutex<Vec<Raised>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifier {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut raised = self.raised.lock().unwrap();
        let id = 100 + raised.len() as u32;
        raised.push((id, summary, body, actions));
        id
    }

    async fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "body-markup".into(), "actions".into()]
    }

    async fn get_server_information(&self) -> (String, String, String, String) {
        (
            "stand-in".into(),
            "natter tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    async fn close_notification(&self, _id: u32) {}

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}

const NOTIFICATIONS: &str = "/org/freedesktop/Notifications";

/// The stand-in desktop services on one connection: a tray host and a notification server.
async fn desktop_services(address: &str) -> (zbus::Connection, Watcher, Notifier) {
    let (watcher, notifier) = (Watcher::default(), Notifier::default());
    let conn = zbus::connection::Builder::address(address)
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", watcher.clone())
        .unwrap()
        .serve_at(NOTIFICATIONS, notifier.clone())
        .unwrap()
        .build()
        .await
        .unwrap();
    (conn, watcher, notifier)
}

/// Where "Send file…" is in a 1024×768 window: beside the composer, bottom right (the
/// layout of `ui/tests/snapshots`, drawn with DejaVu Sans).
const SEND_FILE: (&str, &str) = ("955", "736");

/// The stand-in XDG file chooser portal: records each dialog's title and answers with one
/// file, as a user picking it would.
#[derive(Clone)]
struct Portal {
    file: std::path::PathBuf,
    asked: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.portal.FileChooser")]
impl Portal {
    async fn open_file(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        _parent_window: &str,
        title: &str,
        options: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
    ) -> zbus::zvariant::OwnedObjectPath {
        self.asked.lock().unwrap().push(title.to_string());
        // The request's path, as the portal specification makes it from the caller's name
        // and its token; the answer comes as a signal on it, after this reply.
        let sender = header.sender().unwrap().to_string();
        let token = options
            .get("handle_token")
            .and_then(|v| String::try_from(v.try_clone().unwrap()).ok())
            .unwrap_or_default();
        let path = format!(
            "/org/freedesktop/portal/desktop/request/{}/{token}",
            sender.trim_start_matches(':').replace('.', "_")
        );
        let (conn, uri, answer_at) = (
            conn.clone(),
            format!("file://{}", self.file.display()),
            path.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut results = std::collections::HashMap::new();
            results.insert("uris", zbus::zvariant::Value::from(vec![uri]));
            conn.emit_signal(
                None::<&str>,
                answer_at.as_str(),
                "org.freedesktop.portal.Request",
                "Response",
                &(0u32, results),
            )
            .await
            .unwrap();
        });
        zbus::zvariant::OwnedObjectPath::try_from(path).unwrap()
    }
}

async fn file_chooser(address: &str, file: std::path::PathBuf) -> Portal {
    let portal = Portal {
        file,
        asked: Arc::default(),
    };
    let conn = zbus::connection::Builder::address(address)
        .unwrap()
        .name("org.freedesktop.portal.Desktop")
        .unwrap()
        .serve_at("/org/freedesktop/portal/desktop", portal.clone())
        .unwrap()
        .build()
        .await
        .unwrap();
    // Served for the test's life.
    std::mem::forget(conn);
    portal
}

/// The user clicks notification `id` (its default action).
async fn click(conn: &zbus::Connection, id: u32) {
    let iface = conn
        .object_server()
        .interface::<_, Notifier>(NOTIFICATIONS)
        .await
        .unwrap();
    Notifier::action_invoked(iface.signal_emitter(), id, "default")
        .await
        .unwrap();
}

/// The tray item registered as `item`, as a host sees it.
async fn tray_item<'a>(conn: &zbus::Connection, item: &str) -> zbus::Result<zbus::Proxy<'a>> {
    zbus::Proxy::new(
        conn,
        item.to_string(),
        "/StatusNotifierItem",
        "org.kde.StatusNotifierItem",
    )
    .await
}

/// Reads a property of the tray item.
async fn item_property(conn: &zbus::Connection, item: &str, name: &str) -> Option<String> {
    let proxy = tray_item(conn, item).await.ok()?;
    proxy.get_property::<String>(name).await.ok()
}

/// The user clicks the tray item.
async fn activate(conn: &zbus::Connection, item: &str) {
    let proxy = tray_item(conn, item).await.unwrap();
    proxy.call_method("Activate", &(0i32, 0i32)).await.unwrap();
}

/// Asks a window to close, as a window manager does when its close button is clicked.
fn close_window(display: &str, wid: &str) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (protocols, delete) = (atom("WM_PROTOCOLS"), atom("WM_DELETE_WINDOW"));
    let window: u32 = wid.parse().unwrap();
    let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event)
        .unwrap();
    conn.flush().unwrap();
}

/// Asks the window to close until `closed` holds (a close asked for while the window was
/// still being set up can go unseen, as a click on a window not drawn yet; a user clicks
/// again): fails after 30 s.
fn close(display: &str, wid: &str, mut closed: impl FnMut() -> bool) {
    let t = Instant::now();
    let mut asked = None::<Instant>;
    while !closed() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "window {wid} did not close within 30 s"
        );
        if asked.is_none_or(|at| at.elapsed() > Duration::from_secs(3)) {
            close_window(display, wid);
            asked = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A window property, as `xprop` prints it.
fn xprop(display: &str, wid: &str, args: &[&str]) -> String {
    let out = Command::new("xprop")
        .env("DISPLAY", display)
        .args(["-id", wid])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The one window shown now.
fn wid_again(display: &str) -> String {
    window_ids(display).into_iter().next().expect("a window")
}

fn rt_for_socket() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A profile whose user passed the first-start screen.
fn onboarded(profile: &Path) {
    use natter::internals::store;
    let db = store::open_connection(&profile.join(store::DB_FILE)).unwrap();
    store::set_setting(&db, "pref.onboarded", "1").unwrap();
}

/// Starts the app on a profile, with the bus and display given (and one more argument:
/// a link, `--hidden`).
fn start_app(display: &str, bus: &str, profile: &Path, arg: Option<&str>, log: &str) -> Child {
    let mut c = Command::new(BIN);
    c.env("DISPLAY", display)
        .env("NATTER_CONFIG", super::no_config(profile))
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("NATTER_MDNS", "off")
        .env("NATTER_LISTEN", "127.0.0.1:0")
        .env("NATTER_LOG_DIR", profile.join("logs"))
        .arg("--profile")
        .arg(profile)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(profile.join(log)).unwrap());
    if let Some(arg) = arg {
        c.arg(arg);
    }
    c.spawn().unwrap()
}

/// One command over the profile's control socket, as `natter-cli` sends it.
fn ask(rt: &tokio::runtime::Runtime, profile: &Path, cmd: Cmd) -> Value {
    let socket = profile.join(control::SOCKET_FILE);
    let answer = rt
        .block_on(control::request(&socket, &cmd))
        .unwrap()
        .expect("the app serves the profile's control socket");
    assert_eq!(answer["ok"], true, "{cmd:?}: {answer}");
    answer["result"].clone()
}

fn one_window(display: &str, app: &mut Child, profile: &Path) -> String {
    let t = Instant::now();
    loop {
        if let Some(w) = window_ids(display).into_iter().next() {
            return w;
        }
        let exited = app.try_wait().ok().flatten();
        assert!(
            t.elapsed() < Duration::from_secs(60) && exited.is_none(),
            "no window after {:?} (exit: {exited:?}); its stderr: {}",
            t.elapsed(),
            std::fs::read_to_string(profile.join("stderr.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exits_within(app: &mut Child, secs: u64) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(status) = app.try_wait().unwrap() {
            return status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "still running after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Closed as a window manager closes it, the app runs on in the tray; `natter-cli` adds Bob
/// through its socket; Bob's message raises the tray's count and a notification; a click on
/// the notification opens Bob's conversation, where "Send file…" asks the file chooser portal
/// and offers the file picked; the tray item reopens the window; a second start hands its
/// link over and exits 0; `natter-cli stop` quits.
#[test]
fn closed_window_keeps_natter_in_the_tray_where_messages_raise_its_count() {
    need("xprop");
    let desk = Desk::new(440);
    let (display, dir, bus) = (desk.display.clone(), &desk.dir, &desk.bus);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (host, watcher, notifier) = rt.block_on(desktop_services(&bus.address));
    let picked = dir.path().join("picked.txt");
    std::fs::write(&picked, "hello, bob!").unwrap();
    let portal = rt.block_on(file_chooser(&bus.address, picked));
    let profile = tempfile::tempdir().unwrap();
    onboarded(profile.path());
    let mut app = Killed(start_app(
        &display,
        &bus.address,
        profile.path(),
        None,
        "stderr.log",
    ));
    let wid = one_window(&display, &mut app.0, profile.path());
    // Its identity: the desktop file's name as its class (the Wayland app id on Wayland),
    // and the icon at 64 px, so the taskbar matches the menu entry.
    assert_eq!(
        xprop(&display, &wid, &["WM_CLASS"]),
        "WM_CLASS(STRING) = \"org.natter.Natter\", \"org.natter.Natter\""
    );
    assert!(
        xprop(&display, &wid, &["32c", "_NET_WM_ICON"])
            .starts_with("_NET_WM_ICON(CARDINAL) = 64, 64,"),
        "no 64 px window icon"
    );
    wait("the tray item to register", || {
        !watcher.items.lock().unwrap().is_empty()
    });
    let item = watcher.items.lock().unwrap()[0].clone();
    let prop = |name: &str| rt.block_on(item_property(&host, &item, name));
    assert_eq!(prop("Title").as_deref(), Some("Natter"));
    assert_eq!(prop("Id").as_deref(), Some("org.natter.Natter"));

    // The app is up (its node answers `natter-cli`); then the window closes as a window
    // manager closes it, and the app keeps running.
    let id = ask(&rt, profile.path(), Cmd::Id);
    std::thread::sleep(Duration::from_millis(500));
    close(&display, &wid, || window_ids(&display).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        app.0.try_wait().unwrap().is_none(),
        "the app quit when its window closed, with a tray to come back from"
    );

    // `natter-cli` reaches the running app: it adds Bob, who then writes.
    let bob_dir = tempfile::tempdir().unwrap();
    let mut config = natter::node::NodeConfig::new(bob_dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.discovery = None;
    let (bob, mut bob_events) = rt.block_on(natter::Node::start(config)).unwrap();
    let app_id: natter::PeerId = id["peer_id"].as_str().unwrap().parse().unwrap();
    let listen = id["listen"].as_str().unwrap().to_string();
    let add = Cmd::ContactAdd {
        id: bob.peer_id(),
        name: Some("Bob".into()),
        group: None,
        addr: None,
    };
    let added = ask(&rt, profile.path(), add);
    assert_eq!(added["nickname"], "Bob");
    let mut contact = natter::model::Contact::new(app_id);
    contact.addr = Some(listen);
    rt.block_on(bob.add_contact(contact)).unwrap();
    rt.block_on(bob.send(app_id, "are you there?".into()))
        .unwrap();
    wait("the tray's unread count to rise", || {
        prop("Title").as_deref() == Some("Natter (1)")
    });
    assert_eq!(prop("Status").as_deref(), Some("NeedsAttention"));
    // A notification says who wrote and what, with a default action to open it.
    let (id, title, body, actions) = notifier.raised.lock().unwrap()[0].clone();
    assert_eq!((title.as_str(), body.as_str()), ("Bob", "are you there?"));
    assert_eq!(actions, ["default", "Open"]);

    // Clicking the notification opens the window, on Bob's conversation (read now: the
    // count drops).
    rt.block_on(click(&host, id));
    wait("the window to open from the notification", || {
        !window_ids(&display).is_empty()
    });
    wait("the count to drop once it is read", || {
        prop("Title").as_deref() == Some("Natter")
    });

    // "Send file…" beside the composer asks the desktop's file chooser (the portal), and
    // the file chosen there is offered to Bob.
    let wid = wid_again(&display);
    std::thread::sleep(Duration::from_millis(500)); // the conversation drawn
    screenshot(&display, &wid, "desktop-conversation");
    // Clicked again every 3 s until the dialog is asked for (a click on a window still
    // being drawn can go unseen).
    let t = Instant::now();
    let mut clicked = None::<Instant>;
    while portal.asked.lock().unwrap().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no file chooser asked for"
        );
        if clicked.is_none_or(|at| at.elapsed() > Duration::from_secs(3)) {
            let (x, y) = SEND_FILE;
            xdo(
                &display,
                &["mousemove", "--window", &wid, x, y, "click", "1"],
            );
            clicked = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(portal.asked.lock().unwrap()[0], "Send a file");
    let offered = rt.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), bob_events.recv()).await {
                Ok(Ok(natter::node::Event::FileOffered { transfer })) => break transfer,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                other => panic!("no file offered to Bob: {other:?}"),
            }
        }
    });
    assert_eq!((offered.name.as_str(), offered.size), ("picked.txt", 11));
    close(&display, &wid, || window_ids(&display).is_empty());

    // Clicking the item opens the window again.
    rt.block_on(activate(&host, &item));
    wait("the window to open from the tray", || {
        !window_ids(&display).is_empty()
    });

    // Closed again, a second start (a link clicked in a browser) hands its link over, exits
    // 0, and the running app's window comes up.
    close(&display, &wid_again(&display), || {
        window_ids(&display).is_empty()
    });
    let link = bob.peer_id().invite_link();
    let mut second = start_app(
        &display,
        &bus.address,
        profile.path(),
        Some(&link),
        "second.log",
    );
    let status = exits_within(&mut second, 30);
    assert!(
        status.success(),
        "a second start failed ({status}): {}",
        std::fs::read_to_string(profile.path().join("second.log")).unwrap_or_default()
    );
    wait("the running app's window to come up", || {
        !window_ids(&display).is_empty()
    });
    assert_eq!(window_ids(&display).len(), 1, "one window, the first app's");
    assert!(app.0.try_wait().unwrap().is_none(), "the first app runs on");

    // `natter-cli stop` quits the app: the node stops, the socket goes.
    ask(&rt, profile.path(), Cmd::Shutdown);
    let status = exits_within(&mut app.0, 20);
    assert!(status.success(), "the app quit with {status}");
    assert!(!profile.path().join(control::SOCKET_FILE).exists());
    rt.block_on(bob.shutdown());
}

#[test]
fn with_no_tray_closing_the_window_quits() {
    // A session bus with no tray host on it (a bare window manager, GNOME without the
    // AppIndicator extension).
    let desk = Desk::new(640);
    let (display, bus) = (desk.display.clone(), &desk.bus);
    let profile = tempfile::tempdir().unwrap();
    let mut app = Killed(start_app(
        &display,
        &bus.address,
        profile.path(),
        None,
        "stderr.log",
    ));
    let wid = one_window(&display, &mut app.0, profile.path());
    // The node is up (its socket answers) before the window is asked to close.
    wait("the control socket", || {
        profile.path().join(control::SOCKET_FILE).exists()
    });
    ask(&rt_for_socket(), profile.path(), Cmd::Id);
    close(&display, &wid, || app.0.try_wait().unwrap().is_some());
    let status = exits_within(&mut app.0, 20);
    assert!(status.success(), "the app quit with {status}");
    assert!(
        natter_ui::desktop::remembered_size(profile.path()).is_some(),
        "the window's size was not remembered"
    );
    // Its log: a file of the day in the log folder, without terminal colours.
    let logs: Vec<_> = std::fs::read_dir(profile.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // One file a day: two if the test ran over midnight.
    assert!((1..=2).contains(&logs.len()), "{logs:?}");
    let mut log = String::new();
    for path in &logs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("natter.") && name.ends_with(".log"),
            "{name}"
        );
        log += &std::fs::read_to_string(path).unwrap();
    }
    assert!(
        log.contains("node started") && !log.contains('\u{1b}'),
        "{log}"
    );
}

/// Started at login (`--hidden`, what the autostart entry runs), the app waits in the tray
/// with no window, and the tray item opens it; with no tray, a hidden start shows its window
/// all the same (nothing else could bring it up).
#[test]
fn started_hidden_the_app_waits_in_the_tray_and_without_one_shows_its_window() {
    let desk = Desk::new(840);
    let (display, bus) = (desk.display.clone(), &desk.bus);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (host, watcher, _notifier) = rt.block_on(desktop_services(&bus.address));
    let profile = tempfile::tempdir().unwrap();
    onboarded(profile.path());
    let mut app = Killed(start_app(
        &display,
        &bus.address,
        profile.path(),
        Some("--hidden"),
        "stderr.log",
    ));
    wait("the tray item to register", || {
        !watcher.items.lock().unwrap().is_empty()
    });
    wait("the control socket", || {
        profile.path().join(control::SOCKET_FILE).exists()
    });
    ask(&rt, profile.path(), Cmd::Id);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        window_ids(&display).is_empty(),
        "no window at a hidden start"
    );
    assert!(app.0.try_wait().unwrap().is_none());
    let item = watcher.items.lock().unwrap()[0].clone();
    rt.block_on(activate(&host, &item));
    wait("the window to open from the tray", || {
        !window_ids(&display).is_empty()
    });
    drop(app);
    wait("the first app's window to go", || {
        window_ids(&display).is_empty()
    });

    // No tray host on this bus: the hidden start opens its window.
    let bare = tempfile::tempdir().unwrap();
    let bare_bus = session_bus(bare.path());
    let other = tempfile::tempdir().unwrap();
    onboarded(other.path());
    let mut app = Killed(start_app(
        &display,
        &bare_bus.address,
        other.path(),
        Some("--hidden"),
        "stderr.log",
    ));
    one_window(&display, &mut app.0, other.path());
}
