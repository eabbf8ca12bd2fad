//! The changes SCIM provisioning makes, with the same rules as every other caller: SCIM
//! acts as [`Acting::Scim`] (an admin's authority, never a super-admin's), so the service's
//! own checks refuse it a super-admin grant, or disabling or demoting a super-admin; it
//! only ever creates employees. Each change is one transaction and one audit row in SCIM's
//! words ("Provisioned by SCIM", "Deprovisioned by SCIM", …).
//!
//! Linking: Entra sends the user's object id as `externalId`. It is kept on SCIM's record of
//! the user, and when the workspace's Microsoft sign-in pins one tenant (the customer's own
//! directory, the same condition under which the identity policy trusts that directory's
//! email addresses), it is also written as the user's Microsoft identity (`tid` = that
//! tenant, `oid` = `externalId`), so the first sign-in matches by (`tid`, `oid`) like any
//! linked account. Under `common` or with no tenant pinned nothing is linked: the first
//! sign-in matches by verified email, exactly as without SCIM (the nOAuth rule holds).

use super::{AccountError, Accounts, Acting, By, Outcome, disable_in, find_target, record};
use crate::audit::actions;
use crate::auth::role_mapping::{RoleMapping, Values};
use crate::domain::{EmailAddress, Role, UserId, UserStatus};
use crate::store::{self, Tx, scim::Group, workspaces::Workspace};

/// A user Entra creates.
pub struct ScimProvision<'a> {
    pub email: &'a EmailAddress,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub external_id: Option<&'a str>,
    pub active: bool,
    /// The Microsoft tenant the workspace pins, if it pins one: `externalId` is linked as
    /// the user's identity in it.
    pub link_tenant: Option<&'a str>,
}

/// Attributes Entra changes; `None` leaves one as it is.
#[derive(Default)]
pub struct ScimProfile<'a> {
    pub email: Option<&'a EmailAddress>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    /// `Some(None)` removes it.
    pub external_id: Option<Option<&'a str>>,
    pub link_tenant: Option<&'a str>,
}

fn scim_by<'a>(by: &By<'a>) -> Result<(), AccountError> {
    // Only SCIM uses these: a slip elsewhere must not pass an operator's authority here.
    match by.acting {
        Acting::Scim => Ok(()),
        _ => Err(AccountError::Internal(anyhow::anyhow!(
            "SCIM changes are made by the SCIM actor only"
        ))),
    }
}

/// The Microsoft identity for `externalId` in the pinned tenant, unless the user has one
/// in that tenant already (a sign-in linked it: the directory's own answer stands). An
/// identity held by someone else is a conflict.
async fn link(
    tx: &mut Tx,
    ws: &Workspace,
    user: &UserId,
    tenant: Option<&str>,
    external_id: Option<&str>,
) -> Result<(), AccountError> {
    let (Some(tenant), Some(oid)) = (tenant, external_id) else {
        return Ok(());
    };
    // A super-admin's sign-in is theirs to link: a SCIM token must not be a way to reach
    // a super-admin's account through an identity of the token holder's choosing.
    if store::users::find_by_id(&mut **tx, &ws.id, user)
        .await?
        .is_some_and(|u| u.role == Role::SuperAdmin)
    {
        return Ok(());
    }
    let Ok(oid_uuid) = uuid::Uuid::try_parse(oid) else {
        // Entra's object ids are GUIDs; anything else is not one to link.
        return Ok(());
    };
    let oid = oid_uuid.to_string();
    match store::user_identities::find_user(&mut **tx, &ws.id, "microsoft", tenant, &oid).await? {
        Some(u) if u.id == *user => return Ok(()),
        Some(_) => return Err(AccountError::ExternalIdTaken(oid)),
        None => {}
    }
    if store::scim::has_identity_in(&mut **tx, user, "microsoft", tenant).await? {
        return Ok(());
    }
    store::user_identities::insert(&mut **tx, &ws.id, user, "microsoft", tenant, &oid).await?;
    Ok(())
}

