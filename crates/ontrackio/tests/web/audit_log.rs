use reqwest::StatusCode;

use crate::helpers::*;
use ontrackio::audit::actions;

#[tokio::test]
async fn the_audit_log_lists_newest_first_filters_and_exports_csv() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    app.post_form(
        &c,
        "acme",
        "/admin/users/invite",
        "/admin/users",
        &[("email", "=cmd@acme.test"), ("role", "employee")],
    )
    .await;
    let html = c
        .get(app.url("acme", "/admin/audit-log"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let invited = html.find(actions::USER_INVITED).unwrap();
    let signed_in = html.rfind(actions::PASSWORD_SIGN_IN).unwrap();
    assert!(invited < signed_in, "newest first");
    let q = format!(
        "/admin/audit-log?action={}",
        urlencode(actions::USER_INVITED)
    );
    let html = c
        .get(app.url("acme", &q))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("=cmd@acme.test") && !html.contains("<td>User signed in with password</td>")
    );
    let r = c
        .get(app.url("acme", "/admin/audit-log?from=not-a-date"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Enter a date like 2026-11-27.")
    );
    let csv = c
        .get(app.url("acme", "/admin/audit-log/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("time_utc,actor,action,target,ip,user_agent,details"));
    assert!(
        body.contains("'=cmd@acme.test"),
        "formula cells are defused: {body}"
    );
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}
