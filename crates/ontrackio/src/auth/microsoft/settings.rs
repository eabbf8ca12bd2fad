//! The effective Microsoft sign-in settings of a workspace: field by field the settings
//! card's stored value, else the `AZURE_*` variable, else the default (DESIGN §5.3), and
//! the in-process cache every save invalidates on every node (DESIGN §8).

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::role_mapping::RoleMapping;
use crate::config::{AzureEnv, BaseUrl, Config};
use crate::crypto::KeyRing;
use crate::domain::{
    ClientId, EmailDomain, RedirectUri, TenantSetting, WorkspaceId, check_client_secret,
};
use crate::store::Db;
use crate::store::microsoft_settings::{self as stored, StoredSettings};
use crate::store::workspaces::Workspace;

/// Audit actions of the card, as admins read them in Admin → Audit log.
pub const SETTINGS_SAVED: &str = "Microsoft Entra ID settings saved";
pub const CONNECTION_TESTED: &str = "Microsoft Entra ID connection tested";

use crate::auth::effective::pick;
pub use crate::auth::effective::{Effective, Source};

/// Everything the sign-in flow needs, present only when sign-in can work. `Debug` is
/// safe: `SecretString` prints as redacted.
#[derive(Clone, Debug)]
pub struct SignInConfig {
    pub tenant: TenantSetting,
    pub client_id: ClientId,
    pub client_secret: SecretString,
    pub redirect_uri: RedirectUri,
    pub allowed_domains: Vec<EmailDomain>,
    pub role_mapping: RoleMapping,
}

/// A field of the card, and the variable that stands in for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Enabled,
    Tenant,
    ClientId,
    ClientSecret,
    RedirectUri,
    AllowedDomains,
}

impl Field {
    pub fn variable(self) -> &'static str {
        match self {
            Self::Enabled | Self::ClientId => "AZURE_CLIENT_ID",
            Self::Tenant => "AZURE_TENANT_ID",
            Self::ClientSecret => "AZURE_CLIENT_SECRET",
            Self::RedirectUri => "AZURE_REDIRECT_URI",
            Self::AllowedDomains => "AZURE_ALLOWED_DOMAINS",
        }
    }
}

/// An `AZURE_*` value that does not parse: treated as absent, and shown on the card so
/// the admin learns which variable is wrong (the server still starts).
#[derive(Clone, Debug)]
pub struct EnvProblem {
    pub field: Field,
    pub message: String,
}

#[derive(Debug)]
pub struct EffectiveSettings {
    pub enabled: Effective<bool>,
    pub tenant: Effective<TenantSetting>,
    pub client_id: Effective<Option<ClientId>>,
    pub client_secret: Effective<Option<SecretString>>,
    pub redirect_uri: Effective<RedirectUri>,
    pub allowed_domains: Effective<Vec<EmailDomain>>,
    /// App roles → workspace roles; set on the card only (no variable), empty when unset.
    pub role_mapping: RoleMapping,
    /// The card has been saved, so its toggle and domain list are authoritative.
    pub card_saved: bool,
    pub env_problems: Vec<EnvProblem>,
    /// A secret is stored on the card but none of the configured master keys opens it.
    pub stored_secret_unreadable: bool,
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
            role_mapping: self.role_mapping.clone(),
        })
    }

    pub fn env_problem(&self, field: Field) -> Option<&EnvProblem> {
        self.env_problems.iter().find(|p| p.field == field)
    }
}

/// The default redirect URI: exactly what must be registered in Entra (DESIGN §5.4).
pub fn default_redirect_uri(base: &BaseUrl, slug: &str) -> RedirectUri {
    RedirectUri::from_trusted(format!(
        "{}/auth/microsoft/callback",
        base.workspace_origin(slug)
    ))
}

/// Associated data of a sealed client secret: a sealed value copied to another workspace
/// or another field does not open.
pub fn secret_context(ws: &WorkspaceId) -> String {
    format!("{}/microsoft.client_secret", ws.as_str())
}

pub fn seal_secret(keys: &KeyRing, ws: &WorkspaceId, secret: &SecretString) -> String {
    keys.seal(secret.expose_secret().as_bytes(), &secret_context(ws))
}

pub fn open_secret(keys: &KeyRing, ws: &WorkspaceId, sealed: &str) -> Option<SecretString> {
    let plain = keys.open(sealed, &secret_context(ws)).ok()?;
    let text = std::str::from_utf8(&plain).ok()?;
    Some(SecretString::from(text.to_string()))
}

/// The `AZURE_*` variables, each validated with the card's own parser.
#[derive(Default)]
struct EnvValues {
    client_id_set: bool,
    tenant: Option<TenantSetting>,
    client_id: Option<ClientId>,
    secret: Option<SecretString>,
    redirect: Option<RedirectUri>,
    domains: Option<Vec<EmailDomain>>,
    problems: Vec<EnvProblem>,
}

