//! The node's state fed messages and time, no task and no network.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::identity::Identity;

fn peer() -> PeerId {
    Identity::generate().peer_id()
}

/// A new peer the state knows as an accepted contact.
fn contact(s: &mut State) -> PeerId {
    let p = peer();
    s.handle(Msg::ContactStored(p, true), Instant::now());
    p
}

fn state() -> (State, PeerId) {
    state_with_events().0
}

/// A state, and the events it sends.
fn state_with_events() -> ((State, PeerId), broadcast::Receiver<Event>) {
    let me = peer();
    let (events, rx) = broadcast::channel(16);
    let presence = (Status::Online, String::new());
    let s = State::new(me, events, presence, Policy::default()).0;
    ((s, me), rx)
}

/// A live session as a connection registers it, and the end its commands arrive at.
fn live(conn_id: usize, dialer: PeerId, boot: u8) -> (Live, mpsc::UnboundedReceiver<Cmd>) {
    let (cmds, rx) = mpsc::unbounded_channel();
    let who = session::Live {
        dialer,
        peer_boot: vec![boot; 16],
        relayed: false,
    };
    let live = Live {
        conn_id,
        who,
        cmds,
        path: crate::model::Path::Direct,
        remote: "198.19.0.7:47100".parse().expect("address"),
        outgoing: true,
    };
    (live, rx)
}

fn register(s: &mut State, peer: PeerId, live: Live, now: Instant) -> Option<Admitted> {
    let (reply, mut answer) = oneshot::channel();
    let effect = s.handle(Msg::Register { peer, live, reply }, now);
    assert!(
        matches!(effect, None | Some(Effect::Upgrade(..))),
        "{effect:?}"
    );
    answer.try_recv().expect("answered at once")
}

fn leave(s: &mut State, peer: PeerId, conn_id: usize, redial: bool) -> Option<Effect> {
    let reason = "gone".to_string();
    s.handle(
        Msg::Leave {
            peer,
            conn_id,
            redial,
            reason,
        },
        Instant::now(),
    )
}

#[test]
fn a_replaced_session_is_told_to_close_and_leaves_quietly() {
    let ((mut s, me), mut events) = state_with_events();
    let (p, now) = (peer(), Instant::now());
    let (first, mut first_rx) = live(1, me, 7);
    assert!(register(&mut s, p, first, now).is_some());
    // We dialled again (the same side): the newer connection wins.
    let (second, _second_rx) = live(2, me, 7);
    assert!(register(&mut s, p, second, now).is_some());
    assert!(matches!(
        first_rx.try_recv(),
        Ok(Cmd::Close(CLOSE_REPLACED))
    ));
    // The replaced one leaving does not disconnect the peer; the live one does.
    leave(&mut s, p, 1, false);
    assert!(s.connected.borrow().contains(&p));
    assert!(
        events.try_recv().is_err(),
        "no disconnect for the replaced one"
    );
    leave(&mut s, p, 2, false);
    assert!(!s.connected.borrow().contains(&p));
    assert!(matches!(events.try_recv(), Ok(Event::Disconnected { peer, .. }) if peer == p));
}

#[test]
fn of_two_simultaneous_dials_both_sides_keep_the_smaller_ids() {
    let (mut s, me) = state();
    let p = peer();
    let now = Instant::now();
    let (ours, _a) = live(1, me, 7);
    let (theirs, _b) = live(2, p, 7);
    let first = register(&mut s, p, ours, now).is_some();
    let second = register(&mut s, p, theirs, now).is_some();
    assert!(first);
    // The second (the peer's dial) is kept only if the peer's id is the smaller.
    assert_eq!(second, p < me);
}

#[test]
fn a_typing_state_is_resent_on_a_new_session_only_while_fresh() {
    let (mut s, me) = state();
    let p = peer();
    let t0 = Instant::now();
    s.handle(Msg::Typing(p, TypingState::Typing), t0);
    let (a, _a) = live(1, me, 1);
    let admitted = register(&mut s, p, a, t0 + Duration::from_secs(5)).expect("kept");
    assert_eq!(admitted.typing, Some(TypingState::Typing));
    let (b, _b) = live(2, me, 2);
    let admitted = register(&mut s, p, b, t0 + TYPING_FRESH).expect("kept");
    assert_eq!(admitted.typing, None);
}

#[test]
fn one_dial_loop_per_contact_and_a_wake_reaches_it() {
    let (mut s, _) = state();
    let p = peer();
    let now = Instant::now();
    let Some(Effect::StartDial(_, wake)) = s.handle(Msg::Dial(p), now) else {
        panic!("the first dial starts a loop");
    };
    assert!(s.handle(Msg::Dial(p), now).is_none());
    assert!(s.handle(Msg::DialNow(p), now).is_none());
    // The wake is stored until the loop next sleeps on it.
    let woken = wake.notified();
    tokio::pin!(woken);
    assert!(woken.as_mut().enable());
    s.handle(Msg::DialEnded(p, false), now);
    assert!(matches!(
        s.handle(Msg::Dial(p), now),
        Some(Effect::StartDial(..))
    ));
}

