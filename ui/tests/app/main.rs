//! The real app state and views, driven through iced_test's Simulator (clicks, typing, Enter)
//! and backed by real nodes on loopback. The operations `update` asks for run against the
//! node exactly as the app's Tasks would run them.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod chat;
mod conversation;
mod flood;
mod history;
mod notices;
mod public_rooms;
mod relay;
mod rooms;
mod screens;
mod snapshots;
mod support;
