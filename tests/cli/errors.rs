//! Failures a user meets: clear messages, non-zero exit codes, nothing overwritten.

use crate::support::{Node, cli, ok};

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
