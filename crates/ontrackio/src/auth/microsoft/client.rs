//! Outbound calls to Microsoft: discovery, the token endpoint and Graph `/me`, through the
//! shared outbound client (`auth::oidc::http`: pooled, capped, no redirects).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::oidc::http::{Outbound, Unanswered};
use crate::config::OutboundBase;

const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);

/// What went wrong talking to Microsoft.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MsError {
    /// Microsoft answered with an OAuth error (token endpoint, discovery).
    #[error("Microsoft returned {error} (AADSTS{code:?})")]
    Oauth {
        status: u16,
        error: String,
        code: Option<u32>,
        description: String,
    },
    /// Timeout, refused connection, oversized or malformed answer.
    #[error("{0}")]
    Transport(String),
    /// The answer does not belong to the configured authority.
    #[error("{0}")]
    Untrusted(String),
}

impl From<Unanswered> for MsError {
    fn from(e: Unanswered) -> Self {
        Self::Transport(e.0)
    }
}

impl MsError {
    pub fn aadsts(&self) -> Option<u32> {
        match self {
            Self::Oauth { code, .. } => *code,
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct OauthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// The parts of a discovery document the flow uses, checked against the authority.
#[derive(Clone, Debug)]
pub struct Discovery {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// `token_endpoint`, parsed once: every sign-in posts to it.
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
    pub access_token: SecretString,
    pub id_token: Option<String>,
    #[serde(default)]
    pub scope: String,
}

/// Graph `/me`: only the fields sign-in uses; every one may be `null`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GraphMe {
    pub id: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// 401/403: the token lacks User.Read (not granted, or consent revoked).
    #[error("Graph refused the token ({0})")]
    Denied(u16),
    #[error("{0}")]
    Other(String),
}

pub struct MicrosoftClient {
    http: Outbound,
    authority: OutboundBase,
    /// `{graph}/v1.0/me`, parsed once: every sign-in calls it.
    graph_me: reqwest::Url,
    discovery: Mutex<HashMap<String, (Instant, Arc<Discovery>)>>,
}

impl MicrosoftClient {
    pub fn new(
        authority: OutboundBase,
        graph: OutboundBase,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = Outbound::new("Microsoft", timeout)?;
        let graph_me = reqwest::Url::parse(&format!("{}/v1.0/me", graph.as_str()))
            .map_err(|e| anyhow::anyhow!("Microsoft Graph URL: {e}"))?;
        Ok(Self {
            http,
            authority,
            graph_me,
            discovery: Mutex::new(HashMap::new()),
        })
    }

    /// The outbound client (signing keys are fetched through it).
    pub fn http(&self) -> &Outbound {
        &self.http
    }

    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// `{authority}/{tenant}/…` for a tenant segment (`common` or a GUID).
    pub fn tenant_base(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.authority.as_str())
    }

    /// The issuer a token from tenant `tid` must carry.
    pub fn issuer_for(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.authority.as_str())
    }

    /// The tenant's discovery document, cached for a day, and refused unless it describes
    /// the configured authority (a document pointing elsewhere would send the code and
    /// the client secret there).
    pub async fn discovery(&self, tenant: &str) -> Result<Arc<Discovery>, MsError> {
        if let Some((at, d)) = self.discovery.lock().get(tenant)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let base = self.tenant_base(tenant);
        let url = format!("{base}/v2.0/.well-known/openid-configuration");
        let url = reqwest::Url::parse(&url)
            .map_err(|_| MsError::Untrusted(format!("“{tenant}” is not a tenant segment")))?;
        let (status, body) = self.http.get(url, None).await?;
        if status != 200 {
            return Err(oauth_error(status, &body));
        }
        let doc: DiscoveryDoc = serde_json::from_slice(&body).map_err(|_| {
            MsError::Transport("Microsoft's discovery document could not be read".into())
        })?;
        let expected_issuer = if tenant == "common" || tenant == "organizations" {
            self.issuer_for("{tenantid}")
        } else {
            self.issuer_for(tenant)
        };
        let prefix = format!("{base}/");
        let endpoints_ok = [
            &doc.authorization_endpoint,
            &doc.token_endpoint,
            &doc.jwks_uri,
        ]
        .iter()
        .all(|e| e.starts_with(&prefix));
        if doc.issuer != expected_issuer || !endpoints_ok {
            return Err(MsError::Untrusted(format!(
                "The discovery document for {tenant} names an issuer or endpoints outside {}",
                self.authority.as_str()
            )));
        }
        let token_url = reqwest::Url::parse(&doc.token_endpoint).map_err(|_| {
            MsError::Transport("Microsoft's discovery document could not be read".into())
        })?;
        let d = Arc::new(Discovery {
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            token_url,
            jwks_uri: doc.jwks_uri,
        });
        self.discovery
            .lock()
            .insert(tenant.to_string(), (Instant::now(), d.clone()));
        Ok(d)
    }

