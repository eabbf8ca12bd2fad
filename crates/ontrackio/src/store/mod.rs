//! Database access. All SQL lives in this module: one file per table family, small named
//! functions taking the pool or a transaction. The same SQL runs on SQLite and PostgreSQL
//! through sqlx's `Any` driver (`$1` placeholders work on both).

pub mod audit;
pub mod avatars;
pub mod batch;
pub mod google_settings;
pub mod microsoft_settings;
pub mod provider_settings;
pub mod saml_assertions;
pub mod saml_settings;
pub mod scim;
pub mod sessions;
pub mod setup_tokens;
pub mod sync_sqlite;
pub mod throttle;
pub mod user_identities;
pub mod users;
pub mod workspaces;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, SqlSafeStr, Transaction};

use crate::config::DatabaseUrl;

pub type Tx = Transaction<'static, Any>;
pub type Conn = sqlx::AnyConnection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool and which backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// On SQLite, the sign-in's transaction without sqlx's thread hops
    /// ([`sync_sqlite`]); `None` on PostgreSQL.
    sync: Option<Arc<sync_sqlite::SyncWriter>>,
}

/// Migrations are compiled into the binary: one folder per backend, identical versions.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "microsoft settings",
        include_str!("../../migrations/sqlite/0002_microsoft_settings.sql"),
    ),
    (
        3,
        "user search",
        include_str!("../../migrations/sqlite/0003_user_search.sql"),
    ),
    (
        4,
        "google settings",
        include_str!("../../migrations/sqlite/0004_google_settings.sql"),
    ),
    (
        5,
        "user change notifications",
        include_str!("../../migrations/sqlite/0005_user_change_notify.sql"),
    ),
    (
        6,
        "role mapping",
        include_str!("../../migrations/sqlite/0006_role_mapping.sql"),
    ),
    (
        7,
        "scim",
        include_str!("../../migrations/sqlite/0007_scim.sql"),
    ),
    (
        8,
        "saml settings",
        include_str!("../../migrations/sqlite/0008_saml_settings.sql"),
    ),
    (
        9,
        "saml replay memory",
        include_str!("../../migrations/sqlite/0009_saml_replay.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "microsoft settings",
        include_str!("../../migrations/postgres/0002_microsoft_settings.sql"),
    ),
    (
        3,
        "user search",
        include_str!("../../migrations/postgres/0003_user_search.sql"),
    ),
    (
        4,
        "google settings",
        include_str!("../../migrations/postgres/0004_google_settings.sql"),
    ),
    (
        5,
        "user change notifications",
        include_str!("../../migrations/postgres/0005_user_change_notify.sql"),
    ),
    (
        6,
        "role mapping",
        include_str!("../../migrations/postgres/0006_role_mapping.sql"),
    ),
    (
        7,
        "scim",
        include_str!("../../migrations/postgres/0007_scim.sql"),
    ),
    (
        8,
        "saml settings",
        include_str!("../../migrations/postgres/0008_saml_settings.sql"),
    ),
    (
        9,
        "saml replay memory",
        include_str!("../../migrations/postgres/0009_saml_replay.sql"),
    ),
];

