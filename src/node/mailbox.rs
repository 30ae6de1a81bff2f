//! The node's half of the sealed mailbox: its X25519 prekeys (made on first use, kept in the
//! profile, rotated every 30 days with the previous one kept so mail sealed to it still
//! opens), contacts' prekeys learnt from their signed records, depositing what waits for an
//! offline contact (its messages, and what it lacks of the rooms we share: `rooms::mail`),
//! and fetching, opening and storing what waited for us (messages from contacts only, room
//! traffic judged as a session's would be; never from a blocked key). An expiry notice from the server is its word only: the
//! message stays in the outbox and is deposited again (`store::MAILBOX_DEPOSITS` times at
//! most).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hpke::{Deserializable, Kem, Serializable};
use prost::Message as _;

use super::state::Msg;
use super::{Event, Inner, NodeError};
use crate::identity::PeerId;
use crate::rendezvous::proto::AckMail;
use crate::rendezvous::record::Verified;
use crate::seal::{self, OwnPrekey, SuiteKem};
use crate::session::{IncomingChat, conversation_id};
use crate::store::{self, ContactState, Received};
use crate::wire;

const PREKEY_KEY: &str = "prekey";
/// Most fetches in a row (each answer is at most 160 KiB: ~9 of the largest messages, or 256
/// small ones).
const FETCH_ROUNDS: usize = 1000;
/// How long one prekey is published.
const PREKEY_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    secret: String,
    expires_ms: u64,
    #[serde(default)]
    previous: Option<(String, u64)>,
}

fn secret_of(hex: &str) -> Option<seal::PrekeySecret> {
    let b = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
    <SuiteKem as Kem>::PrivateKey::from_bytes(&b).ok()
}

async fn kept(inner: &Inner) -> Result<Option<Kept>, NodeError> {
    Ok(inner
        .store
        .call(|c| store::get_setting(c, PREKEY_KEY))
        .await?
        .and_then(|s| serde_json::from_str::<Kept>(&s).ok()))
}

/// The current prekey, making or rotating it when needed (the old one is kept one round).
pub(super) async fn current_prekey(inner: &Arc<Inner>) -> Result<OwnPrekey, NodeError> {
    let now = store::now_ms().max(0) as u64;
    let kept = kept(inner).await?;
    if let Some(k) = &kept
        && k.expires_ms > now + PREKEY_LIFE.as_millis() as u64 / 2
        && let Some(sk) = secret_of(&k.secret)
    {
        return Ok(OwnPrekey::new(sk, k.expires_ms));
    }
    let (sk, _) = SuiteKem::gen_keypair();
    let fresh = Kept {
        secret: data_encoding::HEXLOWER.encode(&sk.to_bytes()),
        expires_ms: now + PREKEY_LIFE.as_millis() as u64,
        previous: kept.map(|k| (k.secret, k.expires_ms)),
    };
    let text = serde_json::to_string(&fresh).map_err(|e| NodeError::Invalid(e.to_string()))?;
    inner
        .store
        .call(move |c| store::set_setting(c, PREKEY_KEY, &text))
        .await?;
    tracing::info!("new mailbox prekey made");
    Ok(OwnPrekey::new(sk, fresh.expires_ms))
}

/// Every prekey that may still open mail: the current and the previous one.
async fn all_prekeys(inner: &Inner) -> Result<Vec<OwnPrekey>, NodeError> {
    let Some(k) = kept(inner).await? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<OwnPrekey> = secret_of(&k.secret)
        .map(|sk| OwnPrekey::new(sk, k.expires_ms))
        .into_iter()
        .collect();
    if let Some((hex, exp)) = k.previous
        && let Some(sk) = secret_of(&hex)
    {
        out.push(OwnPrekey::new(sk, exp));
    }
    Ok(out)
}

/// Keeps a contact's prekey from its verified record (for sealing while it is offline).
pub(super) fn remember_prekey(inner: &Inner, peer: PeerId, v: &Verified) {
    inner
        .actor
        .tell(Msg::Prekey(peer, v.prekey, v.record.prekey_expires_ms));
}

/// The peer is offline at the rendezvous: seal and deposit what waits for it, its
/// one-to-one messages and then what it lacks of our rooms (`rooms::parcels`).
pub(super) async fn deposit_pending(inner: &Arc<Inner>, peer: PeerId) {
    let Some(rv) = inner.rv.clone() else {
        return;
    };
    let now_ms = store::now_ms().max(0) as u64;
    let Some((prekey, expires_ms)) = inner
        .actor
        .ask(|reply| Msg::PrekeyOf {
            peer,
            now_ms,
            reply,
        })
        .await
        .flatten()
    else {
        return; // no valid prekey known: what waits stays here
    };
    let me = inner.me;
    let Ok((incarnation, pending, parcels)) = inner
        .store
        .call(move |c| {
            let streams = store::streams(c, &me, &peer)?;
            Ok((
                streams.out_incarnation,
                store::pending_for_mailbox(c, &me, &peer)?,
                super::rooms::parcels(c, &me, &peer)?,
            ))
        })
        .await
    else {
        return;
    };
    if pending.is_empty() && parcels.is_empty() {
        return;
    }
    let Ok(mine) = current_prekey(inner).await else {
        return;
    };
    let sealer = Sealer {
        inner,
        rv: &rv,
        mine: &mine,
        to: seal::Recipient {
            peer: &peer,
            prekey,
            expires_ms,
        },
    };
    if !pending.is_empty() && !sealer.chats(incarnation, pending).await {
        return; // the rooms' parcels wait for the next round
    }
    let mut done = Vec::new();
    for p in parcels {
        if sealer
            .deposit(p.id, seal::KIND_ROOM, &p.body)
            .await
            .is_none()
        {
            break; // keep order: a later parcel may need this one
        }
        done.push(p);
    }
    if !done.is_empty()
        && let Err(e) = inner
            .store
            .call(move |c| super::rooms::deposited(c, &peer, &done))
            .await
    {
        tracing::warn!(error = %e, "room parcels deposited but not marked; they go again");
    }
}

