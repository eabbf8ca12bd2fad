//! Admin → Settings → Integrations → SAML: the SAML 2.0 card. The IdP is described by its
//! metadata (fetched from its URL, uploaded as a file, or pasted); the card shows what it
//! read, each signing certificate with its expiry, the values to enter in the IdP, how
//! assertions are read, the health line and the Test sign-in.
//!
//! The directory role mapping and the allowed email domains are shared with OIDC: shown
//! here read-only, edited on the Microsoft card.

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::card::{self, Health, HealthColumns, failure_line, join_domains};
use crate::audit;
use crate::auth::saml::authn_request::SpEndpoints;
use crate::auth::saml::idp_metadata::{
    self, EXPIRY_WARNING_DAYS, IdpCertificate, IdpMetadata, MAX_METADATA_BYTES, Validity,
};
use crate::auth::saml::settings::{self, SETTINGS_SAVED, SamlSettings};
use crate::store::{self, saml_settings::StoredSamlSettings};
use crate::web::chrome::{Chrome, fmt_opt_time, fmt_time};
use crate::web::client::ClientInfo;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub const PATH: &str = "/admin/settings/integrations/saml";
/// The Test sign-in (`web::saml`): reports the assertion, signs nobody in.
pub const TEST_SIGN_IN: &str = "/auth/saml?test=1";
/// The target of the card's audit rows.
const AUDIT_TARGET: &str = "SAML";
/// Entra's groups claim, the hint under the group attribute.
pub const ENTRA_GROUPS_CLAIM: &str =
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
/// A metadata file and a pasted document (each capped at 1 MiB) and the small fields.
pub const SAVE_BODY_LIMIT: usize = 2 * MAX_METADATA_BYTES + 64 * 1024;
/// The longest value a text field of the form may hold.
const MAX_TEXT_FIELD: usize = 4096;

/// What the inputs show. The metadata document itself is never shown again.
#[derive(Default)]
pub struct CardForm {
    pub enabled: bool,
    pub metadata_url: String,
    pub email_attribute: String,
    pub group_attribute: String,
    pub allow_idp_initiated: bool,
}

#[derive(Default)]
pub struct FieldErrors {
    pub enabled: Option<String>,
    pub metadata_url: Option<String>,
    pub metadata_document: Option<String>,
    pub email_attribute: Option<String>,
    pub group_attribute: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        [
            &self.enabled,
            &self.metadata_url,
            &self.metadata_document,
            &self.email_attribute,
            &self.group_attribute,
        ]
        .iter()
        .any(|f| f.is_some())
    }
}

/// One signing certificate as the card lists it.
pub struct CertificateView {
    pub subject: String,
    pub key: String,
    pub fingerprint: String,
    pub thumbprint: String,
    pub valid_from: String,
    pub valid_until: String,
    /// `ok`, `warning`, `expired` or `not-yet-valid` (a stable hook for styling and tests).
    pub state: &'static str,
    /// The line under the certificate, when there is something to say.
    pub line: Option<String>,
}

pub struct IdpView {
    pub entity_id: String,
    pub sso_url: String,
    /// Where the values come from, in one sentence.
    pub source: String,
    pub certificates: Vec<CertificateView>,
}

/// The shared role mapping, read-only here.
pub struct MappingView {
    pub lines: String,
    pub strict: bool,
    pub manages_super_admin: bool,
}

pub struct CardView {
    pub status: &'static str,
    pub status_text: String,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_metadata_path: &'static str,
    pub idp: Option<IdpView>,
    pub entra_groups_claim: &'static str,
    pub mapping: MappingView,
    pub mapping_edit_url: &'static str,
    pub allowed_domains: String,
    pub domains_edit_url: &'static str,
    pub health: Health,
    pub test_url: &'static str,
    /// A Test sign-in can reach the IdP: metadata with a usable certificate is saved.
    pub can_test: bool,
    pub warning_days: i64,
}

#[derive(Template)]
#[template(path = "admin_saml_card.html")]
struct CardPage {
    chrome: Chrome,
    notice: Option<String>,
    form: CardForm,
    errors: FieldErrors,
    view: CardView,
}

/// The card's status in one word, as the Integrations list shows it too.
pub fn status(s: &SamlSettings) -> (&'static str, &'static str) {
    if s.is_complete() {
        ("on", "On")
    } else if s.card_saved {
        ("off", "Off")
    } else {
        ("not-configured", "Not configured")
    }
}

