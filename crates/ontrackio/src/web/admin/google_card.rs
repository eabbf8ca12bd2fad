//! Admin → Settings → Integrations → Google: the Google sign-in settings card, its
//! connection test, its health line and the set-up checklist for Google Cloud console.
//!
//! The allowed email domains are one workspace setting shared by every provider: this card
//! shows them and links to where they are edited, and never keeps a copy of its own.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::card::{Health, HealthColumns, InEffect, Mark, failure_line, join_domains, mark};
use crate::audit;
use crate::auth::google::client::{GoogleClient, GoogleError};
use crate::auth::google::settings::{
    self, CONNECTION_TESTED, EffectiveGoogleSettings, GoogleField, SETTINGS_SAVED, Source,
};
use crate::domain::{
    GoogleClientId, RedirectUri, check_google_client_secret, parse_google_redirect_uri,
};
use crate::store::{self, google_settings::StoredGoogleSettings};
use crate::web::chrome::{Chrome, fmt_opt_time, fmt_time};
use crate::web::client::ClientInfo;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub const PATH: &str = "/admin/settings/integrations/google";
pub const TEST_PATH: &str = "/admin/settings/integrations/google/test";
/// Where the shared allowed email domains are edited.
pub use super::card::DOMAINS_EDITED_AT;
/// The target of the card's audit rows.
const AUDIT_TARGET: &str = "Google";

/// The scopes the sign-in requests, exactly as the consent screen must list them.
pub const SCOPES: &str = "openid email profile";
/// The name the checklist gives the OAuth client and the consent screen.
pub const APP_NAME: &str = "OnTrackio ITAM";

/// What the inputs show. Never the secret: its field is write-only.
#[derive(Default)]
pub struct CardForm {
    pub enabled: bool,
    pub client_id: String,
    pub redirect_uri: String,
}

#[derive(Default)]
pub struct FieldErrors {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        self.client_id.is_some() || self.client_secret.is_some() || self.redirect_uri.is_some()
    }
}

/// The work in Google Cloud console, with the exact values for this workspace.
pub struct Checklist {
    pub app_name: &'static str,
    pub scopes: &'static str,
    pub redirect_uri: String,
    pub javascript_origin: String,
    pub consent: Mark,
    pub client: Mark,
    pub secret: Mark,
    pub done: usize,
    pub all_done: bool,
}

pub struct CardView {
    pub status: &'static str,
    pub status_text: String,
    pub enabled: InEffect,
    pub client_id: InEffect,
    pub client_secret: InEffect,
    pub redirect_uri: InEffect,
    pub default_redirect_uri: String,
    /// The shared allowed email domains, read-only here.
    pub allowed_domains: String,
    pub domains_edit_url: &'static str,
    pub secret_unreadable: bool,
    /// Sign-in is on and no domain is allowed: any Google account may sign in.
    pub any_account_warning: bool,
    pub health: Health,
    pub checklist: Checklist,
}

#[derive(Template)]
#[template(path = "admin_google_card.html")]
struct CardPage {
    chrome: Chrome,
    notice: Option<String>,
    form: CardForm,
    errors: FieldErrors,
    view: CardView,
}

/// The card's status in one word, as the Integrations list shows it too.
pub fn status(e: &EffectiveGoogleSettings) -> (&'static str, &'static str) {
    if e.button_visible() {
        ("on", "On")
    } else if e.card_saved || e.client_id.value.is_some() {
        ("off", "Off")
    } else {
        ("not-configured", "Not configured")
    }
}

/// Why an enabled card shows no button: what is still missing.
fn hidden_until(e: &EffectiveGoogleSettings) -> &'static str {
    if e.client_id.value.is_none() {
        "the Continue with Google button stays hidden until a Client ID is set."
    } else {
        "the Continue with Google button stays hidden until a client secret is set: paste it below and save."
    }
}

