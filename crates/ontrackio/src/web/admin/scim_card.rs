//! Admin → Settings → Integrations → SCIM: the provisioning card. It makes the workspace's
//! SCIM bearer token (shown once, stored as its SHA-256 only), rotates it (the old one stops
//! at once: there is one token per workspace), revokes it, and keeps the group → role
//! mapping. Super-admins only; every change is one audit row that never holds the token.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::audit::{self, actions};
use crate::auth::role_mapping::RoleMapping;
use crate::crypto::{hash_token, random_token};
use crate::store;
use crate::web::chrome::{Chrome, fmt_opt_time, fmt_time};
use crate::web::client::ClientInfo;
use crate::web::scim::TOKEN_PREFIX;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub const PATH: &str = "/admin/settings/integrations/scim";
pub const TOKEN_PATH: &str = "/admin/settings/integrations/scim/token";
pub const MAPPING_PATH: &str = "/admin/settings/integrations/scim/mapping";
const AUDIT_TARGET: &str = "SCIM";

pub struct CardView {
    pub status: &'static str,
    pub status_text: String,
    pub tenant_url: String,
    pub has_token: bool,
    pub token_created: String,
    pub token_last_used: String,
    pub users: i64,
    pub groups: i64,
}

#[derive(Template)]
#[template(path = "admin_scim_card.html")]
struct CardPage {
    chrome: Chrome,
    notice: Option<String>,
    /// A token made by this very request: shown once, never again.
    new_token: Option<String>,
    mapping: String,
    mapping_error: Option<String>,
    view: CardView,
}

/// The status on the Integrations list.
pub fn status(settings: Option<&store::scim::ScimSettings>) -> (&'static str, &'static str) {
    if settings.is_some_and(|s| s.token_hash.is_some()) {
        ("enabled", "Token active")
    } else {
        ("not-configured", "Not configured")
    }
}

pub fn tenant_url(state: &AppState, cu: &CurrentUser) -> String {
    format!(
        "{}/scim/v2",
        state
            .config
            .base_url
            .workspace_origin(cu.workspace.slug.as_str())
    )
}

async fn render(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    status: StatusCode,
    notice: Option<String>,
    new_token: Option<String>,
    mapping_typed: Option<(String, String)>,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let row = store::scim::settings(state.db.pool(), &ws.id).await?;
    let (users, groups) = store::scim::counts(state.db.pool(), &ws.id).await?;
    let (status_key, _) = self::status(row.as_ref());
    let has_token = row.as_ref().is_some_and(|r| r.token_hash.is_some());
    let token_created = row
        .as_ref()
        .and_then(|r| r.token_created_at.map(|t| (t, r.token_created_by.clone())))
        .map(|(t, by)| format!("{} by {}", fmt_time(t), by.unwrap_or_default()))
        .unwrap_or_default();
    let view = CardView {
        status: status_key,
        status_text: if has_token {
            "Provisioning is on: Microsoft Entra ID can create, update and disable users with the token.".into()
        } else {
            "Provisioning is off: no token exists, so every SCIM request is refused.".into()
        },
        tenant_url: tenant_url(state, cu),
        has_token,
        token_created,
        token_last_used: fmt_opt_time(row.as_ref().and_then(|r| r.token_last_used_at)),
        users,
        groups,
    };
    let (mapping, mapping_error) = match mapping_typed {
        Some((text, error)) => (text, Some(error)),
        None => (row.and_then(|r| r.role_mapping).unwrap_or_default(), None),
    };
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    let page = CardPage {
        chrome: Chrome::for_user(cu, "admin-settings", token),
        notice,
        new_token,
        mapping,
        mapping_error,
        view,
    };
    let mut resp = (status, Html(page.render()?)).into_response();
    // A page that may show a secret is never kept by a cache or the browser's history.
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let notice = match q.notice.as_deref() {
        Some("revoked") => Some(
            "Token revoked. Every SCIM request is refused until you generate a new one."
                .to_string(),
        ),
        Some("mapping") => {
            Some("Group mapping saved. It applies from the next membership change.".to_string())
        }
        Some("unchanged") => Some("Nothing to change.".to_string()),
        _ => None,
    };
    render(&state, &cu, &jar, StatusCode::OK, notice, None, None).await
}

