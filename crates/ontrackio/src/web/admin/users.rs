//! Admin → Users: invite, change role, toggle external, disable and enable.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::accounts::{AccountError, Acting, By, Invitation, Outcome};
use crate::auth::sign_in::Provider;
use crate::domain::{EmailAddress, PersonName, Role, UserId};
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
    pub role_label: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub external: bool,
    pub last_login: String,
    pub avatar_url: Option<String>,
    pub initials: String,
    pub is_self: bool,
    /// How the user can sign in: "Password", "Microsoft", "Google".
    pub sign_in_methods: Vec<&'static str>,
    /// The viewer may change this user (only a super-admin changes a super-admin): the
    /// row shows controls only when the server would accept them.
    pub can_manage: bool,
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
    /// The search as typed, to show it again.
    search: String,
    next_page: Option<String>,
    first_page: Option<String>,
    roles: Vec<(&'static str, &'static str)>,
    invite: InviteForm,
    email_error: Option<String>,
    name_error: Option<String>,
    role_error: Option<String>,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    notice: Option<String>,
    /// The start of an email or a name.
    #[serde(default)]
    q: String,
    /// The last email of the previous page.
    after: Option<String>,
}

/// Users a page shows: enough for a screen, and the next page a click away.
const PAGE_SIZE: u32 = 50;

/// Which slice of the list a page shows.
#[derive(Default)]
struct Listing {
    search: String,
    after: Option<String>,
}

impl Listing {
    fn of(q: &ListQuery) -> Self {
        let search: String = q.q.trim().chars().take(100).collect();
        // A cursor is an email as stored: anything longer or with control characters is
        // not one, and the list starts over.
        let after = q
            .after
            .clone()
            .filter(|a| !a.is_empty() && a.len() <= 320 && !a.chars().any(char::is_control));
        Self { search, after }
    }
}

async fn render(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    status: StatusCode,
    fill: impl FnOnce(&mut UsersPage),
) -> Result<Response, AppError> {
    render_listing(state, cu, jar, status, &Listing::default(), fill).await
}

async fn render_listing(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    status: StatusCode,
    listing: &Listing,
    fill: impl FnOnce(&mut UsersPage),
) -> Result<Response, AppError> {
    let search = (!listing.search.is_empty()).then(|| store::users::Search {
        prefix: &listing.search,
    });
    let found = store::users::page(
        &state.db,
        &cu.workspace.id,
        search,
        listing.after.as_deref(),
        PAGE_SIZE,
    )
    .await?;
    let users = found.users;
    let ids: Vec<&UserId> = users.iter().map(|u| &u.id).collect();
    let identities =
        store::user_identities::providers_of(state.db.pool(), &cu.workspace.id, &ids).await?;
    let link = |after: Option<&str>| {
        let mut params = Vec::new();
        if !listing.search.is_empty() {
            params.push(("q", listing.search.as_str()));
        }
        if let Some(a) = after {
            params.push(("after", a));
        }
        match serde_urlencoded::to_string(params).unwrap_or_default() {
            q if q.is_empty() => "/admin/users".to_string(),
            q => format!("/admin/users?{q}"),
        }
    };
    let next_page = found.next.as_deref().map(|after| link(Some(after)));
    let first_page = listing.after.is_some().then(|| link(None));
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    // Only a super-admin may hand out super-admin.
    let roles = Role::ALL
        .iter()
        .filter(|r| **r != Role::SuperAdmin || cu.user.role == Role::SuperAdmin)
        .map(|r| (r.as_str(), r.label()))
        .collect();
    let mut page = UsersPage {
        chrome: Chrome::for_user(cu, "admin-users", token),
        users: users
            .iter()
            .map(|u| {
                let mut r = row(u, cu);
                r.sign_in_methods = sign_in_methods(u, &identities);
                r
            })
            .collect(),
        search: listing.search.clone(),
        next_page,
        first_page,
        roles,
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

/// The user's ways in, in the order the login page shows them.
fn sign_in_methods(u: &User, identities: &[(String, String)]) -> Vec<&'static str> {
    let has = |p: Provider| {
        identities
            .iter()
            .any(|(id, provider)| id == u.id.as_str() && provider == p.key())
    };
    let mut methods = Vec::new();
    for p in [Provider::Microsoft, Provider::Google, Provider::Saml] {
        if has(p) {
            methods.push(p.display_name());
        }
    }
    if u.has_password {
        methods.push("Password");
    }
    methods
}

fn row(u: &User, cu: &CurrentUser) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        name: u.display_name(),
        email: u.email.clone(),
        role: u.role.as_str(),
        role_label: u.role.label(),
        status: u.status.as_str(),
        status_label: u.status.label(),
        external: u.external,
        last_login: fmt_opt_time(u.last_login_at),
        avatar_url: avatar_url(u.id.as_str(), u.avatar_version),
        initials: crate::avatar::initials(&u.first_name, &u.last_name, &u.email),
        is_self: u.id == cu.user.id,
        sign_in_methods: Vec::new(),
        can_manage: u.role != Role::SuperAdmin || cu.user.role == Role::SuperAdmin,
    }
}

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let listing = Listing::of(&q);
    render_listing(&state, &cu, &jar, StatusCode::OK, &listing, |p| {
        p.notice = match q.notice.as_deref() {
            Some("invited") => Some("The user is invited. They can sign in with Microsoft or Google, or an admin can send them a setup link."),
            Some("updated") => Some("The change is saved."),
            Some("unchanged") => Some("Nothing to change: the user already had that setting."),
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
    let email = EmailAddress::parse_typed(&body.email);
    let first = PersonName::parse(&body.first_name).map_err(|e| e.for_field("First name"));
    let last = PersonName::parse(&body.last_name).map_err(|e| e.for_field("Last name"));
    let role = Role::parse(&body.role).map_err(|e| e.to_string());
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
    let invitation = Invitation {
        email: &email,
        first_name: &first,
        last_name: &last,
        role,
        external,
    };
    match state
        .accounts()
        .invite(&by(&cu, &client), &cu.workspace, invitation)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/users?notice=invited").into_response()),
        Err(e @ AccountError::AlreadyUser(_)) => {
            let msg = e.to_string();
            render(&state, &cu, &jar, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                refill(p);
                p.email_error = Some(msg);
            })
            .await
        }
        Err(e @ AccountError::SuperAdminOnly) => {
            let msg = e.to_string();
            render(&state, &cu, &jar, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                refill(p);
                p.role_error = Some(msg);
            })
            .await
        }
        Err(e) => refuse(&state, &cu, &jar, e).await,
    }
}