#[test]
fn a_loop_that_found_nowhere_to_dial_starts_again_if_woken_as_it_ended() {
    let (mut s, _) = state();
    let p = peer();
    let now = Instant::now();
    assert!(matches!(
        s.handle(Msg::Dial(p), now),
        Some(Effect::StartDial(..))
    ));
    // A LAN sighting comes while the loop is deciding there is nowhere to dial.
    assert!(s.handle(Msg::DialNow(p), now).is_none());
    assert!(matches!(
        s.handle(Msg::DialEnded(p, true), now),
        Some(Effect::StartDial(..))
    ));
    // Unwoken, it stays ended; a loop that gave up for another reason is not restarted.
    assert!(s.handle(Msg::DialEnded(p, true), now).is_none());
    assert!(matches!(
        s.handle(Msg::Dial(p), now),
        Some(Effect::StartDial(..))
    ));
    s.handle(Msg::DialNow(p), now);
    assert!(s.handle(Msg::DialEnded(p, false), now).is_none());
}

#[test]
fn messages_for_a_peer_flush_its_session_or_dial_it() {
    let (mut s, me) = state();
    let p = peer();
    let now = Instant::now();
    assert!(matches!(
        s.handle(Msg::Outbox(p, None), now),
        Some(Effect::StartDial(..))
    ));
    let (l, mut rx) = live(1, me, 1);
    register(&mut s, p, l, now);
    assert!(s.handle(Msg::Outbox(p, None), now).is_none());
    assert!(matches!(rx.try_recv(), Ok(Cmd::Flush)));
    // A message handed over with its row goes to the session as it is.
    let chat = crate::session::OutgoingChat {
        msg_id: [1; 16],
        seq: 1,
        timestamp_ms: 1,
        text: "hi".into(),
        base_seq: 1,
    };
    assert!(s.handle(Msg::Outbox(p, Some(chat.clone())), now).is_none());
    assert!(matches!(rx.try_recv(), Ok(Cmd::Queued(c)) if c == chat));
}

#[test]
fn after_shutdown_nothing_is_dialled_and_every_session_is_closed() {
    let (mut s, me) = state();
    let p = peer();
    let now = Instant::now();
    let (l, mut rx) = live(1, me, 1);
    register(&mut s, p, l, now);
    s.handle(Msg::Shutdown, now);
    assert!(matches!(rx.try_recv(), Ok(Cmd::Close(CLOSE_NORMAL))));
    assert!(s.handle(Msg::Dial(peer()), now).is_none());
    assert!(leave(&mut s, p, 1, true).is_none());
}

#[test]
fn lan_records_merge_their_addresses_and_report_only_changes() {
    let (mut s, _) = state();
    let p = peer();
    let now = Instant::now();
    let record = |addr: &str, name: Option<&str>| Nearby {
        peer: p,
        addrs: vec![addr.parse().expect("address")],
        name: name.map(str::to_string),
        versions: "1-1".into(),
        fullname: "x._natter._udp.local.".into(),
    };
    let sight = |s: &mut State, n: Nearby| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Sighted(n, reply), now);
        answer.try_recv().expect("answered")
    };
    assert_eq!(
        sight(&mut s, record("198.18.0.2:1", None)).map(|a| a.len()),
        Some(1)
    );
    assert_eq!(sight(&mut s, record("198.18.0.2:1", None)), None);
    let both = sight(&mut s, record("198.18.0.3:1", Some("ann"))).expect("changed");
    assert_eq!(both.len(), 2);
    let (reply, mut answer) = oneshot::channel();
    s.handle(Msg::Gone("x._natter._udp.local.".into(), reply), now);
    assert_eq!(answer.try_recv().expect("answered"), Some(p));
}

#[test]
fn a_prekey_is_given_out_only_before_it_expires() {
    let (mut s, _) = state();
    let p = peer();
    let now = Instant::now();
    s.handle(Msg::Prekey(p, [9; 32], 1_000), now);
    assert_eq!(prekey_of(&mut s, p, 999), Some(([9; 32], 1_000)));
    assert_eq!(prekey_of(&mut s, p, 1_000), None);
}

fn prekey_of(s: &mut State, peer: PeerId, now_ms: u64) -> Option<([u8; 32], u64)> {
    let (reply, mut answer) = oneshot::channel();
    s.handle(
        Msg::PrekeyOf {
            peer,
            now_ms,
            reply,
        },
        Instant::now(),
    );
    answer.try_recv().expect("answered")
}

