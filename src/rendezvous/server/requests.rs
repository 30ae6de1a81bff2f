//! One client request on its own stream: read within a time limit, rate limited, answered
//! by the module that owns it, and counted; a registration's stream then carries pushes.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::proto::{self, Empty, Request, Response, request, response};
use super::pushes::Pushes;
use super::{
    State, accounts, directory, holders, lock, mail, now_ms, ops, refused, relay, transport,
};
use crate::identity::PeerId;

/// How long a client may take to send one whole request once its stream is open.
const REQUEST_READ: Duration = Duration::from_secs(5);

pub(super) async fn stream(
    state: Arc<State>,
    peer: PeerId,
    (conn, connection): (usize, quinn::Connection),
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let req = match tokio::time::timeout(REQUEST_READ, proto::read::<Request>(&mut recv)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            let _ = answer(&mut send, refused(&e.to_string())).await;
            return;
        }
        Err(_) => {
            let reason = "the request did not arrive whole within 5 s";
            let _ = answer(&mut send, refused(reason)).await;
            return;
        }
    };
    if let Err(wait) = state.limits.request(&peer) {
        ops::Counters::add(&state.counters.rate_limited, 1);
        let _ = answer(
            &mut send,
            response::Body::RateLimited(proto::RateLimited {
                retry_after_ms: wait.as_millis() as u64,
            }),
        )
        .await;
        return;
    }
    let observed = state.observed(connection.remote_address());
    let lookups = match &req.body {
        Some(request::Body::Lookup(_)) => 1,
        Some(request::Body::LookupMany(ls)) => ls.lookups.len() as u64,
        _ => 0,
    };
    let body = match req.body {
        Some(request::Body::Register(r)) => {
            let pushes = Arc::new(Pushes::default());
            let reply =
                accounts::register(&state, peer, conn, observed, r, &pushes, now_ms()).await;
            let ok = matches!(reply, response::Body::Registered(_));
            count(&state.counters, &reply, 0);
            if answer(&mut send, reply).await.is_err() || !ok {
                return;
            }
            // This stream now carries pushes until a renewal replaces it, for as long as the
            // client is held: in a small task of its own, so this request's larger state is
            // freed now.
            tokio::spawn(push_loop(send, recv, pushes).in_current_span());
            return;
        }
        Some(request::Body::Unregister(_)) => {
            let held = lock(&state.online).remove(&peer).is_some();
            if held {
                holders::left(&state, peer).await;
            }
            response::Body::Done(Empty {})
        }
        Some(request::Body::Lookup(l)) => accounts::lookup(&state, peer, l).await,
        Some(request::Body::LookupMany(ls)) => {
            // A batch costs one request per 16 lookups (the first 16 came with the request).
            let extra = ls.lookups.len().saturating_sub(1) / 16;
            match state.limits.request_n(&peer, extra) {
                Ok(()) => accounts::lookup_many(&state, peer, ls).await,
                Err(wait) => response::Body::RateLimited(proto::RateLimited {
                    retry_after_ms: wait.as_millis() as u64,
                }),
            }
        }
        Some(request::Body::Deposit(d)) => {
            let source = transport::Source::from(observed.ip());
            mail::deposit(&state, peer, source, d).await
        }
        Some(request::Body::Fetch(_)) => mail::fetch(&state, peer).await,
        Some(request::Body::Ack(a)) => mail::ack(&state, peer, a).await,
        Some(request::Body::ClaimHandle(h)) => mail::claim(&state, peer, h).await,
        Some(request::Body::ResolveHandle(h)) => mail::resolve(&state, h).await,
        Some(request::Body::RelayOpen(r)) => relay::open(&state, peer, conn, &connection, r).await,
        Some(request::Body::Publish(p)) => directory::publish(&state, peer, p).await,
        Some(request::Body::Unpublish(u)) => directory::unpublish(&state, peer, &u.room).await,
        Some(request::Body::Search(s)) => directory::search(&state, s),
        Some(request::Body::Knock(k)) => directory::knock(&state, peer, &k.room).await,
        Some(request::Body::KnockAnswer(a)) => directory::answer(&state, peer, a).await,
        None => refused("empty request"),
    };
    count(&state.counters, &body, lookups);
    let _ = answer(&mut send, body).await;
}

/// Writes a held client's pushes on its registration's stream until the registration is
/// replaced or gone (`_recv`, the stream's other half, stays open meanwhile).
async fn push_loop(mut send: quinn::SendStream, _recv: quinn::RecvStream, pushes: Arc<Pushes>) {
    while let Some(p) = pushes.next().await {
        if send.write_all(&proto::frame(&p)).await.is_err() {
            return;
        }
    }
}

/// Counts an answer (`lookups`: how many lookups it answers).
fn count(c: &ops::Counters, body: &response::Body, lookups: u64) {
    use ops::Counters as C;
    match body {
        response::Body::Registered(_) => C::add(&c.registrations, 1),
        response::Body::Presence(_) | response::Body::Presences(_) => C::add(&c.lookups, lookups),
        response::Body::Stored(_) => C::add(&c.deposits, 1),
        response::Body::Mail(_) => C::add(&c.fetches, 1),
        response::Body::Refused(_) => C::add(&c.refused, 1),
        response::Body::RateLimited(_) => C::add(&c.rate_limited, 1),
        _ => {}
    }
}

async fn answer(
    send: &mut quinn::SendStream,
    body: response::Body,
) -> Result<(), quinn::WriteError> {
    let keep_open = matches!(body, response::Body::Registered(_));
    send.write_all(&proto::frame(&Response { body: Some(body) }))
        .await?;
    if !keep_open {
        let _ = send.finish();
    }
    Ok(())
}
