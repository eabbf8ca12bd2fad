//! Admin → Users: invite, change role, toggle external, disable and enable.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::audit::{self, actions};
use crate::domain::{EmailAddress, PersonName, Role, UserId, UserStatus};
use crate::store::{self, users::User};
use crate::web::chrome::{Chrome, avatar_url, fmt_opt_time};
use crate::web::client::ClientInfo;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub external: bool,
    pub last_login: String,
    pub avatar_url: Option<String>,
    pub initials: String,
    pub is_self: bool,
}

#[derive(Default)]
pub struct InviteForm {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub external: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    viewer_is_super: bool,
    invite: InviteForm,
    email_error: Option<String>,
    name_error: Option<String>,
    role_error: Option<String>,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

async fn render(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    status: StatusCode,
    fill: impl FnOnce(&mut UsersPage),
) -> Result<Response, AppError> {
    let users = store::users::list(state.db.pool(), &cu.workspace.id).await?;
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    // Only a super-admin may hand out super-admin.
    let roles = Role::ALL
        .iter()
        .filter(|r| **r != Role::SuperAdmin || cu.user.role == Role::SuperAdmin)
        .map(|r| (r.as_str(), r.label()))
        .collect();
    let mut page = UsersPage {
        chrome: Chrome::for_user(cu, "admin-users", token),
        users: users.iter().map(|u| row(u, cu)).collect(),
        roles,
        viewer_is_super: cu.user.role == Role::SuperAdmin,
        invite: InviteForm {
            role: "employee".into(),
            ..Default::default()
        },
        email_error: None,
        name_error: None,
        role_error: None,
        error: None,
        notice: None,
    };
    fill(&mut page);
    Ok((status, Html(page.render()?)).into_response())
}

fn row(u: &User, cu: &CurrentUser) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        name: u.display_name(),
        email: u.email.clone(),
        role: u.role.as_str(),
        status: u.status.as_str(),
        status_label: u.status.label(),
        external: u.external,
        last_login: fmt_opt_time(u.last_login_at),
        avatar_url: avatar_url(u.id.as_str(), u.avatar_version),
        initials: crate::avatar::initials(&u.first_name, &u.last_name, &u.email),
        is_self: u.id == cu.user.id,
    }
}

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    render(&state, &cu, &jar, StatusCode::OK, |p| {
        p.notice = match q.notice.as_deref() {
            Some("invited") => Some("The user is invited. They can sign in with Microsoft, or an admin can send them a setup link."),
            Some("updated") => Some("The change is saved."),
            _ => None,
        };
    })
    .await
}

#[derive(Deserialize)]
pub struct InviteBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    external: Option<String>,
}

