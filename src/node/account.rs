//! Owns what a user keeps, changes or takes away about their own account: the block list, key
//! verification, per-contact switches, privacy mode, app preferences, deleting a history,
//! exporting history (JSON or text) and backing up the identity key.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::prefs::{PREF_ADVERTISE, PREF_NAME, pref_key};
use super::state::{Cmd, Msg};
use super::{Event, NodeError, NodeHandle, PRIVACY_KEY, PrivacyMode};
use crate::identity::PeerId;
use crate::store::{self, Contact, ContactState, Message};
use crate::transport;

/// How [`NodeHandle::export_history`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// One JSON object per line (`peer`, `id`, `outgoing`, `ts_ms`, `text`, `state`…).
    #[default]
    Json,
    /// Readable lines: `2026-12-01 13:00:00 +01:00  <peer>  me|them: text` (local time).
    Text,
}

impl ExportFormat {
    /// The extension of an export's file.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "jsonl",
            ExportFormat::Text => "txt",
        }
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> NodeError {
    NodeError::File(format!("cannot write {}: {e}", path.display()))
}

fn text_line(m: &Message) -> String {
    let who = if m.outgoing { "me" } else { "them" };
    format!(
        "{}  {}  {who}: {}\n",
        crate::dates::date_time_offset(m.ts_ms),
        m.peer,
        m.text
    )
}

fn room_line(p: &crate::model::RoomPost, room: &str) -> String {
    let who = if p.outgoing {
        "me".to_string()
    } else {
        p.author.to_string()
    };
    format!(
        "{}  room {room} ({})  {who}: {}\n",
        crate::dates::date_time_offset(p.sent_ms),
        p.room_id,
        p.text
    )
}

impl NodeHandle {
    /// Blocks a peer: any session is closed, and it is refused from now on.
    pub async fn block(&self, peer: PeerId) -> Result<(), NodeError> {
        let blocked = self.inner.blocked.clone();
        self.inner
            .store
            .call(move |c| {
                store::set_blocked(c, &peer, true)?;
                // In the same job: no handshake, frame or mail the store sees after this
                // write finds the list without the peer.
                blocked.set(peer, true);
                Ok(())
            })
            .await?;
        self.inner
            .actor
            .tell(Msg::ToSession(peer, Cmd::Close(transport::CLOSE_NORMAL)));
        self.inner.rv_wake.notify_one();
        self.emit(Event::BlockChanged {
            peer,
            blocked: true,
        });
        Ok(())
    }

    /// Removes a peer from the block list.
    pub async fn unblock(&self, peer: PeerId) -> Result<(), NodeError> {
        let blocked = self.inner.blocked.clone();
        self.inner
            .store
            .call(move |c| {
                store::set_blocked(c, &peer, false)?;
                blocked.set(peer, false);
                Ok(())
            })
            .await?;
        self.inner.rv_wake.notify_one();
        self.emit(Event::BlockChanged {
            peer,
            blocked: false,
        });
        let findable = self.inner.rv.is_some();
        if self
            .contact(peer)
            .await?
            .is_some_and(|c| c.addr.is_some() || findable)
        {
            self.inner.dial(peer);
        }
        Ok(())
    }

    /// The block list.
    pub async fn blocked(&self) -> Result<Vec<PeerId>, NodeError> {
        Ok(self.inner.store.call(store::blocked).await?)
    }

    /// One contact or request.
    pub async fn contact(&self, peer: PeerId) -> Result<Option<Contact>, NodeError> {
        Ok(self
            .inner
            .store
            .call(move |c| store::get_contact(c, &peer))
            .await?)
    }

    /// Marks a contact's key verified (after comparing the safety number) or unverified.
    pub async fn set_verified(&self, peer: PeerId, verified: bool) -> Result<Contact, NodeError> {
        let mut c = self
            .contact(peer)
            .await?
            .filter(|c| c.state == ContactState::Contact)
            .ok_or(NodeError::NotAContact(peer))?;
        c.verification = if verified {
            store::Verification::Verified
        } else {
            store::Verification::Unverified
        };
        self.save_contact(c).await
    }

    /// The safety number to compare with a contact (the same on both sides).
    pub fn safety_number(&self, peer: &PeerId) -> String {
        crate::identity::safety_number(&self.inner.me, peer)
    }

    /// Sets the per-contact switches for typing indicators and read receipts.
    pub async fn set_switches(
        &self,
        peer: PeerId,
        typing: Option<bool>,
        receipts: Option<bool>,
    ) -> Result<Contact, NodeError> {
        let mut c = self
            .contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        c.send_typing = typing.unwrap_or(c.send_typing);
        c.send_receipts = receipts.unwrap_or(c.send_receipts);
        self.save_contact(c).await
    }

