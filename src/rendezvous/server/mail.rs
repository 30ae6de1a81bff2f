//! The requests that touch the database besides registration: the sealed mailbox (deposit,
//! fetch, ack) and `@handles` (claim, resolve). Each runs as one job of the database thread
//! and is answered after its transaction committed.

use std::sync::Arc;

use super::proto::{self, Empty, Push, push, response};
use super::{State, allows, db, key, lock, now_ms, refused};
use crate::identity::PeerId;

pub(super) async fn deposit(state: &State, from: PeerId, d: proto::Deposit) -> response::Body {
    let not_accepted = || refused("the recipient does not take mail from you here");
    let Some(to) = key(&d.to) else {
        return not_accepted();
    };
    if !allows(state, &to, &d.token) {
        return not_accepted();
    }
    if d.sealed.len() > proto::MAX_SEALED {
        return refused("the sealed message is too large");
    }
    let Ok(msg_id) = <[u8; 16]>::try_from(d.msg_id.as_slice()) else {
        return refused("the message id is not 16 bytes");
    };
    let config = &state.config;
    let (quota_items, quota_bytes, ttl) = (config.quota_items, config.quota_bytes, config.mail_ttl);
    let sealed = d.sealed;
    let stored = state
        .db
        .call(move |db| {
            let now = now_ms();
            db::deposit(
                db,
                &db::Deposit {
                    to: &to,
                    from: &from,
                    msg_id: &msg_id,
                    sealed: &sealed,
                    now,
                    expires: now + ttl.as_millis() as u64,
                    quota_items,
                    quota_bytes,
                },
            )
        })
        .await;
    match stored {
        Ok(Some(expires_ms)) => {
            if let Some(o) = lock(&state.online).get(&to) {
                o.push.send(Push {
                    body: Some(push::Body::MailWaiting(Empty {})),
                });
            }
            response::Body::Stored(proto::Stored { expires_ms })
        }
        Ok(None) => refused("the recipient's mailbox is full; try again after they come online"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a deposit");
            refused("the server cannot store mail now; try again later")
        }
    }
}

pub(super) async fn fetch(state: &State, peer: PeerId) -> response::Body {
    match state.db.call(move |db| db::fetch(db, &peer)).await {
        Ok(mail) => response::Body::Mail(mail),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read mail");
            refused("the server cannot read mail now; try again later")
        }
    }
}

pub(super) async fn ack(state: &State, peer: PeerId, a: proto::AckMail) -> response::Body {
    match state.db.call(move |db| db::ack(db, &peer, &a)).await {
        Ok(()) => response::Body::Done(Empty {}),
        Err(e) => {
            tracing::warn!(error = %e, "cannot remove acknowledged mail");
            refused("the server cannot update mail now; try again later")
        }
    }
}

pub(super) async fn claim(state: &State, peer: PeerId, h: proto::Handle) -> response::Body {
    let name = match proto::normalize_handle(&h.name) {
        Ok(n) => n,
        Err(e) => return refused(&e),
    };
    if !peer.verify(&proto::handle_message(&name), &h.signature) {
        return refused("the handle claim is not signed by your key");
    }
    let (n, sig) = (name.clone(), h.signature.clone());
    match state
        .db
        .call(move |db| db::claim_handle(db, &n, &peer, &sig))
        .await
    {
        Ok(true) => response::Body::Handle(proto::Handle {
            name,
            peer: peer.as_bytes().to_vec(),
            signature: h.signature,
        }),
        Ok(false) => refused(&format!("@{name} is taken; choose another handle")),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a handle");
            refused("the server cannot store handles now; try again later")
        }
    }
}

pub(super) async fn resolve(state: &State, h: proto::Handle) -> response::Body {
    let Ok(name) = proto::normalize_handle(&h.name) else {
        return refused("no such handle");
    };
    let n = name.clone();
    match state.db.call(move |db| db::resolve_handle(db, &n)).await {
        Ok(Some((peer, signature))) => response::Body::Handle(proto::Handle {
            name,
            peer,
            signature,
        }),
        _ => refused("no such handle"),
    }
}

/// Mail past its expiry becomes notices for its senders; tells those online.
pub(super) async fn expire(state: &Arc<State>) {
    let now = now_ms();
    let senders = match state.db.call(move |db| db::expire(db, now)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot expire mail");
            return;
        }
    };
    if senders.is_empty() {
        return;
    }
    tracing::info!(
        senders = senders.len(),
        "mail expired undelivered; telling its senders"
    );
    let online = lock(&state.online);
    for s in senders {
        if let Some(o) = online.get(&s) {
            o.push.send(Push {
                body: Some(push::Body::MailWaiting(Empty {})),
            });
        }
    }
}
