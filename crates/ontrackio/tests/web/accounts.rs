//! The accounts service's rules, whoever asks: the last super-admin, no-ops, enabling,
//! setup links, one audit row per change. Races run on PostgreSQL too.

use ontrackio::accounts::{AccountError, Accounts, Acting, By, NoCache, Outcome};
use ontrackio::domain::{Role, UserId, UserStatus};
use ontrackio::store;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::*;

fn operator() -> By<'static> {
    By::operator("tests")
}

async fn user_by_id(app: &TestApp, id: &UserId) -> store::users::User {
    let ws = app.workspace("acme").await;
    store::users::find_by_id(app.db.pool(), &ws.id, id)
        .await
        .unwrap()
        .unwrap()
}

async fn audit_rows(app: &TestApp) -> usize {
    app.audit("acme").await.len()
}

#[tokio::test]
async fn two_super_admins_demoting_or_disabling_each_other_at_the_same_moment_leave_one() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    // Each round races the workspace's one super-admin against a new one; whoever wins
    // stays for the next round. Rounds make the race likely to be hit: without the
    // workspace lock, PostgreSQL let both changes through in most rounds.
    let mut sole = app.user("acme", "admin@acme.test").await.unwrap();
    for round in 0..12 {
        let new = app
            .add_user("acme", &format!("other{round}@acme.test"), Role::SuperAdmin)
            .await;
        let new = user_by_id(&app, &new).await;
        let (a, b) = (app.state.accounts(), app.state.accounts());
        let by_sole = By {
            acting: Acting::user(&sole),
            origin: Default::default(),
        };
        let by_new = By {
            acting: Acting::user(&new),
            origin: Default::default(),
        };
        let disable = round % 2 == 1;
        let (r1, r2) = if disable {
            let (r1, r2) = tokio::join!(
                a.disable(&by_sole, &ws, &new.id),
                b.disable(&by_new, &ws, &sole.id)
            );
            (r1.map(|d| d.outcome), r2.map(|d| d.outcome))
        } else {
            tokio::join!(
                a.set_role(&by_sole, &ws, &new.id, Role::Admin),
                b.set_role(&by_new, &ws, &sole.id, Role::Admin)
            )
        };
        let applied = [&r1, &r2]
            .iter()
            .filter(|r| matches!(r, Ok(Outcome::Changed)))
            .count();
        assert_eq!(
            applied, 1,
            "round {round} (disable: {disable}): exactly one of the two changes applies: {r1:?} / {r2:?}"
        );
        let refused = if r1.is_err() { &r1 } else { &r2 };
        assert!(
            matches!(
                refused,
                Err(AccountError::SuperAdminOnly
                    | AccountError::SuperAdminOnlyChange
                    | AccountError::LastSuperAdminRole(_)
                    | AccountError::LastSuperAdminDisable(_))
            ),
            "round {round}: the loser is refused with a reason: {refused:?}"
        );
        let (sole_now, new_now) = (
            user_by_id(&app, &sole.id).await,
            user_by_id(&app, &new.id).await,
        );
        let remaining: Vec<_> = [sole_now, new_now]
            .into_iter()
            .filter(|u| u.role == Role::SuperAdmin && u.status == UserStatus::Active)
            .collect();
        assert_eq!(
            remaining.len(),
            1,
            "round {round}: one active super-admin remains"
        );
        sole = remaining.into_iter().next().unwrap();
    }
}

