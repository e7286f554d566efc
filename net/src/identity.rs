//! Long-term identities: one key and self-signed certificate per role.
//!
//! Files, in the state folder: `identity-<role>.key` (PKCS#8 PEM, mode 0600) and
//! `identity-<role>.crt` (X.509 PEM). The key is the identity; the certificate is derived
//! from it and is re-made if missing or if it does not match the key.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::state::{ensure_dir, io_err, replace, write_new};
use crate::{Fingerprint, NetError};

/// The DNS name written into every veil certificate and sent as TLS server name. Peers
/// are identified by key fingerprint, never by this name.
pub(crate) const CERT_NAME: &str = "veil";

/// A long-term key pair with its self-signed certificate.
///
/// `Debug` shows the role and fingerprint only, never the key.
pub struct Identity {
    role: String,
    key: PrivatePkcs8KeyDer<'static>,
    cert: CertificateDer<'static>,
    fingerprint: Fingerprint,
}

impl Identity {
    /// Loads the identity of `role` from `dir`, creating the folder, key and certificate
    /// on first use.
    ///
    /// `role` names the files (`identity-<role>.key`/`.crt`): lowercase letters, digits
    /// and `-` only.
    pub fn load_or_create(dir: &Path, role: &str) -> Result<Identity, NetError> {
        check_role(role)?;
        ensure_dir(dir)?;
        let key_path = dir.join(format!("identity-{role}.key"));
        let cert_path = dir.join(format!("identity-{role}.crt"));
        let key_pair = load_or_create_key(&key_path)?;
        let cert = load_or_make_cert(&cert_path, &key_pair, role)?;
        Identity::assemble(role, &key_pair, cert)
    }

    /// A fresh identity held in memory only (tests, benchmarks).
    pub fn ephemeral(role: &str) -> Result<Identity, NetError> {
        check_role(role)?;
        let key_pair = KeyPair::generate()?;
        let cert = make_cert(&key_pair, role)?;
        Identity::assemble(role, &key_pair, cert.der().clone())
    }

    /// The role this identity was made for.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The fingerprint peers pin: SHA-256 of the certificate's SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The DER certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The certificate chain and private key, as rustls wants them.
    pub(crate) fn tls_parts(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone_key()),
        )
    }

    fn assemble(
        role: &str,
        key_pair: &KeyPair,
        cert: CertificateDer<'static>,
    ) -> Result<Identity, NetError> {
        let fingerprint = Fingerprint::of_spki(&key_pair.public_key_der());
        Ok(Identity {
            role: role.to_string(),
            key: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
            cert,
            fingerprint,
        })
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            role: self.role.clone(),
            key: self.key.clone_key(),
            cert: self.cert.clone(),
            fingerprint: self.fingerprint,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("role", &self.role)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn check_role(role: &str) -> Result<(), NetError> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NetError::InvalidRole(role.chars().take(80).collect()))
    }
}

fn load_or_create_key(path: &Path) -> Result<KeyPair, NetError> {
    if !path.exists() {
        let fresh = KeyPair::generate()?;
        if write_new(path, fresh.serialize_pem().as_bytes(), 0o600)? {
            tracing::info!(path = %path.display(), "created a new identity key");
            return Ok(fresh);
        }
        // Another process created it first: use theirs.
    }
    warn_if_exposed(path);
    let pem = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    KeyPair::from_pem(&pem).map_err(|_| bad_file(path, "not a PKCS#8 PEM private key"))
}

fn load_or_make_cert(
    path: &Path,
    key_pair: &KeyPair,
    role: &str,
) -> Result<CertificateDer<'static>, NetError> {
    let wanted = Fingerprint::of_spki(&key_pair.public_key_der());
    match CertificateDer::from_pem_file(path) {
        Ok(cert) if Fingerprint::of_certificate(&cert) == Some(wanted) => return Ok(cert),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "certificate does not match the key; re-making it")
        }
        Err(_) if !path.exists() => {}
        Err(_) => tracing::warn!(path = %path.display(), "certificate unreadable; re-making it"),
    }
    let cert = make_cert(key_pair, role)?;
    replace(path, cert.pem().as_bytes(), 0o644)?;
    Ok(cert.der().clone())
}

fn make_cert(key_pair: &KeyPair, role: &str) -> Result<rcgen::Certificate, NetError> {
    let mut params = CertificateParams::new(vec![CERT_NAME.to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("veil {role}"));
    Ok(params.self_signed(key_pair)?)
}

fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "identity key is readable by other users; chmod 600 it");
        }
    }
}

fn bad_file(path: &Path, reason: &'static str) -> NetError {
    NetError::BadStateFile {
        path: PathBuf::from(path),
        line: None,
        reason,
    }
}

#[cfg(test)]
mod tests;