pub async fn invite(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Form(body): Form<InviteBody>,
) -> Result<Response, AppError> {
    let email = EmailAddress::parse(&body.email);
    let first = PersonName::parse(&body.first_name, "First name");
    let last = PersonName::parse(&body.last_name, "Last name");
    let role = Role::parse(&body.role).and_then(|r| {
        if r == Role::SuperAdmin && cu.user.role != Role::SuperAdmin {
            Err("Only a super-admin can invite another super-admin.".to_string())
        } else {
            Ok(r)
        }
    });
    let external = body.external.is_some();
    let refill = |p: &mut UsersPage| {
        p.invite = InviteForm {
            email: body.email.chars().take(254).collect(),
            first_name: body.first_name.chars().take(100).collect(),
            last_name: body.last_name.chars().take(100).collect(),
            role: body.role.chars().take(20).collect(),
            external,
        };
    };
    let (email, first, last, role) = match (email, first, last, role) {
        (Ok(e), Ok(f), Ok(l), Ok(r)) => (e, f, l, r),
        (e, f, l, r) => {
            let email_error = e.err().map(|e| e.to_string());
            let name_error = f.err().or(l.err());
            let role_error = r.err();
            return render(&state, &cu, &jar, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                refill(p);
                p.email_error = email_error;
                p.name_error = name_error;
                p.role_error = role_error;
            })
            .await;
        }
    };
    let mut tx = state.db.begin().await?;
    let new = store::users::NewUser {
        email: &email,
        first_name: first.as_str(),
        last_name: last.as_str(),
        role,
        external,
        status: UserStatus::Invited,
        email_verified: false,
        password_hash: None,
    };
    match store::users::insert(&mut *tx, &cu.workspace.id, new).await {
        Ok(_) => {}
        Err(e) if store::is_unique_violation(&e) => {
            drop(tx);
            return render(&state, &cu, &jar, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                refill(p);
                p.email_error = Some(format!(
                    "{} is already a user of this workspace.",
                    email.as_str()
                ));
            })
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::USER_INVITED,
        email.as_str(),
        client.origin(),
        serde_json::json!({"role": role.as_str(), "external": external}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/users?notice=invited").into_response())
}

#[derive(Deserialize)]
pub struct RoleBody {
    #[serde(default)]
    role: String,
}

/// Loads the target user of this workspace, or 404.
async fn target(state: &AppState, cu: &CurrentUser, id: &str) -> Result<User, AppError> {
    let id = UserId::parse(id).ok_or(AppError::NotFound)?;
    store::users::find_by_id(state.db.pool(), &cu.workspace.id, &id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn refuse(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    msg: String,
) -> Result<Response, AppError> {
    render(state, cu, jar, StatusCode::UNPROCESSABLE_ENTITY, |p| {
        p.error = Some(msg)
    })
    .await
}

/// Whether `target` is the last active super-admin (who must stay one, and stay enabled).
async fn is_last_super_admin(
    tx: &mut store::Tx,
    cu: &CurrentUser,
    target: &User,
) -> Result<bool, AppError> {
    Ok(target.role == Role::SuperAdmin
        && target.status != UserStatus::Disabled
        && store::users::count_other_active_super_admins(&mut **tx, &cu.workspace.id, &target.id)
            .await?
            == 0)
}

pub async fn set_role(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(body): Form<RoleBody>,
) -> Result<Response, AppError> {
    let target = target(&state, &cu, &id).await?;
    let role = match Role::parse(&body.role) {
        Ok(r) => r,
        Err(msg) => return refuse(&state, &cu, &jar, msg).await,
    };
    if (role == Role::SuperAdmin || target.role == Role::SuperAdmin)
        && cu.user.role != Role::SuperAdmin
    {
        return refuse(
            &state,
            &cu,
            &jar,
            "Only a super-admin can grant or remove the super-admin role.".into(),
        )
        .await;
    }
    if role == target.role {
        return Ok(Redirect::to("/admin/users?notice=updated").into_response());
    }
    let mut tx = state.db.begin().await?;
    if role != Role::SuperAdmin && is_last_super_admin(&mut tx, &cu, &target).await? {
        drop(tx);
        return refuse(
            &state,
            &cu,
            &jar,
            format!(
                "{} is the last active super-admin. Make someone else a super-admin first.",
                target.email
            ),
        )
        .await;
    }
    store::users::set_role(&mut *tx, &target.id, role).await?;
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::ROLE_CHANGED,
        &target.email,
        client.origin(),
        serde_json::json!({"from": target.role.as_str(), "to": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&target.id);
    Ok(Redirect::to("/admin/users?notice=updated").into_response())
}

#[derive(Deserialize)]
pub struct ExternalBody {
    #[serde(default)]
    external: String,
}

pub async fn set_external(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(body): Form<ExternalBody>,
) -> Result<Response, AppError> {
    let target = target(&state, &cu, &id).await?;
    let external = match body.external.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return refuse(
                &state,
                &cu,
                &jar,
                "Choose whether the user is external.".into(),
            )
            .await;
        }
    };
    let mut tx = state.db.begin().await?;
    store::users::set_external(&mut *tx, &target.id, external).await?;
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::EXTERNAL_CHANGED,
        &target.email,
        client.origin(),
        serde_json::json!({"from": target.external, "to": external}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&target.id);
    Ok(Redirect::to("/admin/users?notice=updated").into_response())
}

#[derive(Deserialize)]
pub struct StatusBody {
    #[serde(default)]
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(body): Form<StatusBody>,
) -> Result<Response, AppError> {
    let target = target(&state, &cu, &id).await?;
    let disable = match body.status.as_str() {
        "disabled" => true,
        "active" => false,
        _ => {
            return refuse(
                &state,
                &cu,
                &jar,
                "Choose to disable or enable the user.".into(),
            )
            .await;
        }
    };
    if target.role == Role::SuperAdmin && cu.user.role != Role::SuperAdmin {
        return refuse(
            &state,
            &cu,
            &jar,
            "Only a super-admin can disable or enable a super-admin.".into(),
        )
        .await;
    }
    if disable && target.id == cu.user.id {
        return refuse(
            &state,
            &cu,
            &jar,
            "You cannot disable your own account.".into(),
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    if disable && is_last_super_admin(&mut tx, &cu, &target).await? {
        drop(tx);
        return refuse(
            &state,
            &cu,
            &jar,
            format!(
                "{} is the last active super-admin and cannot be disabled.",
                target.email
            ),
        )
        .await;
    }
    // Enabling an invited user who never signed in keeps them invited.
    let new_status = match (disable, target.last_login_at) {
        (true, _) => UserStatus::Disabled,
        (false, Some(_)) => UserStatus::Active,
        (false, None) => UserStatus::Invited,
    };
    store::users::set_status(&mut *tx, &target.id, new_status).await?;
    let ended = if disable {
        store::sessions::delete_for_user(&mut *tx, &target.id).await?
    } else {
        0
    };
    let action = if disable {
        actions::USER_DISABLED
    } else {
        actions::USER_ENABLED
    };
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        action,
        &target.email,
        client.origin(),
        serde_json::json!({"sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&target.id);
    Ok(Redirect::to("/admin/users?notice=updated").into_response())
}
