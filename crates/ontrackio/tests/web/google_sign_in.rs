//! Sign in with Google, end to end against the Google emulator: the flow's parameters,
//! provisioning and linking through the shared identity core, the shared allowlist with
//! Google's `hd` and `email_verified` rules, and the security cases of the Google issue,
//! each leaving no session, no user and one audit row.

use entra_emulator::google::{GoogleAccount, GoogleHandle, GoogleMisbehaviour};
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::{Role, UserStatus};

pub mod g {
    pub use entra_emulator::google::demo::*;
    /// A consumer account (no `hd`) made with an Acme address: Google once verified the
    /// address, but is not authoritative for who holds it now.
    pub const EVE_EMAIL: &str = "eve.former@acme.test";
    pub const EVE_SUB: &str = "117400000000000000001";
    /// A Workspace account with the same address as the Entra demo's Adele.
    pub const ADELE_SUB: &str = "117400000000000000002";
    /// A Workspace account of another organisation (Contoso).
    pub const PAT_EMAIL: &str = "pat.partner@contoso.test";
    pub const PAT_SUB: &str = "117400000000000000003";
}

pub struct GoogleApp {
    pub app: TestApp,
    pub google: GoogleHandle,
}

impl std::ops::Deref for GoogleApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A test app whose Google sign-in is configured by `GOOGLE_*` variables against a Google
/// emulator serving the demo directory (plus Eve and Adele), with the workspace's allowed
/// domains set to `allowed`.
pub async fn spawn_app_with_google(allowed: &str) -> GoogleApp {
    let google = entra_emulator::google::GoogleEmulator::builder()
        .start()
        .await
        .expect("start the Google emulator");
    google
        .update_directory(|d| {
            d.accounts
                .push(GoogleAccount::new(g::EVE_SUB, g::EVE_EMAIL, "Eve Former"));
            d.accounts.push(GoogleAccount::workspace(
                g::PAT_SUB,
                g::PAT_EMAIL,
                "contoso.test",
                "Pat Partner",
            ));
            d.accounts.push(GoogleAccount::workspace(
                g::ADELE_SUB,
                ms::ADELE_UPN,
                g::WORKSPACE_HD,
                "Adele Vance",
            ));
        })
        .expect("extra accounts");
    // Sign-ins name their account with `login_hint`: no picker page in between.
    google.set_auto_select(true);
    let issuer = google.issuer();
    let app = spawn_app_with(move |c| {
        c.google_issuer = ontrackio::config::OutboundBase::parse(&issuer).unwrap();
        c.google = ontrackio::config::GoogleEnv {
            client_id: Some(g::DEMO_CLIENT_ID.into()),
            client_secret: Some(secrecy::SecretString::from(g::DEMO_CLIENT_SECRET)),
            redirect_uri: None,
        };
    })
    .await;
    for slug in SLUGS {
        let uri = app.url(slug, "/auth/google/callback");
        google
            .update_directory(|d| {
                d.add_redirect_uri(g::DEMO_CLIENT_ID, &uri).unwrap();
            })
            .unwrap();
    }
    if !allowed.is_empty() {
        app.set_allowed_domains("acme", allowed).await;
    }
    GoogleApp { app, google }
}

impl GoogleApp {
    /// `/auth/google` → Google's authorize endpoint (with `extra` parameters appended, as
    /// a visitor could) → the account `email` → the callback URL Google redirects to.
    pub async fn authorize(&self, browser: &Client, extra: &str, email: &str) -> String {
        let start = browser
            .get(self.url("acme", "/auth/google"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::FOUND);
        let authorize = location(&start);
        assert!(authorize.starts_with(&self.google.issuer()), "{authorize}");
        let url = format!(
            "{authorize}{extra}&{}",
            serde_urlencoded::to_string([("login_hint", email)]).unwrap()
        );
        let idp = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = idp.get(url).send().await.unwrap();
        assert!(
            answer.status().is_redirection(),
            "Google showed a page: {}",
            answer.text().await.unwrap()
        );
        let callback = location(&answer);
        assert!(
            callback.starts_with(&self.url("acme", "/auth/google/callback")),
            "{callback}"
        );
        callback
    }

    /// The whole Google sign-in; returns the app's answer to the callback.
    pub async fn google_sign_in(&self, browser: &Client, email: &str) -> Response {
        let callback = self.authorize(browser, "", email).await;
        browser.get(callback).send().await.unwrap()
    }

    async fn sessions(&self) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM sessions")
            .fetch_one(self.db.pool())
            .await
            .unwrap()
            .get::<i64, _>("n")
    }

