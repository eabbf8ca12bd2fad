//! The checks every provider's ID token gets before its own issuer and claim rules: a
//! size cap, RS256 only, no header that lets a token choose its own key, the key from
//! the provider's JWKS, signature, `aud`, `exp`/`nbf` with five minutes of skew, `iat`
//! not in the future, and the flow's `nonce` (compared in constant time).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;

use super::http::Outbound;
use super::jwks::{JwksCache, KeyError, SigningKey};

pub const SKEW_SECS: u64 = 300;
/// Real ID tokens are 1–3 KB; a cap keeps a hostile one from costing memory or CPU.
const MAX_TOKEN_LEN: usize = 16 * 1024;

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
    #[error("the ID token's issuer {0} is not the provider's issuer")]
    Issuer(String),
    #[error("the ID token comes from tenant {0}, not the workspace's directory")]
    WrongTenant(String),
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
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

/// The signing key a token names, from the JWKS at `jwks_uri` (cached).
pub async fn key_for(
    token: &str,
    http: &Outbound,
    jwks: &JwksCache,
    jwks_uri: &str,
) -> Result<std::sync::Arc<SigningKey>, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let kid = header_checks(token)?;
    Ok(jwks.key(http, jwks_uri, kid.as_deref()).await?)
}

/// The claims every provider's token must carry for [`verify`].
pub trait StandardClaims {
    fn iat(&self) -> i64;
    fn nonce(&self) -> &str;
}

/// Signature, `aud`, `exp`/`nbf` (with skew), `iat`, `nonce`, and the presence of
/// `required_claims`: the token's claims as `T`,
/// for the provider to check its issuer and its own claims. Synchronous and free of I/O,
/// so it can be fuzzed on its own.
pub fn verify<T: DeserializeOwned + StandardClaims>(
    token: &str,
    key: &SigningKey,
    audience: &str,
    nonce: &str,
    required_claims: &[&str],
) -> Result<T, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    header_checks(token)?;
    super::rs256::install();
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = SKEW_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_audience(&[audience]);
    // Every provider's token must carry `exp`, `iat`, `aud`, `iss`; Microsoft's also
    // `nbf` (Google's have none), so each provider names its own list.
    v.set_required_spec_claims(required_claims);
    let claims = jsonwebtoken::decode::<T>(token, &key.key, &v)
        .map_err(|e| TokenError::Invalid(e.to_string()))?
        .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claims.iat() > now + SKEW_SECS as i64 {
        return Err(TokenError::IssuedInFuture);
    }
    if !constant_time_eq(claims.nonce().as_bytes(), nonce.as_bytes()) {
        return Err(TokenError::Nonce);
    }
    Ok(claims)
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
