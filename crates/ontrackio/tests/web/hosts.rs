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

/// Sends `request` as it is on a new connection and returns the status and the answer.
async fn raw(app: &TestApp, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn two_host_headers_or_a_port_that_is_not_a_number_get_400() {
    let app = spawn_app().await;
    let port = app.port();
    // Warm the caches, so the fast path is what is tested too.
    let ok = app.browser().get(app.url("acme", "/login")).send().await;
    assert_eq!(ok.unwrap().status(), StatusCode::OK);
    for (why, hosts) in [
        (
            "two Host headers",
            format!("Host: acme.localhost:{port}\r\nHost: globex.localhost:{port}\r\n"),
        ),
        (
            "a port that is not a number",
            "Host: acme.localhost:eighty\r\n".to_string(),
        ),
    ] {
        let (status, answer) = raw(
            &app,
            format!("GET /login HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 400, "{why}: {answer}");
        assert!(
            answer.contains("text/html") && answer.contains("could not be understood"),
            "{why}: the product's page: {answer}"
        );
    }
}

#[tokio::test]
async fn framework_errors_never_reach_users_as_plain_text() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let token = app.csrf_token(&c, "acme", "/admin/users").await;
    let origin = app.url("acme", "").trim_end_matches('/').to_string();
    // A form the route cannot deserialize (a field twice): "Failed to deserialize form body".
    let r = c
        .post(app.url("acme", "/admin/users/invite"))
        .header("origin", &origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&email=a@acme.test&email=b@acme.test"
        ))
        .send()
        .await
        .unwrap();
    let (status, ctype) = (r.status(), r.headers()["content-type"].clone());
    let body = r.text().await.unwrap();
    assert!(status.is_client_error(), "{status}");
    assert!(
        ctype.to_str().unwrap().starts_with("text/html"),
        "{ctype:?}"
    );
    assert!(!body.contains("Failed to"), "{body}");
    assert!(body.contains("could not be understood"), "{body}");
    // A form over the route's limit: "Failed to buffer the request body".
    let r = c
        .post(app.url("acme", "/admin/users/invite"))
        .header("origin", &origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&first_name={}",
            "x".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    let (status, ctype) = (r.status(), r.headers()["content-type"].clone());
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        ctype.to_str().unwrap().starts_with("text/html"),
        "{ctype:?}"
    );
    assert!(!body.contains("Failed to"), "{body}");
}
