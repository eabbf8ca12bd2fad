use reqwest::StatusCode;

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::Role;

#[tokio::test]
async fn the_sign_in_page_answers_on_a_workspace_host() {
    let app = spawn_app().await;
    let r = app
        .browser()
        .get(app.url("acme", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in to Acme Corporation"));
    assert!(extract_csrf(&html).is_some());
}

#[tokio::test]
async fn a_super_admin_signs_in_and_lands_on_the_admin_dashboard() {
    let app = spawn_app().await;
    let c = app.browser();
    let r = app.login_as(&c, "acme", "admin@acme.test", PASSWORD).await;
    assert_redirects_to(&r, "/admin/dashboard");
    let page = c
        .get(app.url("acme", "/admin/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Admin dashboard"));
    let u = app.user("acme", "admin@acme.test").await.unwrap();
    assert!(u.last_login_at.is_some());
    assert_eq!(u.last_login_ip.as_deref(), Some("127.0.0.1"));
    let events = app.audit("acme").await;
    let row = events
        .iter()
        .find(|e| e.action == actions::PASSWORD_SIGN_IN)
        .expect("sign-in audited");
    assert_eq!(
        (row.actor_label.as_str(), row.ip.as_deref()),
        ("admin@acme.test", Some("127.0.0.1"))
    );
}

#[tokio::test]
async fn an_employee_lands_on_my_dashboard() {
    let app = spawn_app().await;
    app.add_user("acme", "emp@acme.test", ontrackio::domain::Role::Employee)
        .await;
    let c = app.browser();
    let r = app.login_as(&c, "acme", "EMP@acme.test", PASSWORD).await;
    assert_redirects_to(&r, "/my/dashboard");
}

#[tokio::test]
async fn session_cookies_are_host_only_http_only_lax_and_not_secure_on_http() {
    let app = spawn_app().await;
    let r = app
        .login_as(&app.browser(), "acme", "admin@acme.test", PASSWORD)
        .await;
    let cookie = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("ontrackio_session="))
        .unwrap();
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{cookie}");
    assert!(lower.contains("samesite=lax"), "{cookie}");
    assert!(lower.contains("path=/"), "{cookie}");
    assert!(
        !lower.contains("domain="),
        "cookies must be host-only: {cookie}"
    );
    assert!(!lower.contains("secure"), "http base URL: {cookie}");
    assert_eq!(
        session_cookie_value(r.headers()).unwrap().len(),
        43,
        "256-bit token"
    );
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in_and_a_planted_one_is_never_used() {
    let app = spawn_app().await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let planted = "A".repeat(43);
    jar.add_cookie_str(
        &format!("ontrackio_session={planted}; Path=/"),
        &app.url("acme", "/").parse().unwrap(),
    );
    let c = app.browser_with_jar(jar);
    let r = app.login_as(&c, "acme", "admin@acme.test", PASSWORD).await;
    let first = session_cookie_value(r.headers()).unwrap();
    assert_ne!(first, planted);
    let again = app
        .login_as(&app.browser(), "acme", "admin@acme.test", PASSWORD)
        .await;
    assert_ne!(session_cookie_value(again.headers()).unwrap(), first);
    // The planted id opens nothing.
    let attacker = app.browser();
    let r = attacker
        .get(app.url("acme", "/my/dashboard"))
        .header("cookie", format!("ontrackio_session={planted}"))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_audited_and_leaves_no_session() {
    let app = spawn_app().await;
    let r = app
        .login_as(
            &app.browser(),
            "acme",
            "admin@acme.test",
            "not the password",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie_value(r.headers()).is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The email or password is incorrect.")
    );
    let r = app
        .login_as(
            &app.browser(),
            "acme",
            "nobody@acme.test",
            "not the password",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.audit_count("acme", actions::PASSWORD_SIGN_IN_FAILED)
            .await,
        2
    );
}

#[tokio::test]
async fn a_malformed_email_re_renders_the_form_with_the_message_by_the_field() {
    let app = spawn_app().await;
    let r = app
        .login_as(&app.browser(), "acme", "not-an-email", "x")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("Enter an email address like name@example.com."));
}

#[tokio::test]
async fn repeated_failures_for_one_account_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    for _ in 0..ontrackio::auth::throttle::PER_ACCOUNT {
        let r = app
            .login_as(&app.browser(), "acme", "admin@acme.test", "wrong password!")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now: guessing must not learn from the answer.
    let r = app
        .login_as(&app.browser(), "acme", "admin@acme.test", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= ontrackio::auth::throttle::WINDOW_SECS);
    let body = r.text().await.unwrap();
    assert!(body.contains("too many sign-in attempts"), "{body}");
    // The window is a quarter of an hour: the wait is given in minutes.
    assert!(body.contains("Wait 15 minutes and try again."), "{body}");
    assert_eq!(app.audit_count("acme", actions::SIGN_IN_THROTTLED).await, 1);
}

#[tokio::test]
async fn logout_ends_the_session_and_the_old_cookie_is_refused() {
    let app = spawn_app().await;
    let c = app.browser();
    let r = app.login_as(&c, "acme", "admin@acme.test", PASSWORD).await;
    let token = session_cookie_value(r.headers()).unwrap();
    let r = app
        .post_form(&c, "acme", "/logout", "/my/dashboard", &[])
        .await;
    assert_redirects_to(&r, "/login?notice=signed-out");
    let replay = app.browser();
    let r = replay
        .get(app.url("acme", "/my/dashboard"))
        .header("cookie", format!("ontrackio_session={token}"))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
    assert_eq!(app.audit_count("acme", actions::SIGNED_OUT).await, 1);
}

#[tokio::test]
async fn return_to_is_honoured_only_for_same_workspace_paths() {
    let app = spawn_app().await;
    for evil in [
        "//evil.test",
        "/\\evil.test",
        "https://evil.test",
        "javascript:alert(1)",
        "/%2F%2Fevil.test",
    ] {
        let r = app
            .login_with_return(&app.browser(), "acme", "admin@acme.test", PASSWORD, evil)
            .await;
        assert_redirects_to(&r, "/admin/dashboard");
    }
    let r = app
        .login_with_return(
            &app.browser(),
            "acme",
            "admin@acme.test",
            PASSWORD,
            "/admin/users",
        )
        .await;
    assert_redirects_to(&r, "/admin/users");
}

#[tokio::test]
async fn an_anonymous_visitor_is_sent_to_login_with_a_return_path() {
    let app = spawn_app().await;
    let r = app
        .browser()
        .get(app.url("acme", "/admin/users?x=1"))
        .send()
        .await
        .unwrap();
    assert_redirects_to(&r, "/login?return_to=%2Fadmin%2Fusers%3Fx%3D1");
}

#[tokio::test]
async fn a_setup_link_sets_a_password_once() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let id = app
        .add_user("acme", "new@acme.test", ontrackio::domain::Role::Admin)
        .await;
    let token = app
        .state
        .accounts()
        .setup_link(&ontrackio::accounts::By::operator("tests"), &ws, &id)
        .await
        .unwrap();
    let c = app.browser();
    let path = format!("/setup?token={token}");
    let fields = [
        ("token", token.as_str()),
        ("password", "a brand new password"),
        ("confirm", "a brand new password"),
    ];
    let r = app.post_form(&c, "acme", "/setup", &path, &fields).await;
    assert_redirects_to(&r, "/login?notice=password-set");
    let r = app
        .login_as(
            &app.browser(),
            "acme",
            "new@acme.test",
            "a brand new password",
        )
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    let again = c.get(app.url("acme", &path)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

/// Status and page of one password sign-in, sent at the same moment as the others.
async fn simultaneous_sign_ins(app: &TestApp, attempts: &[(String, String)]) -> Vec<StatusCode> {
    // Each browser first loads the form (its CSRF token), then all posts go at once.
    let mut ready = Vec::new();
    for (email, password) in attempts {
        let c = app.browser();
        let token = app.csrf_token(&c, "acme", "/login").await;
        ready.push((c, token, email.clone(), password.clone()));
    }
    let url = app.url("acme", "/login");
    let posts = ready.into_iter().map(|(c, token, email, password)| {
        let url = url.clone();
        async move {
            c.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("email", email.as_str()),
                    ("password", password.as_str()),
                    ("return_to", ""),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    futures_util::future::join_all(posts).await
}

fn tally(statuses: &[StatusCode]) -> (usize, usize) {
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(wrong + throttled, statuses.len(), "{statuses:?}");
    (wrong, throttled)
}

#[tokio::test]
async fn twenty_simultaneous_wrong_passwords_for_one_account_get_at_most_five_answers() {
    let app = spawn_app().await;
    let guesses: Vec<_> = (0..20)
        .map(|i| ("admin@acme.test".to_string(), format!("wrong guess {i}")))
        .collect();
    let (wrong, throttled) = tally(&simultaneous_sign_ins(&app, &guesses).await);
    assert_eq!(
        wrong,
        ontrackio::auth::throttle::PER_ACCOUNT as usize,
        "only the account's limit of guesses reach the password check"
    );
    assert_eq!(throttled, 20 - wrong);
    // One audit row for the throttled burst, not fifteen.
    assert_eq!(app.audit_count("acme", actions::SIGN_IN_THROTTLED).await, 1);
}

#[tokio::test]
async fn forty_simultaneous_guesses_at_forty_accounts_from_one_address_get_at_most_thirty_answers()
{
    let app = spawn_app().await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            (
                format!("person{i}@acme.test"),
                "a guessed password".to_string(),
            )
        })
        .collect();
    let (wrong, _) = tally(&simultaneous_sign_ins(&app, &guesses).await);
    assert_eq!(wrong, ontrackio::auth::throttle::PER_IP as usize);
    assert_eq!(app.audit_count("acme", actions::SIGN_IN_THROTTLED).await, 1);
}

#[tokio::test]
async fn a_disabled_account_answers_the_same_for_the_right_and_a_wrong_password() {
    let app = spawn_app().await;
    let id = app.add_user("acme", "gone@acme.test", Role::Employee).await;
    app.disable("acme", &id).await;
    let answer = |password: &'static str| {
        let app = &app;
        async move {
            let r = app
                .login_as(&app.browser(), "acme", "gone@acme.test", password)
                .await;
            let status = r.status();
            let body = r.text().await.unwrap();
            // The page minus its per-request CSRF token.
            let body = body
                .lines()
                .filter(|l| !l.contains("csrf_token"))
                .collect::<Vec<_>>()
                .join("\n");
            (status, body)
        }
    };
    let right = answer(PASSWORD).await;
    let wrong = answer("not the password at all").await;
    assert_eq!(right.0, StatusCode::UNAUTHORIZED);
    assert_eq!(right, wrong, "the right password is not confirmed");
    assert!(right.1.contains("The email or password is incorrect."));
    assert!(!right.1.contains("disabled"));
    // The admin still learns what happened.
    let reasons: Vec<String> = app
        .audit("acme")
        .await
        .iter()
        .filter(|e| e.action == actions::PASSWORD_SIGN_IN_FAILED)
        .map(|e| e.details.clone())
        .collect();
    assert!(
        reasons.iter().any(|d| d.contains("\"account disabled\"")),
        "{reasons:?}"
    );
}

/// A browser whose requests come through the test's trusted proxy from `ip`.
fn browser_from(app: &TestApp, ip: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", ip.parse().unwrap());
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers);
    for slug in SLUGS {
        b = b.resolve(&format!("{slug}.localhost"), app.addr);
    }
    b.build().unwrap()
}

async fn behind_a_proxy() -> TestApp {
    spawn_app_with(|c| {
        c.trusted_proxies = ontrackio::config::parse_cidrs("127.0.0.0/8").unwrap();
    })
    .await
}

/// An address over its limit is refused before anything is counted for the account it
/// names: otherwise one client could lock every account in the workspace, six requests
/// each, without a single password being checked.
#[tokio::test]
async fn a_client_over_the_address_limit_cannot_lock_other_peoples_accounts() {
    let app = behind_a_proxy().await;
    let attacker = browser_from(&app, "203.0.113.66");
    let login = app.url("acme", "/login");
    for i in 0..ontrackio::auth::throttle::PER_IP {
        let r = submit_login(&attacker, &login, &format!("guess{i}@acme.test"), "x1", "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    for _ in 0..=ontrackio::auth::throttle::PER_ACCOUNT {
        let r = submit_login(&attacker, &login, "admin@acme.test", "x2", "").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let admin = browser_from(&app, "198.51.100.7");
    let r = submit_login(&admin, &login, "admin@acme.test", PASSWORD, "").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the admin was locked out by requests that checked no password"
    );
}

/// Requests refused because their account is locked check no password, so they do not
/// use up the address's allowance: one person hammering their locked account must not
/// lock out everyone behind the same NAT address.
#[tokio::test]
async fn hammering_a_locked_account_does_not_use_up_the_addresss_allowance() {
    let app = behind_a_proxy().await;
    app.add_user("acme", "colleague@acme.test", Role::Employee)
        .await;
    let office = browser_from(&app, "198.51.100.20");
    let login = app.url("acme", "/login");
    for _ in 0..ontrackio::auth::throttle::PER_ACCOUNT {
        let r = submit_login(&office, &login, "admin@acme.test", "forgotten", "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..ontrackio::auth::throttle::PER_IP {
        let r = submit_login(&office, &login, "admin@acme.test", "forgotten", "").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let colleague = browser_from(&app, "198.51.100.20");
    let r = submit_login(&colleague, &login, "colleague@acme.test", PASSWORD, "").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the colleague behind the same address was refused"
    );
    // The locked account's refusals wrote one audit row, not thirty.
    assert_eq!(app.audit_count("acme", actions::SIGN_IN_THROTTLED).await, 1);
}

/// The right password of a disabled account is no success: it does not clear the
/// account's count, so it cannot be used to keep guessing past the limit either.
#[tokio::test]
async fn the_right_password_of_a_disabled_account_does_not_reset_its_attempt_count() {
    let app = spawn_app().await;
    let id = app.add_user("acme", "gone@acme.test", Role::Employee).await;
    app.disable("acme", &id).await;
    let limit = ontrackio::auth::throttle::PER_ACCOUNT;
    for i in 0..limit {
        let password = if i == limit - 1 { PASSWORD } else { "a guess" };
        let r = app
            .login_as(&app.browser(), "acme", "gone@acme.test", password)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = app
        .login_as(&app.browser(), "acme", "gone@acme.test", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
