//! LAN system tests: real `natter-cli` processes in network namespaces joined by a veth pair
//! find each other over mDNS and chat with no address given. Needs root (the README's test
//! command runs as root in CI); never skipped silently.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod avahi;
mod netns;
mod nodes;
mod rooms;