    async fn users(&self) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.db.pool())
            .await
            .unwrap()
            .get::<i64, _>("n")
    }
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn the_flow_asks_google_for_a_code_with_pkce_state_nonce_and_the_three_scopes() {
    let app = spawn_app_with_google("acme.test").await;
    let r = app
        .browser()
        .get(app.url("acme", "/auth/google"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("ontrackio_gflow="), "{cookie}");
    assert!(cookie.contains("Path=/auth/google") && cookie.contains("HttpOnly"));
    let q = query_of(&location(&r));
    assert_eq!(q["client_id"], g::DEMO_CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["redirect_uri"], app.url("acme", "/auth/google/callback"));
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43 && q["state"] != q["nonce"]);
    // The product never sends `hd`: it is a hint to Google's picker, not a control.
    assert!(!q.contains_key("hd"));
}

#[tokio::test]
async fn a_workspace_account_is_provisioned_as_employee_and_lands_on_my_dashboard() {
    let app = spawn_app_with_google("acme.test").await;
    let b = app.browser();
    let r = app.google_sign_in(&b, g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&r, "/my/dashboard");
    assert!(session_cookie_value(r.headers()).is_some());
    let u = app
        .user("acme", g::WORKSPACE_EMAIL)
        .await
        .expect("provisioned");
    assert_eq!(
        (u.role, u.status, u.email_verified),
        (Role::Employee, UserStatus::Active, true)
    );
    assert_eq!(
        (u.first_name.as_str(), u.last_name.as_str()),
        ("Dana", "Scully")
    );
    assert_eq!(u.last_login_ip.as_deref(), Some("127.0.0.1"));
    assert!(u.last_login_at.is_some());
    assert_eq!(
        app.audit_count("acme", "User signed in with Google SSO")
            .await,
        1
    );
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_USER_PROVISIONED)
            .await,
        1
    );
    let dash = b
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dash.contains("Welcome, Dana"), "{dash}");
    // Signing in again finds the same user by Google's `sub`.
    let again = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&again, "/my/dashboard");
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_USER_PROVISIONED)
            .await,
        1
    );
    assert_eq!(
        app.audit_count("acme", "User signed in with Google SSO")
            .await,
        2
    );
}

