//! Accounts: registration (a signed record and lookup tokens, kept in memory and in the
//! database), the allow rule every lookup, deposit and relay obeys, lookups, and expiry of
//! accounts that have not registered for the configured period (with their mail, notices
//! and handle).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use super::cluster::{Found, Held, Registration};
use super::proto::{self, Empty, Presence, Push, Registered, SignedRecord, push, response};
use super::pushes::{PushHandle, Pushes};
use super::{Online, State, db, key, lock, record, refused};
use crate::identity::PeerId;

pub(super) struct Account {
    pub(super) signed: SignedRecord,
    pub(super) issued_ms: u64,
    pub(super) prekey: [u8; 32],
    pub(super) tokens: HashSet<[u8; 32]>,
    /// The last registration time the database holds (renewals that change nothing write it
    /// again only once it is `refresh_ms` old).
    pub(super) saved_ms: u64,
}

/// How stale the stored registration time may get before a renewal that changes nothing
/// writes it again: 1/90 of the account period (a day by default), so an account expires
/// at most that much early and a renewal every few minutes costs no disk write.
fn refresh_ms(state: &State) -> u64 {
    (state.config.account_ttl.as_millis() as u64 / 90).max(1)
}

impl Account {
    /// Whether a renewal at `now` with these tokens and prekey can skip the database: it
    /// changes neither, and the stored registration time is younger than `refresh_ms`.
    /// Then it is that stored time.
    fn unchanged(
        &self,
        tokens: &HashSet<[u8; 32]>,
        prekey: &[u8; 32],
        now: u64,
        refresh_ms: u64,
    ) -> Option<u64> {
        (self.tokens == *tokens
            && self.prekey == *prekey
            && now.saturating_sub(self.saved_ms) < refresh_ms)
            .then_some(self.saved_ms)
    }
}

pub(super) async fn register(
    state: &Arc<State>,
    peer: PeerId,
    conn: usize,
    observed: SocketAddr,
    r: proto::Register,
    pushes: &Arc<Pushes>,
    now: u64,
) -> response::Body {
    let Some(signed) = r.record else {
        return refused("no presence record");
    };
    let v = match record::verify(&signed, Some(&peer)) {
        Ok(v) => v,
        Err(e) => return refused(&e.to_string()),
    };
    if let Err(e) = v.fresh(now) {
        return refused(&e.to_string());
    }
    if r.tokens.len() > proto::MAX_TOKENS {
        return refused("too many lookup tokens");
    }
    let Ok(tokens) = r
        .tokens
        .iter()
        .map(|t| <[u8; 32]>::try_from(t.as_slice()))
        .collect::<Result<HashSet<_>, _>>()
    else {
        return refused("a lookup token is not 32 bytes");
    };
    let hidden = match r.hidden {
        false => None,
        true => match r
            .visible
            .iter()
            .map(|t| <[u8; 32]>::try_from(t.as_slice()))
            .collect::<Result<HashSet<_>, _>>()
        {
            Ok(v) if v.is_subset(&tokens) => Some(v),
            _ => return refused("a visible token is not one of the lookup tokens"),
        },
    };
    let replayed = || refused(&record::RecordError::Replayed.to_string());
    let db = match &state.backend {
        super::Backend::Sqlite(db) => db,
        super::Backend::Redis(c) => {
            let held = Held {
                signed: Some(signed.clone()),
                observed: observed.to_string(),
                hidden: hidden.is_some(),
                visible: hidden.iter().flatten().map(|t| t.to_vec()).collect(),
            };
            let stored = c
                .register(
                    &peer,
                    Registration {
                        signed: &signed,
                        issued_ms: v.record.issued_ms,
                        tokens: &tokens,
                        account_ttl_ms: state.config.account_ttl.as_millis() as u64,
                        held: &held,
                        expires_ms: v.record.expires_ms,
                    },
                )
                .await;
            let has_mail = match stored {
                Ok(Some(has_mail)) => has_mail,
                Ok(None) => return replayed(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot save an account");
                    return refused(
                        "the server cannot store your registration now; try again later",
                    );
                }
            };
            let online = Online {
                conn,
                signed,
                observed,
                expires_ms: v.record.expires_ms,
                push: PushHandle(pushes.clone()),
                hidden,
            };
            return hold(state, peer, online, has_mail).await;
        }
    };
    // A renewal that changes neither the allow list nor the prekey needs no disk write:
    // what the database keeps (tokens, prekey) is what lookups of an offline peer use. Its
    // registration time is written again once it is `refresh_ms` old, so the account stays.
    let unchanged = match lock(&state.accounts).get(&peer) {
        Some(a) if a.issued_ms >= v.record.issued_ms => return replayed(),
        Some(a) => a.unchanged(&tokens, &v.prekey, now, refresh_ms(state)),
        None => None,
    };
    let to_save = unchanged
        .is_none()
        .then(|| (signed.clone(), tokens.clone()));
    let saved = db
        .call(move |db| {
            if let Some((signed, tokens)) = &to_save {
                db::save_account(db, &peer, signed, tokens, now)?;
            }
            db::has_mail(db, &peer)
        })
        .await;
    let has_mail = match saved {
        Ok(has_mail) => has_mail,
        Err(e) => {
            tracing::warn!(error = %e, "cannot save an account");
            return refused("the server cannot store your registration now; try again later");
        }
    };
    {
        let mut accounts = lock(&state.accounts);
        // Another stream of this client may have registered a newer record meanwhile.
        if accounts
            .get(&peer)
            .is_some_and(|a| a.issued_ms >= v.record.issued_ms)
        {
            return replayed();
        }
        accounts.insert(
            peer,
            Account {
                signed: signed.clone(),
                issued_ms: v.record.issued_ms,
                prekey: v.prekey,
                tokens,
                saved_ms: unchanged.unwrap_or(now),
            },
        );
    }
    let online = Online {
        conn,
        signed,
        observed,
        expires_ms: v.record.expires_ms,
        push: PushHandle(pushes.clone()),
        hidden,
    };
    hold(state, peer, online, has_mail).await
}

