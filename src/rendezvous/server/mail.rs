//! The requests that touch the database besides registration: the sealed mailbox (deposit,
//! within the recipient's, the sender's, the source's and the server's limits; fetch; ack)
//! and `@handles` (claim, resolve). Each runs as one job of the database thread and is
//! answered after its transaction committed.

use std::sync::Arc;

use super::accounts::allows;
use super::db::Deposited;
use super::holders::push_to;
use super::proto::{self, Empty, Push, push, response};
use super::{Backend, State, db, key, lock, now_ms, refused};
use crate::identity::PeerId;
use crate::transport::Source;

const MIB: u64 = 1 << 20;

/// Stores a sealed message for an allowed recipient. What it stores is taken from the
/// depositing source's budget first (answered `RateLimited` with the wait when spent) and
/// given back if nothing new was stored.
pub(super) async fn deposit(
    state: &State,
    from: PeerId,
    source: Source,
    d: proto::Deposit,
) -> response::Body {
    let not_accepted = || refused("the recipient does not take mail from you here");
    let Some(to) = key(&d.to) else {
        return not_accepted();
    };
    if !allows(state, &to, &d.token).await {
        return not_accepted();
    }
    if d.sealed.len() > proto::MAX_SEALED {
        return refused("the sealed message is too large");
    }
    let Ok(msg_id) = <[u8; 16]>::try_from(d.msg_id.as_slice()) else {
        return refused("the message id is not 16 bytes");
    };
    let config = &state.config;
    let caps = db::Caps {
        recipient_items: config.quota_items,
        recipient_bytes: config.quota_bytes,
        sender_bytes: config.sender_bytes,
        total_bytes: config.total_bytes,
    };
    let ttl = config.mail_ttl;
    let cost = d.sealed.len() as u64 + db::ITEM_OVERHEAD;
    if let Err(wait) = lock(&state.budget).take(source, cost, now_ms()) {
        return response::Body::RateLimited(proto::RateLimited {
            retry_after_ms: wait.as_millis().max(1) as u64,
        });
    }
    let sealed = d.sealed;
    let stored = match &state.backend {
        Backend::Sqlite(db) => db
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
                        caps,
                    },
                )
            })
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => {
            let now = now_ms();
            let d = db::Deposit {
                to: &to,
                from: &from,
                msg_id: &msg_id,
                sealed: &sealed,
                now,
                expires: now + ttl.as_millis() as u64,
                caps,
            };
            c.deposit(&d).await.map_err(|e| e.to_string())
        }
    };
    if !matches!(stored, Ok(Deposited::Stored { new: true, .. })) {
        lock(&state.budget).give_back(source, cost);
    }
    match stored {
        Ok(Deposited::Stored {
            expires: expires_ms,
            ..
        }) => {
            let waiting = Push {
                body: Some(push::Body::MailWaiting(Empty {})),
            };
            push_to(state, &to, waiting);
            response::Body::Stored(proto::Stored { expires_ms })
        }
        Ok(Deposited::RecipientFull) => {
            refused("the recipient's mailbox is full; try again after they come online")
        }
        Ok(Deposited::SenderFull) => refused(&format!(
            "too much of your mail already waits at this server (at most {} MiB per sender); \
             keep the message and try again once your contacts have fetched theirs",
            caps.sender_bytes / MIB
        )),
        Ok(Deposited::ServerFull) => refused(&format!(
            "this server's mail storage is full (at most {} MiB in all); keep the message and \
             try again later, or deliver it when the recipient is online",
            caps.total_bytes / MIB
        )),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a deposit");
            refused("the server cannot store mail now; try again later")
        }
    }
}

pub(super) async fn fetch(state: &State, peer: PeerId) -> response::Body {
    let mail = match &state.backend {
        Backend::Sqlite(db) => db
            .call(move |db| db::fetch(db, &peer))
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => c.fetch(&peer).await.map_err(|e| e.to_string()),
    };
    match mail {
        Ok(mail) => response::Body::Mail(mail),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read mail");
            refused("the server cannot read mail now; try again later")
        }
    }
}

pub(super) async fn ack(state: &State, peer: PeerId, a: proto::AckMail) -> response::Body {
    let done = match &state.backend {
        Backend::Sqlite(db) => db
            .call(move |db| db::ack(db, &peer, &a))
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => c.ack(&peer, &a).await.map_err(|e| e.to_string()),
    };
    match done {
        Ok(()) => response::Body::Done(Empty {}),
        Err(e) => {
            tracing::warn!(error = %e, "cannot remove acknowledged mail");
            refused("the server cannot update mail now; try again later")
        }
    }
}

pub(super) async fn claim(state: &State, peer: PeerId, h: proto::Handle) -> response::Body {
    let name = match crate::rendezvous::record::check_claim(&h, &peer) {
        Ok(n) => n,
        Err(e) => return refused(&e),
    };
    let (n, sig) = (name.clone(), h.signature.clone());
    let claimed = match &state.backend {
        Backend::Sqlite(db) => db
            .call(move |db| db::claim_handle(db, &n, &peer, &sig, now_ms()))
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => {
            let ttl = state.config.account_ttl.as_millis() as u64;
            c.claim(&n, &peer, &sig, ttl)
                .await
                .map_err(|e| e.to_string())
        }
    };
    match claimed {
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
    let held = match &state.backend {
        Backend::Sqlite(db) => db
            .call(move |db| db::resolve_handle(db, &n))
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => c.resolve(&n).await.map_err(|e| e.to_string()),
    };
    match held {
        Ok(Some((peer, signature))) => response::Body::Handle(proto::Handle {
            name,
            peer,
            signature,
        }),
        _ => refused("no such handle"),
    }
}

/// Mail past its expiry at `now` becomes notices for its senders; tells those online.
pub(super) async fn expire(state: &Arc<State>, now: u64) {
    let expired = match &state.backend {
        Backend::Sqlite(db) => db
            .call(move |db| db::expire(db, now))
            .await
            .map_err(|e| e.to_string()),
        Backend::Redis(c) => {
            let ttl = state.config.account_ttl.as_millis() as u64;
            c.expire(now, ttl).await.map_err(|e| e.to_string())
        }
    };
    match expired {
        Ok(senders) => super::holders::tell_senders(state, senders),
        Err(e) => tracing::warn!(error = %e, "cannot expire mail"),
    }
}
