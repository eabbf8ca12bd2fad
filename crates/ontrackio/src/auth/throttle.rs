//! Limits on password sign-in attempts, per client IP and per account, shared by all
//! nodes through the database.
//!
//! Every attempt is counted *before* its password is checked, in one atomic statement per
//! bucket, and refused once its count passes the limit: twenty guesses sent at the same
//! moment see the counts 1 to 20, not twenty times "4 so far".
//!
//! Only attempts whose password is checked stay counted. The address is counted first and,
//! over its limit, the request stops there: nothing is counted for the account it names, so
//! one client cannot lock every account in the workspace without checking a password. An
//! attempt refused by its account's limit, and a correct password, give their count back
//! to the address: neither was a guess, and a person hammering their own locked account
//! must not lock out everyone behind the same NAT address. A correct password also clears
//! the account's count.

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

/// One admitted attempt, counted in both buckets.
pub struct Attempt {
    /// The IP bucket's window the attempt was counted in.
    ip_window_start: i64,
}

/// The answer to a counted attempt.
pub enum Admission {
    /// Check the password.
    Admitted(Attempt),
    /// Over a limit: wait this many seconds. `first` is the first refusal of the window
    /// for the bucket that refused (the one worth an audit row).
    Refused { retry_after_secs: i64, first: bool },
}

/// Counts the attempt, address first, and says whether it may go on.
pub async fn count_attempt(
    conn: &mut Conn,
    ws: &WorkspaceId,
    email: &EmailAddress,
    ip: &str,
) -> Result<Admission, sqlx::Error> {
    let ip_bucket = ip_bucket(ip);
    let ip = store::throttle::count_attempt(conn, &ip_bucket, WINDOW_SECS).await?;
    if let Some(refused) = refusal(ip, PER_IP) {
        return Ok(refused);
    }
    let account =
        store::throttle::count_attempt(conn, &account_bucket(ws, email), WINDOW_SECS).await?;
    if let Some(refused) = refusal(account, PER_ACCOUNT) {
        store::throttle::uncount_attempt(conn, &ip_bucket, ip.window_start).await?;
        return Ok(refused);
    }
    Ok(Admission::Admitted(Attempt {
        ip_window_start: ip.window_start,
    }))
}

/// The refusal for a count past `limit`; `first` for the count just past it, which one
/// request of the window sees (a few more at most, when attempts still in flight give
/// theirs back), so refusals write an audit row per bucket and window, not per request.
fn refusal(count: store::throttle::Count, limit: i64) -> Option<Admission> {
    (count.attempts > limit).then(|| Admission::Refused {
        retry_after_secs: (count.window_start + WINDOW_SECS - store::now()).max(1),
        first: count.attempts == limit + 1,
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
