//! External identities: (provider, issuer tenant, object id) → user. The durable key.

use std::sync::LazyLock;

use sqlx::Executor;

use crate::domain::{UserId, WorkspaceId};

use super::batch::Statement;
use super::now;
use super::users::{self, User};

/// The user linked to this identity in this workspace.
pub async fn find_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    provider: &str,
    tenant_id: &str,
    object_id: &str,
) -> Result<Option<User>, sqlx::Error> {
    find_user_statement(workspace, provider, tenant_id, object_id)
        .fetch_optional(db)
        .await?
        .map(|r| users::from_row(&r))
        .transpose()
}

/// [`find_user`]'s query, for a caller that runs it itself.
pub fn find_user_statement(
    workspace: &WorkspaceId,
    provider: &str,
    tenant_id: &str,
    object_id: &str,
) -> Statement {
    // Built once: every sign-in runs it.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM user_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.workspace_id = $1 AND i.provider = $2 AND i.tenant_id = $3 AND i.object_id = $4",
            users::columns_of("u")
        )
    });
    Statement::new(
        SQL.as_str(),
        vec![
            workspace.as_str().into(),
            provider.into(),
            tenant_id.into(),
            object_id.into(),
        ],
    )
}

pub async fn insert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    user: &UserId,
    provider: &str,
    tenant_id: &str,
    object_id: &str,
) -> Result<(), sqlx::Error> {
    insert_statement(workspace, user, provider, tenant_id, object_id)
        .execute(db)
        .await
}

/// [`insert`] as a statement for a [`Batch`](super::batch::Batch).
pub fn insert_statement(
    workspace: &WorkspaceId,
    user: &UserId,
    provider: &str,
    tenant_id: &str,
    object_id: &str,
) -> Statement {
    let t = now();
    Statement::new(
        "INSERT INTO user_identities (id, workspace_id, user_id, provider, tenant_id, object_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            uuid::Uuid::new_v4().to_string().into(),
            workspace.as_str().into(),
            user.as_str().into(),
            provider.into(),
            tenant_id.into(),
            object_id.into(),
            t.into(),
            t.into(),
        ],
    )
}

/// The providers each of `users` has an identity with (one query for a page of users),
/// as `(user id, provider)` pairs in provider order.
pub async fn providers_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    users: &[&UserId],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..users.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT DISTINCT user_id, provider FROM user_identities \
         WHERE workspace_id = $1 AND user_id IN ({}) ORDER BY provider",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(workspace.as_str());
    for u in users {
        q = q.bind(u.as_str());
    }
    use sqlx::Row;
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("provider")?)))
        .collect()
}
