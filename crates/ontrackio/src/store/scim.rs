//! SCIM provisioning: the workspace's bearer token (its hash) and group mapping, what SCIM
//! knows of a user (Entra's `externalId`, a SCIM delete), and provisioned groups.

use sqlx::{Executor, Row};

use crate::domain::{UserId, WorkspaceId};

use super::users::{self, User};
use super::{flag, now};

/// The SCIM card's row.
#[derive(Clone, Default)]
pub struct ScimSettings {
    pub token_hash: Option<String>,
    pub token_created_at: Option<i64>,
    pub token_created_by: Option<String>,
    pub token_last_used_at: Option<i64>,
    pub role_mapping: Option<String>,
}

impl std::fmt::Debug for ScimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimSettings")
            .field("token", &self.token_hash.as_ref().map(|_| "[hash]"))
            .field("role_mapping", &self.role_mapping)
            .finish_non_exhaustive()
    }
}

pub async fn settings<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
) -> Result<Option<ScimSettings>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT token_hash, token_created_at, token_created_by, token_last_used_at, role_mapping \
         FROM scim_settings WHERE workspace_id = $1",
    )
    .bind(workspace.as_str())
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(ScimSettings {
            token_hash: r.try_get("token_hash")?,
            token_created_at: r.try_get("token_created_at")?,
            token_created_by: r.try_get("token_created_by")?,
            token_last_used_at: r.try_get("token_last_used_at")?,
            role_mapping: r.try_get("role_mapping")?,
        })
    })
    .transpose()
}

/// A new token's hash (or none: revoked), replacing whatever was there.
pub async fn set_token<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    token_hash: Option<&str>,
    by: &str,
) -> Result<(), sqlx::Error> {
    let t = now();
    let created = token_hash.map(|_| t);
    let by = token_hash.map(|_| by);
    sqlx::query(
        "INSERT INTO scim_settings (workspace_id, token_hash, token_created_at, token_created_by, \
         token_last_used_at, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $5) \
         ON CONFLICT (workspace_id) DO UPDATE SET token_hash = $2, token_created_at = $3, \
         token_created_by = $4, token_last_used_at = NULL, updated_at = $5",
    )
    .bind(workspace.as_str())
    .bind(token_hash)
    .bind(created)
    .bind(by)
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_role_mapping<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    text: &str,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO scim_settings (workspace_id, role_mapping, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) \
         ON CONFLICT (workspace_id) DO UPDATE SET role_mapping = $2, updated_at = $3",
    )
    .bind(workspace.as_str())
    .bind(text)
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// The card's "last used" line: written at most once a minute per workspace.
pub async fn token_used<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "UPDATE scim_settings SET token_last_used_at = $1 WHERE workspace_id = $2 \
         AND (token_last_used_at IS NULL OR token_last_used_at < $3)",
    )
    .bind(t)
    .bind(workspace.as_str())
    .bind(t - 60)
    .execute(db)
    .await
    .map(|_| ())
}

/// A user as SCIM sees them.
#[derive(Clone, Debug)]
pub struct ScimUser {
    pub user: User,
    pub external_id: Option<String>,
}

fn scim_user(r: &sqlx::any::AnyRow) -> Result<ScimUser, sqlx::Error> {
    Ok(ScimUser {
        user: users::from_row(r)?,
        external_id: r.try_get("scim_external_id")?,
    })
}

fn select_users() -> String {
    format!(
        "SELECT {}, s.external_id AS scim_external_id FROM users u \
         LEFT JOIN scim_users s ON s.user_id = u.id \
         WHERE u.workspace_id = $1 AND COALESCE(s.deleted, 0) = 0",
        users::columns_of("u")
    )
}

/// A user SCIM has not deleted.
pub async fn find_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    user: &UserId,
) -> Result<Option<ScimUser>, sqlx::Error> {
    let sql = format!("{} AND u.id = $2", select_users());
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace.as_str())
        .bind(user.as_str())
        .fetch_optional(db)
        .await?
        .map(|r| scim_user(&r))
        .transpose()
}

