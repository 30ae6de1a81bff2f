//! Owns the two ways a command-line client uses a node: `run` (a node in the foreground:
//! events out as JSON lines, `{"cmd":…}` lines in, the control socket served) and a one-shot
//! command (handed to the running node over its socket, or to a node started just for it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use super::{
    Command, ControlError, SOCKET_FILE, Wait, bind, execute, request, serve, socket_answer,
};
use crate::node::{Node, NodeConfig, NodeError};
use crate::text::terminal_json;

/// Why a foreground node or a one-shot command could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The node did not start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Talking to the running node, or waiting for signals, failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The running node's socket failed mid-conversation.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A command that needs a running node found none.
    #[error("no Natter node is running on {0}")]
    NotRunning(PathBuf),
}

/// Runs a node in the foreground until `{"cmd":"shutdown"}`, Ctrl-C or SIGTERM: every event
/// is printed to stdout as a JSON line, each stdin line is a command whose answer is printed
/// as `{"answer":…}`, and the profile's control socket serves one-shot commands.
pub async fn run(config: NodeConfig) -> Result<(), RunError> {
    let profile = config.profile.clone();
    let (node, mut events) = Node::start(config).await?;
    let stop = Arc::new(Notify::new());
    // Bound before any event is printed: once `started` is out, one-shot commands reach
    // this node.
    match bind(&profile.join(SOCKET_FILE)) {
        Ok(listener) => {
            tokio::spawn(serve(node.clone(), listener, stop.clone()));
        }
        Err(e) => eprintln!(
            "natter-cli: no control socket ({e}); other natter-cli commands cannot reach this node"
        ),
    }
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => match serde_json::to_string(&e) {
                    Ok(line) => println!("{}", terminal_json(&line)),
                    Err(err) => tracing::warn!(error = %err, "event not printable"),
                },
                Err(RecvError::Lagged(n)) => {
                    println!("{}", json!({ "event": "lagged", "missed": n }));
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    {
        let (node, stop) = (node.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                let answer = match serde_json::from_str::<Command>(&line) {
                    Ok(Command::Shutdown) => {
                        stop.notify_one();
                        break;
                    }
                    Ok(cmd) => socket_answer(execute(&node, cmd).await.map(|a| a.to_json())),
                    Err(e) => json!({ "ok": false, "error": format!("bad command: {e}") }),
                };
                println!(
                    "{}",
                    terminal_json(&json!({ "answer": answer }).to_string())
                );
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = stop.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    node.shutdown().await;
    let _ = std::fs::remove_file(profile.join(SOCKET_FILE));
    Ok(())
}

/// Runs one command: on the node running on the profile if there is one (over its control
/// socket), else on a node started for it. That node dials, browses and registers only if
/// the command needs the network. Returns the answer as the socket gives it
/// (`{"ok":…,"result"|"error":…}`).
pub async fn one_shot(mut config: NodeConfig, cmd: Command) -> Result<Value, RunError> {
    let socket = config.profile.join(SOCKET_FILE);
    if let Some(answer) = request(&socket, &cmd).await? {
        return Ok(answer);
    }
    // Nothing to stop, nobody to show: a node started for these would answer to no one.
    if matches!(cmd, Command::Shutdown | Command::Show { .. }) {
        return Err(RunError::NotRunning(config.profile));
    }
    let network = cmd.needs_network();
    config.autodial = network;
    config.discovery = config.discovery.filter(|_| network);
    config.rendezvous = config.rendezvous.filter(|_| network);
    let (node, _events) = Node::start(config).await?;
    if matches!(cmd, Command::Nearby) {
        // Records take about a second to resolve (probing); listen a little longer.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    // A node started just for `send` gives the message a few seconds to go out.
    let quick = match &cmd {
        Command::Send {
            id,
            text,
            wait: Some(Wait::Queued) | None,
            ..
        } => Some(Command::Send {
            id: *id,
            text: text.clone(),
            wait: Some(Wait::Delivered),
            timeout: Some(QUICK_SEND.as_secs_f64()),
        }),
        _ => None,
    };
    let answer = match quick {
        Some(send) => match execute(&node, send).await.map(|a| a.to_json()) {
            Err(ControlError::Timeout {
                id,
                wait: Wait::Delivered,
                ..
            }) => Ok(json!({
                "id": id,
                "state": "queued",
                "note": "the contact is not reachable now; the message goes out the next time Natter runs and reaches them"
            })),
            other => other,
        },
        None => execute(&node, cmd).await.map(|a| a.to_json()),
    };
    node.shutdown().await;
    Ok(socket_answer(answer))
}

/// How long a node started just for `send` waits for the message to be delivered.
const QUICK_SEND: Duration = Duration::from_secs(3);
