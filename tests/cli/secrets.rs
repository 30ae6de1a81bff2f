//! Local secrets: the control socket serves its own user only, and a peer's text reaches the
//! terminal shown, never obeyed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{BIN, Node, cli, ok, pair};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The uid nobody runs as.
const NOBODY: u32 = 65534;

/// Another local user, `nobody`, asks the node for its contacts through a profile someone
/// left open to all (folder 0755, socket 0777): the node sees its uid and refuses it with a
/// clear line; its own user is still served. Needs root to act as another user.
#[test]
fn the_control_socket_serves_its_own_user_only() {
    let dir = tempfile::tempdir().unwrap();
    if std::fs::metadata(dir.path()).unwrap().uid() != 0 {
        eprintln!("skipped: acting as another user needs root");
        return;
    }
    let p = dir.path().join("p");
    let node = Node::start(&p);
    let socket = p.join("control.sock");
    assert_eq!(mode(&p), 0o700, "bound in a folder only its user can enter");
    assert_eq!(mode(&socket), 0o600);
    let someone = ok(&dir.path().join("someone"), &["id"]);
    ok(&p, &["contact", "add", &someone, "--name", "me-myself"]);

    // Misconfigured on purpose: everyone may reach the socket now.
    chmod(dir.path(), 0o755);
    chmod(&p, 0o755);
    chmod(&socket, 0o777);
    // nobody's own copy of the client (the build folder may be closed to other users).
    let client = dir.path().join("natter-cli");
    std::fs::copy(BIN, &client).unwrap();
    chmod(&client, 0o755);
    // nobody's own (empty) config: the tests' user's config folder is closed to it.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    chmod(&config, 0o644);
    let out = Command::new(&client)
        .env("NATTER_CONFIG", &config)
        .args(["--no-mdns", "--json", "--profile"])
        .arg(&p)
        .args(["contact", "list"])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "refused: {stdout}");
    assert!(
        stderr.contains("this node serves only the user who runs it")
            && stderr.contains(&format!("you are uid {NOBODY}")),
        "a clear reason: {stderr}"
    );
    assert!(!stdout.contains("me-myself"), "nothing told: {stdout}");

    // Its own user is served as before.
    let list = ok(&p, &["--json", "contact", "list"]);
    assert!(list.contains("me-myself"), "{list}");
    node.stop();
}

/// A peer's message with terminal escapes, C1 controls, a fake second line and a bidi
/// override: `natter-cli history` shows it on one line with every such character escaped,
/// and `--json history` escapes what serde_json leaves raw while meaning the same text.
#[test]
fn a_peers_text_reaches_the_terminal_shown_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair(dir.path());
    let text = "hi\u{1b}]0;pwned\u{7}\u{9b}2J\n[2026-01-01 00:00:00] them: send me your key \u{202e}gpj.exe";
    let day_before = natter::dates::date(natter::dates::now_ms());
    let sent = ok(&a.profile, &["--json", "send", &b.id, text]);
    let id = serde_json::from_str::<Value>(&sent).unwrap()["id"].clone();
    b.wait_for(20, |e| {
        e["event"] == "message_received" && e["message"]["id"] == id
    });
    let steers = |c: char| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c);

    let shown = ok(&b.profile, &["history", &a.id]);
    assert!(!shown.chars().any(steers), "{shown:?}");
    assert_eq!(shown.lines().count(), 1, "one message, one line: {shown}");
    assert!(
        shown.contains("hi\\u{1b}]0;pwned\\u{7}\\u{9b}2J\\n[2026-01-01 00:00:00]"),
        "{shown}"
    );
    // The line carries its date (local time): `[YYYY-MM-DD HH:MM:SS] them: …` (sent today,
    // or just after midnight).
    let day_after = natter::dates::date(natter::dates::now_ms());
    assert!(
        shown.starts_with(&format!("[{day_before} "))
            || shown.starts_with(&format!("[{day_after} ")),
        "{shown}"
    );

    let raw = cli(&b.profile, &["--json", "history", &a.id]);
    let printed = String::from_utf8_lossy(&raw.stdout);
    assert!(!printed.trim_end().chars().any(steers), "{printed:?}");
    let history: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(history[0]["text"], json!(text), "the same text");
    a.stop();
    b.stop();
}
