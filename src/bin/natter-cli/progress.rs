//! `send-file --wait done` on a terminal: a progress bar on stderr while the running node
//! (the app, or `natter-cli run`) sends, read from its `transfers` every 200 ms.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use natter::PeerId;
use natter::control::{self, Command};
use serde_json::Value;

/// One line: `[#########...........]  45%  12.3 MiB of 27.0 MiB`.
pub(crate) fn line(done: u64, total: u64, width: usize) -> String {
    // Bytes written over every attempt: a resumed transfer can count past the size.
    let done = done.min(total);
    let whole = total.max(1) as u128;
    let filled = (done as u128 * width as u128 / whole) as usize;
    let percent = done as u128 * 100 / whole;
    format!(
        "[{}{}] {percent:>3}%  {} of {}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        natter::size::show(done),
        natter::size::show(total)
    )
}

/// Starts the bar for a `send-file` that waits, when stderr is a terminal, nothing asked for
/// JSON, and a node runs on the profile to ask; stop it with the sender it returns.
pub(crate) fn start(
    cmd: &Command,
    profile: &Path,
    json: bool,
) -> Option<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    use std::io::IsTerminal;
    let Command::SendFile {
        id,
        path,
        name,
        wait: true,
        ..
    } = cmd
    else {
        return None;
    };
    let socket = profile.join(control::SOCKET_FILE);
    if json || !std::io::stderr().is_terminal() || !socket.exists() {
        return None;
    }
    let name = name
        .clone()
        .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let peer = *id;
    let task = tokio::spawn(async move { show(&socket, peer, name, stopped).await });
    Some((stop, task))
}

/// Draws the bar until `stop` fires: the newest outgoing transfer of `name` to `peer` that
/// is on its way (what the running node reports), redrawn in place.
pub(crate) async fn show(
    socket: &Path,
    peer: PeerId,
    name: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut drawn = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let Ok(Some(answer)) = control::request(socket, &Command::Transfers).await else {
            continue;
        };
        let sending = answer["result"].as_array().and_then(|all| {
            all.iter().rev().find(|t| {
                t["outgoing"] == true
                    && t["peer"] == peer.to_string()
                    && t["name"] == name.as_str()
                    && matches!(t["state"].as_str(), Some("offered" | "accepted"))
            })
        });
        if let Some(t) = sending {
            let n = |v: &Value| v.as_u64().unwrap_or(0);
            eprint!("\r{}", line(n(&t["sent_bytes"]), n(&t["size"]), 30));
            let _ = std::io::stderr().flush();
            drawn = true;
        }
    }
    if drawn {
        // The bar goes; the answer's line follows on stdout.
        eprint!("\r{:width$}\r", "", width = 72);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_fills_with_what_went() {
        assert_eq!(super::line(0, 100, 10), "[..........]   0%  0 B of 100 B");
        assert_eq!(
            super::line(5 << 20, 10 << 20, 10),
            "[#####.....]  50%  5.0 MiB of 10.0 MiB"
        );
        assert_eq!(super::line(200, 100, 4), "[####] 100%  100 B of 100 B");
        assert_eq!(super::line(0, 0, 4), "[....]   0%  0 B of 0 B");
    }
}
