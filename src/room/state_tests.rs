//! The state chain: who may sign which version, and what a member refuses.

use super::*;
use crate::identity::Identity;

fn id(n: u8) -> Identity {
    Identity::from_seed([n; 32])
}

fn genesis(creator: &Identity) -> SignedState {
    RoomState::create(
        creator.peer_id(),
        [7; 16],
        "Book club",
        "",
        Policy::Private,
        1,
    )
    .sign(creator)
    .unwrap()
}

/// Signs the next version after `held`, changed by `f`.
fn next(held: &SignedState, signer: &Identity, f: impl FnOnce(&mut RoomState)) -> SignedState {
    let mut s = RoomState::next(held, 2);
    f(&mut s);
    s.sign(signer).unwrap()
}

#[test]
fn the_first_version_is_the_creators_own() {
    let (alice, mallory) = (id(1), id(2));
    let v1 = genesis(&alice);
    assert_eq!(judge(None, &v1), Verdict::Apply);
    assert_eq!(v1.state().id, RoomId::derive(&alice.peer_id(), &[7; 16]));

    // Mallory signs a first version naming Alice's room (id and creator copied).
    let forged = v1.state().sign(&mallory).unwrap();
    assert_eq!(
        judge(None, &forged),
        Verdict::Refused(StateError::NotGenesis)
    );
    // Or makes herself creator of a room with Alice's id.
    let mut own = v1.state().clone();
    own.creator = mallory.peer_id();
    own.members[0].key = mallory.peer_id();
    let own = own.sign(&mallory).unwrap();
    assert_eq!(judge(None, &own), Verdict::Refused(StateError::NotGenesis));
    // A later version with nothing held: the chain from version 1 is needed.
    let v2 = next(&v1, &alice, |s| s.add(mallory.peer_id()));
    assert_eq!(judge(None, &v2), Verdict::Gap { from: 1 });
}

