use std::sync::LazyLock;

use sqlx::{Executor, Row};

use crate::domain::{EmailAddress, Role, UserId, UserStatus, WorkspaceId};

use super::batch::Statement;
use super::{flag, now};

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub external: bool,
    pub status: UserStatus,
    pub email_verified: bool,
    pub has_password: bool,
    pub avatar_version: i64,
    pub last_login_at: Option<i64>,
    pub last_login_ip: Option<String>,
    pub created_at: i64,
}

impl User {
    pub fn display_name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if full.is_empty() {
            self.email.clone()
        } else {
            full.to_string()
        }
    }
}

pub const COLUMNS: &str = "id, workspace_id, email, first_name, last_name, role, external, status, \
     email_verified, (password_hash IS NOT NULL) AS has_password, avatar_version, last_login_at, \
     last_login_ip, created_at";

/// `COLUMNS` qualified with a table alias, for joins.
pub fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| {
            if c.starts_with('(') {
                c.replace("password_hash", &format!("{alias}.password_hash"))
            } else {
                format!("{alias}.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode_err(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {e}").into())
}

/// A row's columns by name, whichever driver read it: the sign-in's transaction on SQLite
/// reads through `store::sync_sqlite`, everything else through sqlx. One mapping for both.
pub trait Columns {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A truth value: an integer on SQLite, an integer or a boolean on PostgreSQL
    /// (`(x IS NOT NULL)` is a boolean there).
    fn truth(&self, column: &str) -> Result<bool, sqlx::Error>;
}

impl Columns for sqlx::any::AnyRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }
    fn truth(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get::<i64, _>(column)
            .map(|v| v != 0)
            .or_else(|_| self.try_get::<bool, _>(column))
    }
}

pub fn from_row(row: &impl Columns) -> Result<User, sqlx::Error> {
    let role = row.text("role")?;
    let status = row.text("status")?;
    Ok(User {
        id: UserId::from_db(row.text("id")?),
        workspace_id: WorkspaceId::from_db(row.text("workspace_id")?),
        email: row.text("email")?,
        first_name: row.text("first_name")?,
        last_name: row.text("last_name")?,
        role: Role::parse(&role).map_err(|e| decode_err("role", e))?,
        external: row.truth("external")?,
        status: UserStatus::parse(&status).map_err(|e| decode_err("status", e))?,
        email_verified: row.truth("email_verified")?,
        has_password: row.truth("has_password")?,
        avatar_version: row.int("avatar_version")?,
        last_login_at: row.opt_int("last_login_at")?,
        last_login_ip: row.opt_text("last_login_ip")?,
        created_at: row.int("created_at")?,
    })
}

pub struct NewUser<'a> {
    pub email: &'a EmailAddress,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub role: Role,
    pub external: bool,
    pub status: UserStatus,
    pub email_verified: bool,
    pub password_hash: Option<&'a str>,
}

/// Inserts a user; a duplicate email in the workspace comes back as a unique violation.
pub async fn insert<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    new: NewUser<'_>,
) -> Result<UserId, sqlx::Error> {
    let (id, statement) = insert_statement(workspace, new);
    statement.execute(db).await?;
    Ok(id)
}

/// [`insert`] as a statement for a [`Batch`](super::batch::Batch), with the new user's id.
pub fn insert_statement(workspace: &WorkspaceId, new: NewUser<'_>) -> (UserId, Statement) {
    let id = UserId::new();
    let t = now();
    let statement = Statement::new(
        "INSERT INTO users (id, workspace_id, email, email_normalized, first_name, last_name, role, \
         external, status, email_verified, password_hash, avatar_version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13)",
        vec![
            id.as_str().into(),
            workspace.as_str().into(),
            new.email.as_str().into(),
            new.email.normalized().into(),
            new.first_name.into(),
            new.last_name.into(),
            new.role.as_str().into(),
            flag(new.external).into(),
            new.status.as_str().into(),
            flag(new.email_verified).into(),
            new.password_hash.into(),
            t.into(),
            t.into(),
        ],
    );
    (id, statement)
}

pub async fn find_by_id<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    id: &UserId,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn find_by_email<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    email: &EmailAddress,
) -> Result<Option<User>, sqlx::Error> {
    find_by_email_statement(workspace, email)
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// [`find_by_email`]'s query, for a caller that runs it itself.
pub fn find_by_email_statement(workspace: &WorkspaceId, email: &EmailAddress) -> Statement {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND email_normalized = $2")
    });
    Statement::new(
        SQL.as_str(),
        vec![workspace.as_str().into(), email.normalized().into()],
    )
}

/// The user and their password hash, for password sign-in only.
pub async fn find_credentials<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    email: &EmailAddress,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE workspace_id = $1 AND email_normalized = $2"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace.as_str())
        .bind(email.normalized())
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((from_row(&row)?, row.try_get("password_hash")?)))
}

