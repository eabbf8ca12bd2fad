use sqlx::{Executor, Row};

use crate::domain::UserId;

use super::now;

pub async fn insert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    token_hash: &str,
    user: &UserId,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, user_id, expires_at, used_at, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, $4, $5)",
    )
    .bind(token_hash)
    .bind(user.as_str())
    .bind(expires_at)
    .bind(t)
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks an unused, unexpired token used and returns its user; a second use finds nothing.
pub async fn consume<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    token_hash: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let t = now();
    sqlx::query(
        "UPDATE setup_tokens SET used_at = $1, updated_at = $2 WHERE token_hash = $3 \
         AND used_at IS NULL AND expires_at > $4 RETURNING user_id",
    )
    .bind(t)
    .bind(t)
    .bind(token_hash)
    .bind(t)
    .fetch_optional(db)
    .await?
    .map(|r| r.try_get::<String, _>("user_id").map(UserId::from_db))
    .transpose()
}

/// Whether a token would be accepted, without using it (to show the form).
pub async fn is_valid<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    token_hash: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 AS one FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(token_hash)
        .bind(now())
        .fetch_optional(db)
        .await?
        .is_some())
}
