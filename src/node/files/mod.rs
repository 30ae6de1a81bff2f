//! Owns file transfer in the node: offers that wait for the peer, consent, one data stream per
//! attempt, the receiver's part file with a durable resume point, hash check and atomic
//! rename, cancel from either side, and progress events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::conn::Conn;
use super::state::{Cmd, Msg};
use super::{Event, Inner, NodeError, NodeHandle, lock};
use crate::files;
use crate::identity::PeerId;
use crate::session::Session;
use crate::store::{self, ContactState, Transfer, TransferState};
use crate::wire::{FileFrame, FileOp};

mod receive;
mod record;
mod send;

use receive::receive;

/// Bytes between two fsyncs of a part file (and resume-point updates).
const SYNC_EVERY: u64 = 8 << 20;
/// Received bytes handed to the disk thread at once.
const BATCH: usize = 1 << 20;
/// At most this often a progress event per transfer.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

type Tx = mpsc::UnboundedSender<Cmd>;

/// The running file tasks, by file id. Held only for a look-up and an insert, never
/// across an await.
#[derive(Default)]
pub(crate) struct Running {
    /// Send and receive tasks (to cancel them, or to tell one runs).
    tasks: HashMap<[u8; 16], tokio::task::JoinHandle<()>>,
    /// For each outgoing stream: the connection and offset it serves.
    sending: HashMap<[u8; 16], (usize, u64)>,
}

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

/// How an incoming transfer ended, as the frame that tells its sender.
fn outcome_frame(t: &Transfer) -> FileFrame {
    let id = t.id_bytes();
    let reason = t.reason.clone().unwrap_or_default();
    match t.state {
        TransferState::Done => FileFrame {
            ok: true,
            ..frame(FileOp::Done, &id)
        },
        TransferState::Declined => FileFrame {
            reason,
            ..frame(FileOp::Decline, &id)
        },
        TransferState::Cancelled => FileFrame {
            reason,
            ..frame(FileOp::Cancel, &id)
        },
        _ => FileFrame {
            ok: false,
            reason,
            ..frame(FileOp::Done, &id)
        },
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
    if let Some(task) = lock(&inner.files).tasks.remove(&id) {
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
    inner.actor.tell(Msg::ToSession(*peer, Cmd::File(f)));
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
            self.inner.dial(peer);
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
        let contact = self
            .inner
            .store
            .call(move |c| {
                store::set_auto_accept(c, &peer, limit)?;
                store::get_contact(c, &peer)
            })
            .await?;
        if let Some(contact) = contact {
            let _ = self.inner.events.send(Event::ContactChanged { contact });
        }
        Ok(())
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
        // Reserve the name now: the part file exists from the moment of consent, created
        // new (never a file or link already there) and readable by the user alone.
        files::reserve(&dir, &name)
            .map_err(|e| NodeError::File(format!("cannot write in {}: {e}", dir.display())))
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
                // Offered, or accepted and perhaps ended on their side while the news was
                // on a connection that went away: offering again asks where it stands (the
                // receiver answers with an accept from where it is, or how it ended).
                (true, TransferState::Offered | TransferState::Accepted) => {
                    session.send_file(offer_frame(&t))
                }
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
        if !self.allows(super::flood::Kind::Files) {
            if f.op == FileOp::Offer as i32 {
                let _ = tx.send(Cmd::File(FileFrame {
                    reason: "too many files offered at once; offer the rest in a minute".into(),
                    ..frame(FileOp::Decline, &id)
                }));
            }
            return;
        }
        let known = load(&self.inner, id)
            .await
            .ok()
            .flatten()
            .filter(|t| t.peer == self.peer);
        let op = FileOp::try_from(f.op).unwrap_or(FileOp::Cancel);
        match (op, known) {
            (FileOp::Offer, None) => self.offered(id, f, tx).await,
            (FileOp::Offer, Some(t)) if !t.outgoing && t.state.is_final() => {
                // The sender asks again about a transfer that ended here: tell it how.
                let _ = tx.send(Cmd::File(outcome_frame(&t)));
            }
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
                    let task = lock(&self.inner.files).tasks.remove(&id);
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
        // Asked, not cached: the user may have just added them, ahead of the refresh.
        if !self.is_contact_now().await {
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

    pub(super) fn incoming_file(&mut self, stream: quinn::RecvStream, tx: &Tx) {
        let (inner, peer, tx) = (self.inner.clone(), self.peer, tx.clone());
        tokio::spawn(async move { receive(inner, peer, stream, tx).await });
    }
}