/// Whether fewer than [`RARE`] users per searched column start with the prefix: counted
/// on each search index, stopping at the bound, so the count costs at most that much.
async fn rare_on_sqlite(
    db: &super::Db,
    workspace: &WorkspaceId,
    prefix: Option<&str>,
    end: Option<&str>,
) -> Result<bool, sqlx::Error> {
    const RARE: i64 = 2_000;
    let (Some(prefix), Some(end)) = (prefix, end) else {
        return Ok(false);
    };
    let n: i64 = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE workspace_id = $1 \
           AND email_normalized >= $2 AND email_normalized < $3 LIMIT $4)) \
         + (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE workspace_id = $1 \
           AND lower(first_name) >= $2 AND lower(first_name) < $3 LIMIT $4)) \
         + (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE workspace_id = $1 \
           AND lower(last_name) >= $2 AND lower(last_name) < $3 LIMIT $4)) AS n",
    )
    .bind(workspace.as_str())
    .bind(prefix)
    .bind(end)
    .bind(RARE)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    Ok(n < RARE)
}

/// One page of Admin → Users: users ordered by email, after `after` (the last email of the
/// previous page), whose email, first name or last name starts with `search` when given.
pub struct Page {
    pub users: Vec<User>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// What a search matches: the start of an email or of a name, case-insensitively.
pub struct Search<'a> {
    pub prefix: &'a str,
}

pub async fn page(
    db: &super::Db,
    workspace: &WorkspaceId,
    search: Option<Search<'_>>,
    after: Option<&str>,
    size: u32,
) -> Result<Page, sqlx::Error> {
    let postgres = db.backend() == super::Backend::Postgres;
    // Folded as each backend's lower() folds: ASCII only on SQLite.
    let prefix = search.as_ref().map(|s| {
        if postgres {
            s.prefix.to_lowercase()
        } else {
            s.prefix.to_ascii_lowercase()
        }
    });
    // A prefix is the byte range [p, p + U+10FFFF): in SQLite's binary collation and in
    // PostgreSQL's "C" (the search indexes of migration 0003).
    let end = prefix.as_ref().map(|p| format!("{p}\u{10FFFF}"));
    let sql = match &prefix {
        None => format!(
            "SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND email_normalized > $2 \
             ORDER BY email_normalized LIMIT $3"
        ),
        // PostgreSQL's planner picks per search: the three index ranges (BitmapOr) when
        // the prefix is rare, the email order with a filter when it is common.
        Some(_) if postgres => format!(
            "SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND email_normalized > $2 \
             AND ((email_normalized COLLATE \"C\" >= $3 AND email_normalized COLLATE \"C\" < $4) \
             OR (lower(first_name) COLLATE \"C\" >= $3 AND lower(first_name) COLLATE \"C\" < $4) \
             OR (lower(last_name) COLLATE \"C\" >= $3 AND lower(last_name) COLLATE \"C\" < $4)) \
             ORDER BY email_normalized LIMIT $5"
        ),
        // SQLite's planner always walks the email order, which reads the whole workspace
        // for a rare prefix (142 ms at 300,000 users), while the union of the three index
        // ranges costs per match (0.3 ms for a rare prefix, 136 ms for one that matches
        // everyone). So: the union when a bounded count says the prefix is rare, the
        // email order otherwise (common prefixes fill a page quickly).
        Some(_) if rare_on_sqlite(db, workspace, prefix.as_deref(), end.as_deref()).await? => {
            format!(
                "SELECT {COLUMNS} FROM users WHERE rowid IN ( \
                 SELECT rowid FROM users WHERE workspace_id = $1 AND email_normalized >= $3 AND email_normalized < $4 \
                 UNION SELECT rowid FROM users WHERE workspace_id = $1 AND lower(first_name) >= $3 AND lower(first_name) < $4 \
                 UNION SELECT rowid FROM users WHERE workspace_id = $1 AND lower(last_name) >= $3 AND lower(last_name) < $4) \
                 AND email_normalized > $2 ORDER BY email_normalized LIMIT $5"
            )
        }
        Some(_) => format!(
            "SELECT {COLUMNS} FROM users WHERE workspace_id = $1 AND email_normalized > $2 \
             AND ((email_normalized >= $3 AND email_normalized < $4) \
             OR (lower(first_name) >= $3 AND lower(first_name) < $4) \
             OR (lower(last_name) >= $3 AND lower(last_name) < $4)) \
             ORDER BY email_normalized LIMIT $5"
        ),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace.as_str())
        .bind(after.unwrap_or(""));
    if let (Some(prefix), Some(end)) = (prefix, end) {
        q = q.bind(prefix).bind(end);
    }
    let mut users = q
        .bind(i64::from(size) + 1)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if users.len() > size as usize {
        users.truncate(size as usize);
        users.last().map(|u| u.email.to_ascii_lowercase())
    } else {
        None
    };
    Ok(Page { users, next })
}

pub async fn set_role<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// A role change inside a batch (a sign-in that brings the directory's role).
pub fn set_role_statement(id: &UserId, role: Role) -> Statement {
    Statement::new(
        "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3",
        vec![role.as_str().into(), now().into(), id.as_str().into()],
    )
}

