use reqwest::StatusCode;

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::{Role, UserStatus};

#[tokio::test]
async fn an_admin_invites_a_user_and_the_invite_is_audited() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/admin/users",
            &[
                ("email", "Pat@Partner.test"),
                ("first_name", "Pat"),
                ("last_name", "Lee"),
                ("role", "admin"),
                ("external", "on"),
            ],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=invited");
    let u = app.user("acme", "pat@partner.test").await.unwrap();
    assert_eq!(
        (u.role, u.status, u.external),
        (Role::Admin, UserStatus::Invited, true)
    );
    assert_eq!(app.audit_count("acme", actions::USER_INVITED).await, 1);
    let page = c
        .get(app.url("acme", "/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Pat@partner.test"));
}

#[tokio::test]
async fn inviting_a_bad_or_duplicate_email_re_renders_with_a_422_and_the_message() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/admin/users",
            &[("email", "nope"), ("role", "employee")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"invite-email-error\"")
    );
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/admin/users",
            &[("email", "ADMIN@acme.test"), ("role", "employee")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is already a user of this workspace")
    );
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/admin/users",
            &[("email", "x@acme.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn only_a_super_admin_grants_super_admin() {
    let app = spawn_app().await;
    app.add_user("acme", "adm@acme.test", Role::Admin).await;
    let emp = app.add_user("acme", "emp@acme.test", Role::Employee).await;
    let c = app.signed_in("acme", "adm@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/role"),
            "/admin/users",
            &[("role", "super-admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Only a super-admin can grant or remove the super-admin role.")
    );
    assert_eq!(
        app.user("acme", "emp@acme.test").await.unwrap().role,
        Role::Employee
    );
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/admin/users",
            &[("email", "boss@acme.test"), ("role", "super-admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A super-admin can.
    let s = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &s,
            "acme",
            &format!("/admin/users/{emp}/role"),
            "/admin/users",
            &[("role", "super-admin")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    assert_eq!(
        app.user("acme", "emp@acme.test").await.unwrap().role,
        Role::SuperAdmin
    );
    assert_eq!(app.audit_count("acme", actions::ROLE_CHANGED).await, 1);
}

#[tokio::test]
async fn the_last_active_super_admin_can_be_neither_demoted_nor_disabled() {
    let app = spawn_app().await;
    let me = app.user("acme", "admin@acme.test").await.unwrap().id;
    let other = app
        .add_user("acme", "second@acme.test", Role::SuperAdmin)
        .await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    // With two, one may be demoted…
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{other}/role"),
            "/admin/users",
            &[("role", "admin")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    // …but not the last one.
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{me}/role"),
            "/admin/users",
            &[("role", "employee")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is the last active super-admin")
    );
    assert_eq!(
        app.user("acme", "admin@acme.test").await.unwrap().role,
        Role::SuperAdmin
    );
    // Disabling the last one from another super-admin's session is refused too.
    let boss = app
        .add_user("acme", "boss@acme.test", Role::SuperAdmin)
        .await;
    let b = app.signed_in("acme", "boss@acme.test").await;
    let r = app
        .post_form(
            &b,
            "acme",
            &format!("/admin/users/{me}/status"),
            "/admin/users",
            &[("status", "disabled")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    let r = app
        .post_form(
            &b,
            "acme",
            &format!("/admin/users/{boss}/status"),
            "/admin/users",
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "nobody disables themselves"
    );
    assert_eq!(
        app.user("acme", "boss@acme.test").await.unwrap().status,
        UserStatus::Active
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_enabling_is_audited() {
    let app = spawn_app().await;
    let emp = app.add_user("acme", "emp@acme.test", Role::Employee).await;
    let e = app.signed_in("acme", "emp@acme.test").await;
    assert_eq!(
        e.get(app.url("acme", "/my/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/status"),
            "/admin/users",
            &[("status", "disabled")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    let r = e
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
    let r = app
        .login_as(&app.browser(), "acme", "emp@acme.test", PASSWORD)
        .await;
    // Refused like any wrong password: the page does not confirm the password.
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The email or password is incorrect.")
    );
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/status"),
            "/admin/users",
            &[("status", "active")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    assert_eq!(app.audit_count("acme", actions::USER_DISABLED).await, 1);
    assert_eq!(app.audit_count("acme", actions::USER_ENABLED).await, 1);
    assert!(
        app.login_as(&app.browser(), "acme", "emp@acme.test", PASSWORD)
            .await
            .status()
            .is_redirection()
    );
}

#[tokio::test]
async fn toggling_external_is_saved_and_audited() {
    let app = spawn_app().await;
    let emp = app.add_user("acme", "emp@acme.test", Role::Employee).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/external"),
            "/admin/users",
            &[("external", "true")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    assert!(app.user("acme", "emp@acme.test").await.unwrap().external);
    assert_eq!(app.audit_count("acme", actions::EXTERNAL_CHANGED).await, 1);
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/external"),
            "/admin/users",
            &[("external", "maybe")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_user_of_another_workspace_cannot_be_changed_from_this_one() {
    let app = spawn_app().await;
    app.create_workspace("globex", "Globex", "admin@globex.test")
        .await;
    let theirs = app.user("globex", "admin@globex.test").await.unwrap().id;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{theirs}/status"),
            "/admin/users",
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.user("globex", "admin@globex.test")
            .await
            .unwrap()
            .status,
        UserStatus::Active
    );
}

#[tokio::test]
async fn role_and_external_changes_apply_to_the_users_open_sessions_at_once() {
    let app = spawn_app().await;
    let emp = app.add_user("acme", "emp@acme.test", Role::Employee).await;
    let e = app.signed_in("acme", "emp@acme.test").await;
    let admin_page = || async {
        e.get(app.url("acme", "/admin/dashboard"))
            .send()
            .await
            .unwrap()
            .status()
    };
    // Read twice before the change, so that the server has the session in memory.
    assert_eq!(admin_page().await, StatusCode::FORBIDDEN);
    assert_eq!(admin_page().await, StatusCode::FORBIDDEN);
    let c = app.signed_in("acme", "admin@acme.test").await;
    for (role, expected) in [
        ("admin", StatusCode::OK),
        ("employee", StatusCode::FORBIDDEN),
    ] {
        let r = app
            .post_form(
                &c,
                "acme",
                &format!("/admin/users/{emp}/role"),
                "/admin/users",
                &[("role", role)],
            )
            .await;
        assert_redirects_to(&r, "/admin/users?notice=updated");
        assert_eq!(admin_page().await, expected, "after the change to {role}");
    }
    // The dashboard says when a user is an external collaborator.
    let dashboard = || async {
        e.get(app.url("acme", "/my/dashboard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(!dashboard().await.contains("External collaborator"));
    let r = app
        .post_form(
            &c,
            "acme",
            &format!("/admin/users/{emp}/external"),
            "/admin/users",
            &[("external", "true")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    assert!(dashboard().await.contains("External collaborator"));
}

/// A plain admin is shown only what the server will accept: no role, external or disable
/// controls on a super-admin's row; a super-admin sees them all.
#[tokio::test]
async fn a_plain_admin_sees_no_controls_on_a_super_admins_row() {
    let app = spawn_app().await;
    let boss = app
        .add_user("acme", "boss@acme.test", Role::SuperAdmin)
        .await;
    let emp = app.add_user("acme", "emp@acme.test", Role::Employee).await;
    app.add_user("acme", "plain@acme.test", Role::Admin).await;
    let row_of = |html: &str, email: &str| -> String {
        let start = html
            .find(&format!("<tr data-email=\"{email}\""))
            .unwrap_or_else(|| panic!("no row for {email}"));
        let end = start + html[start..].find("</tr>").unwrap();
        html[start..end].to_string()
    };
    let controls = |row: &str, id: &ontrackio::domain::UserId| {
        [
            format!("/admin/users/{id}/role"),
            format!("/admin/users/{id}/external"),
            format!("/admin/users/{id}/status"),
        ]
        .into_iter()
        .filter(|action| row.contains(action.as_str()))
        .count()
    };
    let plain = app.signed_in("acme", "plain@acme.test").await;
    let html = plain
        .get(app.url("acme", "/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let boss_row = row_of(&html, "boss@acme.test");
    assert_eq!(controls(&boss_row, &boss), 0, "{boss_row}");
    assert!(boss_row.contains("Super-admin"), "the role is still shown");
    assert_eq!(controls(&row_of(&html, "emp@acme.test"), &emp), 3);
    assert!(
        !html.contains("value=\"super-admin\""),
        "a plain admin is never offered super-admin"
    );
    let sup = app.signed_in("acme", "admin@acme.test").await;
    let html = sup
        .get(app.url("acme", "/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(controls(&row_of(&html, "boss@acme.test"), &boss), 3);
}

/// Emails in the order a page lists them.
fn listed_emails(html: &str) -> Vec<String> {
    html.split("<tr data-email=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

fn href_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    // As a browser reads the attribute: the template escapes `&`.
    let raw = &html[start..start + html[start..].find('"')?];
    Some(raw.replace("&#38;", "&").replace("&amp;", "&"))
}

#[tokio::test]
async fn the_users_list_pages_by_email_with_no_cap() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let accounts = app.state.accounts();
    let by = ontrackio::accounts::By::operator("tests");
    let none = ontrackio::domain::PersonName::default();
    for i in 0..119 {
        let email = ontrackio::domain::EmailAddress::parse(&format!("u{i:03}@acme.test")).unwrap();
        let invitation = ontrackio::accounts::Invitation {
            email: &email,
            first_name: &none,
            last_name: &none,
            role: Role::Employee,
            external: false,
        };
        accounts.invite(&by, &ws, invitation).await.unwrap();
    }
    let c = app.signed_in("acme", "admin@acme.test").await;
    let get = |path: String| {
        let c = c.clone();
        let url = app.url("acme", &path);
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // 120 users: admin@ and u000…u118, 50 a page.
    let mut seen = Vec::new();
    let mut path = "/admin/users".to_string();
    let mut pages = 0;
    loop {
        let html = get(path.clone()).await;
        let emails = listed_emails(&html);
        pages += 1;
        assert!(emails.len() <= 50, "{}", emails.len());
        seen.extend(emails);
        match href_of(&html, "users-next-page") {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages < 10, "the pages never end: {path}");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120, "everyone, once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in email order, no repeats");
}

#[tokio::test]
async fn the_users_list_finds_people_by_the_start_of_their_email_or_name() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let accounts = app.state.accounts();
    let by = ontrackio::accounts::By::operator("tests");
    for (email, first, last) in [
        ("adele.vance@acme.test", "Adele", "Vance"),
        ("alex.wilber@acme.test", "Alex", "Wilber"),
        ("megan.bowen@acme.test", "Megan", "Bowen"),
        ("zz.contractor@acme.test", "Vanessa", "Adams"),
    ] {
        let email = ontrackio::domain::EmailAddress::parse(email).unwrap();
        let (first, last) = (
            ontrackio::domain::PersonName::parse(first).unwrap(),
            ontrackio::domain::PersonName::parse(last).unwrap(),
        );
        let invitation = ontrackio::accounts::Invitation {
            email: &email,
            first_name: &first,
            last_name: &last,
            role: Role::Employee,
            external: false,
        };
        accounts.invite(&by, &ws, invitation).await.unwrap();
    }
    let c = app.signed_in("acme", "admin@acme.test").await;
    let search = |q: &'static str| {
        let c = c.clone();
        let url = format!(
            "{}?{}",
            app.url("acme", "/admin/users"),
            serde_urlencoded::to_string([("q", q)]).unwrap()
        );
        async move { listed_emails(&c.get(url).send().await.unwrap().text().await.unwrap()) }
    };
    // Email prefix, first name, last name, any case; never the middle of a word.
    assert_eq!(search("ADELE").await, ["adele.vance@acme.test"]);
    assert_eq!(
        search("a").await,
        [
            "adele.vance@acme.test",
            "admin@acme.test",
            "alex.wilber@acme.test",
            "zz.contractor@acme.test"
        ]
    );
    assert_eq!(
        search("van").await,
        ["adele.vance@acme.test", "zz.contractor@acme.test"]
    );
    assert_eq!(search("bowen").await, ["megan.bowen@acme.test"]);
    assert!(search("wen").await.is_empty());
    assert!(search("nobody").await.is_empty());
    // An empty search is everyone.
    assert_eq!(search("  ").await.len(), 5);
}
