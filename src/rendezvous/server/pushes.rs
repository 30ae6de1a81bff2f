//! Pushes waiting for a registered client (dial signals, "mail waiting"), served on the
//! stream its registration opened. A queue and a wake-up instead of a channel: tokio's
//! channels allocate 32 slots up front, ~3 KiB a client, which is most of what a held client
//! costs beside QUIC itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;
use crate::rendezvous::proto::Push;

/// Most pushes waiting for one client; later ones are dropped (a client that reads nothing
/// loses nothing it cannot ask for again: mail waits, a dial signal is repeated).
const MAX_PUSHES: usize = 64;

/// Pushes waiting for one client's push stream.
#[derive(Default)]
pub(super) struct Pushes {
    queue: Mutex<VecDeque<Push>>,
    wake: Notify,
    closed: AtomicBool,
}

impl Pushes {
    /// The next push, or `None` once the registration that owned this queue is gone.
    pub(super) async fn next(&self) -> Option<Push> {
        loop {
            if let Some(p) = lock(&self.queue).pop_front() {
                return Some(p);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            // `notify_one` leaves a permit when nobody waits, so a push made between the
            // check above and this await is not missed.
            self.wake.notified().await;
        }
    }
}

/// The server's side of a push queue, kept in [`Online`]; dropping it (the client renewed on
/// another stream, left, or expired) ends the stream that serves the queue.
pub(super) struct PushHandle(pub(super) Arc<Pushes>);

impl PushHandle {
    pub(super) fn send(&self, p: Push) {
        let mut q = lock(&self.0.queue);
        if q.len() >= MAX_PUSHES {
            tracing::debug!("push queue full: push dropped");
            return;
        }
        q.push_back(p);
        drop(q);
        self.0.wake.notify_one();
    }
}

impl Drop for PushHandle {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rendezvous::proto::{Empty, push};

    fn mail() -> Push {
        Push {
            body: Some(push::Body::MailWaiting(Empty {})),
        }
    }

    #[tokio::test]
    async fn pushes_arrive_in_order_and_the_stream_ends_when_the_registration_goes() {
        let q = Arc::new(Pushes::default());
        let handle = PushHandle(q.clone());
        let reader = tokio::spawn({
            let q = q.clone();
            async move {
                let mut n = 0;
                while q.next().await.is_some() {
                    n += 1;
                }
                n
            }
        });
        for _ in 0..3 {
            handle.send(mail());
            tokio::task::yield_now().await;
        }
        drop(handle);
        assert_eq!(reader.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_full_queue_drops_new_pushes() {
        let q = Arc::new(Pushes::default());
        let handle = PushHandle(q.clone());
        for _ in 0..MAX_PUSHES + 10 {
            handle.send(mail());
        }
        drop(handle);
        let mut n = 0;
        while q.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_PUSHES);
    }
}
