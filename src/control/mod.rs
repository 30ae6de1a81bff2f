//! Owns the command language shared by `natter-cli run` (JSON lines on stdin), the local
//! control socket, one-shot CLI invocations and the desktop app: a [`Command`] in, an
//! [`Answer`] out (JSON only at the CLI's edge).

mod answer;
mod command;
mod execute;
mod render;
mod rooms;
mod run;
mod socket;

pub use answer::{Answer, MemberNow};
pub use command::{Command, ContactRelay, Wait, YesNo};
pub use execute::execute;
pub use render::render;
pub use run::{RunError, one_shot, run};
pub use socket::{SOCKET_FILE, answer as socket_answer, bind, request, serve};

use crate::node::NodeError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The node refused.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// `--wait` ran out of time.
    #[error(
        "timed out after {secs}s waiting for {wait:?}; the message {id} stays queued and goes out when the contact is reachable"
    )]
    Timeout {
        /// Message id.
        id: String,
        /// What was awaited.
        wait: Wait,
        /// Seconds waited.
        secs: f64,
    },
    /// The peer refused or could not be authenticated.
    #[error("{0}")]
    Dial(String),
    /// The socket conversation failed.
    #[error("control socket: {0}")]
    Socket(String),
}