fn status_text(s: &SamlSettings) -> String {
    if s.is_complete() {
        return "On: people can sign in with SAML single sign-on from /login.".into();
    }
    if s.enabled {
        return match &s.idp {
            None => "Enabled, but SAML sign-in stays off until the identity provider's metadata is read: enter its URL or upload it below.".into(),
            Some(_) => "Enabled, but SAML sign-in stays off: no signing certificate is valid now. Renew the certificate in your identity provider, then fetch or upload its metadata again.".into(),
        };
    }
    if s.card_saved {
        return "Off: SAML sign-in is not offered. The settings are kept.".into();
    }
    "Not configured yet: set up OnTrackio as an application in your identity provider with the values below, then give this card its metadata and save.".into()
}

fn days(n: i64) -> String {
    format!("{n} day{}", if n == 1 { "" } else { "s" })
}

fn certificate_view(c: &IdpCertificate, now: i64) -> CertificateView {
    let until = fmt_time(c.not_after());
    let (state, line) = match c.validity(now) {
        Validity::Valid => ("ok", None),
        Validity::ExpiresSoon { days: d } => (
            "warning",
            Some(format!(
                "Expires on {until}, in {}: renew it in your identity provider, then fetch or upload the metadata again so both certificates are known during the switch.",
                days(d)
            )),
        ),
        Validity::Expired => (
            "expired",
            Some(format!(
                "Expired on {until}: signatures under this certificate are refused. Renew it in your identity provider, then fetch or upload the metadata again."
            )),
        ),
        Validity::NotYetValid => (
            "not-yet-valid",
            Some(format!(
                "Not valid before {}: it will be accepted from then on (a rollover the identity provider announced early).",
                fmt_time(c.not_before())
            )),
        ),
    };
    CertificateView {
        subject: c.subject().to_string(),
        key: c.key().to_string(),
        fingerprint: c.fingerprint(),
        thumbprint: c.thumbprint_sha1(),
        valid_from: fmt_time(c.not_before()),
        valid_until: until,
        state,
        line,
    }
}

fn idp_view(s: &SamlSettings, row: Option<&StoredSamlSettings>, now: i64) -> Option<IdpView> {
    let idp = s.idp.as_ref()?;
    let read = fmt_opt_time(s.metadata_fetched_at);
    let source = match &s.metadata_url {
        Some(url) => format!("Fetched from {url} ({read})."),
        None => format!(
            "Uploaded by {} ({read}).",
            row.and_then(|r| r.saved_by.as_deref())
                .unwrap_or("a super-admin")
        ),
    };
    Some(IdpView {
        entity_id: idp.entity_id.to_string(),
        sso_url: idp.sso_url.to_string(),
        source,
        certificates: idp
            .signing_certificates
            .iter()
            .map(|c| certificate_view(c, now))
            .collect(),
    })
}

fn health(row: Option<&StoredSamlSettings>) -> Health {
    Health::new(HealthColumns {
        last_success_at: row.and_then(|r| r.last_success_at),
        last_failure: row.and_then(|r| {
            let at = r.last_failure_at?;
            let summary = r.last_failure_summary.as_deref();
            Some(failure_line(summary, "SAML sign-in failed", at))
        }),
        last_test_at: row.and_then(|r| r.last_test_at),
        last_test_summary: row.and_then(|r| r.last_test_summary.as_deref()),
        last_test_ok: row.and_then(|r| r.last_test_ok),
    })
}

async fn view(
    state: &AppState,
    cu: &CurrentUser,
    s: &SamlSettings,
    row: Option<&StoredSamlSettings>,
) -> Result<CardView, AppError> {
    let ws = &cu.workspace;
    let now = store::now();
    let sp = SpEndpoints::for_origin(&state.config.base_url.workspace_origin(ws.slug.as_str()));
    // The shared mapping lives on the Microsoft card's row.
    let microsoft = state.microsoft_settings(ws).await?;
    let mapping = &microsoft.role_mapping;
    let domains = &ws.allowed_email_domains;
    Ok(CardView {
        status: status(s).0,
        status_text: status_text(s),
        sp_entity_id: sp.entity_id,
        acs_url: sp.acs_url,
        sp_metadata_path: SpEndpoints::METADATA_PATH,
        idp: idp_view(s, row, now),
        entra_groups_claim: ENTRA_GROUPS_CLAIM,
        mapping: MappingView {
            lines: mapping.to_text(),
            strict: mapping.strict,
            manages_super_admin: mapping.manages_super_admin,
        },
        mapping_edit_url: card::ROLE_MAPPING_EDITED_AT,
        allowed_domains: if domains.is_empty() {
            "Any account".into()
        } else {
            join_domains(domains)
        },
        domains_edit_url: card::DOMAINS_EDITED_AT,
        health: health(row),
        test_url: TEST_SIGN_IN,
        can_test: s.has_usable_certificate(now),
        warning_days: EXPIRY_WARNING_DAYS,
    })
}

