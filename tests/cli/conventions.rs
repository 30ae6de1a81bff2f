//! The conventions of a command-line tool: shell completions and a man page made from the
//! grammar itself, so they never fall behind it.

use crate::support::{BIN, ok};

#[test]
fn completions_and_the_man_page_come_from_the_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let bash = ok(p, &["completions", "bash"]);
    assert!(
        bash.contains("auto-accept") && bash.contains("show"),
        "every command"
    );
    // The script loads in bash and registers itself.
    let script = p.join("natter-cli.bash");
    std::fs::write(&script, &bash).unwrap();
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p natter-cli",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(ok(p, &["completions", "zsh"]).starts_with("#compdef natter-cli"));
    assert!(ok(p, &["completions", "fish"]).contains("complete -c natter-cli"));
    let page = ok(p, &["man-page"]);
    assert!(page.contains(".TH natter-cli 1"), "{page}");
    assert!(page.contains("completions"), "subcommands listed");
    let out = std::process::Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// `export [ID] --format json|text --out FILE`: one conversation or all of them, to a new
/// file (a relative path is the caller's, whichever process runs the node); an existing
/// file is refused, never overwritten.
#[test]
fn export_writes_one_conversation_or_all_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = crate::support::pair(dir.path());
    ok(&a.profile, &["send", &b.id, "to b", "--wait", "delivered"]);
    let carol = natter::Identity::generate().peer_id().to_string();
    ok(&a.profile, &["contact", "add", &carol]);
    ok(&a.profile, &["send", &carol, "to carol, queued"]);
    let all = dir.path().join("all.jsonl");
    let answer = crate::support::json(&a.profile, &["export", "--out", all.to_str().unwrap()]);
    assert_eq!(answer["exported"], 2, "{answer}");
    // One conversation, as text, to a path relative to where natter-cli was started.
    let out = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .arg("--profile")
        .arg(&a.profile)
        .args([
            "--json", "export", &b.id, "--format", "text", "--out", "b.txt",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("b.txt")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("me: to b") && !text.contains("carol"),
        "{text}"
    );
    // A date with its offset starts the line: `YYYY-MM-DD HH:MM:SS +HH:MM`.
    let offset = text.split("  ").next().unwrap();
    assert_eq!(offset.len(), 26, "{offset:?}");
    let again = crate::support::cli(
        &a.profile,
        &[
            "export",
            "--out",
            dir.path().join("b.txt").to_str().unwrap(),
        ],
    );
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    a.stop();
    b.stop();
}

/// The config file (`--config`, `NATTER_CONFIG`, else the config folder's) sets what a flag
/// would, a flag still wins, and a bad value stops the start with the file and line named.
#[test]
fn the_config_file_is_read_after_flags_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlan_discovery = \"off\"\nrelay = \"never\"\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.env("NATTER_CONFIG", &config)
        .arg("--profile")
        .arg(&profile)
        .arg("run");
    let (mut node, started) = running(cmd);
    assert!(
        started["listen"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "the file's address, not 0.0.0.0:47100: {started}"
    );
    // The file comes before what was saved in the profile: the relay policy is its.
    let policy = crate::support::json(&profile, &["relay-policy"]);
    assert_eq!(policy["relay_policy"], "never", "{policy}");
    ok(&profile, &["stop"]);
    let _ = node.wait();

    // A flag wins over the file.
    std::fs::write(
        &config,
        "listen = \"127.0.0.2:0\"\nlan_discovery = \"off\"\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--config")
        .arg(&config)
        .arg("--profile")
        .arg(&profile)
        .args(["run", "--listen", "127.0.0.1:0"]);
    let (mut node, started) = running(cmd);
    assert!(
        started["listen"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{started}"
    );
    ok(&profile, &["stop"]);
    let _ = node.wait();

    // A typo is an error that names the file and the line, before anything starts.
    std::fs::write(&config, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .env("NATTER_CONFIG", &config)
        .arg("--profile")
        .arg(&profile)
        .args(["run", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("config.toml") && said.contains("line 1") && said.contains("lisen"),
        "{said}"
    );
}

/// A `natter-cli run` started, and its `started` event.
fn running(cmd: std::process::Command) -> (natter_lab::JsonChild, serde_json::Value) {
    let mut node = natter_lab::JsonChild::spawn(cmd).unwrap();
    let started = node.wait_for(20, |e| e["event"] == "started").unwrap();
    (node, started)
}
