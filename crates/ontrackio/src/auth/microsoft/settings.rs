//! The effective Microsoft sign-in settings of a workspace: field by field the settings
//! card's stored value, else the `AZURE_*` variable, else the default (DESIGN §5.3).
//!
//! STUB: resolves from the environment only; the settings card replaces the internals.

use std::sync::Arc;

use secrecy::SecretString;

use crate::config::{AzureEnv, BaseUrl};
use crate::domain::{ClientId, EmailDomain, RedirectUri, TenantSetting};
use crate::store::workspaces::Workspace;

/// Where an effective value comes from; the card shows it next to each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Card,
    Environment,
    Default,
}

#[derive(Clone, Debug)]
pub struct Effective<T> {
    pub value: T,
    pub source: Source,
}

/// Everything the sign-in flow needs, present only when sign-in can work.
#[derive(Clone)]
pub struct SignInConfig {
    pub tenant: TenantSetting,
    pub client_id: ClientId,
    pub client_secret: SecretString,
    pub redirect_uri: RedirectUri,
    pub allowed_domains: Vec<EmailDomain>,
}

pub struct EffectiveSettings {
    pub enabled: Effective<bool>,
    pub tenant: Effective<TenantSetting>,
    pub client_id: Effective<Option<ClientId>>,
    pub client_secret: Effective<Option<SecretString>>,
    pub redirect_uri: Effective<RedirectUri>,
    pub allowed_domains: Effective<Vec<EmailDomain>>,
}

impl EffectiveSettings {
    /// The **Continue with Microsoft** button shows exactly when the effective toggle is
    /// on and an effective client id exists.
    pub fn button_visible(&self) -> bool {
        self.enabled.value && self.client_id.value.is_some()
    }

    pub fn sign_in(&self) -> Option<SignInConfig> {
        if !self.button_visible() {
            return None;
        }
        Some(SignInConfig {
            tenant: self.tenant.value.clone(),
            client_id: self.client_id.value.clone()?,
            client_secret: self.client_secret.value.clone()?,
            redirect_uri: self.redirect_uri.value.clone(),
            allowed_domains: self.allowed_domains.value.clone(),
        })
    }
}

/// The default redirect URI: exactly what must be registered in Entra (DESIGN §5.4).
pub fn default_redirect_uri(base: &BaseUrl, slug: &str) -> RedirectUri {
    RedirectUri::from_trusted(format!(
        "{}/auth/microsoft/callback",
        base.workspace_origin(slug)
    ))
}

/// Resolves settings from the environment alone (no card saved).
pub fn from_environment(env: &AzureEnv, base: &BaseUrl, ws: &Workspace) -> EffectiveSettings {
    let env_or = |v: Option<&String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let client_id = env_or(env.client_id.as_ref()).and_then(|s| ClientId::parse(&s).ok());
    let tenant = env_or(env.tenant_id.as_ref()).and_then(|s| TenantSetting::parse(&s).ok());
    let redirect = env_or(env.redirect_uri.as_ref()).and_then(|s| RedirectUri::parse(&s).ok());
    let env_domains =
        env_or(env.allowed_domains.as_ref()).and_then(|s| EmailDomain::parse_list(&s).ok());
    EffectiveSettings {
        enabled: Effective {
            value: env.client_id.is_some(),
            source: if env.client_id.is_some() {
                Source::Environment
            } else {
                Source::Default
            },
        },
        tenant: match tenant {
            Some(t) => Effective {
                value: t,
                source: Source::Environment,
            },
            None => Effective {
                value: TenantSetting::Common,
                source: Source::Default,
            },
        },
        client_id: Effective {
            source: if client_id.is_some() {
                Source::Environment
            } else {
                Source::Default
            },
            value: client_id,
        },
        client_secret: Effective {
            source: if env.client_secret.is_some() {
                Source::Environment
            } else {
                Source::Default
            },
            value: env.client_secret.clone(),
        },
        redirect_uri: match redirect {
            Some(r) => Effective {
                value: r,
                source: Source::Environment,
            },
            None => Effective {
                value: default_redirect_uri(base, ws.slug.as_str()),
                source: Source::Default,
            },
        },
        allowed_domains: if !ws.allowed_email_domains.is_empty() {
            Effective {
                value: ws.allowed_email_domains.clone(),
                source: Source::Card,
            }
        } else if let Some(d) = env_domains {
            Effective {
                value: d,
                source: Source::Environment,
            }
        } else {
            Effective {
                value: vec![],
                source: Source::Default,
            }
        },
    }
}

/// Per-process cache of effective settings, invalidated by every save on every node.
#[derive(Default)]
pub struct SettingsCache {}

impl SettingsCache {
    pub fn new() -> Self {
        Self {}
    }

    pub async fn effective(
        &self,
        state: &crate::web::AppState,
        ws: &Workspace,
    ) -> anyhow::Result<Arc<EffectiveSettings>> {
        Ok(Arc::new(from_environment(
            &state.config.azure,
            &state.config.base_url,
            ws,
        )))
    }
}

/// The card's health line: a successful Microsoft sign-in (inside its transaction).
pub async fn record_success(
    _conn: &mut crate::store::Conn,
    _ws: &crate::domain::WorkspaceId,
) -> Result<(), sqlx::Error> {
    Ok(())
}

/// The card's health line: a failure an admin can act on, with its AADSTS code.
pub async fn record_failure(
    _db: &crate::store::Db,
    _ws: &crate::domain::WorkspaceId,
    _code: Option<u32>,
    _summary: &str,
) -> Result<(), sqlx::Error> {
    Ok(())
}
