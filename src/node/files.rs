//! Owns file transfer in the node: offers that wait for the peer, consent, one data stream per
//! attempt, the receiver's part file with a durable resume point, hash check and atomic
//! rename, cancel from either side, and progress events.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::conn::{Cmd, Conn};
use super::{Event, Inner, NodeError, NodeHandle, lock};
use crate::files::{self, HEADER_LEN};
use crate::identity::PeerId;
use crate::session::Session;
use crate::store::{self, ContactState, Transfer, TransferState};
use crate::wire::{FileFrame, FileOp};

/// Bytes between two fsyncs of a part file (and resume-point updates).
const SYNC_EVERY: u64 = 8 << 20;
/// Received bytes handed to the disk thread at once.
const BATCH: usize = 1 << 20;
/// At most this often a progress event per transfer.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

type Tx = mpsc::UnboundedSender<Cmd>;

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

fn frame(op: FileOp, id: &[u8; 16]) -> FileFrame {
    FileFrame {
        op: op as i32,
        file_id: id.to_vec(),
        ..Default::default()
    }
}

fn offer_frame(t: &Transfer) -> FileFrame {
    FileFrame {
        name: t.name.clone(),
        size: t.size,
        sha256: t.sha_bytes(),
        mime: t.mime.clone(),
        ..frame(FileOp::Offer, &t.id_bytes())
    }
}

fn parse_id(hex: &str) -> Result<[u8; 16], NodeError> {
    let raw = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.trim().as_bytes())
        .map_err(|_| NodeError::NoTransfer(hex.into()))?;
    raw.try_into()
        .map_err(|_| NodeError::NoTransfer(hex.into()))
}

async fn load(inner: &Inner, id: [u8; 16]) -> Result<Option<Transfer>, NodeError> {
    Ok(inner
        .store
        .call(move |c| store::get_transfer(c, &id))
        .await?)
}

/// Ends a transfer badly: state, part file gone, running task stopped, event.
async fn end(inner: &Inner, id: [u8; 16], state: TransferState, reason: &str) -> Option<Transfer> {
    if let Some(task) = lock(&inner.active).remove(&id) {
        task.abort();
    }
    let r = reason.to_string();
    let t = inner
        .store
        .call(move |c| {
            store::set_transfer_state(c, &id, state, Some(&r))?;
            store::get_transfer(c, &id)
        })
        .await
        .ok()
        .flatten()?;
    if !t.outgoing
        && let Some(p) = &t.path
    {
        let _ = tokio::fs::remove_file(files::part_path(Path::new(p))).await;
    }
    emit(
        inner,
        Event::FileEnded {
            transfer: t.clone(),
        },
    );
    Some(t)
}

fn to_session(inner: &Inner, peer: &PeerId, f: FileFrame) {
    if let Some(live) = lock(&inner.sessions).get(peer) {
        let _ = live.cmds.send(Cmd::File(f));
    }
}

struct Progress {
    started: Instant,
    from: u64,
    last: Instant,
}