/// A rendezvous answering with an older signed record (still valid, with the prekey the
/// contact rotated away from) does not make us seal to that one.
#[test]
fn an_older_record_does_not_roll_a_prekey_back() {
    let (mut s, _) = state();
    let p = peer();
    let now = Instant::now();
    s.handle(Msg::Prekey(p, [2; 32], 2_000), now);
    s.handle(Msg::Prekey(p, [1; 32], 1_000), now);
    assert_eq!(prekey_of(&mut s, p, 10), Some(([2; 32], 2_000)));
    s.handle(Msg::Prekey(p, [3; 32], 3_000), now);
    assert_eq!(prekey_of(&mut s, p, 10), Some(([3; 32], 3_000)));
}

#[test]
fn a_dial_signal_leaves_its_addresses_for_the_next_round_once() {
    let (mut s, _) = state();
    let p = contact(&mut s);
    let now = Instant::now();
    let addr = "198.18.0.9:4433".parse().expect("address");
    assert!(matches!(
        s.handle(Msg::Hint(p, vec![addr]), now),
        Some(Effect::StartDial(..))
    ));
    let candidates = |s: &mut State| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Candidates(p, reply), now);
        answer.try_recv().expect("answered")
    };
    assert_eq!(candidates(&mut s).hints, vec![addr]);
    assert!(candidates(&mut s).hints.is_empty());
}

#[test]
fn dial_signals_are_few_and_small_so_a_rendezvous_cannot_aim_the_node() {
    let (mut s, _) = state();
    let p = contact(&mut s);
    let t0 = Instant::now();
    let many: Vec<std::net::SocketAddr> = (1..=20)
        .map(|i| format!("198.18.0.{i}:4433").parse().expect("address"))
        .collect();
    let candidates = |s: &mut State| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Candidates(p, reply), t0);
        answer.try_recv().expect("answered").hints
    };
    assert!(s.handle(Msg::Hint(p, many.clone()), t0).is_some());
    assert_eq!(candidates(&mut s), many[..HINT_ADDRS].to_vec());
    // Another signal before HINT_EVERY: dropped, nothing dialled.
    let soon = t0 + HINT_EVERY / 2;
    assert!(s.handle(Msg::Hint(p, many.clone()), soon).is_none());
    assert!(candidates(&mut s).is_empty());
    // After it: taken again.
    s.handle(Msg::Hint(p, many[5..6].to_vec()), t0 + HINT_EVERY);
    assert_eq!(candidates(&mut s), many[5..6].to_vec());
}

/// A dial signal names its sender and an address the rendezvous chose: only an accepted
/// contact that is not blocked gets dialled; a stranger's, a request's or a blocked
/// contact's signal starts nothing and leaves no address for a later round.
#[test]
fn dial_signals_are_acted_on_for_contacts_only() {
    let (mut s, _) = state();
    let now = Instant::now();
    let aim: Vec<std::net::SocketAddr> = vec!["198.18.0.1:4433".parse().expect("address")];
    let candidates = |s: &mut State, p| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Candidates(p, reply), now);
        answer.try_recv().expect("answered").hints
    };
    let stranger = peer();
    assert!(s.handle(Msg::Hint(stranger, aim.clone()), now).is_none());
    assert!(candidates(&mut s, stranger).is_empty());
    let request = peer();
    s.handle(Msg::ContactStored(request, false), now);
    assert!(s.handle(Msg::Hint(request, aim.clone()), now).is_none());
    let blocked = contact(&mut s);
    s.policy.blocked.set(blocked, true);
    assert!(s.handle(Msg::Hint(blocked, aim.clone()), now).is_none());
    assert!(candidates(&mut s, blocked).is_empty());
    // The same signal from a contact is dialled.
    let friend = contact(&mut s);
    assert!(s.handle(Msg::Hint(friend, aim.clone()), now).is_some());
    assert_eq!(candidates(&mut s, friend), aim);
}

#[test]
fn the_policy_follows_the_writes_it_is_told_of() {
    let (mut s, _) = state();
    let (friend, stranger) = (peer(), peer());
    let now = Instant::now();
    let admit = |s: &mut State, p: PeerId| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Admit(p, reply), now);
        answer.try_recv().expect("answered")
    };
    s.handle(Msg::ContactStored(friend, true), now);
    assert_eq!(admit(&mut s, stranger), Admission::Request);
    s.handle(Msg::Privacy(PrivacyMode::ContactsOnly), now);
    assert_eq!(admit(&mut s, stranger), Admission::Stranger);
    assert_eq!(admit(&mut s, friend), Admission::Admit);
    // The block list comes first, contact or not.
    s.policy.blocked.set(friend, true);
    assert_eq!(admit(&mut s, friend), Admission::Blocked);
    s.policy.blocked.set(friend, false);
    s.handle(Msg::ContactStored(friend, false), now);
    assert_eq!(admit(&mut s, friend), Admission::Stranger);
}

