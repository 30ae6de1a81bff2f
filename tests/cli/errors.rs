//! Failures a user meets: clear messages, non-zero exit codes, nothing overwritten.

use crate::support::{Node, cli, json, ok};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn waiting_for_an_offline_contact_times_out_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"));
    let b_id = ok(&dir.path().join("b"), &["id"]);
    ok(
        &a.profile,
        &["contact", "add", &b_id, "--addr", "127.0.0.1:9"],
    );
    let out = cli(
        &a.profile,
        &[
            "send",
            &b_id,
            "anyone?",
            "--wait",
            "delivered",
            "--timeout",
            "1",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("timed out after 1s") && err.contains("stays queued"),
        "{err}"
    );
    let h = ok(&a.profile, &["history", &b_id]);
    assert!(h.contains("anyone?") && h.contains("(queued)"), "{h}");
}

#[test]
fn a_contact_presenting_another_key_fails_the_send_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"));
    let impostor = Node::start(&dir.path().join("impostor"));
    let b_id = ok(&dir.path().join("b"), &["id"]);
    ok(
        &a.profile,
        &["contact", "add", &b_id, "--addr", &impostor.addr],
    );
    let out = cli(
        &a.profile,
        &[
            "send",
            &b_id,
            "secret",
            "--wait",
            "delivered",
            "--timeout",
            "10",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("presented the key {}", impostor.id)),
        "{err}"
    );
}

#[test]
fn bad_ids_corrupt_keys_and_unwritable_profiles_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["send", "not-an-id", "x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Natter ID"), "{}", stderr(&out));

    let p = dir.path().join("corrupt");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("identity.pem"), "garbage").unwrap();
    let out = cli(&p, &["id"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("damaged") && stderr(&out).contains("left untouched"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(p.join("identity.pem")).unwrap(),
        "garbage"
    );

    let out = cli(
        std::path::Path::new("/sys/natter-cli-test-profile"),
        &["id"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot create the profile folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_node_on_the_same_profile_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"));
    let out = std::process::Command::new(crate::support::BIN)
        .arg("--profile")
        .arg(&a.profile)
        .args(["--no-mdns", "run", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
}

/// The profile holds the identity key and every message: only its user may read it. A folder
/// others can read is tightened; a key file others can read is refused, as ssh refuses one.
#[test]
fn the_profile_is_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("new");
    ok(&p, &["contact", "list"]);
    assert_eq!(mode(&p), 0o700, "a new profile folder");
    assert_eq!(mode(&p.join("identity.pem")), 0o600);
    assert_eq!(mode(&p.join("natter.db")), 0o600);
    for journal in ["natter.db-wal", "natter.db-shm"] {
        if p.join(journal).exists() {
            assert_eq!(mode(&p.join(journal)), 0o600, "{journal}");
        }
    }
    // A database and folder that others could read (made by an older version, or copied).
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(p.join("natter.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&p, &["contact", "list"]);
    assert_eq!(mode(&p), 0o700, "tightened");
    assert_eq!(mode(&p.join("natter.db")), 0o600, "tightened");
    // A key others can read is refused with what to do, and left as it is.
    let key = p.join("identity.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cli(&p, &["contact", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("can be read by other users") && err.contains("chmod 600"),
        "{err}"
    );
    assert_eq!(mode(&key), 0o644, "the user decides");
}

/// A profile a newer Natter wrote (its database has schema steps this build does not know)
/// is refused with what to do, and its database is left at its version.
#[test]
fn a_profile_from_a_newer_natter_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future");
    ok(&p, &["contact", "list"]);
    let db = p.join("natter.db");
    let version = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let future = version(&db) + 1;
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", future)
        .unwrap();
    let out = cli(&p, &["contact", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("this profile was made by a newer Natter") && err.contains("update Natter"),
        "{err}"
    );
    assert_eq!(version(&db), future);
}

/// `show` asks the app running on a profile to bring its window up (what a second start of
/// the desktop app does): a running node answers and says so as an event; with nothing
/// running, the command fails and says why.
#[test]
fn show_reaches_a_running_node_and_fails_with_none() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p");
    let out = cli(&profile, &["show"]);
    assert!(!out.status.success(), "show with no node running succeeded");
    assert!(
        stderr(&out).contains("no Natter node is running"),
        "{}",
        stderr(&out)
    );
    let mut node = Node::start(&profile);
    let link = "natter://add/example";
    let answer = json(&profile, &["show", link]);
    assert_eq!(answer["shown"], true, "{answer}");
    let event = node.saw_or_wait(10, |e| e["event"] == "show_requested");
    assert_eq!(event["link"], link);
    node.stop();
}

/// `contact auto-accept ID 50MB` takes sizes as people write them; what is not a size is a
/// usage error before anything runs (it once turned auto-accept off, silently).
#[test]
fn auto_accept_takes_sizes_and_refuses_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p");
    let peer = natter::Identity::generate().peer_id().to_string();
    ok(&profile, &["contact", "add", &peer]);
    let set = json(&profile, &["contact", "auto-accept", &peer, "50MB"]);
    assert_eq!(set["auto_accept_bytes"], 50_000_000);
    let said = ok(&profile, &["contact", "auto-accept", &peer, "1.5GiB"]);
    assert!(said.contains("1.5 GiB (1610612736 bytes)"), "{said}");
    for typo in ["fifty", "50 MBs", "5O"] {
        let out = cli(&profile, &["contact", "auto-accept", &peer, typo]);
        assert_eq!(out.status.code(), Some(2), "{typo}: a usage error");
        assert!(stderr(&out).contains("is not a size"), "{}", stderr(&out));
    }
    let off = json(&profile, &["contact", "auto-accept", &peer, "off"]);
    assert!(off["auto_accept_bytes"].is_null());
}

/// Under `--json`, a failure is JSON on stdout too (`error`, `kind`: `failed`, exit code 1, or
/// `usage`, exit code 2), and stderr says the same words as without it.
#[test]
fn failures_under_json_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p");
    let out = cli(&profile, &["--json", "stop"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["kind"], "failed");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no Natter node is running"),
        "{v}"
    );
    assert!(stderr(&out).contains("no Natter node is running"));
    let out = cli(&profile, &["--json", "send", "not-an-id", "hi"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["kind"], "usage");
    assert!(v["error"].as_str().unwrap().contains("not-an-id"), "{v}");
    assert!(!stderr(&out).is_empty());
}
