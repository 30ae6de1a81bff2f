//! Key-compromise impersonation (RFC 9180 §9.1.1): whoever holds a recipient's prekey secret
//! can decapsulate HPKE auth mode as the recipient does, naming any sender's public prekey,
//! and so derive the key a genuine sender would have used. The forger below does exactly
//! that (the RFC 9180 §5.1 key schedule by hand); the tests show its envelopes pass HPKE and
//! are refused only because the sender's identity did not sign them.

use super::*;
use ring::{aead, hmac};

const SUITE: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x03"; // DHKEM(X25519), HKDF-SHA256, ChaCha20Poly1305
const MODE_AUTH: u8 = 2;

fn labeled_extract(salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; 32] {
    let mut input = b"HPKE-v1".to_vec();
    input.extend_from_slice(SUITE);
    input.extend_from_slice(label);
    input.extend_from_slice(ikm);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), &input);
    tag.as_ref().try_into().unwrap()
}

/// One HKDF-Expand block (enough for a 32-byte key and a 12-byte nonce).
fn labeled_expand(prk: &[u8; 32], label: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut input = (len as u16).to_be_bytes().to_vec();
    input.extend_from_slice(b"HPKE-v1");
    input.extend_from_slice(SUITE);
    input.extend_from_slice(label);
    input.extend_from_slice(info);
    input.push(1);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk), &input);
    tag.as_ref()[..len].to_vec()
}

/// Seals `plaintext` "from" the holder of `pk_s` to the holder of `sk_r`, knowing only
/// `sk_r`: returns (enc, ciphertext).
fn forge(sk_r: &PrekeySecret, pk_s: &[u8], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (_, pk_e) = SuiteKem::gen_keypair();
    let enc = <SuiteKem as Kem>::EncappedKey::from_bytes(&pk_e.to_bytes()).unwrap();
    let pk_s = <SuiteKem as Kem>::PublicKey::from_bytes(pk_s).unwrap();
    // The recipient's own computation: DH(sk_r, enc) || DH(sk_r, pk_s).
    let shared = SuiteKem::decap(sk_r, Some(&pk_s), &enc).unwrap();
    let psk_id_hash = labeled_extract(b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(b"", b"info_hash", INFO);
    let mut context = vec![MODE_AUTH];
    context.extend_from_slice(&psk_id_hash);
    context.extend_from_slice(&info_hash);
    let secret = labeled_extract(&shared.0, b"secret", b"");
    let key = labeled_expand(&secret, b"key", &context, 32);
    let nonce = labeled_expand(&secret, b"base_nonce", &context, 12);
    let key =
        aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &key).unwrap());
    let mut ct = plaintext.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::try_assume_unique_for_key(&nonce).unwrap(),
        aead::Aad::from(aad),
        &mut ct,
    )
    .unwrap();
    (enc.to_bytes().to_vec(), ct)
}

/// The mallory who stole `c`'s prekey secret writes to `c` as `a`: a's public prekey and
/// its identity's signature over it are public (every envelope a sends carries them).
fn forged_from(a: &Party, c: &Party, inner: &Signed, genuine: &[u8]) -> (Envelope, Vec<u8>) {
    let mut env = Envelope::decode(genuine).unwrap();
    let (enc, ct) = forge(
        &c.prekey.secret,
        &a.prekey.public,
        &env.aad(),
        &inner.encode_to_vec(),
    );
    env.enc = enc;
    env.ciphertext = ct;
    let bytes = env.encode_to_vec();
    (env, bytes)
}

fn hpke_opens(c: &Party, env: &Envelope) -> bool {
    let pk_s = <SuiteKem as Kem>::PublicKey::from_bytes(&env.sender_prekey).unwrap();
    let enc = <SuiteKem as Kem>::EncappedKey::from_bytes(&env.enc).unwrap();
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(
        &OpModeR::Auth(pk_s),
        &c.prekey.secret,
        &enc,
        INFO,
        &env.ciphertext,
        &env.aad(),
    )
    .is_ok()
}

#[test]
fn a_stolen_recipient_prekey_cannot_forge_mail_from_a_contact() {
    let (a, c, mallory) = (party(), party(), party());
    let me = c.id.peer_id();
    let keys = std::slice::from_ref(&c.prekey);
    // Any envelope a ever sealed (to anyone) shows a's prekey and its signature.
    let genuine = sealed(&a, &c, b"a real one");

    // No signature, or mallory's own: HPKE auth accepts it as a's (the attack is real) but
    // the envelope is refused.
    for signature in [vec![0; 64], mallory.id.sign(b"anything").to_vec()] {
        let inner = Signed {
            body: b"send the money to mallory".to_vec(),
            sealed_ms: NOW,
            signature,
        };
        let (env, bytes) = forged_from(&a, &c, &inner, &genuine);
        assert!(hpke_opens(&c, &env), "the forger must pass HPKE auth mode");
        assert_eq!(open(&me, keys, &bytes), Err(SealError::Forged));
    }

    // a's genuine signature lifted out of a real envelope (mallory opens it with the stolen
    // key) covers neither another body nor another encapsulation.
    let real = Envelope::decode(genuine.as_slice()).unwrap();
    let inner = Signed::decode(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SuiteKem>(
            &OpModeR::Auth(<SuiteKem as Kem>::PublicKey::from_bytes(&a.prekey.public).unwrap()),
            &c.prekey.secret,
            &<SuiteKem as Kem>::EncappedKey::from_bytes(&real.enc).unwrap(),
            INFO,
            &real.ciphertext,
            &real.aad(),
        )
        .unwrap()
        .as_slice(),
    )
    .unwrap();
    let mut other_body = inner.clone();
    other_body.body = b"another text".to_vec();
    let (env, bytes) = forged_from(&a, &c, &other_body, &genuine);
    assert!(hpke_opens(&c, &env));
    assert_eq!(open(&me, keys, &bytes), Err(SealError::Forged));
    // The same body and signature under a fresh encapsulation (a replay as a new envelope).
    let (env, bytes) = forged_from(&a, &c, &inner, &genuine);
    assert!(hpke_opens(&c, &env));
    assert_eq!(open(&me, keys, &bytes), Err(SealError::Forged));
    // The genuine one still opens.
    assert!(open(&me, keys, &genuine).is_ok());
}
