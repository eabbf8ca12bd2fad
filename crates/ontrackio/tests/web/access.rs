use reqwest::StatusCode;

use crate::helpers::*;
use ontrackio::domain::Role;

#[tokio::test]
async fn an_employee_gets_a_403_page_on_every_admin_route() {
    let app = spawn_app().await;
    app.add_user("acme", "emp@acme.test", Role::Employee).await;
    let c = app.signed_in("acme", "emp@acme.test").await;
    for path in [
        "/admin",
        "/admin/dashboard",
        "/admin/users",
        "/admin/audit-log",
        "/admin/audit-log/export",
        "/admin/settings/integrations",
    ] {
        let r = c.get(app.url("acme", path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("You don’t have access to this page")
        );
    }
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/users/invite",
            "/my/profile",
            &[("email", "x@acme.test"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", "x@acme.test").await.is_none());
}

#[tokio::test]
async fn an_admin_who_is_not_super_admin_cannot_open_integrations() {
    let app = spawn_app().await;
    app.add_user("acme", "adm@acme.test", Role::Admin).await;
    let c = app.signed_in("acme", "adm@acme.test").await;
    assert_eq!(
        c.get(app.url("acme", "/admin/users"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        c.get(app.url("acme", "/admin/settings/integrations"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let url = app.url("acme", "/admin/users/invite");
    let missing = c
        .post(&url)
        .form(&[("email", "a@acme.test"), ("role", "employee")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = c
        .post(&url)
        .form(&[
            ("csrf_token", "forged"),
            ("email", "b@acme.test"),
            ("role", "employee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("This form has expired")
    );
    // A token from another session is wrong too.
    let other = app.signed_in("acme", "admin@acme.test").await;
    let foreign = app.csrf_token(&other, "acme", "/admin/users").await;
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", foreign.as_str()),
            ("email", "c@acme.test"),
            ("role", "employee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for e in ["a@acme.test", "b@acme.test", "c@acme.test"] {
        assert!(app.user("acme", e).await.is_none(), "{e} must not exist");
    }
    // Logout without a token does not log out.
    let r = c.post(app.url("acme", "/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        c.get(app.url("acme", "/my/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let token = app.csrf_token(&c, "acme", "/admin/users").await;
    let r = c
        .post(app.url("acme", "/admin/users/invite"))
        .header("origin", "http://evil.test")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "d@acme.test"),
            ("role", "employee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(app.url("acme", "/admin/users/invite"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "d@acme.test"),
            ("role", "employee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", "d@acme.test").await.is_none());
}

#[tokio::test]
async fn the_login_form_needs_its_anonymous_csrf_token() {
    let app = spawn_app().await;
    let r = app
        .browser()
        .post(app.url("acme", "/login"))
        .form(&[("email", "admin@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_value(r.headers()).is_none());
}
