//! A real window under Xvfb: the installed-style binary starts, opens a window titled
//! "Natter", creates the profile's identity and renders; a screenshot is kept as an artefact
//! (target/screenshots/). No network leaves loopback: LAN discovery is off.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_natter");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One real window at a time: two X servers and two renderers at once starve 2 cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts Xvfb on `display` and waits until it answers.
fn xvfb(display: &str) -> Killed {
    let x = Killed(
        Command::new("Xvfb")
            .args([display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    loop {
        let up = Command::new("xwininfo")
            .env("DISPLAY", display)
            .arg("-root")
            .output()
            .is_ok_and(|o| o.status.success());
        if up {
            return x;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Xvfb on {display} did not come up within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn need(tool: &str) {
    let found = Command::new("which")
        .arg(tool)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: ./scripts/test installs xvfb, xdotool and imagemagick"
    );
}

#[test]
fn the_app_opens_a_real_window_and_renders() {
    for tool in ["Xvfb", "xdotool", "xwininfo"] {
        need(tool);
    }
    assert!(
        std::path::Path::new("/usr/bin/import").exists(),
        "ImageMagick's import is missing"
    );
    let display = format!(":{}", 40 + std::process::id() % 200);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _x = xvfb(&display);
    let profile = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let _app = Killed(
        Command::new(BIN)
            .env("DISPLAY", &display)
            .env("NATTER_PROFILE", profile.path())
            .env("NATTER_MDNS", "off")
            .env("NATTER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wid = loop {
        let out = Command::new("xdotool")
            .env("DISPLAY", &display)
            .args(["search", "--name", "^Natter$"])
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if let Some(id) = ids.lines().next().filter(|s| !s.is_empty()) {
            break id.to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no window titled Natter within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("window {wid} mapped {:?} after start", t.elapsed());
    // The app created its identity on first start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !profile.path().join("identity.pem").exists() {
        assert!(Instant::now() < deadline, "no identity created");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500)); // let it render its first frames
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("main-window.png");
    let shot = Command::new("/usr/bin/import")
        .env("DISPLAY", &display)
        .args(["-window", &wid])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    // Rendered, not blank: the picture has more than one colour.
    let colours = Command::new("/usr/bin/identify")
        .args(["-format", "%k"])
        .arg(&png)
        .output()
        .unwrap();
    let n: u64 = String::from_utf8_lossy(&colours.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        n > 16,
        "the window looks blank ({n} colours): {}",
        png.display()
    );
    eprintln!("screenshot: {} ({n} colours)", png.display());
}

/// Polls `f` for up to 30 s.
fn wait(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn xdo(display: &str, args: &[&str]) {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_person_chats_in_the_window_with_xdotool() {
    for tool in ["Xvfb", "xdotool"] {
        need(tool);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let display = format!(":{}", 240 + std::process::id() % 200);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _x = xvfb(&display);
    // The window's profile and port are known in advance, so a peer can reach it.
    let profile = tempfile::tempdir().unwrap();
    let gui_id = natter::Identity::load_or_create(profile.path())
        .unwrap()
        .peer_id();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _app = Killed(
        Command::new(BIN)
            .env("DISPLAY", &display)
            .env("NATTER_PROFILE", profile.path())
            .env("NATTER_MDNS", "off")
            .env("NATTER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = rt.block_on(async {
        let mut c = natter::node::NodeConfig::new(peer_dir.path());
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.discovery = None;
        let (node, _events) = natter::Node::start(c).await.unwrap();
        let mut contact = natter::store::Contact::new(gui_id);
        contact.addr = Some(format!("127.0.0.1:{port}"));
        node.add_contact(contact).await.unwrap();
        node
    });
    let t = Instant::now();
    let wid = loop {
        let out = Command::new("xdotool")
            .env("DISPLAY", &display)
            .args(["search", "--name", "^Natter"])
            .output()
            .unwrap();
        if let Some(id) = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .filter(|s| !s.is_empty())
        {
            break id.to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no window");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The window's node is up once the peer holds a session with it.
    let gui = gui_id;
    wait("the peer to reach the window's node", || {
        peer.is_connected(&gui)
    });
    // Positions are those of the layout in resources/screenshots/conversation.png (1024×768,
    // no window manager, so window and screen coordinates agree).
    // Paste the peer's ID into the add-contact field and press Enter.
    xdo(&display, &["windowfocus", "--sync", &wid]);
    xdo(
        &display,
        &["mousemove", "--window", &wid, "95", "100", "click", "1"],
    );
    xdo(
        &display,
        &["type", "--delay", "5", &peer.peer_id().to_string()],
    );
    xdo(&display, &["key", "Return"]);
    let db = profile.path().join(natter::store::DB_FILE);
    let pid = peer.peer_id();
    wait("the window to save the contact", || {
        natter::store::open_connection(&db)
            .ok()
            .and_then(|c| natter::store::get_contact(&c, &pid).ok().flatten())
            .is_some_and(|c| c.state == natter::store::ContactState::Contact)
    });
    std::thread::sleep(Duration::from_millis(300)); // the list redraws
    // Open the conversation (first row of the buddy list) and write in the composer.
    xdo(
        &display,
        &["mousemove", "--window", &wid, "150", "168", "click", "1"],
    );
    std::thread::sleep(Duration::from_millis(500));
    xdo(
        &display,
        &["mousemove", "--window", &wid, "650", "737", "click", "1"],
    );
    xdo(&display, &["type", "--delay", "5", "hi from the window"]);
    xdo(&display, &["key", "Return"]);
    let got = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let h = peer.history(gui, 10, None).await.unwrap();
            if h.iter().any(|m| m.text == "hi from the window") || Instant::now() > deadline {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("conversation.png");
    let _ = Command::new("/usr/bin/import")
        .env("DISPLAY", &display)
        .args(["-window", &wid])
        .arg(&png)
        .output();
    eprintln!("screenshot: {}", png.display());
    assert!(
        got.iter()
            .any(|m| m.text == "hi from the window" && !m.outgoing),
        "the message typed in the window reached the peer: {got:?} (screenshot {})",
        png.display()
    );
    rt.block_on(peer.shutdown());
}
