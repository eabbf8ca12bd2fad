//! The accounts service: every change to a workspace's people goes through here, whoever
//! asks for it (the CLI, Admin → Users, the demo's seeding, a setup link, the tests), so
//! each rule exists once:
//!
//! - only a super-admin grants or removes super-admin (or disables or enables one);
//! - the workspace always keeps one *active* super-admin who can sign in (a password or a
//!   linked identity; an invited one with no password does not count);
//! - disabling ends every session, on every node; a password set through a setup link ends
//!   the user's other sessions;
//! - enabling restores `active` when the user can sign in, `invited` otherwise;
//! - a change that changes nothing writes nothing; every change writes exactly one audit row.
//!
//! The callers only parse their input and show the outcome; refusals are [`AccountError`]s
//! whose text is the same on every surface.

mod error;
mod scim;

use crate::auth::session_cache::Ticket;
use secrecy::SecretString;

use crate::audit::{self, Actor, Origin, actions};
use crate::auth::password;
use crate::crypto::{hash_token, random_token};
use crate::domain::{EmailAddress, PersonName, Role, UserId, UserStatus, WorkspaceSlug};
use crate::store::{self, Db, Tx, users::User, workspaces::Workspace};

pub use error::AccountError;
pub use scim::{GroupRemoval, ScimProfile, ScimProvision, group_values};

/// How long a setup link works.
pub const SETUP_LINK_SECS: i64 = 24 * 3600;

/// Told after every committed change to a user, so that caches of their sessions (this
/// process's, or a running server's on the same SQLite file) reread them at once.
pub trait ChangeNotifier: Send + Sync {
    fn user_changed(&self, user: &UserId);

    /// Taken before a transaction that reads its user back (see
    /// [`ChangeNotifier::own_write_committed`]); `None` without a cache.
    fn ticket(&self) -> Option<Ticket> {
        None
    }

    /// [`ChangeNotifier::user_changed`] after such a transaction committed: answers the
    /// ticket with which the row it read back may be kept, if it may
    /// ([`SessionCache::forget_own_write`](crate::auth::session_cache::SessionCache::forget_own_write)).
    fn own_write_committed(&self, user: &UserId, since: Option<Ticket>) -> Option<Ticket> {
        let _ = since;
        self.user_changed(user);
        None
    }
}

/// For callers with no cache to tell (seeding before the server starts).
pub struct NoCache;

impl ChangeNotifier for NoCache {
    fn user_changed(&self, _: &UserId) {}
}

impl<V: Send + Sync> ChangeNotifier for crate::auth::session_cache::SessionCache<V> {
    fn user_changed(&self, user: &UserId) {
        self.forget_user(user);
    }

    fn ticket(&self) -> Option<Ticket> {
        Some(crate::auth::session_cache::SessionCache::ticket(self))
    }

    fn own_write_committed(&self, user: &UserId, since: Option<Ticket>) -> Option<Ticket> {
        match since {
            Some(since) => self.forget_own_write(user, since),
            None => {
                self.forget_user(user);
                None
            }
        }
    }
}

/// Who asks for a change.
#[derive(Clone, Copy)]
pub enum Acting<'a> {
    /// Someone with access to the deployment itself (the CLI, the demo's seeding): the
    /// workspace's rules still hold, but no role is needed.
    Operator(&'static str),
    /// A signed-in user of the workspace, with their role.
    User {
        id: &'a UserId,
        label: &'a str,
        role: Role,
    },
    /// The workspace's directory through SCIM provisioning (a bearer token a super-admin
    /// made): an admin's authority, never a super-admin's, and its own words in the audit
    /// log ("Provisioned by SCIM", …) under the actor "SCIM".
    Scim,
}

