//! Loading the signed-in user, and the access rules routers declare with `route_layer`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::future::Either;
use std::future::Ready;

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
    pub token_hash: Arc<str>,
    /// The CSRF token of this session's forms (see `csrf`).
    pub csrf_token: Arc<str>,
    /// The user as the page frame shows them.
    pub chrome: Arc<super::chrome::UserChrome>,
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
/// `Err` is the page to answer instead (the database failed). `from_database`: ask the
/// database whatever the cache holds — for every state-changing request, so that a change
/// another node made a moment ago (whose notification may still be on its way, see
/// `auth::session_cache`) is never acted upon.
pub async fn load(
    state: &AppState,
    ws: &Arc<Workspace>,
    headers: &axum::http::HeaderMap,
    from_database: bool,
) -> Result<Option<CurrentUser>, Response> {
    let Some(token) = token_of(state, headers) else {
        return Ok(None);
    };
    let hash = token.hash_hex();
    let hash = hash.as_str();
    let now = store::now();
    let cached = if from_database {
        Cached::Unknown
    } else {
        from_cache(state, ws, hash, now)
    };
    match cached {
        Cached::Answer(cu) => return Ok(cu),
        Cached::Touch(cu) => {
            // Once a minute per session: `last_seen_at` for the idle timeout.
            Box::pin(store::sessions::touch(state.db.pool(), hash))
                .await
                .map_err(|e| AppError::from(e).into_response())?;
            state.sessions.touched(hash, now);
            return Ok(Some(cu));
        }
        Cached::Unknown => {}
    }
    Box::pin(read_database(state, ws.clone(), hash.to_string(), now))
        .await
        .map_err(|e| AppError::from(e).into_response())
}

/// Keeps the session a sign-in has just written, with its user as the same transaction
/// read them back, so that the landing page it redirects to needs no database read. The
/// sign-in's ticket makes it the same bet as [`read_database`]'s: refused if anything was
/// forgotten since before the transaction.
pub fn remember_new(
    state: &AppState,
    token: &SessionToken,
    fresh: Option<crate::auth::sign_in::Fresh>,
) {
    let Some(fresh) = fresh else {
        return;
    };
    let hash = token.hash_hex();
    let session = cache_entry(
        state,
        hash.as_str(),
        fresh.user,
        fresh.created_at,
        fresh.expires_at,
    );
    state
        .sessions
        .keep(fresh.ticket, hash.as_str(), session, store::now());
}

/// What the session cache keeps of a session: its user, and what is derived from them and
/// the token once per read instead of on every page (the frame's view, the CSRF token).
fn cache_entry(
    state: &AppState,
    hash: &str,
    user: Arc<User>,
    last_seen_at: i64,
    expires_at: i64,
) -> SessionInCache<super::chrome::UserChrome> {
    SessionInCache {
        view: Arc::new(super::chrome::UserChrome::of(&user)),
        user,
        csrf_token: super::csrf::token_for_session(state, hash).into(),
        last_seen_at,
        expires_at,
    }
}

/// [`load`] when the session cache can answer alone: `None` if it needs the database.
pub fn load_cached(
    state: &AppState,
    ws: &Arc<Workspace>,
    headers: &axum::http::HeaderMap,
) -> Option<Option<CurrentUser>> {
    let Some(token) = token_of(state, headers) else {
        return Some(None);
    };
    match from_cache(state, ws, token.hash_hex().as_str(), store::now()) {
        Cached::Answer(cu) => Some(cu),
        Cached::Touch(_) | Cached::Unknown => None,
    }
}

fn token_of(state: &AppState, headers: &axum::http::HeaderMap) -> Option<SessionToken> {
    super::cookies::value(headers, auth_session::cookie_name(state.https()))
        .and_then(|v| SessionToken::from_cookie(&v))
}

