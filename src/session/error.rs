//! Owns why a session ends: each way it can fail or be closed, in words a user can act on.

use super::HELLO_TIMEOUT;
use crate::wire::{GoodbyeCode, WireError};

/// A session ended with an error, or by the peer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// No protocol version in common.
    #[error(
        "no protocol version in common: we speak {ours:?}, the peer speaks {theirs:?}; one of you needs to update Natter"
    )]
    NoCommonVersion {
        /// Our range.
        ours: (u32, u32),
        /// Theirs.
        theirs: (u32, u32),
    },
    /// The peer lacks a required feature.
    #[error("the peer does not support {missing:?}; it needs a newer Natter")]
    NoCommonFeatures {
        /// The required feature it lacks.
        missing: String,
    },
    /// The peer's session id differs from ours.
    #[error("session id mismatch: the channel is not bound to this connection")]
    SessionMismatch,
    /// Bytes that are not frames.
    #[error("bad frame from peer: {0}")]
    Wire(#[from] WireError),
    /// Frames that break the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No `Hello` in time.
    #[error("the peer did not say hello within {}s", HELLO_TIMEOUT.as_secs())]
    HelloTimeout,
    /// The peer said goodbye.
    #[error("the peer closed the session ({code:?}: {reason})")]
    PeerClosed {
        /// Its code.
        code: GoodbyeCode,
        /// Its reason.
        reason: String,
    },
    /// We closed it.
    #[error("closed locally")]
    LocalClose,
}
