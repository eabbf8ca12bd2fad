//! ID-token validation (DESIGN §5.1 step 4, Microsoft's "claims validation"): RS256 only,
//! the key from the tenant's JWKS, `iss` built from the token's own GUID `tid` (and equal
//! to the pinned tenant when there is one), the key's own issuer, `aud`, times with five
//! minutes of skew, `nonce`, and the presence of `oid`.
//!
//! jsonwebtoken checks signature, `aud`, `exp` and `nbf`; Entra's templated issuer and the
//! per-key issuer are Microsoft-specific, so they are checked here by hand.

use serde::Deserialize;

use super::client::MicrosoftClient;
use crate::auth::oidc::id_token::{self as oidc, StandardClaims};
use crate::auth::oidc::jwks::{JwksCache, SigningKey};
use crate::domain::{ClientId, TenantGuid};

pub use crate::auth::oidc::id_token::{SKEW_SECS, TokenError, header_checks};

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
    /// The app roles assigned to the user for this app (`roles`); empty when none.
    pub roles: Vec<String>,
    /// The `groups` claim (object ids) when the app asks for it; `Overage` when the user is
    /// in more groups than a token carries (`_claim_names.groups`, or `hasgroups`).
    pub groups: Groups,
}

/// What the token says about the user's groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Groups {
    /// No `groups` claim: the app does not ask for groups.
    #[default]
    NotSent,
    Listed(Vec<String>),
    /// Too many to list: unknown, never "none".
    Overage,
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
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default, rename = "_claim_names")]
    claim_names: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    hasgroups: Option<serde_json::Value>,
}

pub struct Expectations<'a> {
    pub jwks_uri: &'a str,
    pub client_id: &'a ClientId,
    pub nonce: &'a str,
    pub pinned_tenant: Option<&'a TenantGuid>,
}

impl StandardClaims for RawClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn nonce(&self) -> &str {
        &self.nonce
    }
}

pub async fn validate(
    token: &str,
    client: &MicrosoftClient,
    jwks: &JwksCache,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let key = oidc::key_for(token, client.http(), jwks, expect.jwks_uri).await?;
    verify_with_key(token, &key, client.authority(), expect)
}

/// Everything after the key lookup: signature, claims and Microsoft's issuer rules.
/// Synchronous and free of I/O, so it can be fuzzed on its own.
pub fn verify_with_key(
    token: &str,
    key: &SigningKey,
    authority: &str,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let c: RawClaims = oidc::verify(
        token,
        key,
        expect.client_id.as_str(),
        expect.nonce,
        &["exp", "iat", "nbf", "aud", "iss"],
    )?;

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
        // Bounded: a role value is at most 120 characters, and no app declares hundreds.
        roles: c
            .roles
            .into_iter()
            .take(200)
            .filter(|r| r.len() <= 256)
            .collect(),
        groups: if c.claim_names.is_some_and(|n| n.contains_key("groups")) || c.hasgroups.is_some()
        {
            Groups::Overage
        } else {
            match c.groups {
                None => Groups::NotSent,
                Some(g) => Groups::Listed(
                    g.into_iter()
                        .take(250)
                        .map(|id| id.to_ascii_lowercase())
                        .collect(),
                ),
            }
        },
    })
}
