//! Owns whether a relay may carry a session with a contact: the decision from the relay
//! policy (the contact's own, else the global one) and the user's answers this run
//! ([`decide`], pure), and the node task's table of relays (which one our rendezvous
//! offers, who was asked, who answered, which pairs are ready). No I/O: the node's task
//! feeds it messages; the one-time prompts and refusals go out as events from here.

use std::collections::{HashMap, HashSet};

use tokio::sync::{broadcast, oneshot};

use super::event::{DialFailure, Event};
use crate::identity::PeerId;
use crate::model::RelayPolicy;

/// Whether to open a relay with a contact that no direct path reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Open it (policy `always`, or the user said yes).
    Open,
    /// Ask the user first (policy `ask`, no answer yet).
    Ask,
    /// The policy forbids it (`never`).
    Forbidden,
    /// The user said no.
    Declined,
    /// Our rendezvous offers no relay (or we are not registered).
    Unavailable,
}

/// The decision for a contact's policy and the user's answer this run, if any.
pub(crate) fn decide(policy: RelayPolicy, answer: Option<bool>) -> Decision {
    match (policy, answer) {
        (RelayPolicy::Never, _) => Decision::Forbidden,
        (RelayPolicy::Always, _) | (RelayPolicy::Ask, Some(true)) => Decision::Open,
        (RelayPolicy::Ask, Some(false)) => Decision::Declined,
        (RelayPolicy::Ask, None) => Decision::Ask,
    }
}

/// A message about relays to the node's task.
pub(crate) enum RelayMsg {
    /// Our rendezvous relays (its name), or we lost it (`None`: every pair is gone with it).
    Available(Option<String>),
    /// May a relay carry a session with `peer` (`who`: its name for the user)? Asks the
    /// user, or tells them it is forbidden, once.
    Decide {
        peer: PeerId,
        policy: RelayPolicy,
        who: String,
        reply: oneshot::Sender<(Decision, Option<String>)>,
    },
    /// The user answered the prompt for `peer`.
    Answer(PeerId, bool),
    /// Both sides opened: frames flow between us and `peer` (`wake`: dial it now).
    Ready { peer: PeerId, wake: bool },
    /// We opened and wait for `peer`'s consent (a pair once ready may be gone).
    Waiting(PeerId),
    /// A relay policy changed: prompts and refusals are told again.
    PolicyChanged,
}

/// The node's relay table, held by its task.
#[derive(Debug, Default)]
pub(crate) struct Relays {
    available: Option<String>,
    answers: HashMap<PeerId, bool>,
    prompted: HashSet<PeerId>,
    refused: HashSet<PeerId>,
    ready: HashSet<PeerId>,
}

impl Relays {
    /// Applies one message; returns a contact whose dial loop must look again now.
    pub(crate) fn handle(
        &mut self,
        msg: RelayMsg,
        events: &broadcast::Sender<Event>,
    ) -> Option<PeerId> {
        match msg {
            RelayMsg::Available(name) => {
                if name.is_none() {
                    self.ready.clear();
                }
                self.available = name;
            }
            RelayMsg::Decide {
                peer,
                policy,
                who,
                reply,
            } => {
                let Some(relay) = self.available.clone() else {
                    let _ = reply.send((Decision::Unavailable, None));
                    return None;
                };
                let d = decide(policy, self.answers.get(&peer).copied());
                match d {
                    Decision::Ask if self.prompted.insert(peer) => {
                        let _ = events.send(Event::RelayConsent {
                            peer,
                            relay: relay.clone(),
                        });
                    }
                    Decision::Forbidden if self.refused.insert(peer) => {
                        let _ = events.send(Event::DialFailed {
                            peer,
                            kind: DialFailure::NeedsRelay,
                            error: needs_relay(&who, &relay),
                        });
                    }
                    _ => {}
                }
                let _ = reply.send((d, Some(relay)));
            }
            RelayMsg::Answer(peer, yes) => {
                self.answers.insert(peer, yes);
                self.prompted.remove(&peer);
                return yes.then_some(peer);
            }
            RelayMsg::Ready { peer, wake } => {
                self.ready.insert(peer);
                return wake.then_some(peer);
            }
            RelayMsg::Waiting(peer) => {
                self.ready.remove(&peer);
            }
            RelayMsg::PolicyChanged => {
                self.prompted.clear();
                self.refused.clear();
            }
        }
        None
    }