impl Progress {
    fn new(from: u64) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            from,
            last: now,
        }
    }

    fn tick(&mut self, inner: &Inner, t: &Transfer, bytes: u64, force: bool) {
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

impl NodeHandle {
    /// Offers a file to a contact; the offer waits until the contact is reachable.
    pub async fn send_file(
        &self,
        peer: PeerId,
        path: PathBuf,
        name: Option<String>,
    ) -> Result<Transfer, NodeError> {
        let contact = self
            .contact(peer)
            .await?
            .filter(|c| c.state == ContactState::Contact);
        contact.ok_or(NodeError::NotAContact(peer))?;
        let p = path.clone();
        let (size, sha) = tokio::task::spawn_blocking(move || files::hash_file(&p))
            .await
            .map_err(|e| NodeError::File(e.to_string()))?
            .map_err(|e| NodeError::File(format!("cannot read {}: {e}", path.display())))?;
        let name = name.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| NodeError::File(e.to_string()))?;
        let source = std::fs::canonicalize(&path).unwrap_or(path);
        let t = Transfer {
            file_id: data_encoding::HEXLOWER.encode(&id),
            peer,
            outgoing: true,
            mime: files::mime_of(&name).into(),
            name,
            size,
            sha256: data_encoding::HEXLOWER.encode(&sha),
            state: TransferState::Offered,
            path: Some(source.to_string_lossy().into_owned()),
            verified: 0,
            sent_bytes: 0,
            reason: None,
        };
        let row = t.clone();
        self.inner
            .store
            .call(move |c| store::insert_transfer(c, &row))
            .await?;

        emit(
            &self.inner,
            Event::FileOffered {
                transfer: t.clone(),
            },
        );
        to_session(&self.inner, &peer, offer_frame(&t));
        if !self.is_connected(&peer) {
            super::conn::ensure_dialing(&self.inner, peer);
        }
        Ok(t)
    }

    /// Accepts an offered file: reserves its name, checks free space, asks for the bytes.
    pub async fn accept_file(&self, peer: PeerId, file_id: &str) -> Result<Transfer, NodeError> {
        let id = parse_id(file_id)?;
        let t = load(&self.inner, id)
            .await?
            .filter(|t| t.peer == peer && !t.outgoing);
        let t = t.ok_or_else(|| NodeError::NoTransfer(file_id.into()))?;
        if t.state != TransferState::Offered {
            return Err(NodeError::File(
                format!("that transfer is already {:?}", t.state).to_lowercase(),
            ));
        }
        accept(&self.inner, t).await
    }

    /// Declines an offered file; nothing is written.
    pub async fn decline_file(&self, peer: PeerId, file_id: &str) -> Result<Transfer, NodeError> {
        let id = parse_id(file_id)?;
        let t = load(&self.inner, id)
            .await?
            .filter(|t| t.peer == peer && !t.outgoing && t.state == TransferState::Offered);
        t.ok_or_else(|| NodeError::NoTransfer(file_id.into()))?;
        to_session(&self.inner, &peer, frame(FileOp::Decline, &id));
        end(&self.inner, id, TransferState::Declined, "declined by you")
            .await
            .ok_or_else(|| NodeError::NoTransfer(file_id.into()))
    }

    /// Cancels a transfer from either side; part files are removed on both.
    pub async fn cancel_file(&self, file_id: &str) -> Result<Transfer, NodeError> {
        let id = parse_id(file_id)?;
        let t = load(&self.inner, id)
            .await?
            .ok_or_else(|| NodeError::NoTransfer(file_id.into()))?;
        if t.state.is_final() {
            return Ok(t);
        }
        to_session(
            &self.inner,
            &t.peer,
            FileFrame {
                reason: "cancelled by the other side".into(),
                ..frame(FileOp::Cancel, &id)
            },
        );
        end(
            &self.inner,
            id,
            TransferState::Cancelled,
            "cancelled by you",
        )
        .await
        .ok_or_else(|| NodeError::NoTransfer(file_id.into()))
    }

    /// Every transfer, newest first.
    pub async fn transfers(&self) -> Result<Vec<Transfer>, NodeError> {
        Ok(self.inner.store.call(store::list_transfers).await?)
    }

    /// Auto-accept files from a contact up to `limit` bytes (None: ask every time).
    pub async fn set_auto_accept(&self, peer: PeerId, limit: Option<u64>) -> Result<(), NodeError> {
        self.contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        Ok(self
            .inner
            .store
            .call(move |c| store::set_auto_accept(c, &peer, limit))
            .await?)
    }

    /// Where received files go.
    pub fn downloads(&self) -> &Path {
        &self.inner.downloads
    }
}