/// The client is held here from now on (in Redis mode: subscribed to, and let go by any
/// other node).
async fn hold(state: &State, peer: PeerId, online: Online, has_mail: bool) -> response::Body {
    if has_mail {
        online.push.send(Push {
            body: Some(push::Body::MailWaiting(Empty {})),
        });
    }
    let reply = Registered {
        observed: online.observed.to_string(),
        expires_ms: online.expires_ms,
        relay: state.relay.enabled(),
    };
    let conn = online.conn;
    let before = lock(&state.online).insert(peer, online);
    super::holders::held(state, &peer, conn, before.is_none_or(|b| b.conn != conn)).await;
    response::Body::Registered(reply)
}

/// Deletes the accounts that have not registered for the account period (`db::
/// expire_accounts` says with what), forgets them here, and tells the senders of mail they
/// left unfetched that it expired.
pub(super) async fn expire(state: &Arc<State>, now: u64) {
    // In Redis mode an account expires with its keys.
    let super::Backend::Sqlite(db) = &state.backend else {
        return;
    };
    let cutoff = now.saturating_sub(state.config.account_ttl.as_millis() as u64);
    let gone = match db
        .call(move |db| db::expire_accounts(db, now, cutoff))
        .await
    {
        Ok(gone) => gone,
        Err(e) => {
            tracing::warn!(error = %e, "cannot expire accounts");
            return;
        }
    };
    if !gone.accounts.is_empty() {
        // A registration that raced the deletion wrote its row again and its time here.
        let mut accounts = lock(&state.accounts);
        for peer in &gone.accounts {
            if accounts.get(peer).is_some_and(|a| a.saved_ms <= cutoff) {
                accounts.remove(peer);
            }
        }
    }
    super::holders::tell_senders(state, gone.senders);
}

/// Whether `target` allows `requester` (its registration carries their pairwise token).
/// In Redis mode an unreachable Redis allows nothing.
pub(super) async fn allows(state: &State, target: &PeerId, token: &[u8]) -> bool {
    let Ok(token) = <[u8; 32]>::try_from(token) else {
        return false;
    };
    match &state.backend {
        super::Backend::Sqlite(_) => lock(&state.accounts)
            .get(target)
            .is_some_and(|a| a.tokens.contains(&token)),
        super::Backend::Redis(c) => match c.lookup(target, &token).await {
            Ok(found) => found.allowed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an account");
                false
            }
        },
    }
}

pub(super) async fn lookup(state: &State, requester: PeerId, l: proto::Lookup) -> response::Body {
    let offline = response::Body::Presence(Presence::default());
    let Some(target) = key(&l.target) else {
        return offline;
    };
    if let super::Backend::Redis(c) = &state.backend {
        return match c.lookup(&target, &l.token).await {
            Ok(found) => lookup_shared(state, requester, target, &l, found),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up");
                refused("the server cannot look peers up now; try again later")
            }
        };
    }
    if !allows(state, &target, &l.token).await {
        return offline; // exactly what an unknown or offline peer gets
    }
    let online = lock(&state.online);
    // An invisible peer is offline to all but the holders of its visible tokens.
    let shown = online.get(&target).filter(|o| {
        o.hidden.as_ref().is_none_or(|visible| {
            <[u8; 32]>::try_from(l.token.as_slice()).is_ok_and(|t| visible.contains(&t))
        })
    });
    let Some(o) = shown else {
        let last = lock(&state.accounts).get(&target).map(|a| a.signed.clone());
        return response::Body::Presence(Presence {
            online: false,
            record: last,
            observed: String::new(),
        });
    };
    if l.signal
        && let Some(me) = online.get(&requester)
    {
        o.push.send(Push {
            body: Some(push::Body::DialMe(proto::DialMe {
                from: requester.as_bytes().to_vec(),
                observed: me.observed.to_string(),
                record: Some(me.signed.clone()),
            })),
        });
    }
    response::Body::Presence(Presence {
        online: true,
        record: Some(o.signed.clone()),
        observed: o.observed.to_string(),
    })
}