/// What a list asks for.
pub enum UserFilter<'a> {
    All,
    /// `userName eq`: the normalised email.
    EmailNormalized(&'a str),
    ExternalId(&'a str),
}

/// One page of users (`offset` from 0) and the total that match.
pub async fn list_users(
    db: &sqlx::AnyPool,
    workspace: &WorkspaceId,
    filter: &UserFilter<'_>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<ScimUser>), sqlx::Error> {
    let (cond, value) = match filter {
        UserFilter::All => ("", None),
        UserFilter::EmailNormalized(v) => (" AND u.email_normalized = $2", Some(*v)),
        UserFilter::ExternalId(v) => (" AND s.external_id = $2", Some(*v)),
    };
    let base = select_users();
    let count_sql = format!(
        "SELECT COUNT(*) AS n FROM users u LEFT JOIN scim_users s ON s.user_id = u.id \
         WHERE u.workspace_id = $1 AND COALESCE(s.deleted, 0) = 0{cond}"
    );
    let (l, o) = if value.is_some() {
        ("$3", "$4")
    } else {
        ("$2", "$3")
    };
    let page_sql = format!("{base}{cond} ORDER BY u.created_at, u.id LIMIT {l} OFFSET {o}");
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql)).bind(workspace.as_str());
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql)).bind(workspace.as_str());
    if let Some(v) = value {
        count = count.bind(v);
        page = page.bind(v);
    }
    let total: i64 = count.fetch_one(db).await?.try_get("n")?;
    if limit == 0 {
        return Ok((total, Vec::new()));
    }
    let rows = page.bind(limit).bind(offset).fetch_all(db).await?;
    let users = rows.iter().map(scim_user).collect::<Result<_, _>>()?;
    Ok((total, users))
}

/// SCIM's record of a user, whatever it was (deleted or not).
pub async fn record_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    user: &UserId,
) -> Result<Option<(Option<String>, bool)>, sqlx::Error> {
    sqlx::query("SELECT external_id, deleted FROM scim_users WHERE user_id = $1")
        .bind(user.as_str())
        .fetch_optional(db)
        .await?
        .map(|r| {
            Ok((
                r.try_get("external_id")?,
                r.try_get::<i64, _>("deleted")? != 0,
            ))
        })
        .transpose()
}

/// Writes SCIM's record of a user; a taken `externalId` is a unique violation
/// (`scim_users_external_id_key`).
pub async fn upsert_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    user: &UserId,
    external_id: Option<&str>,
    deleted: bool,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO scim_users (user_id, workspace_id, external_id, deleted, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id) DO UPDATE SET \
         external_id = $3, deleted = $4, updated_at = $5",
    )
    .bind(user.as_str())
    .bind(workspace.as_str())
    .bind(external_id)
    .bind(flag(deleted))
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// Whether `externalId` belongs to another user of the workspace.
pub async fn external_id_taken<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    external_id: &str,
    other_than: &UserId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 AS one FROM scim_users WHERE workspace_id = $1 AND external_id = $2 AND user_id <> $3",
    )
    .bind(workspace.as_str())
    .bind(external_id)
    .bind(other_than.as_str())
    .fetch_optional(db)
    .await?
    .is_some())
}

/// A provisioned group.
#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
}

fn group(r: &sqlx::any::AnyRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: r.try_get("id")?,
        display_name: r.try_get("display_name")?,
        external_id: r.try_get("external_id")?,
        created_at: r.try_get("created_at")?,
    })
}

const GROUP_COLUMNS: &str = "id, display_name, external_id, created_at";

/// A new group; a taken display name is a unique violation (`scim_groups_name_key`).
pub async fn insert_group<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    display_name: &str,
    external_id: Option<&str>,
) -> Result<Group, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let t = now();
    sqlx::query(
        "INSERT INTO scim_groups (id, workspace_id, display_name, display_name_normalized, \
         external_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(workspace.as_str())
    .bind(display_name)
    .bind(display_name.to_lowercase())
    .bind(external_id)
    .bind(t)
    .execute(db)
    .await?;
    Ok(Group {
        id,
        display_name: display_name.to_string(),
        external_id: external_id.map(str::to_string),
        created_at: t,
    })
}

