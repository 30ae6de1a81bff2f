use super::*;

fn hex(s: &str) -> Vec<u8> {
    data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
}

/// RFC 9180 Appendix A.2.3 (Auth mode; DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// ChaCha20Poly1305), the encryption with sequence number 0, opened with the suite we use.
#[test]
fn rfc9180_a_2_3_auth_mode_known_answer() {
    let sk_r = PrekeySecret::from_bytes(&hex(
        "3ca22a6d1cda1bb9480949ec5329d3bf0b080ca4c45879c95eddb55c70b80b82",
    ))
    .unwrap();
    let pk_s = <SuiteKem as Kem>::PublicKey::from_bytes(&hex(
        "f0f4f9e96c54aeed3f323de8534fffd7e0577e4ce269896716bcb95643c8712b",
    ))
    .unwrap();
    let enc = <SuiteKem as Kem>::EncappedKey::from_bytes(&hex(
        "f7674cc8cd7baa5872d1f33dbaffe3314239f6197ddf5ded1746760bfc847e0e",
    ))
    .unwrap();
    let ct = hex(
        "ab1a13c9d4f01a87ec3440dbd756e2677bd2ecf9df0ce7ed73869b98e00c09be111cb9fdf077347aeb88e61bdf",
    );
    let info = hex("4f6465206f6e2061204772656369616e2055726e");
    let pt = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(
        &OpModeR::Auth(pk_s.clone()),
        &sk_r,
        &enc,
        &info,
        &ct,
        b"Count-0",
    )
    .unwrap();
    assert_eq!(pt, b"Beauty is truth, truth beauty");
    // The same ciphertext under another sender key does not open: auth mode binds it.
    let (_, other) = SuiteKem::gen_keypair();
    assert!(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(
            &OpModeR::Auth(other),
            &sk_r,
            &enc,
            &info,
            &ct,
            b"Count-0",
        )
        .is_err()
    );
}

struct Party {
    id: Identity,
    prekey: OwnPrekey,
}

/// The seal time of the tests (ms).
const NOW: u64 = 1_000_000;

fn party() -> Party {
    party_until(1 << 50)
}

fn party_until(expires_ms: u64) -> Party {
    let (sk, _) = SuiteKem::gen_keypair();
    Party {
        id: Identity::generate(),
        prekey: OwnPrekey::new(sk, expires_ms),
    }
}

fn to<'a>(p: &Party, peer: &'a PeerId) -> Recipient<'a> {
    Recipient {
        peer,
        prekey: p.prekey.public,
        expires_ms: p.prekey.expires_ms,
    }
}

fn sealed(from: &Party, to_: &Party, text: &[u8]) -> Vec<u8> {
    let peer = to_.id.peer_id();
    seal(
        &from.id,
        &from.prekey,
        &to(to_, &peer),
        [5; 16],
        KIND_CHAT,
        text,
        NOW,
    )
    .unwrap()
}

#[test]
fn a_sealed_message_opens_for_its_recipient_naming_its_sender() {
    let (a, c) = (party(), party());
    let bytes = sealed(&a, &c, b"hello offline");
    let o = open(&c.id.peer_id(), std::slice::from_ref(&c.prekey), &bytes).unwrap();
    assert_eq!(o.sender, a.id.peer_id());
    assert_eq!(o.msg_id, [5; 16]);
    assert_eq!(o.plaintext, b"hello offline");
    assert_eq!(o.sealed_ms, NOW);
    // Sealed to another prekey of the same identity (rotated away): unknown here.
    let rotated = party_like(&c);
    let bytes = sealed(&a, &rotated, b"hi");
    assert_eq!(
        open(&c.id.peer_id(), std::slice::from_ref(&c.prekey), &bytes),
        Err(SealError::UnknownPrekey)
    );
    // Both the current and the previous prekey open.
    let both = [rotated.prekey, c.prekey];
    assert!(open(&c.id.peer_id(), &both, &bytes).is_ok());
}

/// A party with the same identity as `p` but a fresh prekey.
fn party_like(p: &Party) -> Party {
    let (sk, _) = SuiteKem::gen_keypair();
    Party {
        id: p.id.clone(),
        prekey: OwnPrekey::new(sk, 1 << 50),
    }
}

#[test]
fn tampering_anywhere_is_refused() {
    let (a, c) = (party(), party());
    let bytes = sealed(&a, &c, b"hello");
    let mut env = Envelope::decode(bytes.as_slice()).unwrap();
    let me = c.id.peer_id();
    let keys = std::slice::from_ref(&c.prekey);

    let mut e = env.clone();
    let last = e.ciphertext.len() - 1;
    e.ciphertext[last] ^= 1;
    assert_eq!(
        open(&me, keys, &e.encode_to_vec()),
        Err(SealError::Tampered)
    );

    // A changed header (the AAD) does not authenticate either.
    let mut e = env.clone();
    e.msg_id[0] ^= 1;
    assert_eq!(
        open(&me, keys, &e.encode_to_vec()),
        Err(SealError::Tampered)
    );

    // Another identity claiming to be the sender: its signature over the prekey fails.
    let b = party();
    env.sender = b.id.peer_id().as_bytes().to_vec();
    assert_eq!(
        open(&me, keys, &env.encode_to_vec()),
        Err(SealError::WrongSender)
    );
}

