//! The state of one sign-in attempt between `/auth/<provider>` and its callback. It lives
//! in an encrypted, authenticated cookie (axum-extra private cookies, AES-GCM), so no row
//! is written for anonymous visitors and any node can finish the flow. Each provider has
//! its own cookie, scoped to its own paths, so two flows never overwrite each other.

use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::sign_in::Provider;
use crate::crypto::random_token;

pub const LIFETIME_SECS: i64 = 10 * 60;

/// `__Secure-` on https: the browser refuses it from plain http. (`__Host-` would need
/// `Path=/`; the flow cookie is deliberately scoped to the flow's own paths.)
pub fn cookie_name(provider: Provider, https: bool) -> &'static str {
    match (provider, https) {
        (Provider::Microsoft, true) => "__Secure-ontrackio_msflow",
        (Provider::Microsoft, false) => "ontrackio_msflow",
        (Provider::Google, true) => "__Secure-ontrackio_gflow",
        (Provider::Google, false) => "ontrackio_gflow",
        (Provider::Saml, true) => "__Secure-ontrackio_samlflow",
        (Provider::Saml, false) => "ontrackio_samlflow",
    }
}

/// `/auth/<provider>`: the start and the callback, nothing else, see the cookie.
pub fn cookie_path(provider: Provider) -> &'static str {
    match provider {
        Provider::Microsoft => "/auth/microsoft",
        Provider::Google => "/auth/google",
        // Set by `/auth/saml`, read by the ACS (`/saml/acs`), which the IdP posts to.
        Provider::Saml => "/saml/acs",
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FlowState {
    /// `state`: ties the callback to this browser (login CSRF).
    pub s: String,
    /// `nonce`: ties the ID token to this flow (token replay, code injection).
    pub n: String,
    /// PKCE code verifier.
    pub v: String,
    /// Workspace id the flow started on.
    pub w: String,
    /// Where to go afterwards (already checked to be a same-workspace path).
    pub r: Option<String>,
    /// Unix seconds at start.
    pub t: i64,
    /// A super-admin's Test sign-in (SAML card): report what the IdP said, sign nobody in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub x: bool,
}

impl FlowState {
    pub fn new(workspace_id: &str, return_to: Option<String>, now: i64) -> Self {
        Self {
            s: random_token(),
            n: random_token(),
            v: random_token(),
            w: workspace_id.to_string(),
            r: return_to,
            t: now,
            x: false,
        }
    }

    /// `code_challenge` for S256.
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.v.as_bytes()))
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now < self.t || now - self.t > LIFETIME_SECS
    }

    pub fn cookie(&self, provider: Provider, https: bool) -> Cookie<'static> {
        let value = serde_json::to_string(self).expect("flow state serialises");
        let mut c = base(provider, value, https);
        c.set_max_age(time::Duration::seconds(LIFETIME_SECS));
        c
    }

    pub fn from_cookie_value(v: &str) -> Option<Self> {
        serde_json::from_str(v).ok()
    }
}

fn base(provider: Provider, value: String, https: bool) -> Cookie<'static> {
    Cookie::build((cookie_name(provider, https), value))
        .path(cookie_path(provider))
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .build()
}

/// Clears the flow cookie: it is single-use whatever the outcome.
pub fn removal(provider: Provider, https: bool) -> Cookie<'static> {
    let mut c = base(provider, String::new(), https);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let mut f = FlowState::new("w", None, 0);
        f.v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into();
        assert_eq!(f.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn flows_expire_after_ten_minutes_and_values_are_fresh() {
        let f = FlowState::new("w", None, 1000);
        assert!(!f.is_expired(1000 + LIFETIME_SECS));
        assert!(f.is_expired(1001 + LIFETIME_SECS));
        assert!(f.is_expired(999));
        let g = FlowState::new("w", None, 1000);
        assert!(f.s != g.s && f.n != g.n && f.v != g.v);
        let c = f.cookie(Provider::Microsoft, true);
        assert_eq!(c.name(), "__Secure-ontrackio_msflow");
        assert_eq!(c.path(), Some("/auth/microsoft"));
        let g = f.cookie(Provider::Google, true);
        assert_eq!(g.name(), "__Secure-ontrackio_gflow");
        assert_eq!(g.path(), Some("/auth/google"));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(FlowState::from_cookie_value(c.value()), Some(f));
    }
}

/// The callback's parameters, each at most once (two `code`s or `state`s is a crafted URL,
/// not the provider's).
#[derive(Default, Debug, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// `None` for a query that is not `application/x-www-form-urlencoded`, repeats a
    /// parameter, or carries an oversized value.
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or("")).ok()?;
        let mut p = Self::default();
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "code" => &mut p.code,
                "state" => &mut p.state,
                "error" => &mut p.error,
                "error_description" => &mut p.error_description,
                _ => continue,
            };
            if slot.is_some() || v.len() > 8192 {
                return None;
            }
            *slot = Some(v);
        }
        Some(p)
    }
}

#[cfg(test)]
mod callback_tests {
    use super::*;

    #[test]
    fn callback_parameters_are_taken_once_each() {
        let p = CallbackParams::parse(Some("code=abc&state=xyz&session_state=s")).unwrap();
        assert_eq!(
            (p.code.as_deref(), p.state.as_deref()),
            (Some("abc"), Some("xyz"))
        );
        assert!(CallbackParams::parse(Some("code=a&code=b&state=x")).is_none());
        assert!(CallbackParams::parse(Some("code=a&state=x&state=y")).is_none());
        assert!(CallbackParams::parse(Some(&format!("code={}", "a".repeat(9000)))).is_none());
        assert_eq!(CallbackParams::parse(None), Some(CallbackParams::default()));
    }
}
