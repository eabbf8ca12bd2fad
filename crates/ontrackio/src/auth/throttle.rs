//! Limits on failed password sign-ins, per client IP and per account, shared by all nodes
//! through the database.

use crate::domain::{EmailAddress, WorkspaceId};
use crate::store::{self, Conn};

/// 15-minute windows.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failed attempts allowed per account per window: enough for typos, too few to guess.
pub const PER_ACCOUNT: i64 = 5;
/// Failed attempts allowed per IP per window: an office behind one NAT still works.
pub const PER_IP: i64 = 30;

pub fn account_bucket(ws: &WorkspaceId, email: &EmailAddress) -> String {
    format!("pw:acct:{}:{}", ws.as_str(), email.normalized())
}

pub fn ip_bucket(ip: &str) -> String {
    format!("pw:ip:{ip}")
}

/// `Some(seconds to wait)` when either limit is reached.
pub async fn blocked_for(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
    ip: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let now = store::now();
    let mut wait = None;
    for (bucket, limit) in [
        (account_bucket(ws, email), PER_ACCOUNT),
        (ip_bucket(ip), PER_IP),
    ] {
        let (failures, start) = store::throttle::failures(conn, &bucket, WINDOW_SECS).await?;
        if failures >= limit {
            let w = (start + WINDOW_SECS - now).max(1);
            wait = Some(wait.map_or(w, |x: i64| x.max(w)));
        }
    }
    Ok(wait)
}

pub async fn record_failure(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
    ip: &str,
) -> Result<(), sqlx::Error> {
    store::throttle::record_failure(conn, &account_bucket(ws, email), WINDOW_SECS).await?;
    store::throttle::record_failure(conn, &ip_bucket(ip), WINDOW_SECS).await
}

/// A correct password clears the account's counter (not the IP's: one success must not
/// reset a guessing run across many accounts).
pub async fn record_success(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
) -> Result<(), sqlx::Error> {
    store::throttle::clear(conn, &account_bucket(ws, email)).await
}
