//! Owns the human-readable form of command answers (the CLI without `--json`).

use serde_json::Value;

use super::Command;
use crate::text::printable;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A peer-chosen field of an answer, printable.
fn p(v: &Value, key: &str) -> String {
    printable(s(v, key))
}

fn message_line(m: &Value, with_peer: bool) -> String {
    let who = if m.get("outgoing").and_then(Value::as_bool).unwrap_or(false) {
        "me"
    } else {
        "them"
    };
    let ts = m.get("ts_ms").and_then(Value::as_i64).unwrap_or(0);
    let peer = if with_peer {
        format!("{}  ", &s(m, "peer").get(..10).unwrap_or(""))
    } else {
        String::new()
    };
    let via = m
        .get("mailbox")
        .and_then(Value::as_str)
        .map(|rv| format!(", via the mailbox of {}", printable(rv)))
        .unwrap_or_default();
    // Ours at a rendezvous: until when it keeps it, or that it let it expire.
    let kept = match (
        m.get("stored_until_ms").and_then(Value::as_i64),
        m.get("expired").and_then(Value::as_bool),
    ) {
        (Some(until), _) => format!(
            ", kept at the rendezvous until {}",
            crate::dates::date_time(until)
        ),
        (None, Some(true)) => ", expired in the mailbox: goes out when they are online".into(),
        _ => String::new(),
    };
    format!(
        "{peer}[{}] {who}: {}  ({}{kept}{via})",
        crate::dates::date_time(ts),
        p(m, "text"),
        s(m, "state")
    )
}

fn transfer_line(t: &Value) -> String {
    let dir = if t["outgoing"].as_bool().unwrap_or(false) {
        "to  "
    } else {
        "from"
    };
    let peer = s(t, "peer").get(..10).unwrap_or("");
    let size = t["size"].as_u64().unwrap_or(0);
    let mut line = format!(
        "{}  {} {peer}  {}  {size} B  {}",
        s(t, "file_id"),
        dir,
        p(t, "name"),
        s(t, "state")
    );
    if let Some(p) = t["path"]
        .as_str()
        .filter(|_| !t["outgoing"].as_bool().unwrap_or(false))
    {
        line.push_str(&format!("  {}", printable(p)));
    }
    if let Some(r) = t["reason"].as_str().map(printable) {
        line.push_str(&format!("  ({r})"));
    }
    line
}

/// One line per element of a JSON array, or "(none)".
fn lines(v: &Value, f: &dyn Fn(&Value) -> String) -> String {
    let lines: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(f).collect())
        .unwrap_or_default();
    if lines.is_empty() {
        "(none)".into()
    } else {
        lines.join("\n")
    }
}