/// Many lookups in one request: each answered as alone, in order, as many as fit in one
/// answer.
pub(super) async fn lookup_many(
    state: &State,
    requester: PeerId,
    ls: proto::Lookups,
) -> response::Body {
    if ls.lookups.len() > proto::MAX_BATCH {
        return refused(&format!(
            "at most {} lookups in one request",
            proto::MAX_BATCH
        ));
    }
    let offline = || response::Body::Presence(Presence::default());
    let answers: Vec<response::Body> = match &state.backend {
        super::Backend::Redis(c) => {
            let asked: Vec<(PeerId, &[u8])> = ls
                .lookups
                .iter()
                .filter_map(|l| Some((key(&l.target)?, l.token.as_slice())))
                .collect();
            let mut found = match c.lookup_many(&asked).await {
                Ok(f) => f.into_iter(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot look up");
                    return refused("the server cannot look peers up now; try again later");
                }
            };
            ls.lookups
                .iter()
                .map(|l| match key(&l.target) {
                    // `found` holds one answer per valid target, in order.
                    Some(t) => found
                        .next()
                        .map_or_else(offline, |f| lookup_shared(state, requester, t, l, f)),
                    None => offline(),
                })
                .collect()
        }
        super::Backend::Sqlite(_) => {
            let mut out = Vec::with_capacity(ls.lookups.len());
            for l in ls.lookups {
                out.push(lookup(state, requester, l).await);
            }
            out
        }
    };
    let mut room = proto::MAX_MESSAGE - 64;
    let mut presences = Vec::with_capacity(answers.len());
    for a in answers {
        let p = match a {
            response::Body::Presence(p) => p,
            _ => Presence::default(),
        };
        let size = prost::Message::encoded_len(&p) + 4;
        if size > room {
            break;
        }
        room -= size;
        presences.push(p);
    }
    response::Body::Presences(proto::Presences { presences })
}

/// A lookup in Redis mode, on what Redis holds of the target: the same answers as above;
/// the dial signal goes to whichever node holds the target.
fn lookup_shared(
    state: &State,
    requester: PeerId,
    target: PeerId,
    l: &proto::Lookup,
    found: Found,
) -> response::Body {
    if !found.allowed {
        return response::Body::Presence(Presence::default());
    }
    let shown = found
        .held
        .filter(|h| !h.hidden || h.visible.contains(&l.token));
    let Some(held) = shown else {
        return response::Body::Presence(Presence {
            online: false,
            record: found.record,
            observed: String::new(),
        });
    };
    if l.signal {
        let me = lock(&state.online)
            .get(&requester)
            .map(|me| (me.observed, me.signed.clone()));
        if let Some((observed, signed)) = me {
            let dial = push::Body::DialMe(proto::DialMe {
                from: requester.as_bytes().to_vec(),
                observed: observed.to_string(),
                record: Some(signed),
            });
            super::holders::push_to(state, &target, Push { body: Some(dial) });
        }
    }
    response::Body::Presence(Presence {
        online: true,
        record: held.signed,
        observed: held.observed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_that_changes_nothing_writes_its_time_again_once_a_day() {
        const DAY: u64 = 24 * 3600 * 1000;
        let t0 = 1_800_000_000_000;
        let tokens: HashSet<[u8; 32]> = [[7; 32]].into_iter().collect();
        let a = Account {
            signed: SignedRecord::default(),
            issued_ms: t0,
            prekey: [9; 32],
            tokens: tokens.clone(),
            saved_ms: t0,
        };
        // The default period: 90 days, so the stored time is rewritten daily.
        let refresh = 90 * DAY / 90;
        assert_eq!(
            a.unchanged(&tokens, &[9; 32], t0 + DAY - 1, refresh),
            Some(t0)
        );
        assert_eq!(a.unchanged(&tokens, &[9; 32], t0 + DAY, refresh), None);
        // Any change is written at once.
        assert_eq!(
            a.unchanged(&HashSet::new(), &[9; 32], t0 + 1, refresh),
            None
        );
        assert_eq!(a.unchanged(&tokens, &[8; 32], t0 + 1, refresh), None);
    }
}
