//! Owns "one instance per profile": the running app serves the profile's control socket (so
//! `natter-cli` commands reach it), and a second start hands its `natter://` link to the
//! running one over that socket and leaves.

use std::path::Path;
use std::sync::Arc;

use natter::control::{self, Command};
use natter::node::NodeHandle;
use tokio::sync::Notify;

/// What a start found on its profile.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No app or node runs there: start.
    Nobody,
    /// The running one took the link (and raises its window): leave.
    HandedOver,
}

/// Asks the app or node running on `profile` to show itself and open `link`. A socket that
/// does not answer as a node would (a stale file, another program) counts as nobody.
pub fn hand_over(profile: &Path, link: Option<String>) -> Found {
    ask(profile, Command::Show { link })
}

/// Whether an app or node runs on `profile` (asked, not shown: a start at login finds
/// Natter already running and leaves it as it is).
pub fn running(profile: &Path) -> Found {
    ask(profile, Command::Id)
}

fn ask(profile: &Path, cmd: Command) -> Found {
    let socket = profile.join(control::SOCKET_FILE);
    if !socket.exists() {
        return Found::Nobody;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "no runtime to reach a running instance");
            return Found::Nobody;
        }
    };
    let asked = runtime.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            control::request(&socket, &cmd),
        )
        .await
    });
    match asked {
        Ok(Ok(Some(answer))) if answer["ok"] == true => Found::HandedOver,
        other => {
            tracing::info!(answer = ?other, "no running instance answered");
            Found::Nobody
        }
    }
}

/// Serves the profile's control socket for the app's node, as `natter-cli run` does;
/// `shutdown` through it notifies `stop`. Without a socket the app still runs (said in the
/// log): only `natter-cli` cannot reach it.
pub fn serve(node: &NodeHandle, stop: Arc<Notify>) {
    match control::bind(&node.profile().join(control::SOCKET_FILE)) {
        Ok(listener) => {
            tokio::spawn(control::serve(node.clone(), listener, stop));
        }
        Err(e) => tracing::warn!(error = %e, "no control socket: natter-cli cannot reach the app"),
    }
}
