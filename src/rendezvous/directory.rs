//! The public-room directory's wire: a creator publishes its room's signed listing (and
//! renews it, or it expires), anyone searches, and a stranger knocks to join (pushed to the
//! creator, who answers by letting it in or, through the server, with a refusal). The server
//! keeps only what it lists: the listing's own fields (`crate::room::Listing`).

use prost::Message;

/// Most listings one search answers with.
pub const MAX_RESULTS: usize = 50;
/// Longest search text, in bytes.
pub const MAX_QUERY: usize = 200;

/// List a public room (or renew its listing): the creator's signed listing.
#[derive(Clone, PartialEq, Message)]
pub struct Publish {
    /// The signed listing (`room::SignedListing`, at most 768 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub listing: Vec<u8>,
}

/// Stop listing a room (its creator only).
#[derive(Clone, PartialEq, Message)]
pub struct Unpublish {
    /// The room id, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
}

/// Search the directory: rooms whose name or topic holds `query` (any case), or whose id it
/// is; empty: the largest rooms.
#[derive(Clone, PartialEq, Message)]
pub struct Search {
    /// The text to look for.
    #[prost(string, tag = "1")]
    pub query: String,
    /// At most this many (capped at [`MAX_RESULTS`]).
    #[prost(uint32, tag = "2")]
    pub limit: u32,
}

/// The answer to `Search`: signed listings, largest rooms first.
#[derive(Clone, PartialEq, Message)]
pub struct Listings {
    /// Each a signed listing the client checks itself.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub listings: Vec<Vec<u8>>,
}

/// Ask a listed room's creator to let us in: pushed to it as [`Knocked`] if it is online.
#[derive(Clone, PartialEq, Message)]
pub struct Knock {
    /// The room id, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
}

/// Pushed to a room's creator: `from` knocked. It lets it in (a new state, then a session),
/// or answers with [`KnockRefused`].
#[derive(Clone, PartialEq, Message)]
pub struct Knocked {
    /// The room id.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
    /// Who knocked (authenticated by the server's TLS).
    #[prost(bytes = "vec", tag = "2")]
    pub from: Vec<u8>,
    /// Where the server sees it.
    #[prost(string, tag = "3")]
    pub observed: String,
    /// Its signed presence record, for its addresses.
    #[prost(message, optional, tag = "4")]
    pub record: Option<super::proto::SignedRecord>,
}

/// A creator will not let a knocker in: sent to the server, which pushes it to the knocker
/// only if that knock is pending (so it carries nothing else between strangers).
#[derive(Clone, PartialEq, Message)]
pub struct KnockRefused {
    /// The room id.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
    /// To the server: the knocker; pushed: the creator.
    #[prost(bytes = "vec", tag = "2")]
    pub peer: Vec<u8>,
    /// Why, in the node's words (at most 200 bytes are passed on).
    #[prost(string, tag = "3")]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Publish::decode(bytes.as_slice());
            let _ = Search::decode(bytes.as_slice());
            let _ = Listings::decode(bytes.as_slice());
            let _ = Knocked::decode(bytes.as_slice());
            let _ = KnockRefused::decode(bytes.as_slice());
        }
    }
}
