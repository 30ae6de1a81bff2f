//! The rendezvous protocol: message types ([`proto`]), signed presence records and lookup
//! tokens ([`record`]), the client the node uses ([`client`]) and, behind the cargo feature
//! `server`, the server itself ([`server`]), which can also relay ([`relay`]). The server finds peers and carries dial signals
//! and sealed mail; it never sees message content.

pub mod batch;
#[cfg(any(feature = "server", feature = "testing"))]
pub(crate) mod bus;
pub mod client;
pub mod directory;
pub mod proto;
pub mod record;
pub mod relay;
#[cfg(feature = "server")]
pub mod server;

pub use client::{Client, ClientError, RendezvousConfig, parse_addrs};