async fn accept(inner: &Arc<Inner>, t: Transfer) -> Result<Transfer, NodeError> {
    let dir = inner.downloads.clone();
    let (name, size) = (t.name.clone(), t.size);
    let path = tokio::task::spawn_blocking(move || -> Result<PathBuf, NodeError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| NodeError::File(format!("cannot create the download folder {}: {e}", dir.display())))?;
        let free = fs4::available_space(&dir).map_err(|e| NodeError::File(e.to_string()))?;
        if free < size.saturating_add(16 << 20) {
            return Err(NodeError::File(format!(
                "not enough free space in {}: the file needs {size} bytes, {free} are free; free some space and accept again",
                dir.display()
            )));
        }
        let path = files::free_path(&dir, &name);
        // Reserve the name now: the part file exists from the moment of consent.
        std::fs::File::create(files::part_path(&path))
            .map_err(|e| NodeError::File(format!("cannot write in {}: {e}", dir.display())))?;
        Ok(path)
    })
    .await
    .map_err(|e| NodeError::File(e.to_string()))??;
    let id = t.id_bytes();
    let p = path.to_string_lossy().into_owned();
    let (accepted, t) = inner
        .store
        .call(move |c| {
            Ok((
                store::accept_transfer(c, &id, &p)?,
                store::get_transfer(c, &id)?,
            ))
        })
        .await?;
    let t = t.ok_or_else(|| NodeError::NoTransfer(data_encoding::HEXLOWER.encode(&id)))?;
    if !accepted {
        // Accepted meanwhile (twice-delivered offer, or auto-accept): drop our reservation.
        let _ = tokio::fs::remove_file(files::part_path(&path)).await;
        return Err(NodeError::File(
            format!("that transfer is already {:?}", t.state).to_lowercase(),
        ));
    }
    to_session(
        inner,
        &t.peer,
        FileFrame {
            offset: 0,
            ..frame(FileOp::Accept, &id)
        },
    );
    Ok(t)
}

impl Conn {
    /// On a new session: re-offer what waits, and re-ask from the resume point.
    pub(super) async fn resume_files(&mut self, session: &mut Session) {
        let peer = self.peer;
        let Ok(open) = self
            .inner
            .store
            .call(move |c| store::open_transfers(c, &peer))
            .await
        else {
            return;
        };
        for t in open {
            match (t.outgoing, t.state) {
                (true, TransferState::Offered) => session.send_file(offer_frame(&t)),
                (false, TransferState::Accepted) => session.send_file(FileFrame {
                    offset: t.verified,
                    ..frame(FileOp::Accept, &t.id_bytes())
                }),
                _ => {}
            }
        }
    }

    pub(super) async fn file_frame(&mut self, f: FileFrame, tx: &Tx) {
        let Ok(id) = <[u8; 16]>::try_from(f.file_id.as_slice()) else {
            return;
        };
        let known = load(&self.inner, id)
            .await
            .ok()
            .flatten()
            .filter(|t| t.peer == self.peer);
        let op = FileOp::try_from(f.op).unwrap_or(FileOp::Cancel);
        match (op, known) {
            (FileOp::Offer, None) => self.offered(id, f, tx).await,
            (FileOp::Offer, Some(t)) if !t.outgoing && t.state == TransferState::Accepted => {
                // The sender restarted and offers again: ask from where we are.
                let _ = tx.send(Cmd::File(FileFrame {
                    offset: t.verified,
                    ..frame(FileOp::Accept, &id)
                }));
            }
            (FileOp::Accept, Some(t))
                if t.outgoing && !t.state.is_final() && f.offset <= t.size =>
            {
                // For an outgoing transfer, `verified` records where the receiver last asked from.
                let offset = f.offset;
                tracing::debug!(offset, "file accepted by the receiver");
                let _ = self
                    .inner
                    .store
                    .call(move |c| {
                        store::set_transfer_state(c, &id, TransferState::Accepted, None)?;
                        store::set_verified(c, &id, offset)
                    })
                    .await;
                self.start_sending(t, offset);
            }
            (FileOp::Decline, Some(t)) if t.outgoing && !t.state.is_final() => {
                end(
                    &self.inner,
                    id,
                    TransferState::Declined,
                    "declined by the receiver",
                )
                .await;
            }
            (FileOp::Cancel, Some(t)) if !t.state.is_final() => {
                let reason = if f.reason.is_empty() {
                    "cancelled by the other side".to_string()
                } else {
                    f.reason.chars().take(200).collect()
                };
                end(&self.inner, id, TransferState::Cancelled, &reason).await;
            }
            (FileOp::Done, Some(t)) if t.outgoing && !t.state.is_final() => {
                if f.ok {
                    // Let the sending task record its last bytes before we report.
                    let task = lock(&self.inner.active).remove(&id);
                    if let Some(task) = task {
                        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                    }
                    let done = self
                        .inner
                        .store
                        .call(move |c| {
                            store::set_transfer_state(c, &id, TransferState::Done, None)?;
                            store::get_transfer(c, &id)
                        })
                        .await;
                    if let Ok(Some(transfer)) = done {
                        emit(&self.inner, Event::FileSent { transfer });
                    }
                } else {
                    let reason = format!(
                        "the receiver reports: {}",
                        f.reason.chars().take(200).collect::<String>()
                    );
                    end(&self.inner, id, TransferState::Failed, &reason).await;
                }
            }
            _ => tracing::debug!(?op, "file frame ignored"),
        }
    }

