//! Owns key authentication in the TLS handshake: both sides present their ed25519 key as an
//! RFC 7250 raw public key; the dialler accepts only the pinned key, the acceptor refuses
//! blocked keys inside the handshake and hands any other well-formed key to the privacy
//! policy before any application data.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::PeerId;

/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The SubjectPublicKeyInfo DER of a key.
pub(crate) fn spki_of(peer: &PeerId) -> Vec<u8> {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(peer.as_bytes());
    der
}

/// The key in an ed25519 SubjectPublicKeyInfo, if it is exactly one.
pub(crate) fn peer_of_spki(der: &[u8]) -> Option<PeerId> {
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    PeerId::from_bytes(key.try_into().ok()?).ok()
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn verify13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoSignatureSchemesInCommon,
        ));
    }
    rustls::crypto::verify_tls13_signature_with_raw_key(
        message,
        &SubjectPublicKeyInfoDer::from(cert.as_ref()),
        dss,
        &algorithms(),
    )
}

fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls13RequiredForQuic,
    ))
}

/// Dialling side: accepts exactly one key.
#[derive(Debug)]
pub(crate) struct PinnedKey {
    pub(crate) expected: PeerId,
    /// The key the peer presented when it was not the expected one.
    pub(crate) presented: Arc<Mutex<Option<PeerId>>>,
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(key) = peer_of_spki(end_entity) else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        };
        if key != self.expected {
            if let Ok(mut p) = self.presented.lock() {
                *p = Some(key);
            }
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The keys refused inside the handshake: one set shared by the TLS verifier, the node's
/// policy and its sessions, changed in the same store job that writes the block list, so
/// nothing sees a block later than the database does.
#[derive(Clone, Debug, Default)]
pub struct BlockList(Arc<RwLock<HashSet<PeerId>>>);

impl BlockList {
    /// A list holding these keys.
    pub fn new(keys: impl IntoIterator<Item = PeerId>) -> Self {
        Self(Arc::new(RwLock::new(keys.into_iter().collect())))
    }

    /// Whether the key is blocked.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(peer)
    }

    /// Puts the key on the list (`true`) or takes it off.
    pub fn set(&self, peer: PeerId, blocked: bool) {
        let mut keys = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if blocked {
            keys.insert(peer);
        } else {
            keys.remove(&peer);
        }
    }
}

/// Accepting side: any well-formed ed25519 key that is not blocked; the privacy policy
/// decides about the rest after the handshake. A blocked key's handshake fails at its
/// certificate: it never gets a connection, a stream or a byte of application data.
#[derive(Debug)]
pub(crate) struct AnyKey {
    pub(crate) blocked: BlockList,
}

impl ClientCertVerifier for AnyKey {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match peer_of_spki(end_entity) {
            Some(peer) if self.blocked.contains(&peer) => {
                tracing::debug!("blocked key refused in the handshake");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn spki_round_trips_and_rejects_anything_else() {
        let id = Identity::generate().peer_id();
        let der = spki_of(&id);
        assert_eq!(der.len(), 44);
        assert_eq!(peer_of_spki(&der), Some(id));
        assert_eq!(peer_of_spki(&der[..43]), None);
        let mut longer = der.clone();
        longer.push(0);
        assert_eq!(peer_of_spki(&longer), None);
        let mut other_alg = der;
        other_alg[8] = 0x6e; // X448 OID
        assert_eq!(peer_of_spki(&other_alg), None);
    }

    #[test]
    fn the_acceptor_refuses_a_blocked_key_at_its_certificate() {
        let (friend, foe) = (
            Identity::generate().peer_id(),
            Identity::generate().peer_id(),
        );
        let blocked = BlockList::new([foe]);
        let verifier = AnyKey {
            blocked: blocked.clone(),
        };
        let cert = |p: &PeerId| CertificateDer::from(spki_of(p));
        let now = UnixTime::now();
        assert!(
            verifier
                .verify_client_cert(&cert(&friend), &[], now)
                .is_ok()
        );
        assert!(verifier.verify_client_cert(&cert(&foe), &[], now).is_err());
        // A block or an unblock reaches the next handshake through the shared list.
        blocked.set(friend, true);
        blocked.set(foe, false);
        assert!(
            verifier
                .verify_client_cert(&cert(&friend), &[], now)
                .is_err()
        );
        assert!(verifier.verify_client_cert(&cert(&foe), &[], now).is_ok());
    }
}
