use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::audit::actions;
use crate::domain::{Role, UserStatus};
use crate::store;
use crate::web::chrome::{Chrome, fmt_time};
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub struct RoleRow {
    pub label: &'static str,
    pub invited: i64,
    pub active: i64,
    pub disabled: i64,
}

pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    roles: Vec<RoleRow>,
    total_users: i64,
    sign_ins_7d: i64,
    events: Vec<EventRow>,
    microsoft: MicrosoftPanel,
}

/// Microsoft sign-in at a glance: what needs an admin's attention.
pub struct MicrosoftPanel {
    pub set_up: bool,
    pub viewer_is_super: bool,
    pub expiry_warning: Option<String>,
    pub failing: Option<String>,
}

async fn microsoft_panel(state: &AppState, cu: &CurrentUser) -> Result<MicrosoftPanel, AppError> {
    let ws = &cu.workspace;
    let effective = state.microsoft_settings(ws).await?;
    let row = store::microsoft_settings::get(state.db.pool(), &ws.id).await?;
    Ok(MicrosoftPanel {
        set_up: effective.button_visible(),
        viewer_is_super: cu.user.role == Role::SuperAdmin,
        expiry_warning: super::microsoft_card::expiry_warning(row.as_ref()),
        failing: super::microsoft_card::failing_since(row.as_ref()),
    })
}

/// Sign-in actions counted as "sign-ins" on the dashboard.
pub const SIGN_IN_ACTIONS: &[&str] = &[
    actions::PASSWORD_SIGN_IN,
    "User signed in with Microsoft SSO",
];

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let ws = &cu.workspace;
    let counts = store::users::counts_by_role_and_status(state.db.pool(), &ws.id).await?;
    let roles: Vec<RoleRow> = Role::ALL
        .iter()
        .rev()
        .map(|&role| {
            let n = |s: UserStatus| {
                counts
                    .iter()
                    .find(|(r, st, _)| *r == role && *st == s)
                    .map_or(0, |c| c.2)
            };
            RoleRow {
                label: role.label(),
                invited: n(UserStatus::Invited),
                active: n(UserStatus::Active),
                disabled: n(UserStatus::Disabled),
            }
        })
        .collect();
    let total_users = counts.iter().map(|c| c.2).sum();
    let week_ago = store::now() - 7 * 24 * 3600;
    let sign_ins_7d =
        store::audit::count_action_since(state.db.pool(), &ws.id, SIGN_IN_ACTIONS, week_ago)
            .await?;
    let events = store::audit::list(
        state.db.pool(),
        &ws.id,
        &store::audit::Filter::default(),
        10,
    )
    .await?
    .into_iter()
    .map(|e| EventRow {
        at: fmt_time(e.at),
        actor: e.actor_label,
        action: e.action,
        target: e.target,
    })
    .collect();
    let microsoft = microsoft_panel(&state, &cu).await?;
    let (token, _) = csrf::token_for_page(&state, Some(&cu), &jar);
    let page = DashboardPage {
        chrome: Chrome::for_user(&cu, "admin-dashboard", token),
        roles,
        total_users,
        sign_ins_7d,
        events,
        microsoft,
    };
    Ok(Html(page.render()?).into_response())
}
