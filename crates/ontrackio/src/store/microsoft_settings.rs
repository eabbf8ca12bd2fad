//! The Microsoft Entra ID settings card's row: what a super-admin saved, and the health
//! line (last sign-in success and failure, last connection test).

use sqlx::{Executor, Row};

use crate::domain::WorkspaceId;

use super::{flag, now};

/// PostgreSQL channel on which a save tells every node to forget its cached settings.
pub const CHANGE_CHANNEL: &str = "ontrackio_settings";

/// The stored row. No `Debug`: it carries the sealed secret, which has no business in logs
/// even encrypted.
#[derive(Clone, Default)]
pub struct StoredSettings {
    pub enabled: bool,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<String>,
    pub secret_key_id: Option<String>,
    pub secret_saved_at: Option<i64>,
    pub secret_saved_by: Option<String>,
    pub redirect_uri: Option<String>,
    pub secret_expires_on: Option<String>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_failure_code: Option<i64>,
    pub last_failure_summary: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_summary: Option<String>,
    pub saved_at: Option<i64>,
    pub saved_by: Option<String>,
    /// App-role value → role, one `value = role` per line (`auth::role_mapping`).
    pub role_mapping: Option<String>,
    pub role_mapping_super_admin: bool,
    pub role_mapping_strict: bool,
}

impl StoredSettings {
    /// The card has been saved at least once (a row may exist only for the health line).
    pub fn card_saved(&self) -> bool {
        self.saved_at.is_some()
    }
}

const COLUMNS: &str = "enabled, tenant_id, client_id, client_secret_sealed, secret_key_id, \
     secret_saved_at, secret_saved_by, redirect_uri, secret_expires_on, last_success_at, \
     last_failure_at, last_failure_code, last_failure_summary, last_test_at, last_test_ok, \
     last_test_summary, saved_at, saved_by, role_mapping, role_mapping_super_admin, \
     role_mapping_strict";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredSettings, sqlx::Error> {
    Ok(StoredSettings {
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        tenant_id: r.try_get("tenant_id")?,
        client_id: r.try_get("client_id")?,
        client_secret_sealed: r.try_get("client_secret_sealed")?,
        secret_key_id: r.try_get("secret_key_id")?,
        secret_saved_at: r.try_get("secret_saved_at")?,
        secret_saved_by: r.try_get("secret_saved_by")?,
        redirect_uri: r.try_get("redirect_uri")?,
        secret_expires_on: r.try_get("secret_expires_on")?,
        last_success_at: r.try_get("last_success_at")?,
        last_failure_at: r.try_get("last_failure_at")?,
        last_failure_code: r.try_get("last_failure_code")?,
        last_failure_summary: r.try_get("last_failure_summary")?,
        last_test_at: r.try_get("last_test_at")?,
        last_test_ok: r.try_get::<Option<i64>, _>("last_test_ok")?.map(|v| v != 0),
        last_test_summary: r.try_get("last_test_summary")?,
        saved_at: r.try_get("saved_at")?,
        saved_by: r.try_get("saved_by")?,
        role_mapping: r.try_get("role_mapping")?,
        role_mapping_super_admin: r.try_get::<i64, _>("role_mapping_super_admin")? != 0,
        role_mapping_strict: r.try_get::<i64, _>("role_mapping_strict")? != 0,
    })
}

pub async fn get<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<Option<StoredSettings>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM microsoft_settings WHERE workspace_id = $1"
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
    pub tenant_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub secret_expires_on: Option<&'a str>,
    pub saved_by: &'a str,
}

/// Writes the card's fields, keeping the secret and the health line as they are.
pub async fn save_card<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    f: &CardFields<'_>,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO microsoft_settings (workspace_id, enabled, tenant_id, client_id, redirect_uri, \
         secret_expires_on, saved_at, saved_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7) \
         ON CONFLICT (workspace_id) DO UPDATE SET enabled = excluded.enabled, \
         tenant_id = excluded.tenant_id, client_id = excluded.client_id, \
         redirect_uri = excluded.redirect_uri, secret_expires_on = excluded.secret_expires_on, \
         saved_at = excluded.saved_at, saved_by = excluded.saved_by, updated_at = excluded.updated_at",
    )
    .bind(ws.as_str())
    .bind(flag(f.enabled))
    .bind(f.tenant_id)
    .bind(f.client_id)
    .bind(f.redirect_uri)
    .bind(f.secret_expires_on)
    .bind(t)
    .bind(f.saved_by)
    .execute(db)
    .await
    .map(|_| ())
}