fn form_from(s: &SamlSettings) -> CardForm {
    CardForm {
        enabled: s.enabled,
        metadata_url: s
            .metadata_url
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        email_attribute: s.email_attribute.clone().unwrap_or_default(),
        group_attribute: s.group_attribute.clone().unwrap_or_default(),
        allow_idp_initiated: s.allow_idp_initiated,
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
    let (row, effective) = settings::load_fresh(&state.db, &cu.workspace).await?;
    let (form, errors) =
        submitted.unwrap_or_else(|| (form_from(&effective), FieldErrors::default()));
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    let page = CardPage {
        chrome: Chrome::for_user(cu, "admin-settings", token),
        notice,
        form,
        errors,
        view: view(state, cu, &effective, row.as_ref()).await?,
    };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
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
            let s = state.saml_settings(&cu.workspace).await?;
            Some(if s.is_complete() {
                "Saved. SAML sign-in is on.".to_string()
            } else if s.enabled {
                "Saved, but SAML sign-in stays off until the identity provider's metadata with a valid signing certificate is read.".into()
            } else {
                "Saved. SAML sign-in is off; the settings are kept.".into()
            })
        }
        Some("unchanged") => Some(UNCHANGED_NOTICE.into()),
        _ => None,
    };
    render(&state, &cu, &jar, StatusCode::OK, notice, None).await
}

/// The submitted form, read from its multipart body with every field bounded.
#[derive(Default)]
struct SaveBody {
    enabled: bool,
    metadata_url: String,
    metadata_file: Vec<u8>,
    metadata_xml: String,
    email_attribute: String,
    group_attribute: String,
    allow_idp_initiated: bool,
    /// The "Fetch metadata now" button: read the URL even when it did not change.
    fetch: bool,
    /// A metadata field was larger than the cap (its bytes were not kept).
    oversized: bool,
}

impl SaveBody {
    fn refill(&self) -> CardForm {
        let cap = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        CardForm {
            enabled: self.enabled,
            metadata_url: cap(&self.metadata_url, 2048),
            email_attribute: cap(&self.email_attribute, 300),
            group_attribute: cap(&self.group_attribute, 300),
            allow_idp_initiated: self.allow_idp_initiated,
        }
    }
}

/// Reads one field up to `cap` bytes; `None` when it is longer.
async fn read_capped(
    field: &mut axum::extract::multipart::Field<'_>,
    cap: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > cap {
                    return None;
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Some(out),
            Err(_) => return None,
        }
    }
}

async fn read_body(mut mp: Multipart) -> Result<SaveBody, AppError> {
    let bad = || {
        AppError::BadRequest("The form could not be read. Reload the page and try again.".into())
    };
    let mut b = SaveBody::default();
    while let Some(mut field) = mp.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or_default().to_string();
        let cap = match name.as_str() {
            "metadata_file" | "metadata_xml" => MAX_METADATA_BYTES,
            _ => MAX_TEXT_FIELD,
        };
        let Some(bytes) = read_capped(&mut field, cap).await else {
            if cap == MAX_METADATA_BYTES {
                b.oversized = true;
                continue;
            }
            return Err(bad());
        };
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "enabled" => b.enabled = true,
            "allow_idp_initiated" => b.allow_idp_initiated = true,
            "metadata_url" => b.metadata_url = text(),
            "metadata_file" => b.metadata_file = bytes,
            "metadata_xml" => b.metadata_xml = text(),
            "email_attribute" => b.email_attribute = text(),
            "group_attribute" => b.group_attribute = text(),
            "action" => b.fetch = bytes == b"fetch",
            _ => {}
        }
    }
    Ok(b)
}

/// Where this save's IdP values come from.
enum NewIdp {
    /// Unchanged: what is stored stays.
    Keep,
    /// Read now from a document (upload or paste) or from the URL.
    Read {
        metadata: Box<IdpMetadata>,
        url: Option<url::Url>,
    },
}

/// A Save that passed every check.
struct Valid {
    enabled: bool,
    idp: Option<IdpMetadata>,
    metadata_url: Option<url::Url>,
    /// The metadata was read by this save.
    read_now: bool,
    email_attribute: Option<String>,
    group_attribute: Option<String>,
    allow_idp_initiated: bool,
}

