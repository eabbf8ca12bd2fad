//! Signing someone in with an external identity provider, whichever it is: the validated
//! identity → the pure policy (`auth::policy`) → one transaction (link or provision the
//! user, last sign-in, audit rows, the session) → where they land. A provider's handler
//! only speaks its protocol and builds an [`ExternalIdentity`]; every account rule is here.

use crate::accounts::ChangeNotifier;
use crate::audit::{self, Actor, Origin, actions};
use crate::auth::policy::{self, ChosenEmail, Decision, Existing, Refusal};
use crate::auth::role_mapping::DirectoryRole;
use crate::auth::session;
use crate::auth::session_cache::Ticket;
use crate::crypto::SessionToken;
use crate::domain::{EmailDomain, ReturnTo, Role, UserId, UserStatus};
use crate::store::batch::{Batch, Statement};
use crate::store::{self, Db, users::User, workspaces::Workspace};

/// The identity providers a workspace can sign in with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Microsoft,
    Google,
    /// The workspace's SAML identity provider (the SAML card).
    Saml,
}

impl Provider {
    /// The provider's name in `user_identities.provider`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft",
            Self::Google => "google",
            Self::Saml => "saml",
        }
    }
    /// The provider's name as people know it.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Microsoft => "Microsoft",
            Self::Google => "Google",
            Self::Saml => "SAML",
        }
    }
    /// What the provider calls the issuer and the subject, for the audit rows' details
    /// (an admin looking one up in the directory searches for these names).
    fn id_names(self) -> (&'static str, &'static str) {
        match self {
            Self::Microsoft => ("tid", "oid"),
            Self::Google => ("iss", "sub"),
            Self::Saml => ("issuer", "subject"),
        }
    }
    /// The actor of the audit rows a sign-in writes before anyone is signed in.
    pub fn system_actor(self) -> &'static str {
        match self {
            Self::Microsoft => "Microsoft sign-in",
            Self::Google => "Google sign-in",
            Self::Saml => "SAML sign-in",
        }
    }
    /// The guide's exact success text.
    pub fn signed_in_action(self) -> &'static str {
        match self {
            Self::Microsoft => actions::MICROSOFT_SIGN_IN,
            Self::Google => actions::GOOGLE_SIGN_IN,
            Self::Saml => actions::SAML_SIGN_IN,
        }
    }
    pub fn refused_action(self) -> &'static str {
        match self {
            Self::Microsoft => actions::MICROSOFT_SIGN_IN_REFUSED,
            Self::Google => actions::GOOGLE_SIGN_IN_REFUSED,
            Self::Saml => actions::SAML_SIGN_IN_REFUSED,
        }
    }
    fn provisioned_action(self) -> &'static str {
        match self {
            Self::Microsoft => actions::MICROSOFT_USER_PROVISIONED,
            Self::Google => actions::GOOGLE_USER_PROVISIONED,
            Self::Saml => actions::SAML_USER_PROVISIONED,
        }
    }
    fn linked_action(self) -> &'static str {
        match self {
            Self::Microsoft => actions::MICROSOFT_ACCOUNT_LINKED,
            Self::Google => actions::GOOGLE_ACCOUNT_LINKED,
            Self::Saml => actions::SAML_ACCOUNT_LINKED,
        }
    }
    /// What a person is told when the provider gave no usable email (the guide's text).
    pub fn no_email_message(self) -> &'static str {
        match self {
            Self::Microsoft => {
                "Microsoft did not return an email address. Ensure the User.Read scope is granted."
            }
            Self::Google => {
                "Google did not return an email address. Ask your workspace admin to check that the email scope is requested."
            }
            Self::Saml => {
                "Your identity provider did not send an email address. Ask your workspace admin to check the SAML card's email attribute."
            }
        }
    }
    /// The page text of a refusal.
    pub fn refusal_message(self, r: Refusal) -> &'static str {
        match (self, r) {
            (_, Refusal::NoEmail) => self.no_email_message(),
            // The provider says so itself: telling the person lets them fix it there.
            (Self::Google, Refusal::ProviderUnverified) => {
                "Google has not verified the email address of this account, so you were not signed in. Verify it in your Google Account, then try again."
            }
            (_, other) => other.message(),
        }
    }
}

