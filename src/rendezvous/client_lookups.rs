//! Lookups of the rendezvous client: the lookups made while one is on its way go out
//! together as one `LookupMany` (a node dialling its contacts sends a few requests, not one
//! each); the caller that finds none on its way sends them, and hands over when it ends or
//! is dropped.

use std::sync::atomic::Ordering;

use super::{Client, ClientError, hold};
use crate::identity::PeerId;
use crate::rendezvous::proto::{self, request, response};

type Answer = tokio::sync::oneshot::Sender<Result<proto::Presence, ClientError>>;

/// Lookups waiting, and whether one of their callers is sending them.
#[derive(Default)]
pub(super) struct Batch {
    waiting: std::collections::VecDeque<(proto::Lookup, Answer)>,
    running: bool,
}

/// Held by the caller sending batches: when it ends or is dropped, another may take over.
struct Lead<'a>(&'a Client);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        hold(&self.0.batch).running = false;
        self.0.batch_idle.notify_waiters();
    }
}

impl Client {
    /// Looks a peer up with our pairwise token. Lookups made while one is on its way go
    /// out together as one request (up to `proto::MAX_BATCH`): a node dialling its contacts
    /// sends a few requests, not one each.
    pub async fn lookup(
        &self,
        target: &PeerId,
        signal: bool,
    ) -> Result<proto::Presence, ClientError> {
        let l = self.lookup_of(target, signal);
        if self.no_batches.load(Ordering::Relaxed) {
            return self.lookup_one(l).await;
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        hold(&self.batch).waiting.push_back((l, tx));
        loop {
            let idle = self.batch_idle.notified();
            tokio::pin!(idle);
            // Registered before looking, so a lead that ends meanwhile is not missed.
            idle.as_mut().enable();
            let lead = !std::mem::replace(&mut hold(&self.batch).running, true);
            if lead {
                let _lead = Lead(self);
                self.send_batches().await;
            }
            tokio::select! {
                r = &mut rx => {
                    return r.unwrap_or_else(|_| Err(ClientError::Protocol("the lookup was dropped".into())));
                }
                _ = &mut idle => {}
            }
        }
    }

    /// Many lookups in one request, answered in order (at most `proto::MAX_BATCH`; fewer
    /// answers than asked when they did not fit in one message).
    pub async fn lookup_many(
        &self,
        targets: &[(PeerId, bool)],
    ) -> Result<Vec<proto::Presence>, ClientError> {
        let lookups = targets
            .iter()
            .map(|(t, signal)| self.lookup_of(t, *signal))
            .collect();
        match self
            .request(request::Body::LookupMany(proto::Lookups { lookups }))
            .await?
        {
            response::Body::Presences(p) if p.presences.len() <= targets.len() => Ok(p.presences),
            _ => Err(ClientError::Protocol("expected Presences".into())),
        }
    }

    fn lookup_of(&self, target: &PeerId, signal: bool) -> proto::Lookup {
        let token = self.token(target).unwrap_or([0; 32]);
        proto::Lookup {
            target: target.as_bytes().to_vec(),
            token: token.to_vec(),
            signal,
        }
    }

    async fn lookup_one(&self, l: proto::Lookup) -> Result<proto::Presence, ClientError> {
        match self.request(request::Body::Lookup(l)).await? {
            response::Body::Presence(p) => Ok(p),
            _ => Err(ClientError::Protocol("expected Presence".into())),
        }
    }

    /// Sends the waiting lookups, a batch at a time, until none wait.
    async fn send_batches(&self) {
        loop {
            let mut batch: Vec<(proto::Lookup, Answer)> = {
                let mut b = hold(&self.batch);
                let n = b.waiting.len().min(proto::MAX_BATCH);
                b.waiting.drain(..n).collect()
            };
            if batch.len() > 1 {
                self.send_batch(batch).await;
            } else if let Some((l, answer)) = batch.pop() {
                // Alone: a plain lookup, which every server knows.
                let _ = answer.send(self.lookup_one(l).await);
            } else {
                return;
            }
        }
    }

    async fn send_batch(&self, batch: Vec<(proto::Lookup, Answer)>) {
        let lookups = batch.iter().map(|(l, _)| l.clone()).collect();
        let answered = self
            .request(request::Body::LookupMany(proto::Lookups { lookups }))
            .await;
        match answered {
            // Not even the first answer fitted (a huge record): one by one.
            Ok(response::Body::Presences(p)) if p.presences.is_empty() => {
                for (l, answer) in batch {
                    let _ = answer.send(self.lookup_one(l).await);
                }
            }
            Ok(response::Body::Presences(p)) => {
                let mut answers = p.presences.into_iter();
                let mut rest = Vec::new();
                for (l, answer) in batch {
                    match answers.next() {
                        Some(p) => {
                            let _ = answer.send(Ok(p));
                        }
                        None => rest.push((l, answer)),
                    }
                }
                // What did not fit goes first in the next batch.
                let mut b = hold(&self.batch);
                for item in rest.into_iter().rev() {
                    b.waiting.push_front(item);
                }
            }
            // An older server: one by one, now and from now on.
            Err(ClientError::Refused(r)) if r == "empty request" => {
                self.no_batches.store(true, Ordering::Relaxed);
                for (l, answer) in batch {
                    let _ = answer.send(self.lookup_one(l).await);
                }
            }
            Err(e) => {
                for (_, answer) in batch {
                    let _ = answer.send(Err(e.clone()));
                }
            }
            Ok(_) => {
                for (_, answer) in batch {
                    let _ = answer.send(Err(ClientError::Protocol("expected Presences".into())));
                }
            }
        }
    }
}