impl<'a> Acting<'a> {
    pub fn user(user: &'a User) -> Self {
        Self::User {
            id: &user.id,
            label: &user.email,
            role: user.role,
        }
    }
    fn actor(self) -> Actor<'a> {
        match self {
            Self::Operator(label) => Actor::System(label),
            Self::User { id, label, .. } => Actor::User { id, label },
            Self::Scim => Actor::System(audit::SCIM_ACTOR),
        }
    }
    fn is_super_admin(self) -> bool {
        match self {
            Self::Operator(_) => true,
            Self::User { role, .. } => role == Role::SuperAdmin,
            Self::Scim => false,
        }
    }
    fn is(self, user: &UserId) -> bool {
        matches!(self, Self::User { id, .. } if id == user)
    }
    /// The audit text of a change, in the words of whoever made it.
    fn action(self, action: &'static str) -> &'static str {
        match self {
            Self::Scim => actions::by_scim(action),
            _ => action,
        }
    }
}

/// A request for a change: who, and from where (kept in the audit row).
#[derive(Clone)]
pub struct By<'a> {
    pub acting: Acting<'a>,
    pub origin: Origin<'a>,
}

impl<'a> By<'a> {
    pub fn operator(label: &'static str) -> Self {
        Self {
            acting: Acting::Operator(label),
            origin: Origin::default(),
        }
    }
}

/// Whether a request changed anything (a no-op writes nothing, not even an audit row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
}

pub struct NewWorkspace<'a> {
    pub slug: &'a WorkspaceSlug,
    pub name: &'a str,
    pub super_admin: &'a EmailAddress,
    /// The super-admin's password; without one a setup link is made.
    pub password: Option<SecretString>,
}

pub struct CreatedWorkspace {
    pub workspace: Workspace,
    pub super_admin: UserId,
    /// The setup link's token, when no password was given.
    pub setup_token: Option<String>,
}

pub struct Invitation<'a> {
    pub email: &'a EmailAddress,
    pub first_name: &'a PersonName,
    pub last_name: &'a PersonName,
    pub role: Role,
    pub external: bool,
}

/// What disabling did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disabled {
    pub outcome: Outcome,
    pub sessions_ended: u64,
}

pub struct Accounts<'a> {
    db: &'a Db,
    notify: &'a dyn ChangeNotifier,
}

impl<'a> Accounts<'a> {
    pub fn new(db: &'a Db, notify: &'a dyn ChangeNotifier) -> Self {
        Self { db, notify }
    }

    pub async fn find_workspace(&self, slug: &WorkspaceSlug) -> Result<Workspace, AccountError> {
        store::workspaces::find_by_slug(self.db.pool(), slug.as_str())
            .await?
            .ok_or_else(|| AccountError::NoSuchWorkspace(slug.to_string()))
    }