/// A person as an identity provider vouches for them, after the provider's own checks
/// (signatures, issuer, audience, nonce) passed.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    pub provider: Provider,
    /// Who issued the subject: Microsoft's tenant id (`tid`).
    pub issuer: String,
    /// The provider's durable id of the person in that issuer: Microsoft's `oid`.
    pub subject: String,
    /// The email the sign-in is about and whether the provider vouches for it; `None`
    /// when it sent nothing usable.
    pub email: Option<ChosenEmail>,
    /// The provider said outright that it has not verified the address (Google's
    /// `email_verified` not `true`): the sign-in is refused whatever else matches.
    pub email_unverified_by_provider: bool,
    /// First and last name as the directory has them now, when it said; cached on the user.
    pub directory_names: Option<(String, String)>,
    /// Names for a user provisioned by this sign-in (the directory's, or a fallback).
    pub new_user_names: (String, String),
    /// The organisation the provider vouches the account belongs to, checked against the
    /// allowlist instead of the email's domain (Google Workspace's `hd` claim).
    pub organisation_domain: Option<EmailDomain>,
    /// The role the workspace's mapping gives the directory's values (Entra app roles).
    pub directory_role: DirectoryRole,
}

/// The request a sign-in comes from.
#[derive(Clone, Copy)]
pub struct Requester<'a> {
    pub ip: &'a str,
    pub user_agent: &'a str,
}

impl<'a> Requester<'a> {
    pub fn origin(self) -> Origin<'a> {
        Origin {
            ip: Some(self.ip),
            user_agent: Some(self.user_agent),
        }
    }
}

pub struct Attempt<'a> {
    pub workspace: &'a Workspace,
    /// The workspace's allowlist as this provider's settings resolve it.
    pub allowed_domains: &'a [EmailDomain],
    pub identity: &'a ExternalIdentity,
    pub requester: Requester<'a>,
    pub return_to: Option<&'a ReturnTo>,
    /// The provider's own bookkeeping, written in the same transaction when the sign-in
    /// succeeds (e.g. the settings card's health line).
    pub on_success: Option<Statement>,
}

pub enum Outcome {
    SignedIn {
        user: UserId,
        token: SessionToken,
        landing: String,
        /// The new session as its transaction wrote it, when the session cache may keep it.
        fresh: Option<Fresh>,
    },
    Refused(Refusal),
}

/// A session just written and its user's row as the same transaction read it back
/// (`RETURNING`), with the ticket to keep them by (`web::session::remember_new`): the
/// landing page is then answered without a database read.
pub struct Fresh {
    pub ticket: Ticket,
    pub user: std::sync::Arc<User>,
    /// Also the session's `last_seen_at`.
    pub created_at: i64,
    pub expires_at: i64,
}

/// A person's first and last name from what a provider sent: its given and family names,
/// else its display name split at the last space (profile claims are never guaranteed);
/// `None` when it sent none. Each part is trimmed and kept to 100 characters.
pub fn person_names(
    given: Option<&str>,
    family: Option<&str>,
    display: Option<&str>,
) -> Option<(String, String)> {
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>())
    };
    let first = clean(given);
    let last = clean(family);
    if first.is_some() || last.is_some() {
        return Some((first.unwrap_or_default(), last.unwrap_or_default()));
    }
    let display = clean(display)?;
    Some(match display.rsplit_once(' ') {
        Some((f, l)) => (f.trim().to_string(), l.trim().to_string()),
        None => (display, String::new()),
    })
}

/// Where a user lands after signing in, by any method: a safe `return_to`; else a user
/// provisioned by this very sign-in starts on My → Dashboard; else by role, admins and
/// super-admins on Admin → Dashboard, everyone else on My → Dashboard.
pub fn landing(role: Role, provisioned_now: bool, return_to: Option<&ReturnTo>) -> String {
    match return_to {
        Some(r) => r.as_str().to_string(),
        None if !provisioned_now && role.is_admin() => "/admin/dashboard".to_string(),
        None => "/my/dashboard".to_string(),
    }
}

/// A refusal after the provider answered (so not one anyone could send), before the
/// account rules ran: one `<Provider> sign-in refused` audit row.
pub async fn record_refusal(
    db: &Db,
    ws: &Workspace,
    provider: Provider,
    requester: Requester<'_>,
    target: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *db.pool().acquire().await?,
        &ws.id,
        Actor::System(provider.system_actor()),
        provider.refused_action(),
        target,
        requester.origin(),
        serde_json::json!({"reason": reason}),
    )
    .await
}

