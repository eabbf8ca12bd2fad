//! What a visitor can do to the Microsoft callback without ever signing in: they must not
//! be able to write the admin's alert, nor flood the audit log.

use ontrackio::audit::actions;
use reqwest::StatusCode;

use crate::helpers::*;

/// Starts a flow in `b` and returns the callback URL with our state and `pairs`.
async fn callback_url(app: &TestApp, b: &reqwest::Client, pairs: &[(&str, &str)]) -> String {
    let start = b
        .get(app.url("acme", "/auth/microsoft"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::FOUND);
    let authorize = url::Url::parse(&location(&start)).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut cb = url::Url::parse(&app.url("acme", "/auth/microsoft/callback")).unwrap();
    cb.query_pairs_mut()
        .extend_pairs(pairs)
        .append_pair("state", &state);
    cb.to_string()
}

#[tokio::test]
async fn a_visitors_error_description_never_reaches_the_admins_alert() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let visitor = app.browser();
    let lie = "Your client secret leaked. Call +1 555 0100 and read out the new one";
    let url = callback_url(
        &app,
        &visitor,
        &[
            ("error", "invalid_client"),
            ("error_description", &format!("AADSTS7000222: {lie}")),
        ],
    )
    .await;
    let r = visitor.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains("leaked"));

    let admin = app.signed_in("acme", "admin@acme.test").await;
    for page in ["/admin/dashboard", "/admin/settings/integrations/microsoft"] {
        let html = admin
            .get(app.url("acme", page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("Microsoft sign-ins are failing") || html.contains("health-failure"),
            "{page} shows the failure: {html}"
        );
        assert!(
            !html.contains("leaked") && !html.contains("555"),
            "{page} shows the visitor's text: {html}"
        );
        assert!(
            html.contains("AADSTS7000222"),
            "{page} names Microsoft's code"
        );
    }
    let refusals: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::MICROSOFT_SIGN_IN_REFUSED)
        .collect();
    assert_eq!(refusals.len(), 1);
    assert!(!refusals[0].details.to_string().contains("leaked"));
}

#[tokio::test]
async fn unauthenticated_callback_hits_cannot_flood_the_audit_log_and_the_first_of_each_kind_is_kept()
 {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    let cb = app.url("acme", "/auth/microsoft/callback");
    // No flow at all (a script that never started one), 150 times.
    for i in 0..150 {
        let r = b
            .get(format!("{cb}?code=x{i}&state=s{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    // Malformed (repeated parameters), 50 times.
    for _ in 0..50 {
        let r = b.get(format!("{cb}?state=a&state=b")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    // Real flows answered with an error, 20 times (each its own flow, fewer than the
    // flow-start limit: that limit is not what this test is about).
    for _ in 0..20 {
        let fresh = app.browser();
        let url = callback_url(&app, &fresh, &[("error", "access_denied")]).await;
        let r = fresh.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let refusals: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::MICROSOFT_SIGN_IN_REFUSED)
        .collect();
    let reasons: Vec<String> = refusals
        .iter()
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.details).unwrap();
            d["reason"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(
        refusals.len(),
        3,
        "one row per kind within the minute, not 220: {reasons:?}"
    );
    for kind in [
        "missing, expired or mismatched sign-in state",
        "malformed callback",
        "Microsoft returned the error access_denied",
    ] {
        assert!(
            reasons.iter().any(|r| r.starts_with(kind)),
            "the first {kind:?} is kept: {reasons:?}"
        );
    }
}

/// The database goes away while a sign-in is on its way back from Microsoft: the callback
/// answers with the same "briefly unavailable" 503 page as every other page, not a 500.
#[tokio::test]
async fn a_database_outage_during_the_microsoft_callback_shows_the_503_page() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    // Warm the caches a real node would have warm (the workspace, its settings).
    let r = b.get(app.url("acme", "/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let callback = match app.microsoft_authorize(&b, "acme", ms::ADELE_UPN).await {
        Authorize::Redirect(url) => url,
        Authorize::Page(html) => panic!("the emulator showed a page: {html}"),
    };
    // Microsoft has answered; now the database is gone.
    app.db.close().await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("briefly unavailable") && !html.contains("Something went wrong"),
        "{html}"
    );
}
