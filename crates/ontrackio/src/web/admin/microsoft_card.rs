//! Admin → Settings → Integrations → Microsoft Entra ID: the settings card (guide, Step 5),
//! its connection test, and the health line.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::card::{Health, HealthColumns, InEffect, Mark, failure_line, join_domains, mark};
use crate::audit;
use crate::auth::microsoft::aadsts;
use crate::auth::microsoft::client::{MicrosoftClient, MsError};
use crate::auth::microsoft::settings::{
    self, CONNECTION_TESTED, EffectiveSettings, Field, SETTINGS_SAVED, Source,
};
use crate::auth::role_mapping::RoleMapping;
use crate::domain::{ClientId, EmailDomain, RedirectUri, TenantSetting, check_client_secret};
use crate::store::{self, Backend, microsoft_settings::StoredSettings};
use crate::web::chrome::{Chrome, fmt_opt_time, fmt_time};
use crate::web::client::ClientInfo;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub const PATH: &str = "/admin/settings/integrations/microsoft";

/// What the inputs show. Never the secret: its field is write-only.
#[derive(Default)]
pub struct CardForm {
    pub enabled: bool,
    pub tenant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub allowed_domains: String,
    pub secret_expires_on: String,
    pub role_mapping: String,
    pub role_mapping_super_admin: bool,
    pub role_mapping_strict: bool,
}

#[derive(Default)]
pub struct FieldErrors {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub allowed_domains: Option<String>,
    pub secret_expires_on: Option<String>,
    pub role_mapping: Option<String>,
}

pub struct CardView {
    pub status: &'static str,
    pub status_text: String,
    pub enabled: InEffect,
    pub tenant: InEffect,
    pub client_id: InEffect,
    pub client_secret: InEffect,
    pub redirect_uri: InEffect,
    pub allowed_domains: InEffect,
    pub default_redirect_uri: String,
    pub secret_unreadable: bool,
    pub common_without_domains: bool,
    pub expiry_warning: Option<String>,
    pub health: Health,
    pub checklist: Checklist,
}

/// The guide's Steps 1–4 (the work in Microsoft Entra) with the exact values for this
/// workspace, each marked from what is known: the saved credentials, a passing
/// connection test, the first successful sign-in.
pub struct Checklist {
    pub app_name: &'static str,
    pub secret_description: &'static str,
    pub redirect_uri: String,
    pub register: Mark,
    pub redirect: Mark,
    pub secret: Mark,
    pub permissions: Mark,
    pub done: usize,
    pub all_done: bool,
}

/// The name Step 1 gives the app registration.
pub const APP_NAME: &str = "OnTrackio ITAM";
/// The description Step 3 gives the client secret.
pub const SECRET_DESCRIPTION: &str = "OnTrackio ITAM client secret";

#[derive(Template)]
#[template(path = "admin_microsoft_card.html")]
struct CardPage {
    chrome: Chrome,
    notice: Option<String>,
    form: CardForm,
    errors: FieldErrors,
    view: CardView,
}

/// The card's status in one word, as the Integrations list shows it too.
pub fn status(e: &EffectiveSettings) -> (&'static str, &'static str) {
    if e.button_visible() {
        ("on", "On")
    } else if e.card_saved || e.client_id.value.is_some() {
        ("off", "Off")
    } else {
        ("not-configured", "Not configured")
    }
}

fn status_text(e: &EffectiveSettings) -> String {
    if e.button_visible() {
        return "On: the Continue with Microsoft button shows on /login.".into();
    }
    if e.enabled.value {
        return "Enabled, but the Continue with Microsoft button stays hidden until an Application (client) ID is set.".into();
    }
    if e.card_saved || e.client_id.value.is_some() {
        return "Off: the Continue with Microsoft button is hidden on /login. The credentials are kept.".into();
    }
    "Not configured yet: fill in the fields below with the values from Microsoft Entra, then save."
        .into()
}