    /// Redeems an authorization code (confidential client, PKCE verifier).
    pub async fn exchange_code(
        &self,
        token_endpoint: &reqwest::Url,
        client_id: &str,
        secret: &SecretString,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, MsError> {
        let form = [
            ("client_id", client_id),
            ("scope", super::SCOPES),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
            ("code_verifier", verifier),
            ("client_secret", secret.expose_secret()),
        ];
        let (status, body) = self.http.post_form(token_endpoint.clone(), &form).await?;
        if status != 200 {
            return Err(oauth_error(status, &body));
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            MsError::Transport("Microsoft's token response could not be read".into())
        })?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            return Err(MsError::Untrusted(format!(
                "Microsoft returned a {} token, not a Bearer token",
                t.token_type
            )));
        }
        Ok(t)
    }

    /// Checks a client id and secret without a user (`client_credentials`), which Entra
    /// only answers at a tenant GUID.
    pub async fn check_credentials(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &SecretString,
    ) -> Result<(), MsError> {
        let url = format!("{}/oauth2/v2.0/token", self.tenant_base(tenant));
        let form = [
            ("client_id", client_id),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
            ("client_secret", secret.expose_secret()),
        ];
        let url = reqwest::Url::parse(&url)
            .map_err(|_| MsError::Untrusted(format!("“{tenant}” is not a tenant segment")))?;
        let (status, body) = self.http.post_form(url, &form).await?;
        if status == 200 {
            Ok(())
        } else {
            Err(oauth_error(status, &body))
        }
    }

    /// `GET {graph}/v1.0/me` with the user's access token.
    pub async fn me(&self, access_token: &SecretString) -> Result<GraphMe, GraphError> {
        let (status, body) = self
            .http
            .get(self.graph_me.clone(), Some(access_token.expose_secret()))
            .await
            .map_err(|e| GraphError::Other(e.to_string()))?;
        match status {
            200 => serde_json::from_slice(&body).map_err(|_| {
                GraphError::Other("Microsoft Graph's answer could not be read".into())
            }),
            401 | 403 => Err(GraphError::Denied(status)),
            other => Err(GraphError::Other(format!(
                "Microsoft Graph answered HTTP {other}"
            ))),
        }
    }
}

fn oauth_error(status: u16, body: &[u8]) -> MsError {
    match serde_json::from_slice::<OauthErrorBody>(body) {
        Ok(b) => {
            // Branch on `error` and the number only: descriptions change (Microsoft says so).
            let code = b
                .error_codes
                .first()
                .copied()
                .or_else(|| parse_aadsts(&b.error_description));
            let description = b
                .error_description
                .split("\r\n")
                .next()
                .unwrap_or("")
                .chars()
                .take(500)
                .collect();
            MsError::Oauth {
                status,
                error: b.error.chars().take(100).collect(),
                code,
                description,
            }
        }
        Err(_) => MsError::Transport(format!("Microsoft answered HTTP {status}")),
    }
}

/// `AADSTS7000222: …` → 7000222.
pub fn parse_aadsts(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + 6..];
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(
            parse_aadsts("AADSTS7000222: The provided client secret keys are expired."),
            Some(7000222)
        );
        assert_eq!(parse_aadsts("no code here"), None);
        assert_eq!(parse_aadsts("AADSTS"), None);
    }

    #[test]
    fn token_errors_keep_error_code_and_first_line() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#;
        match oauth_error(401, body) {
            MsError::Oauth {
                status,
                error,
                code,
                description,
            } => {
                assert_eq!(
                    (status, error.as_str(), code),
                    (401, "invalid_client", Some(7000215))
                );
                assert_eq!(
                    description,
                    "AADSTS7000215: Invalid client secret provided."
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(oauth_error(500, b"<html>"), MsError::Transport(_)));
    }
}