/// The signed-in admin as the author of a change.
fn by<'a>(cu: &'a CurrentUser, client: &'a ClientInfo) -> By<'a> {
    By {
        acting: Acting::user(&cu.user),
        origin: client.origin(),
    }
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

/// The accounts service said no: the page again with its reason; a failure of ours is the
/// error page.
async fn refuse(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    e: AccountError,
) -> Result<Response, AppError> {
    if !e.is_refusal() {
        return Err(match e {
            AccountError::Internal(e) => AppError::Internal(e),
            other => AppError::Internal(other.into()),
        });
    }
    refuse_with(state, cu, jar, e.to_string()).await
}

async fn refuse_with(
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

/// Where a change ends: the list with a notice, or the refusal.
async fn done(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    result: Result<Outcome, AccountError>,
) -> Result<Response, AppError> {
    match result {
        Ok(Outcome::Changed) => Ok(Redirect::to("/admin/users?notice=updated").into_response()),
        Ok(Outcome::Unchanged) => Ok(Redirect::to("/admin/users?notice=unchanged").into_response()),
        Err(e) => refuse(state, cu, jar, e).await,
    }
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
        Err(e) => return refuse_with(&state, &cu, &jar, e.to_string()).await,
    };
    let result = state
        .accounts()
        .set_role(&by(&cu, &client), &cu.workspace, &target.id, role)
        .await;
    done(&state, &cu, &jar, result).await
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
            let msg = "Choose whether the user is external.".to_string();
            return refuse_with(&state, &cu, &jar, msg).await;
        }
    };
    let result = state
        .accounts()
        .set_external(&by(&cu, &client), &cu.workspace, &target.id, external)
        .await;
    done(&state, &cu, &jar, result).await
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
    let accounts = state.accounts();
    let by = by(&cu, &client);
    let result = match body.status.as_str() {
        "disabled" => accounts
            .disable(&by, &cu.workspace, &target.id)
            .await
            .map(|d| d.outcome),
        "active" => accounts.enable(&by, &cu.workspace, &target.id).await,
        _ => {
            let msg = "Choose to disable or enable the user.".to_string();
            return refuse_with(&state, &cu, &jar, msg).await;
        }
    };
    done(&state, &cu, &jar, result).await
}
