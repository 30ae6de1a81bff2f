//! A real window under Xvfb: the installed-style binary starts, opens a window titled
//! "Natter", creates the profile's identity and renders; a screenshot is kept as an artefact
//! (target/screenshots/). No network leaves loopback: LAN discovery is off.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod desktop;

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

/// An empty config file in `dir`: the tests never read the config of the user who runs them.
fn no_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("test-config.toml");
    std::fs::write(&path, "").unwrap();
    path
}

/// One real window at a time: two X servers and two renderers at once starve 2 cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts Xvfb on `display` and waits until it answers.
fn xvfb(display: &str) -> Killed {
    xvfb_sized(display, "1280x800x24")
}

/// Xvfb with a screen of this geometry.
fn xvfb_sized(display: &str, geometry: &str) -> Killed {
    let x = Killed(
        Command::new("Xvfb")
            // -noreset: by default Xvfb resets when its last client leaves (here the
            // readiness probe), and a client connecting during the reset is refused.
            .args([
                display,
                "-screen",
                "0",
                geometry,
                "-nolisten",
                "tcp",
                "-noreset",
            ])
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
    let log = profile.path().join("stderr.log");
    let mut app = Killed(
        Command::new(BIN)
            .env("DISPLAY", &display)
            .env("NATTER_PROFILE", profile.path())
            .env("NATTER_CONFIG", no_config(profile.path()))
            .env("NATTER_LOG_DIR", profile.path().join("logs"))
            .env("NATTER_MDNS", "off")
            .env("NATTER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
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
        let exited = app.0.try_wait().ok().flatten();
        assert!(
            t.elapsed() < Duration::from_secs(60) && exited.is_none(),
            "no window titled Natter within {:?} (exit: {exited:?}); its stderr: {}",
            t.elapsed(),
            std::fs::read_to_string(&log).unwrap_or_default()
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

/// Takes a screenshot of a window into target/…/screenshots/<name>.png.
fn screenshot(display: &str, wid: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    let _ = Command::new("/usr/bin/import")
        .env("DISPLAY", display)
        .args(["-window", wid])
        .arg(&png)
        .output();
    eprintln!("screenshot: {}", png.display());
    png
}

/// One `natter` window with its own profile, found on the LAN over loopback mDNS.
struct Window {
    _app: Killed,
    wid: String,
    id: natter::PeerId,
    profile: tempfile::TempDir,
}

fn open_window(display: &str, x: u32) -> Window {
    let profile = tempfile::tempdir().unwrap();
    let id = natter::Identity::load_or_create(profile.path())
        .unwrap()
        .peer_id();
    let before = window_ids(display);
    let log = profile.path().join("stderr.log");
    let mut app = Killed(
        Command::new(BIN)
            .env("DISPLAY", display)
            .env("NATTER_PROFILE", profile.path())
            .env("NATTER_CONFIG", no_config(profile.path()))
            .env("NATTER_LOG_DIR", profile.path().join("logs"))
            .env("NATTER_MDNS", "loopback")
            .env("NATTER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    let wid = loop {
        if let Some(w) = window_ids(display)
            .into_iter()
            .find(|w| !before.contains(w))
        {
            break w;
        }
        let exited = app.0.try_wait().ok().flatten();
        assert!(
            t.elapsed() < Duration::from_secs(60) && exited.is_none(),
            "no window after {:?} (exit: {exited:?}); its stderr: {}",
            t.elapsed(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // No window manager: place the windows side by side so clicks land on the right one.
    xdo(
        display,
        &["windowmove", "--sync", &wid, &x.to_string(), "0"],
    );
    Window {
        _app: app,
        wid,
        id,
        profile,
    }
}

fn window_ids(display: &str) -> Vec<String> {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(["search", "--name", "^Natter"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn stored(w: &Window, peer: &natter::PeerId) -> Vec<natter::internals::store::Message> {
    let db = w.profile.path().join(natter::internals::store::DB_FILE);
    natter::internals::store::open_connection(&db)
        .ok()
        .and_then(|c| natter::internals::store::history(&c, &w.id, peer, 50, None).ok())
        .unwrap_or_default()
}

fn is_contact(w: &Window, peer: &natter::PeerId) -> bool {
    let db = w.profile.path().join(natter::internals::store::DB_FILE);
    natter::internals::store::open_connection(&db)
        .ok()
        .and_then(|c| {
            natter::internals::store::get_contact(&c, peer)
                .ok()
                .flatten()
        })
        .is_some_and(|c| c.state == natter::internals::store::ContactState::Contact)
}

/// Clicks at window coordinates, then types and presses Return.
fn type_at(display: &str, w: &Window, at: Option<(u32, u32)>, text: &str) {
    xdo(display, &["windowfocus", "--sync", &w.wid]);
    if let Some((x, y)) = at {
        let (x, y) = (x.to_string(), y.to_string());
        xdo(
            display,
            &["mousemove", "--window", &w.wid, &x, &y, "click", "1"],
        );
    }
    xdo(display, &["type", "--delay", "5", text]);
    xdo(display, &["key", "Return"]);
}

#[test]
fn two_people_chat_in_two_windows_with_xdotool() {
    for tool in ["Xvfb", "xdotool"] {
        need(tool);
    }
    let display = format!(":{}", 240 + std::process::id() % 200);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _x = xvfb_sized(&display, "2100x800x24");
    let alice = open_window(&display, 0);
    let bob = open_window(&display, 1060);
    // Positions: the layout of ui/tests/snapshots (1024×768): the add-contact field at
    // (60, 153), the first buddy at (150, 218); the name field and the composer take the
    // focus by themselves.
    std::thread::sleep(Duration::from_millis(1500)); // first frames, onboarding focus
    for (w, name) in [(&alice, "Alice"), (&bob, "Bob")] {
        type_at(&display, w, None, name);
        let db = w.profile.path().join(natter::internals::store::DB_FILE);
        wait(&format!("{name} to pass the first-start screen"), || {
            natter::internals::store::open_connection(&db)
                .ok()
                .and_then(|c| {
                    natter::internals::store::get_setting(&c, "pref.onboarded")
                        .ok()
                        .flatten()
                })
                .is_some()
        });
    }
    std::thread::sleep(Duration::from_millis(800)); // the main window's first frames
    screenshot(&display, &alice.wid, "two-windows-alice-main");
    // Alice pastes Bob's ID into the add-contact field, opens his conversation and writes.
    type_at(&display, &alice, Some((60, 153)), &bob.id.to_string());
    wait("Alice to save Bob", || is_contact(&alice, &bob.id));
    std::thread::sleep(Duration::from_millis(500)); // the list redraws
    click(&display, &alice, 150, 218);
    type_at(&display, &alice, None, "hi Bob, from the window");
    // Bob has not added Alice: a request, named as she published it on the LAN.
    wait("Bob's window to store Alice's message", || {
        stored(&bob, &alice.id)
            .iter()
            .any(|m| m.text == "hi Bob, from the window" && !m.outgoing)
    });
    std::thread::sleep(Duration::from_millis(800));
    // The request opened (its name over its answers, at the sidebar's foot).
    click(&display, &bob, 170, 636);
    std::thread::sleep(Duration::from_millis(500));
    screenshot(&display, &bob.wid, "request-bob");
    // Bob adds her (the request becomes a contact) and answers with what only an input
    // method or a compose key types: accents and an emoji (xdotool types each character
    // as its Unicode keysym, the nearest stand-in for an IME that Xvfb allows).
    type_at(&display, &bob, Some((60, 153)), &alice.id.to_string());
    wait("Bob to save Alice", || is_contact(&bob, &alice.id));
    std::thread::sleep(Duration::from_millis(500));
    click(&display, &bob, 150, 218);
    let answer = "hello Alice 👋 ça va? Voilà: https://natter.example";
    keyboard_with(&display, "👋çà🎉");
    type_at(&display, &bob, None, answer);
    let t = Instant::now();
    while !stored(&alice, &bob.id).iter().any(|m| m.text == answer) {
        if t.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = stored(&alice, &bob.id);
    let shot_b = screenshot(&display, &bob.wid, "conversation-bob");
    assert!(
        got.iter().any(|m| m.text == answer && !m.outgoing),
        "Bob's answer reached Alice as typed: {got:?} (screenshot {})",
        shot_b.display()
    );
    type_at(&display, &alice, None, "all good 🎉");
    let t = Instant::now();
    while !stored(&bob, &alice.id)
        .iter()
        .any(|m| m.text == "all good 🎉")
    {
        let shot_a = screenshot(&display, &alice.wid, "conversation-alice");
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Alice's second message did not reach Bob: {:?} (screenshot {})",
            stored(&bob, &alice.id),
            shot_a.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(800)); // ticks and redraw
    screenshot(&display, &alice.wid, "conversation-alice");
    screenshot(&display, &bob.wid, "conversation-bob");
    // Settings, from the sidebar's button.
    click(&display, &bob, 270, 31);
    std::thread::sleep(Duration::from_millis(800));
    screenshot(&display, &bob.wid, "settings-bob");
    // Ctrl+Q quits from the keyboard (no tray here: the app ends).
    xdo(&display, &["windowfocus", "--sync", &bob.wid]);
    xdo(&display, &["key", "ctrl+q"]);
    let mut bob = bob;
    let t = Instant::now();
    let status = loop {
        if let Some(status) = bob._app.0.try_wait().unwrap() {
            break status;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "Ctrl+Q did not quit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

/// Clicks at window coordinates.
fn click(display: &str, w: &Window, x: u32, y: u32) {
    xdo(display, &["windowfocus", "--sync", &w.wid]);
    let (x, y) = (x.to_string(), y.to_string());
    xdo(
        display,
        &["mousemove", "--window", &w.wid, &x, &y, "click", "1"],
    );
    std::thread::sleep(Duration::from_millis(500));
}

/// Puts these characters on spare keys of the X keyboard map, as a layout or an input method
/// would offer them, and lets the windows read the new map. (xdotool would map a missing
/// character just for one key press, and the window can read that press before the map
/// that gives it its character: the character is lost.)
fn keyboard_with(display: &str, chars: &str) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::ConnectionExt;
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
    let map = conn
        .get_keyboard_mapping(min, max - min + 1)
        .unwrap()
        .reply()
        .unwrap();
    let per = usize::from(map.keysyms_per_keycode);
    // Spare keys: no symbol at all, from the top of the range down.
    let spare = (min..=max)
        .rev()
        .filter(|k| {
            let at = usize::from(k - min) * per;
            map.keysyms[at..at + per].iter().all(|s| *s == 0)
        })
        .take(chars.chars().count());
    for (keycode, c) in spare.zip(chars.chars()) {
        // Latin-1 keysyms are the code point; others are 0x01000000 + the code point.
        let sym = match u32::from(c) {
            n if n < 0x100 => n,
            n => 0x0100_0000 | n,
        };
        let mut syms = vec![0u32; per];
        syms[0] = sym;
        if per > 1 {
            syms[1] = sym;
        }
        conn.change_keyboard_mapping(1, keycode, map.keysyms_per_keycode, &syms)
            .unwrap();
    }
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(800));
}
