//! Roles from Entra app roles (issue 15): the Microsoft card's mapping, applied at every
//! Microsoft sign-in against the Entra emulator's demo app (app roles `Employee`, `Admin`,
//! `SuperAdmin`; Alex holds `Admin`, the staff group `Employee`), demotions included,
//! with the last super-admin kept even when two sign-ins race on PostgreSQL.

use reqwest::{Client, StatusCode};

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::{Role, UserStatus};

const CARD: &str = "/admin/settings/integrations/microsoft";

/// Saves the Microsoft card for the emulator's demo app with this role mapping.
async fn save_card(
    app: &TestApp,
    admin: &Client,
    mapping: &str,
    super_admin: bool,
    strict: bool,
) -> reqwest::Response {
    let mut fields = vec![
        ("enabled", "on"),
        ("tenant_id", "common"),
        ("client_id", ms::DEMO_CLIENT_ID),
        ("client_secret", ms::DEMO_CLIENT_SECRET),
        ("allowed_domains", "acme.test"),
        ("role_mapping", mapping),
    ];
    if super_admin {
        fields.push(("role_mapping_super_admin", "on"));
    }
    if strict {
        fields.push(("role_mapping_strict", "on"));
    }
    app.post_form(admin, "acme", CARD, CARD, &fields).await
}

async fn app_with_mapping(mapping: &str, super_admin: bool, strict: bool) -> (TestApp, Client) {
    let app = spawn_app().await;
    let admin = app.signed_in("acme", "admin@acme.test").await;
    let r = save_card(&app, &admin, mapping, super_admin, strict).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    (app, admin)
}

async fn role_of(app: &TestApp, email: &str) -> Role {
    app.user("acme", email).await.expect("the user").role
}

async fn directory_changes(app: &TestApp) -> Vec<String> {
    app.audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::ROLE_CHANGED_BY_DIRECTORY)
        .map(|e| format!("{} {}", e.target, e.details))
        .collect()
}

const MAPPING: &str = "Employee = employee\nAdmin = admin\nSuperAdmin = super-admin";

#[tokio::test]
async fn the_card_refuses_a_super_admin_line_unless_the_box_is_ticked_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    let admin = app.signed_in("acme", "admin@acme.test").await;
    let r = save_card(&app, &admin, MAPPING, false, false).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Line 3: mapping to super-admin needs the box"),
        "{html}"
    );
    assert!(html.contains("SuperAdmin = super-admin</textarea>"));
    let r = save_card(&app, &admin, "Admin admin", true, false).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Line 1: write one app role value")
    );
    // Saved, it shows as typed (normalised), and the audit row names the field only.
    let r = save_card(&app, &admin, MAPPING, true, true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = admin
        .get(app.url("acme", CARD))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(">Employee = employee\nAdmin = admin\nSuperAdmin = super-admin</textarea>")
    );
    assert!(page.contains(
        "id=\"ms-role-strict\" name=\"role_mapping_strict\" type=\"checkbox\" value=\"on\" checked"
    ));
    let saved = app
        .audit("acme")
        .await
        .into_iter()
        .find(|e| e.action == "Microsoft Entra ID settings saved")
        .unwrap();
    assert!(saved.details.contains("role_mapping"), "{}", saved.details);
}