fn status_text(e: &EffectiveGoogleSettings) -> String {
    if e.button_visible() {
        return "On: the Continue with Google button shows on /login.".into();
    }
    if e.enabled.value {
        return format!("Enabled, but {}", hidden_until(e));
    }
    if e.card_saved || e.client_id.value.is_some() {
        return "Off: the Continue with Google button is hidden on /login. The credentials are kept."
            .into();
    }
    "Not configured yet: follow the checklist below in Google Cloud console, then fill in the settings and save."
        .into()
}

fn in_effect(
    e: &EffectiveGoogleSettings,
    field: GoogleField,
    source: Source,
    value: String,
) -> InEffect {
    let problem = e.env_problem(field).map(|p| p.message.as_str());
    InEffect::new(value, source, field.variable(), problem)
}

fn health(row: Option<&StoredGoogleSettings>) -> Health {
    Health::new(HealthColumns {
        last_success_at: row.and_then(|r| r.last_success_at),
        last_failure: row.and_then(|r| {
            let at = r.last_failure_at?;
            let summary = r.last_failure_summary.as_deref();
            Some(failure_line(summary, "Google sign-in failed", at))
        }),
        last_test_at: row.and_then(|r| r.last_test_at),
        last_test_summary: row.and_then(|r| r.last_test_summary.as_deref()),
        last_test_ok: row.and_then(|r| r.last_test_ok),
    })
}

fn secret_state(e: &EffectiveGoogleSettings, row: Option<&StoredGoogleSettings>) -> String {
    match e.client_secret.source {
        Source::Card => format!(
            "Stored — saved {} by {}",
            fmt_opt_time(row.and_then(|r| r.secret_saved_at)),
            row.and_then(|r| r.secret_saved_by.as_deref())
                .unwrap_or("an admin")
        ),
        Source::Environment => "Set by the GOOGLE_CLIENT_SECRET variable".into(),
        Source::Default => "Not set".into(),
    }
}

/// What the card knows about the work in Google Cloud console: a client id in effect
/// means the OAuth client exists; a passing connection test proves the secret; the first
/// successful sign-in proves the consent screen, the redirect URI and the secret.
fn checklist(
    e: &EffectiveGoogleSettings,
    row: Option<&StoredGoogleSettings>,
    javascript_origin: String,
) -> Checklist {
    let signed_in = row.and_then(|r| r.last_success_at);
    let has_secret = e.client_secret.value.is_some();
    let tested = has_secret && row.and_then(|r| r.last_test_ok) == Some(true);
    let consent = match signed_in {
        Some(at) => mark(
            true,
            format!(
                "Done: a Google sign-in went through the consent screen ({}).",
                fmt_time(at)
            ),
        ),
        None => mark(
            false,
            "Not confirmed yet: the first successful sign-in confirms it.",
        ),
    };
    let client = match (e.client_id.value.is_some(), e.client_id.source, signed_in) {
        (true, _, Some(_)) => mark(
            true,
            "Done: a Google sign-in came back to this redirect URI.",
        ),
        (true, Source::Environment, None) => mark(
            true,
            "Done: the Client ID comes from the GOOGLE_CLIENT_ID variable. The first successful sign-in confirms the redirect URI.",
        ),
        (true, _, None) => mark(
            true,
            "Done: the Client ID is saved on this card. The first successful sign-in confirms the redirect URI.",
        ),
        (false, ..) => mark(
            false,
            "To do: create the OAuth client, then paste its Client ID into the settings below.",
        ),
    };
    let secret = if tested {
        mark(
            true,
            "Done: Test connection: Google accepted the Client ID and client secret.",
        )
    } else if has_secret && signed_in.is_some() {
        mark(true, "Done: a Google sign-in used the saved client secret.")
    } else if has_secret {
        mark(
            false,
            "Saved, not verified yet: select Test connection to check it with Google.",
        )
    } else {
        mark(
            false,
            "To do: paste the client secret into the settings below.",
        )
    };
    let done = [&consent, &client, &secret]
        .iter()
        .filter(|m| m.done)
        .count();
    Checklist {
        app_name: APP_NAME,
        scopes: SCOPES,
        redirect_uri: e.redirect_uri.value.to_string(),
        javascript_origin,
        consent,
        client,
        secret,
        done,
        all_done: done == 3,
    }
}

