//! The receiving side of a file: one data stream at a time per file, written through a
//! pipelined part-file sink, fsynced with its resume point every 8 MiB, size- and
//! hash-checked, then renamed into place.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::record::{Progress, Recorder};
use super::{BATCH, SYNC_EVERY, Tx, emit, end, frame, load};
use crate::files::{self, HEADER_LEN};
use crate::identity::PeerId;
use crate::node::state::{Cmd, Msg};
use crate::node::{Event, Inner, lock};
use crate::store::{self, Transfer, TransferState};
use crate::wire::{FileFrame, FileOp};

/// The receiving end of one data stream, with its part file. Writes go on while the data
/// written so far is flushed to disk on a thread of its own (`sync_data` every
/// [`SYNC_EVERY`]); `synced` is the offset the last finished flush covers.
struct Sink {
    file: Arc<std::fs::File>,
    hasher: Sha256,
    written: u64,
    synced: u64,
    /// The flush in flight and the offset it covers.
    flushing: Option<(std::thread::JoinHandle<std::io::Result<()>>, u64)>,
}

impl Sink {
    fn open(part: &Path, offset: u64) -> std::io::Result<Sink> {
        // Never create it here: it is made at consent, and gone once the file is in place.
        // Only our own regular file is reopened, never through a link planted at its name.
        let mut file = files::open_part(part)?;
        // Bytes past the last verified offset may be torn: cut them and rebuild the hash
        // from this same open file.
        file.set_len(offset)?;
        let hasher = files::hash_prefix(&file, offset)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Sink {
            file: Arc::new(file),
            hasher,
            written: offset,
            synced: offset,
            flushing: None,
        })
    }

    /// Takes the result of the flush in flight; `wait`: even if it is still running.
    fn reap(&mut self, wait: bool) -> std::io::Result<()> {
        let done = self.flushing.as_ref().is_some_and(|(h, _)| h.is_finished());
        if let Some((handle, covers)) = self.flushing.take_if(|_| wait || done) {
            handle
                .join()
                .map_err(|_| std::io::Error::other("the disk flush thread panicked"))??;
            self.synced = covers;
        }
        Ok(())
    }

    fn write(mut self, chunks: Vec<bytes::Bytes>, sync: bool) -> std::io::Result<Sink> {
        for c in &chunks {
            (&*self.file).write_all(c)?;
            self.hasher.update(c);
            self.written += c.len() as u64;
        }
        self.reap(sync)?;
        if sync {
            self.file.sync_data()?;
            self.synced = self.written;
        } else if self.flushing.is_none() && self.written - self.synced >= SYNC_EVERY {
            let (file, covers) = (self.file.clone(), self.written);
            let handle = std::thread::Builder::new()
                .name("natter-flush".into())
                .spawn(move || file.sync_data())?;
            self.flushing = Some((handle, covers));
        }
        Ok(self)
    }
}

/// The part file's writer: one batch on a blocking thread while the next one is received.
struct Pipeline {
    idle: Option<Sink>,
    busy: Option<tokio::task::JoinHandle<std::io::Result<Sink>>>,
}

impl Pipeline {
    fn new(sink: Sink) -> Self {
        Self {
            idle: Some(sink),
            busy: None,
        }
    }

    /// Waits for the batch in flight; returns the sink with its synced offset.
    async fn settle(&mut self) -> Result<&mut Sink, String> {
        if let Some(busy) = self.busy.take() {
            let sink = busy
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot write the part file: {e}"))?;
            self.idle = Some(sink);
        }
        self.idle
            .as_mut()
            .ok_or_else(|| "part file writer lost".to_string())
    }

    /// Hands a batch to the disk thread (after the previous one); returns the synced offset
    /// known so far.
    async fn push(&mut self, chunks: Vec<bytes::Bytes>, sync: bool) -> Result<u64, String> {
        let synced = self.settle().await?.synced;
        let sink = self
            .idle
            .take()
            .ok_or_else(|| "part file writer lost".to_string())?;
        self.busy = Some(tokio::task::spawn_blocking(move || {
            sink.write(chunks, sync)
        }));
        Ok(synced)
    }

