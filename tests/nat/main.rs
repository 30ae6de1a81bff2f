//! NAT system tests: a WAN with a rendezvous on it and peers behind routers of named kinds,
//! built by `natter-lab` from network namespaces (each kind proven by probing first); real
//! `natter-cli` and `natter-rendezvous` processes. Needs root and nftables (the README's
//! test command installs them); never skipped silently.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod cells;
mod kinds;
mod relay;
mod support;
mod tcp;
