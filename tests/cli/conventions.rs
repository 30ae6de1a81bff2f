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