/// Seals for one offline peer and deposits at the rendezvous.
struct Sealer<'a> {
    inner: &'a Arc<Inner>,
    rv: &'a crate::rendezvous::Client,
    mine: &'a OwnPrekey,
    to: seal::Recipient<'a>,
}

impl Sealer<'_> {
    /// One envelope deposited; its expiry at the server, or `None` (it stays queued).
    async fn deposit(&self, msg_id: [u8; 16], kind: u32, body: &[u8]) -> Option<u64> {
        let now = store::now_ms().max(0) as u64;
        let sealed = match seal::seal(
            &self.inner.identity,
            self.mine,
            &self.to,
            msg_id,
            kind,
            body,
            now,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot seal for the mailbox");
                return None;
            }
        };
        match self.rv.deposit(self.to.peer, msg_id, sealed).await {
            Ok(expires) => Some(expires),
            Err(e) => {
                tracing::debug!(error = %e, "mailbox deposit failed; what waits stays queued");
                None
            }
        }
    }

    /// The one-to-one messages waiting for the peer, in order; says whether all went.
    async fn chats(
        &self,
        incarnation: crate::session::Incarnation,
        pending: Vec<crate::session::OutgoingChat>,
    ) -> bool {
        let (me, peer) = (self.inner.me, *self.to.peer);
        let conversation = conversation_id(&me, &peer).to_vec();
        let (mut stored, mut expires, mut all) = (Vec::new(), 0, true);
        for m in pending {
            let chat = wire::Chat {
                msg_id: m.msg_id.to_vec(),
                conversation: conversation.clone(),
                seq: m.seq,
                timestamp_ms: m.timestamp_ms,
                text: m.text,
                incarnation: incarnation.to_vec(),
                base_seq: m.base_seq,
            };
            match self
                .deposit(m.msg_id, seal::KIND_CHAT, &chat.encode_to_vec())
                .await
            {
                Some(exp) => {
                    stored.push(m.msg_id);
                    expires = exp;
                }
                None => {
                    all = false;
                    break; // keep order: later ones wait behind this one
                }
            }
        }
        if stored.is_empty() {
            return all;
        }
        let until = i64::try_from(expires).unwrap_or(i64::MAX);
        let changed = self
            .inner
            .store
            .call(move |c| store::set_mailbox_state(c, &me, &peer, &stored, Some(until)))
            .await;
        if let Ok(ids) = changed
            && !ids.is_empty()
        {
            emit(
                self.inner,
                Event::MessageStored {
                    peer,
                    ids,
                    expires_ms: expires,
                },
            );
        }
        all
    }
}

/// Starts a fetch unless one runs.
pub(super) fn fetch_soon(inner: &Arc<Inner>) {
    if inner.rv.is_none() || inner.rv_fetching.swap(true, Ordering::SeqCst) {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        // One answer carries what fits in a message: fetch again while a round took
        // something (bounded, so a server cannot keep us fetching forever).
        for _ in 0..FETCH_ROUNDS {
            match fetch(&inner).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "mailbox fetch failed; will retry at the next push");
                    break;
                }
            }
        }
        inner.rv_fetching.store(false, Ordering::SeqCst);
    });
}