    async fn offered(&mut self, id: [u8; 16], f: FileFrame, tx: &Tx) {
        if !self.is_contact {
            let _ = tx.send(Cmd::File(FileFrame {
                reason: "only contacts can send files".into(),
                ..frame(FileOp::Decline, &id)
            }));
            return;
        }
        let t = Transfer {
            file_id: data_encoding::HEXLOWER.encode(&id),
            peer: self.peer,
            outgoing: false,
            name: files::safe_name(&f.name),
            size: f.size,
            sha256: data_encoding::HEXLOWER.encode(&f.sha256),
            mime: f
                .mime
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(100)
                .collect(),
            state: TransferState::Offered,
            path: None,
            verified: 0,
            sent_bytes: 0,
            reason: None,
        };
        let (row, peer) = (t.clone(), self.peer);
        let limit = self
            .inner
            .store
            .call(move |c| {
                if !store::insert_transfer(c, &row)? {
                    return Ok(None); // the same offer on a second session
                }
                Ok(Some(store::auto_accept_limit(c, &peer)?))
            })
            .await;
        let Ok(Some(limit)) = limit else { return };
        emit(
            &self.inner,
            Event::FileOffered {
                transfer: t.clone(),
            },
        );
        if let Some(limit) = limit
            && t.size <= limit
            && let Err(e) = accept(&self.inner, t).await
        {
            emit(
                &self.inner,
                Event::Error {
                    message: format!("auto-accept failed: {e}"),
                },
            );
        }
    }

    fn start_sending(&mut self, t: Transfer, offset: u64) {
        let (inner, conn, id) = (self.inner.clone(), self.conn.clone(), t.id_bytes());
        // The same Accept twice on one connection (an offer seen on two sessions, a resume
        // racing the first accept) must not start a second stream over the first.
        let attempt = (conn.stable_id(), offset);
        {
            let active = lock(&self.inner.active);
            let mut sending = lock(&self.inner.sending);
            let running = active.get(&id).is_some_and(|task| !task.is_finished());
            if running && sending.get(&id) == Some(&attempt) {
                tracing::debug!(
                    offset,
                    "duplicate accept ignored: already streaming from there"
                );
                return;
            }
            sending.insert(id, attempt);
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
        if let Some(old) = lock(&self.inner.active).insert(id, task) {
            old.abort();
        }
    }

    pub(super) fn incoming_file(&mut self, stream: quinn::RecvStream, tx: &Tx) {
        let (inner, peer, tx) = (self.inner.clone(), self.peer, tx.clone());
        tokio::spawn(async move { receive(inner, peer, stream, tx).await });
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
    let mut buf = vec![0u8; 256 * 1024];
    let (mut pos, mut progress) = (offset, Progress::new(offset));
    while pos < t.size {
        let want = ((t.size - pos) as usize).min(buf.len());
        let n = file
            .read(&mut buf[..want])
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break; // the file shrank since the offer: the receiver reports the short end
        }
        send.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
        pos += n as u64;
        *unrecorded += n as u64;
        if *unrecorded >= SYNC_EVERY {
            let delta = std::mem::take(unrecorded);
            let _ = inner
                .store
                .call(move |c| store::add_sent(c, &id, delta))
                .await;
        }
        progress.tick(inner, t, pos, false);
    }
    send.finish().map_err(|e| e.to_string())?;
    progress.tick(inner, t, pos, true);
    Ok(())
}

/// The receiving end of one data stream, with its part file.
struct Sink {
    file: std::fs::File,
    hasher: Sha256,
    written: u64,
    synced: u64,
}

impl Sink {
    fn open(part: &Path, offset: u64) -> std::io::Result<Sink> {
        // Never create it here: it is made at consent, and gone once the file is in place.
        let mut file = std::fs::OpenOptions::new()
            .truncate(false)
            .write(true)
            .open(part)?;
        // Bytes past the last verified offset may be torn: cut them and rebuild the hash.
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        let hasher = files::hash_prefix(part, offset)?;
        Ok(Sink {
            file,
            hasher,
            written: offset,
            synced: offset,
        })
    }

