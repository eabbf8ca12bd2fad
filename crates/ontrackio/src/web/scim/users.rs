//! `/scim/v2/Users`: every workspace user SCIM has not deleted, whoever created them (Entra
//! matches existing users by `userName` before it creates any).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::protocol::{self, USER_SCHEMA};
use super::{
    ScimError, ScimResult, ScimWorkspace, base_url, json_body, list_response, paging, rfc3339,
    scim_json,
};
use crate::accounts::{Acting, By, ScimProfile, ScimProvision};
use crate::domain::{EmailAddress, PersonName, TenantSetting, UserId, UserStatus};
use crate::store::{self, scim::ScimUser, workspaces::Workspace};
use crate::web::AppState;
use crate::web::client::ClientInfo;

fn resource(state: &AppState, ws: &Workspace, su: &ScimUser) -> Value {
    let u = &su.user;
    let formatted = format!("{} {}", u.first_name, u.last_name)
        .trim()
        .to_string();
    json!({
        "schemas": [USER_SCHEMA],
        "id": u.id.as_str(),
        "externalId": su.external_id,
        "userName": u.email,
        "name": {
            "givenName": u.first_name,
            "familyName": u.last_name,
            "formatted": formatted,
        },
        "displayName": u.display_name(),
        "emails": [{"value": u.email, "type": "work", "primary": true}],
        "active": u.status != UserStatus::Disabled,
        "meta": {
            "resourceType": "User",
            "created": rfc3339(u.created_at),
            "location": format!("{}/Users/{}", base_url(state, ws), u.id.as_str()),
        }
    })
}

pub(super) fn query_params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn by(client: &ClientInfo) -> By<'_> {
    By {
        acting: Acting::Scim,
        origin: client.origin(),
    }
}

/// The tenant whose object ids `externalId` names, when the workspace pins one.
async fn link_tenant(state: &AppState, ws: &Workspace) -> Result<Option<String>, ScimError> {
    let settings = state
        .microsoft_settings(ws)
        .await
        .map_err(|e| ScimError::internal(format!("{e:#}")))?;
    Ok(match &settings.tenant.value {
        TenantSetting::Pinned(t) => Some(t.as_str().to_string()),
        TenantSetting::Common => None,
    })
}

async fn find(state: &AppState, ws: &Workspace, id: &str) -> Result<ScimUser, ScimError> {
    let id = UserId::parse(id).ok_or_else(|| ScimError::not_found("User"))?;
    store::scim::find_user(state.db.pool(), &ws.id, &id)
        .await?
        .ok_or_else(|| ScimError::not_found("User"))
}

pub async fn list(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    RawQuery(q): RawQuery,
) -> ScimResult {
    let params = query_params(q.as_deref());
    let (start, count) = paging(param(&params, "startIndex"), param(&params, "count"));
    let normalized;
    let filter = match param(&params, "filter") {
        None => store::scim::UserFilter::All,
        Some(f) => {
            let f = protocol::parse_filter(f)?;
            match f.attribute.as_str() {
                "username" => match EmailAddress::parse(&f.value) {
                    Ok(e) => {
                        normalized = e.normalized().to_string();
                        store::scim::UserFilter::EmailNormalized(&normalized)
                    }
                    // Entra's Test Connection asks for a random userName: nobody has it.
                    Err(_) => return Ok(list_response(0, start, vec![])),
                },
                "externalid" => {
                    normalized = f.value;
                    store::scim::UserFilter::ExternalId(&normalized)
                }
                "id" => {
                    let found = match UserId::parse(&f.value) {
                        Some(id) => store::scim::find_user(state.db.pool(), &ws.id, &id).await?,
                        None => None,
                    };
                    let all: Vec<Value> = found.iter().map(|u| resource(&state, &ws, u)).collect();
                    let total = all.len() as i64;
                    let page = if start > 1 || count == 0 { vec![] } else { all };
                    return Ok(list_response(total, start, page));
                }
                _ => {
                    return Err(ScimError::new(
                        StatusCode::BAD_REQUEST,
                        Some("invalidFilter"),
                        "Users can be filtered by userName, externalId or id.",
                    ));
                }
            }
        }
    };
    let (total, users) =
        store::scim::list_users(state.db.pool(), &ws.id, &filter, start - 1, count).await?;
    let resources = users.iter().map(|u| resource(&state, &ws, u)).collect();
    Ok(list_response(total, start, resources))
}

pub async fn get_one(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    Path(id): Path<String>,
) -> ScimResult {
    let su = find(&state, &ws, &id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&state, &ws, &su)))
}

