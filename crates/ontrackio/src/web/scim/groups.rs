//! `/scim/v2/Groups`: groups as Entra provisions them. Membership may decide roles through
//! the SCIM card's mapping (a group's displayName or object id → employee or admin; never
//! super-admin), applied through the accounts service after each change.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::protocol::{self, GROUP_SCHEMA};
use super::users::{param, query_params};
use super::{
    ScimError, ScimResult, ScimWorkspace, base_url, json_body, list_response, paging, rfc3339,
    scim_json,
};
use crate::accounts::{AccountError, Acting, By, GroupRemoval};
use crate::auth::role_mapping::RoleMapping;
use crate::domain::UserId;
use crate::store::{self, scim::Group, workspaces::Workspace};
use crate::web::AppState;
use crate::web::client::ClientInfo;

fn resource(
    state: &AppState,
    ws: &Workspace,
    g: &Group,
    members: Option<&[(UserId, String)]>,
) -> Value {
    let base = base_url(state, ws);
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "externalId": g.external_id,
        "displayName": g.display_name,
        "meta": {
            "resourceType": "Group",
            "created": rfc3339(g.created_at),
            "location": format!("{base}/Groups/{}", g.id),
        }
    });
    if let Some(members) = members {
        v["members"] = members
            .iter()
            .map(|(id, email)| {
                json!({"value": id.as_str(), "display": email, "$ref": format!("{base}/Users/{}", id.as_str())})
            })
            .collect();
    }
    v
}

fn wants_members(params: &[(String, String)]) -> bool {
    let excluded = param(params, "excludedAttributes").unwrap_or("");
    !excluded
        .split(',')
        .any(|a| a.trim().eq_ignore_ascii_case("members"))
}

async fn find(state: &AppState, ws: &Workspace, id: &str) -> Result<Group, ScimError> {
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(ScimError::not_found("Group"));
    }
    store::scim::find_group(state.db.pool(), &ws.id, id)
        .await?
        .ok_or_else(|| ScimError::not_found("Group"))
}

async fn with_members(
    state: &AppState,
    ws: &Workspace,
    g: &Group,
    include: bool,
) -> Result<Value, ScimError> {
    if !include {
        return Ok(resource(state, ws, g, None));
    }
    let members = store::scim::members(state.db.pool(), &g.id).await?;
    Ok(resource(state, ws, g, Some(&members)))
}

pub async fn list(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    RawQuery(q): RawQuery,
) -> ScimResult {
    let params = query_params(q.as_deref());
    let (start, count) = paging(param(&params, "startIndex"), param(&params, "count"));
    let include = wants_members(&params);
    let parsed = param(&params, "filter")
        .map(protocol::parse_filter)
        .transpose()?;
    let filter = match &parsed {
        None => store::scim::GroupFilter::All,
        Some(f) if f.attribute == "displayname" => store::scim::GroupFilter::DisplayName(&f.value),
        Some(f) if f.attribute == "externalid" => store::scim::GroupFilter::ExternalId(&f.value),
        Some(f) if f.attribute == "id" => {
            let found = match uuid::Uuid::try_parse(&f.value) {
                Ok(_) => store::scim::find_group(state.db.pool(), &ws.id, &f.value).await?,
                Err(_) => None,
            };
            let mut all = Vec::new();
            if let Some(g) = &found {
                all.push(with_members(&state, &ws, g, include).await?);
            }
            let total = all.len() as i64;
            let page = if start > 1 || count == 0 { vec![] } else { all };
            return Ok(list_response(total, start, page));
        }
        Some(_) => {
            return Err(ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidFilter"),
                "Groups can be filtered by displayName, externalId or id.",
            ));
        }
    };
    let (total, groups) =
        store::scim::list_groups(state.db.pool(), &ws.id, &filter, start - 1, count).await?;
    let mut resources = Vec::with_capacity(groups.len());
    for g in &groups {
        resources.push(with_members(&state, &ws, g, include).await?);
    }
    Ok(list_response(total, start, resources))
}

