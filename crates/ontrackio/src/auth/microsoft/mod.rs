//! Sign-in with Microsoft Entra ID: the authorization-code flow (confidential client,
//! PKCE S256, state, nonce), ID-token validation, Graph `/me`, and the identity policy.

pub mod aadsts;
pub mod callback;
pub mod client;
pub mod id_token;
pub mod policy;
pub mod settings;

use std::sync::Arc;

use crate::config::Config;

/// Exactly the four scopes the guide tells admins to grant.
pub const SCOPES: &str = "openid profile email User.Read";

/// Process-wide Microsoft state: the pooled client and the caches.
pub struct Microsoft {
    pub client: client::MicrosoftClient,
    pub jwks: crate::auth::oidc::jwks::JwksCache,
    pub settings: settings::SettingsCache,
}

impl Microsoft {
    pub fn new(
        config: &Config,
        listening: Arc<crate::listening::ChangeListening>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: client::MicrosoftClient::new(
                config.microsoft_authority.clone(),
                config.microsoft_graph.clone(),
                config.microsoft_timeout,
            )?,
            jwks: crate::auth::oidc::jwks::JwksCache::default(),
            settings: settings::SettingsCache::new(listening),
        }))
    }
}
