//! Microsoft Entra ID sign-in end to end through the emulator (issue: the guide's Steps 5–6
//! and "How sign-in maps to OnTrackio").

use reqwest::StatusCode;

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::{Role, UserStatus};

const SESSION_EXPIRED: &str = "Session expired. Please try again.";
const ACCESS_RESTRICTED: &str = "Access restricted. Ask your workspace admin to invite you first.";
const NO_EMAIL: &str =
    "Microsoft did not return an email address. Ensure the User.Read scope is granted.";

async fn login_html(app: &TestApp) -> String {
    app.browser()
        .get(app.url("acme", "/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_button_is_absent_without_a_client_id_and_present_with_azure_variables() {
    let app = spawn_app().await;
    assert!(!login_html(&app).await.contains("Continue with Microsoft"));
    let r = app
        .browser()
        .get(app.url("acme", "/auth/microsoft"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "").await;
    assert!(login_html(&app).await.contains("Continue with Microsoft"));
}

#[tokio::test]
async fn the_flow_starts_with_exactly_the_four_scopes_pkce_s256_state_nonce_and_select_account() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let r = app
        .browser()
        .get(app.url("acme", "/auth/microsoft?return_to=/my/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let cookie = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("ontrackio_msflow="))
        .expect("flow cookie");
    let lower = cookie.to_ascii_lowercase();
    assert!(
        lower.contains("httponly")
            && lower.contains("samesite=lax")
            && lower.contains("path=/auth/microsoft")
            && lower.contains("max-age=600")
            && !lower.contains("domain="),
        "{cookie}"
    );
    assert!(
        !cookie.contains("/my/profile"),
        "the flow cookie is encrypted: {cookie}"
    );
    let url = url::Url::parse(&location(&r)).unwrap();
    assert_eq!(url.path(), "/common/oauth2/v2.0/authorize");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], ms::DEMO_CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["response_mode"], "query");
    assert_eq!(q["scope"], "openid profile email User.Read");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(
        q["redirect_uri"],
        app.url("acme", "/auth/microsoft/callback")
    );
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43 && q["state"] != q["nonce"]);
}

#[tokio::test]
async fn a_first_time_user_is_provisioned_as_employee_with_names_from_graph_and_lands_on_my_dashboard()
 {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    let r = app.microsoft_sign_in(&b, "acme", ms::ADELE_UPN).await;
    assert_redirects_to(&r, "/my/dashboard");
    let cookie = session_cookie_value(r.headers()).expect("a session");
    assert_eq!(cookie.len(), 43);
    let u = app.user("acme", ms::ADELE_UPN).await.expect("provisioned");
    assert_eq!(
        (u.role, u.status, u.email_verified),
        (Role::Employee, UserStatus::Active, true)
    );
    assert_eq!(
        (u.first_name.as_str(), u.last_name.as_str()),
        ("Adele", "Vance")
    );
    assert!(u.last_login_at.is_some());
    assert_eq!(u.last_login_ip.as_deref(), Some("127.0.0.1"));
    let dash = b
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dash.contains("Welcome, Adele"));
    let events = app.audit("acme").await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "User signed in with Microsoft SSO")
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == actions::MICROSOFT_USER_PROVISIONED)
            .count(),
        1
    );
}

#[tokio::test]
async fn returning_admins_land_on_the_admin_dashboard_and_employees_on_my_dashboard() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    app.invite("acme", ms::ALEX_UPN, Role::Admin, false).await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    let alex = app.user("acme", ms::ALEX_UPN).await.unwrap();
    assert_eq!((alex.status, alex.role), (UserStatus::Active, Role::Admin));
    let first_login = alex.last_login_at.unwrap();
    // Returning (now linked by object id).
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ALEX_UPN)
        .await;
    assert_redirects_to(&r, "/admin/dashboard");
    assert!(
        app.user("acme", ms::ALEX_UPN)
            .await
            .unwrap()
            .last_login_at
            .unwrap()
            >= first_login
    );
    app.microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(app.audit_count("acme", actions::MICROSOFT_SIGN_IN).await, 4);
}

#[tokio::test]
async fn the_object_id_match_survives_an_email_change_in_the_directory() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    app.microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    let before = app.user("acme", ms::MEGAN_UPN).await.unwrap();
    app.emu
        .update_directory(|d| {
            let u = d.user_by_upn_mut(ms::MEGAN_UPN).unwrap();
            u.user_principal_name = "megan.b@acme.test".into();
            u.mail = Some("megan.b@acme.test".into());
        })
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", "megan.b@acme.test")
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    let after = app
        .user("acme", "megan.b@acme.test")
        .await
        .expect("same user, new address");
    assert_eq!(after.id, before.id);
    assert!(
        app.user("acme", ms::MEGAN_UPN).await.is_none(),
        "no second account"
    );
}

