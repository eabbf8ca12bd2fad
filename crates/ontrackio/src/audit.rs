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
    /// A sign-in brought a role from the directory (the exact words).
    pub const ROLE_CHANGED_BY_DIRECTORY: &str = "Role changed by directory";
    pub const ROLE_CHANGE_BY_DIRECTORY_REFUSED: &str = "Role change by directory refused";
    pub const GOOGLE_SIGN_IN: &str = "User signed in with Google SSO";
    pub const GOOGLE_SIGN_IN_REFUSED: &str = "Google sign-in refused";
    pub const GOOGLE_USER_PROVISIONED: &str = "User provisioned from Google";
    pub const GOOGLE_ACCOUNT_LINKED: &str = "Google account linked";
    /// The exact words.
    pub const SAML_SIGN_IN: &str = "User signed in with SAML SSO";
    pub const SAML_SIGN_IN_REFUSED: &str = "SAML sign-in refused";
    pub const SAML_USER_PROVISIONED: &str = "User provisioned from SAML";
    pub const SAML_ACCOUNT_LINKED: &str = "SAML account linked";
    /// A super-admin's Test sign-in on the SAML card: nobody was signed in.
    pub const SAML_TEST_SIGN_IN: &str = "SAML test sign-in";
    /// A super-admin saved the SAML card (the changed fields in the details, never values).
    pub const SAML_SETTINGS_SAVED: &str = "SAML settings saved";
    /// SCIM provisioning (the words), under the actor [`super::SCIM_ACTOR`].
    pub const SCIM_PROVISIONED: &str = "Provisioned by SCIM";
    pub const SCIM_DEPROVISIONED: &str = "Deprovisioned by SCIM";
    pub const SCIM_REPROVISIONED: &str = "Reprovisioned by SCIM";
    pub const SCIM_UPDATED: &str = "Updated by SCIM";
    pub const SCIM_DELETED: &str = "Deleted by SCIM";
    pub const SCIM_ROLE_CHANGED: &str = "Role changed by SCIM";
    pub const SCIM_GROUP_CREATED: &str = "Group provisioned by SCIM";
    pub const SCIM_GROUP_UPDATED: &str = "Group updated by SCIM";
    pub const SCIM_GROUP_DELETED: &str = "Group deleted by SCIM";
    pub const SCIM_TOKEN_CREATED: &str = "SCIM token created";
    pub const SCIM_TOKEN_ROTATED: &str = "SCIM token rotated";
    pub const SCIM_TOKEN_REVOKED: &str = "SCIM token revoked";
    pub const SCIM_MAPPING_SAVED: &str = "SCIM group mapping saved";
    /// A request with a missing or wrong token (the first of each minute per workspace).
    pub const SCIM_REQUEST_REFUSED: &str = "SCIM request refused";

    /// An accounts-service change made through SCIM, in SCIM's words.
    pub fn by_scim(action: &'static str) -> &'static str {
        match action {
            USER_INVITED => SCIM_PROVISIONED,
            USER_DISABLED => SCIM_DEPROVISIONED,
            USER_ENABLED => SCIM_REPROVISIONED,
            ROLE_CHANGED => SCIM_ROLE_CHANGED,
            PROFILE_UPDATED => SCIM_UPDATED,
            other => other,
        }
    }
}

/// The actor of every change SCIM provisioning makes.
pub const SCIM_ACTOR: &str = "SCIM";

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

/// Refusals that anyone can cause without signing in (a forged or replayed sign-in
/// callback, say) must not let them fill the audit log: per workspace and kind, the first
/// refusal of each minute is written, and the ones after it only counted; the next row of
/// that kind says how many were left out. Per node, in memory: the number of rows is
/// bounded by nodes × workspaces × kinds per minute, whatever the traffic.
pub struct Coalescer {
    window_secs: i64,
    seen: parking_lot::Mutex<std::collections::HashMap<(String, &'static str), Window>>,
}

struct Window {
    started: i64,
    left_out: u64,
}

/// Most entries a node keeps; past it, entries of finished windows are dropped first.
const COALESCER_ENTRIES: usize = 10_000;

impl Coalescer {
    pub fn new(window_secs: i64) -> Self {
        Self {
            window_secs,
            seen: Default::default(),
        }
    }

    /// `Some(n)`: write the row now, noting the `n` similar ones left out since the last
    /// row of this kind; `None`: only counted.
    pub fn admit(&self, workspace: &WorkspaceId, kind: &'static str, now: i64) -> Option<u64> {
        let mut seen = self.seen.lock();
        if seen.len() >= COALESCER_ENTRIES {
            let window = self.window_secs;
            seen.retain(|_, w| now - w.started < window);
            if seen.len() >= COALESCER_ENTRIES {
                // Only live windows of distinct workspaces: start over rather than grow.
                seen.clear();
            }
        }
        match seen.entry((workspace.as_str().to_string(), kind)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Window {
                    started: now,
                    left_out: 0,
                });
                Some(0)
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let w = o.get_mut();
                if now - w.started >= self.window_secs {
                    let left_out = std::mem::take(&mut w.left_out);
                    w.started = now;
                    Some(left_out)
                } else {
                    w.left_out += 1;
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_of_each_kind_per_window_is_written_and_the_rest_counted() {
        let c = Coalescer::new(60);
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        assert_eq!(c.admit(&a, "state", 1000), Some(0));
        for t in 1001..1050 {
            assert_eq!(c.admit(&a, "state", t), None);
        }
        // Another kind, another workspace: their own first rows.
        assert_eq!(c.admit(&a, "malformed", 1001), Some(0));
        assert_eq!(c.admit(&b, "state", 1001), Some(0));
        // The next window's first row says how many were left out.
        assert_eq!(c.admit(&a, "state", 1060), Some(49));
        assert_eq!(c.admit(&a, "state", 1061), None);
        assert_eq!(c.admit(&a, "state", 1200), Some(1));
    }
}
