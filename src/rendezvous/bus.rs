//! What the rendezvous nodes of one deployment (Redis mode) tell each other over Redis
//! (sharded pub/sub), and what they keep there of a held client: each decoder returns
//! `Result` and checks its cap, since a Redis that others can write is input too.

use prost::Message;

use crate::rendezvous::directory::KnockAnswer;
use crate::rendezvous::proto::{Push, SignedRecord};

/// A client held by some node, as lookups at any node read it (`P:p:X`'s blob).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Held {
    /// Its newest presence record.
    #[prost(message, optional, tag = "1")]
    pub signed: Option<SignedRecord>,
    /// Where the holding node sees its packets come from.
    #[prost(string, tag = "2")]
    pub observed: String,
    /// Invisible: only holders of `visible` see it online.
    #[prost(bool, tag = "3")]
    pub hidden: bool,
    /// The tokens that see it while invisible.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub visible: Vec<Vec<u8>>,
}

/// One message on a client's, a node's or the directory's channel.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Bus {
    /// What it says.
    #[prost(oneof = "body::Body", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub body: Option<body::Body>,
}

/// A knock's answer on its way to the node where the knock waits.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Routed {
    /// The room's creator, who answered.
    #[prost(bytes = "vec", tag = "1")]
    pub creator: Vec<u8>,
    /// The answer.
    #[prost(message, optional, tag = "2")]
    pub answer: Option<KnockAnswer>,
}

/// For a node: two clients consented to a relay between them, `to` at the sending node
/// (`node`): its client `from` may send to `to` through that node from now on.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RelayPair {
    /// The receiving node's client.
    #[prost(bytes = "vec", tag = "1")]
    pub from: Vec<u8>,
    /// The sending node's client.
    #[prost(bytes = "vec", tag = "2")]
    pub to: Vec<u8>,
    /// The sending node's id.
    #[prost(string, tag = "3")]
    pub node: String,
}

/// For a node: a relayed packet from another node's client to one held here.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Relayed {
    /// The sender (held at the node that published this).
    #[prost(bytes = "vec", tag = "1")]
    pub from: Vec<u8>,
    /// The recipient (held here).
    #[prost(bytes = "vec", tag = "2")]
    pub to: Vec<u8>,
    /// The QUIC packet, encrypted end to end.
    #[prost(bytes = "bytes", tag = "3")]
    pub packet: bytes::Bytes,
}

/// The kinds of [`Bus`] message.
pub(crate) mod body {
    /// What a bus message says.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum Body {
        /// A push for the client whose channel this is.
        #[prost(message, tag = "1")]
        Push(super::Push),
        /// The client registered at this holder (`NODE:CONN`): any other holder lets go.
        #[prost(string, tag = "2")]
        Displace(String),
        /// For a node: a knock's answer.
        #[prost(message, tag = "3")]
        Answer(super::Routed),
        /// For the directory: a listing published (its signed bytes).
        #[prost(bytes = "vec", tag = "4")]
        Listed(Vec<u8>),
        /// For the directory: a room unlisted (its id).
        #[prost(bytes = "vec", tag = "5")]
        Unlisted(Vec<u8>),
        /// For a node: a relay pair across two nodes is ready.
        #[prost(message, tag = "6")]
        RelayPair(super::RelayPair),
        /// For a node: a relayed packet for a client held there.
        #[prost(message, tag = "7")]
        Relayed(super::Relayed),
    }
}

/// Largest bus message read (a push is far under a rendezvous message).
pub(crate) const MAX_BUS: usize = crate::rendezvous::proto::MAX_MESSAGE;

impl Bus {
    pub(crate) fn of(body: body::Body) -> Vec<u8> {
        Self { body: Some(body) }.encode_to_vec()
    }

    pub(crate) fn read(bytes: &[u8]) -> Result<body::Body, String> {
        if bytes.len() > MAX_BUS {
            return Err(format!("a bus message of {} bytes", bytes.len()));
        }
        Self::decode(bytes)
            .map_err(|e| e.to_string())?
            .body
            .ok_or_else(|| "an empty bus message".into())
    }
}

impl Held {
    pub(crate) fn read(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_BUS {
            return Err(format!("a presence of {} bytes", bytes.len()));
        }
        Self::decode(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rendezvous::proto::{Empty, push};

    #[test]
    fn bus_messages_round_trip_and_garbage_is_an_error() {
        let p = body::Body::Push(Push {
            body: Some(push::Body::MailWaiting(Empty {})),
        });
        assert_eq!(Bus::read(&Bus::of(p.clone())), Ok(p));
        assert!(Bus::read(&[]).is_err());
        assert!(Bus::read(&[0xff; 7]).is_err());
        assert!(Bus::read(&vec![0; MAX_BUS + 1]).is_err());
        assert!(Held::read(&[0x0a, 0xff]).is_err());
    }
}