pub async fn find_group<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Option<Group>, sqlx::Error> {
    let sql =
        format!("SELECT {GROUP_COLUMNS} FROM scim_groups WHERE workspace_id = $1 AND id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace.as_str())
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(|r| group(&r))
        .transpose()
}

pub enum GroupFilter<'a> {
    All,
    DisplayName(&'a str),
    ExternalId(&'a str),
}

pub async fn list_groups(
    db: &sqlx::AnyPool,
    workspace: &WorkspaceId,
    filter: &GroupFilter<'_>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<Group>), sqlx::Error> {
    let (cond, value) = match filter {
        GroupFilter::All => (String::new(), None),
        GroupFilter::DisplayName(v) => (
            " AND display_name_normalized = $2".to_string(),
            Some(v.to_lowercase()),
        ),
        GroupFilter::ExternalId(v) => (" AND external_id = $2".to_string(), Some(v.to_string())),
    };
    let (l, o) = if value.is_some() {
        ("$3", "$4")
    } else {
        ("$2", "$3")
    };
    let count_sql = format!("SELECT COUNT(*) AS n FROM scim_groups WHERE workspace_id = $1{cond}");
    let page_sql = format!(
        "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE workspace_id = $1{cond} \
         ORDER BY created_at, id LIMIT {l} OFFSET {o}"
    );
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql)).bind(workspace.as_str());
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql)).bind(workspace.as_str());
    if let Some(v) = &value {
        count = count.bind(v.clone());
        page = page.bind(v.clone());
    }
    let total: i64 = count.fetch_one(db).await?.try_get("n")?;
    if limit == 0 {
        return Ok((total, Vec::new()));
    }
    let rows = page.bind(limit).bind(offset).fetch_all(db).await?;
    Ok((total, rows.iter().map(group).collect::<Result<_, _>>()?))
}

pub async fn rename_group<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &str,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scim_groups SET display_name = $1, display_name_normalized = $2, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(display_name)
    .bind(display_name.to_lowercase())
    .bind(now())
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_group_external_id<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &str,
    external_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE scim_groups SET external_id = $1, updated_at = $2 WHERE id = $3")
        .bind(external_id)
        .bind(now())
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn delete_group<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM scim_groups WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Adds a member; `false` when they were one already.
pub async fn add_member<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    group: &str,
    user: &UserId,
) -> Result<bool, sqlx::Error> {
    let t = now();
    let done = sqlx::query(
        "INSERT INTO scim_group_members (group_id, user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (group_id, user_id) DO NOTHING",
    )
    .bind(group)
    .bind(user.as_str())
    .bind(t)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a member; `false` when they were not one.
pub async fn remove_member<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    group: &str,
    user: &UserId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group)
        .bind(user.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The members' ids and emails, oldest first.
pub async fn members<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    group: &str,
) -> Result<Vec<(UserId, String)>, sqlx::Error> {
    sqlx::query(
        "SELECT u.id, u.email FROM scim_group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 ORDER BY m.created_at, u.id",
    )
    .bind(group)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok((
            UserId::from_db(r.try_get("id")?),
            r.try_get::<String, _>("email")?,
        ))
    })
    .collect()
}

/// The groups a user is in.
pub async fn groups_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    user: &UserId,
) -> Result<Vec<Group>, sqlx::Error> {
    let sql = "SELECT g.id, g.display_name, g.external_id, g.created_at FROM scim_group_members m \
               JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id = $1";
    sqlx::query(sql)
        .bind(user.as_str())
        .fetch_all(db)
        .await?
        .iter()
        .map(group)
        .collect()
}

/// How many users and groups SCIM has provisioned (the card's summary).
pub async fn counts<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
) -> Result<(i64, i64), sqlx::Error> {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM scim_users WHERE workspace_id = $1 AND deleted = 0) AS u, \
         (SELECT COUNT(*) FROM scim_groups WHERE workspace_id = $1) AS g",
    )
    .bind(workspace.as_str())
    .fetch_one(db)
    .await?;
    Ok((r.try_get("u")?, r.try_get("g")?))
}

/// Whether the user has an identity of this provider in this tenant already.
pub async fn has_identity_in<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    user: &UserId,
    provider: &str,
    tenant_id: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 AS one FROM user_identities WHERE user_id = $1 AND provider = $2 AND tenant_id = $3",
    )
    .bind(user.as_str())
    .bind(provider)
    .bind(tenant_id)
    .fetch_optional(db)
    .await?
    .is_some())
}
