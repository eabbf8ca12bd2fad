//! Sign-in with Google (OpenID Connect): the authorization-code flow (confidential
//! client, PKCE S256, state, nonce), ID-token validation against Google's issuer, and the
//! Google-specific identity rules (`email_verified`, `hd`). Everything provider-neutral
//! (flow cookie, signing keys, the account rules) is shared with Microsoft.

pub mod callback;
pub mod client;
pub mod id_token;
pub mod settings;

use std::sync::Arc;

use crate::auth::oidc::jwks::JwksCache;
use crate::config::Config;

/// Exactly the scopes the Google guide tells admins to configure on the consent screen.
pub const SCOPES: &str = "openid email profile";

/// Process-wide Google state: the pooled client, discovery and the caches.
pub struct Google {
    pub client: client::GoogleClient,
    pub jwks: JwksCache,
    pub settings: settings::SettingsCache,
}

impl Google {
    pub fn new(
        config: &Config,
        listening: Arc<crate::listening::ChangeListening>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: client::GoogleClient::new(
                config.google_issuer.clone(),
                config.microsoft_timeout,
            )?,
            jwks: JwksCache::default(),
            settings: settings::SettingsCache::new(listening),
        }))
    }
}