const BOTH_SOURCES: &str = "Give the metadata one way: upload the file or paste its XML, not both.";
const METADATA_REQUIRED: &str = "SAML sign-in cannot be turned on before the identity provider's metadata is read: enter its metadata URL, or upload or paste the metadata.";

/// Reads the metadata this save brings, if any.
async fn new_idp(
    state: &AppState,
    body: &SaveBody,
    current: &SamlSettings,
    errors: &mut FieldErrors,
) -> NewIdp {
    if body.oversized {
        errors.metadata_document = Some(idp_metadata::MetadataError::TooLarge.to_string());
        return NewIdp::Keep;
    }
    let file = !body.metadata_file.iter().all(u8::is_ascii_whitespace);
    let pasted = !body.metadata_xml.trim().is_empty();
    let url_text = body.metadata_url.trim();
    let stored_url = current.metadata_url.as_ref().map(url::Url::as_str);
    let document = match (file, pasted) {
        (true, true) => {
            errors.metadata_document = Some(BOTH_SOURCES.into());
            return NewIdp::Keep;
        }
        (true, false) => Some(body.metadata_file.as_slice()),
        (false, true) => Some(body.metadata_xml.as_bytes()),
        (false, false) => None,
    };
    if let Some(doc) = document {
        // A new URL typed next to an upload is ambiguous; the stored one is just the
        // form being pre-filled, and the upload replaces it.
        if !url_text.is_empty() && Some(url_text) != stored_url {
            errors.metadata_url = Some(
                "Either enter a metadata URL or upload the metadata, not both: clear one of them."
                    .into(),
            );
            return NewIdp::Keep;
        }
        return match IdpMetadata::parse(doc) {
            Ok(metadata) => NewIdp::Read {
                metadata: Box::new(metadata),
                url: None,
            },
            Err(e) => {
                errors.metadata_document = Some(e.to_string());
                NewIdp::Keep
            }
        };
    }
    if url_text.is_empty() {
        return NewIdp::Keep;
    }
    let url = match idp_metadata::parse_metadata_url(url_text) {
        Ok(u) => u,
        Err(e) => {
            errors.metadata_url = Some(e.to_string());
            return NewIdp::Keep;
        }
    };
    let changed = Some(url.as_str()) != stored_url;
    if !(body.fetch || changed || current.idp.is_none()) {
        return NewIdp::Keep;
    }
    // Local addresses only where the product itself runs locally (demo, tests).
    let allow_local = runs_locally(state);
    match IdpMetadata::fetch(&state.saml_card.metadata_http, &url, allow_local).await {
        Ok(metadata) => NewIdp::Read {
            metadata: Box::new(metadata),
            url: Some(url),
        },
        Err(e) => {
            errors.metadata_url = Some(e.to_string());
            NewIdp::Keep
        }
    }
}

async fn validate(
    state: &AppState,
    body: &SaveBody,
    current: &SamlSettings,
) -> Result<Valid, Box<FieldErrors>> {
    let mut e = FieldErrors::default();
    let email_attribute = settings::parse_attribute(&body.email_attribute)
        .map_err(|m| e.email_attribute = Some(m.to_string()))
        .unwrap_or_default();
    let group_attribute = settings::parse_attribute(&body.group_attribute)
        .map_err(|m| e.group_attribute = Some(m.to_string()))
        .unwrap_or_default();
    let (idp, metadata_url, read_now) = match new_idp(state, body, current, &mut e).await {
        NewIdp::Read { metadata, url } => (Some(*metadata), url, true),
        NewIdp::Keep => {
            // A cleared URL field keeps what was read, now as if uploaded.
            let url = if body.metadata_url.trim().is_empty() {
                None
            } else {
                current.metadata_url.clone()
            };
            (current.idp.clone(), url, false)
        }
    };
    if body.enabled && idp.is_none() && e.metadata_url.is_none() && e.metadata_document.is_none() {
        e.enabled = Some(METADATA_REQUIRED.into());
    }
    if e.any() {
        return Err(Box::new(e));
    }
    Ok(Valid {
        enabled: body.enabled,
        idp,
        metadata_url,
        read_now,
        email_attribute,
        group_attribute,
        allow_idp_initiated: body.allow_idp_initiated,
    })
}