async fn keep_external_id(
    tx: &mut Tx,
    ws: &Workspace,
    user: &UserId,
    external_id: Option<&str>,
    deleted: bool,
) -> Result<(), AccountError> {
    if let Some(x) = external_id
        && store::scim::external_id_taken(&mut **tx, &ws.id, x, user).await?
    {
        return Err(AccountError::ExternalIdTaken(x.to_string()));
    }
    store::scim::upsert_user(&mut **tx, &ws.id, user, external_id, deleted)
        .await
        .map_err(|e| match store::unique_violation(&e) {
            Some(store::UniqueKey::ScimExternalId) => {
                AccountError::ExternalIdTaken(external_id.unwrap_or_default().to_string())
            }
            _ => e.into(),
        })
}

impl Accounts<'_> {
    /// Creates a user from the directory: always an employee, `invited` until their first
    /// sign-in (or `disabled` when Entra creates them inactive). A user SCIM deleted earlier
    /// with the same email comes back (enabled, SCIM's record restored) instead of a
    /// conflict: Entra re-creates users who come back in scope.
    pub async fn scim_provision(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        new: ScimProvision<'_>,
    ) -> Result<UserId, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        if let Some(existing) = store::users::find_by_email(&mut *tx, &ws.id, new.email).await? {
            let deleted = matches!(
                store::scim::record_of(&mut *tx, &existing.id).await?,
                Some((_, true))
            );
            if !deleted {
                return Err(AccountError::AlreadyUser(new.email.to_string()));
            }
            return self.scim_recreate(tx, by, ws, existing, new).await;
        }
        let status = if new.active {
            UserStatus::Invited
        } else {
            UserStatus::Disabled
        };
        let id = store::users::insert(
            &mut *tx,
            &ws.id,
            store::users::NewUser {
                email: new.email,
                first_name: new.first_name,
                last_name: new.last_name,
                role: Role::Employee,
                external: false,
                status,
                email_verified: false,
                password_hash: None,
            },
        )
        .await
        .map_err(|e| AccountError::from_insert(e, new.email.as_str()))?;
        keep_external_id(&mut tx, ws, &id, new.external_id, false).await?;
        link(&mut tx, ws, &id, new.link_tenant, new.external_id).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::USER_INVITED,
            new.email.as_str(),
            serde_json::json!({
                "role": Role::Employee.as_str(),
                "status": status.as_str(),
                "external_id": new.external_id,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn scim_recreate(
        &self,
        mut tx: Tx,
        by: &By<'_>,
        ws: &Workspace,
        existing: store::users::User,
        new: ScimProvision<'_>,
    ) -> Result<UserId, AccountError> {
        let id = existing.id.clone();
        // Two re-creations at once: the workspace row serialises them (as every change
        // that must see another does), and the second finds the user no longer deleted.
        store::workspaces::lock(&mut *tx, &ws.id).await?;
        if !matches!(
            store::scim::record_of(&mut *tx, &id).await?,
            Some((_, true))
        ) {
            return Err(AccountError::AlreadyUser(new.email.to_string()));
        }
        store::users::set_names(&mut *tx, &id, new.first_name, new.last_name).await?;
        keep_external_id(&mut tx, ws, &id, new.external_id, false).await?;
        link(&mut tx, ws, &id, new.link_tenant, new.external_id).await?;
        let mut status = existing.status;
        if new.active
            && existing.status == UserStatus::Disabled
            && existing.role != Role::SuperAdmin
        {
            status = if store::users::can_sign_in(&mut *tx, &id).await? {
                UserStatus::Active
            } else {
                UserStatus::Invited
            };
            store::users::set_status(&mut *tx, &id, status).await?;
        }
        record(
            &mut tx,
            &ws.id,
            by,
            actions::USER_INVITED,
            &existing.email,
            serde_json::json!({
                "recreated": true,
                "status": status.as_str(),
                "external_id": new.external_id,
            }),
        )
        .await?;
        self.commit(tx, &id).await?;
        Ok(id)
    }

    /// Changes what the directory says of a user: names, email, `externalId`. A
    /// super-admin's email is theirs to change, not the directory's.
    pub async fn scim_update(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        p: ScimProfile<'_>,
    ) -> Result<Outcome, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        let target = find_target(&mut tx, ws, user).await?;
        let mut fields: Vec<&str> = Vec::new();
        if let Some(email) = p.email
            && email.normalized() != target.email.to_ascii_lowercase().as_str()
        {
            if target.role == Role::SuperAdmin {
                return Err(AccountError::SuperAdminOnlyChange);
            }
            store::users::set_email(&mut *tx, user, email)
                .await
                .map_err(|e| AccountError::from_insert(e, email.as_str()))?;
            fields.push("email");
        } else if let Some(email) = p.email
            && email.as_str() != target.email
        {
            // Only the letter case differs: follow the directory.
            store::users::set_email(&mut *tx, user, email).await?;
            fields.push("email");
        }
        let first = p.first_name.unwrap_or(&target.first_name);
        let last = p.last_name.unwrap_or(&target.last_name);
        if first != target.first_name || last != target.last_name {
            store::users::set_names(&mut *tx, user, first, last).await?;
            if first != target.first_name {
                fields.push("first_name");
            }
            if last != target.last_name {
                fields.push("last_name");
            }
        }
        let record_now = store::scim::record_of(&mut *tx, user).await?;
        let current_external = record_now.as_ref().and_then(|(x, _)| x.clone());
        let external_id = match p.external_id {
            Some(x) => x.map(str::to_string),
            None => current_external.clone(),
        };
        if external_id != current_external || record_now.is_none() {
            keep_external_id(&mut tx, ws, user, external_id.as_deref(), false).await?;
            if external_id != current_external {
                fields.push("external_id");
            }
        }
        link(&mut tx, ws, user, p.link_tenant, external_id.as_deref()).await?;
        if fields.is_empty() {
            tx.commit().await?;
            return Ok(Outcome::Unchanged);
        }
        record(
            &mut tx,
            &ws.id,
            by,
            actions::PROFILE_UPDATED,
            &target.email,
            serde_json::json!({"fields": fields, "external_id": external_id}),
        )
        .await?;
        self.commit(tx, user).await
    }

    /// `active = false` (or a DELETE, `delete`): the user is disabled through the same rule
    /// as every disabling, every session ends on every node; a DELETE also hides the user
    /// from SCIM (404 from then on) while the account and its history stay.
    pub async fn scim_deprovision(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        delete: bool,
    ) -> Result<Outcome, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        let details = serde_json::json!({"scim_delete": delete});
        let disabled = disable_in(&mut tx, by, ws, user, details).await?;
        let mut changed = disabled.outcome == Outcome::Changed;
        if delete {
            let (external_id, was_deleted) = store::scim::record_of(&mut *tx, user)
                .await?
                .unwrap_or((None, false));
            if !was_deleted {
                store::scim::upsert_user(&mut *tx, &ws.id, user, external_id.as_deref(), true)
                    .await?;
                if !changed {
                    let target = find_target(&mut tx, ws, user).await?;
                    record(
                        &mut tx,
                        &ws.id,
                        by,
                        actions::SCIM_DELETED,
                        &target.email,
                        serde_json::json!({"status": target.status.as_str()}),
                    )
                    .await?;
                    changed = true;
                }
            }
        }
        if !changed {
            return Ok(Outcome::Unchanged);
        }
        self.commit(tx, user).await
    }

    /// The role a user's groups map to, applied through [`Accounts::set_role`] (so never
    /// super-admin, and never a super-admin's role). An empty mapping decides nothing.
    pub async fn scim_sync_role(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        user: &UserId,
        mapping: &RoleMapping,
    ) -> Result<Outcome, AccountError> {
        scim_by(by)?;
        if mapping.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let target = match store::users::find_by_id(self.db.pool(), &ws.id, user).await? {
            Some(u) => u,
            None => return Ok(Outcome::Unchanged),
        };
        let groups = store::scim::groups_of(self.db.pool(), user).await?;
        let values = group_values(&groups);
        let Some(role) = mapping
            .resolve(Values::Known(&values))
            .change_for(target.role)
        else {
            return Ok(Outcome::Unchanged);
        };
        if role == Role::SuperAdmin {
            return Err(AccountError::SuperAdminOnly);
        }
        self.set_role(by, ws, user, role).await
    }

    /// A group from the directory, with its first members.
    pub async fn scim_create_group(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        display_name: &str,
        external_id: Option<&str>,
        members: &[UserId],
    ) -> Result<Group, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        let group = store::scim::insert_group(&mut *tx, &ws.id, display_name, external_id)
            .await
            .map_err(|e| AccountError::from_insert(e, display_name))?;
        let added = add_members(&mut tx, ws, &group.id, members).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::SCIM_GROUP_CREATED,
            display_name,
            serde_json::json!({"external_id": external_id, "members_added": added}),
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Renames a group and adds and removes members, in one change.
    #[allow(clippy::too_many_arguments)]
    pub async fn scim_update_group(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        group: &str,
        display_name: Option<&str>,
        external_id: Option<Option<&str>>,
        add: &[UserId],
        remove: GroupRemoval<'_>,
    ) -> Result<Outcome, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        let g = store::scim::find_group(&mut *tx, &ws.id, group)
            .await?
            .ok_or_else(|| AccountError::NoSuchGroup(group.to_string()))?;
        let mut details = serde_json::json!({});
        if let Some(name) = display_name
            && name != g.display_name
        {
            store::scim::rename_group(&mut *tx, &g.id, name)
                .await
                .map_err(|e| AccountError::from_insert(e, name))?;
            details["renamed"] = serde_json::json!({"from": g.display_name, "to": name});
        }
        if let Some(x) = external_id
            && x != g.external_id.as_deref()
        {
            store::scim::set_group_external_id(&mut *tx, &g.id, x).await?;
            details["external_id"] = x.into();
        }
        // Removals first: a `replace` of members removes everyone, then adds the new list.
        let removed = match remove {
            GroupRemoval::Some(ids) => {
                let mut removed = Vec::new();
                for id in ids {
                    if store::scim::remove_member(&mut *tx, &g.id, id).await? {
                        removed.push(id.as_str().to_string());
                    }
                }
                removed
            }
            GroupRemoval::All => {
                let all = store::scim::members(&mut *tx, &g.id).await?;
                for (id, _) in &all {
                    store::scim::remove_member(&mut *tx, &g.id, id).await?;
                }
                all.into_iter()
                    .map(|(id, _)| id.as_str().to_string())
                    .collect()
            }
        };
        let added = add_members(&mut tx, ws, &g.id, add).await?;
        if !added.is_empty() {
            details["members_added"] = added.into();
        }
        if !removed.is_empty() {
            details["members_removed"] = removed.into();
        }
        if details.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(Outcome::Unchanged);
        }
        let name = display_name.unwrap_or(&g.display_name).to_string();
        record(
            &mut tx,
            &ws.id,
            by,
            actions::SCIM_GROUP_UPDATED,
            &name,
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(Outcome::Changed)
    }

    /// Deletes a group; returns its former members (whose roles the caller re-derives).
    pub async fn scim_delete_group(
        &self,
        by: &By<'_>,
        ws: &Workspace,
        group: &str,
    ) -> Result<Vec<UserId>, AccountError> {
        scim_by(by)?;
        let mut tx = self.db.begin().await?;
        let g = store::scim::find_group(&mut *tx, &ws.id, group)
            .await?
            .ok_or_else(|| AccountError::NoSuchGroup(group.to_string()))?;
        let members = store::scim::members(&mut *tx, &g.id).await?;
        store::scim::delete_group(&mut *tx, &g.id).await?;
        record(
            &mut tx,
            &ws.id,
            by,
            actions::SCIM_GROUP_DELETED,
            &g.display_name,
            serde_json::json!({"members": members.len()}),
        )
        .await?;
        tx.commit().await?;
        Ok(members.into_iter().map(|(id, _)| id).collect())
    }
}

/// Which members a group change removes.
pub enum GroupRemoval<'a> {
    Some(&'a [UserId]),
    /// `remove` of `members` with no filter and no value: every member (RFC 7644 §3.5.2.2).
    All,
}

/// What the mapping matches a group by: its display name, Entra's object id (the group's
/// `externalId`), and our own id.
pub fn group_values(groups: &[Group]) -> Vec<String> {
    let mut values = Vec::with_capacity(groups.len() * 3);
    for g in groups {
        values.push(g.display_name.clone());
        if let Some(x) = &g.external_id {
            values.push(x.clone());
        }
        values.push(g.id.clone());
    }
    values
}

async fn add_members(
    tx: &mut Tx,
    ws: &Workspace,
    group: &str,
    members: &[UserId],
) -> Result<Vec<String>, AccountError> {
    let mut added = Vec::new();
    for id in members {
        // A member must be a user of this workspace that SCIM can see.
        if store::scim::find_user(&mut **tx, &ws.id, id)
            .await?
            .is_none()
        {
            return Err(AccountError::NoSuchUser(id.to_string()));
        }
        if store::scim::add_member(&mut **tx, group, id).await? {
            added.push(id.as_str().to_string());
        }
    }
    Ok(added)
}