#[tokio::test]
async fn one_user_may_sign_in_with_microsoft_and_google_and_the_users_row_shows_both() {
    let app = spawn_app_with_google("acme.test").await;
    app.invite("acme", ms::ADELE_UPN, Role::Admin, false).await;
    // Entra's Adele, configured by variables on the same app.
    let ws = app.workspace("acme").await;
    let sealed = ontrackio::auth::microsoft::settings::seal_secret(
        &app.config.keys,
        &ws.id,
        &secrecy::SecretString::from(ms::DEMO_CLIENT_SECRET),
    );
    let mut tx = app.db.begin().await.unwrap();
    ontrackio::store::microsoft_settings::save_card(
        &mut *tx,
        &ws.id,
        &ontrackio::store::microsoft_settings::CardFields {
            enabled: true,
            tenant_id: Some("common"),
            client_id: Some(ms::DEMO_CLIENT_ID),
            redirect_uri: None,
            secret_expires_on: None,
            saved_by: "tests",
        },
    )
    .await
    .unwrap();
    ontrackio::store::microsoft_settings::set_secret(
        &mut *tx,
        &ws.id,
        &sealed,
        app.config.keys.sealing_key_id(),
        "tests",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.state.workspace_changed(ws.id.as_str());

    let by_google = app.google_sign_in(&app.browser(), ms::ADELE_UPN).await;
    assert_redirects_to(&by_google, "/admin/dashboard");
    let b = app.browser();
    let by_microsoft = app.microsoft_sign_in(&b, "acme", ms::ADELE_UPN).await;
    assert_redirects_to(&by_microsoft, "/admin/dashboard");
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_ACCOUNT_LINKED)
            .await,
        1
    );
    assert_eq!(
        app.audit_count("acme", actions::MICROSOFT_ACCOUNT_LINKED)
            .await,
        1
    );
    // Adele (an admin) sees her own row; the super-admin sees it too.
    let admin = app.browser();
    let login = app
        .login_as(&admin, "acme", "admin@acme.test", PASSWORD)
        .await;
    assert_redirects_to(&login, "/admin/dashboard");
    let html = admin
        .get(app.url("acme", "/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = html
        .split(&format!("data-email=\"{}\"", ms::ADELE_UPN))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("Adele's row");
    assert!(
        row.contains(">Microsoft<") && row.contains(">Google<"),
        "{row}"
    );
}

#[tokio::test]
async fn a_consumer_account_outside_the_allowlist_is_refused_with_one_audit_row() {
    let app = spawn_app_with_google("acme.test").await;
    let users = app.users().await;
    let r = app.google_sign_in(&app.browser(), g::CONSUMER_EMAIL).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(html.contains("Access restricted. Ask your workspace admin to invite you first."));
    assert!(html.contains("Google sign-in"));
    assert_eq!(app.users().await, users);
    assert_eq!(app.sessions().await, 0);
    let refused: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::GOOGLE_SIGN_IN_REFUSED)
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].details.contains("allowlist"),
        "{}",
        refused[0].details
    );
}

/// Google vouches for who holds an address only in a Workspace organisation (`hd`) or on
/// Gmail itself (spec §4.3): a consumer account on any other domain — the emulator's
/// gmail.test included — is never provisioned, even when the admin allows its domain.
#[tokio::test]
async fn a_consumer_account_on_a_domain_google_does_not_host_is_never_provisioned() {
    let app = spawn_app_with_google("acme.test, gmail.test").await;
    let r = app.google_sign_in(&app.browser(), g::CONSUMER_EMAIL).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", g::CONSUMER_EMAIL).await.is_none());
    assert_eq!(app.sessions().await, 0);
}

/// Security case: `email_verified` false, missing, or the string "true" — only the JSON
/// boolean `true` admits, even for an identity already linked.
#[tokio::test]
async fn email_verified_false_missing_or_a_string_is_refused_even_for_a_linked_account() {
    let app = spawn_app_with_google("acme.test").await;
    let first = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&first, "/my/dashboard");
    let users = app.users().await;
    let sessions = app.sessions().await;
    for (n, m) in [
        GoogleMisbehaviour::EmailVerifiedFalse,
        GoogleMisbehaviour::EmailVerifiedMissing,
        GoogleMisbehaviour::EmailVerifiedString,
    ]
    .into_iter()
    .enumerate()
    {
        app.google.clear_misbehaviour(g::DEMO_CLIENT_ID);
        app.google.set_misbehaviour(g::DEMO_CLIENT_ID, m);
        let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{m:?}");
        assert!(session_cookie_value(r.headers()).is_none(), "{m:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Google has not verified the email address of this account"),
            "{m:?}: {html}"
        );
        assert_eq!(app.sessions().await, sessions, "{m:?}");
        assert_eq!(app.users().await, users, "{m:?}");
        assert_eq!(
            app.audit_count("acme", actions::GOOGLE_SIGN_IN_REFUSED)
                .await,
            n + 1,
            "{m:?}"
        );
    }
    // And the demo's unverified account, never seen before.
    app.google.clear_misbehaviour(g::DEMO_CLIENT_ID);
    let r = app
        .google_sign_in(&app.browser(), g::UNVERIFIED_EMAIL)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", g::UNVERIFIED_EMAIL).await.is_none());
}