fn view(
    state: &AppState,
    cu: &CurrentUser,
    e: &EffectiveGoogleSettings,
    row: Option<&StoredGoogleSettings>,
) -> CardView {
    let ws = &cu.workspace;
    let base = &state.config.base_url;
    let domains = &ws.allowed_email_domains;
    CardView {
        status: status(e).0,
        status_text: status_text(e),
        enabled: in_effect(
            e,
            GoogleField::Enabled,
            e.enabled.source,
            if e.enabled.value { "On" } else { "Off" }.into(),
        ),
        client_id: in_effect(
            e,
            GoogleField::ClientId,
            e.client_id.source,
            e.client_id
                .value
                .as_ref()
                .map_or_else(|| "None".into(), ToString::to_string),
        ),
        client_secret: in_effect(
            e,
            GoogleField::ClientSecret,
            e.client_secret.source,
            secret_state(e, row),
        ),
        redirect_uri: in_effect(
            e,
            GoogleField::RedirectUri,
            e.redirect_uri.source,
            e.redirect_uri.value.to_string(),
        ),
        default_redirect_uri: settings::default_redirect_uri(base, ws.slug.as_str()).to_string(),
        allowed_domains: if domains.is_empty() {
            "Any account".into()
        } else {
            join_domains(domains)
        },
        domains_edit_url: DOMAINS_EDITED_AT,
        secret_unreadable: e.stored_secret_unreadable,
        any_account_warning: e.button_visible() && domains.is_empty(),
        health: health(row),
        checklist: checklist(e, row, base.workspace_origin(ws.slug.as_str())),
    }
}

/// The inputs as stored: the card's own values once saved; before that, the toggle in
/// effect, so a first Save keeps what already applies.
fn form_from(e: &EffectiveGoogleSettings, row: Option<&StoredGoogleSettings>) -> CardForm {
    let saved = row.filter(|r| r.card_saved());
    CardForm {
        enabled: saved.map_or(e.enabled.value, |r| r.enabled),
        client_id: saved.and_then(|r| r.client_id.clone()).unwrap_or_default(),
        redirect_uri: saved
            .and_then(|r| r.redirect_uri.clone())
            .unwrap_or_default(),
    }
}

