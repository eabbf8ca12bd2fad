use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The master keys from `ONTRACKIO_MASTER_KEY`: `id:key,…` (or one bare key, id `k1`).
/// The first key seals; every key opens, so old values stay readable during rotation.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<(String, Zeroizing<[u8; 32]>)>,
}

/// Opening failed: wrong key, tampered data, or a value sealed for another purpose.
#[derive(Debug, thiserror::Error)]
#[error("the sealed value could not be opened")]
pub struct SealError;

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "KeyRing({ids:?})")
    }
}

impl KeyRing {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (i, part) in raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let (id, b64) = match part.split_once(':') {
                Some((id, k)) => (id.trim().to_string(), k.trim()),
                None if i == 0 => ("k1".to_string(), part),
                None => bail!("entry {} has no id: use id:key,… for several keys", i + 1),
            };
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("key id “{id}” must be letters, digits, - or _");
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(b64)
                    .map_err(|_| anyhow::anyhow!("key “{id}” is not base64"))?,
            );
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!("key “{id}” must be 32 bytes (base64 of 32 random bytes)")
            })?;
            if keys.iter().any(|(k, _)| k == &id) {
                bail!("key id “{id}” appears twice");
            }
            keys.push((id, Zeroizing::new(key)));
        }
        if keys.is_empty() {
            bail!("no key given");
        }
        Ok(Self { keys })
    }

    /// A fresh key in the form `ontrackio secrets generate-key` prints.
    pub fn generate_encoded() -> String {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        STANDARD.encode(key.as_ref())
    }

    /// The demo keeps its key in the data directory, readable only by its owner.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            let raw = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the master key file {}", path.display()))?;
            return Self::parse(&raw)
                .with_context(|| format!("master key file {}", path.display()));
        }
        let encoded = format!("k1:{}", Self::generate_encoded());
        write_private_file(path, encoded.as_bytes())?;
        Self::parse(&encoded)
    }

    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// A key for one purpose (cookies, CSRF…), derived so that no two uses share bytes.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"ontrackio/v1"), self.keys[0].1.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), out.as_mut())
            .expect("32 bytes is a valid HKDF length");
        out
    }

    fn cipher(key: &[u8; 32]) -> Aes256Gcm {
        let hk = Hkdf::<Sha256>::new(Some(b"ontrackio/v1"), key);
        let mut k = Zeroizing::new([0u8; 32]);
        hk.expand(b"seal", k.as_mut())
            .expect("32 bytes is a valid HKDF length");
        Aes256Gcm::new_from_slice(k.as_ref()).expect("32-byte key")
    }

    /// Seals `plaintext` with AES-256-GCM under the newest key. `context` (for example
    /// "workspace-id/microsoft.client_secret") is bound as associated data, so a value
    /// copied to another row or field does not open.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = Self::cipher(key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut blob = Vec::with_capacity(12 + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        format!("v1.{id}.{}", URL_SAFE_NO_PAD.encode(blob))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError);
        };
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or(SealError)?;
        let blob = URL_SAFE_NO_PAD.decode(b64).map_err(|_| SealError)?;
        if blob.len() < 12 + 16 {
            return Err(SealError);
        }
        let (nonce, ct) = blob.split_at(12);
        Self::cipher(key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError)
    }

    /// The id of the key a sealed value was made with (for rotation reports).
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        sealed.strip_prefix("v1.")?.split('.').next()
    }
}

/// Writes a file only its owner can read; refuses to follow an existing path.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> KeyRing {
        KeyRing::parse(spec).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_context() {
        let k = ring(&KeyRing::generate_encoded());
        let sealed = k.seal(b"s3cret~value", "ws1/microsoft.client_secret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            k.open(&sealed, "ws1/microsoft.client_secret")
                .unwrap()
                .as_slice(),
            b"s3cret~value"
        );
        assert!(k.open(&sealed, "ws2/microsoft.client_secret").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(k.open(&tampered, "ws1/microsoft.client_secret").is_err());
        assert!(k.open("garbage", "x").is_err());
    }

    #[test]
    fn old_keys_open_and_the_first_key_seals() {
        let old = KeyRing::generate_encoded();
        let new = KeyRing::generate_encoded();
        let before = ring(&format!("old:{old}"));
        let sealed = before.seal(b"x", "c");
        let after = ring(&format!("new:{new},old:{old}"));
        assert_eq!(after.open(&sealed, "c").unwrap().as_slice(), b"x");
        assert_eq!(KeyRing::key_id_of(&after.seal(b"x", "c")), Some("new"));
        assert!(ring(&format!("new:{new}")).open(&sealed, "c").is_err());
    }

    #[test]
    fn malformed_key_rings_are_refused_with_a_reason() {
        for bad in ["", "not-base64!", "k1:AAAA", "a:b:c", "k1:x,k1:y"] {
            assert!(KeyRing::parse(bad).is_err(), "{bad}");
        }
        let k = KeyRing::generate_encoded();
        assert!(KeyRing::parse(&format!("a:{k},a:{k}")).is_err());
        assert!(KeyRing::parse(&format!("a:{k}, b:{k}")).is_ok());
        assert!(!format!("{:?}", ring(&k)).contains(&k));
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let k = ring(&KeyRing::generate_encoded());
        assert_ne!(k.derive("csrf").as_ref(), k.derive("cookies").as_ref());
        assert_eq!(k.derive("csrf").as_ref(), k.derive("csrf").as_ref());
    }
}
