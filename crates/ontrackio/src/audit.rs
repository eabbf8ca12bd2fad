//! The audit trail's vocabulary and the one function that writes it.

use crate::domain::{UserId, WorkspaceId};
use crate::store::{self, Conn};

/// Action texts as admins read them in Admin → Audit log (and filter on).
pub mod actions {
    pub const PASSWORD_SIGN_IN: &str = "User signed in with password";
    pub const PASSWORD_SIGN_IN_FAILED: &str = "Password sign-in failed";
    pub const SIGN_IN_THROTTLED: &str = "Sign-in throttled";
    pub const SIGNED_OUT: &str = "User signed out";
    pub const PASSWORD_SET: &str = "Password set from setup link";
    pub const PASSWORD_SET_BY_OPERATOR: &str = "Password set by an operator";
    pub const SETUP_LINK_CREATED: &str = "Setup link created";
    pub const WORKSPACE_CREATED: &str = "Workspace created";
    pub const USER_INVITED: &str = "User invited";
    pub const ROLE_CHANGED: &str = "Role changed";
    pub const EXTERNAL_CHANGED: &str = "External flag changed";
    pub const USER_DISABLED: &str = "User disabled";
    pub const USER_ENABLED: &str = "User enabled";
    pub const PROFILE_UPDATED: &str = "Profile updated";
    pub const AVATAR_CHANGED: &str = "Avatar changed";
    /// The guide's exact text.
    pub const MICROSOFT_SIGN_IN: &str = "User signed in with Microsoft SSO";
    pub const MICROSOFT_SIGN_IN_REFUSED: &str = "Microsoft sign-in refused";
    pub const MICROSOFT_USER_PROVISIONED: &str = "User provisioned from Microsoft";
    pub const MICROSOFT_ACCOUNT_LINKED: &str = "Microsoft account linked";
}

/// Who did it: a signed-in user, or a named system actor (the CLI, the sign-in page).
pub enum Actor<'a> {
    User { id: &'a UserId, label: &'a str },
    System(&'a str),
}

/// Request context worth keeping with the event.
#[derive(Clone, Default)]
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn record(
    conn: &mut Conn,
    workspace: &WorkspaceId,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    origin: Origin<'_>,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    statement(workspace, actor, action, target, origin, details)
        .execute(conn)
        .await
}

/// [`record`] as a statement, for writes sent together in a
/// [`Batch`](crate::store::batch::Batch).
pub fn statement(
    workspace: &WorkspaceId,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    origin: Origin<'_>,
    details: serde_json::Value,
) -> store::batch::Statement {
    let (actor_id, actor_label) = match actor {
        Actor::User { id, label } => (Some(id), label),
        Actor::System(label) => (None, label),
    };
    let target: String = target.chars().take(320).collect();
    store::audit::record_statement(store::audit::NewEvent {
        workspace,
        actor_id,
        actor_label,
        action,
        target: &target,
        ip: origin.ip,
        user_agent: origin.user_agent,
        details,
    })
}