#[test]
fn wrong_recipient_and_wrong_sender_key_are_refused() {
    let (a, b, c) = (party(), party(), party());
    let bytes = sealed(&a, &c, b"for c");
    assert_eq!(
        open(&b.id.peer_id(), std::slice::from_ref(&b.prekey), &bytes),
        Err(SealError::WrongRecipient)
    );
    // b re-signs a's envelope with its own identity but cannot redo a's HPKE auth.
    let mut env = Envelope::decode(bytes.as_slice()).unwrap();
    env.sender = b.id.peer_id().as_bytes().to_vec();
    env.sender_prekey = b.prekey.public.to_vec();
    env.sender_prekey_sig =
        b.id.sign(&prekey_message(
            &b.prekey.public,
            env.sender_prekey_expires_ms,
        ))
        .to_vec();
    assert_eq!(
        open(
            &c.id.peer_id(),
            std::slice::from_ref(&c.prekey),
            &env.encode_to_vec()
        ),
        Err(SealError::Tampered)
    );
}

/// Envelopes of another format (the unsigned v1 of older builds, still waiting in
/// mailboxes after an upgrade) are refused before anything else, by their version.
#[test]
fn an_envelope_of_another_version_is_refused_by_its_version() {
    let (a, c) = (party(), party());
    let mut env = Envelope::decode(sealed(&a, &c, b"hi").as_slice()).unwrap();
    let keys = std::slice::from_ref(&c.prekey);
    for v in [0, 1, 3] {
        env.version = v;
        assert_eq!(
            open(&c.id.peer_id(), keys, &env.encode_to_vec()),
            Err(SealError::Version(v))
        );
    }
}

/// The sender never seals to a recipient prekey that has expired, nor from its own.
#[test]
fn a_sender_refuses_an_expired_prekey_on_either_side() {
    let (a, c) = (party(), party_until(NOW));
    let peer = c.id.peer_id();
    let at = |now| {
        seal(
            &a.id,
            &a.prekey,
            &to(&c, &peer),
            [1; 16],
            KIND_CHAT,
            b"x",
            now,
        )
    };
    assert_eq!(at(NOW), Err(SealError::RecipientPrekeyExpired));
    assert_eq!(at(NOW + 1), Err(SealError::RecipientPrekeyExpired));
    assert!(at(NOW - 1).is_ok());

    let (old, c) = (party_until(NOW), party());
    let peer = c.id.peer_id();
    let at = |now| {
        seal(
            &old.id,
            &old.prekey,
            &to(&c, &peer),
            [1; 16],
            KIND_CHAT,
            b"x",
            now,
        )
    };
    assert_eq!(at(NOW), Err(SealError::SenderPrekeyExpired));
    assert!(at(NOW - 1).is_ok());
}

/// The recipient refuses what was sealed (signed seal time) to a prekey of its own that had
/// expired by then, or from a sender prekey that had; a prekey valid when the message was
/// sealed still opens it later (mail waits at the server).
#[test]
fn a_recipient_refuses_mail_sealed_after_either_prekey_expired() {
    let (a, c) = (party(), party_until(NOW));
    let peer = c.id.peer_id();
    let keys = std::slice::from_ref(&c.prekey);
    let sealed_at = |t| {
        seal_at(
            &a.id,
            &a.prekey,
            &to(&c, &peer),
            [1; 16],
            KIND_CHAT,
            b"x",
            t,
        )
    };
    assert_eq!(
        open(&peer, keys, &sealed_at(NOW).unwrap()),
        Err(SealError::RecipientPrekeyExpired)
    );
    // Sealed while valid: opens whatever the time now.
    assert!(open(&peer, keys, &sealed_at(NOW - 1).unwrap()).is_ok());

    let (old, c) = (party_until(NOW), party());
    let peer = c.id.peer_id();
    let keys = std::slice::from_ref(&c.prekey);
    let sealed_at = |t| {
        seal_at(
            &old.id,
            &old.prekey,
            &to(&c, &peer),
            [1; 16],
            KIND_CHAT,
            b"x",
            t,
        )
    };
    assert_eq!(
        open(&peer, keys, &sealed_at(NOW + 5).unwrap()),
        Err(SealError::SenderPrekeyExpired)
    );
    assert!(open(&peer, keys, &sealed_at(NOW - 1).unwrap()).is_ok());
}

proptest::proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let c = party();
        let _ = open(&c.id.peer_id(), std::slice::from_ref(&c.prekey), &bytes);
    }
}

mod kci;