    fn write(mut self, chunks: Vec<bytes::Bytes>, sync: bool) -> std::io::Result<Sink> {
        for c in &chunks {
            self.file.write_all(c)?;
            self.hasher.update(c);
            self.written += c.len() as u64;
        }
        if sync || self.written - self.synced >= SYNC_EVERY {
            self.file.sync_data()?;
            self.synced = self.written;
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

async fn receive(inner: Arc<Inner>, peer: PeerId, mut recv: quinn::RecvStream, tx: Tx) {
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
        let mut active = lock(&inner.active);
        if active.get(&id).is_none_or(|task| task.is_finished()) {
            let task = tokio::spawn(receive_into(inner.clone(), t, final_path, recv, offset, tx));
            active.insert(id, task);
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
        if lock(&inner.active)
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
    tx: Tx,
) {
    let id = t.id_bytes();
    let part = files::part_path(&final_path);
    let p = part.clone();
    let opened = tokio::task::spawn_blocking(move || Sink::open(&p, offset)).await;
    let sink = match opened {
        Ok(Ok(sink)) => sink,
        Ok(Err(e)) => {
            let reason = format!(
                "cannot open the part file {} ({e}); it may have been removed: ask for the file again",
                part.display()
            );
            return fail(&inner, &tx, &t, &reason).await;
        }
        Err(_) => return fail(&inner, &tx, &t, "the part file writer stopped").await,
    };
    let mut disk = Pipeline::new(sink);
    let (mut batch, mut batch_len, mut received) = (Vec::new(), 0usize, offset);
    let mut progress = Progress::new(offset);
    let mut recorded = offset;
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
                        Err(e) => return fail(&inner, &tx, &t, &e).await,
                    };
                    batch_len = 0;
                    if synced > recorded {
                        recorded = synced;
                        let _ = inner
                            .store
                            .call(move |c| store::set_verified(c, &id, recorded))
                            .await;
                    }
                    progress.tick(&inner, &t, received, false);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                // Dropped connection or stream: keep what is on disk and resume later.
                if disk.push(batch, true).await.is_ok()
                    && let Ok(s) = disk.finish().await
                {
                    let synced = s.synced;
                    let _ = inner
                        .store
                        .call(move |c| store::set_verified(c, &id, synced))
                        .await;
                }
                lock(&inner.active).remove(&id);
                tracing::debug!(error = %e, "file stream interrupted; will resume");
                return;
            }
        }
    };
    if let Err(reason) = outcome {
        return fail(&inner, &tx, &t, &reason).await;
    }
    let pushed = disk.push(batch, true).await;
    let sink = match (pushed, disk.finish().await) {
        (Ok(_), Ok(s)) => s,
        (Err(e), _) | (_, Err(e)) => return fail(&inner, &tx, &t, &e).await,
    };
    if sink.written != t.size {
        let reason = format!(
            "the transfer ended after {} of the {} bytes offered",
            sink.written, t.size
        );
        return fail(&inner, &tx, &t, &reason).await;
    }
    let digest: [u8; 32] = sink.hasher.finalize().into();
    if digest.to_vec() != t.sha_bytes() {
        return fail(
            &inner,
            &tx,
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
        // Someone may have created a file of that name meanwhile: never overwrite it.
        let target = if target.exists() {
            files::free_path(&dir, &name)
        } else {
            target
        };
        std::fs::rename(&part, &target)?;
        Ok(target)
    })
    .await;
    let Ok(Ok(target)) = placed else {
        return fail(&inner, &tx, &t, "cannot move the file into place").await;
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
    lock(&inner.active).remove(&id);
    let _ = tx.send(Cmd::File(FileFrame {
        ok: true,
        ..frame(FileOp::Done, &id)
    }));
    if let Ok(Some(transfer)) = done {
        emit(&inner, Event::FileReceived { transfer });
    }
}

async fn fail(inner: &Inner, tx: &Tx, t: &Transfer, reason: &str) {
    let id = t.id_bytes();
    lock(&inner.active).remove(&id);
    let _ = tx.send(Cmd::File(FileFrame {
        ok: false,
        reason: reason.into(),
        ..frame(FileOp::Done, &id)
    }));
    end(inner, id, TransferState::Failed, reason).await;
}