#[test]
fn paths_list_the_live_sessions_and_count_every_one_that_came_up() {
    let ((mut s, me), _events) = state_with_events();
    let (p, q, now) = (peer(), peer(), Instant::now());
    let paths = |s: &mut State| {
        let (reply, mut answer) = oneshot::channel();
        s.handle(Msg::Paths(reply), now);
        answer.try_recv().expect("answered")
    };
    let (first, _rx1) = live(1, me, 7);
    register(&mut s, p, first, now);
    let (mut relayed, _rx2) = live(2, me, 7);
    relayed.path = crate::model::Path::Relayed;
    register(&mut s, q, relayed, now);
    let seen = paths(&mut s);
    assert_eq!(seen.sessions.len(), 2);
    assert_eq!((seen.conns_opened, seen.conns_direct), (2, 1));
    let of_p = seen
        .sessions
        .iter()
        .find(|x| x.peer == p)
        .expect("p listed");
    assert_eq!(of_p.path, crate::model::Path::Direct);
    assert_eq!(of_p.remote.to_string(), "198.19.0.7:47100");
    assert_eq!(of_p.direction, "outgoing");
    // A session that ended is no longer listed; the counters keep it.
    leave(&mut s, p, 1, false);
    let seen = paths(&mut s);
    assert_eq!(seen.sessions.len(), 1);
    assert_eq!((seen.conns_opened, seen.conns_direct), (2, 1));
}

#[test]
fn a_network_change_wakes_every_dial_loop_for_a_new_round() {
    let (mut s, _) = state();
    let now = Instant::now();
    let mut wakes = Vec::new();
    for p in [peer(), peer()] {
        let Some(Effect::StartDial(_, wake)) = s.handle(Msg::Dial(p), now) else {
            panic!("a loop starts");
        };
        wakes.push(wake);
    }
    assert!(s.handle(Msg::NetworkChanged, now).is_none());
    for wake in wakes {
        let woken = wake.notified();
        tokio::pin!(woken);
        assert!(woken.as_mut().enable(), "every loop looks again now");
    }
}

#[test]
fn a_presence_change_during_a_handshake_reaches_the_session_that_comes_up() {
    let (mut s, me) = state();
    let (p, now) = (peer(), Instant::now());
    let (old, mut old_rx) = live(1, me, 7);
    assert!(register(&mut s, p, old, now).is_some());
    // A new connection took its Hello's snapshot (Online) before the change below; the
    // change reaches only the session being replaced.
    let (reply, mut snapshot) = oneshot::channel();
    s.handle(Msg::PresenceNow(reply), now);
    assert_eq!(snapshot.try_recv().expect("answered").0, Status::Online);
    s.handle(Msg::Presence(Status::Away, "lunch".into()), now);
    assert!(matches!(
        old_rx.try_recv(),
        Ok(Cmd::Presence(Status::Away, _))
    ));
    let (new, _new_rx) = live(2, me, 7);
    let admitted = register(&mut s, p, new, now).expect("the newer connection wins");
    assert_eq!(admitted.presence, (Status::Away, "lunch".to_string()));
}

#[test]
fn a_relayed_session_starts_one_upgrade_loop_which_a_punch_or_a_network_change_wakes() {
    let (mut s, me) = state();
    let (p, now) = (contact(&mut s), Instant::now());
    let (mut relayed, _rx) = live(1, me, 7);
    relayed.path = crate::model::Path::Relayed;
    let (reply, _answer) = oneshot::channel();
    let Some(Effect::Upgrade(q, wake)) = s.handle(
        Msg::Register {
            peer: p,
            live: relayed,
            reply,
        },
        now,
    ) else {
        panic!("a relayed session looks for a direct path");
    };
    assert_eq!(q, p);
    // Another relayed connection while the loop runs: no second loop.
    let (mut again, _rx2) = live(2, me, 7);
    again.path = crate::model::Path::Relayed;
    let (reply, _answer) = oneshot::channel();
    assert!(
        s.handle(
            Msg::Register {
                peer: p,
                live: again,
                reply
            },
            now
        )
        .is_none()
    );
    // The peer's punch (a dial signal) wakes it.
    let woken = wake.notified();
    tokio::pin!(woken);
    s.handle(Msg::Hint(p, vec!["198.19.0.9:47100".parse().unwrap()]), now);
    assert!(woken.as_mut().enable(), "woken by the peer's punch");
    // A direct session starts none; after the loop ends a relayed one starts a new one.
    s.handle(Msg::UpgradeEnded(p), now);
    let (direct, _rx3) = live(3, me, 7);
    let (reply, _answer) = oneshot::channel();
    assert!(
        s.handle(
            Msg::Register {
                peer: p,
                live: direct,
                reply
            },
            now
        )
        .is_none()
    );
}