pub async fn get_one(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimResult {
    let g = find(&state, &ws, &id).await?;
    let include = wants_members(&query_params(q.as_deref()));
    Ok(scim_json(
        StatusCode::OK,
        &with_members(&state, &ws, &g, include).await?,
    ))
}

/// Member ids as users of this workspace; one that is not is the request's mistake.
fn member_ids(ids: &[String]) -> Result<Vec<UserId>, ScimError> {
    ids.iter()
        .map(|s| {
            UserId::parse(s).ok_or_else(|| {
                ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidValue"),
                    format!(
                        "Member {} is not a user id.",
                        s.chars().take(64).collect::<String>()
                    ),
                )
            })
        })
        .collect()
}

fn member_error(e: AccountError) -> ScimError {
    match e {
        AccountError::NoSuchUser(id) => ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            format!("Member {id} is not a user of this workspace."),
        ),
        other => other.into(),
    }
}

/// The workspace's group → role mapping (empty: groups decide no role).
async fn mapping(state: &AppState, ws: &Workspace) -> Result<RoleMapping, ScimError> {
    let text = store::scim::settings(state.db.pool(), &ws.id)
        .await?
        .and_then(|s| s.role_mapping)
        .unwrap_or_default();
    // Saved through the card's validation, which never admits super-admin.
    Ok(RoleMapping::parse(&text, false, false).unwrap_or_default())
}

/// Re-derives the roles of users whose groups changed. A refusal (the accounts service's
/// rules) is logged, not the request's failure: the membership change itself stands.
async fn sync_roles(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    users: &[UserId],
) -> Result<(), ScimError> {
    let mapping = mapping(state, ws).await?;
    if mapping.is_empty() {
        return Ok(());
    }
    let by = By {
        acting: Acting::Scim,
        origin: client.origin(),
    };
    let accounts = state.accounts();
    for user in users {
        match accounts.scim_sync_role(&by, ws, user, &mapping).await {
            Ok(_) => {}
            Err(e) if e.is_refusal() => {
                tracing::info!(user = %user, reason = %e, "SCIM group role not applied");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    body: Bytes,
) -> ScimResult {
    let body = protocol::parse_group(&json_body(&body)?)?;
    let members = member_ids(&body.members)?;
    let by = By {
        acting: Acting::Scim,
        origin: client.origin(),
    };
    let g = state
        .accounts()
        .scim_create_group(
            &by,
            &ws,
            &body.display_name,
            body.external_id.as_deref(),
            &members,
        )
        .await
        .map_err(member_error)?;
    sync_roles(&state, &ws, &client, &members).await?;
    let value = with_members(&state, &ws, &g, true).await?;
    let mut resp = scim_json(StatusCode::CREATED, &value);
    if let Some(loc) = value["meta"]["location"].as_str()
        && let Ok(v) = HeaderValue::from_str(loc)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

pub async fn patch(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult {
    let g = find(&state, &ws, &id).await?;
    let p = protocol::parse_group_patch(&json_body(&body)?)?;
    let add = member_ids(&p.add)?;
    let remove = member_ids(&p.remove)?;
    let mut touched: Vec<UserId> = add.iter().chain(remove.iter()).cloned().collect();
    if p.remove_all {
        let before = store::scim::members(state.db.pool(), &g.id).await?;
        touched.extend(before.into_iter().map(|(id, _)| id));
    }
    let by = By {
        acting: Acting::Scim,
        origin: client.origin(),
    };
    let removal = if p.remove_all {
        GroupRemoval::All
    } else {
        GroupRemoval::Some(&remove)
    };
    state
        .accounts()
        .scim_update_group(
            &by,
            &ws,
            &g.id,
            p.display_name.as_deref(),
            p.external_id.as_ref().map(|x| x.as_deref()),
            &add,
            removal,
        )
        .await
        .map_err(member_error)?;
    touched.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    touched.dedup();
    // A renamed group may map differently: every member's role is derived again.
    if p.display_name.is_some() || p.external_id.is_some() {
        let now = store::scim::members(state.db.pool(), &g.id).await?;
        touched.extend(now.into_iter().map(|(id, _)| id));
        touched.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        touched.dedup();
    }
    sync_roles(&state, &ws, &client, &touched).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    ScimWorkspace(ws): ScimWorkspace,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ScimResult {
    let g = find(&state, &ws, &id).await?;
    let by = By {
        acting: Acting::Scim,
        origin: client.origin(),
    };
    let former = state.accounts().scim_delete_group(&by, &ws, &g.id).await?;
    sync_roles(&state, &ws, &client, &former).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