#[tokio::test]
async fn a_first_sign_in_gets_the_mapped_role_and_later_sign_ins_follow_the_directory_both_ways() {
    let (app, _admin) = app_with_mapping("Employee = employee\nAdmin = admin", false, false).await;
    // Alex holds Admin in Entra: provisioned as an admin.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(role_of(&app, ms::ALEX_UPN).await, Role::Admin);
    // Entra takes Admin away (he keeps Employee through the staff group, if any): demoted.
    app.emu
        .set_app_roles(ms::DEMO_CLIENT_ID, ms::ALEX_UPN, &[])
        .unwrap();
    let alex = app.browser();
    let r = app.microsoft_sign_in(&alex, "acme", ms::ALEX_UPN).await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(role_of(&app, ms::ALEX_UPN).await, Role::Employee);
    let changes = directory_changes(&app).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].contains(ms::ALEX_UPN)
            && changes[0].contains("\"from\":\"admin\"")
            && changes[0].contains("\"to\":\"employee\""),
        "{changes:?}"
    );
    let admin_page = alex
        .get(app.url("acme", "/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_page.status(), StatusCode::FORBIDDEN);
    // And back: promoted at the next sign-in, landing as an admin.
    app.emu
        .set_app_roles(ms::DEMO_CLIENT_ID, ms::ALEX_UPN, &[ms::ROLE_ADMIN])
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert_eq!(role_of(&app, ms::ALEX_UPN).await, Role::Admin);
    assert_eq!(directory_changes(&app).await.len(), 2);
    // An unchanged role writes nothing.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert_eq!(directory_changes(&app).await.len(), 2);
}

#[tokio::test]
async fn with_the_strict_option_no_mapped_role_refuses_the_sign_in_with_one_audit_row() {
    let (app, _admin) = app_with_mapping("Admin = admin", false, true).await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_value(r.headers()).is_none());
    assert!(r.text().await.unwrap().contains(
        "Your directory gives you no role in OnTrackio. Ask your workspace admin to assign you one."
    ));
    assert!(app.user("acme", ms::ADELE_UPN).await.is_none());
    let refused: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::MICROSOFT_SIGN_IN_REFUSED)
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].details.contains("no directory role"),
        "{}",
        refused[0].details
    );
    // Without the option, the same person gets in as an employee.
    let (lenient, _) = app_with_mapping("Admin = admin", false, false).await;
    let r = lenient
        .microsoft_sign_in(&lenient.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(role_of(&lenient, ms::ADELE_UPN).await, Role::Employee);
}

#[tokio::test]
async fn super_admins_are_left_alone_unless_the_directory_manages_them_and_the_last_one_stays() {
    // Without the box, a super-admin with no mapped role keeps the role.
    let (app, _admin) = app_with_mapping("Admin = admin", false, false).await;
    app.invite("acme", ms::ADELE_UPN, Role::SuperAdmin, false)
        .await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert_eq!(role_of(&app, ms::ADELE_UPN).await, Role::SuperAdmin);
    assert!(directory_changes(&app).await.is_empty());

    // With it, Adele (no SuperAdmin app role) is demoted while admin@acme.test remains…
    let (app, admin) = app_with_mapping(MAPPING, true, false).await;
    let adele = app
        .invite("acme", ms::ADELE_UPN, Role::SuperAdmin, false)
        .await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(role_of(&app, ms::ADELE_UPN).await, Role::Employee);
    // …but as the last super-admin who can sign in, she keeps it, and the log says why.
    app.emu
        .set_app_roles(ms::DEMO_CLIENT_ID, ms::ADELE_UPN, &[ms::ROLE_SUPER_ADMIN])
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert_eq!(role_of(&app, ms::ADELE_UPN).await, Role::SuperAdmin);
    let root = app.user("acme", "admin@acme.test").await.unwrap();
    app.disable("acme", &root.id).await;
    drop(admin);
    app.emu
        .set_app_roles(ms::DEMO_CLIENT_ID, ms::ADELE_UPN, &[])
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    let kept = app.user("acme", ms::ADELE_UPN).await.unwrap();
    assert_eq!((kept.id, kept.role), (adele, Role::SuperAdmin));
    assert_eq!(
        app.audit_count("acme", actions::ROLE_CHANGE_BY_DIRECTORY_REFUSED)
            .await,
        1
    );
}

