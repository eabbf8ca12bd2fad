//! What every page's frame needs: workspace, the signed-in user, the CSRF token.

use std::sync::Arc;

use super::session::CurrentUser;
use crate::avatar;
use crate::store::users::User;
use crate::store::workspaces::Workspace;

pub struct Chrome {
    pub workspace_name: String,
    pub section: &'static str,
    pub csrf: String,
    pub user: Option<Arc<UserChrome>>,
}

pub struct UserChrome {
    pub name: String,
    pub email: String,
    pub initials: String,
    pub role_label: &'static str,
    pub is_admin: bool,
    pub is_super_admin: bool,
    pub avatar_url: Option<String>,
    /// "2026-11-27 09:00 UTC" or "Never", for the dashboard.
    pub last_login: String,
}

impl Chrome {
    pub fn anonymous(ws: &Workspace, csrf: String) -> Self {
        Self {
            workspace_name: ws.name.clone(),
            section: "",
            csrf,
            user: None,
        }
    }

    pub fn for_user(cu: &CurrentUser, section: &'static str, csrf: String) -> Self {
        Self {
            workspace_name: cu.workspace.name.clone(),
            section,
            csrf,
            user: Some(cu.chrome.clone()),
        }
    }
}

impl UserChrome {
    /// Built once per session read (and kept with the session), not on every page.
    pub fn of(u: &User) -> Self {
        Self {
            name: u.display_name(),
            email: u.email.clone(),
            initials: avatar::initials(&u.first_name, &u.last_name, &u.email),
            role_label: u.role.label(),
            is_admin: u.role.is_admin(),
            is_super_admin: u.role == crate::domain::Role::SuperAdmin,
            avatar_url: avatar_url(u.id.as_str(), u.avatar_version),
            last_login: fmt_opt_time(u.last_login_at),
        }
    }
}

/// Versioned so the browser may cache it forever and still see a new upload at once.
pub fn avatar_url(user_id: &str, version: i64) -> Option<String> {
    (version > 0).then(|| format!("/avatars/{user_id}-{version}.png"))
}

/// "2026-11-27 09:00 UTC"
pub fn fmt_time(ts: i64) -> String {
    const FMT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(FMT).ok())
        .unwrap_or_default()
}

pub fn fmt_opt_time(ts: Option<i64>) -> String {
    ts.map(fmt_time).unwrap_or_else(|| "Never".into())
}
