//! The SAML signing credential: an RSA-2048 key and the self-signed certificate Entra creates
//! for a SAML app ("Microsoft Azure Federated SSO Certificate", valid three years).

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

use crate::keys::{SigningKey, fresh_key, pooled_saml_key};

/// The subject (and issuer) common name of the certificates Entra generates for SAML apps.
pub const CERTIFICATE_SUBJECT_CN: &str = "Microsoft Azure Federated SSO Certificate";

/// How long Entra's generated SAML certificates are valid by default.
pub const CERTIFICATE_VALIDITY: time::Duration = time::Duration::days(3 * 365);

/// A private key with its X.509 certificate, for signing SAML messages.
///
/// Cloning is cheap (shared). Certificates are RSA-2048, SHA-256 with RSA, self-signed, subject
/// `CN=Microsoft Azure Federated SSO Certificate` unless made with [`Self::with_subject`].
#[derive(Clone)]
pub struct SigningCredential(Arc<Inner>);

struct Inner {
    key: Arc<SigningKey>,
    certificate_der: Vec<u8>,
    certificate_pem: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for SigningCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredential")
            .field("thumbprint", &self.thumbprint())
            .field("not_before", &self.0.not_before)
            .field("not_after", &self.0.not_after)
            .finish_non_exhaustive()
    }
}

/// Why a credential could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    #[error("the certificate must start before it ends")]
    EmptyValidity,
}

impl SigningCredential {
    /// A brand-new RSA-2048 key (a fraction of a second) and its certificate, valid from now
    /// for three years.
    pub fn generate() -> Self {
        Self::for_key(fresh_key(), OffsetDateTime::now_utc())
    }

    /// A key no emulator ever signs with, with a certificate that looks like Entra's (same
    /// subject, valid now): for "signed with the wrong key" and "certificate embedded in
    /// `KeyInfo`" tests. The same key for the whole process, so calling it is cheap.
    pub fn attacker() -> Self {
        static ATTACKER: LazyLock<Arc<SigningKey>> = LazyLock::new(fresh_key);
        Self::for_key(ATTACKER.clone(), OffsetDateTime::now_utc())
    }

    /// The `index`th SAML key of the process-wide pool, with a fresh certificate from `now`.
    pub(crate) fn pooled(index: usize, now: OffsetDateTime) -> Self {
        Self::for_key(pooled_saml_key(index), now)
    }

    fn for_key(key: Arc<SigningKey>, now: OffsetDateTime) -> Self {
        // Entra's certificates start at the minute they are created.
        let not_before = now.replace_nanosecond(0).unwrap_or(now);
        match Self::certify(key, not_before, not_before + CERTIFICATE_VALIDITY, None) {
            Ok(credential) => credential,
            // The inputs are fixed and valid: only a broken crypto stack fails here.
            Err(e) => panic!("SAML certificate generation: {e}"),
        }
    }

    /// The same key with a new certificate valid from `not_before` to `not_after` (e.g. one
    /// that expires in a week, or expired yesterday, for certificate-expiry warnings).
    pub fn with_validity(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, CredentialError> {
        Self::certify(self.0.key.clone(), not_before, not_after, None)
    }

    /// The same key and validity with another subject common name.
    pub fn with_subject(&self, common_name: &str) -> Result<Self, CredentialError> {
        Self::certify(
            self.0.key.clone(),
            self.0.not_before,
            self.0.not_after,
            Some(common_name),
        )
    }

    fn certify(
        key: Arc<SigningKey>,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        common_name: Option<&str>,
    ) -> Result<Self, CredentialError> {
        if not_after <= not_before {
            return Err(CredentialError::EmptyValidity);
        }
        let failed = |e: rcgen::Error| CredentialError::Certificate(e.to_string());
        let key_pair = rcgen::KeyPair::try_from(key.pkcs8_der.as_slice()).map_err(failed)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            common_name.unwrap_or(CERTIFICATE_SUBJECT_CN),
        );
        params.not_before = not_before;
        params.not_after = not_after;
        // A positive 16-byte serial, as Entra's certificates have.
        let mut serial = [0u8; 16];
        rand::fill(&mut serial[..]);
        serial[0] = (serial[0] & 0x7f) | 0x10;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let certificate = params.self_signed(&key_pair).map_err(failed)?;
        Ok(SigningCredential(Arc::new(Inner {
            key,
            certificate_der: certificate.der().to_vec(),
            certificate_pem: certificate.pem(),
            not_before,
            not_after,
        })))
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate_der
    }

    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`), what the portal's
    /// "Certificate (Base64)" download holds.
    pub fn certificate_pem(&self) -> &str {
        &self.0.certificate_pem
    }

    /// Standard base64 of the DER on one line: the text of `ds:X509Certificate` in metadata
    /// and in signatures.
    pub fn certificate_base64(&self) -> String {
        STANDARD.encode(&self.0.certificate_der)
    }

    /// SHA-1 of the certificate DER in uppercase hex: the "Thumbprint" the portal shows.
    pub fn thumbprint(&self) -> String {
        Sha1::digest(&self.0.certificate_der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.0.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.0.not_after
    }

    /// The public key as `SubjectPublicKeyInfo` DER (what a verifier pins).
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.0.key.spki_der
    }

    /// Whether both credentials sign with the same key (their certificates may differ).
    pub fn same_key_as(&self, other: &SigningCredential) -> bool {
        self.0.key.spki_der == other.0.key.spki_der
    }

    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.0.key.pkcs8_der
    }
}
