//! App roles (`roles`) and group claims (`groups`, and the overage form above 200 groups) in
//! ID tokens, as `docs/spec/entra-roles-groups-msal.md` records them.

use entra_emulator::demo::*;
use entra_emulator::{
    AllowedMemberType, AppRole, Directory, DirectoryError, Group, GroupMembershipClaims,
    JWT_GROUPS_LIMIT,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

async fn claims_of(emu: &entra_emulator::EmulatorHandle, upn: &str) -> Value {
    id_claims(emu, &Authorize::acme(), upn).await
}

fn set_group_claims(emu: &entra_emulator::EmulatorHandle, setting: GroupMembershipClaims) {
    emu.update_directory(|dir| {
        dir.app_mut(DEMO_CLIENT_ID).unwrap().group_membership_claims = setting;
    })
    .unwrap();
}

#[tokio::test]
async fn assigned_roles_are_the_roles_claim_and_users_without_any_get_no_claim() {
    let emu = start().await;
    // Alex: Employee through the "Acme Staff" group, Admin directly; in declaration order.
    let alex = claims_of(&emu, ALEX_UPN).await;
    assert_eq!(alex["roles"], json!([ROLE_EMPLOYEE, ROLE_ADMIN]));
    // Megan only through the group, Sam only directly.
    assert_eq!(
        claims_of(&emu, MEGAN_UPN).await["roles"],
        json!([ROLE_EMPLOYEE])
    );
    assert_eq!(
        claims_of(&emu, SAM_UPN).await["roles"],
        json!([ROLE_EMPLOYEE])
    );
    // No assignment: the claim is left out, never `[]` or `null`.
    let adele = claims_of(&emu, ADELE_UPN).await;
    assert!(adele.get("roles").is_none(), "{adele}");
    // Roles belong to an app: the Acme-only registration declares none.
    let single = id_claims(
        &emu,
        &Authorize::new(ACME_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID),
        ALEX_UPN,
    )
    .await;
    assert!(single.get("roles").is_none(), "{single}");
}

#[tokio::test]
async fn the_roles_claim_sits_in_microsofts_claim_order() {
    let emu = start().await;
    let request = Authorize::acme();
    let body = tokens(&emu, &request, ALEX_UPN).await;
    let payload = body["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let json = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    let rh = json.find("\"rh\"").unwrap();
    let roles = json.find("\"roles\"").unwrap();
    let sub = json.find("\"sub\"").unwrap();
    assert!(rh < roles && roles < sub, "{json}");
}

#[tokio::test]
async fn set_app_roles_changes_the_next_token_demotions_included() {
    let emu = start().await;
    emu.set_app_roles(DEMO_CLIENT_ID, ADELE_UPN, &[ROLE_SUPER_ADMIN])
        .unwrap();
    assert_eq!(
        claims_of(&emu, ADELE_UPN).await["roles"],
        json!([ROLE_SUPER_ADMIN])
    );
    // By object id and by role id, too.
    emu.set_app_roles(DEMO_CLIENT_ID, ALEX_OID, &[ROLE_EMPLOYEE_ID])
        .unwrap();
    // Alex's Admin is gone; Employee held directly and through the group counts once.
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["roles"],
        json!([ROLE_EMPLOYEE])
    );
    emu.set_app_roles(DEMO_CLIENT_ID, ADELE_UPN, &[]).unwrap();
    assert!(claims_of(&emu, ADELE_UPN).await.get("roles").is_none());
}

#[tokio::test]
async fn set_app_roles_refuses_unknown_roles_users_and_apps_and_changes_nothing() {
    let emu = start().await;
    let before = emu
        .directory()
        .app(DEMO_CLIENT_ID)
        .unwrap()
        .role_assignments
        .clone();
    assert!(matches!(
        emu.set_app_roles(DEMO_CLIENT_ID, ALEX_UPN, &["Owner"]),
        Err(DirectoryError::UnknownAppRole { .. })
    ));
    assert!(matches!(
        emu.set_app_roles(DEMO_CLIENT_ID, "nobody@acme.test", &[ROLE_ADMIN]),
        Err(DirectoryError::UnknownUser(_))
    ));
    assert!(matches!(
        emu.set_app_roles(&Uuid::new_v4().to_string(), ALEX_UPN, &[ROLE_ADMIN]),
        Err(DirectoryError::UnknownApp(_))
    ));
    assert_eq!(
        emu.directory()
            .app(DEMO_CLIENT_ID)
            .unwrap()
            .role_assignments,
        before
    );
}