    async fn finish(mut self) -> Result<Sink, String> {
        self.settle().await?;
        self.idle
            .take()
            .ok_or_else(|| "part file writer lost".to_string())
    }
}

pub(super) async fn receive(inner: Arc<Inner>, peer: PeerId, mut recv: quinn::RecvStream, tx: Tx) {
    let mut head = [0u8; HEADER_LEN];
    if tokio::time::timeout(Duration::from_secs(10), recv.read_exact(&mut head))
        .await
        .is_err()
    {
        return;
    }
    let Ok((id, offset)) = files::parse_header(&head) else {
        let _ = recv.stop(quinn::VarInt::from_u32(1));
        return;
    };
    let t = load(&inner, id).await.ok().flatten();
    let Some(t) = t.filter(|t| t.peer == peer && !t.outgoing && t.state == TransferState::Accepted)
    else {
        let _ = recv.stop(quinn::VarInt::from_u32(1));
        return;
    };
    if t.verified != offset {
        // The sender answered an older resume point (an interrupted stream was still settling):
        // refuse this stream and ask again from where the part file really is.
        let _ = recv.stop(quinn::VarInt::from_u32(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(Some(now)) = inner.store.call(move |c| store::get_transfer(c, &id)).await
            && now.state == TransferState::Accepted
        {
            let _ = tx.send(Cmd::File(FileFrame {
                offset: now.verified,
                ..frame(FileOp::Accept, &id)
            }));
        }
        return;
    }
    let Some(final_path) = t.path.clone().map(PathBuf::from) else {
        return;
    };
    {
        // One stream per transfer: a second one (the same Accept seen twice, a resume racing
        // the first stream's last bytes) must neither abort the first nor write the file again.
        let mut files = lock(&inner.files);
        if files.tasks.get(&id).is_none_or(|task| task.is_finished()) {
            let task = tokio::spawn(receive_into(inner.clone(), t, final_path, recv, offset));
            files.tasks.insert(id, task);
            return;
        }
    }
    let _ = recv.stop(quinn::VarInt::from_u32(1));
    tracing::debug!("second stream for a transfer already receiving; refused");
    reask_when_idle(&inner, id, &tx).await;
}

/// After a refused duplicate stream: once the running one has ended, ask again from the
/// resume point if it ended without the file (it was interrupted), so nothing stalls.
async fn reask_when_idle(inner: &Inner, id: [u8; 16], tx: &Tx) {
    for _ in 0..100 {
        if lock(&inner.files)
            .tasks
            .get(&id)
            .is_none_or(|task| task.is_finished())
        {
            if let Ok(Some(now)) = load(inner, id).await
                && now.state == TransferState::Accepted
            {
                let _ = tx.send(Cmd::File(FileFrame {
                    offset: now.verified,
                    ..frame(FileOp::Accept, &id)
                }));
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn receive_into(
    inner: Arc<Inner>,
    t: Transfer,
    final_path: PathBuf,
    mut recv: quinn::RecvStream,
    offset: u64,
) {
    let id = t.id_bytes();
    let part = files::part_path(&final_path);
    let p = part.clone();
    let opened = tokio::task::spawn_blocking(move || Sink::open(&p, offset)).await;
    let sink = match opened {
        Ok(Ok(sink)) => sink,
        Ok(Err(e)) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "it may have been removed: "
            } else {
                ""
            };
            let reason = format!(
                "cannot open the part file {} ({e}); {hint}ask for the file again",
                part.display()
            );
            return fail(&inner, &t, &reason).await;
        }
        Err(_) => return fail(&inner, &t, "the part file writer stopped").await,
    };
    let mut disk = Pipeline::new(sink);
    let (mut batch, mut batch_len, mut received) = (Vec::new(), 0usize, offset);
    let mut progress = Progress::new(offset);
    let mut recorded = offset;
    let mut recorder = Recorder::default();
    let outcome = loop {
        match recv.read_chunk(BATCH, true).await {
            Ok(Some(chunk)) => {
                received += chunk.bytes.len() as u64;
                if received > t.size {
                    break Err(format!(
                        "the sender sent more than the {} bytes it offered",
                        t.size
                    ));
                }
                batch_len += chunk.bytes.len();
                batch.push(chunk.bytes);
                if batch_len >= BATCH {
                    let synced = match disk.push(std::mem::take(&mut batch), false).await {
                        Ok(s) => s,
                        Err(e) => return fail(&inner, &t, &e).await,
                    };
                    batch_len = 0;
                    if synced > recorded && recorder.idle() {
                        recorded = synced;
                        recorder
                            .record(&inner.store, move |c| store::set_verified(c, &id, recorded));
                    }
                    progress.tick(&inner, &t, received, false);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                // Dropped connection or stream: keep what is on disk and resume later.
                recorder.flush().await;
                if disk.push(batch, true).await.is_ok()
                    && let Ok(s) = disk.finish().await
                {
                    let synced = s.synced;
                    let _ = inner
                        .store
                        .call(move |c| store::set_verified(c, &id, synced))
                        .await;
                }
                lock(&inner.files).tasks.remove(&id);
                tracing::debug!(error = %e, "file stream interrupted; will resume");
                return;
            }
        }
    };
    recorder.flush().await;
    if let Err(reason) = outcome {
        return fail(&inner, &t, &reason).await;
    }
    let pushed = disk.push(batch, true).await;
    let sink = match (pushed, disk.finish().await) {
        (Ok(_), Ok(s)) => s,
        (Err(e), _) | (_, Err(e)) => return fail(&inner, &t, &e).await,
    };
    if sink.written != t.size {
        let reason = format!(
            "the transfer ended after {} of the {} bytes offered",
            sink.written, t.size
        );
        return fail(&inner, &t, &reason).await;
    }
    let digest: [u8; 32] = sink.hasher.finalize().into();
    if digest.to_vec() != t.sha_bytes() {
        return fail(
            &inner,
            &t,
            "SHA-256 mismatch: the data is not the file that was offered",
        )
        .await;
    }
    drop(sink.file);
    let dir = final_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let name = t.name.clone();
    let target = final_path.clone();
    let placed = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        // Someone may have created a file (or a link) of that name meanwhile: never
        // overwrite it.
        let target = if target.symlink_metadata().is_ok() {
            files::free_path(&dir, &name).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free name")
            })?
        } else {
            target
        };
        std::fs::rename(&part, &target)?;
        Ok(target)
    })
    .await;
    let Ok(Ok(target)) = placed else {
        return fail(&inner, &t, "cannot move the file into place").await;
    };
    progress.tick(&inner, &t, t.size, true);
    let path = target.to_string_lossy().into_owned();
    let done = inner
        .store
        .call(move |c| {
            store::set_verified(c, &id, t.size)?;
            store::set_transfer_path(c, &id, &path)?;
            store::set_transfer_state(c, &id, TransferState::Done, None)?;
            store::get_transfer(c, &id)
        })
        .await;
    // Only now, with the state Done, may another stream for this id be looked at.
    lock(&inner.files).tasks.remove(&id);
    // To the live session: the one this stream came on may have been replaced meanwhile.
    to_sender(
        &inner,
        &t,
        FileFrame {
            ok: true,
            ..frame(FileOp::Done, &id)
        },
    );
    if let Ok(Some(transfer)) = done {
        emit(&inner, Event::FileReceived { transfer });
    }
}

/// Records the failure, then tells the sender (stored first: a sender asking again while
/// the news is on its way hears the outcome, not an accept).
async fn fail(inner: &Inner, t: &Transfer, reason: &str) {
    let id = t.id_bytes();
    lock(&inner.files).tasks.remove(&id);
    end(inner, id, TransferState::Failed, reason).await;
    to_sender(
        inner,
        t,
        FileFrame {
            ok: false,
            reason: reason.into(),
            ..frame(FileOp::Done, &id)
        },
    );
}

/// A frame for the sender of `t`, on whichever session with it is live now (none: it asks
/// again when it is back, `resume_files`).
fn to_sender(inner: &Inner, t: &Transfer, f: FileFrame) {
    inner.actor.tell(Msg::ToSession(t.peer, Cmd::File(f)));
}