fn non_blank(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn parse_env(env: &AzureEnv) -> EnvValues {
    let mut out = EnvValues::default();
    let mut problem = |field: Field, message: String| {
        out.problems.push(EnvProblem { field, message });
    };
    let tenant = non_blank(env.tenant_id.as_ref()).and_then(|s| {
        TenantSetting::parse(s)
            .map_err(|m| problem(Field::Tenant, m.to_string()))
            .ok()
    });
    let client_id = non_blank(env.client_id.as_ref()).and_then(|s| {
        ClientId::parse(s)
            .map_err(|m| problem(Field::ClientId, m.to_string()))
            .ok()
    });
    let secret = env
        .client_secret
        .as_ref()
        .filter(|s| !s.expose_secret().trim().is_empty())
        .and_then(|s| match check_client_secret(s.expose_secret()) {
            Ok(()) => Some(SecretString::from(s.expose_secret().trim().to_string())),
            Err(m) => {
                problem(Field::ClientSecret, m.to_string());
                None
            }
        });
    let redirect = non_blank(env.redirect_uri.as_ref()).and_then(|s| {
        RedirectUri::parse(s)
            .map_err(|m| problem(Field::RedirectUri, m.to_string()))
            .ok()
    });
    let domains = non_blank(env.allowed_domains.as_ref()).and_then(|s| {
        EmailDomain::parse_list(s)
            .map_err(|e| problem(Field::AllowedDomains, e.to_string()))
            .ok()
            .filter(|d| !d.is_empty())
    });
    out.client_id_set = non_blank(env.client_id.as_ref()).is_some();
    out.tenant = tenant;
    out.client_id = client_id;
    out.secret = secret;
    out.redirect = redirect;
    out.domains = domains;
    out
}

/// `AZURE_TENANT_ID` when it parses: what a blank Directory (tenant) ID falls back to.
pub fn env_tenant(env: &AzureEnv) -> Option<TenantSetting> {
    non_blank(env.tenant_id.as_ref()).and_then(|s| TenantSetting::parse(s).ok())
}

/// The pure resolution of DESIGN §5.3 from the stored row (if any), the environment and
/// the workspace's shared domain list.
pub fn resolve(config: &Config, ws: &Workspace, row: Option<&StoredSettings>) -> EffectiveSettings {
    let env = parse_env(&config.azure);
    let card_saved = row.is_some_and(StoredSettings::card_saved);
    // Stored values were validated on Save; one that no longer parses counts as unset.
    let card = |f: fn(&StoredSettings) -> Option<&String>| row.and_then(f).map(String::as_str);
    let card_tenant = card(|r| r.tenant_id.as_ref()).and_then(|s| TenantSetting::parse(s).ok());
    let card_client = card(|r| r.client_id.as_ref()).and_then(|s| ClientId::parse(s).ok());
    let card_redirect = card(|r| r.redirect_uri.as_ref()).and_then(|s| RedirectUri::parse(s).ok());
    let sealed = card(|r| r.client_secret_sealed.as_ref());
    let card_secret = sealed.and_then(|s| open_secret(&config.keys, &ws.id, s));
    let stored_secret_unreadable = sealed.is_some() && card_secret.is_none();
    if stored_secret_unreadable {
        tracing::warn!(workspace = %ws.slug, "the stored Microsoft client secret cannot be opened with the configured master keys");
    }
    let enabled = if card_saved {
        Effective::new(row.is_some_and(|r| r.enabled), Source::Card)
    } else if env.client_id_set {
        Effective::new(true, Source::Environment)
    } else {
        Effective::new(false, Source::Default)
    };
    let allowed_domains = if card_saved || !ws.allowed_email_domains.is_empty() {
        Effective::new(ws.allowed_email_domains.clone(), Source::Card)
    } else {
        pick(None, env.domains, Vec::new())
    };
    EffectiveSettings {
        enabled,
        tenant: pick(card_tenant, env.tenant, TenantSetting::Common),
        client_id: pick(card_client.map(Some), env.client_id.map(Some), None),
        client_secret: pick(card_secret.map(Some), env.secret.map(Some), None),
        redirect_uri: pick(
            card_redirect,
            env.redirect,
            default_redirect_uri(&config.base_url, ws.slug.as_str()),
        ),
        allowed_domains,
        // Stored values were validated on Save; one that no longer parses maps nothing
        // (and a strict mapping then refuses: safer than granting roles by accident).
        role_mapping: row
            .and_then(|r| {
                let text = r.role_mapping.as_deref()?;
                let parsed =
                    RoleMapping::parse(text, r.role_mapping_super_admin, r.role_mapping_strict);
                if parsed.is_err() {
                    tracing::warn!(workspace = %ws.slug, "the stored role mapping no longer parses");
                }
                parsed.ok()
            })
            .unwrap_or_default(),
        card_saved,
        env_problems: env.problems,
        stored_secret_unreadable,
    }
}

/// Reads the row and resolves, bypassing the cache (the card itself, the connection test).
pub async fn load_fresh(
    config: &Config,
    db: &Db,
    ws: &Workspace,
) -> anyhow::Result<(Option<StoredSettings>, EffectiveSettings)> {
    let row = stored::get(db.pool(), &ws.id)
        .await
        .context("Failed to read the Microsoft sign-in settings")?;
    let effective = resolve(config, ws, row.as_ref());
    Ok((row, effective))
}

/// The per-process cache of every workspace's effective Microsoft settings.
pub type SettingsCache = crate::auth::settings_cache::SettingsCache<EffectiveSettings>;

/// The card's health line: a successful Microsoft sign-in (inside its transaction).
pub async fn record_success(
    conn: &mut crate::store::Conn,
    ws: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    stored::record_success(conn, ws).await
}

/// The card's health line: a failure an admin can act on, with its AADSTS code.
pub async fn record_failure(
    db: &Db,
    ws: &WorkspaceId,
    code: Option<u32>,
    summary: &str,
) -> Result<(), sqlx::Error> {
    let summary: String = summary.chars().take(300).collect();
    stored::record_failure(db.pool(), ws, code.map(i64::from), &summary).await
}

/// What `ontrackio secrets rotate-key` did.
#[derive(Debug, PartialEq, Eq)]
pub struct Rotation {
    pub resealed: usize,
    pub already_current: usize,
    pub key_id: String,
}

/// Re-seals every stored secret — the Microsoft and the Google cards' — under the newest
/// (first) master key, all or nothing.
pub async fn rotate_key(db: &Db, keys: &KeyRing) -> anyhow::Result<Rotation> {
    let newest = keys.sealing_key_id().to_string();
    let mut tx = db.begin().await?;
    let secrets = stored::list_sealed_secrets(&mut *tx).await?;
    let mut resealed = 0;
    for s in &secrets {
        if KeyRing::key_id_of(&s.sealed) == Some(newest.as_str()) {
            continue;
        }
        let Some(secret) = open_secret(keys, &s.workspace, &s.sealed) else {
            anyhow::bail!(
                "the client secret of workspace {} was sealed with key “{}”, which is not in ONTRACKIO_MASTER_KEY; nothing was changed",
                s.workspace.as_str(),
                KeyRing::key_id_of(&s.sealed).unwrap_or("?")
            );
        };
        let sealed = seal_secret(keys, &s.workspace, &secret);
        stored::update_sealed_secret(&mut *tx, &s.workspace, &sealed, &newest).await?;
        resealed += 1;
    }
    // The Google card's secrets, in the same transaction: all or nothing across providers.
    let (google_resealed, google_total) =
        crate::auth::google::settings::reseal_secrets(&mut tx, keys).await?;
    tx.commit()
        .await
        .context("Failed to save the re-sealed secrets")?;
    Ok(Rotation {
        resealed: resealed + google_resealed,
        already_current: secrets.len() - resealed + google_total - google_resealed,
        key_id: newest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LogFormat, OutboundBase};
    use crate::domain::WorkspaceSlug;

    const SECRET: &str = "Qx8~mN3pL.vR7tY2wK_aZ5cB9dF4gH6jS1eU0oIz";
    const TENANT: &str = "3f6d9c2a-8b41-4e7d-9a15-6c2e0b7d4f81";
    const CLIENT: &str = "c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45";

    fn config(azure: AzureEnv) -> Config {
        Config {
            database_url: crate::config::DatabaseUrl::Sqlite("sqlite://x.db".into()),
            listen: ([127, 0, 0, 1], 0).into(),
            base_url: BaseUrl::parse("https://app.ontrackio.com").unwrap(),
            keys: KeyRing::parse(&KeyRing::generate_encoded()).unwrap(),
            microsoft_authority: OutboundBase::parse("https://login.microsoftonline.com").unwrap(),
            microsoft_graph: OutboundBase::parse("https://graph.microsoft.com").unwrap(),
            google_issuer: OutboundBase::parse("https://accounts.google.com").unwrap(),
            google: Default::default(),
            trusted_proxies: vec![],
            azure,
            log_format: LogFormat::Text,
            microsoft_timeout: std::time::Duration::from_secs(10),
            flow_starts_per_minute: std::num::NonZeroU32::new(
                crate::auth::oidc::FLOW_STARTS_PER_MINUTE,
            )
            .unwrap(),
            callbacks_in_flight: std::num::NonZeroU32::new(crate::auth::oidc::CALLBACKS_IN_FLIGHT)
                .unwrap(),
        }
    }

    fn workspace(domains: &[&str]) -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            slug: WorkspaceSlug::parse("acme").unwrap(),
            name: "Acme".into(),
            allowed_email_domains: domains
                .iter()
                .map(|d| EmailDomain::parse(d).unwrap())
                .collect(),
        }
    }

    fn env_all() -> AzureEnv {
        AzureEnv {
            client_id: Some(CLIENT.into()),
            client_secret: Some(SecretString::from(SECRET)),
            tenant_id: Some(TENANT.into()),
            redirect_uri: Some("https://sso.acme.test/auth/microsoft/callback".into()),
            allowed_domains: Some("acme.test, acme.co.uk".into()),
        }
    }

    #[test]
    fn with_nothing_configured_everything_is_default_and_the_button_hidden() {
        let c = config(AzureEnv::default());
        let e = resolve(&c, &workspace(&[]), None);
        assert_eq!(e.enabled.source, Source::Default);
        assert!(!e.button_visible() && e.sign_in().is_none());
        assert_eq!(e.tenant.value, TenantSetting::Common);
        assert_eq!(
            e.redirect_uri.value.as_str(),
            "https://acme.app.ontrackio.com/auth/microsoft/callback"
        );
        assert_eq!(e.redirect_uri.source, Source::Default);
    }

    #[test]
    fn before_the_card_is_saved_the_environment_supplies_every_field() {
        let c = config(env_all());
        let e = resolve(&c, &workspace(&[]), None);
        assert!(e.enabled.value && e.enabled.source == Source::Environment);
        assert_eq!(e.tenant.source, Source::Environment);
        assert_eq!(e.allowed_domains.value.len(), 2);
        let s = e.sign_in().expect("complete");
        assert_eq!(s.client_secret.expose_secret(), SECRET);
    }

    #[test]
    fn card_values_beat_variables_and_a_saved_card_decides_the_toggle_and_domains() {
        let c = config(env_all());
        let ws = workspace(&[]);
        let row = StoredSettings {
            enabled: false,
            tenant_id: Some("common".into()),
            client_secret_sealed: Some(seal_secret(
                &c.keys,
                &ws.id,
                &SecretString::from("Card~secret.value_1234567890"),
            )),
            saved_at: Some(1),
            ..Default::default()
        };
        let e = resolve(&c, &ws, Some(&row));
        assert_eq!((e.enabled.value, e.enabled.source), (false, Source::Card));
        assert_eq!(
            (e.tenant.value.clone(), e.tenant.source),
            (TenantSetting::Common, Source::Card)
        );
        assert_eq!(e.client_id.source, Source::Environment);
        assert_eq!(
            e.client_secret.value.as_ref().unwrap().expose_secret(),
            "Card~secret.value_1234567890"
        );
        // Saved with an empty list: empty it is, not the variable's list.
        assert!(e.allowed_domains.value.is_empty());
        assert_eq!(e.allowed_domains.source, Source::Card);
    }

    #[test]
    fn invalid_variables_are_ignored_and_reported_without_their_secret() {
        let c = config(AzureEnv {
            client_id: Some("not-a-guid".into()),
            client_secret: Some(SecretString::from("8e4c2a6f-1b3d-4f5e-9a7c-0d2b4f6e8a1c")),
            tenant_id: Some("contoso.onmicrosoft.com".into()),
            redirect_uri: Some("http://acme.example.com/cb".into()),
            allowed_domains: Some("acme..test".into()),
        });
        let e = resolve(&c, &workspace(&[]), None);
        for f in [
            Field::ClientId,
            Field::ClientSecret,
            Field::Tenant,
            Field::RedirectUri,
            Field::AllowedDomains,
        ] {
            assert!(e.env_problem(f).is_some(), "{f:?}");
        }
        // "On exactly when AZURE_CLIENT_ID is set" — but with no usable id, no button.
        assert!(e.enabled.value && !e.button_visible());
        assert_eq!(e.tenant.source, Source::Default);
        assert!(e.client_secret.value.is_none());
        assert!(!format!("{e:?}").contains("8e4c2a6f-1b3d"));
    }

    #[test]
    fn a_secret_sealed_for_another_workspace_does_not_open() {
        let c = config(AzureEnv::default());
        let (a, b) = (workspace(&[]), workspace(&[]));
        let row = StoredSettings {
            client_secret_sealed: Some(seal_secret(&c.keys, &a.id, &SecretString::from(SECRET))),
            saved_at: Some(1),
            ..Default::default()
        };
        let e = resolve(&c, &b, Some(&row));
        assert!(e.client_secret.value.is_none() && e.stored_secret_unreadable);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c = config(env_all());
        let e = resolve(&c, &workspace(&[]), None);
        assert!(!format!("{e:?}").contains(SECRET));
        assert!(!format!("{:?}", e.sign_in().unwrap()).contains(SECRET));
    }
}
