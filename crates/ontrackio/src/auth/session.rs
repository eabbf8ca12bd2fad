//! Sessions: 256-bit tokens in a host-only cookie, only their hash in the database,
//! idle and absolute timeouts, bound to one workspace.

use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::crypto::SessionToken;
use crate::domain::{UserId, WorkspaceId};
use crate::store::{self, Conn};

pub const IDLE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 14 * 24 * 60 * 60;
/// `last_seen_at` is written at most once a minute: reading a page must not cost a write.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// Cookie names: on https the `__Host-` prefix makes the browser itself refuse a cookie
/// with a `Domain` or from a non-secure origin, so a sibling subdomain cannot plant one.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-ontrackio_session"
    } else {
        "ontrackio_session"
    }
}

pub fn session_cookie(token: &SessionToken, https: bool) -> Cookie<'static> {
    Cookie::build((cookie_name(https), token.expose().to_string()))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(ABSOLUTE_TIMEOUT_SECS))
        .build()
}

pub fn removal_cookie(https: bool) -> Cookie<'static> {
    let mut c = Cookie::build((cookie_name(https), ""))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .build();
    c.make_removal();
    c
}

/// Creates a session row inside the sign-in's transaction and returns the new token.
/// Always a fresh token: an id chosen before sign-in is never reused (fixation).
pub async fn create(
    conn: &mut Conn,
    workspace: &WorkspaceId,
    user: &UserId,
    ip: &str,
    user_agent: &str,
) -> Result<SessionToken, sqlx::Error> {
    let created = create_statement(workspace, user, ip, user_agent);
    created.statement.execute(conn).await?;
    Ok(created.token)
}

/// A session about to be written: the token it stores the hash of, and its times.
pub struct Created {
    pub token: SessionToken,
    pub statement: store::batch::Statement,
    /// Also its `last_seen_at`.
    pub created_at: i64,
    pub expires_at: i64,
}

/// [`create`] as a statement for a [`Batch`](crate::store::batch::Batch).
pub fn create_statement(
    workspace: &WorkspaceId,
    user: &UserId,
    ip: &str,
    user_agent: &str,
) -> Created {
    let token = SessionToken::generate();
    let ua: String = user_agent.chars().take(300).collect();
    let created_at = store::now();
    let expires_at = created_at + ABSOLUTE_TIMEOUT_SECS;
    let statement = store::sessions::insert_statement(store::sessions::NewSession {
        token_hash: &token.hash(),
        workspace,
        user,
        created_at,
        expires_at,
        ip,
        user_agent: &ua,
    });
    Created {
        token,
        statement,
        created_at,
        expires_at,
    }
}

/// Whether a stored session is still alive at `now`.
pub fn is_alive(now: i64, last_seen_at: i64, expires_at: i64) -> bool {
    now < expires_at && now - last_seen_at < IDLE_TIMEOUT_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_die_when_idle_or_too_old() {
        let now = 1_000_000;
        assert!(is_alive(now, now - 60, now + 10));
        assert!(!is_alive(now, now - IDLE_TIMEOUT_SECS, now + 10));
        assert!(!is_alive(now, now, now));
    }

    #[test]
    fn cookies_are_host_only_http_only_and_lax() {
        let t = SessionToken::generate();
        let c = session_cookie(&t, true);
        assert_eq!(c.name(), "__Host-ontrackio_session");
        assert_eq!(c.domain(), None);
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.path(), Some("/"));
        let c = session_cookie(&t, false);
        assert_eq!(c.name(), "ontrackio_session");
        assert_eq!(c.secure(), Some(false));
    }
}
