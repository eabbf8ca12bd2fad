use std::sync::LazyLock;

use sqlx::{Executor, Row};

use crate::domain::{UserId, WorkspaceId};

use super::batch::Statement;
use super::now;
use super::users::{self, User};

/// PostgreSQL channel on which the database announces, at commit, that a user's row or one
/// of their sessions changed (payload: the user's id). Sent by the triggers of migration
/// 0005, so every write path and the command-line tool announce alike.
pub const CHANGE_CHANNEL: &str = "ontrackio_users";

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub workspace: &'a WorkspaceId,
    pub user: &'a UserId,
    /// Also its first `last_seen_at`.
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

pub async fn insert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    s: NewSession<'_>,
) -> Result<(), sqlx::Error> {
    insert_statement(s).execute(db).await
}

/// [`insert`] as a statement for a [`Batch`](super::batch::Batch).
pub fn insert_statement(s: NewSession<'_>) -> Statement {
    let t = s.created_at;
    Statement::new(
        "INSERT INTO sessions (token_hash, workspace_id, user_id, created_at, updated_at, \
         last_seen_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            s.token_hash.into(),
            s.workspace.as_str().into(),
            s.user.as_str().into(),
            t.into(),
            t.into(),
            t.into(),
            s.expires_at.into(),
            s.ip.into(),
            s.user_agent.into(),
        ],
    )
}

pub struct SessionRow {
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user: User,
}

/// One query per authenticated request: the session and its user, in this workspace only
/// (a session presented on another workspace's host is simply not found).
pub async fn find_with_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    token_hash: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    // Built once: this runs on every signed-in request.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, \
             s.expires_at AS s_expires_at, {} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.workspace_id = $2",
            users::columns_of("u")
        )
    });
    let Some(row) = sqlx::query(SQL.as_str())
        .bind(token_hash)
        .bind(workspace.as_str())
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(SessionRow {
        created_at: row.try_get("s_created_at")?,
        last_seen_at: row.try_get("s_last_seen_at")?,
        expires_at: row.try_get("s_expires_at")?,
        user: users::from_row(&row)?,
    }))
}

pub async fn touch<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query("UPDATE sessions SET last_seen_at = $1, updated_at = $2 WHERE token_hash = $3")
        .bind(t)
        .bind(t)
        .bind(token_hash)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn delete<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn delete_for_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    user: &UserId,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.as_str())
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

pub async fn delete_expired<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    idle_cutoff: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2")
        .bind(now())
        .bind(idle_cutoff)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}