#[tokio::test]
async fn an_invited_user_is_linked_by_verified_email_once_then_by_object_id() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let id = app
        .invite("acme", ms::NOMAIL_UPN, Role::Employee, false)
        .await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::NOMAIL_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_ACCOUNT_LINKED)
            .await,
        1
    );
    // The invited row changes its email: the next sign-in still finds it by object id.
    let ws = app.workspace("acme").await;
    ontrackio::store::users::set_email(
        app.db.pool(),
        &id,
        &ontrackio::domain::EmailAddress::parse("renamed@acme.test").unwrap(),
    )
    .await
    .unwrap();
    let _ = ws;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::NOMAIL_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_ACCOUNT_LINKED)
            .await,
        1,
        "linked once"
    );
    assert_eq!(app.user("acme", ms::NOMAIL_UPN).await.unwrap().id, id);
}

#[tokio::test]
async fn the_domain_check_applies_under_common_and_external_users_bypass_it() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    // sam.partner@acme.onmicrosoft.com is verified but outside the allowlist.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::SAM_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains(ACCESS_RESTRICTED));
    assert!(app.user("acme", ms::SAM_UPN).await.is_none());
    // Invited but not external: still refused.
    app.invite("acme", ms::PAT_UPN, Role::Employee, false).await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::PAT_UPN)
        .await;
    assert!(r.text().await.unwrap().contains(ACCESS_RESTRICTED));
    // Flagged external: in.
    let pat = app.user("acme", ms::PAT_UPN).await.unwrap();
    ontrackio::store::users::set_external(app.db.pool(), &pat.id, true)
        .await
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::PAT_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_SIGN_IN_REFUSED)
            .await,
        2
    );
}

#[tokio::test]
async fn the_domain_check_applies_under_a_pinned_tenant_and_an_empty_allowlist_admits_anyone_verified()
 {
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "acme.test").await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::SAM_UPN)
        .await;
    assert!(r.text().await.unwrap().contains(ACCESS_RESTRICTED));
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "").await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::SAM_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
}

#[tokio::test]
async fn the_email_comes_from_mail_then_the_upn_and_none_means_the_user_read_message() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    // No mail: the UPN is used.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::NOMAIL_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    assert!(app.user("acme", ms::NOMAIL_UPN).await.is_some());
    // User.Read not granted: Graph refuses, so no email.
    app.emu
        .update_directory(|d| {
            d.app_mut(ms::DEMO_CLIENT_ID)
                .unwrap()
                .set_user_read_granted(false)
        })
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_value(r.headers()).is_none());
    assert!(r.text().await.unwrap().contains(NO_EMAIL));
    assert!(app.user("acme", ms::MEGAN_UPN).await.is_none());
}

#[tokio::test]
async fn a_callback_without_an_expired_or_a_tampered_flow_cookie_says_session_expired() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    // Without: a fresh browser lands on the callback with someone's code and state.
    let b = app.browser();
    let Authorize::Redirect(callback) = app.microsoft_authorize(&b, "acme", ms::ADELE_UPN).await
    else {
        panic!()
    };
    let r = app.browser().get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains(SESSION_EXPIRED));
    // Tampered: the encrypted cookie altered by one character.
    let b = app.browser();
    let Authorize::Redirect(callback) = app.microsoft_authorize(&b, "acme", ms::ADELE_UPN).await
    else {
        panic!()
    };
    let start = b
        .get(app.url("acme", "/auth/microsoft"))
        .send()
        .await
        .unwrap();
    let cookie = set_cookies(start.headers())
        .into_iter()
        .find(|c| c.starts_with("ontrackio_msflow="))
        .unwrap();
    let value = cookie["ontrackio_msflow=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut tampered = value.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let r = app
        .browser()
        .get(&callback)
        .header(
            "cookie",
            format!("ontrackio_msflow={}", String::from_utf8(tampered).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains(SESSION_EXPIRED));
    assert!(app.user("acme", ms::ADELE_UPN).await.is_none());
    // Expired: a state from a flow that is no longer this browser's (replaced by a newer one).
    let r = b.get(&callback).send().await.unwrap();
    assert!(
        r.text().await.unwrap().contains(SESSION_EXPIRED),
        "the older flow's state no longer matches"
    );
}

#[tokio::test]
async fn the_flow_cookie_is_single_use() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    let Authorize::Redirect(callback) = app.microsoft_authorize(&b, "acme", ms::ADELE_UPN).await
    else {
        panic!()
    };
    let r = b.get(&callback).send().await.unwrap();
    assert_redirects_to(&r, "/my/dashboard");
    let removal = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("ontrackio_msflow="))
        .expect("cleared");
    assert!(
        removal.to_ascii_lowercase().contains("max-age=0"),
        "{removal}"
    );
    let again = b.get(&callback).send().await.unwrap();
    assert!(again.text().await.unwrap().contains(SESSION_EXPIRED));
}

