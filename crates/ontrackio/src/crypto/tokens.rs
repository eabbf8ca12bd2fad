use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// 256 random bits, base64url: session tokens, setup links, anonymous CSRF seeds.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What the database stores instead of a bearer token: a stolen table opens nothing.
pub fn hash_token(token: &str) -> String {
    TokenHash::of(token).as_str().to_string()
}

/// [`hash_token`] without allocating: every signed-in request hashes its session token.
pub struct TokenHash([u8; 64]);

impl TokenHash {
    fn of(token: &str) -> Self {
        let mut out = [0u8; 64];
        // Table-driven, not `hex::encode`'s char-by-char iterator (a third of the hash's
        // cost in the page profile).
        hex::encode_to_slice(Sha256::digest(token.as_bytes()), &mut out)
            .expect("64 hex digits for 32 bytes");
        Self(out)
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// A session's bearer token as the browser holds it. Never logged.
#[derive(Clone)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        Self(random_token())
    }
    /// Cookie values are attacker-controlled: only the exact shape we mint is looked up.
    pub fn from_cookie(raw: &str) -> Option<Self> {
        let ok = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
    pub fn hash_hex(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// CSRF tokens are an HMAC of the session (or of an anonymous seed cookie), so they need
/// no storage and die with the session.
#[derive(Clone)]
pub struct CsrfKey(Zeroizing<[u8; 32]>);

impl CsrfKey {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }
    pub fn token_for(&self, binding: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_ref()).expect("any key length");
        mac.update(binding.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
    pub fn verify(&self, binding: &str, presented: &str) -> bool {
        let expected = self.token_for(binding);
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_256_bit_and_only_our_shape_is_accepted() {
        let t = SessionToken::generate();
        assert_eq!(t.expose().len(), 43);
        assert!(SessionToken::from_cookie(t.expose()).is_some());
        assert!(SessionToken::from_cookie("short").is_none());
        assert!(SessionToken::from_cookie(&"a".repeat(42)).is_none());
        assert!(SessionToken::from_cookie(&format!("{}!", &"a".repeat(42))).is_none());
        assert_ne!(SessionToken::generate().expose(), t.expose());
        assert_eq!(t.hash().len(), 64);
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn csrf_tokens_verify_only_for_their_binding() {
        let k = CsrfKey::new(Zeroizing::new([7u8; 32]));
        let t = k.token_for("session:abc");
        assert!(k.verify("session:abc", &t));
        assert!(!k.verify("session:abd", &t));
        assert!(!k.verify("session:abc", ""));
        assert!(!k.verify("session:abc", &t[1..]));
    }
}
