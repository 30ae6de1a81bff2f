//! Owns the local control socket (a Unix socket in the profile folder): one JSON command
//! per connection, one JSON answer, so other `natter-cli` processes of the same user can use
//! a running node; processes of other users are refused by their uid.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use super::{Command, ControlError, execute};
use crate::node::NodeHandle;

/// File name of the control socket inside a profile folder.
pub const SOCKET_FILE: &str = "control.sock";

/// Longest command line accepted on the socket.
const MAX_LINE: usize = 256 * 1024;

/// The JSON answer line for a command result.
pub fn answer(result: Result<Value, ControlError>) -> Value {
    match result {
        Ok(v) => json!({ "ok": true, "result": v }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

/// Binds the control socket at `path`: under a name of its own first, made 0600, then
/// renamed into place, so the socket at `path` is never open to anyone else, not even for
/// a moment. Call it before telling anyone the node runs: once this returns, commands reach
/// it. Must run inside a tokio runtime.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    // The node holds the profile lock, so a socket file here is a stale one.
    let _ = std::fs::remove_file(path);
    let fresh = path.with_extension(format!("sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let listener = UnixListener::bind(&fresh)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&fresh, path)?;
    Ok(listener)
}

/// Serves the control socket until the node stops; `Shutdown` notifies `stop`.
///
/// Only the user the node runs as is served: the socket is bound inside the profile folder,
/// which the node made 0700 before (so the moment between `bind` and the `chmod` to 0600
/// exposes nothing), and each connecting process's uid is checked (`SO_PEERCRED`), so even
/// a profile folder or socket someone loosened later serves no one else. Root is refused
/// too: it can read the profile anyway, and one rule with no exception is easier to trust;
/// root can run `natter-cli` as the user.
pub async fn serve(node: NodeHandle, listener: UnixListener, stop: Arc<Notify>) {
    let me = crate::profile::own_uid();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: keep serving once some are free again.
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {
                let node = node.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(node, stream, stop).await {
                        tracing::debug!(error = %e, "control client failed");
                    }
                });
            }
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    pid = cred.pid(),
                    "control socket: refused a process of another user"
                );
                tokio::spawn(refuse(stream, cred.uid(), me));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: cannot tell who connected; refused");
            }
        }
    }
}

/// Pause after a failed `accept` before the next.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a refused client may take to finish writing its command before it is closed.
const REFUSED_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Tells a process of another user, in one answer line, that this node is not theirs; its
/// command is never read as one (only drained, so that its write does not fail before it
/// reads the answer).
async fn refuse(stream: UnixStream, uid: u32, me: u32) {
    let (read, mut write) = stream.into_split();
    let reply = answer(Err(ControlError::Socket(format!(
        "this node serves only the user who runs it (uid {me}); you are uid {uid}"
    ))));
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    if write.write_all(&out).await.is_err() || write.shutdown().await.is_err() {
        return;
    }
    let mut rest = read.take(MAX_LINE as u64);
    let _ = tokio::time::timeout(
        REFUSED_GRACE,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

async fn handle(node: NodeHandle, stream: UnixStream, stop: Arc<Notify>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
    reader.read_line(&mut line).await?;
    let (reply, shutdown) = match serde_json::from_str::<Command>(&line) {
        Ok(cmd) => {
            let shutdown = matches!(cmd, Command::Shutdown);
            (
                answer(execute(&node, cmd).await.map(|a| a.to_json())),
                shutdown,
            )
        }
        Err(e) => (
            answer(Err(ControlError::Socket(format!("bad command: {e}")))),
            false,
        ),
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    let written = write.write_all(&out).await;
    let closed = write.shutdown().await;
    // Only once the answer is out: the process exits soon after a stop.
    if shutdown {
        stop.notify_one();
    }
    written.and(closed)
}

/// Sends one command to the node serving `path`. `Ok(None)` if no node is running there.
pub async fn request(path: &Path, cmd: &Command) -> Result<Option<Value>, ControlError> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(cmd).map_err(|e| ControlError::Socket(e.to_string()))?;
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| ControlError::Socket(e.to_string()))?;
    let mut answer = String::new();
    BufReader::new(read.take(64 * 1024 * 1024))
        .read_line(&mut answer)
        .await
        .map_err(|e| ControlError::Socket(e.to_string()))?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| ControlError::Socket(format!("bad answer from the node: {e}")))
}
