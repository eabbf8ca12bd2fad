//! Fixed-window counters of failed sign-ins, in the database so every node sees them.

use sqlx::Row;

use super::{Conn, now};

/// Failures recorded in the bucket's current window (0 when the window has passed).
pub async fn failures(
    conn: &mut Conn,
    bucket: &str,
    window_secs: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query("SELECT window_start, failures FROM throttle_buckets WHERE bucket = $1")
        .bind(bucket)
        .fetch_optional(&mut *conn)
        .await?;
    let t = now();
    Ok(match row {
        Some(r) => {
            let start: i64 = r.try_get("window_start")?;
            if t - start >= window_secs {
                (0, t)
            } else {
                (r.try_get("failures")?, start)
            }
        }
        None => (0, t),
    })
}

/// Adds one failure, starting a new window when the old one has passed. One statement,
/// so two nodes counting at once never lose a failure.
pub async fn record_failure(
    conn: &mut Conn,
    bucket: &str,
    window_secs: i64,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO throttle_buckets (bucket, window_start, failures, created_at, updated_at) \
         VALUES ($1, $2, 1, $3, $4) ON CONFLICT (bucket) DO UPDATE SET \
         failures = CASE WHEN $5 - throttle_buckets.window_start >= $6 THEN 1 ELSE throttle_buckets.failures + 1 END, \
         window_start = CASE WHEN $7 - throttle_buckets.window_start >= $8 THEN $9 ELSE throttle_buckets.window_start END, \
         updated_at = $10",
    )
    .bind(bucket)
    .bind(t)
    .bind(t)
    .bind(t)
    .bind(t)
    .bind(window_secs)
    .bind(t)
    .bind(window_secs)
    .bind(t)
    .bind(t)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

pub async fn clear(conn: &mut Conn, bucket: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM throttle_buckets WHERE bucket = $1")
        .bind(bucket)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}
