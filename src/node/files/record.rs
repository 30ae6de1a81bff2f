//! Owns what a transfer reports and records as it goes: progress events at a bounded rate,
//! and store writes in the background so the data path never waits for a commit.

use std::time::Instant;

use super::{Event, Inner, PROGRESS_EVERY, emit};
use crate::store::{self, Transfer};

/// A transfer's progress events, at most one per [`PROGRESS_EVERY`].
pub(super) struct Progress {
    started: Instant,
    from: u64,
    last: Instant,
}

impl Progress {
    pub(super) fn new(from: u64) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            from,
            last: now,
        }
    }

    pub(super) fn tick(&mut self, inner: &Inner, t: &Transfer, bytes: u64, force: bool) {
        if !force && self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let speed = ((bytes - self.from) as f64 / secs) as u64;
        let eta = (speed > 0).then(|| (t.size - bytes.min(t.size)) / speed);
        emit(
            inner,
            Event::FileProgress {
                file_id: t.file_id.clone(),
                peer: t.peer,
                outgoing: t.outgoing,
                bytes,
                size: t.size,
                speed_bps: speed,
                eta_secs: eta,
            },
        );
    }
}

/// Store writes a transfer makes as it goes (resume point, bytes sent), one at a time in the
/// background: the data path never waits for a commit (an fsync), and a slow disk only makes
/// the recorded figure lag.
#[derive(Default)]
pub(super) struct Recorder {
    busy: Option<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Whether the previous write is done (a new one may start).
    pub(super) fn idle(&self) -> bool {
        self.busy.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Starts a write; call only when [`Recorder::idle`].
    pub(super) fn record(
        &mut self,
        store: &store::Store,
        f: impl FnOnce(&rusqlite::Connection) -> Result<(), store::StoreError> + Send + 'static,
    ) {
        let store = store.clone();
        self.busy = Some(tokio::spawn(async move {
            if let Err(e) = store.call(f).await {
                tracing::warn!(error = %e, "transfer progress not recorded");
            }
        }));
    }

    /// Waits for the write in flight.
    pub(super) async fn flush(&mut self) {
        if let Some(h) = self.busy.take() {
            let _ = h.await;
        }
    }
}