/// The role mapping as the card saves it. Runs after `save_card`, so the row exists.
pub async fn save_role_mapping<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    mapping: Option<&str>,
    super_admin: bool,
    strict: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE microsoft_settings SET role_mapping = $1, role_mapping_super_admin = $2, \
         role_mapping_strict = $3 WHERE workspace_id = $4",
    )
    .bind(mapping)
    .bind(flag(super_admin))
    .bind(flag(strict))
    .bind(ws.as_str())
    .execute(db)
    .await
    .map(|_| ())
}

/// A newly pasted secret, already sealed. Runs after `save_card`, so the row exists.
pub async fn set_secret<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    sealed: &str,
    key_id: &str,
    saved_by: &str,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "UPDATE microsoft_settings SET client_secret_sealed = $1, secret_key_id = $2, \
         secret_saved_at = $3, secret_saved_by = $4, updated_at = $3 WHERE workspace_id = $5",
    )
    .bind(sealed)
    .bind(key_id)
    .bind(t)
    .bind(saved_by)
    .bind(ws.as_str())
    .execute(db)
    .await
    .map(|_| ())
}

/// Health writes create a row without `saved_at` when the card was never saved, so a
/// workspace configured by environment still shows its failures.
pub async fn record_success<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    record_success_statement(ws).execute(db).await
}

/// [`record_success`] as a statement for a [`Batch`](super::batch::Batch).
pub fn record_success_statement(ws: &WorkspaceId) -> super::batch::Statement {
    super::batch::Statement::new(
        "INSERT INTO microsoft_settings (workspace_id, last_success_at, created_at, updated_at) \
         VALUES ($1, $2, $2, $2) ON CONFLICT (workspace_id) DO UPDATE SET \
         last_success_at = excluded.last_success_at, updated_at = excluded.updated_at",
        vec![ws.as_str().into(), now().into()],
    )
}

pub async fn record_failure<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    code: Option<i64>,
    summary: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO microsoft_settings (workspace_id, last_failure_at, last_failure_code, \
         last_failure_summary, created_at, updated_at) VALUES ($1, $2, $3, $4, $2, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET last_failure_at = excluded.last_failure_at, \
         last_failure_code = excluded.last_failure_code, \
         last_failure_summary = excluded.last_failure_summary, updated_at = excluded.updated_at",
    )
    .bind(ws.as_str())
    .bind(now())
    .bind(code)
    .bind(summary)
    .execute(db)
    .await
    .map(|_| ())
}

pub use super::provider_settings::SealedSecret;
use super::provider_settings::{self as shared, Table};

pub async fn record_test<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    ok: bool,
    summary: &str,
) -> Result<(), sqlx::Error> {
    shared::record_test(db, Table::Microsoft, ws, ok, summary).await
}

pub async fn list_sealed_secrets<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
) -> Result<Vec<SealedSecret>, sqlx::Error> {
    shared::list_sealed_secrets(db, Table::Microsoft).await
}

pub async fn update_sealed_secret<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    sealed: &str,
    key_id: &str,
) -> Result<(), sqlx::Error> {
    shared::update_sealed_secret(db, Table::Microsoft, ws, sealed, key_id).await
}

/// PostgreSQL only: delivered to every listening node when the transaction commits, and
/// not at all if it rolls back.
pub async fn notify_changed<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    // Wrapped: the Any driver cannot decode pg_notify's `void` result column.
    sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_notify($1, $2)) AS notified")
        .bind(CHANGE_CHANNEL)
        .bind(ws.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// A dedicated PostgreSQL connection listening on [`CHANGE_CHANNEL`] and on the users and
/// sessions channel ([`super::sessions::CHANGE_CHANNEL`]).
///
/// A lost connection is reported at once (`try_recv` gives `Ok(None)`) instead of being
/// re-established silently: until LISTEN is back in place the node must not trust its
/// cache, so the caller drops this listener and connects a new one with its own backoff.
pub async fn listen_for_changes(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    // The listener only uses its pool of one to connect; a short acquire timeout keeps a
    // connection attempt to a database that is down from blocking for sqlx's default 30 s.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener
        .listen_all([CHANGE_CHANNEL, super::sessions::CHANGE_CHANNEL])
        .await?;
    Ok(listener)
}