#[tokio::test]
async fn a_disabled_role_stays_with_its_holders_but_can_no_longer_be_assigned() {
    let emu = start().await;
    emu.update_directory(|dir| {
        let app = dir.app_mut(DEMO_CLIENT_ID).unwrap();
        app.app_roles
            .iter_mut()
            .find(|r| r.value == ROLE_ADMIN)
            .unwrap()
            .is_enabled = false;
    })
    .unwrap();
    // "Any previous assignees will still have the app role included in their tokens."
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["roles"],
        json!([ROLE_EMPLOYEE, ROLE_ADMIN])
    );
    // "… it becomes inactive and no longer assignable."
    assert!(matches!(
        emu.set_app_roles(DEMO_CLIENT_ID, ADELE_UPN, &[ROLE_ADMIN]),
        Err(DirectoryError::AppRoleDisabled { .. })
    ));
    assert!(claims_of(&emu, ADELE_UPN).await.get("roles").is_none());
    // Alex keeps it when his assignments are rewritten with it.
    emu.set_app_roles(DEMO_CLIENT_ID, ALEX_UPN, &[ROLE_ADMIN, ROLE_SUPER_ADMIN])
        .unwrap();
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["roles"],
        json!([ROLE_EMPLOYEE, ROLE_ADMIN, ROLE_SUPER_ADMIN])
    );
}

#[tokio::test]
async fn a_guest_holds_the_roles_of_its_guest_object_in_the_resource_tenant_only() {
    let emu = start().await;
    emu.set_app_roles(DEMO_CLIENT_ID, PAT_GUEST_OID, &[ROLE_EMPLOYEE])
        .unwrap();
    // At Acme's authority Pat signs in as the guest object, which holds the role.
    let at_acme = claims_of(&emu, PAT_UPN).await;
    assert_eq!(at_acme["oid"], PAT_GUEST_OID);
    assert_eq!(at_acme["roles"], json!([ROLE_EMPLOYEE]));
    // Through `organizations` Pat lands in Contoso, where nothing is assigned.
    let home = id_claims(
        &emu,
        &Authorize::new("organizations", DEMO_CLIENT_ID),
        PAT_UPN,
    )
    .await;
    assert_eq!(home["tid"], CONTOSO_TENANT_ID);
    assert!(home.get("roles").is_none(), "{home}");
}

fn app(dir: &mut Directory) -> &mut entra_emulator::AppRegistration {
    dir.app_mut(DEMO_CLIENT_ID).unwrap()
}

#[test]
fn role_declarations_and_assignments_are_validated() {
    let refused = |change: &dyn Fn(&mut Directory)| {
        let mut dir = Directory::demo();
        change(&mut dir);
        dir.validate().unwrap_err()
    };
    assert!(matches!(
        refused(&|d| {
            app(d).add_app_role(AppRole::new(Uuid::new_v4(), ROLE_ADMIN, "Again"));
        }),
        DirectoryError::DuplicateAppRole { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            app(d).add_app_role(AppRole::new(Uuid::new_v4(), "Has space", "Bad"));
        }),
        DirectoryError::InvalidAppRoleValue { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            let mut daemon = AppRole::new(Uuid::new_v4(), "Daemon", "Daemon");
            daemon.allowed_member_types = vec![AllowedMemberType::Application];
            app(d)
                .add_app_role(daemon)
                .assign_app_role(id(ADELE_OID), "Daemon");
        }),
        DirectoryError::AppRoleNotForUsers { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            app(d).assign_app_role(Uuid::new_v4(), ROLE_ADMIN);
        }),
        DirectoryError::UnknownAssignee { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            app(d).assign_app_role(id(ALEX_OID), ROLE_ADMIN_ID);
        }),
        DirectoryError::DuplicateAssignment { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            // Contoso's user can't be in an Acme group.
            d.user_mut(id(PAT_OID))
                .unwrap()
                .groups
                .push(id(STAFF_GROUP_ID));
        }),
        DirectoryError::UnknownGroup { .. }
    ));
}