/// Days until a `YYYY-MM-DD` expiry date (negative once passed).
pub fn days_until(expires_on: &str, now: time::OffsetDateTime) -> Option<i64> {
    let date = parse_date(expires_on)?;
    Some((date - now.date()).whole_days())
}

fn parse_date(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), fmt)
        .ok()
        .filter(|d| (2000..=2200).contains(&d.year()))
}

/// The rotation reminder, shared with Admin → Dashboard: within 30 days, or past.
pub fn expiry_warning(row: Option<&StoredSettings>) -> Option<String> {
    let on = row?.secret_expires_on.as_deref()?;
    let days = days_until(on, time::OffsetDateTime::now_utc())?;
    match days {
        d if d < 0 => Some(format!(
            "The Microsoft client secret expired on {on}. Sign-in fails with AADSTS7000222 until you rotate it: create a new secret in Entra → Certificates & secrets and paste its Value into Client secret value."
        )),
        0 => Some(format!(
            "The Microsoft client secret expires today ({on}). Rotate it now: create a new secret in Entra → Certificates & secrets and paste its Value into Client secret value."
        )),
        d if d <= 30 => Some(format!(
            "The Microsoft client secret expires on {on}, in {d} day{}. Rotate it before then: create a new secret in Entra → Certificates & secrets and paste its Value into Client secret value.",
            if d == 1 { "" } else { "s" }
        )),
        _ => None,
    }
}

/// Sign-ins are failing: the last failure is newer than the last success.
pub fn failing_since(row: Option<&StoredSettings>) -> Option<String> {
    let row = row?;
    let failed = row.last_failure_at?;
    if row.last_success_at.is_some_and(|ok| ok >= failed) {
        return None;
    }
    Some(failure_text(row))
}

fn failure_text(row: &StoredSettings) -> String {
    let code = row
        .last_failure_code
        .map(|c| format!("AADSTS{c}: "))
        .unwrap_or_default();
    let summary = row.last_failure_summary.as_deref();
    let at = row.last_failure_at.unwrap_or_default();
    format!("{code}{}", failure_line(summary, "sign-in failed", at))
}

fn in_effect(e: &EffectiveSettings, field: Field, source: Source, value: String) -> InEffect {
    let problem = e.env_problem(field).map(|p| p.message.as_str());
    InEffect::new(value, source, field.variable(), problem)
}

fn health(row: Option<&StoredSettings>) -> Health {
    Health::new(HealthColumns {
        last_success_at: row.and_then(|r| r.last_success_at),
        last_failure: row
            .filter(|r| r.last_failure_at.is_some())
            .map(failure_text),
        last_test_at: row.and_then(|r| r.last_test_at),
        last_test_summary: row.and_then(|r| r.last_test_summary.as_deref()),
        last_test_ok: row.and_then(|r| r.last_test_ok),
    })
}

fn secret_state(e: &EffectiveSettings, row: Option<&StoredSettings>) -> String {
    match e.client_secret.source {
        Source::Card => {
            let r = row.cloned().unwrap_or_default();
            format!(
                "Stored — saved {} by {}",
                fmt_opt_time(r.secret_saved_at),
                r.secret_saved_by.as_deref().unwrap_or("an admin")
            )
        }
        Source::Environment => "Set by the AZURE_CLIENT_SECRET variable".into(),
        Source::Default => "Not set".into(),
    }
}