    pub async fn find_user(
        &self,
        ws: &Workspace,
        email: &EmailAddress,
    ) -> Result<User, AccountError> {
        store::users::find_by_email(self.db.pool(), &ws.id, email)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(email.to_string()))
    }

    /// A workspace and its first super-admin, in one transaction.
    pub async fn create_workspace(
        &self,
        by: &By<'_>,
        new: NewWorkspace<'_>,
    ) -> Result<CreatedWorkspace, AccountError> {
        let hash = match new.password {
            Some(p) => Some(password::hash(p).await?),
            None => None,
        };
        let mut tx = self.db.begin().await?;
        let workspace = store::workspaces::insert(&mut *tx, new.slug, new.name)
            .await
            .map_err(|e| AccountError::from_insert(e, new.slug.as_str()))?;
        let status = if hash.is_some() {
            UserStatus::Active
        } else {
            UserStatus::Invited
        };
        let super_admin = store::users::insert(
            &mut *tx,
            &workspace.id,
            store::users::NewUser {
                email: new.super_admin,
                first_name: "",
                last_name: "",
                role: Role::SuperAdmin,
                external: false,
                status,
                email_verified: false,
                password_hash: hash.as_deref(),
            },
        )
        .await?;
        let setup_token = match hash {
            Some(_) => None,
            None => Some(insert_setup_token(&mut tx, &super_admin).await?),
        };
        record(
            &mut tx,
            &workspace.id,
            by,
            actions::WORKSPACE_CREATED,
            new.slug.as_str(),
            serde_json::json!({"super_admin": new.super_admin.as_str()}),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedWorkspace {
            workspace,
            super_admin,
            setup_token,
        })
    }

    /// Invites a user (status `invited` until their first sign-in or password).
    pub async fn invite(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        new: Invitation<'_>,
    ) -> Result<UserId, AccountError> {
        if new.role == Role::SuperAdmin && !by.acting.is_super_admin() {
            return Err(AccountError::SuperAdminOnly);
        }
        let mut tx = self.db.begin().await?;
        let id = store::users::insert(
            &mut *tx,
            &ws.id,
            store::users::NewUser {
                email: new.email,
                first_name: new.first_name.as_str(),
                last_name: new.last_name.as_str(),
                role: new.role,
                external: new.external,
                status: UserStatus::Invited,
                email_verified: false,
                password_hash: None,
            },
        )
        .await
        .map_err(|e| AccountError::from_insert(e, new.email.as_str()))?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::USER_INVITED,
            new.email.as_str(),
            serde_json::json!({"role": new.role.as_str(), "external": new.external}),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn set_role(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        role: Role,
    ) -> Result<Outcome, AccountError> {
        let mut tx = self.db.begin().await?;
        let target = locked_target(&mut tx, ws, user).await?;
        let acting = current(&mut tx, ws, by.acting).await?;
        if (role == Role::SuperAdmin || target.role == Role::SuperAdmin) && !acting.is_super_admin()
        {
            return Err(AccountError::SuperAdminOnly);
        }
        if role == target.role {
            return Ok(Outcome::Unchanged);
        }
        if target.role == Role::SuperAdmin && !another_super_admin_remains(&mut tx, &target).await?
        {
            return Err(AccountError::LastSuperAdminRole(target.email));
        }
        store::users::set_role(&mut *tx, &target.id, role).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::ROLE_CHANGED,
            &target.email,
            serde_json::json!({"from": target.role.as_str(), "to": role.as_str()}),
        )
        .await?;
        self.commit(tx, &target.id).await
    }

    pub async fn set_external(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        external: bool,
    ) -> Result<Outcome, AccountError> {
        let mut tx = self.db.begin().await?;
        let target = find_target(&mut tx, ws, user).await?;
        let acting = current(&mut tx, ws, by.acting).await?;
        if target.role == Role::SuperAdmin && !acting.is_super_admin() {
            return Err(AccountError::SuperAdminOnlyChange);
        }
        if target.external == external {
            return Ok(Outcome::Unchanged);
        }
        store::users::set_external(&mut *tx, &target.id, external).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::EXTERNAL_CHANGED,
            &target.email,
            serde_json::json!({"from": target.external, "to": external}),
        )
        .await?;
        self.commit(tx, &target.id).await
    }

    /// Disables a user and ends every session they have.
    pub async fn disable(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
    ) -> Result<Disabled, AccountError> {
        let mut tx = self.db.begin().await?;
        let disabled = disable_in(&mut tx, by, ws, user, serde_json::json!({})).await?;
        if disabled.outcome == Outcome::Unchanged {
            return Ok(disabled);
        }
        self.commit(tx, user).await?;
        Ok(disabled)
    }

    /// Enables a disabled user: `active` when they can sign in (a password or a linked
    /// identity), `invited` otherwise.
    pub async fn enable(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
    ) -> Result<Outcome, AccountError> {
        let mut tx = self.db.begin().await?;
        if enable_in(&mut tx, by, ws, user).await? == Outcome::Unchanged {
            return Ok(Outcome::Unchanged);
        }
        self.commit(tx, user).await
    }
}

