//! Why the accounts service said no. The text is what the CLI prints and Admin → Users
//! shows, word for word.

use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("There is no workspace named {0}.")]
    NoSuchWorkspace(String),
    #[error("A workspace named {0} already exists.")]
    WorkspaceExists(String),
    #[error("{0} is not a user of this workspace.")]
    NoSuchUser(String),
    #[error("{0} is already a user of this workspace.")]
    AlreadyUser(String),
    #[error("Another user of this workspace has the external id {0}.")]
    ExternalIdTaken(String),
    #[error("A group named {0} already exists.")]
    GroupExists(String),
    #[error("There is no group {0}.")]
    NoSuchGroup(String),
    #[error("Only a super-admin can grant or remove the super-admin role.")]
    SuperAdminOnly,
    #[error("Only a super-admin can change another super-admin's account.")]
    SuperAdminOnlyChange,
    #[error("{0} is the last active super-admin. Make someone else a super-admin first.")]
    LastSuperAdminRole(String),
    #[error("{0} is the last active super-admin and cannot be disabled.")]
    LastSuperAdminDisable(String),
    #[error("Only an operator of the deployment can set another person's password.")]
    OperatorOnly,
    #[error("You cannot disable your own account.")]
    SelfDisable,
    #[error(
        "This setup link has expired or was already used. Ask your workspace admin for a new one."
    )]
    SetupLinkInvalid,
    /// The database or the password hasher failed: not the caller's doing.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("Database request failed"))
    }
}

impl AccountError {
    /// A refusal the person can act on, as opposed to a failure of ours.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Internal(_))
    }

    /// An insert that a unique constraint refused, by the constraint's name.
    pub(super) fn from_insert(e: sqlx::Error, what: &str) -> Self {
        match store::unique_violation(&e) {
            Some(store::UniqueKey::WorkspaceSlug) => Self::WorkspaceExists(what.to_string()),
            Some(store::UniqueKey::UserEmail) => Self::AlreadyUser(what.to_string()),
            Some(store::UniqueKey::ScimGroupName) => Self::GroupExists(what.to_string()),
            _ => e.into(),
        }
    }
}
