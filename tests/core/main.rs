//! Integration tests of the core: several real nodes in one process on loopback, real QUIC,
//! real SQLite.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod door;
mod files;
mod flood;
mod hostile;
mod lan;
mod messaging;
mod policy;
mod port;
mod privacy;
mod public_rooms;
mod rooms;
mod rooms_db;
mod secrets;
mod support;
