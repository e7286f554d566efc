//! Key fingerprints: what a pin records and what roles are bound to.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::NetError;

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (the DER of the public key with its
/// algorithm), shown as 64 lowercase hex digits.
///
/// It names the key, not the certificate: re-issuing a certificate for the same key keeps
/// the fingerprint. It is public information.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of the key in a DER X.509 certificate, or `None` if the
    /// certificate cannot be parsed.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let der = CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der).ok()?;
        Some(Self::of_spki(&cert.subject_public_key_info()))
    }

    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki: &[u8]) -> Self {
        Fingerprint(Sha256::digest(spki).into())
    }

    /// The 32 raw bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for Fingerprint {
    fn from(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl FromStr for Fingerprint {
    type Err = NetError;

    /// Parses 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, NetError> {
        let mut bytes = [0u8; 32];
        match hex::decode_to_slice(s, &mut bytes) {
            Ok(()) => Ok(Fingerprint(bytes)),
            Err(_) => Err(NetError::InvalidFingerprint(shorten(s))),
        }
    }
}

/// Keeps error messages short when the input is long.
fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let fp = Fingerprint::of_spki(b"some key");
        let back: Fingerprint = fp.to_hex().parse().unwrap();
        assert_eq!(fp, back);
        assert_eq!(fp.to_hex().len(), 64);
        let upper: Fingerprint = fp.to_hex().to_uppercase().parse().unwrap();
        assert_eq!(fp, upper);
    }

    #[test]
    fn rejects_non_fingerprints() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(66)] {
            assert!(matches!(
                bad.parse::<Fingerprint>(),
                Err(NetError::InvalidFingerprint(_))
            ));
        }
    }
}