async fn render(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    status: StatusCode,
    notice: Option<String>,
    submitted: Option<(CardForm, FieldErrors)>,
) -> Result<Response, AppError> {
    let (row, effective) = settings::load_fresh(&state.config, &state.db, &cu.workspace).await?;
    let (form, errors) =
        submitted.unwrap_or_else(|| (form_from(&effective, row.as_ref()), FieldErrors::default()));
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    let page = CardPage {
        chrome: Chrome::for_user(cu, "admin-settings", token),
        notice,
        form,
        errors,
        view: view(state, cu, &effective, row.as_ref()),
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn saved_notice(e: &EffectiveGoogleSettings) -> String {
    if e.button_visible() {
        "Saved. The Continue with Google button appears on /login immediately.".into()
    } else if e.enabled.value {
        format!("Saved, but {}", hidden_until(e))
    } else {
        "Saved. Google sign-in is off: the Continue with Google button is hidden on /login, and the credentials are kept.".into()
    }
}

pub const UNCHANGED_NOTICE: &str = "Nothing to change: the settings were already saved as shown.";

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let notice = match q.notice.as_deref() {
        Some("saved") => {
            let (_, e) = settings::load_fresh(&state.config, &state.db, &cu.workspace).await?;
            Some(saved_notice(&e))
        }
        Some("unchanged") => Some(UNCHANGED_NOTICE.into()),
        Some("tested") => Some("Connection tested. The result is on the health line below.".into()),
        _ => None,
    };
    render(&state, &cu, &jar, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct SaveBody {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    redirect_uri: String,
}

impl SaveBody {
    /// What to show again after a refusal: what was typed (bounded), never the secret.
    fn refill(&self) -> CardForm {
        let cap = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        CardForm {
            enabled: self.enabled.is_some(),
            client_id: cap(&self.client_id, 200),
            redirect_uri: cap(&self.redirect_uri, 300),
        }
    }
}

/// A Save that passed every check.
struct Valid {
    enabled: bool,
    client_id: Option<GoogleClientId>,
    secret: Option<SecretString>,
    redirect: Option<RedirectUri>,
}

/// Blank means "not set on the card": the variable or the default applies.
fn optional<T, E: std::fmt::Display>(
    input: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    error: &mut Option<String>,
) -> Option<T> {
    if input.trim().is_empty() {
        return None;
    }
    parse(input).map_err(|m| *error = Some(m.to_string())).ok()
}

const SECRET_REQUIRED: &str = "Paste the client secret from Google Cloud console (the OAuth client's page under Credentials): no secret is stored yet, and sign-in cannot finish without one.";

/// `secret_in_effect`: a secret is stored on the card or set by GOOGLE_CLIENT_SECRET.
/// `env_client_id`: GOOGLE_CLIENT_ID holds a usable id.
fn validate(
    body: &SaveBody,
    secret_in_effect: bool,
    env_client_id: bool,
) -> Result<Valid, Box<FieldErrors>> {
    let mut e = FieldErrors::default();
    let client_id = optional(&body.client_id, GoogleClientId::parse, &mut e.client_id);
    let redirect = optional(
        &body.redirect_uri,
        parse_google_redirect_uri,
        &mut e.redirect_uri,
    );
    let enabled = body.enabled.is_some();
    let secret = if body.client_secret.trim().is_empty() {
        // Turning sign-in on with a client id but no secret would show a button whose
        // every use fails at Google: ask for the secret now.
        let client_in_effect = client_id.is_some() || env_client_id;
        if enabled && client_in_effect && !secret_in_effect {
            e.client_secret = Some(SECRET_REQUIRED.into());
        }
        None
    } else {
        check_google_client_secret(&body.client_secret)
            .map_err(|m| e.client_secret = Some(m.to_string()))
            .ok()
            .map(|()| SecretString::from(body.client_secret.trim().to_string()))
    };
    if e.any() {
        return Err(Box::new(e));
    }
    Ok(Valid {
        enabled,
        client_id,
        secret,
        redirect,
    })
}

/// The fields this save changes, for the audit row (names only, never values). A pasted
/// secret equal to the stored one is no change.
fn changed_fields(
    old: Option<&StoredGoogleSettings>,
    stored_secret: Option<&SecretString>,
    new: &Valid,
) -> Vec<&'static str> {
    let old = old.filter(|r| r.card_saved());
    let mut changed = Vec::new();
    if old.map(|r| r.enabled) != Some(new.enabled) {
        changed.push("enabled");
    }
    if old.and_then(|r| r.client_id.as_deref())
        != new.client_id.as_ref().map(GoogleClientId::as_str)
    {
        changed.push("client_id");
    }
    if let Some(secret) = &new.secret {
        let same = stored_secret.is_some_and(|s| s.expose_secret() == secret.expose_secret());
        if !same {
            changed.push("client_secret");
        }
    }
    if old.and_then(|r| r.redirect_uri.as_deref()) != new.redirect.as_ref().map(RedirectUri::as_str)
    {
        changed.push("redirect_uri");
    }
    changed
}

pub async fn save(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Form(body): Form<SaveBody>,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let (_, current) = settings::load_fresh(&state.config, &state.db, ws).await?;
    // What the variables alone give (no stored row): a blank Client ID falls back to it.
    let env_client_id = settings::resolve(&state.config, ws, None)
        .client_id
        .value
        .is_some();
    let valid = match validate(&body, current.client_secret.value.is_some(), env_client_id) {
        Ok(v) => v,
        Err(errors) => {
            let form = body.refill();
            return render(
                &state,
                &cu,
                &jar,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((form, *errors)),
            )
            .await;
        }
    };
    if !write(&state, &cu, &client, &valid).await? {
        return Ok(Redirect::to(&format!("{PATH}?notice=unchanged")).into_response());
    }
    // This node at once; the others through the notification sent in the transaction.
    state.workspace_changed(ws.id.as_str());
    Ok(Redirect::to(&format!("{PATH}?notice=saved")).into_response())
}

/// One transaction: the card row, the secret, the notification and one audit row.
/// `false`: nothing differs from what is stored, so nothing was written.
async fn write(
    state: &AppState,
    cu: &CurrentUser,
    client: &ClientInfo,
    v: &Valid,
) -> Result<bool, AppError> {
    let ws = &cu.workspace;
    let mut tx = state.db.begin().await?;
    let old = store::google_settings::get(&mut *tx, &ws.id).await?;
    let stored_secret = old
        .as_ref()
        .and_then(|r| r.client_secret_sealed.as_deref())
        .and_then(|s| settings::open_secret(&state.config.keys, &ws.id, s));
    let changed = changed_fields(old.as_ref(), stored_secret.as_ref(), v);
    if changed.is_empty() {
        return Ok(false);
    }
    let sealed = v
        .secret
        .as_ref()
        .filter(|_| changed.contains(&"client_secret"))
        .map(|s| settings::seal_secret(&state.config.keys, &ws.id, s));
    let fields = store::google_settings::CardFields {
        enabled: v.enabled,
        client_id: v.client_id.as_ref().map(GoogleClientId::as_str),
        redirect_uri: v.redirect.as_ref().map(RedirectUri::as_str),
        saved_by: &cu.user.email,
    };
    let secret = sealed
        .as_deref()
        .map(|sealed| store::google_settings::NewSecret {
            sealed,
            key_id: state.config.keys.sealing_key_id(),
        });
    store::google_settings::save(&mut tx, state.db.backend(), &ws.id, &fields, secret).await?;
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        SETTINGS_SAVED,
        AUDIT_TARGET,
        client.origin(),
        serde_json::json!({ "changed": changed }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

// ---- Test connection ----------------------------------------------------------------

/// The result of a connection test, in plain words.
struct Outcome {
    ok: bool,
    /// Google's OAuth `error`, when it answered with one.
    error: Option<String>,
    summary: String,
}

impl Outcome {
    fn ok(summary: impl Into<String>) -> Self {
        Self {
            ok: true,
            error: None,
            summary: summary.into(),
        }
    }
    fn failed(summary: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: None,
            summary: summary.into(),
        }
    }
}

/// Google's own text in a summary: bounded and on one line.
fn quoted(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_string()
}

/// Explains Google's answer to the probe (`GoogleClient::probe_client`).
fn explain_probe(answer: GoogleError) -> Outcome {
    let (status, error, description) = match answer {
        GoogleError::Oauth {
            status,
            error,
            description,
        } => (status, error, quoted(&description)),
        GoogleError::Transport(e) | GoogleError::Untrusted(e) => {
            return Outcome::failed(format!("{e}."));
        }
    };
    let mut outcome = match error.as_str() {
        "invalid_grant" => Outcome::ok(
            "All good: Google found the OAuth client and accepted its client secret. The redirect URI is confirmed by the first sign-in.",
        ),
        "invalid_client" if description.contains("not found") => Outcome::failed(
            "Google does not know this Client ID (invalid_client: The OAuth client was not found.). Copy the Client ID from Google Cloud console → APIs & Services → Credentials, paste it into Client ID and save.",
        ),
        "invalid_client" => Outcome::failed(format!(
            "Google refused the client secret (invalid_client: {description}). Copy the Client secret of this OAuth client from Google Cloud console → APIs & Services → Credentials (or add a new secret there), paste it into Client secret and save."
        )),
        "deleted_client" => Outcome::failed(
            "This OAuth client was deleted in Google Cloud console (deleted_client). Restore it there within 30 days, or create a new one and paste its Client ID and secret here.",
        ),
        "unauthorized_client" => Outcome::failed(format!(
            "Google refused this OAuth client (unauthorized_client: {description}). Check that it is a Web application client of your project in Google Cloud console."
        )),
        other => Outcome::failed(format!(
            "Google's token endpoint answered {} (HTTP {status}): {description}",
            quoted(other)
        )),
    };
    outcome.error = Some(quoted(&error));
    outcome
}

async fn check_connection(google: &GoogleClient, e: &EffectiveGoogleSettings) -> Outcome {
    let Some(client_id) = &e.client_id.value else {
        return Outcome::failed("No Client ID is set, so the OAuth client could not be checked.");
    };
    let Some(secret) = &e.client_secret.value else {
        return Outcome::failed("No client secret is set: paste it into Client secret and save.");
    };
    let answer = google
        .probe_client(client_id.as_str(), secret, e.redirect_uri.value.as_str())
        .await;
    explain_probe(answer)
}

pub async fn test_connection(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let (_, effective) = settings::load_fresh(&state.config, &state.db, ws).await?;
    let outcome = check_connection(&state.google.client, &effective).await;
    let mut tx = state.db.begin().await?;
    store::google_settings::record_test(&mut *tx, &ws.id, outcome.ok, &outcome.summary).await?;
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        CONNECTION_TESTED,
        AUDIT_TARGET,
        client.origin(),
        serde_json::json!({ "ok": outcome.ok, "error": outcome.error }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{PATH}?notice=tested")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(enabled: bool, client_id: &str, secret: &str, redirect: &str) -> SaveBody {
        SaveBody {
            enabled: enabled.then(|| "on".into()),
            client_id: client_id.into(),
            client_secret: secret.into(),
            redirect_uri: redirect.into(),
        }
    }

    const ID: &str = "123456789012-abc123def456ghi789.apps.googleusercontent.com";
    const SECRET: &str = "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";

    #[test]
    fn a_secret_is_required_only_to_turn_sign_in_on_with_a_client_id_and_none_in_effect() {
        let needs = |b: SaveBody, stored: bool, env_id: bool| {
            validate(&b, stored, env_id)
                .err()
                .and_then(|e| e.client_secret)
                .is_some()
        };
        assert!(needs(body(true, ID, "", ""), false, false));
        assert!(needs(body(true, "", "", ""), false, true));
        assert!(!needs(body(true, ID, "", ""), true, false));
        assert!(!needs(body(false, ID, "", ""), false, false));
        assert!(!needs(body(true, "", "", ""), false, false));
        assert!(validate(&body(true, ID, SECRET, ""), false, false).is_ok());
    }

    #[test]
    fn the_probe_answers_are_read_as_google_means_them() {
        let probe = |status, json: &str| {
            explain_probe(crate::auth::google::client::oauth_error(
                status,
                json.as_bytes(),
            ))
        };
        assert!(
            probe(
                400,
                r#"{"error":"invalid_grant","error_description":"Bad Request"}"#
            )
            .ok
        );
        assert!(
            probe(
                400,
                r#"{"error":"invalid_grant","error_description":"Malformed auth code."}"#
            )
            .ok
        );
        let wrong = probe(
            401,
            r#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
        );
        assert!(
            !wrong.ok
                && wrong
                    .summary
                    .starts_with("Google refused the client secret")
        );
        let unknown = probe(
            401,
            r#"{"error":"invalid_client","error_description":"The OAuth client was not found."}"#,
        );
        assert!(
            !unknown.ok
                && unknown
                    .summary
                    .starts_with("Google does not know this Client ID")
        );
        assert!(!probe(400, r#"{"error":"unauthorized_client"}"#).ok);
        assert!(!probe(500, "<html>oops</html>").ok);
        let odd = probe(
            500,
            r#"{"error":"internal_failure","error_description":"Backend\nError"}"#,
        );
        assert!(
            !odd.ok
                && odd
                    .summary
                    .contains("internal_failure (HTTP 500): Backend Error")
        );
    }
}
