//! The sign-in's transaction on SQLite, run on the calling thread.
//!
//! sqlx runs every SQLite statement on the connection's own worker thread: each one is a
//! message there and an answer back, two thread wake-ups, which on a virtual machine cost
//! more than the statement (BENCHMARKS.md: at a trickle of sign-ins, 14–17 of a sign-in's 35–41
//! context switches were on sqlx's SQLite threads). A sign-in's transaction is four such
//! round trips. Here it is one synchronous transaction on a connection of our own to the
//! same file, a few hundred microseconds of work on the runtime thread that asked for it.
//!
//! It never waits, so that no runtime thread is ever blocked on a lock: the connection is
//! taken only if free, and the write lock (`BEGIN IMMEDIATE`) only if no other connection
//! holds it (busy timeout zero). Otherwise the caller gets [`Ran::Busy`] and runs the same
//! transaction through sqlx, which waits for the lock off the runtime, as every other
//! write does. Whatever went wrong, the transaction is rolled back: nothing half-written.
//!
//! Nor does it checkpoint the WAL: SQLite would do that inside a commit every 1,000 pages,
//! copying them into the database and syncing it, milliseconds of disk work on a runtime
//! thread. Every [`CHECKPOINT_EVERY`] commits instead, [`SyncWriter::checkpoint_due`] tells
//! the caller to have one done through the pool, on sqlx's thread (`store::Db`).

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::batch::{Statement, Value};
use super::users::Columns;

/// One connection for sign-in transactions: SQLite has one writer at a time anyway.
pub struct SyncWriter {
    /// `None` once closed with the pool (`Db::close`).
    conn: Mutex<Option<Connection>>,
    commits: AtomicU32,
    /// How many transactions were answered [`Ran::Busy`] (for the tests that race them).
    busy: AtomicU64,
}

/// A sign-in writes a handful of pages: this keeps the WAL near SQLite's own threshold.
pub const CHECKPOINT_EVERY: u32 = 128;

/// What [`SyncWriter::transaction`] did.
pub enum Ran<R> {
    /// Committed (`Ok`) or rolled back (`Err`).
    Done(Result<R, sqlx::Error>),
    /// Not started, or rolled back because another connection held the write lock: run
    /// it the ordinary way.
    Busy,
}

impl SyncWriter {
    /// Opens the database file the pool already created (and put in WAL mode).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::ZERO)?;
        // As the pool's connections (store::Db::connect), but no checkpoint in a commit.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )?;
        Ok(Self {
            conn: Mutex::new(Some(conn)),
            commits: AtomicU32::new(0),
            busy: AtomicU64::new(0),
        })
    }

    /// After a commit: whether the WAL is due to be checkpointed by someone else.
    pub fn checkpoint_due(&self) -> bool {
        self.commits.fetch_add(1, Ordering::Relaxed) % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1
    }

    /// Closes the connection: afterwards every transaction fails as the pool's do.
    pub fn close(&self) {
        self.conn.lock().take();
    }

    /// How many transactions were sent the ordinary way so far.
    pub fn busy_count(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// Runs `work` in one write transaction and commits it if `work` succeeds.
    pub fn transaction<R>(
        &self,
        work: impl FnOnce(&mut SyncTx<'_>) -> Result<R, sqlx::Error>,
    ) -> Ran<R> {
        let ran = self.try_transaction(work);
        if matches!(ran, Ran::Busy) {
            self.busy.fetch_add(1, Ordering::Relaxed);
        }
        ran
    }

    fn try_transaction<R>(
        &self,
        work: impl FnOnce(&mut SyncTx<'_>) -> Result<R, sqlx::Error>,
    ) -> Ran<R> {
        // Held by another runtime thread's sign-in: do not block this one on it.
        let Some(mut guard) = self.conn.try_lock() else {
            return Ran::Busy;
        };
        let Some(conn) = guard.as_mut() else {
            return Ran::Done(Err(sqlx::Error::PoolClosed));
        };
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) if is_busy(&e) => return Ran::Busy,
            Err(e) => return Ran::Done(Err(to_sqlx(e))),
        };
        let mut sync = SyncTx {
            tx: &tx,
            busy: false,
        };
        let outcome = work(&mut sync);
        let busy = sync.busy;
        match outcome {
            // Dropping `tx` rolls it back.
            Err(_) if busy => Ran::Busy,
            Err(e) => Ran::Done(Err(e)),
            Ok(r) => match tx.commit() {
                Ok(()) => Ran::Done(Ok(r)),
                Err(e) if is_busy(&e) => Ran::Busy,
                Err(e) => Ran::Done(Err(to_sqlx(e))),
            },
        }
    }
}

