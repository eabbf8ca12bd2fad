//! The product's database before a run: workspaces, and N existing users with their
//! Microsoft identities, inserted by SQL in one transaction per backend (generated rows,
//! no round trip per row), so a million users take seconds, not hours.

use anyhow::Context;
use sqlx::Connection;

use crate::naming::{
    self,
    sql::{MOD48, OID_MUL, USER_MUL},
};

/// Where the product's data lives for this run.
#[derive(Clone, Debug)]
pub enum Database {
    /// A file in the run directory.
    Sqlite { path: std::path::PathBuf },
    /// A database created for the run on this server and dropped afterwards.
    Postgres { admin_url: String, name: String },
}

impl Database {
    /// `ONTRACKIO_DATABASE_URL` for the product.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite://{}", path.display()),
            Self::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// PostgreSQL: creates the run's database (SQLite files are created by `migrate`).
    pub async fn create(&self) -> anyhow::Result<()> {
        if let Self::Postgres { admin_url, name } = self {
            let mut admin = sqlx::PgConnection::connect(admin_url)
                .await
                .with_context(|| format!("cannot connect to PostgreSQL at {admin_url}"))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\""
            )))
            .execute(&mut admin)
            .await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await?;
        }
        Ok(())
    }

    /// PostgreSQL: the server's WAL position, to measure the WAL a run writes (the whole
    /// cluster's: anything else writing meanwhile is counted too).
    pub async fn wal_position(&self) -> Option<String> {
        let Self::Postgres { admin_url, .. } = self else {
            return None;
        };
        let mut c = sqlx::PgConnection::connect(admin_url).await.ok()?;
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut c)
            .await
            .ok()?;
        let _ = c.close().await;
        Some(lsn)
    }

    /// PostgreSQL: WAL bytes written since `since` (from [`Self::wal_position`]).
    pub async fn wal_bytes_since(&self, since: Option<String>) -> Option<i64> {
        let (Self::Postgres { admin_url, .. }, Some(since)) = (self, since) else {
            return None;
        };
        let mut c = sqlx::PgConnection::connect(admin_url).await.ok()?;
        let bytes: i64 =
            sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
                .bind(since)
                .fetch_one(&mut c)
                .await
                .ok()?;
        let _ = c.close().await;
        Some(bytes)
    }

    /// PostgreSQL: drops the run's database.
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        if let Self::Postgres { admin_url, name } = self {
            let mut admin = sqlx::PgConnection::connect(admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
        }
        Ok(())
    }

    /// Inserts `workspaces` workspaces and `users_per_workspace` existing users in each
    /// (employees who signed in before, linked to their Entra object id).
    pub async fn populate(
        &self,
        workspaces: usize,
        users_per_workspace: u64,
    ) -> anyhow::Result<()> {
        // The same statements for both backends, bound identically; only the SQL differs.
        macro_rules! fill {
            ($tx:expr, $users:expr, $identities:expr) => {
                for ws in 0..workspaces {
                    let t = now();
                    sqlx::query(
                        "INSERT INTO workspaces (id, slug, name, allowed_email_domains, \
                         created_at, updated_at) VALUES ($1, $2, $3, '', $4, $4)",
                    )
                    .bind(naming::workspace_id(ws))
                    .bind(naming::slug(ws))
                    .bind(format!("Bench {ws}"))
                    .bind(t)
                    .execute(&mut *$tx)
                    .await
                    .context("insert a workspace")?;
                    sqlx::query($users)
                        .bind(users_per_workspace as i64)
                        .bind(ws as i64)
                        .bind(USER_MUL as i64)
                        .bind(MOD48 as i64)
                        .bind(naming::workspace_id(ws))
                        .bind(t - 7 * 86_400)
                        .execute(&mut *$tx)
                        .await
                        .context("bulk insert of users")?;
                    sqlx::query($identities)
                        .bind(users_per_workspace as i64)
                        .bind(ws as i64)
                        .bind(USER_MUL as i64)
                        .bind(MOD48 as i64)
                        .bind(naming::workspace_id(ws))
                        .bind(t - 7 * 86_400)
                        .bind(naming::tenant_id(ws))
                        .bind(OID_MUL as i64)
                        .execute(&mut *$tx)
                        .await
                        .context("bulk insert of identities")?;
                }
            };
        }
        match self {
            Self::Sqlite { path } => {
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await?;
                let mut tx = c.begin().await?;
                fill!(tx, SQLITE_USERS, SQLITE_IDENTITIES);
                tx.commit().await?;
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut c)
                    .await?;
                c.close().await?;
            }
            Self::Postgres { .. } => {
                let mut c = sqlx::PgConnection::connect(&self.url()).await?;
                let mut tx = c.begin().await?;
                fill!(tx, POSTGRES_USERS, POSTGRES_IDENTITIES);
                tx.commit().await?;
                // What autovacuum would have done long before a Monday morning.
                sqlx::raw_sql("VACUUM ANALYZE").execute(&mut c).await?;
                c.close().await?;
            }
        }
        Ok(())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn with_database(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{name}"));
            u.to_string()
        }
        Err(_) => format!("{}/{name}", url.trim_end_matches('/')),
    }
}

