use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn an_unknown_workspace_host_gets_a_plain_404_page() {
    let app = spawn_app().await;
    let r = app
        .browser()
        .get(app.url("initech", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn the_bare_base_domain_shows_find_your_workspace_and_redirects_to_a_known_one() {
    let app = spawn_app().await;
    let c = app.browser();
    let base = format!("http://localhost:{}", app.port());
    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Find your workspace"));
    let r = c
        .get(format!("{base}/?workspace=ACME"))
        .send()
        .await
        .unwrap();
    assert_redirects_to(
        &r,
        &format!("{}/login", app.url("acme", "").trim_end_matches('/')),
    );
    let r = c
        .get(format!("{base}/?workspace=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("No workspace has that name")
    );
}

#[tokio::test]
async fn a_session_from_workspace_a_is_refused_on_workspace_b() {
    let app = spawn_app().await;
    app.create_workspace("globex", "Globex", "admin@globex.test")
        .await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = c
        .get(app.url("acme", "/admin/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Replay the acme cookie on globex's host: it is not a session there.
    let token = {
        let r = app
            .login_as(&app.browser(), "acme", "admin@acme.test", PASSWORD)
            .await;
        session_cookie_value(r.headers()).unwrap()
    };
    let r = app
        .browser()
        .get(app.url("globex", "/admin/dashboard"))
        .header("cookie", format!("ontrackio_session={token}"))
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).starts_with("/login"),
        "got {} {}",
        r.status(),
        location(&r)
    );
}

#[tokio::test]
async fn health_and_readiness_answer_on_any_host() {
    let app = spawn_app().await;
    let c = app.browser();
    assert_eq!(
        c.get(format!("http://127.0.0.1:{}/healthz", app.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let r = c
        .get(format!("http://127.0.0.1:{}/readyz", app.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    for path in ["/login", "/my/dashboard", "/admin/users"] {
        let r = c.get(app.url("acme", path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}
