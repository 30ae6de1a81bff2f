//! Owns the sending half of a file transfer: one data stream per accepted attempt, from the
//! offset the receiver asked for, never two over each other.

use std::io::SeekFrom;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::record::{Progress, Recorder};
use super::{BATCH, Inner, SYNC_EVERY};
use crate::files;
use crate::node::conn::Conn;
use crate::node::lock;
use crate::store::{self, Transfer};

impl Conn {
    pub(super) fn start_sending(&mut self, t: Transfer, offset: u64) {
        let (inner, conn, id) = (self.inner.clone(), self.conn.clone(), t.id_bytes());
        // The same Accept twice on one connection (an offer seen on two sessions, a resume
        // racing the first accept) must not start a second stream over the first.
        let attempt = (conn.stable_id(), offset);
        {
            let mut files = lock(&self.inner.files);
            let running = files.tasks.get(&id).is_some_and(|task| !task.is_finished());
            if running && files.sending.get(&id) == Some(&attempt) {
                tracing::debug!(
                    offset,
                    "duplicate accept ignored: already streaming from there"
                );
                return;
            }
            files.sending.insert(id, attempt);
        }
        let task = tokio::spawn(async move {
            let mut sent = 0u64;
            if let Err(e) = stream_file(&inner, &conn, &t, offset, &mut sent).await {
                tracing::debug!(error = %e, "file stream stopped; the receiver will ask again");
            }
            let _ = inner
                .store
                .call(move |c| store::add_sent(c, &id, sent))
                .await;
        });
        if let Some(old) = lock(&self.inner.files).tasks.insert(id, task) {
            old.abort();
        }
    }
}

/// Streams a file from `offset`, never past its offered size. Written bytes are added to the
/// transfer's count every [`SYNC_EVERY`]; `unrecorded` holds what is not counted yet.
async fn stream_file(
    inner: &Inner,
    conn: &quinn::Connection,
    t: &Transfer,
    offset: u64,
    unrecorded: &mut u64,
) -> Result<(), String> {
    let id = t.id_bytes();
    let path = t.path.clone().ok_or("no source path")?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    file.seek(SeekFrom::Start(offset))
        .await
        .map_err(|e| e.to_string())?;
    let mut send = conn.open_uni().await.map_err(|e| e.to_string())?;
    send.write_all(&files::header(&t.id_bytes(), offset))
        .await
        .map_err(|e| e.to_string())?;
    let (mut pos, mut progress) = (offset, Progress::new(offset));
    let mut recorder = Recorder::default();
    while pos < t.size {
        let want = ((t.size - pos) as usize).min(BATCH);
        // A fresh buffer each time: it goes to quinn as is (no copy into the stream).
        let mut buf = bytes::BytesMut::zeroed(want);
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break; // the file shrank since the offer: the receiver reports the short end
        }
        buf.truncate(n);
        send.write_chunk(buf.freeze())
            .await
            .map_err(|e| e.to_string())?;
        pos += n as u64;
        *unrecorded += n as u64;
        if *unrecorded >= SYNC_EVERY && recorder.idle() {
            let delta = std::mem::take(unrecorded);
            recorder.record(&inner.store, move |c| store::add_sent(c, &id, delta));
        }
        progress.tick(inner, t, pos, false);
    }
    recorder.flush().await;
    send.finish().map_err(|e| e.to_string())?;
    progress.tick(inner, t, pos, true);
    Ok(())
}
