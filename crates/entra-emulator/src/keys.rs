//! Signing keys: RSA-2048 with a self-signed certificate, `kid` = `x5t` = base64url(SHA-1(cert)),
//! as Microsoft publishes them.
//!
//! RSA key generation takes a noticeable fraction of a second, so keys come from a process-wide
//! pool: every emulator in a test process reuses the same few keys, while each emulator still
//! sees distinct keys for its own rotations.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use parking_lot::Mutex;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use sha1::{Digest, Sha1};

/// One RSA signing key with everything the JWKS and the signer need.
pub(crate) struct SigningKey {
    /// base64url(SHA-1(certificate DER)), Microsoft's `kid` and `x5t`.
    pub kid: String,
    /// The same thumbprint as 40 lowercase hex digits, Google's `kid` form.
    pub hex_kid: String,
    pub n: String,
    pub e: String,
    /// Standard base64 of the certificate DER, as in `x5c`.
    pub x5c: String,
    pub encoding: EncodingKey,
    /// SPKI PEM of the public key: the "secret" of the HS256 key-confusion misbehaviour.
    pub public_pem: String,
    /// The private key as PKCS#8 DER, what the XML signer (SAML) loads.
    pub pkcs8_der: Vec<u8>,
    /// The public key as SPKI DER.
    pub spki_der: Vec<u8>,
}

type Pool = LazyLock<Mutex<Vec<Arc<SigningKey>>>>;

static POOL: Pool = LazyLock::new(|| Mutex::new(Vec::new()));
/// SAML signing keys live in their own pool so that no SAML certificate ever shares its key
/// with a JWKS key: Entra keeps the two apart, and a test mixing them up must fail.
static SAML_POOL: Pool = LazyLock::new(|| Mutex::new(Vec::new()));

/// The `index`th key of the process-wide pool, generating keys up to it if needed.
pub(crate) fn pooled_key(index: usize) -> Arc<SigningKey> {
    from_pool(&POOL, index)
}

/// The `index`th key of the SAML pool.
pub(crate) fn pooled_saml_key(index: usize) -> Arc<SigningKey> {
    from_pool(&SAML_POOL, index)
}

fn from_pool(pool: &Pool, index: usize) -> Arc<SigningKey> {
    let mut pool = pool.lock();
    while pool.len() <= index {
        pool.push(Arc::new(generate()));
    }
    pool[index].clone()
}

/// A key of nobody's pool: for callers that need a key no emulator will ever use.
pub(crate) fn fresh_key() -> Arc<SigningKey> {
    Arc::new(generate())
}

/// rsa 0.9 speaks rand_core 0.6; the workspace's `rand` is 0.9. Bridge with the OS RNG.
struct OsRng06;

impl rsa::rand_core::RngCore for OsRng06 {
    fn next_u32(&mut self) -> u32 {
        rand::random()
    }
    fn next_u64(&mut self) -> u64 {
        rand::random()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        rand::fill(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for OsRng06 {}

fn generate() -> SigningKey {
    // Failures here mean a broken crypto stack, not bad input: nothing to recover from.
    let private = rsa::RsaPrivateKey::new(&mut OsRng06, 2048).expect("RSA key generation");
    let pkcs1 = private.to_pkcs1_der().expect("PKCS#1 encoding");
    let pkcs8 = private.to_pkcs8_der().expect("PKCS#8 encoding");
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("SPKI PEM encoding");
    let spki_der = private
        .to_public_key()
        .to_public_key_der()
        .expect("SPKI DER encoding")
        .into_vec();
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_bytes()).expect("rcgen accepts the RSA key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "accounts.accesscontrol.windows.net",
    );
    let cert = params
        .self_signed(&key_pair)
        .expect("self-signed certificate");
    let der = cert.der();
    let thumbprint = Sha1::digest(der.as_ref());
    SigningKey {
        kid: URL_SAFE_NO_PAD.encode(thumbprint),
        hex_kid: thumbprint.iter().map(|b| format!("{b:02x}")).collect(),
        n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        x5c: STANDARD.encode(der.as_ref()),
        encoding: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
        public_pem,
        pkcs8_der: pkcs8.as_bytes().to_vec(),
        spki_der,
    }
}

impl SigningKey {
    /// Whether `kid` names this key, in either form.
    pub fn is(&self, kid: &str) -> bool {
        self.kid == kid || self.hex_kid == kid
    }
}

/// Which issuer a published key is restricted to (its JWKS `issuer` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyIssuer {
    /// `{authority}/{tenantid}/v2.0`: usable by any Entra tenant.
    Template,
    /// The personal-account tenant's GUID issuer.
    Msa,
}

/// Why a key operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no published signing key has kid `{0}`")]
    UnknownKid(String),
    #[error("key `{0}` signs tokens right now; switch to another key before retiring it")]
    ActiveKey(String),
}

