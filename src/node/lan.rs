//! Owns the node's side of LAN discovery: the mDNS task, which feeds what it sees into the
//! node's state (the nearby table) and asks for contacts that appear to be dialled.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use super::state::Msg;
use super::{Event, Inner, NodeHandle};
use crate::discovery::{self, Discovery, DiscoveryConfig, Found, FoundRoom, Nearby, NearbyRoom};
use crate::identity::PeerId;
use crate::store::{self, ContactState};

/// A peer seen on the LAN (a row of the nearby table).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NearbyPeer {
    /// The key the record claims.
    pub peer: PeerId,
    /// Display name, if published.
    pub name: Option<String>,
    /// Addresses.
    pub addrs: Vec<SocketAddr>,
    /// Whether it is one of our contacts.
    pub contact: bool,
}

fn emit(inner: &Inner, e: Event) {
    let _ = inner.events.send(e);
}

pub(super) async fn start(inner: &Arc<Inner>, config: &DiscoveryConfig) {
    let Some(port) = inner.endpoint.local_addr().ok().map(|a| a.port()) else {
        return;
    };
    let (config, me) = (config.clone(), inner.me);
    let started = tokio::task::spawn_blocking(move || Discovery::start(&config, me, port)).await;
    let (discovery, events) = match started {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return emit(
                inner,
                Event::Error {
                    message: e.to_string(),
                },
            );
        }
        Err(e) => {
            return emit(
                inner,
                Event::Error {
                    message: e.to_string(),
                },
            );
        }
    };
    let own = discovery.own_fullname().map(str::to_string);
    let rooms = discovery.browse_rooms();
    let old = inner
        .actor
        .ask(|reply| Msg::Discovery(Some(Arc::new(discovery)), reply))
        .await
        .flatten();
    shut(old).await;
    // Our listed rooms go on the new responder now.
    inner.listing_wake.notify_one();
    match rooms {
        Ok(rooms) => {
            let inner = inner.clone();
            tokio::spawn(async move {
                while let Ok(event) = rooms.recv_async().await {
                    let now = crate::store::now_ms() as u64;
                    match discovery::translate_room(event, now) {
                        Some(FoundRoom::Listed(n)) if n.listing.listing().creator != inner.me => {
                            room_seen(&inner, n);
                        }
                        Some(FoundRoom::Gone { fullname }) => {
                            let gone = super::lock(&inner.room_listings).lan_gone(&fullname);
                            if let Some(room_id) = gone {
                                emit(&inner, Event::RoomNearbyGone { room_id });
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "public rooms on the LAN are not browsed"),
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        while let Ok(event) = events.recv_async().await {
            match discovery::translate(event) {
                Some(Found::Nearby(n))
                    if n.peer != inner.me && Some(&n.fullname) != own.as_ref() =>
                {
                    seen(&inner, n).await;
                }
                Some(Found::Gone { fullname }) => gone(&inner, &fullname).await,
                _ => {}
            }
        }
    });
}

fn room_seen(inner: &Inner, n: NearbyRoom) {
    let addrs = discovery::dialable(&n.addrs);
    let room = super::rooms::listed(&n.listing, "lan");
    let now = crate::store::now_ms() as u64;
    let changed = super::lock(&inner.room_listings).lan(n.listing, n.fullname, addrs, now);
    if changed {
        tracing::debug!(room = %room.room_id, "public room nearby");
        emit(inner, Event::RoomNearby { room });
    }
}

async fn seen(inner: &Arc<Inner>, n: Nearby) {
    let (peer, name) = (n.peer, n.name.clone());
    let changed = inner
        .actor
        .ask(|reply| Msg::Sighted(n, reply))
        .await
        .flatten();
    let Some(addrs) = changed else { return };
    let contact = inner
        .store
        .call(move |c| {
            Ok(store::get_contact(c, &peer)?.is_some_and(|c| c.state == ContactState::Contact))
        })
        .await
        .unwrap_or(false);
    tracing::debug!(peer = ?peer, addrs = addrs.len(), contact, "peer nearby");
    emit(
        inner,
        Event::PeerNearby {
            peer,
            name,
            addrs,
            contact,
        },
    );
    if contact {
        inner.actor.tell(Msg::DialNow(peer));
    }
}

async fn gone(inner: &Inner, fullname: &str) {
    let name = fullname.to_string();
    if let Some(peer) = inner
        .actor
        .ask(|reply| Msg::Gone(name, reply))
        .await
        .flatten()
    {
        emit(inner, Event::PeerGone { peer });
    }
}

/// A LAN address that presented another key than its record claimed: drop it, report it.
pub(super) fn spoofed(inner: &Inner, claimed: PeerId, presented: PeerId, addr: SocketAddr) {
    inner.actor.tell(Msg::Spoofed { claimed, addr });
    tracing::warn!(claimed = ?claimed, presented = ?presented, %addr, "LAN record spoof suspected");
    emit(
        inner,
        Event::SpoofSuspected {
            claimed,
            presented,
            addr,
        },
    );
}

/// Starts discovery again with the user's current preferences (a new name, advertising
/// switched on or off); peers see the old record go and the new one come.
pub(super) async fn restart(inner: &Arc<Inner>) -> Result<(), super::NodeError> {
    let Some(base) = inner.lan_config.clone() else {
        return Ok(());
    };
    let config = super::prefs::discovery_with_preferences(&inner.store, base).await?;
    stop(inner).await;
    start(inner, &config).await;
    Ok(())
}

pub(super) async fn stop(inner: &Inner) {
    let old = inner
        .actor
        .ask(|reply| Msg::Discovery(None, reply))
        .await
        .flatten();
    shut(old).await;
}

async fn shut(discovery: Option<Arc<Discovery>>) {
    if let Some(d) = discovery {
        let _ = tokio::task::spawn_blocking(move || d.shutdown()).await;
    }
}

impl NodeHandle {
    /// Peers seen on the LAN now.
    pub async fn nearby(&self) -> Result<Vec<NearbyPeer>, super::NodeError> {
        let rows = self.inner.actor.ask(Msg::Nearby).await.unwrap_or_default();
        let contacts = self.contacts().await?;
        let mut out: Vec<NearbyPeer> = rows
            .into_iter()
            .map(|n| NearbyPeer {
                contact: contacts.iter().any(|c| c.peer == n.peer),
                peer: n.peer,
                name: n.name,
                addrs: n.addrs,
            })
            .collect();
        out.sort_by_key(|n| (n.name.clone(), n.peer));
        Ok(out)
    }
}