#[tokio::test]
async fn an_expired_secret_shows_the_rotate_instructions() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    app.emu
        .update_directory(|d| {
            d.app_mut(ms::DEMO_CLIENT_ID)
                .unwrap()
                .expire_secrets(time::OffsetDateTime::now_utc() - time::Duration::days(1))
        })
        .unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let html = r.text().await.unwrap();
    assert!(html.contains("AADSTS7000222"), "{html}");
    assert!(
        html.contains("Rotate: create a new secret in Entra → Certificates"),
        "{html}"
    );
    assert!(!html.contains(ms::DEMO_CLIENT_SECRET));
    assert!(app.user("acme", ms::ADELE_UPN).await.is_none());
    // The card's health line and the dashboard tell the super-admin.
    let admin = app.signed_in("acme", "admin@acme.test").await;
    let card = admin
        .get(app.url("acme", "/admin/settings/integrations/microsoft"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(card.contains("7000222"), "health line: {card}");
}

#[tokio::test]
async fn redirect_uri_mismatch_and_wrong_directory_users_see_the_emulators_pages() {
    // A redirect URI that is not registered: Entra's own 50011 page, never a redirect.
    let app = spawn_app_with(|c| {
        let mut env = azure_env("common", "acme.test");
        env.redirect_uri = Some("https://acme.app.ontrackio.com/auth/microsoft/callback".into());
        c.azure = env;
    })
    .await;
    match app
        .microsoft_authorize(&app.browser(), "acme", ms::ADELE_UPN)
        .await
    {
        Authorize::Page(html) => assert!(html.contains("AADSTS50011"), "{html}"),
        Authorize::Redirect(u) => panic!("redirected to {u}"),
    }
    // A single-directory app and a user of another directory: 50020.
    let app = spawn_app_with(|c| {
        let mut env = azure_env(ms::ACME_TENANT_ID, "");
        env.client_id = Some(ms::DEMO_SINGLE_TENANT_CLIENT_ID.into());
        env.client_secret = Some(secrecy::SecretString::from(
            ms::DEMO_SINGLE_TENANT_CLIENT_SECRET,
        ));
        c.azure = env;
    })
    .await;
    match app
        .microsoft_authorize(&app.browser(), "acme", ms::MALLORY_UPN)
        .await
    {
        Authorize::Page(html) => assert!(html.contains("AADSTS50020"), "{html}"),
        Authorize::Redirect(u) => panic!("redirected to {u}"),
    }
}

#[tokio::test]
async fn a_pinned_tenant_refuses_a_token_from_another_tenant() {
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "").await;
    // The emulator issues for the token's tenant; a token whose iss/tid disagree is refused.
    app.emu.set_misbehaviour(
        ms::DEMO_CLIENT_ID,
        entra_emulator::Misbehaviour::IssuerTenantMismatch,
    );
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(session_cookie_value(r.headers()).is_none());
    assert!(app.user("acme", ms::ADELE_UPN).await.is_none());
    let refusal = app
        .audit("acme")
        .await
        .into_iter()
        .find(|e| e.action == actions::MICROSOFT_SIGN_IN_REFUSED)
        .unwrap();
    assert!(refusal.details.contains("issuer"), "{}", refusal.details);
}

#[tokio::test]
async fn under_common_the_issuer_is_checked_against_the_tokens_own_tid() {
    let app = spawn_app_with_microsoft("common", "").await;
    // A contoso member signs in under common: issuer built from the token's own tid.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::PAT_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    app.emu.set_misbehaviour(
        ms::DEMO_CLIENT_ID,
        entra_emulator::Misbehaviour::WrongIssuer,
    );
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(app.user("acme", ms::ADELE_UPN).await.is_none());
}

