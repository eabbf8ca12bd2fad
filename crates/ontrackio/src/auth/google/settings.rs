//! The effective Google sign-in settings of a workspace: field by field the Google card's
//! stored value, else the `GOOGLE_*` variable, else the default (DESIGN §5.3, as for
//! Microsoft), and the sealing of the card's client secret.
//!
//! The allowed email domains are not a Google setting: they are one workspace setting that
//! every provider applies, read from the workspace row by the sign-in itself.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::effective::pick;
pub use crate::auth::effective::{Effective, Source};
use crate::config::{BaseUrl, Config, GoogleEnv};
use crate::crypto::KeyRing;
use crate::domain::{
    GoogleClientId, RedirectUri, WorkspaceId, check_google_client_secret, parse_google_redirect_uri,
};
use crate::store::google_settings::{self as stored, StoredGoogleSettings};
use crate::store::workspaces::Workspace;
use crate::store::{Conn, Db};

/// Audit actions of the card, as admins read them in Admin → Audit log.
pub const SETTINGS_SAVED: &str = "Google sign-in settings saved";
pub const CONNECTION_TESTED: &str = "Google connection tested";

/// Everything the Google sign-in flow needs, present only when sign-in can work. `Debug`
/// is safe: `SecretString` prints as redacted.
#[derive(Clone, Debug)]
pub struct GoogleSignInConfig {
    pub client_id: GoogleClientId,
    pub client_secret: SecretString,
    pub redirect_uri: RedirectUri,
}

/// A field of the Google card, and the variable that stands in for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoogleField {
    Enabled,
    ClientId,
    ClientSecret,
    RedirectUri,
}

impl GoogleField {
    pub fn variable(self) -> &'static str {
        match self {
            Self::Enabled | Self::ClientId => "GOOGLE_CLIENT_ID",
            Self::ClientSecret => "GOOGLE_CLIENT_SECRET",
            Self::RedirectUri => "GOOGLE_REDIRECT_URI",
        }
    }
}

/// A `GOOGLE_*` value that does not parse: treated as absent, and shown on the card so the
/// admin learns which variable is wrong (the server still starts). The message never
/// quotes the value.
#[derive(Clone, Debug)]
pub struct GoogleEnvProblem {
    pub field: GoogleField,
    pub message: String,
}

#[derive(Debug)]
pub struct EffectiveGoogleSettings {
    pub enabled: Effective<bool>,
    pub client_id: Effective<Option<GoogleClientId>>,
    pub client_secret: Effective<Option<SecretString>>,
    pub redirect_uri: Effective<RedirectUri>,
    /// The card has been saved, so its toggle is authoritative.
    pub card_saved: bool,
    pub env_problems: Vec<GoogleEnvProblem>,
    /// A secret is stored on the card but none of the configured master keys opens it.
    pub stored_secret_unreadable: bool,
}

impl EffectiveGoogleSettings {
    /// The **Continue with Google** button shows exactly when sign-in is on and complete
    /// (issue 14): the toggle, a client id and a client secret in effect. A button whose
    /// every use fails at the token endpoint is never shown.
    pub fn button_visible(&self) -> bool {
        self.enabled.value && self.client_id.value.is_some() && self.client_secret.value.is_some()
    }

    /// What the flow needs; `None` while the button is hidden or no secret is in effect.
    pub fn sign_in(&self) -> Option<GoogleSignInConfig> {
        if !self.button_visible() {
            return None;
        }
        Some(GoogleSignInConfig {
            client_id: self.client_id.value.clone()?,
            client_secret: self.client_secret.value.clone()?,
            redirect_uri: self.redirect_uri.value.clone(),
        })
    }

    pub fn env_problem(&self, field: GoogleField) -> Option<&GoogleEnvProblem> {
        self.env_problems.iter().find(|p| p.field == field)
    }
}