#[tokio::test]
async fn without_group_membership_claims_there_is_no_groups_claim() {
    let emu = start().await;
    let alex = claims_of(&emu, ALEX_UPN).await;
    assert!(alex.get("groups").is_none(), "{alex}");
    assert!(alex.get("_claim_names").is_none());
}

#[tokio::test]
async fn group_membership_claims_picks_which_groups_are_listed() {
    let emu = start().await;
    set_group_claims(&emu, GroupMembershipClaims::SecurityGroup);
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["groups"],
        json!([STAFF_GROUP_ID, IT_ADMINS_GROUP_ID]),
        "security groups only, not the distribution list"
    );
    set_group_claims(&emu, GroupMembershipClaims::All);
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["groups"],
        json!([STAFF_GROUP_ID, IT_ADMINS_GROUP_ID, ANNOUNCEMENTS_GROUP_ID])
    );
    set_group_claims(&emu, GroupMembershipClaims::ApplicationGroup);
    assert_eq!(
        claims_of(&emu, ALEX_UPN).await["groups"],
        json!([STAFF_GROUP_ID]),
        "only groups assigned to the app"
    );
    // In no group at all: no claim.
    let adele = claims_of(&emu, ADELE_UPN).await;
    assert!(adele.get("groups").is_none(), "{adele}");
}

/// Puts Adele in `count` new security groups of Acme and turns `SecurityGroup` on.
fn join_groups(emu: &entra_emulator::EmulatorHandle, count: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    emu.update_directory(|dir| {
        let acme = dir.tenant_mut(id(ACME_TENANT_ID)).unwrap();
        for (n, group) in ids.iter().enumerate() {
            acme.add_group(Group::security(*group, &format!("Group {n}")));
        }
    })
    .unwrap();
    emu.set_groups(ADELE_UPN, &ids).unwrap();
    set_group_claims(emu, GroupMembershipClaims::SecurityGroup);
    ids
}

#[tokio::test]
async fn two_hundred_groups_still_fit_in_the_token() {
    let emu = start().await;
    let ids = join_groups(&emu, JWT_GROUPS_LIMIT);
    let claims = claims_of(&emu, ADELE_UPN).await;
    let groups: Vec<String> = serde_json::from_value(claims["groups"].clone()).unwrap();
    assert_eq!(groups.len(), 200);
    assert_eq!(groups, ids.iter().map(Uuid::to_string).collect::<Vec<_>>());
    assert!(claims.get("_claim_names").is_none());
}

#[tokio::test]
async fn above_two_hundred_groups_the_overage_claim_replaces_groups() {
    let emu = start().await;
    join_groups(&emu, JWT_GROUPS_LIMIT + 1);
    let claims = claims_of(&emu, ADELE_UPN).await;
    assert!(claims.get("groups").is_none(), "no partial list");
    assert_eq!(claims["_claim_names"], json!({"groups": "src1"}));
    assert_eq!(
        claims["_claim_sources"],
        json!({"src1": {"endpoint": format!(
            "https://graph.windows.net/{ACME_TENANT_ID}/users/{ADELE_OID}/getMemberObjects"
        )}})
    );
    // Roles are unaffected by the overage.
    emu.set_app_roles(DEMO_CLIENT_ID, ADELE_UPN, &[ROLE_ADMIN])
        .unwrap();
    assert_eq!(
        claims_of(&emu, ADELE_UPN).await["roles"],
        json!([ROLE_ADMIN])
    );
}

#[tokio::test]
async fn set_groups_refuses_a_group_of_another_tenant() {
    let emu = start().await;
    assert!(matches!(
        emu.set_groups(PAT_UPN, &[id(STAFF_GROUP_ID)]),
        Err(DirectoryError::UnknownGroup { .. })
    ));
    assert!(
        emu.directory()
            .find_user(PAT_UPN)
            .unwrap()
            .groups
            .is_empty()
    );
}
