//! Google's ID token (docs/spec/google-identity.md §4): the shared checks (RS256 with a
//! key from Google's JWKS, `aud`, `exp`, `iat`, `nonce`), then Google's own: `iss` is the
//! configured issuer or its legacy form without the scheme (`accounts.google.com`), `azp`
//! when present is our client, `sub` present, and `email_verified` counts only as the
//! JSON boolean `true`.

use serde::Deserialize;

use crate::auth::oidc::id_token::{self as oidc, StandardClaims, TokenError};
use crate::auth::oidc::jwks::{JwksCache, SigningKey};
use crate::domain::{EmailDomain, GoogleClientId};

use super::client::GoogleClient;

/// The claims sign-in uses, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub email: Option<String>,
    /// Only a JSON `true`: a string, a number, `false` or nothing is unverified.
    pub email_verified: bool,
    /// The Workspace (Cloud Identity) organisation of the account, from the token.
    pub hd: Option<EmailDomain>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    iat: i64,
    nonce: String,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    hd: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
}

impl StandardClaims for RawClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn nonce(&self) -> &str {
        &self.nonce
    }
}

pub struct Expectations<'a> {
    pub jwks_uri: &'a str,
    pub client_id: &'a GoogleClientId,
    pub nonce: &'a str,
}

pub async fn validate(
    token: &str,
    client: &GoogleClient,
    jwks: &JwksCache,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let key = oidc::key_for(token, client.http(), jwks, expect.jwks_uri).await?;
    verify_with_key(token, &key, client.issuer(), expect)
}

/// The issuer a token may name: the configured one, or Google's legacy form of it,
/// without the scheme (`https://accounts.google.com` → `accounts.google.com`). Never a
/// prefix or another host.
pub fn issuer_matches(iss: &str, configured: &str) -> bool {
    let legacy = configured
        .strip_prefix("https://")
        .or_else(|| configured.strip_prefix("http://"));
    iss == configured || Some(iss) == legacy
}

/// Everything after the key lookup; synchronous and free of I/O.
pub fn verify_with_key(
    token: &str,
    key: &SigningKey,
    issuer: &str,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let c: RawClaims = oidc::verify(
        token,
        key,
        expect.client_id.as_str(),
        expect.nonce,
        &["exp", "iat", "aud", "iss"],
    )?;
    if !issuer_matches(&c.iss, issuer) {
        return Err(TokenError::Issuer(c.iss.chars().take(200).collect()));
    }
    // OIDC Core §3.1.3.7: an authorized party other than us means the token was issued
    // to another client that happens to list us as an audience.
    if c.azp
        .as_deref()
        .is_some_and(|azp| azp != expect.client_id.as_str())
    {
        return Err(TokenError::Invalid(
            "the ID token was issued to another client (azp)".into(),
        ));
    }
    if c.sub.is_empty() || c.sub.len() > 255 {
        return Err(TokenError::Invalid("the ID token lacks sub".into()));
    }
    let hd = match c.hd.as_deref() {
        None => None,
        Some(h) => Some(
            EmailDomain::parse(h)
                .map_err(|_| TokenError::Invalid("the ID token's hd is not a domain".into()))?,
        ),
    };
    Ok(Claims {
        iss: c.iss,
        sub: c.sub,
        email: c.email,
        email_verified: c.email_verified == Some(serde_json::Value::Bool(true)),
        hd,
        name: c.name,
        given_name: c.given_name,
        family_name: c.family_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_the_configured_one_or_its_legacy_form_and_nothing_else() {
        let google = "https://accounts.google.com";
        assert!(issuer_matches("https://accounts.google.com", google));
        assert!(issuer_matches("accounts.google.com", google));
        for bad in [
            "https://accounts.google.com/",
            "https://accounts.google.com.evil.test",
            "http://accounts.google.com",
            "https://evil.test/accounts.google.com",
            "accounts.google.com.evil.test",
            "",
        ] {
            assert!(!issuer_matches(bad, google), "{bad}");
        }
        assert!(issuer_matches("127.0.0.1:9000", "http://127.0.0.1:9000"));
    }
}