/// Security case: `hd` spoofing through the request. A visitor adds `hd=acme.test` to
/// Google's authorize URL; Google's token says what the account is (a consumer account,
/// no `hd`), and only the token counts: Eve's Acme-looking address neither provisions nor
/// takes over the invited user who holds it.
#[tokio::test]
async fn hd_in_the_request_never_counts_only_the_tokens_hd() {
    let app = spawn_app_with_google("acme.test").await;
    let invited = app.invite("acme", g::EVE_EMAIL, Role::Admin, false).await;
    let b = app.browser();
    let callback = app.authorize(&b, "&hd=acme.test", g::EVE_EMAIL).await;
    assert_eq!(
        app.google.last_authorize_params().unwrap().get("hd"),
        Some("acme.test")
    );
    let r = b.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_value(r.headers()).is_none());
    assert_eq!(app.sessions().await, 0);
    let eve = app.user("acme", g::EVE_EMAIL).await.unwrap();
    assert_eq!((eve.id, eve.status), (invited, UserStatus::Invited));
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_ACCOUNT_LINKED)
            .await,
        0
    );
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_SIGN_IN_REFUSED)
            .await,
        1
    );
}

/// The security cases Google's token can carry, each: 502 with the product's words, no
/// session, no user, one audit row naming the reason.
#[tokio::test]
async fn tokens_for_another_client_from_another_issuer_or_with_a_wrong_nonce_are_refused() {
    let app = spawn_app_with_google("acme.test").await;
    let cases = [
        (GoogleMisbehaviour::TokenForAnotherClient, "invalid"),
        (GoogleMisbehaviour::WrongIssuer, "issuer"),
        (GoogleMisbehaviour::WrongNonce, "nonce"),
        (GoogleMisbehaviour::MissingNonce, "invalid"),
        (GoogleMisbehaviour::Expired, "invalid"),
        (GoogleMisbehaviour::BadSignature, "invalid"),
        (GoogleMisbehaviour::UnknownKid, "signing key"),
    ];
    for (n, (m, reason)) in cases.into_iter().enumerate() {
        app.google.clear_misbehaviour(g::DEMO_CLIENT_ID);
        app.google.set_misbehaviour(g::DEMO_CLIENT_ID, m);
        let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{m:?}");
        assert!(session_cookie_value(r.headers()).is_none(), "{m:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("answer could not be verified, so you were not signed in"),
            "{m:?}: {html}"
        );
        assert_eq!(app.sessions().await, 0, "{m:?}");
        assert!(
            app.user("acme", g::WORKSPACE_EMAIL).await.is_none(),
            "{m:?}"
        );
        let refused: Vec<_> = app
            .audit("acme")
            .await
            .into_iter()
            .filter(|e| e.action == actions::GOOGLE_SIGN_IN_REFUSED)
            .collect();
        assert_eq!(refused.len(), n + 1, "{m:?}");
        let details = &refused[0].details;
        assert!(details.contains(reason), "{m:?}: {details}");
    }
}

/// Security case: a replayed code. Even with Google accepting the code twice, the flow
/// cookie is single-use: the same callback again — in the same browser, or in another
/// that stole the URL — signs nobody in.
#[tokio::test]
async fn a_replayed_callback_signs_nobody_in_even_if_google_accepted_the_code_twice() {
    let app = spawn_app_with_google("acme.test").await;
    app.google
        .set_misbehaviour(g::DEMO_CLIENT_ID, GoogleMisbehaviour::AcceptReplayedCode);
    let b = app.browser();
    let callback = app.authorize(&b, "", g::WORKSPACE_EMAIL).await;
    let first = b.get(&callback).send().await.unwrap();
    assert_redirects_to(&first, "/my/dashboard");
    assert_eq!(app.sessions().await, 1);
    let again = b.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("Session expired. Please try again.")
    );
    let thief = app.browser();
    let stolen = thief.get(&callback).send().await.unwrap();
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie_value(stolen.headers()).is_none());
    assert_eq!(app.sessions().await, 1);
}