fn email_of(user_name: &str) -> Result<EmailAddress, ScimError> {
    EmailAddress::parse(user_name).map_err(|_| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            "userName must be the person's email address (map userPrincipalName or mail to userName).",
        )
    })
}

fn name(v: Option<&str>, what: &str) -> Result<Option<String>, ScimError> {
    v.map(|s| {
        PersonName::parse(s)
            .map(PersonName::into_string)
            .map_err(|e| {
                ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidValue"),
                    format!("{what}: {e}"),
                )
            })
    })
    .transpose()
}

pub async fn create(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    body: Bytes,
) -> ScimResult {
    let body = protocol::parse_user(&json_body(&body)?)?;
    let email = email_of(&body.user_name)?;
    let mut first = name(body.given_name.as_deref(), "name.givenName")?;
    let last = name(body.family_name.as_deref(), "name.familyName")?;
    if first.is_none() && last.is_none() {
        first = name(body.display_name.as_deref(), "displayName")?;
    }
    let tenant = link_tenant(&state, &ws).await?;
    let id = state
        .accounts()
        .scim_provision(
            &by(&client),
            &ws,
            ScimProvision {
                email: &email,
                first_name: first.as_deref().unwrap_or(""),
                last_name: last.as_deref().unwrap_or(""),
                external_id: body.external_id.as_deref(),
                active: body.active,
                link_tenant: tenant.as_deref(),
            },
        )
        .await?;
    let su = store::scim::find_user(state.db.pool(), &ws.id, &id)
        .await?
        .ok_or_else(|| ScimError::not_found("User"))?;
    let value = resource(&state, &ws, &su);
    let mut resp = scim_json(StatusCode::CREATED, &value);
    if let Some(loc) = value["meta"]["location"].as_str()
        && let Ok(v) = HeaderValue::from_str(loc)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The profile changes, then the status: `active` false disables (every session ends),
/// true enables.
/// An `active` that says what the user already is changes nothing (Entra repeats it in
/// updates; a super-admin, whom SCIM may not disable or enable, must not fail for it).
async fn apply(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    user: &ScimUser,
    profile: ScimProfile<'_>,
    active: Option<bool>,
) -> Result<(), ScimError> {
    let accounts = state.accounts();
    let by = by(client);
    let disabled = user.user.status == UserStatus::Disabled;
    let user = &user.user.id;
    accounts.scim_update(&by, ws, user, profile).await?;
    match active.filter(|a| *a == disabled) {
        Some(false) => {
            accounts.scim_deprovision(&by, ws, user, false).await?;
        }
        Some(true) => {
            accounts.enable(&by, ws, user).await?;
        }
        None => {}
    }
    Ok(())
}

pub async fn replace(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult {
    let su = find(&state, &ws, &id).await?;
    let body = protocol::parse_user(&json_body(&body)?)?;
    let email = email_of(&body.user_name)?;
    let first = name(body.given_name.as_deref(), "name.givenName")?;
    let last = name(body.family_name.as_deref(), "name.familyName")?;
    let tenant = link_tenant(&state, &ws).await?;
    let profile = ScimProfile {
        email: Some(&email),
        first_name: Some(first.as_deref().unwrap_or("")),
        last_name: Some(last.as_deref().unwrap_or("")),
        external_id: Some(body.external_id.as_deref()),
        link_tenant: tenant.as_deref(),
    };
    apply(&state, &ws, &client, &su, profile, Some(body.active)).await?;
    let su = find(&state, &ws, &id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&state, &ws, &su)))
}

pub async fn patch(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult {
    let su = find(&state, &ws, &id).await?;
    let p = protocol::parse_user_patch(&json_body(&body)?)?;
    let email = p.user_name.as_deref().map(email_of).transpose()?;
    let first = name(p.given_name.as_deref(), "name.givenName")?;
    let last = name(p.family_name.as_deref(), "name.familyName")?;
    let tenant = link_tenant(&state, &ws).await?;
    let profile = ScimProfile {
        email: email.as_ref(),
        first_name: first.as_deref(),
        last_name: last.as_deref(),
        external_id: p.external_id.as_ref().map(|x| x.as_deref()),
        link_tenant: tenant.as_deref(),
    };
    apply(&state, &ws, &client, &su, profile, p.active).await?;
    let su = find(&state, &ws, &id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&state, &ws, &su)))
}

pub async fn delete(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ScimResult {
    let su = find(&state, &ws, &id).await?;
    state
        .accounts()
        .scim_deprovision(&by(&client), &ws, &su.user.id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