/// The open transaction, statement by statement.
pub struct SyncTx<'c> {
    tx: &'c rusqlite::Transaction<'c>,
    busy: bool,
}

impl SyncTx<'_> {
    /// Runs a statement to its end, whatever rows it answers (`RETURNING`: the store's
    /// statements may, as for sqlx's `execute`).
    pub fn execute(&mut self, s: &Statement) -> Result<(), sqlx::Error> {
        let r = self.prepared(s, |stmt| {
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
            Ok(())
        });
        self.noted(r)
    }

    /// The first row's mapping, if there is a row.
    pub fn fetch_optional<T>(
        &mut self,
        s: &Statement,
        map: impl FnOnce(&SyncRow<'_>) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, sqlx::Error> {
        let mut mapped = None;
        let r = self.prepared(s, |stmt| {
            let mut rows = stmt.raw_query();
            if let Some(row) = rows.next()? {
                mapped = Some(map(&SyncRow(row)));
            }
            Ok(())
        });
        self.noted(r)?;
        mapped.transpose()
    }

    fn prepared(
        &self,
        s: &Statement,
        run: impl FnOnce(&mut rusqlite::Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut stmt = self.tx.prepare_cached(s.sql())?;
        bind(&mut stmt, s.values())?;
        run(&mut stmt)
    }

    fn noted(&mut self, r: rusqlite::Result<()>) -> Result<(), sqlx::Error> {
        r.map_err(|e| {
            self.busy |= is_busy(&e);
            to_sqlx(e)
        })
    }
}

/// Binds `$n` to the n-th value. SQLite numbers named parameters in order of first
/// appearance, so `$2` may well be its parameter 1: the name says which value it is, as
/// sqlx's own SQLite driver reads it.
fn bind(stmt: &mut rusqlite::Statement<'_>, values: &[Value]) -> rusqlite::Result<()> {
    for index in 1..=stmt.parameter_count() {
        let value = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| values.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        match value {
            Value::Text(s) => stmt.raw_bind_parameter(index, s.as_str())?,
            Value::OptText(s) => stmt.raw_bind_parameter(index, s.as_deref())?,
            Value::Int(i) => stmt.raw_bind_parameter(index, i)?,
        }
    }
    Ok(())
}

/// A row read here, for [`Columns`].
pub struct SyncRow<'r>(&'r rusqlite::Row<'r>);

impl SyncRow<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.0.get(column).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    }
}

impl Columns for SyncRow<'_> {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.get(column)
    }
    fn truth(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.get::<i64>(column).map(|v| v != 0)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// SQLite's error as the database error sqlx would have reported, so that callers keep
/// one error type and `store::is_unique_violation` keeps working.
fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            sqlx::Error::Database(Box::new(SqliteError {
                message: message.unwrap_or_else(|| code.to_string()),
                extended: code.extended_code,
            }))
        }
        other => sqlx::Error::Protocol(format!("SQLite: {other}")),
    }
}