enum Cached {
    /// The cache decides: this user, or nobody (a session of another workspace).
    Answer(Option<CurrentUser>),
    /// Signed in, but `last_seen_at` is due to be written.
    Touch(CurrentUser),
    /// The database must say (not cached, or dead by the clock: it deletes the row).
    Unknown,
}

/// The session as this node last read it, if nothing has changed it since.
fn from_cache(state: &AppState, ws: &Arc<Workspace>, hash: &str, now: i64) -> Cached {
    let Some(session) = state.sessions.get(hash, now) else {
        return Cached::Unknown;
    };
    if session.user.workspace_id != ws.id {
        return Cached::Answer(None);
    }
    if !auth_session::is_alive(now, session.last_seen_at, session.expires_at) {
        return Cached::Unknown;
    }
    let touch = now - session.last_seen_at >= TOUCH_INTERVAL_SECS;
    let cu = CurrentUser {
        user: session.user,
        workspace: ws.clone(),
        token_hash: hash.into(),
        csrf_token: session.csrf_token,
        chrome: session.view,
    };
    if touch {
        Cached::Touch(cu)
    } else {
        Cached::Answer(Some(cu))
    }
}

async fn read_database(
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
    let session = cache_entry(
        state,
        &hash,
        Arc::new(row.user),
        last_seen_at,
        row.expires_at,
    );
    state.sessions.keep(ticket, &hash, session.clone(), now);
    Ok(Some(CurrentUser {
        user: session.user,
        workspace: ws,
        token_hash: hash.into(),
        csrf_token: session.csrf_token,
        chrome: session.view,
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
                    "CurrentUser used on a route without RequireUser"
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

/// The access rule of a group of routes: a signed-in user, with at least `min` role if
/// given. Anonymous visitors go to the sign-in page, which brings them back afterwards; a
/// signed-in user without the role gets 403.
///
/// A `tower` layer rather than `middleware::from_fn`: it runs on every signed-in request,
/// and `from_fn` clones and boxes the routes below it each time (measured: a tenth of a
/// signed-in page's instructions); this one calls them directly.
#[derive(Clone, Copy)]
pub struct RequireUser {
    min: Option<Role>,
}

impl RequireUser {
    pub fn any_role() -> Self {
        Self { min: None }
    }
    pub fn at_least(min: Role) -> Self {
        Self { min: Some(min) }
    }
}

impl<S> tower::Layer<S> for RequireUser {
    type Service = RequireUserService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireUserService {
            inner,
            min: self.min,
        }
    }
}

#[derive(Clone)]
pub struct RequireUserService<S> {
    inner: S,
    min: Option<Role>,
}

impl<S> tower::Service<Request> for RequireUserService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let refusal = match (req.extensions().get::<CurrentUser>(), self.min) {
            (Some(cu), Some(min)) if cu.user.role < min => {
                Some(AppError::Forbidden.into_response())
            }
            (Some(_), _) => None,
            (None, _) => Some(to_sign_in(&req)),
        };
        match refusal {
            None => Either::Left(self.inner.call(req)),
            Some(page) => Either::Right(std::future::ready(Ok(page))),
        }
    }
}

/// Where an anonymous visitor of a protected route goes.
fn to_sign_in(req: &Request) -> Response {
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

/// Deletes expired and idle sessions every few minutes, so the table does not grow.
pub async fn sweep_expired(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let cutoff = store::now() - auth_session::IDLE_TIMEOUT_SECS;
        if let Err(e) = store::sessions::delete_expired(state.db.pool(), cutoff).await {
            tracing::warn!(error = %e, "could not sweep expired sessions");
        }
        // Password-attempt windows that have ended count nothing any more.
        let stale = store::now() - crate::auth::throttle::WINDOW_SECS;
        if let Err(e) = store::throttle::delete_stale(state.db.pool(), stale).await {
            tracing::warn!(error = %e, "could not sweep ended throttle windows");
        }
        // Forget rate-limit entries of IPs that have gone quiet, so the map stays small.
        state.flows.start_limiter.retain_recent();
    }
}
