//! Loading the signed-in user, and the access rules routers declare with `route_layer`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{AppError, AppState};
use crate::auth::session::{self as auth_session, TOUCH_INTERVAL_SECS};
use crate::auth::session_cache::Session as SessionInCache;
use crate::crypto::SessionToken;
use crate::domain::{Role, UserStatus};
use crate::store::{self, users::User, workspaces::Workspace};

/// The signed-in user of this request, in this workspace.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: Arc<User>,
    pub workspace: Arc<Workspace>,
    pub token_hash: String,
    /// The CSRF token of this session's forms (see `csrf`).
    pub csrf_token: Arc<str>,
}

impl CurrentUser {
    /// This user as the actor of an audit row.
    pub fn actor(&self) -> crate::audit::Actor<'_> {
        crate::audit::Actor::User {
            id: &self.user.id,
            label: &self.user.email,
        }
    }
}

/// The signed-in user of a workspace request, if its session cookie holds a live session;
/// `Err` is the page to answer instead (the database failed).
pub async fn load(
    state: &AppState,
    ws: &Arc<Workspace>,
    headers: &axum::http::HeaderMap,
) -> Result<Option<CurrentUser>, Response> {
    let token = super::cookies::value(headers, auth_session::cookie_name(state.https()))
        .and_then(|v| SessionToken::from_cookie(&v));
    let Some(token) = token else {
        return Ok(None);
    };
    current_user(state, ws.clone(), &token)
        .await
        .map_err(|e| AppError::from(e).into_response())
}

async fn current_user(
    state: &AppState,
    ws: Arc<Workspace>,
    token: &SessionToken,
) -> Result<Option<CurrentUser>, sqlx::Error> {
    let hash = token.hash();
    let now = store::now();
    let cache = &state.sessions;
    // The session as this node last read it, if nothing has changed it since; otherwise
    // from the database (and kept for the next page).
    let session = match cache.get(&hash, now) {
        Some(s) if s.user.workspace_id != ws.id => return Ok(None),
        // Dead by the clock: the database decides (and deletes) as before.
        Some(s) if !auth_session::is_alive(now, s.last_seen_at, s.expires_at) => {
            return from_database(state, ws, hash, now).await;
        }
        Some(s) => s,
        None => return from_database(state, ws, hash, now).await,
    };
    if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
        store::sessions::touch(state.db.pool(), &hash).await?;
        cache.touched(&hash, now);
    }
    Ok(Some(CurrentUser {
        user: session.user,
        workspace: ws,
        token_hash: hash,
        csrf_token: session.csrf_token,
    }))
}

async fn from_database(
    state: &AppState,
    ws: Arc<Workspace>,
    hash: String,
    now: i64,
) -> Result<Option<CurrentUser>, sqlx::Error> {
    let ticket = state.sessions.ticket();
    let Some(row) = store::sessions::find_with_user(state.db.pool(), &ws.id, &hash).await? else {
        return Ok(None);
    };
    if !auth_session::is_alive(now, row.last_seen_at, row.expires_at)
        || row.user.status == UserStatus::Disabled
    {
        store::sessions::delete(state.db.pool(), &hash).await?;
        return Ok(None);
    }
    let mut last_seen_at = row.last_seen_at;
    if now - last_seen_at >= TOUCH_INTERVAL_SECS {
        store::sessions::touch(state.db.pool(), &hash).await?;
        last_seen_at = now;
    }
    let session = SessionInCache {
        user: Arc::new(row.user),
        csrf_token: super::csrf::token_for_session(state, &hash).into(),
        last_seen_at,
        expires_at: row.expires_at,
    };
    state.sessions.keep(ticket, &hash, session.clone(), now);
    Ok(Some(CurrentUser {
        user: session.user,
        workspace: ws,
        token_hash: hash,
        csrf_token: session.csrf_token,
    }))
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        // Routes using this sit behind `require_user`, so absence is a wiring bug.
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "CurrentUser used on a route without require_user"
                ))
            })
    }
}

/// For pages that work with or without a session (the sign-in page).
pub struct MaybeUser(pub Option<CurrentUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<CurrentUser>().cloned()))
    }
}

/// Anonymous visitors go to the sign-in page, which brings them back here afterwards.
pub async fn require_user(req: Request, next: Next) -> Response {
    if req.extensions().get::<CurrentUser>().is_some() {
        return next.run(req).await;
    }
    if req.method() != axum::http::Method::GET {
        return Redirect::to("/login").into_response();
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let query = serde_urlencoded::to_string([("return_to", target)]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

async fn require_role(min: Role, req: Request, next: Next) -> Response {
    match req.extensions().get::<CurrentUser>() {
        Some(cu) if cu.user.role >= min => next.run(req).await,
        Some(_) => AppError::Forbidden.into_response(),
        None => require_user(req, next).await,
    }
}

pub async fn require_admin(req: Request, next: Next) -> Response {
    require_role(Role::Admin, req, next).await
}

pub async fn require_super_admin(req: Request, next: Next) -> Response {
    require_role(Role::SuperAdmin, req, next).await
}

/// Deletes expired and idle sessions every few minutes, so the table does not grow.
pub async fn sweep_expired(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let cutoff = store::now() - auth_session::IDLE_TIMEOUT_SECS;
        if let Err(e) = store::sessions::delete_expired(state.db.pool(), cutoff).await {
            tracing::warn!(error = %e, "could not sweep expired sessions");
        }
        // Forget rate-limit entries of IPs that have gone quiet, so the map stays small.
        state.microsoft.start_limiter.retain_recent();
    }
}
