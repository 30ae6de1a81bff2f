//! Natter's core: identity, wire format, sessions, transport, storage and the node actor.
//! No GUI code lives here; the CLI and the GUI are thin clients of [`NodeHandle`] and
//! [`Event`].
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod civil;
pub mod control;
pub mod discovery;
pub mod files;
pub mod identity;
pub mod node;
pub mod profile;
pub mod rendezvous;
pub mod seal;
pub mod session;
pub mod store;
pub mod transport;
pub mod wire;

pub use identity::{Identity, PeerId};
pub use node::{Event, Node, NodeConfig, NodeError, NodeHandle};

/// The version every Natter program prints: the package version and the git revision.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("NATTER_GIT_REV"), ")");
