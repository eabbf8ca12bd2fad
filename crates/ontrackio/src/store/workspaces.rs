use sqlx::{Executor, Row};

use crate::domain::{EmailDomain, WorkspaceId, WorkspaceSlug};

use super::now;

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub slug: WorkspaceSlug,
    pub name: String,
    pub allowed_email_domains: Vec<EmailDomain>,
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Workspace, sqlx::Error> {
    let domains: String = row.try_get("allowed_email_domains")?;
    Ok(Workspace {
        id: WorkspaceId::from_db(row.try_get("id")?),
        slug: WorkspaceSlug::from_db(row.try_get("slug")?),
        name: row.try_get("name")?,
        // Stored normalised by `set_allowed_domains`; a value that no longer parses is
        // dropped rather than widening the allowlist to "anyone".
        allowed_email_domains: domains
            .split(',')
            .filter_map(|d| EmailDomain::parse(d).ok())
            .collect(),
    })
}

pub async fn find_by_slug<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    slug: &str,
) -> Result<Option<Workspace>, sqlx::Error> {
    sqlx::query("SELECT id, slug, name, allowed_email_domains FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn insert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    slug: &WorkspaceSlug,
    name: &str,
) -> Result<Workspace, sqlx::Error> {
    let id = WorkspaceId::new();
    let t = now();
    sqlx::query(
        "INSERT INTO workspaces (id, slug, name, allowed_email_domains, created_at, updated_at) \
         VALUES ($1, $2, $3, '', $4, $5)",
    )
    .bind(id.as_str())
    .bind(slug.as_str())
    .bind(name)
    .bind(t)
    .bind(t)
    .execute(db)
    .await?;
    Ok(Workspace {
        id,
        slug: slug.clone(),
        name: name.to_string(),
        allowed_email_domains: vec![],
    })
}

pub async fn set_allowed_domains<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &WorkspaceId,
    domains: &[EmailDomain],
) -> Result<(), sqlx::Error> {
    let joined = domains
        .iter()
        .map(EmailDomain::as_str)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query("UPDATE workspaces SET allowed_email_domains = $1, updated_at = $2 WHERE id = $3")
        .bind(joined)
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Locks the workspace's row until the transaction ends, so that changes which must see
/// each other (the last super-admin rule) run one after the other. A no-op update works on
/// both backends: a row lock on PostgreSQL, the write lock `BEGIN IMMEDIATE` already holds
/// on SQLite.
pub async fn lock<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    lock_statement(id).execute(db).await
}

/// [`lock`] as a statement.
pub fn lock_statement(id: &WorkspaceId) -> super::batch::Statement {
    super::batch::Statement::new(
        "UPDATE workspaces SET updated_at = updated_at WHERE id = $1",
        vec![id.as_str().into()],
    )
}