/// Applies the policy in one transaction: all or nothing. A concurrent first sign-in of
/// the same person can lose the race to insert the user or the identity; the second
/// attempt then finds and signs in the winner's row.
pub async fn sign_in(
    db: &Db,
    notify: &dyn ChangeNotifier,
    attempt: Attempt<'_>,
) -> Result<Outcome, sqlx::Error> {
    match attempt_once(db, notify, &attempt).await {
        Err(e) if store::is_unique_violation(&e) => attempt_once(db, notify, &attempt).await,
        other => other,
    }
}

/// [`apply`], then the cache told: a signed-in user's sessions (their names and last
/// sign-in changed) are forgotten, and the new one kept if nothing else changed meanwhile.
async fn attempt_once(
    db: &Db,
    notify: &dyn ChangeNotifier,
    attempt: &Attempt<'_>,
) -> Result<Outcome, sqlx::Error> {
    let since = notify.ticket();
    let outcome = apply(db, attempt).await?;
    Ok(match outcome {
        Written::SignedIn {
            user,
            token,
            landing,
            row,
        } => {
            let ticket = notify.own_write_committed(&user, since);
            Outcome::SignedIn {
                fresh: ticket
                    .zip(row)
                    .map(|(ticket, (user, created_at, expires_at))| Fresh {
                        ticket,
                        user,
                        created_at,
                        expires_at,
                    }),
                user,
                token,
                landing,
            }
        }
        Written::Refused(r) => Outcome::Refused(r),
    })
}

/// What one transaction wrote.
enum Written {
    SignedIn {
        user: UserId,
        token: SessionToken,
        landing: String,
        /// The user's row read back, the session's creation and expiry.
        row: Option<(std::sync::Arc<User>, i64, i64)>,
    },
    Refused(Refusal),
}

fn existing(u: &User) -> Existing {
    Existing {
        id: u.id.clone(),
        role: u.role,
        status: u.status,
        external: u.external,
        email_normalized: u.email.to_ascii_lowercase(),
    }
}

/// The identity's row for `user` and the audit row `(action, target)` saying why it was
/// written (a provisioning or a link).
fn link_identity(
    writes: &mut Batch,
    a: &Attempt<'_>,
    user: &UserId,
    (action, target): (&str, &str),
    details: &serde_json::Value,
) {
    let id = a.identity;
    let ws = &a.workspace.id;
    writes.push(store::user_identities::insert_statement(
        ws,
        user,
        id.provider.key(),
        &id.issuer,
        &id.subject,
    ));
    writes.push(audit::statement(
        ws,
        Actor::System(id.provider.system_actor()),
        action,
        target,
        a.requester.origin(),
        details.clone(),
    ));
}

/// The directory's role for `user`, in the sign-in's batch, with its audit row naming the
/// old and the new role. Taking super-admin away is refused when nobody else could sign in
/// as one (the workspace row locked first, as every such change does: `accounts`); the
/// sign-in then goes on with the role kept, and its row says why. `Ok(false)`: kept.
async fn change_role_by_directory(
    tx: &mut impl SignInTx,
    writes: &mut Batch,
    a: &Attempt<'_>,
    user: &UserId,
    old: Role,
    new: Role,
) -> Result<bool, sqlx::Error> {
    let ws = &a.workspace.id;
    let p = a.identity.provider;
    let mut details = serde_json::json!({"from": old.as_str(), "to": new.as_str()});
    if old == Role::SuperAdmin {
        tx.execute(store::workspaces::lock_statement(ws)).await?;
        let others = tx
            .count(store::users::count_other_sign_in_super_admins_statement(
                ws, user,
            ))
            .await?;
        if others == 0 {
            details["kept"] = "the last super-admin who can sign in keeps the role".into();
            tx.execute(audit::statement(
                ws,
                Actor::System(p.system_actor()),
                actions::ROLE_CHANGE_BY_DIRECTORY_REFUSED,
                user.as_str(),
                a.requester.origin(),
                details,
            ))
            .await?;
            return Ok(false);
        }
    }
    writes.push(store::users::set_role_statement(user, new));
    let label = a.identity.email.as_ref().map_or_else(
        || user.as_str().to_string(),
        |c| c.email.as_str().to_string(),
    );
    writes.push(audit::statement(
        ws,
        Actor::System(p.system_actor()),
        actions::ROLE_CHANGED_BY_DIRECTORY,
        &label,
        a.requester.origin(),
        details,
    ));
    Ok(true)
}

