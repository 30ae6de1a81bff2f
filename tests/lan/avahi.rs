//! The record is standard DNS-SD: Debian's avahi, in a host of its own (network namespace +
//! private /run, so no daemon of the machine is touched), lists and resolves it.

use std::path::Path;
use std::process::Stdio;

use crate::netns::Lan;

const BIN: &str = env!("CARGO_BIN_EXE_natter-cli");

const SCRIPT: &str = r#"
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
dbus-daemon --system --fork --print-pid > /run/dbus.pid
trap 'avahi-daemon --kill 2>/dev/null || true; kill "$(cat /run/dbus.pid)" 2>/dev/null || true' EXIT
sleep 0.3
avahi-daemon --daemonize --no-chroot --no-drop-root --no-rlimits
# Under load the first browse can end before the record resolves: ask again for up to ~20 s.
for i in $(seq 1 10); do
  out=$(timeout 5 avahi-browse --resolve --parsable --terminate _natter._udp || true)
  if printf '%s\n' "$out" | grep -q '^=;.*;IPv4;'; then break; fi
  sleep 1
done
printf '%s\n' "$out"
"#;

#[test]
fn avahi_browse_lists_and_resolves_the_record() {
    for tool in ["avahi-browse", "avahi-daemon", "dbus-daemon", "unshare"] {
        assert!(
            std::process::Command::new("which")
                .arg(tool)
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: ./scripts/test installs avahi-utils, avahi-daemon and dbus"
        );
    }
    let lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let mut node = lan
        .a
        .command(Path::new(BIN))
        .arg("--profile")
        .arg(dir.path())
        .args(["run", "--listen", "0.0.0.0:47100", "--name", "Zed"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let id = std::process::Command::new(BIN)
        .arg("--profile")
        .arg(dir.path())
        .arg("id")
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.b.ns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            SCRIPT,
        ])
        .output()
        .unwrap();
    let _ = node.kill();
    let _ = node.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "avahi run failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Resolved lines start with '=' and carry host, address, port and TXT.
    let resolved: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("=;") && l.contains(";IPv4;"))
        .collect();
    assert!(!resolved.is_empty(), "no resolved IPv4 record:\n{text}");
    let line = resolved[0];
    assert!(line.contains("_natter._udp"), "{line}");
    assert!(
        line.contains(&format!(";{};47100;", lan.a.ip)),
        "address and port: {line}"
    );
    assert!(
        line.contains(&format!("\"id={id}\""))
            && line.contains("\"v=1-1\"")
            && line.contains("\"name=Zed\""),
        "{line}"
    );
    assert!(
        !line.contains(&hostname()),
        "the machine's host name is never published: {line}"
    );
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
        + ".local;"
}