#[tokio::test]
async fn an_invited_super_admin_without_a_password_does_not_count_as_the_one_who_can_sign_in() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let invite = [
        ("email", "boss@acme.test"),
        ("first_name", ""),
        ("last_name", ""),
        ("role", "super-admin"),
    ];
    let r = app
        .post_form(&c, "acme", "/admin/users/invite", "/admin/users", &invite)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let admin = app.user("acme", "admin@acme.test").await.unwrap();
    let path = format!("/admin/users/{}/role", admin.id);
    let r = app
        .post_form(&c, "acme", &path, "/admin/users", &[("role", "admin")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let expected = AccountError::LastSuperAdminRole("admin@acme.test".into()).to_string();
    assert!(r.text().await.unwrap().contains(&expected));
    let path = format!("/admin/users/{}/status", admin.id);
    let boss = app.user("acme", "boss@acme.test").await.unwrap();
    // Nor can the invited one be used to leave the workspace without a super-admin.
    let ws = app.workspace("acme").await;
    let r = app
        .state
        .accounts()
        .disable(&operator(), &ws, &admin.id)
        .await;
    assert!(
        matches!(r, Err(AccountError::LastSuperAdminDisable(_))),
        "{r:?} ({path})"
    );
    // Once boss has a password, admin@ may step down.
    app.state
        .accounts()
        .set_password(&operator(), &ws, &boss.id, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let r = app
        .state
        .accounts()
        .set_role(&operator(), &ws, &admin.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(r, Outcome::Changed);
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_nothing() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let id = app.add_user("acme", "pat@acme.test", Role::Employee).await;
    let before = audit_rows(&app).await;
    for (path, field, value) in [
        ("role", "role", "employee"),
        ("external", "external", "false"),
        ("status", "status", "active"),
    ] {
        let r = app
            .post_form(
                &c,
                "acme",
                &format!("/admin/users/{id}/{path}"),
                "/admin/users",
                &[(field, value)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            r.headers()["location"],
            "/admin/users?notice=unchanged",
            "{path}"
        );
    }
    let ws = app.workspace("acme").await;
    let accounts = Accounts::new(&app.db, &NoCache);
    accounts.disable(&operator(), &ws, &id).await.unwrap();
    let after_disable = audit_rows(&app).await;
    assert_eq!(
        after_disable,
        before + 1,
        "only the real change wrote a row"
    );
    let again = accounts.disable(&operator(), &ws, &id).await.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(audit_rows(&app).await, after_disable);
}

#[tokio::test]
async fn enabling_restores_active_with_a_way_to_sign_in_and_invited_otherwise() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let accounts = app.state.accounts();
    let by = operator();
    let with_password = app.add_user("acme", "pw@acme.test", Role::Employee).await;
    let no_way = app
        .invite("acme", "new@acme.test", Role::Employee, false)
        .await;
    let linked = app
        .invite("acme", "linked@acme.test", Role::Employee, false)
        .await;
    store::user_identities::insert(
        app.db.pool(),
        &ws.id,
        &linked,
        "microsoft",
        "3f6d9c2a-8b41-4e7d-9a15-6c2e0b7d4f81",
        "00000000-0000-0000-0000-0000000000aa",
    )
    .await
    .unwrap();
    for (id, expected) in [
        (&with_password, UserStatus::Active),
        (&no_way, UserStatus::Invited),
        (&linked, UserStatus::Active),
    ] {
        accounts.disable(&by, &ws, id).await.unwrap();
        assert_eq!(user_by_id(&app, id).await.status, UserStatus::Disabled);
        assert_eq!(
            accounts.enable(&by, &ws, id).await.unwrap(),
            Outcome::Changed
        );
        assert_eq!(user_by_id(&app, id).await.status, expected);
    }
}

#[tokio::test]
async fn a_password_set_through_a_setup_link_ends_the_users_other_sessions() {
    let app = spawn_app().await;
    app.add_user("acme", "pat@acme.test", Role::Employee).await;
    let stolen = app.signed_in("acme", "pat@acme.test").await;
    let dashboard = app.url("acme", "/my/dashboard");
    assert_eq!(
        stolen.get(&dashboard).send().await.unwrap().status(),
        StatusCode::OK
    );
    let ws = app.workspace("acme").await;
    let pat = app.user("acme", "pat@acme.test").await.unwrap();
    let token = app
        .state
        .accounts()
        .setup_link(&operator(), &ws, &pat.id)
        .await
        .unwrap();
    let c = app.browser();
    let path = format!("/setup?token={token}");
    let new_password = "a brand new long password";
    let fields = [
        ("token", token.as_str()),
        ("password", new_password),
        ("confirm", new_password),
    ];
    let r = app.post_form(&c, "acme", "/setup", &path, &fields).await;
    assert_eq!(r.headers()["location"], "/login?notice=password-set");
    let r = stolen.get(&dashboard).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the old session no longer works"
    );
    let fresh = app.browser();
    let r = app
        .login_as(&fresh, "acme", "pat@acme.test", new_password)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the new password works");
}

#[tokio::test]
async fn every_change_writes_exactly_one_audit_row_whoever_makes_it() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let accounts = app.state.accounts();
    let by = operator();
    let id = app
        .invite("acme", "pat@acme.test", Role::Employee, false)
        .await;
    let steps: Vec<(&str, Outcome)> = vec![
        (
            "Role changed",
            accounts.set_role(&by, &ws, &id, Role::Admin).await.unwrap(),
        ),
        (
            "External flag changed",
            accounts.set_external(&by, &ws, &id, true).await.unwrap(),
        ),
        (
            "User disabled",
            accounts.disable(&by, &ws, &id).await.unwrap().outcome,
        ),
        (
            "User enabled",
            accounts.enable(&by, &ws, &id).await.unwrap(),
        ),
    ];
    for (action, outcome) in steps {
        assert_eq!(outcome, Outcome::Changed, "{action}");
        assert_eq!(app.audit_count("acme", action).await, 1, "{action}");
    }
    accounts.setup_link(&by, &ws, &id).await.unwrap();
    assert_eq!(app.audit_count("acme", "Setup link created").await, 1);
    assert_eq!(app.audit_count("acme", "User invited").await, 1);
}
