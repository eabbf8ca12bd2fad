//! What the sign-in providers' settings tables (`microsoft_settings`, `google_settings`,
//! `saml_settings`) share, column for column: the health line (last success, last
//! failure, last test), and the sealed client secret that `secrets rotate-key` re-seals
//! (OIDC providers only). One implementation, told which table.

use sqlx::{Executor, Row};

use crate::domain::WorkspaceId;

use super::{flag, now};

/// A provider's settings table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Microsoft,
    Google,
    /// Health line only: SAML has no client secret.
    Saml,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft_settings",
            Self::Google => "google_settings",
            Self::Saml => "saml_settings",
        }
    }
}

/// The success upsert for one table, as a `'static` statement a batch can carry.
macro_rules! success_sql {
    ($table:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " (workspace_id, last_success_at, created_at, updated_at) \
             VALUES ($1, $2, $2, $2) ON CONFLICT (workspace_id) DO UPDATE SET \
             last_success_at = excluded.last_success_at, updated_at = excluded.updated_at"
        )
    };
}

/// The health line's "last successful sign-in", as a statement for a
/// [`Batch`](super::batch::Batch) (a row without `saved_at` is made when the card was
/// never saved, so a workspace configured by environment sees it too).
pub fn record_success_statement(table: Table, ws: &WorkspaceId) -> super::batch::Statement {
    let sql = match table {
        Table::Microsoft => success_sql!("microsoft_settings"),
        Table::Google => success_sql!("google_settings"),
        Table::Saml => success_sql!("saml_settings"),
    };
    super::batch::Statement::new(sql, vec![ws.as_str().into(), now().into()])
}

/// The health line's last failure, in words an admin can act on.
pub async fn record_failure<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    table: Table,
    ws: &WorkspaceId,
    summary: &str,
) -> Result<(), sqlx::Error> {
    let t = table.name();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {t} (workspace_id, last_failure_at, last_failure_summary, \
         created_at, updated_at) VALUES ($1, $2, $3, $2, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET last_failure_at = excluded.last_failure_at, \
         last_failure_summary = excluded.last_failure_summary, updated_at = excluded.updated_at"
    )))
    .bind(ws.as_str())
    .bind(now())
    .bind(summary)
    .execute(db)
    .await
    .map(|_| ())
}

/// The card's health line: the last connection test (a row without `saved_at` is made
/// when the card was never saved, so a workspace configured by environment sees it too).
pub async fn record_test<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    table: Table,
    ws: &WorkspaceId,
    ok: bool,
    summary: &str,
) -> Result<(), sqlx::Error> {
    let t = table.name();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {t} (workspace_id, last_test_at, last_test_ok, \
         last_test_summary, created_at, updated_at) VALUES ($1, $2, $3, $4, $2, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET last_test_at = excluded.last_test_at, \
         last_test_ok = excluded.last_test_ok, last_test_summary = excluded.last_test_summary, \
         updated_at = excluded.updated_at"
    )))
    .bind(ws.as_str())
    .bind(now())
    .bind(flag(ok))
    .bind(summary)
    .execute(db)
    .await
    .map(|_| ())
}

/// A sealed client secret as `secrets rotate-key` sees it.
pub struct SealedSecret {
    pub workspace: WorkspaceId,
    pub sealed: String,
}

pub async fn list_sealed_secrets<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    table: Table,
) -> Result<Vec<SealedSecret>, sqlx::Error> {
    let t = table.name();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT workspace_id, client_secret_sealed FROM {t} \
         WHERE client_secret_sealed IS NOT NULL ORDER BY workspace_id"
    )))
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(SealedSecret {
            workspace: WorkspaceId::from_db(r.try_get("workspace_id")?),
            sealed: r.try_get("client_secret_sealed")?,
        })
    })
    .collect()
}

/// Re-sealing under a new key: the secret itself, and who saved it when, are unchanged.
pub async fn update_sealed_secret<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    table: Table,
    ws: &WorkspaceId,
    sealed: &str,
    key_id: &str,
) -> Result<(), sqlx::Error> {
    let t = table.name();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {t} SET client_secret_sealed = $1, secret_key_id = $2, \
         updated_at = $3 WHERE workspace_id = $4"
    )))
    .bind(sealed)
    .bind(key_id)
    .bind(now())
    .bind(ws.as_str())
    .execute(db)
    .await
    .map(|_| ())
}
