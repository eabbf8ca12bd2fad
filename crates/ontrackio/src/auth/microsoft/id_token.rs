//! ID-token validation (DESIGN §5.1 step 4, Microsoft's "claims validation"): RS256 only,
//! the key from the tenant's JWKS, `iss` built from the token's own GUID `tid` (and equal
//! to the pinned tenant when there is one), the key's own issuer, `aud`, times with five
//! minutes of skew, `nonce`, and the presence of `oid`.
//!
//! jsonwebtoken checks signature, `aud`, `exp` and `nbf`; Entra's templated issuer and the
//! per-key issuer are Microsoft-specific, so they are checked here by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::client::MicrosoftClient;
use super::jwks::{JwksCache, KeyError};
use crate::domain::{ClientId, TenantGuid};

pub const SKEW_SECS: u64 = 300;
/// Real ID tokens are 1–3 KB; a cap keeps a hostile one from costing memory or CPU.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The claims sign-in uses, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub tid: TenantGuid,
    pub oid: String,
    pub sub: String,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    pub xms_edov: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    tid: String,
    oid: String,
    sub: String,
    iat: i64,
    nonce: String,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    xms_edov: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
}

/// Why a token was refused; the reason goes to the audit log, never to the page.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the ID token is malformed")]
    Malformed,
    #[error("the ID token uses algorithm {0}, not RS256")]
    Algorithm(String),
    #[error("the ID token header carries {0}, which is never trusted")]
    ForbiddenHeader(&'static str),
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    #[error("the ID token is invalid: {0}")]
    Invalid(String),
    #[error("the ID token's issuer {0} is not Microsoft's issuer for its tenant")]
    Issuer(String),
    #[error("the ID token comes from tenant {0}, not the workspace's directory")]
    WrongTenant(String),
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
}

pub struct Expectations<'a> {
    pub jwks_uri: &'a str,
    pub client_id: &'a ClientId,
    pub nonce: &'a str,
    pub pinned_tenant: Option<&'a TenantGuid>,
}

/// Header fields that would let a token choose its own key or semantics.
const FORBIDDEN_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "crit"];

/// The header's verdict before any key is looked up: `Ok(kid)` for an RS256 token that
/// does not try to choose its own key.
pub fn header_checks(token: &str) -> Result<Option<String>, TokenError> {
    let header_b64 = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    for name in FORBIDDEN_HEADERS {
        if header.contains_key(name) {
            return Err(TokenError::ForbiddenHeader(name));
        }
    }
    match header.get("alg").and_then(|a| a.as_str()) {
        Some("RS256") => {}
        Some(other) => return Err(TokenError::Algorithm(other.chars().take(20).collect())),
        None => return Err(TokenError::Malformed),
    }
    match header.get("kid") {
        None => Ok(None),
        Some(serde_json::Value::String(k)) if k.len() <= 128 => Ok(Some(k.clone())),
        Some(_) => Err(TokenError::Malformed),
    }
}

pub async fn validate(
    token: &str,
    client: &MicrosoftClient,
    jwks: &JwksCache,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let kid = header_checks(token)?;
    let key = jwks.key(client, expect.jwks_uri, kid.as_deref()).await?;
    verify_with_key(token, &key, client.authority(), expect)
}

/// Everything after the key lookup: signature, claims and Microsoft's issuer rules.
/// Synchronous and free of I/O, so it can be fuzzed on its own.
pub fn verify_with_key(
    token: &str,
    key: &super::jwks::SigningKey,
    authority: &str,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    header_checks(token)?;
    super::rs256::install();
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = SKEW_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_audience(&[expect.client_id.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "nbf", "aud", "iss"]);
    let data = jsonwebtoken::decode::<RawClaims>(token, &key.key, &v)
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
    let c = data.claims;

    let tid = TenantGuid::parse(&c.tid).ok_or_else(|| TokenError::Issuer(c.iss.clone()))?;
    let expected_iss = format!("{authority}/{}/v2.0", tid.as_str());
    if c.iss != expected_iss {
        return Err(TokenError::Issuer(c.iss));
    }
    // A key published with a templated issuer may sign for any tenant; one with a fixed
    // issuer (the consumer tenant's) only for that issuer.
    if let Some(key_iss) = &key.issuer {
        let resolved = key_iss.replace("{tenantid}", tid.as_str());
        if resolved != c.iss {
            return Err(TokenError::Issuer(c.iss));
        }
    }
    if let Some(pinned) = expect.pinned_tenant
        && pinned != &tid
    {
        return Err(TokenError::WrongTenant(tid.to_string()));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if c.iat > now + SKEW_SECS as i64 {
        return Err(TokenError::IssuedInFuture);
    }
    if !constant_time_eq(c.nonce.as_bytes(), expect.nonce.as_bytes()) {
        return Err(TokenError::Nonce);
    }
    if c.oid.is_empty() || c.oid.len() > 64 || c.sub.is_empty() {
        return Err(TokenError::Invalid("the ID token lacks oid or sub".into()));
    }
    Ok(Claims {
        tid,
        oid: c.oid.to_ascii_lowercase(),
        sub: c.sub,
        preferred_username: c.preferred_username,
        email: c.email,
        // Entra sends a boolean; tolerate the string form some tenants have shown.
        xms_edov: c.xms_edov.and_then(|v| {
            v.as_bool()
                .or_else(|| v.as_str().map(|s| s.eq_ignore_ascii_case("true")))
        }),
        name: c.name,
        given_name: c.given_name,
        family_name: c.family_name,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(h: &str) -> String {
        format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(h))
    }

    #[test]
    fn only_rs256_headers_without_key_injection_pass_the_header_check() {
        assert_eq!(
            header_checks(&token_with_header(
                r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#
            ))
            .unwrap(),
            Some("k1".into())
        );
        assert_eq!(
            header_checks(&token_with_header(r#"{"alg":"RS256"}"#)).unwrap(),
            None
        );
        assert!(matches!(
            header_checks(&token_with_header(r#"{"alg":"none"}"#)),
            Err(TokenError::Algorithm(_))
        ));
        for alg in [
            "HS256", "HS512", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "RSA-OAEP",
        ] {
            let t = token_with_header(&format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
            assert!(
                matches!(header_checks(&t), Err(TokenError::Algorithm(_))),
                "{alg}"
            );
        }
        for h in ["jku", "x5u", "jwk", "crit"] {
            let t = token_with_header(&format!(r#"{{"alg":"RS256","{h}":"x"}}"#));
            assert!(
                matches!(header_checks(&t), Err(TokenError::ForbiddenHeader(_))),
                "{h}"
            );
        }
        assert!(matches!(
            header_checks("%%%.e30.x"),
            Err(TokenError::Malformed)
        ));
        assert!(matches!(
            header_checks(&token_with_header(r#"{"alg":"RS256","kid":7}"#)),
            Err(TokenError::Malformed)
        ));
    }
}
