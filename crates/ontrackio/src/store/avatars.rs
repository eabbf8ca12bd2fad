use sqlx::{Executor, Row};

use crate::domain::{UserId, WorkspaceId};

use super::now;

pub async fn upsert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    user: &UserId,
    png: &[u8],
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO avatars (user_id, png, created_at, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET png = excluded.png, updated_at = excluded.updated_at",
    )
    .bind(user.as_str())
    .bind(png)
    .bind(t)
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// The avatar of a user of this workspace (never another workspace's).
pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query(
        "SELECT a.png FROM avatars a JOIN users u ON u.id = a.user_id WHERE u.workspace_id = $1 AND a.user_id = $2",
    )
    .bind(workspace.as_str())
    .bind(user.as_str())
    .fetch_optional(db)
    .await?
    .map(|r| r.try_get("png"))
    .transpose()
}
