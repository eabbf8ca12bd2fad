//! The Google settings card's row: what a super-admin saved, and the health line (last
//! sign-in success and failure, last connection test).

use sqlx::{Executor, Row};

use crate::domain::WorkspaceId;

use super::{Backend, Conn, flag, now};

/// The stored row. No `Debug`: it carries the sealed secret, which has no business in logs
/// even encrypted.
#[derive(Clone, Default)]
pub struct StoredGoogleSettings {
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<String>,
    pub secret_key_id: Option<String>,
    pub secret_saved_at: Option<i64>,
    pub secret_saved_by: Option<String>,
    pub redirect_uri: Option<String>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_failure_summary: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_summary: Option<String>,
    pub saved_at: Option<i64>,
    pub saved_by: Option<String>,
}

impl StoredGoogleSettings {
    /// The card has been saved at least once (a row may exist only for the health line).
    pub fn card_saved(&self) -> bool {
        self.saved_at.is_some()
    }
}

const COLUMNS: &str = "enabled, client_id, client_secret_sealed, secret_key_id, \
     secret_saved_at, secret_saved_by, redirect_uri, last_success_at, last_failure_at, \
     last_failure_summary, last_test_at, last_test_ok, last_test_summary, saved_at, saved_by";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredGoogleSettings, sqlx::Error> {
    Ok(StoredGoogleSettings {
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        client_id: r.try_get("client_id")?,
        client_secret_sealed: r.try_get("client_secret_sealed")?,
        secret_key_id: r.try_get("secret_key_id")?,
        secret_saved_at: r.try_get("secret_saved_at")?,
        secret_saved_by: r.try_get("secret_saved_by")?,
        redirect_uri: r.try_get("redirect_uri")?,
        last_success_at: r.try_get("last_success_at")?,
        last_failure_at: r.try_get("last_failure_at")?,
        last_failure_summary: r.try_get("last_failure_summary")?,
        last_test_at: r.try_get("last_test_at")?,
        last_test_ok: r.try_get::<Option<i64>, _>("last_test_ok")?.map(|v| v != 0),
        last_test_summary: r.try_get("last_test_summary")?,
        saved_at: r.try_get("saved_at")?,
        saved_by: r.try_get("saved_by")?,
    })
}

pub async fn get<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<Option<StoredGoogleSettings>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM google_settings WHERE workspace_id = $1"
    )))
    .bind(ws.as_str())
    .fetch_optional(db)
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

/// The card's plain fields as validated on Save (`None`: not set on the card).
pub struct CardFields<'a> {
    pub enabled: bool,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub saved_by: &'a str,
}

/// A newly pasted secret, already sealed, and the key that sealed it.
pub struct NewSecret<'a> {
    pub sealed: &'a str,
    pub key_id: &'a str,
}

/// A Save, inside the caller's transaction: the card's fields (keeping the health line),
/// the secret when a new one was pasted (else the stored one stays), and — on PostgreSQL —
/// the notification that makes every node forget its cached settings for the workspace
/// when the transaction commits.
pub async fn save(
    conn: &mut Conn,
    backend: Backend,
    ws: &WorkspaceId,
    fields: &CardFields<'_>,
    secret: Option<NewSecret<'_>>,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO google_settings (workspace_id, enabled, client_id, redirect_uri, saved_at, \
         saved_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $5, $5) \
         ON CONFLICT (workspace_id) DO UPDATE SET enabled = excluded.enabled, \
         client_id = excluded.client_id, redirect_uri = excluded.redirect_uri, \
         saved_at = excluded.saved_at, saved_by = excluded.saved_by, updated_at = excluded.updated_at",
    )
    .bind(ws.as_str())
    .bind(flag(fields.enabled))
    .bind(fields.client_id)
    .bind(fields.redirect_uri)
    .bind(t)
    .bind(fields.saved_by)
    .execute(&mut *conn)
    .await?;
    if let Some(secret) = secret {
        sqlx::query(
            "UPDATE google_settings SET client_secret_sealed = $1, secret_key_id = $2, \
             secret_saved_at = $3, secret_saved_by = $4, updated_at = $3 WHERE workspace_id = $5",
        )
        .bind(secret.sealed)
        .bind(secret.key_id)
        .bind(t)
        .bind(fields.saved_by)
        .bind(ws.as_str())
        .execute(&mut *conn)
        .await?;
    }
    if backend == Backend::Postgres {
        // The Microsoft card's channel: one "this workspace's settings changed" for all.
        super::microsoft_settings::notify_changed(&mut *conn, ws).await?;
    }
    Ok(())
}

/// Health writes create a row without `saved_at` when the card was never saved, so a
/// workspace configured by environment still shows its failures.
pub async fn record_success<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    record_success_statement(ws).execute(db).await
}

/// [`record_success`] as a statement for a [`Batch`](super::batch::Batch): the sign-in
/// transaction sends it with its other writes.
pub fn record_success_statement(ws: &WorkspaceId) -> super::batch::Statement {
    shared::record_success_statement(Table::Google, ws)
}

pub async fn record_failure<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    summary: &str,
) -> Result<(), sqlx::Error> {
    shared::record_failure(db, Table::Google, ws, summary).await
}

pub use super::provider_settings::SealedSecret;
use super::provider_settings::{self as shared, Table};

pub async fn record_test<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    ok: bool,
    summary: &str,
) -> Result<(), sqlx::Error> {
    shared::record_test(db, Table::Google, ws, ok, summary).await
}

pub async fn list_sealed_secrets<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
) -> Result<Vec<SealedSecret>, sqlx::Error> {
    shared::list_sealed_secrets(db, Table::Google).await
}

pub async fn update_sealed_secret<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    sealed: &str,
    key_id: &str,
) -> Result<(), sqlx::Error> {
    shared::update_sealed_secret(db, Table::Google, ws, sealed, key_id).await
}