    /// Sets whether a relay may carry sessions with a contact (`None`: the global policy).
    pub async fn set_contact_relay(
        &self,
        peer: PeerId,
        relay: Option<crate::model::RelayPolicy>,
    ) -> Result<Contact, NodeError> {
        let mut c = self
            .contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        c.relay = relay;
        let saved = self.save_contact(c).await?;
        self.inner
            .actor
            .tell(Msg::Relay(super::consent::RelayMsg::PolicyChanged));
        Ok(saved)
    }

    /// The privacy mode.
    pub async fn privacy(&self) -> Result<PrivacyMode, NodeError> {
        super::conn::privacy(&self.inner.store).await
    }

    /// Sets the privacy mode.
    pub async fn set_privacy(&self, mode: PrivacyMode) -> Result<(), NodeError> {
        let value = serde_json::to_string(&mode).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let actor = self.inner.actor.clone();
        self.inner
            .store
            .call(move |c| {
                store::set_setting(c, PRIVACY_KEY, &value)?;
                actor.tell(Msg::Privacy(mode));
                Ok(())
            })
            .await?;
        self.emit(Event::PrivacyChanged { privacy: mode });
        Ok(())
    }

    /// An app preference (`None`: never set). Names are the app's own (`theme`, `name`…).
    pub async fn preference(&self, name: &str) -> Result<Option<String>, NodeError> {
        let key = pref_key(name);
        Ok(self
            .inner
            .store
            .call(move |c| store::get_setting(c, &key))
            .await?)
    }

    /// Saves an app preference. A new display name or advertising switch takes effect on the
    /// LAN at once (discovery restarts).
    pub async fn set_preference(&self, name: &str, value: &str) -> Result<(), NodeError> {
        let (key, value) = (pref_key(name), value.to_string());
        let changed = self
            .inner
            .store
            .call({
                let (key, value) = (key.clone(), value.clone());
                move |c| {
                    let old = store::get_setting(c, &key)?;
                    store::set_setting(c, &key, &value)?;
                    Ok(old.as_deref() != Some(value.as_str()))
                }
            })
            .await?;
        if changed {
            self.emit(Event::PreferenceChanged {
                name: name.to_string(),
                value,
            });
        }
        if changed && (name == PREF_NAME || name == PREF_ADVERTISE) {
            super::lan::restart(&self.inner).await?;
        }
        Ok(())
    }

    /// Deletes the history with a peer on this device (theirs is untouched); unsent messages
    /// go too. Returns how many messages were deleted.
    pub async fn delete_history(&self, peer: PeerId) -> Result<u64, NodeError> {
        let me = self.inner.me;
        let n = self
            .inner
            .store
            .call(move |c| store::delete_history(c, &me, &peer))
            .await?;
        tracing::info!(peer = ?peer, deleted = n, "history deleted");
        self.emit(Event::HistoryDeleted { peer, deleted: n });
        Ok(n)
    }

    /// Writes all history to `path`, or when none is given to a new file in the downloads
    /// folder (`natter-history-YYYY-MM-DD-HHMMSS.jsonl` or `.txt`, numbered if taken).
    /// The one-to-one messages first, then the rooms' (room by room, in the shared order).
    /// Returns how many messages were written, and where.
    ///
    /// The file is created new and readable only by the user on Unix: a file or a symbolic
    /// link already at that name is never overwritten or followed (the downloads folder is
    /// where peers' files land). A failed export leaves no file behind.
    pub async fn export_history(
        &self,
        path: Option<PathBuf>,
        format: ExportFormat,
        only: Option<PeerId>,
    ) -> Result<(u64, PathBuf), NodeError> {
        let (file, path) = self.new_export(path, "natter-history", format.extension())?;
        let shown = path.clone();
        let me = self.inner.me;
        let n = self
            .inner
            .store
            .call(move |c| {
                let mut out = std::io::BufWriter::new(file);
                let mut write = |json: Result<String, serde_json::Error>, text: String| {
                    let line = match format {
                        ExportFormat::Json => json
                            .map(|j| j + "\n")
                            .map_err(|e| store::StoreError::Corrupt(e.to_string()))?,
                        ExportFormat::Text => text,
                    };
                    out.write_all(line.as_bytes())
                        .map_err(|e| store::StoreError::Corrupt(format!("export: {e}")))
                };
                let mut n = store::for_each_message(c, only.as_ref(), |m| {
                    write(serde_json::to_string(m), text_line(m))
                })?;
                if only.is_some() {
                    out.flush()
                        .map_err(|e| store::StoreError::Corrupt(format!("export: {e}")))?;
                    return Ok(n);
                }
                // Then the rooms' messages (JSON lines with `room_id` instead of `peer`).
                let names: std::collections::HashMap<_, _> = store::rooms(c, &me)?
                    .into_iter()
                    .map(|r| (r.room_id, r.name))
                    .collect();
                n += store::for_each_room_post(c, &me, |p| {
                    let name = names.get(&p.room_id).map_or("", String::as_str);
                    write(serde_json::to_string(p), room_line(p, name))
                })?;
                out.flush()
                    .map_err(|e| store::StoreError::Corrupt(format!("export: {e}")))?;
                Ok(n)
            })
            .await
            .map_err(|e| {
                let _ = std::fs::remove_file(&shown);
                file_error(&shown, e)
            })?;
        Ok((n, path))
    }