    /// Whether frames flow between us and `peer` through the relay now.
    pub(crate) fn is_ready(&self, peer: &PeerId) -> bool {
        self.available.is_some() && self.ready.contains(peer)
    }
}

/// What the user reads when only a relay could reach a contact and the policy forbids it.
fn needs_relay(who: &str, relay: &str) -> String {
    format!(
        "{who} needs a relay; your policy forbids it. No direct path exists between your \
         networks; to talk through the relay {relay} (it sees only encrypted packets), set \
         `relay-policy ask` or `always`, or this contact's relay choice"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn the_policy_and_the_users_answer_decide() {
        use RelayPolicy::{Always, Ask, Never};
        assert_eq!(decide(Never, None), Decision::Forbidden);
        assert_eq!(
            decide(Never, Some(true)),
            Decision::Forbidden,
            "never overrides a yes"
        );
        assert_eq!(decide(Always, None), Decision::Open);
        assert_eq!(decide(Ask, None), Decision::Ask);
        assert_eq!(decide(Ask, Some(true)), Decision::Open);
        assert_eq!(decide(Ask, Some(false)), Decision::Declined);
    }

    fn ask(
        r: &mut Relays,
        peer: PeerId,
        policy: RelayPolicy,
        ev: &broadcast::Sender<Event>,
    ) -> Decision {
        let (reply, mut rx) = oneshot::channel();
        r.handle(
            RelayMsg::Decide {
                peer,
                policy,
                who: "bob".into(),
                reply,
            },
            ev,
        );
        rx.try_recv().expect("answered at once").0
    }

    #[test]
    fn the_user_is_asked_once_and_told_of_a_refusal_once() {
        let (ev, mut rx) = broadcast::channel(16);
        let mut r = Relays::default();
        let p = Identity::generate().peer_id();
        assert_eq!(
            ask(&mut r, p, RelayPolicy::Always, &ev),
            Decision::Unavailable
        );
        r.handle(RelayMsg::Available(Some("198.18.0.1:7000".into())), &ev);
        assert_eq!(ask(&mut r, p, RelayPolicy::Ask, &ev), Decision::Ask);
        assert_eq!(ask(&mut r, p, RelayPolicy::Ask, &ev), Decision::Ask);
        assert!(
            matches!(rx.try_recv(), Ok(Event::RelayConsent { relay, .. }) if relay == "198.18.0.1:7000")
        );
        assert!(rx.try_recv().is_err(), "one prompt, not one per round");
        assert_eq!(r.handle(RelayMsg::Answer(p, true), &ev), Some(p));
        assert_eq!(ask(&mut r, p, RelayPolicy::Ask, &ev), Decision::Open);
        assert_eq!(ask(&mut r, p, RelayPolicy::Never, &ev), Decision::Forbidden);
        assert_eq!(ask(&mut r, p, RelayPolicy::Never, &ev), Decision::Forbidden);
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::DialFailed { kind: DialFailure::NeedsRelay, error, .. })
                if error.starts_with("bob needs a relay; your policy forbids it")
        ));
        assert!(rx.try_recv().is_err());
        r.handle(RelayMsg::PolicyChanged, &ev);
        ask(&mut r, p, RelayPolicy::Never, &ev);
        assert!(rx.try_recv().is_ok(), "told again after a policy change");
    }

    #[test]
    fn pairs_are_ready_only_while_the_relay_is_there() {
        let (ev, _rx) = broadcast::channel(16);
        let mut r = Relays::default();
        let p = Identity::generate().peer_id();
        r.handle(RelayMsg::Available(Some("relay".into())), &ev);
        assert_eq!(
            r.handle(
                RelayMsg::Ready {
                    peer: p,
                    wake: true
                },
                &ev
            ),
            Some(p)
        );
        assert!(r.is_ready(&p));
        r.handle(RelayMsg::Waiting(p), &ev);
        assert!(!r.is_ready(&p));
        r.handle(
            RelayMsg::Ready {
                peer: p,
                wake: false,
            },
            &ev,
        );
        r.handle(RelayMsg::Available(None), &ev);
        assert!(!r.is_ready(&p), "the server forgot every pair");
    }
}