/// The default redirect URI, exactly as it must be listed under Authorized redirect URIs
/// in Google Cloud console.
pub fn default_redirect_uri(base: &BaseUrl, slug: &str) -> RedirectUri {
    RedirectUri::from_trusted(format!(
        "{}/auth/google/callback",
        base.workspace_origin(slug)
    ))
}

/// Associated data of a sealed Google client secret: a sealed value copied to another
/// workspace, or into the Microsoft card's column, does not open.
pub fn secret_context(ws: &WorkspaceId) -> String {
    format!("{}/google.client_secret", ws.as_str())
}

pub fn seal_secret(keys: &KeyRing, ws: &WorkspaceId, secret: &SecretString) -> String {
    keys.seal(secret.expose_secret().as_bytes(), &secret_context(ws))
}

pub fn open_secret(keys: &KeyRing, ws: &WorkspaceId, sealed: &str) -> Option<SecretString> {
    let plain = keys.open(sealed, &secret_context(ws)).ok()?;
    let text = std::str::from_utf8(&plain).ok()?;
    Some(SecretString::from(text.to_string()))
}

/// The `GOOGLE_*` variables, each validated with the card's own parser.
#[derive(Default)]
struct EnvValues {
    client_id_set: bool,
    client_id: Option<GoogleClientId>,
    secret: Option<SecretString>,
    redirect: Option<RedirectUri>,
    problems: Vec<GoogleEnvProblem>,
}

