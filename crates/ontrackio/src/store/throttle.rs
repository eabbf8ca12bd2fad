//! Fixed-window counters of sign-in attempts, in the database so every node sees them.

use sqlx::Row;

use super::{Conn, now};

/// The bucket's current window as one attempt was counted into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Attempts in the window, this one included.
    pub attempts: i64,
    /// When the window started (Unix seconds).
    pub window_start: i64,
}

/// Counts one attempt, starting a new window when the old one has passed, and returns
/// the count with this attempt in it. One statement: two requests (or two nodes) counting
/// at the same moment each see a different count, so a limit checked on the returned
/// count holds however many arrive at once.
pub async fn count_attempt(
    conn: &mut Conn,
    bucket: &str,
    window_secs: i64,
) -> Result<Count, sqlx::Error> {
    let t = now();
    let row = sqlx::query(
        "INSERT INTO throttle_buckets (bucket, window_start, failures, created_at, updated_at) \
         VALUES ($1, $2, 1, $2, $2) ON CONFLICT (bucket) DO UPDATE SET \
         failures = CASE WHEN $2 - throttle_buckets.window_start >= $3 THEN 1 \
                    ELSE throttle_buckets.failures + 1 END, \
         window_start = CASE WHEN $2 - throttle_buckets.window_start >= $3 THEN $2 \
                        ELSE throttle_buckets.window_start END, \
         updated_at = $2 \
         RETURNING failures, window_start",
    )
    .bind(bucket)
    .bind(t)
    .bind(window_secs)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Count {
        attempts: row.try_get("failures")?,
        window_start: row.try_get("window_start")?,
    })
}

/// Takes back one attempt counted in the window that started at `window_start` (a
/// correct password is not a guess); nothing if that window has since been replaced.
pub async fn uncount_attempt(
    conn: &mut Conn,
    bucket: &str,
    window_start: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE throttle_buckets SET failures = failures - 1, updated_at = $1 \
         WHERE bucket = $2 AND window_start = $3 AND failures > 0",
    )
    .bind(now())
    .bind(bucket)
    .bind(window_start)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Attempts counted in the bucket's current window (0 when the window has passed).
pub async fn attempts(conn: &mut Conn, bucket: &str, window_secs: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT window_start, failures FROM throttle_buckets WHERE bucket = $1")
        .bind(bucket)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) if now() - r.try_get::<i64, _>("window_start")? < window_secs => {
            r.try_get("failures")?
        }
        _ => 0,
    })
}

pub async fn clear(conn: &mut Conn, bucket: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM throttle_buckets WHERE bucket = $1")
        .bind(bucket)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// Deletes buckets whose window started before `cutoff` (Unix seconds): a finished
/// window counts nothing, and one row per address or email ever tried would otherwise
/// stay forever.
pub async fn delete_stale<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    db: E,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM throttle_buckets WHERE window_start < $1")
        .bind(cutoff)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}
