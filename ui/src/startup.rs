//! Owns the start-up clock: when the process began and when the first view was built,
//! logged once (target `natter_ui::startup`, level info) for `benches/gui.rs`.

use std::sync::{Once, OnceLock};
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();
static FIRST_VIEW: Once = Once::new();
static READY_VIEW: Once = Once::new();

/// Marks the process start (call first thing in `main`).
pub fn mark() {
    let _ = START.set(Instant::now());
}

/// Logs the time from start to the first view, and to the first one with the node up and
/// the profile loaded (`ready`).
pub(crate) fn view_built(ready: bool) {
    let Some(start) = START.get() else { return };
    let ms = || start.elapsed().as_secs_f64() * 1e3;
    FIRST_VIEW.call_once(|| tracing::info!(target: "natter_ui::startup", ms = ms(), "first view"));
    if ready {
        READY_VIEW
            .call_once(|| tracing::info!(target: "natter_ui::startup", ms = ms(), "ready view"));
    }
}