#[tokio::test]
async fn the_evil_tenants_user_with_a_victims_mail_neither_takes_over_nor_is_provisioned() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    // The victim exists (invited admin) with the address Mallory's directory claims.
    app.invite("acme", ms::ALEX_UPN, Role::Admin, false).await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MALLORY_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_value(r.headers()).is_none());
    assert!(r.text().await.unwrap().contains(ACCESS_RESTRICTED));
    let alex = app.user("acme", ms::ALEX_UPN).await.unwrap();
    assert_eq!(
        (alex.status, alex.last_login_at),
        (UserStatus::Invited, None),
        "untouched"
    );
    // Without the victim, Mallory is not provisioned either.
    let app2 = spawn_app_with_microsoft("common", "").await;
    let r = app2
        .microsoft_sign_in(&app2.browser(), "acme", ms::MALLORY_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app2.user("acme", ms::MALLORY_MAIL).await.is_none());
    assert!(app2.user("acme", ms::MALLORY_UPN).await.is_none());
    for a in [&app, &app2] {
        let refusals: Vec<_> = a
            .audit("acme")
            .await
            .into_iter()
            .filter(|e| e.action == actions::MICROSOFT_SIGN_IN_REFUSED)
            .collect();
        assert_eq!(refusals.len(), 1);
        assert!(
            refusals[0].details.contains("not verified"),
            "{}",
            refusals[0].details
        );
    }
}

#[tokio::test]
async fn sign_ins_keep_working_across_a_signing_key_rotation() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    app.emu.rotate_signing_key();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
}

#[tokio::test]
async fn a_disabled_user_is_refused_with_a_clear_message() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    app.microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    let megan = app.user("acme", ms::MEGAN_UPN).await.unwrap();
    app.disable("acme", &megan.id).await;
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MEGAN_UPN)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your OnTrackio account is disabled")
    );
}

#[tokio::test]
async fn a_user_who_cancels_sees_the_aadsts_page_and_the_refusal_is_audited() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    let start = b
        .get(app.url("acme", "/auth/microsoft"))
        .send()
        .await
        .unwrap();
    let authorize_url = location(&start);
    let idp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = idp
        .get(&authorize_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = entra_emulator::picker_request_id(&html).unwrap();
    let select = format!("{}/select", authorize_url.split('?').next().unwrap());
    let r = idp
        .post(select)
        .form(&[("request", request.as_str()), ("cancel", "1")])
        .send()
        .await
        .unwrap();
    let callback = location(&r);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("AADSTS65004") && page.contains("Consent was declined"),
        "{page}"
    );
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_SIGN_IN_REFUSED)
            .await,
        1
    );
}

#[tokio::test]
async fn names_brought_by_a_microsoft_sign_in_show_at_once_in_the_users_other_sessions() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    app.add_user("acme", ms::ADELE_UPN, Role::Employee).await;
    let laptop = app.signed_in("acme", ms::ADELE_UPN).await;
    let welcome = || async {
        let html = laptop
            .get(app.url("acme", "/my/dashboard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        html.contains("Welcome, Adele")
    };
    // The password user was added as "Test User"; read twice, so the server keeps it.
    assert!(!welcome().await);
    assert!(!welcome().await);
    let phone = app.browser();
    let r = app.microsoft_sign_in(&phone, "acme", ms::ADELE_UPN).await;
    assert_redirects_to(&r, "/my/dashboard");
    assert!(welcome().await, "the laptop still shows the old name");
}

/// Malformed spellings of an existing user's address are refused before anyone decides
/// whether to trust them: with the workspace pinned to its own directory every `mail` is
/// trusted, so before the parser was strict, `root@acme.test.` became root@acme.test and
/// signed its sender in as root.
#[tokio::test]
async fn a_malformed_spelling_of_an_address_is_never_linked_to_the_user_it_resembles() {
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "acme.test").await;
    let root = app
        .invite("acme", "root@acme.test", Role::Admin, false)
        .await;
    let tenant = uuid::Uuid::parse_str(ms::ACME_TENANT_ID).unwrap();
    let spellings = [
        "root@acme.test.",
        "root@acme.test..",
        " root@acme.test",
        "root@acme.test\t",
        "ROOT@acme.test. ",
    ];
    for (i, mail) in spellings.iter().enumerate() {
        let upn = format!("insider{i}@acme.test");
        app.emu
            .update_directory(|d| {
                let mut u = entra_emulator::User::member(uuid::Uuid::new_v4(), &upn, "An insider");
                u.mail = Some(mail.to_string());
                d.tenant_mut(tenant).unwrap().users.push(u);
            })
            .unwrap();
        let b = app.browser();
        let r = app.microsoft_sign_in(&b, "acme", &upn).await;
        // The malformed mail is skipped: the insider is themselves (their UPN), never root.
        assert_redirects_to(&r, "/my/dashboard");
        assert!(
            app.user("acme", &upn).await.is_some(),
            "{mail:?}: signed in as their own sign-in name"
        );
        let root_now = app.user("acme", "root@acme.test").await.unwrap();
        assert_eq!(root_now.id, root);
        assert_eq!(
            root_now.last_login_at, None,
            "{mail:?} signed in as root@acme.test"
        );
    }
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_ACCOUNT_LINKED)
            .await,
        0,
        "nobody was linked to root@acme.test"
    );
}