/// One emulator's published keys (each with a tag the JWKS writes, e.g. its `issuer`) and the
/// one it signs with.
pub(crate) struct Keyring<T = KeyIssuer> {
    published: Vec<(Arc<SigningKey>, T)>,
    active: Arc<SigningKey>,
    next_index: usize,
    /// A key this emulator never publishes, for the "unknown signing key" misbehaviour.
    rogue: Option<Arc<SigningKey>>,
}

impl Keyring<KeyIssuer> {
    /// Two keys, as Microsoft's JWKS has: an Entra key (signing) and the MSA-issuer key.
    pub fn new() -> Keyring {
        Keyring::with_tags(&[KeyIssuer::Template, KeyIssuer::Msa])
    }

    /// Publishes a new Entra key without signing with it yet.
    pub fn add(&mut self) -> String {
        self.publish(KeyIssuer::Template)
    }
}

impl<T: Copy> Keyring<T> {
    /// One published key per tag, from the process-wide pool; the first one signs.
    ///
    /// # Panics
    /// If `tags` is empty.
    pub fn with_tags(tags: &[T]) -> Keyring<T> {
        let published: Vec<(Arc<SigningKey>, T)> = tags
            .iter()
            .enumerate()
            .map(|(index, tag)| (pooled_key(index), *tag))
            .collect();
        let active = published[0].0.clone();
        Keyring {
            published,
            active,
            next_index: tags.len(),
            rogue: None,
        }
    }

    fn take_fresh(&mut self) -> Arc<SigningKey> {
        let key = pooled_key(self.next_index);
        self.next_index += 1;
        key
    }

    pub fn published(&self) -> impl Iterator<Item = &(Arc<SigningKey>, T)> {
        self.published.iter()
    }

    pub fn active(&self) -> Arc<SigningKey> {
        self.active.clone()
    }

    pub fn rogue(&mut self) -> Arc<SigningKey> {
        if let Some(key) = &self.rogue {
            return key.clone();
        }
        let key = self.take_fresh();
        self.rogue = Some(key.clone());
        key
    }

    /// Publishes a new key with `tag` without signing with it yet; returns its `kid`.
    pub fn publish(&mut self, tag: T) -> String {
        let key = self.take_fresh();
        let kid = key.kid.clone();
        self.published.push((key, tag));
        kid
    }

    pub fn use_key(&mut self, kid: &str) -> Result<(), KeyError> {
        let key = self
            .published
            .iter()
            .find(|(k, _)| k.is(kid))
            .map(|(k, _)| k.clone())
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        self.active = key;
        Ok(())
    }

    pub fn retire(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.active.is(kid) {
            return Err(KeyError::ActiveKey(kid.to_owned()));
        }
        let before = self.published.len();
        self.published.retain(|(k, _)| !k.is(kid));
        if self.published.len() == before {
            return Err(KeyError::UnknownKid(kid.to_owned()));
        }
        Ok(())
    }
}