/// The fields this save changes, for the audit row (names only).
fn changed_fields(old: &SamlSettings, new: &Valid) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if !old.card_saved || old.enabled != new.enabled {
        changed.push("enabled");
    }
    let (o, n) = (old.idp.as_ref(), new.idp.as_ref());
    if o.map(|i| &i.entity_id) != n.map(|i| &i.entity_id) {
        changed.push("idp_entity_id");
    }
    if o.map(|i| &i.sso_url) != n.map(|i| &i.sso_url) {
        changed.push("sso_url");
    }
    if o.map(|i| &i.signing_certificates) != n.map(|i| &i.signing_certificates) {
        changed.push("certificates");
    }
    if old.metadata_url != new.metadata_url {
        changed.push("metadata_url");
    }
    if old.email_attribute != new.email_attribute {
        changed.push("email_attribute");
    }
    if old.group_attribute != new.group_attribute {
        changed.push("group_attribute");
    }
    if old.allow_idp_initiated != new.allow_idp_initiated {
        changed.push("allow_idp_initiated");
    }
    changed
}

pub async fn save(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let mp = multipart.map_err(|_| {
        AppError::BadRequest("The form could not be read. Reload the page and try again.".into())
    })?;
    let body = read_body(mp).await?;
    let (_, current) = settings::load_fresh(&state.db, &cu.workspace).await?;
    let valid = match validate(&state, &body, &current).await {
        Ok(v) => v,
        Err(errors) => {
            return render(
                &state,
                &cu,
                &jar,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((body.refill(), *errors)),
            )
            .await;
        }
    };
    if !write(&state, &cu, &client, &valid).await? {
        return Ok(Redirect::to(&format!("{PATH}?notice=unchanged")).into_response());
    }
    // This node at once; the others through the notification sent in the transaction.
    state.workspace_changed(cu.workspace.id.as_str());
    Ok(Redirect::to(&format!("{PATH}?notice=saved")).into_response())
}

/// One transaction: the card row, the notification and one audit row. `false`: nothing
/// differs from what is stored and no metadata was read, so nothing was written.
async fn write(
    state: &AppState,
    cu: &CurrentUser,
    client: &ClientInfo,
    v: &Valid,
) -> Result<bool, AppError> {
    let ws = &cu.workspace;
    let mut tx = state.db.begin().await?;
    let old_row = store::saml_settings::get(&mut *tx, &ws.id).await?;
    let old = settings::resolve(ws, old_row.as_ref());
    let changed = changed_fields(&old, v);
    if changed.is_empty() && !v.read_now {
        return Ok(false);
    }
    let certificates = v
        .idp
        .as_ref()
        .map(|i| idp_metadata::certificates_to_pem(&i.signing_certificates));
    let fetched_at = if v.read_now {
        Some(store::now())
    } else {
        old.metadata_fetched_at
    };
    let entity_id = v.idp.as_ref().map(|i| i.entity_id.to_string());
    let sso_url = v.idp.as_ref().map(|i| i.sso_url.to_string());
    let metadata_url = v.metadata_url.as_ref().map(ToString::to_string);
    let fields = store::saml_settings::CardFields {
        enabled: v.enabled,
        idp_entity_id: entity_id.as_deref(),
        sso_url: sso_url.as_deref(),
        certificates: certificates.as_deref(),
        metadata_url: metadata_url.as_deref(),
        metadata_fetched_at: fetched_at,
        email_attribute: v.email_attribute.as_deref(),
        group_attribute: v.group_attribute.as_deref(),
        allow_idp_initiated: v.allow_idp_initiated,
        saved_by: &cu.user.email,
    };
    store::saml_settings::save(&mut tx, state.db.backend(), &ws.id, &fields).await?;
    // Fingerprints, not certificates: enough to tell a rollover apart in the log.
    let fingerprints: Vec<String> = v
        .idp
        .as_ref()
        .map(|i| {
            i.signing_certificates
                .iter()
                .map(IdpCertificate::fingerprint)
                .collect()
        })
        .unwrap_or_default();
    let metadata = match (v.read_now, &v.metadata_url) {
        (false, _) => None,
        (true, Some(_)) => Some("fetched"),
        (true, None) => Some("uploaded"),
    };
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        SETTINGS_SAVED,
        AUDIT_TARGET,
        client.origin(),
        serde_json::json!({
            "changed": changed,
            "metadata": metadata,
            "certificates": if changed.contains(&"certificates") { Some(fingerprints) } else { None },
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether the product itself runs on a loopback base URL (the demo, tests): only then may
/// the card fetch metadata from a local address (the emulator).
fn runs_locally(state: &AppState) -> bool {
    let Ok(url) = url::Url::parse(&state.config.base_url.origin()) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
