//! The SAML card's row: what a super-admin saved (the IdP's values as its metadata gave
//! them, how assertions are read), and the health line (last sign-in success and failure,
//! last test sign-in). Nothing here is secret: IdP certificates are public.

use sqlx::{Executor, Row};

use crate::domain::WorkspaceId;

use super::provider_settings::{self as shared, Table};
use super::{Backend, Conn, flag, now};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredSamlSettings {
    pub enabled: bool,
    pub idp_entity_id: Option<String>,
    pub sso_url: Option<String>,
    /// PEM, one or more `CERTIFICATE` blocks.
    pub certificates: Option<String>,
    pub metadata_url: Option<String>,
    pub metadata_fetched_at: Option<i64>,
    pub email_attribute: Option<String>,
    pub group_attribute: Option<String>,
    pub allow_idp_initiated: bool,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_failure_summary: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_summary: Option<String>,
    pub saved_at: Option<i64>,
    pub saved_by: Option<String>,
}

impl StoredSamlSettings {
    /// The card has been saved at least once (a row may exist only for the health line).
    pub fn card_saved(&self) -> bool {
        self.saved_at.is_some()
    }
}

const COLUMNS: &str = "enabled, idp_entity_id, sso_url, certificates, metadata_url, \
     metadata_fetched_at, email_attribute, group_attribute, allow_idp_initiated, \
     last_success_at, last_failure_at, last_failure_summary, last_test_at, last_test_ok, \
     last_test_summary, saved_at, saved_by";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredSamlSettings, sqlx::Error> {
    Ok(StoredSamlSettings {
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        idp_entity_id: r.try_get("idp_entity_id")?,
        sso_url: r.try_get("sso_url")?,
        certificates: r.try_get("certificates")?,
        metadata_url: r.try_get("metadata_url")?,
        metadata_fetched_at: r.try_get("metadata_fetched_at")?,
        email_attribute: r.try_get("email_attribute")?,
        group_attribute: r.try_get("group_attribute")?,
        allow_idp_initiated: r.try_get::<i64, _>("allow_idp_initiated")? != 0,
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
) -> Result<Option<StoredSamlSettings>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saml_settings WHERE workspace_id = $1"
    )))
    .bind(ws.as_str())
    .fetch_optional(db)
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

/// The card's fields as validated on Save (`None`: not set).
pub struct CardFields<'a> {
    pub enabled: bool,
    pub idp_entity_id: Option<&'a str>,
    pub sso_url: Option<&'a str>,
    pub certificates: Option<&'a str>,
    pub metadata_url: Option<&'a str>,
    pub metadata_fetched_at: Option<i64>,
    pub email_attribute: Option<&'a str>,
    pub group_attribute: Option<&'a str>,
    pub allow_idp_initiated: bool,
    pub saved_by: &'a str,
}

/// A Save, inside the caller's transaction: every card field (keeping the health line)
/// and — on PostgreSQL — the notification that makes every node forget its cached
/// settings for the workspace when the transaction commits.
pub async fn save(
    conn: &mut Conn,
    backend: Backend,
    ws: &WorkspaceId,
    f: &CardFields<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO saml_settings (workspace_id, enabled, idp_entity_id, sso_url, certificates, \
         metadata_url, metadata_fetched_at, email_attribute, group_attribute, \
         allow_idp_initiated, saved_at, saved_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11, $11) \
         ON CONFLICT (workspace_id) DO UPDATE SET enabled = excluded.enabled, \
         idp_entity_id = excluded.idp_entity_id, sso_url = excluded.sso_url, \
         certificates = excluded.certificates, metadata_url = excluded.metadata_url, \
         metadata_fetched_at = excluded.metadata_fetched_at, \
         email_attribute = excluded.email_attribute, group_attribute = excluded.group_attribute, \
         allow_idp_initiated = excluded.allow_idp_initiated, saved_at = excluded.saved_at, \
         saved_by = excluded.saved_by, updated_at = excluded.updated_at",
    )
    .bind(ws.as_str())
    .bind(flag(f.enabled))
    .bind(f.idp_entity_id)
    .bind(f.sso_url)
    .bind(f.certificates)
    .bind(f.metadata_url)
    .bind(f.metadata_fetched_at)
    .bind(f.email_attribute)
    .bind(f.group_attribute)
    .bind(flag(f.allow_idp_initiated))
    .bind(now())
    .bind(f.saved_by)
    .execute(&mut *conn)
    .await?;
    if backend == Backend::Postgres {
        // The Microsoft card's channel: one "this workspace's settings changed" for all.
        super::microsoft_settings::notify_changed(&mut *conn, ws).await?;
    }
    Ok(())
}

/// The health line's "last successful sign-in" (creates a row without `saved_at` if none).
pub async fn record_success<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
) -> Result<(), sqlx::Error> {
    record_success_statement(ws).execute(db).await
}

/// [`record_success`] as a statement for a [`Batch`](super::batch::Batch): the sign-in
/// transaction sends it with its other writes.
pub fn record_success_statement(ws: &WorkspaceId) -> super::batch::Statement {
    shared::record_success_statement(Table::Saml, ws)
}

pub async fn record_failure<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    summary: &str,
) -> Result<(), sqlx::Error> {
    shared::record_failure(db, Table::Saml, ws, summary).await
}

/// The last Test sign-in (`/auth/saml?test=1`): what the assertion said, or why not.
pub async fn record_test<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    ws: &WorkspaceId,
    ok: bool,
    summary: &str,
) -> Result<(), sqlx::Error> {
    shared::record_test(db, Table::Saml, ws, ok, summary).await
}
