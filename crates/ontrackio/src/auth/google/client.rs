//! Outbound calls to Google: discovery (from the configured issuer, cached) and the token
//! endpoint, through the shared outbound client. Google's error bodies are exactly
//! `{"error", "error_description"}` (docs/spec/google-identity.md §3.3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::oidc::http::{Outbound, Unanswered};
use crate::config::OutboundBase;

const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, thiserror::Error)]
pub enum GoogleError {
    /// Google answered with an OAuth error (token endpoint).
    #[error("Google returned {error}: {description}")]
    Oauth {
        status: u16,
        error: String,
        description: String,
    },
    /// Timeout, refused connection, oversized or malformed answer.
    #[error("{0}")]
    Transport(String),
    /// The answer does not belong to the configured issuer.
    #[error("{0}")]
    Untrusted(String),
}

impl From<Unanswered> for GoogleError {
    fn from(e: Unanswered) -> Self {
        Self::Transport(e.0)
    }
}

/// The parts of Google's discovery document the flow uses.
#[derive(Clone, Debug)]
pub struct Discovery {
    pub authorization_endpoint: String,
    pub token_url: reqwest::Url,
    pub jwks_uri: String,
}

#[derive(Deserialize)]
struct DiscoveryDoc {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    #[allow(dead_code)]
    pub access_token: SecretString,
    pub id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

pub struct GoogleClient {
    http: Outbound,
    issuer: OutboundBase,
    discovery: Mutex<Option<(Instant, Arc<Discovery>)>>,
}

impl GoogleClient {
    pub fn new(issuer: OutboundBase, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: Outbound::new("Google", timeout)?,
            issuer,
            discovery: Mutex::new(None),
        })
    }

    pub fn http(&self) -> &Outbound {
        &self.http
    }

    /// The configured issuer (`https://accounts.google.com` in production).
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// Discovery, cached for a day, and refused unless it names the configured issuer and
    /// https endpoints (loopback only for a loopback issuer): a document pointing
    /// elsewhere would send the code and the client secret there.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, GoogleError> {
        if let Some((at, d)) = &*self.discovery.lock()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let unreadable =
            || GoogleError::Transport("Google's discovery document could not be read".into());
        let url = reqwest::Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            self.issuer.as_str()
        ))
        .map_err(|_| unreadable())?;
        let (status, body) = self.http.get(url, None).await?;
        if status != 200 {
            return Err(GoogleError::Transport(format!(
                "Google's discovery document answered HTTP {status}"
            )));
        }
        let doc: DiscoveryDoc = serde_json::from_slice(&body).map_err(|_| unreadable())?;
        let endpoints_ok = [
            &doc.authorization_endpoint,
            &doc.token_endpoint,
            &doc.jwks_uri,
        ]
        .iter()
        .all(|e| OutboundBase::parse(e).is_ok());
        // Google documents `accounts.google.com` as also returned for legacy
        // implementations (spec §1.1): the same issuer, spelled without the scheme.
        let issuer_ok = super::id_token::issuer_matches(&doc.issuer, self.issuer.as_str());
        if !issuer_ok || !endpoints_ok {
            return Err(GoogleError::Untrusted(format!(
                "Google's discovery document names an issuer other than {} or an endpoint that is not https",
                self.issuer.as_str()
            )));
        }
        let token_url = reqwest::Url::parse(&doc.token_endpoint).map_err(|_| unreadable())?;
        let d = Arc::new(Discovery {
            authorization_endpoint: doc.authorization_endpoint,
            token_url,
            jwks_uri: doc.jwks_uri,
        });
        *self.discovery.lock() = Some((Instant::now(), d.clone()));
        Ok(d)
    }

    /// Redeems an authorization code (confidential client, PKCE verifier).
    pub async fn exchange_code(
        &self,
        token_url: &reqwest::Url,
        client_id: &str,
        secret: &SecretString,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, GoogleError> {
        let form = [
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
            ("code", code),
            ("code_verifier", verifier),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
        ];
        let (status, body) = self.http.post_form(token_url.clone(), &form).await?;
        if status != 200 {
            return Err(oauth_error(status, &body));
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            GoogleError::Transport("Google's token response could not be read".into())
        })?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            return Err(GoogleError::Untrusted(format!(
                "Google returned a {} token, not a Bearer token",
                t.token_type
            )));
        }
        Ok(t)
    }
}

/// An authorization code no one was ever given, for [`GoogleClient::probe_client`].
const PROBE_CODE: &str = "4/0OnTrackio-connection-test-not-a-real-code";

impl GoogleClient {
    /// Checks a client id and secret without a user. Google has no client-credentials
    /// grant, so this redeems a code that does not exist: Google authenticates the client
    /// first and answers `invalid_client` for a wrong id or secret, and `invalid_grant`
    /// only once both are right. Returns Google's answer (an `Oauth` error) or why there
    /// was none.
    pub async fn probe_client(
        &self,
        client_id: &str,
        secret: &SecretString,
        redirect_uri: &str,
    ) -> GoogleError {
        let discovery = match self.discovery().await {
            Ok(d) => d,
            Err(e) => return e,
        };
        let form = [
            ("grant_type", "authorization_code"),
            ("code", PROBE_CODE),
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
            ("redirect_uri", redirect_uri),
        ];
        match self
            .http
            .post_form(discovery.token_url.clone(), &form)
            .await
        {
            Ok((status, body)) => oauth_error(status, &body),
            Err(e) => e.into(),
        }
    }
}

/// Google's error body, reduced to what may be shown to an admin: the registered error
/// and the first 300 characters of its description.
pub fn oauth_error(status: u16, body: &[u8]) -> GoogleError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => GoogleError::Oauth {
            status,
            error: b.error.chars().take(100).collect(),
            description: b.error_description.chars().take(300).collect(),
        },
        Err(_) => GoogleError::Transport(format!("Google answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_error_bodies_keep_the_error_and_its_description() {
        let e = oauth_error(
            401,
            br#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
        );
        assert!(matches!(
            e,
            GoogleError::Oauth { status: 401, ref error, ref description }
                if error == "invalid_client" && description == "Unauthorized"
        ));
        assert!(matches!(
            oauth_error(502, b"<html>"),
            GoogleError::Transport(_)
        ));
    }
}