/// [`Accounts::disable`] inside the caller's transaction (committed by the caller, who
/// then tells the session caches); `details` go into the audit row.
async fn disable_in(
    tx: &mut Tx,
    by: &By<'_>,
    ws: &Workspace,
    user: &UserId,
    mut details: serde_json::Value,
) -> Result<Disabled, AccountError> {
    if by.acting.is(user) {
        return Err(AccountError::SelfDisable);
    }
    let target = locked_target(tx, ws, user).await?;
    let acting = current(tx, ws, by.acting).await?;
    if target.role == Role::SuperAdmin && !acting.is_super_admin() {
        return Err(AccountError::SuperAdminOnlyChange);
    }
    if target.status == UserStatus::Disabled {
        return Ok(Disabled {
            outcome: Outcome::Unchanged,
            sessions_ended: 0,
        });
    }
    if target.role == Role::SuperAdmin && !another_super_admin_remains(tx, &target).await? {
        return Err(AccountError::LastSuperAdminDisable(target.email));
    }
    store::users::set_status(&mut **tx, &target.id, UserStatus::Disabled).await?;
    let sessions_ended = store::sessions::delete_for_user(&mut **tx, &target.id).await?;
    details["sessions_ended"] = sessions_ended.into();
    record(
        tx,
        &ws.id,
        by,
        actions::USER_DISABLED,
        &target.email,
        details,
    )
    .await?;
    Ok(Disabled {
        outcome: Outcome::Changed,
        sessions_ended,
    })
}

/// [`Accounts::enable`] inside the caller's transaction (committed by the caller).
async fn enable_in(
    tx: &mut Tx,
    by: &By<'_>,
    ws: &Workspace,
    user: &UserId,
) -> Result<Outcome, AccountError> {
    {
        let target = find_target(tx, ws, user).await?;
        let acting = current(tx, ws, by.acting).await?;
        if target.role == Role::SuperAdmin && !acting.is_super_admin() {
            return Err(AccountError::SuperAdminOnlyChange);
        }
        if target.status != UserStatus::Disabled {
            return Ok(Outcome::Unchanged);
        }
        let status = if store::users::can_sign_in(&mut **tx, &target.id).await? {
            UserStatus::Active
        } else {
            UserStatus::Invited
        };
        store::users::set_status(&mut **tx, &target.id, status).await?;
        record(
            tx,
            &ws.id,
            by,
            actions::USER_ENABLED,
            &target.email,
            serde_json::json!({"status": status.as_str()}),
        )
        .await?;
        Ok(Outcome::Changed)
    }
}

impl Accounts<'_> {
    /// A new one-time link with which the user chooses a password; returns its token.
    pub async fn setup_link(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
    ) -> Result<String, AccountError> {
        let mut tx = self.db.begin().await?;
        let target = find_target(&mut tx, ws, user).await?;
        let acting = current(&mut tx, ws, by.acting).await?;
        if target.role == Role::SuperAdmin && !acting.is_super_admin() {
            return Err(AccountError::SuperAdminOnlyChange);
        }
        let token = insert_setup_token(&mut tx, &target.id).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::SETUP_LINK_CREATED,
            &target.email,
            serde_json::json!({"valid_hours": SETUP_LINK_SECS / 3600}),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Sets a user's password directly (an operator, or the tests' seeding).
    pub async fn set_password(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        new_password: SecretString,
    ) -> Result<Outcome, AccountError> {
        if !matches!(by.acting, Acting::Operator(_)) {
            return Err(AccountError::OperatorOnly);
        }
        let hash = password::hash(new_password).await?;
        let mut tx = self.db.begin().await?;
        let target = find_target(&mut tx, ws, user).await?;
        let action = actions::PASSWORD_SET_BY_OPERATOR;
        self.store_password(tx, by, ws, &target, &hash, action)
            .await
    }

    /// The setup link's form: the token must be unused, unexpired and of this workspace.
    /// Every session the user had ends (someone else may have known the old password).
    pub async fn set_password_with_link(
        &self,
        ws: &Workspace,
        origin: Origin<'_>,
        token: &str,
        new_password: SecretString,
    ) -> Result<UserId, AccountError> {
        let hash = password::hash(new_password).await?;
        let mut tx = self.db.begin().await?;
        let Some(user_id) = store::setup_tokens::consume(&mut *tx, &hash_token(token)).await?
        else {
            return Err(AccountError::SetupLinkInvalid);
        };
        // A token of another workspace is no token here (and stays unused: no commit).
        let target = store::users::find_by_id(&mut *tx, &ws.id, &user_id)
            .await?
            .ok_or(AccountError::SetupLinkInvalid)?;
        let by = By {
            acting: Acting::user(&target),
            origin,
        };
        self.store_password(tx, &by, ws, &target, &hash, actions::PASSWORD_SET)
            .await?;
        Ok(user_id)
    }

    async fn store_password(
        &self,
        mut tx: Tx,
        by: &By<'_>,
        ws: &Workspace,
        target: &User,
        hash: &str,
        action: &'static str,
    ) -> Result<Outcome, AccountError> {
        store::users::set_password_hash(&mut *tx, &target.id, hash).await?;
        if target.status == UserStatus::Invited {
            store::users::set_status(&mut *tx, &target.id, UserStatus::Active).await?;
        }
        let sessions_ended = store::sessions::delete_for_user(&mut *tx, &target.id).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            action,
            &target.email,
            serde_json::json!({"sessions_ended": sessions_ended}),
        )
        .await?;
        self.commit(tx, &target.id).await
    }

    async fn commit(&self, tx: Tx, user: &UserId) -> Result<Outcome, AccountError> {
        tx.commit().await?;
        self.notify.user_changed(user);
        Ok(Outcome::Changed)
    }
}

