//! System tests: the real `natter-cli` binary, several processes, loopback only.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod chat;
mod conventions;
mod crash;
mod delivery;
mod errors;
mod files;
mod mailbox;
mod public_rooms;
mod relay;
mod rendezvous;
mod rendezvous_limits;
mod rooms;
mod scale;
mod secrets;
mod support;