/// What the sign-in's transaction asks of the database. Two implementations run the same
/// rules: sqlx's transaction (PostgreSQL, and SQLite when [`store::sync_sqlite`] is busy)
/// and SQLite's synchronous connection, whose futures are always ready.
trait SignInTx {
    async fn user(&mut self, query: Statement) -> Result<Option<User>, sqlx::Error>;
    /// A query answering one row with an integer column `n`.
    async fn count(&mut self, query: Statement) -> Result<i64, sqlx::Error>;
    async fn execute(&mut self, statement: Statement) -> Result<(), sqlx::Error>;
    /// Runs the writes; answers the user's row of the one pushed with `push_returning`.
    async fn batch(&mut self, writes: Batch) -> Result<Option<User>, sqlx::Error>;
}

struct PooledTx(store::Tx, store::Backend);

impl SignInTx for PooledTx {
    async fn user(&mut self, query: Statement) -> Result<Option<User>, sqlx::Error> {
        query
            .fetch_optional(&mut *self.0)
            .await?
            .map(|r| store::users::from_row(&r))
            .transpose()
    }
    async fn count(&mut self, query: Statement) -> Result<i64, sqlx::Error> {
        use sqlx::Row;
        query.fetch_one(&mut *self.0).await?.try_get("n")
    }
    async fn execute(&mut self, statement: Statement) -> Result<(), sqlx::Error> {
        statement.execute(&mut *self.0).await
    }
    async fn batch(&mut self, writes: Batch) -> Result<Option<User>, sqlx::Error> {
        writes
            .execute(&mut self.0, self.1)
            .await?
            .map(|r| store::users::from_row(&r))
            .transpose()
    }
}

impl SignInTx for store::sync_sqlite::SyncTx<'_> {
    async fn user(&mut self, query: Statement) -> Result<Option<User>, sqlx::Error> {
        self.fetch_optional(&query, |r| store::users::from_row(r))
    }
    async fn count(&mut self, query: Statement) -> Result<i64, sqlx::Error> {
        use store::users::Columns;
        self.fetch_optional(&query, |r| r.int("n"))?
            .ok_or(sqlx::Error::RowNotFound)
    }
    async fn execute(&mut self, statement: Statement) -> Result<(), sqlx::Error> {
        store::sync_sqlite::SyncTx::execute(self, &statement)
    }
    async fn batch(&mut self, writes: Batch) -> Result<Option<User>, sqlx::Error> {
        let (statements, returning) = writes.into_statements();
        let mut row = None;
        for (i, s) in statements.iter().enumerate() {
            if Some(i) == returning {
                row = self.fetch_optional(s, |r| store::users::from_row(r))?;
            } else {
                store::sync_sqlite::SyncTx::execute(self, s)?;
            }
        }
        Ok(row)
    }
}

/// The outcome of a future that never waits, which is what [`SignInTx`]'s synchronous
/// implementation gives: it is polled once, on the calling thread.
fn ready<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// One attempt in one transaction, committed unless it failed.
async fn apply(db: &Db, a: &Attempt<'_>) -> Result<Written, sqlx::Error> {
    let synchronous = db.sync_transaction(|tx| {
        ready(decide_and_write(tx, a)).unwrap_or_else(|| {
            Err(sqlx::Error::Protocol(
                "the synchronous sign-in transaction waited".into(),
            ))
        })
    });
    if let Some(outcome) = synchronous {
        return outcome;
    }
    let mut tx = PooledTx(db.begin().await?, db.backend());
    let outcome = decide_and_write(&mut tx, a).await?;
    tx.0.commit().await?;
    Ok(outcome)
}