/// The change's one audit row, by whoever asked for it.
async fn record(
    tx: &mut Tx,
    workspace: &crate::domain::WorkspaceId,
    by: &By<'_>,
    action: &'static str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        tx,
        workspace,
        by.acting.actor(),
        by.acting.action(action),
        target,
        by.origin.clone(),
        details,
    )
    .await
}

async fn insert_setup_token(tx: &mut Tx, user: &UserId) -> Result<String, sqlx::Error> {
    let token = random_token();
    store::setup_tokens::insert(
        &mut **tx,
        &hash_token(&token),
        user,
        store::now() + SETUP_LINK_SECS,
    )
    .await?;
    Ok(token)
}

async fn find_target(tx: &mut Tx, ws: &Workspace, user: &UserId) -> Result<User, AccountError> {
    store::users::find_by_id(&mut **tx, &ws.id, user)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(user.to_string()))
}

/// The acting user as the database has them now, inside the transaction: a super-admin
/// demoted or disabled a moment ago (by a request that committed first) acts with their
/// new role, not the one their request started with.
async fn current<'a>(
    tx: &mut Tx,
    ws: &Workspace,
    acting: Acting<'a>,
) -> Result<Acting<'a>, AccountError> {
    let Acting::User { id, label, .. } = acting else {
        return Ok(acting);
    };
    let role = match store::users::find_by_id(&mut **tx, &ws.id, id).await? {
        Some(u) if u.status != UserStatus::Disabled => u.role,
        // Disabled or gone since the request began: no authority left beyond an employee's.
        _ => Role::Employee,
    };
    Ok(Acting::User { id, label, role })
}

/// The target of a change that may take away a super-admin. The workspace row is locked
/// first, so two such changes in one workspace run one after the other: otherwise two
/// super-admins demoting each other at the same moment (PostgreSQL, READ COMMITTED) would
/// each still see the other and leave none. On SQLite `BEGIN IMMEDIATE` already serialises
/// writers; the statement is harmless there.
async fn locked_target(tx: &mut Tx, ws: &Workspace, user: &UserId) -> Result<User, AccountError> {
    store::workspaces::lock(&mut **tx, &ws.id).await?;
    find_target(tx, ws, user).await
}

async fn another_super_admin_remains(tx: &mut Tx, target: &User) -> Result<bool, sqlx::Error> {
    Ok(
        store::users::count_other_sign_in_super_admins(&mut **tx, &target.workspace_id, &target.id)
            .await?
            > 0,
    )
}
