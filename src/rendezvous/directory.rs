//! The public-room directory's wire: a creator publishes its room's signed listing (and
//! renews it, or it expires), anyone searches, and a stranger knocks to join: the knock is
//! pushed to the creator, and its answer (let in, or refused with why) comes back as the
//! answer to the knock. The server
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

/// Ask a listed room's creator to let us in: pushed to it as `proto::Knocked` if it is online;
/// answered with [`KnockResult`] once it answers (or after a few seconds without a word).
#[derive(Clone, PartialEq, Message)]
pub struct Knock {
    /// The room id, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
}

/// A creator's answer to a knock: the server passes it on as the answer to that knock only
/// while the knock waits (so it carries nothing else between strangers).
#[derive(Clone, PartialEq, Message)]
pub struct KnockAnswer {
    /// The room id.
    #[prost(bytes = "vec", tag = "1")]
    pub room: Vec<u8>,
    /// The knocker.
    #[prost(bytes = "vec", tag = "2")]
    pub peer: Vec<u8>,
    /// Let in (a state listing it follows over a session).
    #[prost(bool, tag = "3")]
    pub let_in: bool,
    /// Not let in: why, in the node's words (at most 200 bytes are passed on).
    #[prost(string, tag = "4")]
    pub reason: String,
}

/// The answer to a knock.
#[derive(Clone, PartialEq, Message)]
pub struct KnockResult {
    /// The creator answered in time (else the knock reached it, and no word came yet).
    #[prost(bool, tag = "1")]
    pub answered: bool,
    /// It lets us in.
    #[prost(bool, tag = "2")]
    pub let_in: bool,
    /// It does not: why.
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
            let _ = KnockAnswer::decode(bytes.as_slice());
            let _ = KnockResult::decode(bytes.as_slice());
        }
    }
}