/// What the card knows about Steps 1–4. A sign-in that came back proves the redirect URI,
/// the secret and the Graph permission; a passing connection test proves the secret only
/// for a pinned tenant (under `common` it cannot check the credentials).
pub fn checklist(e: &EffectiveSettings, row: Option<&StoredSettings>) -> Checklist {
    let signed_in = row.and_then(|r| r.last_success_at);
    let has_secret = e.client_secret.value.is_some();
    let secret_tested = has_secret
        && e.tenant.value.pinned().is_some()
        && row.and_then(|r| r.last_test_ok) == Some(true);
    let register = match (e.client_id.value.is_some(), e.client_id.source) {
        (true, Source::Environment) => mark(
            true,
            "Done: the Application (client) ID comes from the AZURE_CLIENT_ID variable.",
        ),
        (true, _) => mark(
            true,
            "Done: the Application (client) ID is saved on this card.",
        ),
        (false, _) => mark(
            false,
            "To do: register the app, then paste its Application (client) ID and Directory (tenant) ID into the fields below.",
        ),
    };
    let redirect = match signed_in {
        Some(at) => mark(
            true,
            format!(
                "Done: a Microsoft sign-in came back to this redirect URI ({}).",
                fmt_time(at)
            ),
        ),
        None => mark(
            false,
            "Not confirmed yet: the first successful sign-in confirms it.",
        ),
    };
    let secret = if secret_tested {
        mark(true, "Done: Test connection accepted the saved secret.")
    } else if has_secret && signed_in.is_some() {
        mark(true, "Done: a Microsoft sign-in used the saved secret.")
    } else if has_secret {
        mark(
            false,
            "Saved, not verified yet: Test connection checks it when Directory (tenant) ID is a GUID; otherwise the first sign-in does.",
        )
    } else {
        mark(
            false,
            "To do: paste the secret Value into Client secret value below.",
        )
    };
    let permissions = if signed_in.is_some() {
        mark(
            true,
            "Done: the first sign-in read the Microsoft Graph profile with User.Read.",
        )
    } else {
        mark(
            false,
            "Not confirmed yet: the first successful sign-in confirms it.",
        )
    };
    let done = [&register, &redirect, &secret, &permissions]
        .iter()
        .filter(|m| m.done)
        .count();
    Checklist {
        app_name: APP_NAME,
        secret_description: SECRET_DESCRIPTION,
        redirect_uri: e.redirect_uri.value.to_string(),
        register,
        redirect,
        secret,
        permissions,
        done,
        all_done: done == 4,
    }
}

fn view(e: &EffectiveSettings, row: Option<&StoredSettings>, default_redirect: String) -> CardView {
    let (status, _) = status(e);
    let domains = if e.allowed_domains.value.is_empty() {
        "Any account".to_string()
    } else {
        join_domains(&e.allowed_domains.value)
    };
    CardView {
        status,
        status_text: status_text(e),
        enabled: in_effect(
            e,
            Field::Enabled,
            e.enabled.source,
            if e.enabled.value { "On" } else { "Off" }.into(),
        ),
        tenant: in_effect(
            e,
            Field::Tenant,
            e.tenant.source,
            e.tenant.value.to_string(),
        ),
        client_id: in_effect(
            e,
            Field::ClientId,
            e.client_id.source,
            e.client_id
                .value
                .as_ref()
                .map_or_else(|| "None".into(), ToString::to_string),
        ),
        client_secret: in_effect(
            e,
            Field::ClientSecret,
            e.client_secret.source,
            secret_state(e, row),
        ),
        redirect_uri: in_effect(
            e,
            Field::RedirectUri,
            e.redirect_uri.source,
            e.redirect_uri.value.to_string(),
        ),
        allowed_domains: in_effect(e, Field::AllowedDomains, e.allowed_domains.source, domains),
        default_redirect_uri: default_redirect,
        secret_unreadable: e.stored_secret_unreadable,
        common_without_domains: e.tenant.value == TenantSetting::Common
            && e.allowed_domains.value.is_empty()
            && e.client_id.value.is_some(),
        expiry_warning: expiry_warning(row),
        health: health(row),
        checklist: checklist(e, row),
    }
}