#[derive(Debug)]
struct SqliteError {
    message: String,
    extended: std::ffi::c_int,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SQLite error {}: {}", self.extended, self.message)
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.extended.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.extended {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, SyncWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; \
                 CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT);",
            )
            .unwrap();
        (dir, SyncWriter::open(&path).unwrap())
    }

    fn insert(id: i64, a: &str) -> Statement {
        Statement::new(
            "INSERT INTO t (b, a, id) VALUES ($3, $2, $1)",
            vec![id.into(), a.into(), Value::OptText(None)],
        )
    }

    fn count(w: &SyncWriter) -> i64 {
        let Ran::Done(n) = w.transaction(|tx| {
            tx.fetch_optional(
                &Statement::new("SELECT COUNT(*) AS n FROM t", vec![]),
                |r| r.int("n"),
            )
        }) else {
            panic!("busy")
        };
        n.unwrap().unwrap()
    }

    #[test]
    fn placeholders_are_bound_by_their_number_not_their_position() {
        let (_dir, w) = writer();
        let Ran::Done(read) = w.transaction(|tx| {
            tx.execute(&insert(7, "seven"))?;
            tx.fetch_optional(
                &Statement::new(
                    "SELECT a, b FROM t WHERE a = $2 AND id = $1",
                    vec![7.into(), "seven".into()],
                ),
                |r| Ok((r.text("a")?, r.opt_text("b")?)),
            )
        }) else {
            panic!("busy")
        };
        assert_eq!(read.unwrap(), Some(("seven".to_string(), None)));
    }

    #[test]
    fn a_failed_statement_rolls_the_whole_transaction_back_and_says_unique_violation() {
        let (_dir, w) = writer();
        let Ran::Done(r) = w.transaction(|tx| {
            tx.execute(&insert(1, "one"))?;
            tx.execute(&insert(1, "again"))
        }) else {
            panic!("busy")
        };
        let e = r.unwrap_err();
        assert!(super::super::is_unique_violation(&e), "{e:?}");
        assert_eq!(count(&w), 0, "the first insert was rolled back too");
    }

    #[test]
    fn another_connection_holding_the_write_lock_makes_it_busy_without_waiting() {
        let (dir, w) = writer();
        let other = Connection::open(dir.path().join("t.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut ran = false;
        let r = w.transaction(|tx| {
            ran = true;
            tx.execute(&insert(1, "one"))
        });
        assert!(matches!(r, Ran::Busy));
        assert!(!ran, "nothing ran without the write lock");
        other.execute_batch("COMMIT").unwrap();
        assert!(matches!(
            w.transaction(|tx| tx.execute(&insert(1, "one"))),
            Ran::Done(Ok(()))
        ));
        assert_eq!(count(&w), 1);
    }

    #[test]
    fn the_connection_in_use_elsewhere_makes_it_busy() {
        let (_dir, w) = writer();
        let inner = w.transaction(|_| Ok(matches!(w.transaction(|_| Ok(())), Ran::Busy)));
        assert!(matches!(inner, Ran::Done(Ok(true))));
    }

    #[test]
    fn once_closed_nothing_runs() {
        let (_dir, w) = writer();
        w.close();
        assert!(matches!(
            w.transaction(|_| Ok(())),
            Ran::Done(Err(sqlx::Error::PoolClosed))
        ));
    }

    #[test]
    fn a_checkpoint_is_due_once_every_so_many_commits() {
        let (_dir, w) = writer();
        let due: Vec<u32> = (1..=3 * CHECKPOINT_EVERY)
            .filter(|_| w.checkpoint_due())
            .collect();
        assert_eq!(
            due,
            vec![CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY, 3 * CHECKPOINT_EVERY]
        );
    }

    #[test]
    fn a_statement_answering_rows_runs_as_any_other() {
        let (_dir, w) = writer();
        let returning = Statement::new(
            "INSERT INTO t (id, a) VALUES ($1, $2) RETURNING id",
            vec![3.into(), "three".into()],
        );
        assert!(matches!(
            w.transaction(|tx| tx.execute(&returning)),
            Ran::Done(Ok(()))
        ));
        assert_eq!(count(&w), 1);
    }
}
