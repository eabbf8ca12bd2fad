//! Limits on password sign-in attempts, per client IP and per account, shared by all
//! nodes through the database.
//!
//! Every attempt is counted *before* its password is checked, in one atomic statement per
//! bucket, and refused once its count passes the limit: twenty guesses sent at the same
//! moment see the counts 1 to 20, not twenty times "4 so far". A correct password gives its
//! attempt back to the IP's count and clears the account's.

use crate::domain::{EmailAddress, WorkspaceId};
use crate::store::{self, Conn};

/// 15-minute windows.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Wrong passwords allowed per account per window: enough for typos, too few to guess.
pub const PER_ACCOUNT: i64 = 5;
/// Wrong passwords allowed per IP per window: an office behind one NAT still works.
pub const PER_IP: i64 = 30;

pub fn account_bucket(ws: &WorkspaceId, email: &EmailAddress) -> String {
    format!("pw:acct:{}:{}", ws.as_str(), email.normalized())
}

pub fn ip_bucket(ip: &str) -> String {
    format!("pw:ip:{ip}")
}

/// One attempt, counted in both buckets.
pub struct Attempt {
    /// The IP bucket's window the attempt was counted in.
    ip_window_start: i64,
}

/// The answer to a counted attempt.
pub enum Admission {
    /// Check the password.
    Admitted(Attempt),
    /// Over a limit: wait this many seconds. `first` is the first refusal of the window
    /// for one of the buckets (the one worth an audit row).
    Refused { retry_after_secs: i64, first: bool },
}

/// Counts the attempt in both buckets and says whether it may go on.
pub async fn count_attempt(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
    ip: &str,
) -> Result<Admission, sqlx::Error> {
    let account =
        store::throttle::count_attempt(conn, &account_bucket(ws, email), WINDOW_SECS).await?;
    let ip = store::throttle::count_attempt(conn, &ip_bucket(ip), WINDOW_SECS).await?;
    let now = store::now();
    let mut wait = None::<i64>;
    let mut first = false;
    for (c, limit) in [(account, PER_ACCOUNT), (ip, PER_IP)] {
        if c.attempts > limit {
            let w = (c.window_start + WINDOW_SECS - now).max(1);
            wait = Some(wait.map_or(w, |x| x.max(w)));
            first |= c.attempts == limit + 1;
        }
    }
    Ok(match wait {
        Some(retry_after_secs) => Admission::Refused {
            retry_after_secs,
            first,
        },
        None => Admission::Admitted(Attempt {
            ip_window_start: ip.window_start,
        }),
    })
}

/// A correct password: the attempt was no guess. The account's count starts over; the
/// IP's gets this attempt back (not cleared: one success must not reset a guessing run
/// across many accounts).
pub async fn succeeded(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
    ip: &str,
    attempt: &Attempt,
) -> Result<(), sqlx::Error> {
    store::throttle::clear(conn, &account_bucket(ws, email)).await?;
    store::throttle::uncount_attempt(conn, &ip_bucket(ip), attempt.ip_window_start).await
}
