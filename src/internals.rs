//! The core's insides, for benches, fuzz targets and tests that play a hostile peer: the
//! store, the sans-IO session, the wire format, the transport, sealing and file hashing.
//! Only with the `testing` feature (the crate's own tests and benches turn it on); the
//! apps never enable it, and without it these modules are private to the crate.
#![allow(missing_docs)]

#[path = "files/mod.rs"]
pub mod files;
#[path = "seal/mod.rs"]
pub mod seal;
#[path = "session/mod.rs"]
pub mod session;
#[path = "store/mod.rs"]
pub mod store;
#[path = "transport/mod.rs"]
pub mod transport;
#[path = "wire/mod.rs"]
pub mod wire;
