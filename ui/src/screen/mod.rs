//! One module per screen; each renders from the app state and emits `Message`s.

pub mod conversation;
pub mod sidebar;