fn non_blank(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn parse_env(env: &GoogleEnv) -> EnvValues {
    let mut problems = Vec::new();
    let mut problem = |field: GoogleField, message: String| {
        problems.push(GoogleEnvProblem { field, message });
    };
    let client_id = non_blank(env.client_id.as_ref()).and_then(|s| {
        GoogleClientId::parse(s)
            .map_err(|e| problem(GoogleField::ClientId, e.to_string()))
            .ok()
    });
    let secret = env
        .client_secret
        .as_ref()
        .map(|s| s.expose_secret().trim())
        .filter(|s| !s.is_empty())
        .and_then(|s| match check_google_client_secret(s) {
            Ok(()) => Some(SecretString::from(s.to_string())),
            Err(e) => {
                problem(GoogleField::ClientSecret, e.to_string());
                None
            }
        });
    let redirect = non_blank(env.redirect_uri.as_ref()).and_then(|s| {
        parse_google_redirect_uri(s)
            .map_err(|e| problem(GoogleField::RedirectUri, e.to_string()))
            .ok()
    });
    EnvValues {
        client_id_set: non_blank(env.client_id.as_ref()).is_some(),
        client_id,
        secret,
        redirect,
        problems,
    }
}

/// The pure resolution from the stored row (if any) and the environment: the card wins
/// field by field; before the card is saved, "enabled" follows `GOOGLE_CLIENT_ID` being
/// set, and once saved the card's toggle decides.
pub fn resolve(
    config: &Config,
    ws: &Workspace,
    row: Option<&StoredGoogleSettings>,
) -> EffectiveGoogleSettings {
    let env = parse_env(&config.google);
    let card_saved = row.is_some_and(StoredGoogleSettings::card_saved);
    // Stored values were validated on Save; one that no longer parses counts as unset.
    let card = |f: fn(&StoredGoogleSettings) -> Option<&String>| row.and_then(f);
    let card_client = card(|r| r.client_id.as_ref()).and_then(|s| GoogleClientId::parse(s).ok());
    let card_redirect =
        card(|r| r.redirect_uri.as_ref()).and_then(|s| parse_google_redirect_uri(s).ok());
    let sealed = card(|r| r.client_secret_sealed.as_ref());
    let card_secret = sealed.and_then(|s| open_secret(&config.keys, &ws.id, s));
    let stored_secret_unreadable = sealed.is_some() && card_secret.is_none();
    if stored_secret_unreadable {
        tracing::warn!(workspace = %ws.slug, "the stored Google client secret cannot be opened with the configured master keys");
    }
    let enabled = if card_saved {
        Effective::new(row.is_some_and(|r| r.enabled), Source::Card)
    } else if env.client_id_set {
        Effective::new(true, Source::Environment)
    } else {
        Effective::new(false, Source::Default)
    };
    EffectiveGoogleSettings {
        enabled,
        client_id: pick(card_client.map(Some), env.client_id.map(Some), None),
        client_secret: pick(card_secret.map(Some), env.secret.map(Some), None),
        redirect_uri: pick(
            card_redirect,
            env.redirect,
            default_redirect_uri(&config.base_url, ws.slug.as_str()),
        ),
        card_saved,
        env_problems: env.problems,
        stored_secret_unreadable,
    }
}

/// Reads the row and resolves, bypassing any cache (the card itself, the connection test).
pub async fn load_fresh(
    config: &Config,
    db: &Db,
    ws: &Workspace,
) -> anyhow::Result<(Option<StoredGoogleSettings>, EffectiveGoogleSettings)> {
    let row = stored::get(db.pool(), &ws.id)
        .await
        .context("Failed to read the Google sign-in settings")?;
    let effective = resolve(config, ws, row.as_ref());
    Ok((row, effective))
}

/// The per-process cache of every workspace's effective Google settings.
pub type SettingsCache = crate::auth::settings_cache::SettingsCache<EffectiveGoogleSettings>;

/// The card's health line: a failure an admin can act on (at most 300 characters kept).
pub async fn record_failure(db: &Db, ws: &WorkspaceId, summary: &str) -> Result<(), sqlx::Error> {
    let summary: String = summary.chars().take(300).collect();
    stored::record_failure(db.pool(), ws, &summary).await
}

/// For `ontrackio secrets rotate-key`: re-seals every stored Google client secret under
/// the newest (first) master key, inside the caller's transaction. Returns how many were
/// re-sealed and how many there are in all; fails, changing nothing the caller commits, if
/// a secret cannot be opened.
pub async fn reseal_secrets(conn: &mut Conn, keys: &KeyRing) -> anyhow::Result<(usize, usize)> {
    let newest = keys.sealing_key_id().to_string();
    let secrets = stored::list_sealed_secrets(&mut *conn).await?;
    let mut resealed = 0;
    for s in &secrets {
        if KeyRing::key_id_of(&s.sealed) == Some(newest.as_str()) {
            continue;
        }
        let Some(secret) = open_secret(keys, &s.workspace, &s.sealed) else {
            anyhow::bail!(
                "the Google client secret of workspace {} was sealed with key “{}”, which is not in ONTRACKIO_MASTER_KEY; nothing was changed",
                s.workspace.as_str(),
                KeyRing::key_id_of(&s.sealed).unwrap_or("?")
            );
        };
        let sealed = seal_secret(keys, &s.workspace, &secret);
        stored::update_sealed_secret(&mut *conn, &s.workspace, &sealed, &newest).await?;
        resealed += 1;
    }
    Ok((resealed, secrets.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AzureEnv, LogFormat, OutboundBase};
    use crate::domain::WorkspaceSlug;

    const SECRET: &str = "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";
    const CARD_SECRET: &str = "GOCSPX-cardSecret_0123456789abcdefgh";
    const CLIENT: &str = "718254390625-q3v8k1m6x9c2r5t0w4y7b1n8p3s6d9f2.apps.googleusercontent.com";
    const CARD_CLIENT: &str = "123456789012-abc123def456ghi789.apps.googleusercontent.com";

    fn config(google: GoogleEnv) -> Config {
        Config {
            database_url: crate::config::DatabaseUrl::Sqlite("sqlite://x.db".into()),
            listen: ([127, 0, 0, 1], 0).into(),
            base_url: BaseUrl::parse("https://app.ontrackio.com").unwrap(),
            keys: KeyRing::parse(&KeyRing::generate_encoded()).unwrap(),
            microsoft_authority: OutboundBase::parse("https://login.microsoftonline.com").unwrap(),
            microsoft_graph: OutboundBase::parse("https://graph.microsoft.com").unwrap(),
            google_issuer: OutboundBase::parse("https://accounts.google.com").unwrap(),
            google,
            trusted_proxies: vec![],
            azure: AzureEnv::default(),
            log_format: LogFormat::Text,
            microsoft_timeout: std::time::Duration::from_secs(10),
            flow_starts_per_minute: std::num::NonZeroU32::MIN,
            callbacks_in_flight: std::num::NonZeroU32::MIN,
        }
    }

    fn workspace() -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            slug: WorkspaceSlug::parse("acme").unwrap(),
            name: "Acme".into(),
            allowed_email_domains: vec![],
        }
    }

    fn env_all() -> GoogleEnv {
        GoogleEnv {
            client_id: Some(CLIENT.into()),
            client_secret: Some(SecretString::from(SECRET)),
            redirect_uri: Some("https://sso.acme.test/auth/google/callback".into()),
        }
    }

    fn saved_row(c: &Config, ws: &Workspace) -> StoredGoogleSettings {
        StoredGoogleSettings {
            enabled: true,
            client_id: Some(CARD_CLIENT.into()),
            client_secret_sealed: Some(seal_secret(
                &c.keys,
                &ws.id,
                &SecretString::from(CARD_SECRET),
            )),
            saved_at: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn with_nothing_configured_everything_is_default_and_the_button_hidden() {
        let c = config(GoogleEnv::default());
        let e = resolve(&c, &workspace(), None);
        assert_eq!(
            (e.enabled.value, e.enabled.source),
            (false, Source::Default)
        );
        assert!(!e.button_visible() && e.sign_in().is_none());
        assert_eq!(e.client_id.source, Source::Default);
        assert_eq!(
            e.redirect_uri.value.as_str(),
            "https://acme.app.ontrackio.com/auth/google/callback"
        );
        assert_eq!(e.redirect_uri.source, Source::Default);
        assert!(e.env_problems.is_empty() && !e.card_saved);
    }

    #[test]
    fn before_the_card_is_saved_the_environment_supplies_every_field() {
        let c = config(env_all());
        let e = resolve(&c, &workspace(), None);
        assert_eq!(
            (e.enabled.value, e.enabled.source),
            (true, Source::Environment)
        );
        assert_eq!(e.client_id.source, Source::Environment);
        assert_eq!(e.redirect_uri.source, Source::Environment);
        let s = e.sign_in().expect("complete");
        assert_eq!(s.client_id.as_str(), CLIENT);
        assert_eq!(s.client_secret.expose_secret(), SECRET);
        assert_eq!(
            s.redirect_uri.as_str(),
            "https://sso.acme.test/auth/google/callback"
        );
    }

    #[test]
    fn a_health_only_row_is_not_a_saved_card_so_the_variable_still_decides_the_toggle() {
        let c = config(env_all());
        let row = StoredGoogleSettings {
            last_failure_at: Some(5),
            ..Default::default()
        };
        let e = resolve(&c, &workspace(), Some(&row));
        assert!(!e.card_saved);
        assert_eq!(e.enabled.source, Source::Environment);
        assert!(e.button_visible());
    }

    #[test]
    fn card_values_beat_variables_field_by_field_and_a_saved_card_decides_the_toggle() {
        let c = config(env_all());
        let ws = workspace();
        let e = resolve(&c, &ws, Some(&saved_row(&c, &ws)));
        assert_eq!((e.enabled.value, e.enabled.source), (true, Source::Card));
        assert_eq!(e.client_id.source, Source::Card);
        assert_eq!(e.client_id.value.as_ref().unwrap().as_str(), CARD_CLIENT);
        assert_eq!(e.client_secret.source, Source::Card);
        assert_eq!(
            e.client_secret.value.as_ref().unwrap().expose_secret(),
            CARD_SECRET
        );
        // Not set on the card: the variable still applies.
        assert_eq!(e.redirect_uri.source, Source::Environment);

        // Saved with the toggle off: off, whatever GOOGLE_CLIENT_ID says.
        let off = StoredGoogleSettings {
            enabled: false,
            ..saved_row(&c, &ws)
        };
        let e = resolve(&c, &ws, Some(&off));
        assert_eq!((e.enabled.value, e.enabled.source), (false, Source::Card));
        assert!(!e.button_visible() && e.sign_in().is_none());
    }

    #[test]
    fn enabled_without_a_secret_is_not_complete_no_button_and_no_sign_in_config() {
        let c = config(GoogleEnv {
            client_id: Some(CLIENT.into()),
            ..GoogleEnv::default()
        });
        let e = resolve(&c, &workspace(), None);
        assert!(e.enabled.value);
        assert!(!e.button_visible());
        assert!(e.sign_in().is_none());
    }

    #[test]
    fn invalid_variables_are_ignored_and_reported_without_their_values() {
        let c = config(GoogleEnv {
            client_id: Some("c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45".into()),
            client_secret: Some(SecretString::from(CLIENT)),
            redirect_uri: Some("http://acme.example.com/auth/google/callback".into()),
        });
        let e = resolve(&c, &workspace(), None);
        for f in [
            GoogleField::ClientId,
            GoogleField::ClientSecret,
            GoogleField::RedirectUri,
        ] {
            let p = e.env_problem(f).unwrap_or_else(|| panic!("{f:?}"));
            assert!(!p.message.contains("c0a8e5f2") && !p.message.contains("718254390625"));
        }
        assert!(
            e.env_problem(GoogleField::ClientSecret)
                .unwrap()
                .message
                .contains("Client ID, not the client secret")
        );
        // "On exactly when GOOGLE_CLIENT_ID is set" — but with no usable id, no button.
        assert!(e.enabled.value && !e.button_visible());
        assert_eq!(e.client_id.source, Source::Default);
        assert!(e.client_secret.value.is_none());
        assert_eq!(e.redirect_uri.source, Source::Default);
    }

    #[test]
    fn blank_variables_count_as_unset() {
        let c = config(GoogleEnv {
            client_id: Some("  ".into()),
            client_secret: Some(SecretString::from(" ")),
            redirect_uri: Some(String::new()),
        });
        let e = resolve(&c, &workspace(), None);
        assert_eq!(e.enabled.source, Source::Default);
        assert!(e.env_problems.is_empty());
    }

    #[test]
    fn a_secret_sealed_for_another_workspace_or_for_microsoft_does_not_open() {
        let c = config(GoogleEnv::default());
        let (a, b) = (workspace(), workspace());
        let row = StoredGoogleSettings {
            client_secret_sealed: Some(seal_secret(&c.keys, &a.id, &SecretString::from(SECRET))),
            saved_at: Some(1),
            ..Default::default()
        };
        let e = resolve(&c, &b, Some(&row));
        assert!(e.client_secret.value.is_none() && e.stored_secret_unreadable);
        assert_eq!(e.client_secret.source, Source::Default);

        let microsoft = crate::auth::microsoft::settings::seal_secret(
            &c.keys,
            &a.id,
            &SecretString::from(SECRET),
        );
        assert!(open_secret(&c.keys, &a.id, &microsoft).is_none());
        let google = seal_secret(&c.keys, &a.id, &SecretString::from(SECRET));
        assert!(crate::auth::microsoft::settings::open_secret(&c.keys, &a.id, &google).is_none());
        assert_eq!(
            open_secret(&c.keys, &a.id, &google)
                .unwrap()
                .expose_secret(),
            SECRET
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c = config(env_all());
        let ws = workspace();
        let e = resolve(&c, &ws, None);
        assert!(!format!("{e:?}").contains(SECRET));
        assert!(!format!("{:?}", e.sign_in().unwrap()).contains(SECRET));
        assert!(!format!("{:?}", c.google).contains(SECRET));
        let e = resolve(&c, &ws, Some(&saved_row(&c, &ws)));
        assert!(!format!("{e:?}").contains(CARD_SECRET));
    }
}