#[tokio::test]
async fn googles_legacy_issuer_spelling_and_a_rotated_key_are_accepted() {
    let app = spawn_app_with_google("acme.test").await;
    app.google.set_legacy_issuer(true);
    let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&r, "/my/dashboard");
    app.google.set_legacy_issuer(false);
    app.google.rotate_signing_key();
    let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&r, "/my/dashboard");
    // One user: the same `sub` under both spellings of the issuer.
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_USER_PROVISIONED)
            .await,
        1
    );
}

#[tokio::test]
async fn a_token_endpoint_failure_shows_googles_answer_and_the_cancel_case_its_own_words() {
    let app = spawn_app_with_google("acme.test").await;
    app.google
        .set_misbehaviour(g::DEMO_CLIENT_ID, GoogleMisbehaviour::TokenServerError);
    let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(app.sessions().await, 0);
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_SIGN_IN_REFUSED)
            .await,
        1
    );
    // The person cancels at Google: `error=access_denied` comes back.
    app.google.clear_misbehaviour(g::DEMO_CLIENT_ID);
    let b = app.browser();
    let start = b.get(app.url("acme", "/auth/google")).send().await.unwrap();
    let state = query_of(&location(&start))["state"].clone();
    let cancelled = b
        .get(app.url(
            "acme",
            &format!("/auth/google/callback?error=access_denied&state={state}"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::BAD_REQUEST);
    let html = cancelled.text().await.unwrap();
    assert!(
        html.contains("The sign-in was cancelled at Google"),
        "{html}"
    );
}

#[tokio::test]
async fn the_button_shows_only_when_google_is_on_and_complete_and_a_disabled_user_is_refused() {
    let plain = spawn_app().await;
    let html = plain
        .browser()
        .get(plain.url("acme", "/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("continue-with-google"));
    let r = plain
        .browser()
        .get(plain.url("acme", "/auth/google"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Enabled with a client id but no secret is not complete: no button, no flow.
    let incomplete = spawn_app_with(|c| {
        c.google = ontrackio::config::GoogleEnv {
            client_id: Some(g::DEMO_CLIENT_ID.into()),
            client_secret: None,
            redirect_uri: None,
        };
    })
    .await;
    let html = incomplete
        .browser()
        .get(incomplete.url("acme", "/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("continue-with-google"), "{html}");
    let r = incomplete
        .browser()
        .get(incomplete.url("acme", "/auth/google"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let app = spawn_app_with_google("acme.test").await;
    let html = app
        .browser()
        .get(app.url("acme", "/login?return_to=/my/profile"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(
            "id=\"continue-with-google\" href=\"/auth/google?return_to=%2Fmy%2Fprofile\""
        ),
        "{html}"
    );
    let first = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_redirects_to(&first, "/my/dashboard");
    let dana = app.user("acme", g::WORKSPACE_EMAIL).await.unwrap();
    app.disable("acme", &dana.id).await;
    let r = app.google_sign_in(&app.browser(), g::WORKSPACE_EMAIL).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your OnTrackio account is disabled.")
    );
}

/// The allowlist is one rule for every provider, and so is its exception: a Workspace
/// account of another organisation is refused, until an admin invites it as an external
/// collaborator.
#[tokio::test]
async fn another_organisations_account_gets_in_only_as_an_invited_external_collaborator() {
    let app = spawn_app_with_google("acme.test").await;
    let r = app.google_sign_in(&app.browser(), g::PAT_EMAIL).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", g::PAT_EMAIL).await.is_none());
    app.invite("acme", g::PAT_EMAIL, Role::Employee, true).await;
    let r = app.google_sign_in(&app.browser(), g::PAT_EMAIL).await;
    assert_redirects_to(&r, "/my/dashboard");
    let pat = app.user("acme", g::PAT_EMAIL).await.unwrap();
    assert_eq!((pat.status, pat.external), (UserStatus::Active, true));
    assert_eq!(
        app.audit_count("acme", actions::GOOGLE_ACCOUNT_LINKED)
            .await,
        1
    );
}