    /// Copies the identity key (PKCS#8 PEM) as a backup to `path`, or when none is given to a
    /// new file in the downloads folder (`natter-identity-backup-YYYY-MM-DD-HHMMSS.pem`,
    /// numbered if taken); created new, as [`NodeHandle::export_history`], readable only by
    /// the user on Unix. Returns where. Whoever holds this file can be you: keep it offline.
    pub async fn export_identity(&self, path: Option<PathBuf>) -> Result<PathBuf, NodeError> {
        let from = self.inner.profile.join(crate::identity::KEY_FILE);
        let pem = tokio::fs::read(&from).await.map_err(|e| {
            NodeError::File(format!("cannot read the identity {}: {e}", from.display()))
        })?;
        let (mut file, path) = self.new_export(path, "natter-identity-backup", "pem")?;
        // File I/O and an fsync: off the async runtime.
        let written = path.clone();
        tokio::task::spawn_blocking(move || {
            file.write_all(&pem)
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    let _ = std::fs::remove_file(&written);
                    file_error(&written, e)
                })
        })
        .await
        .map_err(|e| NodeError::File(format!("identity backup task failed: {e}")))??;
        Ok(path)
    }

    /// A new file for an export: exactly `path` (the user chose it), else a fresh name in the
    /// downloads folder. Never an existing file, never through a symbolic link.
    fn new_export(
        &self,
        path: Option<PathBuf>,
        stem: &str,
        ext: &str,
    ) -> Result<(std::fs::File, PathBuf), NodeError> {
        if let Some(path) = path {
            return match crate::files::create_private(&path) {
                Ok(file) => Ok((file, path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(NodeError::File(format!(
                        "{} already exists; Natter never overwrites a file: choose another name or remove it",
                        path.display()
                    )))
                }
                Err(e) => Err(file_error(&path, e)),
            };
        }
        let dir = self.downloads();
        std::fs::create_dir_all(dir).map_err(|e| {
            NodeError::File(format!(
                "cannot create the downloads folder {}: {e}; pass a path instead",
                dir.display()
            ))
        })?;
        let name = format!(
            "{stem}-{}.{ext}",
            crate::dates::stamp(crate::dates::now_ms())
        );
        crate::files::create_free(dir, &name).map_err(|e| file_error(&dir.join(&name), e))
    }

    /// Sets a contact's nickname and group exactly (empty clears them).
    pub async fn rename(
        &self,
        peer: PeerId,
        nickname: String,
        group: String,
    ) -> Result<Contact, NodeError> {
        let mut c = self
            .contact(peer)
            .await?
            .ok_or(NodeError::NotAContact(peer))?;
        c.nickname = nickname.trim().to_string();
        c.group = group.trim().to_string();
        self.save_contact(c).await
    }

    /// Stores a contact entry as it is and tells the apps.
    pub(super) async fn save_contact(&self, c: Contact) -> Result<Contact, NodeError> {
        let (saved, actor) = (c.clone(), self.inner.actor.clone());
        self.inner
            .store
            .call(move |conn| {
                store::upsert_contact(conn, &c)?;
                actor.tell(Msg::ContactStored(c.peer, c.state == ContactState::Contact));
                actor.tell(Msg::SeesInvisible(c.peer, c.sees_invisible));
                Ok(())
            })
            .await?;
        self.contact_stored(&saved);
        Ok(saved)
    }

    /// The profile folder.
    pub fn profile(&self) -> &Path {
        &self.inner.profile
    }
}