// $1 rows, $2 workspace number, $3 user-id multiplier, $4 2^48, $5 workspace id, $6 time.
// The id and email expressions mirror `naming::user_id` and `naming::upn`.
const SQLITE_USERS: &str = "WITH RECURSIVE s(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM s WHERE j + 1 < $1) \
    INSERT INTO users (id, workspace_id, email, email_normalized, first_name, last_name, role, \
    external, status, email_verified, password_hash, avatar_version, last_login_at, last_login_ip, \
    created_at, updated_at) \
    SELECT printf('b0000000-%04x-4000-8000-%012x', $2, (j * $3) % $4), $5, \
    'u' || j || '@bench' || $2 || '.test', 'u' || j || '@bench' || $2 || '.test', 'User', \
    CAST(j AS TEXT), 'employee', 0, 'active', 1, NULL, 0, $6, '127.0.0.1', $6, $6 FROM s";

// As above, plus $7 tenant id and $8 the oid multiplier (`naming::oid`).
const SQLITE_IDENTITIES: &str = "WITH RECURSIVE s(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM s WHERE j + 1 < $1) \
    INSERT INTO user_identities (id, workspace_id, user_id, provider, tenant_id, object_id, \
    created_at, updated_at) \
    SELECT printf('f0000000-%04x-4000-8000-%012x', $2, j), $5, \
    printf('b0000000-%04x-4000-8000-%012x', $2, (j * $3) % $4), 'microsoft', $7, \
    printf('d0000000-%04x-4000-8000-%012x', $2, (j * $8) % $4), $6, $6 FROM s";

const POSTGRES_USERS: &str = "INSERT INTO users (id, workspace_id, email, email_normalized, \
    first_name, last_name, role, external, status, email_verified, password_hash, avatar_version, \
    last_login_at, last_login_ip, created_at, updated_at) \
    SELECT 'b0000000-' || lpad(to_hex($2::bigint), 4, '0') || '-4000-8000-' || lpad(to_hex((j * $3) % $4), 12, '0'), \
    $5, 'u' || j || '@bench' || $2 || '.test', 'u' || j || '@bench' || $2 || '.test', 'User', \
    j::text, 'employee', 0, 'active', 1, NULL, 0, $6, '127.0.0.1', $6, $6 \
    FROM generate_series(0::bigint, $1 - 1) AS j";

const POSTGRES_IDENTITIES: &str = "INSERT INTO user_identities (id, workspace_id, user_id, \
    provider, tenant_id, object_id, created_at, updated_at) \
    SELECT 'f0000000-' || lpad(to_hex($2::bigint), 4, '0') || '-4000-8000-' || lpad(to_hex(j), 12, '0'), $5, \
    'b0000000-' || lpad(to_hex($2::bigint), 4, '0') || '-4000-8000-' || lpad(to_hex((j * $3) % $4), 12, '0'), \
    'microsoft', $7, \
    'd0000000-' || lpad(to_hex($2::bigint), 4, '0') || '-4000-8000-' || lpad(to_hex((j * $8) % $4), 12, '0'), $6, $6 \
    FROM generate_series(0::bigint, $1 - 1) AS j";

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// The SQL that fills the database and the Rust that builds the emulator's directory
    /// must name the same people, or "returning" users would be provisioned anew.
    #[tokio::test]
    async fn bulk_inserted_rows_match_the_naming_scheme() {
        let dir = std::env::temp_dir().join(format!("ontrackio-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .unwrap();
        sqlx::raw_sql(include_str!(
            "../../ontrackio/migrations/sqlite/0001_foundation.sql"
        ))
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        Database::Sqlite { path: path.clone() }
            .populate(2, 3)
            .await
            .unwrap();
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let row = sqlx::query(
            "SELECT u.id, u.email_normalized, i.object_id, i.tenant_id FROM users u \
             JOIN user_identities i ON i.user_id = u.id WHERE u.email_normalized = $1",
        )
        .bind(naming::upn(1, 2))
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>(0), naming::user_id(1, 2));
        assert_eq!(row.get::<String, _>(2), naming::oid(1, 2));
        assert_eq!(row.get::<String, _>(3), naming::tenant_id(1));
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 6);
        c.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
