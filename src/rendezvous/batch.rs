//! Batched lookups: many lookups in one request, answered in order (PROTOCOL.md,
//! *LookupMany*). Re-exported by [`proto`](super::proto).

use prost::Message;

use super::proto::{Lookup, Presence};

/// Find many peers in one request (at most [`MAX_BATCH`]); answered by [`Presences`] in the
/// same order.
#[derive(Clone, PartialEq, Message)]
pub struct Lookups {
    /// The lookups, each as a single one.
    #[prost(message, repeated, tag = "1")]
    pub lookups: Vec<Lookup>,
}

/// The answers to [`Lookups`], in its order: as many as fit in one message (a client asks
/// again for the rest).
#[derive(Clone, PartialEq, Message)]
pub struct Presences {
    /// One answer per lookup, from the first.
    #[prost(message, repeated, tag = "1")]
    pub presences: Vec<Presence>,
}

/// Most lookups in one [`Lookups`] request.
pub const MAX_BATCH: usize = 64;