#[test]
fn admins_change_the_room_and_a_member_may_only_leave() {
    let (alice, bob, carol) = (id(1), id(2), id(3));
    let v1 = genesis(&alice);
    let v2 = next(&v1, &alice, |s| s.add(bob.peer_id()));
    assert_eq!(judge(Some(&v1), &v2), Verdict::Apply);
    assert_eq!(v2.change_since(v1.state()).added, vec![bob.peer_id()]);

    // Bob is a member, not an admin: he cannot invite, rename or remove.
    let invite = next(&v2, &bob, |s| s.add(carol.peer_id()));
    assert!(matches!(
        judge(Some(&v2), &invite),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    let kick = next(&v2, &bob, |s| s.remove(&alice.peer_id()));
    assert!(matches!(
        judge(Some(&v2), &kick),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    // His own leave, and only that, he may sign.
    let leave_and_rename = next(&v2, &bob, |s| {
        s.remove(&bob.peer_id());
        s.name = "Bob's now".into();
    });
    assert!(matches!(
        judge(Some(&v2), &leave_and_rename),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    let leave = next(&v2, &bob, |s| s.remove(&bob.peer_id()));
    assert_eq!(judge(Some(&v2), &leave), Verdict::Apply);
    assert_eq!(leave.change_since(v2.state()).removed, vec![bob.peer_id()]);

    // Promoted, Bob invites.
    let v3 = next(&v2, &alice, |s| s.promote(&bob.peer_id()));
    let v4 = next(&v3, &bob, |s| s.add(carol.peer_id()));
    assert_eq!(judge(Some(&v3), &v4), Verdict::Apply);
    // But no admin other than the creator removes or demotes the creator.
    let coup = next(&v4, &bob, |s| s.remove(&alice.peer_id()));
    assert!(matches!(
        judge(Some(&v4), &coup),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    let demote = next(&v4, &bob, |s| s.members[0].role = Role::Member);
    assert!(matches!(
        judge(Some(&v4), &demote),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    // The creator removes an admin.
    let v5 = next(&v4, &alice, |s| s.remove(&bob.peer_id()));
    assert_eq!(judge(Some(&v4), &v5), Verdict::Apply);
}

#[test]
fn a_removed_member_replaying_old_or_forked_versions_changes_nothing() {
    let (alice, bob, carol) = (id(1), id(2), id(3));
    let v1 = genesis(&alice);
    let v2 = next(&v1, &alice, |s| {
        s.add(bob.peer_id());
        s.promote(&bob.peer_id());
    });
    let v3 = next(&v2, &alice, |s| s.add(carol.peer_id()));
    let v4 = next(&v3, &alice, |s| s.remove(&bob.peer_id()));

    // Bob, removed at version 4, replays version 3 (where he was an admin): stale.
    assert_eq!(
        judge(Some(&v4), &v3),
        Verdict::Stale {
            offered: 3,
            held: 4
        }
    );
    // He signs another version 4 after version 3 (his own fork): stale for who holds 4.
    let fork = next(&v3, &bob, |s| s.remove(&carol.peer_id()));
    assert_eq!(
        judge(Some(&v3), &fork),
        Verdict::Apply,
        "valid where 3 is held"
    );
    assert_eq!(
        judge(Some(&v4), &fork),
        Verdict::Stale {
            offered: 4,
            held: 4
        }
    );
    // And a version 5 after the real 4: he is no member of it.
    let v5 = next(&v4, &bob, |s| s.add(bob.peer_id()));
    assert!(matches!(
        judge(Some(&v4), &v5),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    // The real version 4 again: a duplicate.
    assert_eq!(judge(Some(&v4), &v4), Verdict::Duplicate);
    // A version further ahead: the gap is fetched first.
    let v6 = next(&next(&v4, &alice, |s| s.topic = "x".into()), &alice, |_| {});
    assert_eq!(judge(Some(&v4), &v6), Verdict::Gap { from: 5 });
}

#[test]
fn a_version_that_does_not_chain_is_refused() {
    let (alice, other) = (id(1), id(9));
    let v1 = genesis(&alice);
    let v2 = next(&v1, &alice, |s| s.add(other.peer_id()));

    let wrong_prev = next(&v2, &alice, |s| s.prev = Some([0; 32]));
    let public_now = next(&v2, &alice, |s| s.policy = Policy::Public);
    let other_room = next(&v2, &alice, |s| {
        s.id = RoomId::from_slice(&[1; 16]).unwrap()
    });
    let other_nonce = next(&v2, &alice, |s| s.nonce = [8; 16]);
    for bad in [wrong_prev, public_now, other_room, other_nonce] {
        assert_eq!(
            judge(Some(&v2), &bad),
            Verdict::Refused(StateError::BrokenChain(2))
        );
    }
}

#[test]
fn caps_and_malformed_bytes_are_clear_errors() {
    let alice = id(1);
    let v1 = genesis(&alice);
    let mut big = RoomState::next(&v1, 2);
    for n in 0..64u8 {
        big.add(id(n + 10).peer_id());
    }
    assert_eq!(big.sign(&alice), Err(StateError::TooManyMembers));
    let mut long = RoomState::next(&v1, 2);
    long.name = "n".repeat(super::MAX_NAME + 1);
    assert_eq!(long.sign(&alice), Err(StateError::TextTooLong));
    let mut twice = RoomState::next(&v1, 2);
    twice.members.push(twice.members[0]);
    assert!(matches!(twice.sign(&alice), Err(StateError::Malformed(_))));

    assert_eq!(
        SignedState::decode(&vec![0u8; MAX_STATE + 1]),
        Err(StateError::TooLarge(MAX_STATE + 1))
    );
    // Every cut and every flipped byte of a real document: an error, never a panic, and
    // never the same document.
    let bytes = v1.bytes();
    for cut in 0..bytes.len() {
        assert!(SignedState::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    for at in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[at] ^= 0x20;
        if let Ok(s) = SignedState::decode(&b) {
            assert_ne!(s.hash(), v1.hash());
        }
    }
    let decoded = SignedState::decode(bytes).unwrap();
    assert_eq!(decoded, v1);
}

#[test]
fn room_ids_read_back_from_their_text() {
    let rid = RoomId::derive(&id(1).peer_id(), &[3; 16]);
    let text = rid.to_string();
    assert_eq!(text.len(), 26);
    assert_eq!(text.parse::<RoomId>(), Ok(rid));
    assert_eq!(text.to_uppercase().parse::<RoomId>(), Ok(rid));
    assert!("not a room".parse::<RoomId>().is_err());
    assert!(text[..25].parse::<RoomId>().is_err());
}

#[test]
fn a_banned_key_is_no_member_until_an_admin_lifts_the_ban_and_a_leave_keeps_the_list() {
    let (alice, bob, carol) = (id(1), id(2), id(3));
    let v1 = genesis(&alice);
    let v2 = next(&v1, &alice, |s| {
        s.add(bob.peer_id());
        s.add(carol.peer_id());
    });
    // A ban removes the member and lists its key.
    let v3 = next(&v2, &alice, |s| s.ban(bob.peer_id()));
    assert_eq!(judge(Some(&v2), &v3), Verdict::Apply);
    assert!(v3.state().member(&bob.peer_id()).is_none());
    assert!(v3.state().is_banned(&bob.peer_id()));
    assert_eq!(v3.change_since(v2.state()).removed, vec![bob.peer_id()]);
    // No version lists a banned key as a member: it cannot even be signed.
    let mut back = RoomState::next(&v3, 3);
    back.members.push(Member {
        key: bob.peer_id(),
        role: Role::Member,
    });
    assert!(matches!(back.sign(&alice), Err(StateError::Malformed(_))));
    // A member's leave may not lift a ban on the way out.
    let sneaky = next(&v3, &carol, |s| {
        s.remove(&carol.peer_id());
        s.banned.clear();
    });
    assert!(matches!(
        judge(Some(&v3), &sneaky),
        Verdict::Refused(StateError::NotAllowed(_))
    ));
    let leave = next(&v3, &carol, |s| s.remove(&carol.peer_id()));
    assert_eq!(judge(Some(&v3), &leave), Verdict::Apply);
    // An admin lifts it and the key may be added again.
    let v4 = next(&v3, &alice, |s| {
        s.banned.retain(|k| *k != bob.peer_id());
        s.add(bob.peer_id());
    });
    assert_eq!(judge(Some(&v3), &v4), Verdict::Apply);
    // The list survives the wire, and it has a cap.
    assert_eq!(
        SignedState::decode(v3.bytes()).unwrap().state().banned,
        vec![bob.peer_id()]
    );
    let mut full = RoomState::next(&v3, 3);
    full.banned = (0..=MAX_BANNED as u32)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            Identity::from_seed(seed).peer_id()
        })
        .collect();
    assert_eq!(full.sign(&alice).err(), Some(StateError::TooManyBanned));
}