pub async fn set_external<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    external: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET external = $1, updated_at = $2 WHERE id = $3")
        .bind(flag(external))
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_status<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    status: UserStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_names<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    first: &str,
    last: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET first_name = $1, last_name = $2, updated_at = $3 WHERE id = $4")
        .bind(first)
        .bind(last)
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_password_hash<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// A successful sign-in: last-login time and IP, and an invited user becomes active.
pub async fn record_login<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    ip: &str,
) -> Result<(), sqlx::Error> {
    record_login_statement(id, ip).execute(db).await
}

/// [`record_login`] as a statement for a [`Batch`](super::batch::Batch), answering the
/// user's row as written.
pub fn record_login_statement(id: &UserId, ip: &str) -> Statement {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE users SET last_login_at = $1, last_login_ip = $2, updated_at = $3, \
             status = CASE WHEN status = 'invited' THEN 'active' ELSE status END WHERE id = $4 \
             RETURNING {COLUMNS}"
        )
    });
    let t = now();
    Statement::new(
        SQL.as_str(),
        vec![t.into(), ip.into(), t.into(), id.as_str().into()],
    )
}

/// A sign-in of an existing user, in one statement: last-login time and IP (an invited
/// user becomes active), the directory's names when it sent them, and the email marked
/// verified when this sign-in proved it. Like [`record_login_statement`] it answers the
/// user's row as written (`RETURNING`), which the sign-in keeps for its landing page.
pub fn record_login_with_profile_statement(
    id: &UserId,
    ip: &str,
    names: Option<(&str, &str)>,
    email_verified: bool,
) -> Statement {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE users SET last_login_at = $1, last_login_ip = $2, updated_at = $1, \
             status = CASE WHEN status = 'invited' THEN 'active' ELSE status END, \
             first_name = COALESCE($3, first_name), last_name = COALESCE($4, last_name), \
             email_verified = CASE WHEN $5 = 1 THEN 1 ELSE email_verified END WHERE id = $6 \
             RETURNING {COLUMNS}"
        )
    });
    let t = now();
    Statement::new(
        SQL.as_str(),
        vec![
            t.into(),
            ip.into(),
            names.map(|n| n.0).into(),
            names.map(|n| n.1).into(),
            flag(email_verified).into(),
            id.as_str().into(),
        ],
    )
}

pub async fn bump_avatar_version<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET avatar_version = avatar_version + 1, updated_at = $1 WHERE id = $2",
    )
    .bind(now())
    .bind(id.as_str())
    .execute(db)
    .await
    .map(|_| ())
}

/// Super-admins other than `except` who are active and can sign in (a password or a
/// linked identity): the workspace must always keep one.
pub async fn count_other_sign_in_super_admins<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    except: &UserId,
) -> Result<i64, sqlx::Error> {
    count_other_sign_in_super_admins_statement(workspace, except)
        .fetch_one(db)
        .await?
        .try_get("n")
}

/// [`count_other_sign_in_super_admins`]' query (its one column is `n`).
pub fn count_other_sign_in_super_admins_statement(
    workspace: &WorkspaceId,
    except: &UserId,
) -> Statement {
    Statement::new(
        "SELECT COUNT(*) AS n FROM users u WHERE u.workspace_id = $1 AND u.role = 'super-admin' \
         AND u.status = 'active' AND u.id <> $2 AND (u.password_hash IS NOT NULL OR EXISTS \
         (SELECT 1 FROM user_identities i WHERE i.user_id = u.id))",
        vec![workspace.as_str().into(), except.as_str().into()],
    )
}

/// Whether the user has a way to sign in: a password or a linked identity.
pub async fn can_sign_in<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM users u WHERE u.id = $1 AND (u.password_hash IS NOT NULL \
         OR EXISTS (SELECT 1 FROM user_identities i WHERE i.user_id = u.id))",
    )
    .bind(id.as_str())
    .fetch_one(db)
    .await?
    .try_get("n")?;
    Ok(n > 0)
}

/// (role, status, count) for the admin dashboard.
pub async fn counts_by_role_and_status<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
) -> Result<Vec<(Role, UserStatus, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT role, status, COUNT(*) AS n FROM users WHERE workspace_id = $1 GROUP BY role, status",
    )
    .bind(workspace.as_str())
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            let status: String = r.try_get("status")?;
            Ok((
                Role::parse(&role).map_err(|e| decode_err("role", e))?,
                UserStatus::parse(&status).map_err(|e| decode_err("status", e))?,
                r.try_get("n")?,
            ))
        })
        .collect()
}

/// The directory changed the person's address; lookups follow it.
pub async fn set_email<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    id: &UserId,
    email: &EmailAddress,
) -> Result<(), sqlx::Error> {
    set_email_statement(id, email).execute(db).await
}

/// [`set_email`] as a statement.
pub fn set_email_statement(id: &UserId, email: &EmailAddress) -> Statement {
    Statement::new(
        "UPDATE users SET email = $1, email_normalized = $2, updated_at = $3 WHERE id = $4",
        vec![
            email.as_str().into(),
            email.normalized().into(),
            now().into(),
            id.as_str().into(),
        ],
    )
}