/// The "at least one super-admin" rule under simultaneous sign-ins: Adele and Alex, the
/// only super-admins who can sign in, both lose the SuperAdmin app role, and both sign in
/// at the same moment. Exactly one is demoted, round after round (on PostgreSQL the
/// workspace row lock is what makes this hold; on SQLite the write lock).
#[tokio::test]
async fn two_super_admins_demoted_by_the_directory_at_the_same_moment_leave_one() {
    let (app, _admin) = app_with_mapping(MAPPING, true, false).await;
    let people = [ms::ADELE_UPN, ms::ALEX_UPN];
    for upn in people {
        app.invite("acme", upn, Role::SuperAdmin, false).await;
    }
    for round in 0..6 {
        // Both super-admins again, as the directory has it, with identities linked.
        for upn in people {
            app.emu
                .set_app_roles(ms::DEMO_CLIENT_ID, upn, &[ms::ROLE_SUPER_ADMIN])
                .unwrap();
            let r = app.microsoft_sign_in(&app.browser(), "acme", upn).await;
            assert_redirects_to(&r, "/admin/dashboard");
        }
        if round == 0 {
            // Now both can sign in, the password super-admin may go: they are the only two.
            let root = app.user("acme", "admin@acme.test").await.unwrap();
            app.disable("acme", &root.id).await;
        }
        for upn in people {
            assert_eq!(role_of(&app, upn).await, Role::SuperAdmin, "round {round}");
            app.emu
                .set_app_roles(ms::DEMO_CLIENT_ID, upn, &[ms::ROLE_ADMIN])
                .unwrap();
        }
        // Both callbacks ready, then sent together.
        let mut callbacks = Vec::new();
        for upn in people {
            let b = app.browser();
            let Authorize::Redirect(cb) = app.microsoft_authorize(&b, "acme", upn).await else {
                panic!("no redirect");
            };
            callbacks.push((b, cb));
        }
        let answers = futures_util::future::join_all(
            callbacks
                .iter()
                .map(|(b, cb)| async move { b.get(cb).send().await.unwrap().status() }),
        )
        .await;
        assert!(
            answers.iter().all(|s| *s == StatusCode::SEE_OTHER),
            "{answers:?}"
        );
        let mut supers = 0;
        for upn in people {
            let u = app.user("acme", upn).await.unwrap();
            assert_eq!(u.status, UserStatus::Active);
            if u.role == Role::SuperAdmin {
                supers += 1;
            }
        }
        assert_eq!(
            supers, 1,
            "round {round}: exactly one super-admin must remain"
        );
    }
}

/// Groups as mapping values, and Entra's group overage: Alex is in IT Admins; mapped by
/// its object id, he is an admin. In more groups than a token carries, Entra sends no list
/// (`_claim_names`): his role is unknown, so it stays, and even a strict mapping does not
/// refuse him.
#[tokio::test]
async fn a_group_maps_by_object_id_and_a_group_overage_leaves_the_role_as_it_is() {
    use entra_emulator::{Group, GroupMembershipClaims};
    let mapping = format!("{} = admin", ms::IT_ADMINS_GROUP_ID.to_uppercase());
    let (app, _admin) = app_with_mapping(&mapping, false, true).await;
    app.emu
        .update_directory(|d| {
            d.app_mut(ms::DEMO_CLIENT_ID)
                .unwrap()
                .group_membership_claims = GroupMembershipClaims::SecurityGroup;
        })
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(role_of(&app, ms::ALEX_UPN).await, Role::Admin);
    // Megan is only in Acme Staff: strict, so refused.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // 250 more groups for Alex, but no longer IT Admins: the token cannot list them.
    let tenant: uuid::Uuid = ms::ACME_TENANT_ID.parse().unwrap();
    let extra: Vec<uuid::Uuid> = (0..250).map(|_| uuid::Uuid::new_v4()).collect();
    app.emu
        .update_directory(|d| {
            let t = d.tenant_mut(tenant).unwrap();
            for (i, id) in extra.iter().enumerate() {
                t.add_group(Group::security(*id, &format!("Project {i}")));
            }
        })
        .unwrap();
    app.emu.set_groups(ms::ALEX_UPN, &extra).unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert_eq!(role_of(&app, ms::ALEX_UPN).await, Role::Admin);
    assert!(directory_changes(&app).await.is_empty());
    // Back under the limit and out of IT Admins: the list is known again, nothing maps,
    // and the strict mapping refuses.
    app.emu.set_groups(ms::ALEX_UPN, &extra[..3]).unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "strict: no group maps");
}
