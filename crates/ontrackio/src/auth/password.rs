//! Argon2id password hashing, always on the blocking pool: a hash costs tens of
//! milliseconds of CPU and would stall every request sharing an async worker.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use secrecy::{ExposeSecret, SecretString};

/// The password policy, checked where a password is chosen.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 12 {
        return Err("Use at least 12 characters.");
    }
    if n > 256 {
        return Err("Use at most 256 characters.");
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    // argon2's defaults are Argon2id v19, m=19 MiB, t=2, p=1: OWASP's recommendation.
    Argon2::default()
}

pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("Failed to hash a password: {e}"))
    })
    .await?
}

/// A hash of a random password, verified against when the account does not exist or has
/// no password, so that "no such user" costs the same time as "wrong password".
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(crate::crypto::random_token().as_bytes(), &salt)
        .expect("hashing a random password")
        .to_string()
});

/// Verifies `password` against `stored` (or the dummy hash when there is none). Always
/// does one full Argon2 computation.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let has_real = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let ok = hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        ok && has_real
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash ahead of the first sign-in so that one is not slower.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(SecretString::from("correct horse battery"), Some(h.clone())).await);
        assert!(!verify(SecretString::from("wrong horse battery"), Some(h)).await);
        assert!(!verify(SecretString::from("anything"), None).await);
        assert!(!verify(SecretString::from("x"), Some("not a hash".into())).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("twelve chars").is_ok());
    }
}