#[derive(Deserialize)]
pub struct TokenBody {
    action: String,
}

/// Generate, rotate or revoke: one transaction, one audit row. A new token is shown in this
/// response only.
pub async fn token(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Form(body): Form<TokenBody>,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let mut tx = state.db.begin().await?;
    let had = store::scim::settings(&mut *tx, &ws.id)
        .await?
        .is_some_and(|s| s.token_hash.is_some());
    let (new_token, action) = match (body.action.as_str(), had) {
        ("generate" | "rotate", _) => {
            let token = format!("{TOKEN_PREFIX}{}", random_token());
            store::scim::set_token(&mut *tx, &ws.id, Some(&hash_token(&token)), &cu.user.email)
                .await?;
            let action = if had {
                actions::SCIM_TOKEN_ROTATED
            } else {
                actions::SCIM_TOKEN_CREATED
            };
            (Some(token), action)
        }
        ("revoke", true) => {
            store::scim::set_token(&mut *tx, &ws.id, None, &cu.user.email).await?;
            (None, actions::SCIM_TOKEN_REVOKED)
        }
        ("revoke", false) => {
            return Ok(Redirect::to(&format!("{PATH}?notice=unchanged")).into_response());
        }
        _ => return Err(AppError::BadRequest("Unknown action.".into())),
    };
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        action,
        AUDIT_TARGET,
        client.origin(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    match new_token {
        Some(t) => {
            let notice = if had {
                "New token generated. The previous token stopped working just now: paste this one into Entra's Secret Token and select Test Connection."
            } else {
                "Token generated. Copy it now: it is shown only once."
            };
            render(
                &state,
                &cu,
                &jar,
                StatusCode::OK,
                Some(notice.into()),
                Some(t),
                None,
            )
            .await
        }
        None => Ok(Redirect::to(&format!("{PATH}?notice=revoked")).into_response()),
    }
}

#[derive(Deserialize)]
pub struct MappingBody {
    #[serde(default)]
    mapping: String,
}

/// Most characters the mapping may have (100 lines of a long group name).
const MAPPING_LIMIT: usize = 20_000;

pub async fn save_mapping(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Form(body): Form<MappingBody>,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let typed: String = body.mapping.chars().take(MAPPING_LIMIT).collect();
    // Never super-admin: SCIM cannot grant it, so the mapping cannot name it.
    let parsed = if body.mapping.chars().count() > MAPPING_LIMIT {
        Err("The mapping is too long.".to_string())
    } else {
        RoleMapping::parse(&typed, false, false).map_err(|e| match e {
            crate::auth::role_mapping::MappingError::SuperAdminNotAllowed { line } => format!(
                "Line {line}: SCIM never grants super-admin. Map groups to employee or admin."
            ),
            other => other.to_string(),
        })
    };
    let mapping = match parsed {
        Ok(m) => m,
        Err(error) => {
            return render(
                &state,
                &cu,
                &jar,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                Some((typed, error)),
            )
            .await;
        }
    };
    let text = mapping.to_text();
    let mut tx = state.db.begin().await?;
    let old = store::scim::settings(&mut *tx, &ws.id)
        .await?
        .and_then(|s| s.role_mapping)
        .unwrap_or_default();
    if old == text {
        return Ok(Redirect::to(&format!("{PATH}?notice=unchanged")).into_response());
    }
    store::scim::set_role_mapping(&mut *tx, &ws.id, &text).await?;
    audit::record(
        &mut tx,
        &ws.id,
        cu.actor(),
        actions::SCIM_MAPPING_SAVED,
        AUDIT_TARGET,
        client.origin(),
        serde_json::json!({"lines": mapping.rules().len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{PATH}?notice=mapping")).into_response())
}
