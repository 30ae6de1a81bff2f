//! Natter's core: identity, wire format, sessions, transport, storage and the node actor.
//! No GUI code lives here; the CLI and the GUI are thin clients of [`NodeHandle`] and
//! [`Event`].
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod control;
pub mod dates;
pub mod discovery;
pub mod identity;
pub mod model;
pub mod node;
pub mod profile;
pub mod rendezvous;
pub mod room;
pub mod size;
pub mod text;

// The insides: the apps see none of these (they speak the model, not SQLite rows or
// protobuf). Benches, fuzzing and the hostile-peer tests reach them through
// [`internals`], with the `testing` feature.
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod files;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod seal;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod session;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod store;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod transport;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)] // public inside, for `internals`
mod wire;

/// The bodies of the fuzz targets, shared with the replay of their corpora (`tests/fuzz`).
#[cfg(feature = "testing")]
pub mod fuzzing;
/// The core's insides, for benches, fuzz targets and tests that play a hostile peer.
#[cfg(feature = "testing")]
pub mod internals;
#[cfg(feature = "testing")]
use internals::{files, seal, session, store, transport, wire};

pub use identity::{Identity, PeerId};
pub use model::{
    Contact, ContactState, Message, MessageState, PageBefore, Status, Transfer, TransferState,
    TypingState, Verification,
};
pub use node::{Event, Node, NodeConfig, NodeError, NodeHandle};

/// The version every Natter program prints: the package version and the git revision.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("NATTER_GIT_REV"), ")");