/// The inputs as stored: the card's own values once saved; before that, the values in
/// effect for the toggle and the domains, so a first Save keeps what already applies
/// (saving with an empty list would silently admit any account).
fn form_from(e: &EffectiveSettings, row: Option<&StoredSettings>) -> CardForm {
    let saved = row.filter(|r| r.card_saved());
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    CardForm {
        enabled: saved.map_or(e.enabled.value, |r| r.enabled),
        tenant_id: text(saved.and_then(|r| r.tenant_id.as_ref())),
        client_id: text(saved.and_then(|r| r.client_id.as_ref())),
        redirect_uri: text(saved.and_then(|r| r.redirect_uri.as_ref())),
        allowed_domains: join_domains(&e.allowed_domains.value),
        secret_expires_on: text(row.and_then(|r| r.secret_expires_on.as_ref())),
        role_mapping: e.role_mapping.to_text(),
        role_mapping_super_admin: e.role_mapping.manages_super_admin,
        role_mapping_strict: e.role_mapping.strict,
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
    let ws = &cu.workspace;
    let (row, effective) = settings::load_fresh(&state.config, &state.db, ws).await?;
    let default_redirect =
        settings::default_redirect_uri(&state.config.base_url, ws.slug.as_str()).to_string();
    let (form, errors) =
        submitted.unwrap_or_else(|| (form_from(&effective, row.as_ref()), FieldErrors::default()));
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    let page = CardPage {
        chrome: Chrome::for_user(cu, "admin-settings", token),
        notice,
        form,
        errors,
        view: view(&effective, row.as_ref(), default_redirect),
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn saved_notice(e: &EffectiveSettings) -> String {
    if e.button_visible() {
        "Saved. The Continue with Microsoft button appears on /login immediately.".into()
    } else if e.enabled.value {
        "Saved. The Continue with Microsoft button stays hidden until an Application (client) ID is set.".into()
    } else {
        "Saved. Microsoft sign-in is off: the Continue with Microsoft button is hidden on /login, and the credentials are kept.".into()
    }
}

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let notice = match q.notice.as_deref() {
        Some("saved") => {
            let e = state.microsoft_settings(&cu.workspace).await?;
            Some(saved_notice(&e))
        }
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
    tenant_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    allowed_domains: String,
    #[serde(default)]
    secret_expires_on: String,
    #[serde(default)]
    role_mapping: String,
    #[serde(default)]
    role_mapping_super_admin: Option<String>,
    #[serde(default)]
    role_mapping_strict: Option<String>,
}

impl SaveBody {
    /// What to show again after a refusal: what was typed (bounded), never the secret.
    fn refill(&self) -> CardForm {
        let cap = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        CardForm {
            enabled: self.enabled.is_some(),
            tenant_id: cap(&self.tenant_id, 100),
            client_id: cap(&self.client_id, 100),
            redirect_uri: cap(&self.redirect_uri, 300),
            allowed_domains: cap(&self.allowed_domains, 2000),
            secret_expires_on: cap(&self.secret_expires_on, 20),
            role_mapping: cap(&self.role_mapping, 20_000),
            role_mapping_super_admin: self.role_mapping_super_admin.is_some(),
            role_mapping_strict: self.role_mapping_strict.is_some(),
        }
    }
}

/// A Save that passed every check.
struct Valid {
    enabled: bool,
    tenant: Option<TenantSetting>,
    client_id: Option<ClientId>,
    secret: Option<SecretString>,
    redirect: Option<RedirectUri>,
    domains: Vec<EmailDomain>,
    expires_on: Option<String>,
    roles: RoleMapping,
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

const DOMAINS_REQUIRED: &str = "Required when Directory (tenant) ID is common: the allowlist is the only boundary against sign-ins from any directory. Enter your email domains, for example acme.com, acme.co.uk.";
const SECRET_REQUIRED: &str =
    "Paste the client secret Value from Entra (Certificates & secrets): no secret is stored yet.";
const DATE_FORMAT: &str =
    "Enter the date Entra shows under Certificates & secrets → Expires, as YYYY-MM-DD.";

fn validate(
    body: &SaveBody,
    secret_stored: bool,
    env_tenant: Option<TenantSetting>,
) -> Result<Valid, Box<FieldErrors>> {
    let mut e = FieldErrors::default();
    let tenant = optional(&body.tenant_id, TenantSetting::parse, &mut e.tenant_id);
    let client_id = optional(&body.client_id, ClientId::parse, &mut e.client_id);
    let redirect = optional(&body.redirect_uri, RedirectUri::parse, &mut e.redirect_uri);
    // Microsoft sign-in off: nothing needs a secret, and a workspace that signs in with
    // Google only still keeps its allowed email domains here.
    let enabled = body.enabled.is_some();
    let secret = if body.client_secret.trim().is_empty() {
        if !secret_stored && enabled {
            e.client_secret = Some(SECRET_REQUIRED.into());
        }
        None
    } else {
        check_client_secret(&body.client_secret)
            .map_err(|m| e.client_secret = Some(m.to_string()))
            .ok()
            .map(|()| SecretString::from(body.client_secret.trim().to_string()))
    };
    let domains = EmailDomain::parse_list(&body.allowed_domains)
        .map_err(|err| e.allowed_domains = Some(err.to_string()))
        .unwrap_or_default();
    let roles = RoleMapping::parse(
        &body.role_mapping,
        body.role_mapping_super_admin.is_some(),
        body.role_mapping_strict.is_some(),
    )
    .map_err(|err| e.role_mapping = Some(err.to_string()))
    .unwrap_or_default();
    let expires_on = optional(
        &body.secret_expires_on,
        |s| parse_date(s).map(|d| d.to_string()).ok_or(DATE_FORMAT),
        &mut e.secret_expires_on,
    );
    // Judged on the tenant in effect after this save (an invalid one is reported already).
    let effective_tenant = if e.tenant_id.is_some() {
        None
    } else {
        Some(
            tenant
                .clone()
                .or(env_tenant)
                .unwrap_or(TenantSetting::Common),
        )
    };
    if enabled
        && effective_tenant == Some(TenantSetting::Common)
        && domains.is_empty()
        && e.allowed_domains.is_none()
    {
        e.allowed_domains = Some(DOMAINS_REQUIRED.into());
    }
    let refused = [
        &e.tenant_id,
        &e.client_id,
        &e.client_secret,
        &e.redirect_uri,
        &e.allowed_domains,
        &e.secret_expires_on,
        &e.role_mapping,
    ]
    .iter()
    .any(|f| f.is_some());
    if refused {
        return Err(Box::new(e));
    }
    Ok(Valid {
        enabled: body.enabled.is_some(),
        tenant,
        client_id,
        secret,
        redirect,
        domains,
        expires_on,
        roles,
    })
}

/// The fields this save changes, for the audit row (names only, never values).
fn changed_fields(
    old: Option<&StoredSettings>,
    old_domains: &[EmailDomain],
    new: &Valid,
) -> Vec<&'static str> {
    let old = old.filter(|r| r.card_saved());
    let o = |f: fn(&StoredSettings) -> Option<String>| old.and_then(f);
    let mut changed = Vec::new();
    if old.map(|r| r.enabled) != Some(new.enabled) {
        changed.push("enabled");
    }
    if o(|r| r.tenant_id.clone()) != new.tenant.as_ref().map(ToString::to_string) {
        changed.push("tenant_id");
    }
    if o(|r| r.client_id.clone()) != new.client_id.as_ref().map(ToString::to_string) {
        changed.push("client_id");
    }
    if new.secret.is_some() {
        changed.push("client_secret");
    }
    if o(|r| r.redirect_uri.clone()) != new.redirect.as_ref().map(ToString::to_string) {
        changed.push("redirect_uri");
    }
    if old_domains != new.domains.as_slice() {
        changed.push("allowed_email_domains");
    }
    if o(|r| r.secret_expires_on.clone()) != new.expires_on {
        changed.push("secret_expires_on");
    }
    let old_roles = (
        o(|r| r.role_mapping.clone()).unwrap_or_default(),
        old.is_some_and(|r| r.role_mapping_super_admin),
        old.is_some_and(|r| r.role_mapping_strict),
    );
    let new_roles = (
        new.roles.to_text(),
        new.roles.manages_super_admin,
        new.roles.strict,
    );
    if old_roles != new_roles {
        changed.push("role_mapping");
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
    let env_tenant = settings::env_tenant(&state.config.azure);
    let secret_stored = current.client_secret.value.is_some();
    let valid = match validate(&body, secret_stored, env_tenant) {
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
    write(&state, &cu, &client, &valid).await?;
    // This node at once; the others through the notification sent in the transaction.
    state.workspace_changed(ws.id.as_str());
    Ok(Redirect::to(&format!("{PATH}?notice=saved")).into_response())
}

/// One transaction: the card row, the secret, the shared domain list, the notification
/// and one audit row.
async fn write(
    state: &AppState,
    cu: &CurrentUser,
    client: &ClientInfo,
    v: &Valid,
) -> Result<(), AppError> {
    let ws = &cu.workspace;
    let mut tx = state.db.begin().await?;
    let old = store::microsoft_settings::get(&mut *tx, &ws.id).await?;
    let old_domains = store::workspaces::find_by_slug(&mut *tx, ws.slug.as_str())
        .await?
        .map(|w| w.allowed_email_domains)
        .unwrap_or_default();
    let changed = changed_fields(old.as_ref(), &old_domains, v);
    let tenant = v.tenant.as_ref().map(ToString::to_string);
    let client_id = v.client_id.as_ref().map(ToString::to_string);
    let redirect = v.redirect.as_ref().map(ToString::to_string);
    let fields = store::microsoft_settings::CardFields {
        enabled: v.enabled,
        tenant_id: tenant.as_deref(),
        client_id: client_id.as_deref(),
        redirect_uri: redirect.as_deref(),
        secret_expires_on: v.expires_on.as_deref(),
        saved_by: &cu.user.email,
    };
    store::microsoft_settings::save_card(&mut *tx, &ws.id, &fields).await?;
    let mapping = v.roles.to_text();
    store::microsoft_settings::save_role_mapping(
        &mut *tx,
        &ws.id,
        (!mapping.is_empty()).then_some(mapping.as_str()),
        v.roles.manages_super_admin,
        v.roles.strict,
    )
    .await?;
    if let Some(secret) = &v.secret {
        let sealed = settings::seal_secret(&state.config.keys, &ws.id, secret);
        store::microsoft_settings::set_secret(
            &mut *tx,
            &ws.id,
            &sealed,
            state.config.keys.sealing_key_id(),
            &cu.user.email,
        )
        .await?;
    }
    store::workspaces::set_allowed_domains(&mut *tx, &ws.id, &v.domains).await?;
    if state.db.backend() == Backend::Postgres {
        store::microsoft_settings::notify_changed(&mut *tx, &ws.id).await?;
    }
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        SETTINGS_SAVED,
        "Microsoft Entra ID",
        client.origin(),
        serde_json::json!({ "changed": changed }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The result of a connection test, in plain words.
struct Outcome {
    ok: bool,
    code: Option<u32>,
    summary: String,
}

impl Outcome {
    fn ok(summary: impl Into<String>) -> Self {
        Self {
            ok: true,
            code: None,
            summary: summary.into(),
        }
    }
    fn failed(code: Option<u32>, summary: impl Into<String>) -> Self {
        Self {
            ok: false,
            code,
            summary: summary.into(),
        }
    }
}

fn explain_error(e: &MsError, tenant: &str, client_id: &str) -> Outcome {
    let code = e.aadsts();
    let text = match (e, code) {
        (_, Some(90002)) => format!(
            "Tenant not found (AADSTS90002): Microsoft does not know the Directory (tenant) ID {tenant}. Copy it from the app's Overview page in Entra, or use common."
        ),
        (_, Some(700016)) => format!(
            "App not found in the directory (AADSTS700016): Application (client) ID {client_id} is not registered in directory {tenant}. Check both IDs against the app's Overview page in Entra."
        ),
        (_, Some(7000215)) => "The client secret is wrong (AADSTS7000215). A common cause is pasting the secret ID, not its Value: in Entra → Certificates & secrets, copy the Value column of the secret (create a new one if the Value is hidden), paste it into Client secret value and save.".into(),
        (_, Some(7000222)) => "The client secret has expired (AADSTS7000222). Create a new secret in Entra → Certificates & secrets, paste its Value into Client secret value, save, then delete the old secret after a brief overlap.".into(),
        (_, Some(c)) => match aadsts::explain(c) {
            Some(x) => format!("{} (AADSTS{c}). {}", x.title, x.fix),
            None => format!("Microsoft refused the check (AADSTS{c}): {e}."),
        },
        (MsError::Transport(m), None) => format!("Microsoft could not be reached: {m}."),
        (other, None) => format!("The check failed: {other}."),
    };
    Outcome::failed(code, text)
}

/// Discovery for the tenant, then — for a pinned tenant — the client id and secret with a
/// `client_credentials` request. Entra answers that only at a tenant GUID, so under
/// `common` the credentials cannot be checked without a user.
async fn check_connection(ms: &MicrosoftClient, e: &EffectiveSettings) -> Outcome {
    let tenant = e.tenant.value.segment().to_string();
    let client_id = e
        .client_id
        .value
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if let Err(err) = ms.discovery(&tenant).await {
        return explain_error(&err, &tenant, &client_id);
    }
    if e.client_id.value.is_none() {
        return Outcome::failed(
            None,
            format!(
                "The directory {tenant} was found, but no Application (client) ID is set, so the app could not be checked."
            ),
        );
    }
    let TenantSetting::Pinned(guid) = &e.tenant.value else {
        return Outcome::ok(
            "Microsoft's common endpoint answered. With Directory (tenant) ID common, the client ID and secret can only be checked by a real sign-in, or by pinning the tenant (enter your directory's GUID in Directory (tenant) ID).",
        );
    };
    let Some(secret) = &e.client_secret.value else {
        return Outcome::failed(
            None,
            "The directory was found, but no client secret is stored: paste the secret Value and save.",
        );
    };
    match ms
        .check_credentials(guid.as_str(), &client_id, secret)
        .await
    {
        Ok(()) => Outcome::ok(
            "All good: the directory was found and it accepted the Application (client) ID and the client secret.",
        ),
        Err(err) => explain_error(&err, &tenant, &client_id),
    }
}

pub async fn test_connection(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let (_, effective) = settings::load_fresh(&state.config, &state.db, ws).await?;
    let outcome = check_connection(&state.microsoft.client, &effective).await;
    let mut tx = state.db.begin().await?;
    store::microsoft_settings::record_test(&mut *tx, &ws.id, outcome.ok, &outcome.summary).await?;
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        CONNECTION_TESTED,
        "Microsoft Entra ID",
        client.origin(),
        serde_json::json!({
            "ok": outcome.ok,
            "aadsts": outcome.code,
            "tenant": effective.tenant.value.segment(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{PATH}?notice=tested")).into_response())
}

/// Decodes and validates a card form exactly as Save does, for a workspace with nothing
/// stored or configured: `Some(accepted)` when the body decodes. The fuzz target's entry.
#[doc(hidden)]
pub fn fuzz_form(body: &[u8]) -> Option<bool> {
    let body: SaveBody = serde_urlencoded::from_bytes(body).ok()?;
    Some(validate(&body, false, None).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_counts_whole_days_from_today() {
        let now = time::macros::datetime!(2026-03-01 12:00 UTC);
        assert_eq!(days_until("2026-03-31", now), Some(30));
        assert_eq!(days_until("2026-02-28", now), Some(-1));
        assert_eq!(days_until("31/03/2026", now), None);
    }

    #[test]
    fn sign_ins_are_failing_only_when_the_last_failure_is_the_newest_event() {
        let row = |ok: Option<i64>, failed: Option<i64>| StoredSettings {
            last_success_at: ok,
            last_failure_at: failed,
            last_failure_code: Some(7000222),
            ..Default::default()
        };
        assert!(failing_since(Some(&row(None, Some(5)))).is_some());
        assert!(
            failing_since(Some(&row(Some(4), Some(5))))
                .unwrap()
                .contains("AADSTS7000222")
        );
        assert!(failing_since(Some(&row(Some(6), Some(5)))).is_none());
        assert!(failing_since(Some(&row(Some(6), None))).is_none());
        assert!(failing_since(None).is_none());
    }
}
