//! Signing keys, cached per JWKS URL (DESIGN §5.1, Microsoft's key-rollover guidance,
//! which Google's rotation also fits): a day's TTL, an immediate refetch when a token
//! names an unknown `kid` — but at most one such refetch per 5 minutes, so a flood of
//! made-up `kid`s cannot make us hammer the provider — and the last good keys kept when a
//! fetch fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use parking_lot::Mutex;
use serde::Deserialize;

use super::http::{Outbound, Unanswered};

const TTL: Duration = Duration::from_secs(24 * 3600);
const MIN_REFETCH: Duration = Duration::from_secs(5 * 60);

/// One RSA signing key, parsed once.
pub struct SigningKey {
    pub kid: Option<String>,
    /// The key's own `issuer`, when the JWKS names one (Microsoft's, possibly the
    /// `{tenantid}` template; Google names none).
    pub issuer: Option<String>,
    pub key: DecodingKey,
}

#[derive(Default)]
struct Entry {
    keys: Vec<Arc<SigningKey>>,
    fetched_at: Option<Instant>,
    /// The last refetch forced by an unknown `kid` (the rate-limited kind).
    last_forced: Option<Instant>,
}

#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// How many times keys were fetched (observability and tests).
    fetches: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key matches the token's key id")]
    UnknownKid,
    #[error("the token names no key id and the directory publishes several keys")]
    AmbiguousKey,
    #[error(transparent)]
    Fetch(#[from] Unanswered),
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
}

fn parse(body: &[u8]) -> Result<Vec<Arc<SigningKey>>, Unanswered> {
    let doc: JwksDoc = serde_json::from_slice(body)
        .map_err(|_| Unanswered("the signing keys could not be read".into()))?;
    Ok(doc
        .keys
        .into_iter()
        // Only RSA signature keys; anything else is not for ID tokens.
        .filter(|k| k.kty == "RSA" && k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let key = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
            Some(Arc::new(SigningKey {
                kid: k.kid,
                issuer: k.issuer,
                key,
            }))
        })
        .collect())
}

impl JwksCache {
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn pick(keys: &[Arc<SigningKey>], kid: Option<&str>) -> Result<Arc<SigningKey>, KeyError> {
        match kid {
            Some(kid) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .cloned()
                .ok_or(KeyError::UnknownKid),
            None if keys.len() == 1 => Ok(keys[0].clone()),
            None => Err(KeyError::AmbiguousKey),
        }
    }

    /// The key for `kid` from `uri`, fetching when the cache is empty, stale, or (rate
    /// limited) when the kid is unknown.
    pub async fn key(
        &self,
        http: &Outbound,
        uri: &str,
        kid: Option<&str>,
    ) -> Result<Arc<SigningKey>, KeyError> {
        {
            let mut entries = self.entries.lock();
            let e = entries.entry(uri.to_string()).or_default();
            let fresh = e.fetched_at.is_some_and(|t| t.elapsed() < TTL);
            match (fresh, Self::pick(&e.keys, kid)) {
                (true, Ok(k)) => return Ok(k),
                (true, Err(KeyError::AmbiguousKey)) => return Err(KeyError::AmbiguousKey),
                (true, Err(_)) => {
                    // Unknown kid on fresh keys: maybe a rotation. Refetch, rate-limited.
                    let allowed = e.last_forced.is_none_or(|t| t.elapsed() >= MIN_REFETCH);
                    if !allowed {
                        return Err(KeyError::UnknownKid);
                    }
                    e.last_forced = Some(Instant::now());
                }
                (false, _) => {}
            }
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match http.fetch_jwks(uri).await.and_then(|b| parse(&b)) {
            Ok(keys) => {
                let picked = Self::pick(&keys, kid);
                let mut entries = self.entries.lock();
                let e = entries.entry(uri.to_string()).or_default();
                e.keys = keys;
                e.fetched_at = Some(Instant::now());
                picked
            }
            Err(err) => {
                // Keep serving the last good keys when the provider is briefly unreachable.
                let entries = self.entries.lock();
                match entries.get(uri) {
                    Some(e) if !e.keys.is_empty() => Self::pick(&e.keys, kid),
                    _ => Err(err.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: Option<&str>) -> Arc<SigningKey> {
        Arc::new(SigningKey {
            kid: kid.map(Into::into),
            issuer: None,
            key: DecodingKey::from_rsa_components("sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "AQAB").unwrap(),
        })
    }

    #[test]
    fn a_token_without_kid_uses_the_only_key_and_is_refused_among_several() {
        let one = [key(Some("a"))];
        assert!(JwksCache::pick(&one, None).is_ok());
        let two = [key(Some("a")), key(Some("b"))];
        assert!(matches!(
            JwksCache::pick(&two, None),
            Err(KeyError::AmbiguousKey)
        ));
        assert_eq!(
            JwksCache::pick(&two, Some("b")).unwrap().kid.as_deref(),
            Some("b")
        );
        assert!(matches!(
            JwksCache::pick(&two, Some("c")),
            Err(KeyError::UnknownKid)
        ));
    }

    #[test]
    fn only_rsa_signature_keys_are_taken_from_a_jwks() {
        let doc = br#"{"keys":[
            {"kty":"RSA","use":"sig","kid":"r","n":"sXch","e":"AQAB"},
            {"kty":"RSA","use":"enc","kid":"e","n":"sXch","e":"AQAB"},
            {"kty":"EC","kid":"ec","crv":"P-256","x":"a","y":"b"},
            {"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
        let keys = parse(doc).unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| k.kid.clone().unwrap())
                .collect::<Vec<_>>(),
            ["r"]
        );
        assert!(parse(b"not json").is_err());
    }
}
