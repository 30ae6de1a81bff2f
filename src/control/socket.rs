//! Owns the local control socket (a Unix socket in the profile folder): one JSON command
//! per connection, one JSON answer, so other `natter-cli` processes can use a running node.

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

/// Serves the control socket until the node stops; `Shutdown` notifies `stop`.
pub async fn serve(node: NodeHandle, path: &Path, stop: Arc<Notify>) -> std::io::Result<()> {
    // The node holds the profile lock, so a socket file here is a stale one.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let node = node.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(node, stream, stop).await {
                tracing::debug!(error = %e, "control client failed");
            }
        });
    }
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