/// The landing page after a sign-in is answered from what the sign-in's own transaction
/// wrote and read back: with the database gone the moment the callback has answered, the
/// dashboard still shows the user, as the database said them (names from Graph). A change
/// to the user after that still reaches the cached session at once.
#[tokio::test]
async fn the_landing_page_is_answered_from_the_sign_ins_own_transaction_and_changes_still_reach_it()
{
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let b = app.browser();
    let r = app.microsoft_sign_in(&b, "acme", ms::ADELE_UPN).await;
    assert_redirects_to(&r, "/my/dashboard");
    let adele = app.user("acme", ms::ADELE_UPN).await.expect("provisioned");
    let ws = app.workspace("acme").await;
    let disabled = app.browser();
    let r = app
        .microsoft_sign_in(&disabled, "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    // Disabled after the second sign-in was kept: it must not be answered from the cache.
    app.state
        .accounts()
        .disable(&ontrackio::accounts::By::operator("tests"), &ws, &adele.id)
        .await
        .unwrap();
    let r = disabled
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap();
    assert_redirects_to(&r, "/login?return_to=%2Fmy%2Fdashboard");
    app.state
        .accounts()
        .enable(&ontrackio::accounts::By::operator("tests"), &ws, &adele.id)
        .await
        .unwrap();
    let fresh = app.browser();
    let r = app.microsoft_sign_in(&fresh, "acme", ms::ADELE_UPN).await;
    assert_redirects_to(&r, "/my/dashboard");
    app.db.close().await;
    let r = fresh
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Welcome, Adele"), "{html}");
}

/// On SQLite a sign-in runs on its own synchronous connection unless the write lock is
/// taken; then it goes through the pool and waits for the lock like every other write.
/// Two first sign-ins of one person that both find it taken (a transaction of the test
/// holds it until both have gone that way) give one account with one identity, and both
/// browsers are signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_sign_ins_that_find_the_write_lock_taken_wait_for_it_and_give_one_account() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let Some(busy_before) = app.db.sync_busy_count() else {
        eprintln!("skipped: only SQLite has the synchronous sign-in connection");
        return;
    };
    let (b1, b2) = (app.browser(), app.browser());
    let mut callbacks = Vec::new();
    for b in [&b1, &b2] {
        match app.microsoft_authorize(b, "acme", ms::ADELE_UPN).await {
            Authorize::Redirect(url) => callbacks.push(url),
            Authorize::Page(html) => panic!("the emulator showed a page: {html}"),
        }
    }
    let blocker = app.db.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    let answers: Vec<_> = [b1.clone(), b2.clone()]
        .into_iter()
        .zip(callbacks)
        .map(|(b, url)| tokio::spawn(async move { b.get(url).send().await.unwrap() }))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.db.sync_busy_count() < Some(busy_before + 2) {
        assert!(
            std::time::Instant::now() < deadline,
            "both sign-ins should find the write lock taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    blocker.rollback().await.unwrap();
    for answer in answers {
        let r = answer.await.unwrap();
        assert_redirects_to(&r, "/my/dashboard");
        assert!(session_cookie_value(r.headers()).is_some());
    }
    let count = |sql: &'static str| {
        let pool = app.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind("adele.vance@acme.test")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE email_normalized = $1").await,
        1
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM user_identities i JOIN users u ON u.id = i.user_id \
             WHERE u.email_normalized = $1"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE u.email_normalized = $1"
        )
        .await,
        2
    );
    for b in [&b1, &b2] {
        let r = b
            .get(app.url("acme", "/my/dashboard"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