impl Db {
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url_str) = match url {
            DatabaseUrl::Sqlite(s) => (Backend::Sqlite, sqlite_url_creating_dirs(s)?),
            DatabaseUrl::Postgres(s) => (Backend::Postgres, s.clone()),
        };
        let options: AnyConnectOptions = url_str
            .parse()
            .with_context(|| format!("cannot parse the database URL {}", url.redacted()))?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    // A connection to a local file cannot go stale the way a socket can;
                    // pinging it on every acquire is a round trip to its worker thread
                    // per query for nothing.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers proceed during a write; the busy timeout turns
                            // brief write contention into a short wait instead of an error.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
            }
        }
        .with_context(|| format!("cannot connect to the database {}", url.redacted()))?;
        let sync = match url {
            // Opened after the pool, which created the file and put it in WAL mode. Without
            // it every sign-in takes the ordinary path, so a failure here is not fatal.
            DatabaseUrl::Sqlite(s) => {
                match sync_sqlite::SyncWriter::open(std::path::Path::new(split_sqlite_url(s).0)) {
                    Ok(w) => Some(Arc::new(w)),
                    Err(e) => {
                        tracing::warn!(error = %e, "sign-ins will use the connection pool only");
                        None
                    }
                }
            }
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(Self {
            pool,
            backend,
            sync,
        })
    }

    /// How many sign-in transactions found SQLite's synchronous connection busy and went
    /// through the pool; `None` without one (PostgreSQL).
    pub fn sync_busy_count(&self) -> Option<u64> {
        self.sync
            .as_deref()
            .map(sync_sqlite::SyncWriter::busy_count)
    }

    /// Runs `work` in one transaction on SQLite's synchronous connection
    /// ([`sync_sqlite`]); `None` when there is none (PostgreSQL) or it is busy: then run it
    /// through the pool.
    pub fn sync_transaction<R>(
        &self,
        work: impl FnOnce(&mut sync_sqlite::SyncTx<'_>) -> Result<R, sqlx::Error>,
    ) -> Option<Result<R, sqlx::Error>> {
        let writer = self.sync.as_deref()?;
        match writer.transaction(work) {
            sync_sqlite::Ran::Busy => None,
            sync_sqlite::Ran::Done(r) => {
                if r.is_ok() && writer.checkpoint_due() {
                    // On sqlx's thread: the disk work stays off the runtime's.
                    let pool = self.pool.clone();
                    tokio::spawn(async move {
                        if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                    });
                }
                Some(r)
            }
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later can fail
    /// with SQLITE_BUSY at the upgrade, which the busy timeout does not cover.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let source = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations: Vec<Migration> = source
            .iter()
            .map(|(version, desc, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*desc),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        // `locking` takes a PostgreSQL advisory lock, so nodes starting together migrate once.
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            locking: true,
            ..Migrator::DEFAULT
        };
        migrator
            .run(&self.pool)
            .await
            .context("Failed to apply database migrations")?;
        Ok(())
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        if let Some(w) = &self.sync {
            w.close();
        }
        self.pool.close().await;
    }
}

/// `sqlite://./dir/file.db` → creates `./dir` and asks SQLite to create the file.
/// The file behind a SQLite URL (`sqlite://path?params`), or `None` for PostgreSQL.
pub fn sqlite_path(url: &DatabaseUrl) -> Option<std::path::PathBuf> {
    let DatabaseUrl::Sqlite(url) = url else {
        return None;
    };
    let (path, _) = split_sqlite_url(url);
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

fn split_sqlite_url(url: &str) -> (&str, &str) {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split_once('?').unwrap_or((rest, ""))
}

fn sqlite_url_creating_dirs(url: &str) -> anyhow::Result<String> {
    let (path, query) = split_sqlite_url(url);
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!(
            "an in-memory SQLite database would lose everything at exit; give a file path"
        );
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut out = format!("sqlite://{path}");
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    out.push('?');
    out.push_str(&params.join("&"));
    Ok(out)
}

/// Unix seconds now. One clock for every table.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A unique constraint said no.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The unique constraints callers translate into their own answers (DESIGN §3: "the
/// database enforces uniqueness; violations are translated by constraint name").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueKey {
    /// `workspaces_slug_key`: the slug is taken.
    WorkspaceSlug,
    /// `users_workspace_email_key`: the email is already a user of the workspace.
    UserEmail,
    /// `user_identities_key`: the identity is linked already.
    UserIdentity,
    /// `scim_users_external_id_key`: another user has this SCIM `externalId`.
    ScimExternalId,
    /// `scim_groups_name_key`: a SCIM group has this display name.
    ScimGroupName,
}

impl UniqueKey {
    const ALL: [(UniqueKey, &'static str, &'static str); 5] = [
        (
            Self::WorkspaceSlug,
            "workspaces_slug_key",
            "workspaces.slug",
        ),
        (
            Self::UserEmail,
            "users_workspace_email_key",
            "users.workspace_id, users.email_normalized",
        ),
        (
            Self::UserIdentity,
            "user_identities_key",
            "user_identities.workspace_id, user_identities.provider, user_identities.tenant_id, user_identities.object_id",
        ),
        (
            Self::ScimExternalId,
            "scim_users_external_id_key",
            "scim_users.workspace_id, scim_users.external_id",
        ),
        (
            Self::ScimGroupName,
            "scim_groups_name_key",
            "scim_groups.workspace_id, scim_groups.display_name_normalized",
        ),
    ];
}

/// Which unique constraint refused a write, if one did and it is one of ours. PostgreSQL
/// names the constraint; SQLite names only its columns ("UNIQUE constraint failed:
/// users.workspace_id, users.email_normalized"), which map to the same names.
pub fn unique_violation(err: &sqlx::Error) -> Option<UniqueKey> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    if let Some(name) = db.constraint() {
        return UniqueKey::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(k, ..)| *k);
    }
    let columns = db.message().strip_prefix("UNIQUE constraint failed: ")?;
    UniqueKey::ALL
        .iter()
        .find(|(.., c)| *c == columns)
        .map(|(k, ..)| *k)
}

/// The database cannot be reached or cannot take the request right now (stopped,
/// restarting, failing over, out of connections), as opposed to a request that is wrong:
/// the answer is "try again shortly" (503), not a bug report.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P
        // (server shutting down or starting), and 25006: a write reached a server that is
        // now a read-only standby, as after a failover.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c == "25006"
        }),
        _ => false,
    }
}

pub fn flag(b: bool) -> i64 {
    i64::from(b)
}