/// Fetches, opens and stores waiting mail; acks what is stored (or can never be: not
/// openable, not signed by its sender, not from a contact, from a blocked key), and turns
/// expiry notices into `MessageExpired` (the messages stay in the outbox and the peer's dial
/// loop is woken, so a peer still offline gets them deposited again). Says whether it acked
/// anything (then more may wait).
async fn fetch(inner: &Arc<Inner>) -> Result<bool, String> {
    let rv = inner.rv.clone().ok_or("no rendezvous")?;
    let mail = rv.fetch().await.map_err(|e| e.to_string())?;
    let keys = all_prekeys(inner).await.map_err(|e| e.to_string())?;
    let me = inner.me;
    let mut ack = AckMail::default();
    let mut by_sender: BTreeMap<PeerId, Vec<(u64, IncomingChat)>> = BTreeMap::new();
    let mut rooms = Vec::new();
    for item in mail.items {
        match open_item(&me, &keys, &item) {
            Ok((from, Opened::Chat(chat))) => {
                by_sender.entry(from).or_default().push((item.id, chat))
            }
            Ok((from, Opened::Room(frame))) => rooms.push((item.id, from, frame)),
            Err(e) => {
                // Never openable (or forged): drop it at the server, and say so.
                tracing::warn!(error = %e, "mailbox item refused and dropped");
                ack.ids.push(item.id);
            }
        }
    }
    for (from, mut items) in by_sender {
        items.sort_by_key(|(_, c)| c.seq);
        let chats: Vec<IncomingChat> = items.iter().map(|(_, c)| c.clone()).collect();
        let server = rv.config().addr.to_string();
        let result = inner
            .store
            .call(move |c| {
                let contact = store::get_contact(c, &from)?;
                let ok = contact.is_some_and(|k| k.state == ContactState::Contact)
                    && !store::is_blocked(c, &from)?;
                if !ok {
                    return Ok(None);
                }
                Ok(Some(
                    store::receive_via(c, &me, &from, &chats, Some(&server))?.0,
                ))
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(outcomes) = result else {
            // Not a contact (any more), or blocked: dropped unseen, no request, no event.
            tracing::debug!(peer = ?from, n = items.len(), "mail from a blocked key or a stranger dropped");
            ack.ids.extend(items.iter().map(|(id, _)| *id));
            continue;
        };
        for ((id, _), o) in items.iter().zip(outcomes) {
            match o {
                Received::Stored(message) => {
                    ack.ids.push(*id);
                    emit(inner, Event::MessageReceived { message });
                }
                Received::Duplicate => ack.ids.push(*id),
                // A gap: leave it at the server until the missing ones arrive.
                Received::OutOfOrder { .. } => {}
            }
        }
    }
    // Room traffic in the order it was deposited (an author's messages in its order).
    for (id, from, frame) in rooms {
        if inner.room_mail(from, *frame).await {
            ack.ids.push(id);
        }
    }
    let mut expired: BTreeMap<PeerId, Vec<[u8; 16]>> = BTreeMap::new();
    for e in mail.expired {
        ack.expired.push(e.msg_id.clone());
        let to = <[u8; 32]>::try_from(e.to.as_slice())
            .ok()
            .and_then(|b| PeerId::from_bytes(b).ok());
        if let (Some(to), Ok(id)) = (to, <[u8; 16]>::try_from(e.msg_id.as_slice())) {
            expired.entry(to).or_default().push(id);
        }
    }
    for (peer, ids) in expired {
        // The server's word only: nothing leaves the outbox; the message is queued again
        // (deposited again, a few times at most) and still goes over the next session.
        // What we deposited for its rooms expired too: it goes again, in full.
        let changed = inner
            .store
            .call(move |c| {
                store::forget_mailed(c, &peer)?;
                store::set_mailbox_state(c, &me, &peer, &ids, None)
            })
            .await;
        if let Ok(ids) = changed
            && !ids.is_empty()
        {
            emit(inner, Event::MessageExpired { peer, ids });
            inner.actor.tell(Msg::DialNow(peer));
        }
    }
    if ack.ids.is_empty() && ack.expired.is_empty() {
        return Ok(false);
    }
    rv.ack(ack).await.map_err(|e| e.to_string())?;
    Ok(true)
}

/// What an envelope held.
enum Opened {
    Chat(IncomingChat),
    Room(Box<wire::RoomFrame>),
}

fn open_item(
    me: &PeerId,
    keys: &[OwnPrekey],
    item: &crate::rendezvous::proto::MailItem,
) -> Result<(PeerId, Opened), String> {
    let opened = seal::open(me, keys, &item.sealed).map_err(|e| e.to_string())?;
    if opened.sender.as_bytes()[..] != item.from[..] {
        return Err("sealed by another key than the one that deposited it".into());
    }
    match opened.kind {
        seal::KIND_CHAT => {}
        seal::KIND_ROOM => {
            let frame = wire::RoomFrame::decode(opened.plaintext.as_slice())
                .map_err(|e| format!("not a room frame: {e}"))?;
            return Ok((opened.sender, Opened::Room(Box::new(frame))));
        }
        kind => return Err(format!("unknown sealed kind {kind}")),
    }
    let chat = wire::Chat::decode(opened.plaintext.as_slice()).map_err(|e| e.to_string())?;
    if chat.msg_id[..] != opened.msg_id[..] {
        return Err("the message id inside differs from the envelope's".into());
    }
    if chat.conversation[..] != conversation_id(me, &opened.sender)[..] {
        return Err("the message names another conversation".into());
    }
    if chat.seq == 0 || chat.text.len() > wire::MAX_FRAME {
        return Err("bad sequence number or size".into());
    }
    let incarnation =
        crate::session::incarnation_of(&chat.incarnation).map_err(|e| e.to_string())?;
    Ok((
        opened.sender,
        Opened::Chat(IncomingChat {
            msg_id: opened.msg_id,
            seq: chat.seq,
            timestamp_ms: chat.timestamp_ms,
            text: chat.text,
            incarnation,
            base_seq: chat.base_seq,
        }),
    ))
}
