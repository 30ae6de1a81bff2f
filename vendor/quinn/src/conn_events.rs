//! The endpoint → connection event queue (Natter's patch).
//!
//! Upstream uses `tokio::sync::mpsc::unbounded_channel`, whose first block holds 32 events
//! (~6.7 KiB) and which keeps a second block for reuse: ~13 KiB per connection whether or not
//! anything is queued. A server holding thousands of quiet connections pays that for each.
//! This queue holds what is waiting and nothing more: its buffer goes once drained.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use crate::ConnectionEvent;

/// Creates a queue with its one sender (the endpoint) and one receiver (the connection).
pub(crate) fn channel() -> (Sender, Receiver) {
    let shared = Arc::new(Mutex::new(Queue {
        events: VecDeque::new(),
        waker: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (Sender(shared.clone()), Receiver(shared))
}

#[derive(Debug)]
struct Queue {
    events: VecDeque<ConnectionEvent>,
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// The endpoint's end.
#[derive(Debug)]
pub(crate) struct Sender(Arc<Mutex<Queue>>);

impl Sender {
    /// Queues an event; gives it back when the connection is gone.
    pub(crate) fn send(&self, event: ConnectionEvent) -> Result<(), ConnectionEvent> {
        let waker = {
            let mut queue = self.0.lock().unwrap();
            if !queue.receiver_alive {
                return Err(event);
            }
            queue.events.push_back(event);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut queue = self.0.lock().unwrap();
            queue.sender_alive = false;
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct Receiver(Arc<Mutex<Queue>>);

impl Receiver {
    /// The next event; `Ready(None)` once the endpoint is gone and nothing is left.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        let mut queue = self.0.lock().unwrap();
        match queue.events.pop_front() {
            Some(event) => {
                if queue.events.is_empty() {
                    // Quiet connections are the many: give the buffer back.
                    queue.events = VecDeque::new();
                }
                Poll::Ready(Some(event))
            }
            None if !queue.sender_alive => Poll::Ready(None),
            None => {
                if !queue
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    queue.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut queue = self.0.lock().unwrap();
        queue.receiver_alive = false;
        queue.events.clear();
    }
}
