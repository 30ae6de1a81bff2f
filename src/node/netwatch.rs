//! Owns noticing that this computer changed networks (an interface or an address came or
//! went, as the OS reports it): the rendezvous registration is renewed at once, so it sees
//! the address we have now, and every contact being dialled is tried again now — a new punch
//! round from the new network. The watcher holds the node only weakly and ends with it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Inner;
use super::state::Msg;

/// Starts the watcher thread (it blocks on the OS's change notifications).
pub(super) fn start(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let started = std::thread::Builder::new()
        .name("natter-netwatch".into())
        .spawn(move || watch(weak));
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot watch for network changes");
    }
}

fn watch(weak: Weak<Inner>) {
    let mut notifier = match if_addrs::IfChangeNotifier::new() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for network changes");
            return;
        }
    };
    loop {
        let changes = notifier.wait(Some(Duration::from_secs(1)));
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(changes) = changes
            && !changes.is_empty()
        {
            tracing::info!(
                changes = changes.len(),
                "the network changed: registering and dialling again"
            );
            inner.rv_wake.notify_one();
            inner.actor.tell(Msg::NetworkChanged);
        }
    }
}