/// The sign-in's reads, the policy's decision and its writes, in the caller's transaction
/// (committed by the caller whatever the outcome: a refusal writes its audit row).
async fn decide_and_write(tx: &mut impl SignInTx, a: &Attempt<'_>) -> Result<Written, sqlx::Error> {
    let id = a.identity;
    let p = id.provider;
    let ws = &a.workspace.id;
    let origin = a.requester.origin();
    let chosen = id.email.as_ref();
    let by_identity = tx
        .user(store::user_identities::find_user_statement(
            ws,
            p.key(),
            &id.issuer,
            &id.subject,
        ))
        .await?;
    // The user holding the email matters only when no identity matched, or when the
    // provider changed the address of the one that did (is the new one taken?).
    let by_email = match (chosen, &by_identity) {
        (Some(c), Some(u)) if existing(u).email_normalized == c.email.normalized() => None,
        (Some(c), _) => {
            tx.user(store::users::find_by_email_statement(ws, &c.email))
                .await?
        }
        (None, _) => None,
    };
    let decision = policy::decide(&policy::Input {
        allowed_domains: a.allowed_domains,
        email: chosen,
        by_identity: by_identity.as_ref().map(existing).as_ref(),
        by_email: by_email.as_ref().map(existing).as_ref(),
        organisation_domain: id.organisation_domain.as_ref(),
        provider_unverified: id.email_unverified_by_provider,
        directory_role: id.directory_role,
    });
    let target = chosen.map_or_else(|| id.subject.clone(), |c| c.email.as_str().to_string());
    let (issuer_key, subject_key) = p.id_names();
    let mut details = serde_json::json!({});
    details[issuer_key] = id.issuer.as_str().into();
    details[subject_key] = id.subject.as_str().into();
    let system = Actor::System(p.system_actor());
    // Every write of a successful sign-in goes out as one batch: one round trip to the
    // database on SQLite (see `store::batch`), statement by statement on PostgreSQL.
    let mut writes = Batch::default();
    let (user, role, provisioned) = match decision {
        Decision::Refuse(r) => {
            let mut d = details;
            d["reason"] = r.audit_reason().into();
            tx.execute(audit::statement(
                ws,
                system,
                p.refused_action(),
                &target,
                origin,
                d,
            ))
            .await?;
            return Ok(Written::Refused(r));
        }
        Decision::Provision => {
            let c = chosen.expect("the policy provisions only with an email");
            let (first, last) = &id.new_user_names;
            let role = id.directory_role.for_new_user();
            let (user, insert) = store::users::insert_statement(
                ws,
                store::users::NewUser {
                    email: &c.email,
                    first_name: first,
                    last_name: last,
                    role,
                    external: false,
                    status: UserStatus::Active,
                    email_verified: true,
                    password_hash: None,
                },
            );
            writes.push(insert);
            let audit = (p.provisioned_action(), c.email.as_str());
            link_identity(&mut writes, a, &user, audit, &details);
            writes.push_returning(store::users::record_login_statement(&user, a.requester.ip));
            (user, role, true)
        }
        Decision::SignIn {
            user,
            link,
            update_email,
            role,
        } => {
            if link {
                let audit = (p.linked_action(), target.as_str());
                link_identity(&mut writes, a, &user, audit, &details);
            }
            let c = chosen.expect("the policy signs in only with an email");
            if update_email {
                tx.execute(store::users::set_email_statement(&user, &c.email))
                    .await?;
            }
            let role = match id.directory_role.change_for(role) {
                None => role,
                Some(new) => {
                    let changed =
                        change_role_by_directory(tx, &mut writes, a, &user, role, new).await?;
                    if changed { new } else { role }
                }
            };
            // Cached names follow the directory, where it has them; one statement with
            // the last-login update and the verified mark.
            writes.push_returning(store::users::record_login_with_profile_statement(
                &user,
                a.requester.ip,
                id.directory_names
                    .as_ref()
                    .map(|(f, l)| (f.as_str(), l.as_str())),
                c.verified,
            ));
            (user, role, false)
        }
    };
    let session = session::create_statement(ws, &user, a.requester.ip, a.requester.user_agent);
    writes.push(session.statement);
    let label = chosen.map_or("", |c| c.email.as_str());
    writes.push(audit::statement(
        ws,
        Actor::User { id: &user, label },
        p.signed_in_action(),
        label,
        origin,
        details,
    ));
    if let Some(s) = &a.on_success {
        writes.push(s.clone());
    }
    let row = tx.batch(writes).await?;
    Ok(Written::SignedIn {
        landing: landing(role, provisioned, a.return_to),
        user,
        token: session.token,
        row: row.map(|u| {
            (
                std::sync::Arc::new(u),
                session.created_at,
                session.expires_at,
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_rule_is_one_table() {
        let back = ReturnTo::parse("/admin/audit-log").unwrap();
        // (role, provisioned by this sign-in, return_to, expected)
        let cases = [
            (Role::Employee, true, None, "/my/dashboard"),
            (Role::Employee, false, None, "/my/dashboard"),
            (Role::Admin, false, None, "/admin/dashboard"),
            (Role::SuperAdmin, false, None, "/admin/dashboard"),
            (Role::Admin, true, None, "/my/dashboard"),
            (Role::Employee, true, Some(&back), "/admin/audit-log"),
            (Role::SuperAdmin, false, Some(&back), "/admin/audit-log"),
        ];
        for (role, provisioned, return_to, want) in cases {
            assert_eq!(
                landing(role, provisioned, return_to),
                want,
                "{role:?} {provisioned}"
            );
        }
    }
}
