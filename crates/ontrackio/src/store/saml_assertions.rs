//! The memory of consumed SAML assertions (migration 0009), shared by every node.

use sqlx::Executor;

/// Records an assertion's use. `false`: it was used before (a replay). Rows of this
/// workspace that have expired go in the same call, so the table holds only live ones.
pub async fn consume(
    db: &super::Db,
    workspace_id: &crate::domain::WorkspaceId,
    assertion_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    tx.execute(
        sqlx::query("DELETE FROM saml_seen_assertions WHERE workspace_id = $1 AND expires_at < $2")
            .bind(workspace_id.as_str())
            .bind(now),
    )
    .await?;
    let inserted = tx
        .execute(
            sqlx::query(
                "INSERT INTO saml_seen_assertions (workspace_id, assertion_id, expires_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(workspace_id.as_str())
            .bind(assertion_id)
            .bind(expires_at),
        )
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(inserted == 1)
}