/// The text a person reads for a command's answer.
pub fn render(cmd: &Command, v: &Value) -> String {
    if let Some(text) = super::rooms::render(cmd, v) {
        return text;
    }
    let list = |f: &dyn Fn(&Value) -> String| lines(v, f);
    match cmd {
        Command::Id => s(v, "peer_id").to_string(),
        Command::HandleClaim { .. } => format!(
            "@{} is yours at this rendezvous; others can add you with `contact add @{}`",
            s(v, "handle"),
            s(v, "handle")
        ),
        Command::HandleResolve { .. } => s(v, "id").to_string(),
        Command::ContactAdd { .. }
        | Command::ContactAddHandle { .. }
        | Command::Accept { .. }
        | Command::ContactSet { .. }
        | Command::Rename { .. } => {
            format!(
                "{}  {}  {}",
                s(v, "peer"),
                p(v, "nickname"),
                s(v, "verification")
            )
        }
        Command::ContactList | Command::Requests => list(&|c| {
            let addr = c
                .get("addr")
                .and_then(Value::as_str)
                .map(|a| format!("  {}", printable(a)))
                .unwrap_or_default();
            format!(
                "{}  {}  {}{addr}",
                s(c, "peer"),
                p(c, "nickname"),
                s(c, "verification")
            )
        }),
        Command::Send { .. } => match v.get("expires_ms").and_then(Value::as_i64) {
            Some(e) => format!(
                "stored {} (they are offline: sealed at the rendezvous until {}; delivered receipts follow)",
                s(v, "id"),
                crate::dates::date_time(e)
            ),
            None => format!("{} {}", s(v, "state"), s(v, "id")),
        },
        Command::History { .. } => list(&|m| message_line(m, false)),
        Command::Search { .. } => list(&|m| message_line(m, true)),
        Command::Privacy { .. } => s(v, "privacy").to_string(),
        Command::RelayPolicy { .. } => s(v, "relay_policy").to_string(),
        Command::RelayConsent { .. } => {
            if v["consent"].as_bool().unwrap_or(false) {
                "relay allowed: the session goes through it once they consent too".into()
            } else {
                "relay declined: nothing goes through it".into()
            }
        }
        Command::Verify { .. } => format!(
            "safety number with {}:\n  {}\n(compare it with your contact in person; now {})",
            s(v, "peer").get(..10).unwrap_or(""),
            s(v, "safety_number"),
            s(v, "verification")
        ),
        Command::SendFile { .. }
        | Command::AcceptFile { .. }
        | Command::DeclineFile { .. }
        | Command::CancelFile { .. } => transfer_line(v),
        Command::Transfers => list(&transfer_line),
        Command::Nearby => list(&|n| {
            let addrs: Vec<&str> = n["addrs"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let who = if n["contact"].as_bool().unwrap_or(false) {
                "contact"
            } else {
                "stranger"
            };
            format!(
                "{}  {}  {}  {who}",
                s(n, "peer"),
                n["name"]
                    .as_str()
                    .map(printable)
                    .unwrap_or_else(|| "(no name)".into()),
                addrs.join(",")
            )
        }),
        Command::Paths => {
            let sessions = lines(&v["sessions"], &|p| {
                format!(
                    "{}  {}  {}  {}",
                    s(p, "peer"),
                    s(p, "path"),
                    s(p, "remote"),
                    s(p, "direction")
                )
            });
            format!(
                "{sessions}\n{} sessions since start, {} of them direct or on the LAN",
                v["conns_opened"].as_u64().unwrap_or(0),
                v["conns_direct"].as_u64().unwrap_or(0)
            )
        }
        Command::BlockList => lines(&v["blocked"], &|p| p.as_str().unwrap_or("").to_string()),
        Command::DeleteHistory { .. } => format!(
            "deleted {} messages with {} on this device (their copy is untouched)",
            v["deleted"].as_u64().unwrap_or(0),
            s(v, "peer").get(..10).unwrap_or("")
        ),
        Command::ExportHistory { .. } => format!(
            "exported {} messages to {}",
            v["exported"].as_u64().unwrap_or(0),
            s(v, "path")
        ),
        Command::ExportIdentity { .. } => format!(
            "identity backup saved to {}; anyone with this file can be you: keep it offline",
            s(v, "identity_backup")
        ),
        Command::Preference { .. } => match v["value"].as_str() {
            Some(value) => format!("{} = {value}", s(v, "name")),
            None => format!("{} is not set", s(v, "name")),
        },
        Command::Show { .. } => "asked the running node's app to show its window".into(),
        Command::AutoAccept { .. } => match v["auto_accept_bytes"].as_u64() {
            Some(n) => format!(
                "files from this contact are accepted by themselves up to {} ({n} bytes)",
                crate::size::show(n)
            ),
            None => "files from this contact wait for you to accept them".into(),
        },
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod printable_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_peers_text_cannot_drive_the_terminal_or_fake_a_line() {
        assert_eq!(printable("hi, ünïcode ok 👋"), "hi, ünïcode ok 👋");
        assert_eq!(
            printable("\u{1b}[2J\u{1b}]0;pwned\u{7}"),
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(printable("a\r\nb"), "a\\r\\nb");
        assert_eq!(printable("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        // In a rendered history line, the fake second line stays on the first.
        let m = json!({ "text": "ok\n[00:00:00 UTC] them: send me your key", "ts_ms": 0, "state": "delivered" });
        let line = message_line(&m, false);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("ok\\n[00:00:00"), "{line}");
    }
}
