//! The Google settings card: access, CSRF, validation, sealing of the secret, the sources
//! of effective values (card > `GOOGLE_*` variable > default), the no-op save, the audit
//! row, the read-only shared domain list, the checklist, the health line, the connection
//! test against the Google emulator, and `secrets rotate-key` across both providers.

use std::sync::Arc;

use entra_emulator::google::{GoogleEmulator, GoogleHandle, GoogleMisbehaviour, demo as g};
use ontrackio::auth::google::settings;
use ontrackio::config::{Config, GoogleEnv, OutboundBase};
use ontrackio::crypto::KeyRing;
use ontrackio::domain::Role;
use ontrackio::store;
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;

const CARD: &str = "/admin/settings/integrations/google";
const TEST: &str = "/admin/settings/integrations/google/test";
const SAVED: &str = "Google sign-in settings saved";
const TESTED: &str = "Google connection tested";
const OTHER_ID: &str = "123456789012-abc123def456ghi789.apps.googleusercontent.com";
const OTHER_SECRET: &str = "GOCSPX-anotherSecretValue_0123456789";

/// A complete, valid card for the Google emulator's demo client.
fn complete() -> Vec<(&'static str, String)> {
    vec![
        ("enabled", "on".into()),
        ("client_id", g::DEMO_CLIENT_ID.into()),
        ("client_secret", g::DEMO_CLIENT_SECRET.into()),
        ("redirect_uri", String::new()),
    ]
}

/// Fields to replace, or to drop (`None`, an unchecked checkbox).
type Changes<'a> = &'a [(&'static str, Option<&'a str>)];

/// `base` with some fields replaced (or dropped, for an unchecked checkbox: `None`).
fn with(
    mut base: Vec<(&'static str, String)>,
    changes: &[(&'static str, Option<&str>)],
) -> Vec<(&'static str, String)> {
    for (name, value) in changes {
        base.retain(|(n, _)| n != name);
        if let Some(v) = value {
            base.push((name, v.to_string()));
        }
    }
    base
}

/// A test app whose Google issuer is a Google emulator of its own (demo directory).
async fn spawn_with_google(adjust: impl FnOnce(&mut Config)) -> (TestApp, GoogleHandle) {
    let google = GoogleEmulator::builder()
        .start()
        .await
        .expect("start the Google emulator");
    let issuer = OutboundBase::parse(&google.issuer()).unwrap();
    let app = spawn_app_with(move |c| {
        c.google_issuer = issuer;
        adjust(c);
    })
    .await;
    (app, google)
}

async fn spawn() -> (TestApp, GoogleHandle) {
    spawn_with_google(|_| {}).await
}

fn full_env() -> GoogleEnv {
    GoogleEnv {
        client_id: Some(g::DEMO_CLIENT_ID.into()),
        client_secret: Some(SecretString::from(g::DEMO_CLIENT_SECRET)),
        redirect_uri: Some("https://sso.acme.test/auth/google/callback".into()),
    }
}

async fn save(app: &TestApp, c: &Client, fields: &[(&'static str, String)]) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    app.post_form(c, "acme", CARD, CARD, &fields).await
}

async fn save_ok(app: &TestApp, c: &Client, fields: &[(&'static str, String)]) {
    let r = save(app, c, fields).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
}

async fn get(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url("acme", path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn page(app: &TestApp, c: &Client, path: &str) -> String {
    let (status, html) = get(app, c, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {html}");
    html
}

/// Test connection, then the card with its result.
async fn test_connection(app: &TestApp, c: &Client) -> String {
    let r = app.post_form(c, "acme", TEST, CARD, &[]).await;
    assert_redirects_to(&r, &format!("{CARD}?notice=tested"));
    page(app, c, CARD).await
}

/// The text inside the element with this id, tags stripped and whitespace collapsed.
fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let tag: String = html[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find(&format!("</{tag}>"))?;
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html[start..end].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An attribute of the element with this id.
fn attr_of(html: &str, id: &str, attr: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let close = at + html[at..].find('>')?;
    let tag = &html[open..close];
    let marker = format!(" {attr}=\"");
    let s = tag.find(&marker)? + marker.len();
    Some(tag[s..s + tag[s..].find('"')?].to_string())
}

fn source(html: &str, field: &str) -> String {
    attr_of(html, &format!("g-{field}-source"), "data-source")
        .unwrap_or_else(|| panic!("no source for {field}"))
}

async fn stored(app: &TestApp) -> Option<store::google_settings::StoredGoogleSettings> {
    let ws = app.workspace("acme").await;
    store::google_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<store::audit::Event> {
    app.audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[tokio::test]
async fn only_super_admins_reach_the_google_card_admins_and_employees_get_403() {
    let (app, _google) = spawn().await;
    app.add_user("acme", "adm@acme.test", Role::Admin).await;
    app.add_user("acme", "emp@acme.test", Role::Employee).await;
    for who in ["adm@acme.test", "emp@acme.test"] {
        let c = app.signed_in("acme", who).await;
        let (status, html) = get(&app, &c, CARD).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
        assert!(html.contains("You don’t have access to this page"));
        let owned = complete();
        let fields: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = app
            .post_form(&c, "acme", CARD, "/my/profile", &fields)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} saving");
        let r = app.post_form(&c, "acme", TEST, "/my/profile", &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} testing");
    }
    assert!(stored(&app).await.is_none(), "nothing was saved or tested");
    assert!(audit_rows(&app, TESTED).await.is_empty());
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert!(html.contains("<h1>Google</h1>"));
}

#[tokio::test]
async fn a_save_or_test_without_this_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let fields = complete();
    let url = app.url("acme", CARD);
    let missing = c.post(&url).form(&fields).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let forged = with(fields.clone(), &[("csrf_token", Some("forged"))]);
    let r = c.post(&url).form(&forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("This form has expired"));
    // Another session's token, and a valid token from another site.
    let other = app.signed_in("acme", "admin@acme.test").await;
    let foreign = app.csrf_token(&other, "acme", CARD).await;
    let r = c
        .post(&url)
        .form(&with(fields.clone(), &[("csrf_token", Some(&foreign))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let token = app.csrf_token(&c, "acme", CARD).await;
    let r = c
        .post(&url)
        .header("origin", "http://evil.test")
        .form(&with(fields.clone(), &[("csrf_token", Some(&token))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(app.url("acme", TEST)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(stored(&app).await.is_none());
    assert!(audit_rows(&app, SAVED).await.is_empty());
    assert!(audit_rows(&app, TESTED).await.is_empty());
}

#[tokio::test]
async fn the_card_shows_its_fields_defaults_and_the_exact_values_for_google_cloud_console() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    for label in [
        "Enable Google sign-in</label>",
        "Client ID</label>",
        "Client secret</label>",
        "Redirect URI <span",
        "Allowed email domains</p>",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert!(html.contains("Leave blank to keep the stored secret."));
    assert_eq!(
        attr_of(&html, "g-secret", "type").as_deref(),
        Some("password")
    );
    assert_eq!(attr_of(&html, "g-secret", "value").as_deref(), Some(""));
    assert!(!html.contains("value=\"on\" checked"), "off by default");
    for field in ["enabled", "client", "secret", "redirect"] {
        assert_eq!(source(&html, field), "default", "{field}");
    }
    let redirect = app.url("acme", "/auth/google/callback");
    assert_eq!(
        attr_of(&html, "g-redirect-effective", "value"),
        Some(redirect.clone())
    );
    assert_eq!(text_of(&html, "value-redirect-uri"), Some(redirect));
    assert_eq!(
        text_of(&html, "value-javascript-origin"),
        Some(app.url("acme", ""))
    );
    assert_eq!(
        text_of(&html, "value-scopes").as_deref(),
        Some("openid email profile")
    );
    assert!(html.contains("<dt>Application type</dt><dd><strong>Web application</strong></dd>"));
    assert_eq!(
        text_of(&html, "checklist-progress").as_deref(),
        Some("0 of 3 done")
    );
    assert_eq!(
        text_of(&html, "card-status").unwrap().split(':').next(),
        Some("Not configured yet")
    );
}

#[tokio::test]
async fn saving_turns_google_sign_in_on_with_every_field_from_this_card_and_the_secret_sealed() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let html = page(&app, &c, &format!("{CARD}?notice=saved")).await;
    assert_eq!(
        text_of(&html, "card-notice").as_deref(),
        Some("Saved. The Continue with Google button appears on /login immediately.")
    );
    assert_eq!(
        attr_of(&html, "card-status", "data-status").as_deref(),
        Some("on")
    );
    for field in ["enabled", "client", "secret"] {
        assert_eq!(source(&html, field), "card", "{field}");
    }
    assert_eq!(source(&html, "redirect"), "default");
    assert_eq!(
        attr_of(&html, "g-client", "value").as_deref(),
        Some(g::DEMO_CLIENT_ID)
    );
    let secret = text_of(&html, "g-secret-source").unwrap();
    assert!(
        secret.starts_with("In effect: Stored — saved 2") && secret.contains("by admin@acme.test"),
        "{secret}"
    );
    assert!(!html.contains(g::DEMO_CLIENT_SECRET));

    let row = stored(&app).await.unwrap();
    assert!(row.enabled && row.card_saved());
    assert_eq!(row.client_id.as_deref(), Some(g::DEMO_CLIENT_ID));
    assert_eq!(row.redirect_uri, None, "blank: the default applies");
    assert_eq!(row.saved_by.as_deref(), Some("admin@acme.test"));
    let sealed = row.client_secret_sealed.unwrap();
    assert!(sealed.starts_with("v1.k1.") && !sealed.contains(g::DEMO_CLIENT_SECRET));
    assert_eq!(row.secret_key_id.as_deref(), Some("k1"));
    let ws = app.workspace("acme").await;
    let opened = settings::open_secret(&app.config.keys, &ws.id, &sealed).unwrap();
    assert_eq!(opened.expose_secret(), g::DEMO_CLIENT_SECRET);
    // Bound to this workspace and to the Google field.
    assert!(
        ontrackio::auth::microsoft::settings::open_secret(&app.config.keys, &ws.id, &sealed)
            .is_none()
    );

    // Turning it off keeps the credentials.
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("enabled", None), ("client_secret", Some(""))],
        ),
    )
    .await;
    let html = page(&app, &c, &format!("{CARD}?notice=saved")).await;
    assert!(
        text_of(&html, "card-notice")
            .unwrap()
            .starts_with("Saved. Google sign-in is off")
    );
    assert_eq!(
        attr_of(&html, "card-status", "data-status").as_deref(),
        Some("off")
    );
    assert_eq!(
        stored(&app).await.unwrap().client_secret_sealed,
        Some(sealed)
    );
}

#[tokio::test]
async fn each_invalid_field_is_refused_next_to_it_keeping_what_was_typed_but_never_the_secret() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let cases: &[(Changes, &str, &str)] = &[
        (
            &[("client_id", Some("c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45"))],
            "g-client-error",
            "Enter the Client ID from Google Cloud console",
        ),
        (
            &[("client_id", Some(g::DEMO_CLIENT_SECRET))],
            "g-client-error",
            "This looks like the client secret (it starts with GOCSPX-), not the Client ID.",
        ),
        (
            &[("client_secret", Some(g::DEMO_CLIENT_ID))],
            "g-secret-error",
            "This is the Client ID, not the client secret.",
        ),
        (
            &[("client_secret", Some("GOCSPX-with a space inside it"))],
            "g-secret-error",
            "exactly as Google Cloud console shows it (no spaces)",
        ),
        (
            &[("client_secret", Some(""))],
            "g-secret-error",
            "no secret is stored yet",
        ),
        (
            &[(
                "redirect_uri",
                Some("http://acme.example.com/auth/google/callback"),
            )],
            "g-redirect-error",
            "exactly as listed under Authorized redirect URIs in Google Cloud console",
        ),
    ];
    for (changes, error_id, message) in cases {
        let fields = with(complete(), changes);
        let r = save(&app, &c, &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{error_id}");
        let html = r.text().await.unwrap();
        let shown = text_of(&html, error_id).unwrap_or_else(|| panic!("no {error_id} in {html}"));
        assert!(shown.contains(message), "{error_id}: {shown}");
        let input = error_id.trim_end_matches("-error");
        assert_eq!(
            attr_of(&html, input, "aria-invalid").as_deref(),
            Some("true"),
            "{input}"
        );
        assert_eq!(
            html.matches("class=\"field-error\"").count(),
            1,
            "{error_id}"
        );
        // What was typed stays in the non-secret inputs; the secret input stays empty.
        let typed = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(attr_of(&html, "g-client", "value"), typed("client_id"));
        assert_eq!(attr_of(&html, "g-redirect", "value"), typed("redirect_uri"));
        assert_eq!(attr_of(&html, "g-secret", "value").as_deref(), Some(""));
        if *error_id != "g-client-error" {
            assert!(!html.contains(g::DEMO_CLIENT_SECRET), "{error_id}");
        }
        assert!(!html.contains("with a space inside"), "{error_id}");
    }
    assert!(stored(&app).await.is_none());
    assert!(audit_rows(&app, SAVED).await.is_empty());
}

#[tokio::test]
async fn a_client_id_can_be_kept_switched_off_without_a_secret() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("enabled", None), ("client_secret", Some(""))],
        ),
    )
    .await;
    let row = stored(&app).await.unwrap();
    assert!(!row.enabled && row.client_secret_sealed.is_none());
}

#[tokio::test]
async fn a_blank_secret_keeps_the_stored_one_and_a_new_value_replaces_it() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let first = stored(&app).await.unwrap();
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("client_secret", Some("")), ("client_id", Some(OTHER_ID))],
        ),
    )
    .await;
    let second = stored(&app).await.unwrap();
    assert_eq!(second.client_secret_sealed, first.client_secret_sealed);
    assert_eq!(second.secret_saved_at, first.secret_saved_at);
    assert_eq!(second.client_id.as_deref(), Some(OTHER_ID));
    save_ok(
        &app,
        &c,
        &with(complete(), &[("client_secret", Some(OTHER_SECRET))]),
    )
    .await;
    let third = stored(&app).await.unwrap();
    let ws = app.workspace("acme").await;
    let opened = settings::open_secret(
        &app.config.keys,
        &ws.id,
        third.client_secret_sealed.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose_secret(), OTHER_SECRET);
}

#[tokio::test]
async fn saving_what_is_already_saved_says_nothing_to_change_and_writes_nothing() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let before = stored(&app).await.unwrap();
    // The same values, with the secret left blank or pasted again.
    for fields in [with(complete(), &[("client_secret", Some(""))]), complete()] {
        let r = save(&app, &c, &fields).await;
        assert_redirects_to(&r, &format!("{CARD}?notice=unchanged"));
    }
    let html = page(&app, &c, &format!("{CARD}?notice=unchanged")).await;
    assert_eq!(
        text_of(&html, "card-notice").as_deref(),
        Some("Nothing to change: the settings were already saved as shown.")
    );
    assert_eq!(audit_rows(&app, SAVED).await.len(), 1);
    let after = stored(&app).await.unwrap();
    assert_eq!(after.client_secret_sealed, before.client_secret_sealed);
    assert_eq!(after.saved_at, before.saved_at);
}

#[tokio::test]
async fn each_save_writes_one_audit_row_naming_the_changed_fields_and_never_the_secret() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let rows = audit_rows(&app, SAVED).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_label, "admin@acme.test");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rows[0].details).unwrap(),
        serde_json::json!({"changed": ["enabled", "client_id", "client_secret"]})
    );
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("enabled", None), ("client_secret", Some(""))],
        ),
    )
    .await;
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[
                ("client_secret", Some(OTHER_SECRET)),
                (
                    "redirect_uri",
                    Some("https://sso.acme.test/auth/google/callback"),
                ),
            ],
        ),
    )
    .await;
    let rows = audit_rows(&app, SAVED).await;
    assert_eq!(rows.len(), 3);
    // Newest first.
    assert_eq!(
        rows[0].details,
        r#"{"changed":["enabled","client_secret","redirect_uri"]}"#
    );
    assert_eq!(rows[1].details, r#"{"changed":["enabled"]}"#);
    for row in &rows {
        assert!(!row.details.contains("GOCSPX"), "{}", row.details);
    }
}

/// Collects everything the app logs while a test runs on this (current-thread) runtime.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_secret_never_appears_in_pages_the_audit_log_or_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        // Everything, the HTTP client's and server's traces included: the secret travels
        // to Google's token endpoint in a request body.
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // The subscriber is this thread's, where the current-thread runtime runs the app's
    // tasks; tracing's per-callsite interest is shared with tests running beside this
    // one, so the app's own lines are not reliably captured: this marker proves the
    // capture works, and whatever the app logs here is checked for the secret.
    tracing::info!("capture marker");

    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    // A refused save, a test with the right secret and one with a wrong one.
    let r = save(
        &app,
        &c,
        &with(complete(), &[("redirect_uri", Some("ftp://x"))]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.text().await.unwrap().contains(g::DEMO_CLIENT_SECRET));
    test_connection(&app, &c).await;
    save_ok(
        &app,
        &c,
        &with(complete(), &[("client_secret", Some(OTHER_SECRET))]),
    )
    .await;
    test_connection(&app, &c).await;
    for path in [
        CARD,
        "/admin/settings/integrations",
        "/admin/dashboard",
        "/admin/audit-log",
        "/admin/audit-log/export",
    ] {
        let body = page(&app, &c, path).await;
        for secret in [g::DEMO_CLIENT_SECRET, OTHER_SECRET] {
            assert!(!body.contains(secret), "{path}");
        }
    }
    for row in app.audit("acme").await {
        assert!(!row.details.contains("GOCSPX"), "{}", row.details);
    }
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("capture marker"), "the logs were captured");
    for secret in [g::DEMO_CLIENT_SECRET, OTHER_SECRET] {
        assert!(!logged.contains(secret));
    }
}

#[tokio::test]
async fn env_only_settings_show_their_variables_and_turn_sign_in_on_before_any_save() {
    let (app, _google) = spawn_with_google(|c| c.google = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    for field in ["enabled", "client", "secret", "redirect"] {
        assert_eq!(source(&html, field), "environment", "{field}");
    }
    assert!(
        text_of(&html, "g-client-source")
            .unwrap()
            .ends_with("from the GOOGLE_CLIENT_ID variable")
    );
    assert!(
        text_of(&html, "g-secret-source")
            .unwrap()
            .contains("Set by the GOOGLE_CLIENT_SECRET variable")
    );
    assert!(
        text_of(&html, "g-enabled-source")
            .unwrap()
            .starts_with("In effect: On")
    );
    assert_eq!(
        attr_of(&html, "g-redirect-effective", "value").as_deref(),
        Some("https://sso.acme.test/auth/google/callback")
    );
    // The toggle is pre-filled with what is in effect, so a first save keeps it; the other
    // inputs stay blank (they fall back to the variables).
    assert!(html.contains("value=\"on\" checked"));
    assert_eq!(attr_of(&html, "g-client", "value").as_deref(), Some(""));
    assert_eq!(
        attr_of(&html, "card-status", "data-status").as_deref(),
        Some("on")
    );
    assert!(
        text_of(&html, "checklist-client-mark")
            .unwrap()
            .starts_with("Done: the Client ID comes from the GOOGLE_CLIENT_ID variable.")
    );
    // The variable's secret counts as one in effect: a save needs no secret pasted.
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("client_secret", Some("")), ("client_id", Some(""))],
        ),
    )
    .await;
    assert!(stored(&app).await.unwrap().client_secret_sealed.is_none());
}

#[tokio::test]
async fn a_card_value_beats_its_variable_and_blank_fields_keep_falling_back() {
    let (app, _google) = spawn_with_google(|c| c.google = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(
        &app,
        &c,
        &[
            ("enabled", "on".into()),
            ("client_id", OTHER_ID.into()),
            ("client_secret", String::new()),
            ("redirect_uri", String::new()),
        ],
    )
    .await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(source(&html, "client"), "card");
    assert_eq!(
        text_of(&html, "g-client-source").unwrap(),
        format!("In effect: {OTHER_ID} from this card")
    );
    assert_eq!(source(&html, "enabled"), "card");
    assert_eq!(source(&html, "secret"), "environment");
    assert_eq!(source(&html, "redirect"), "environment");
}

#[tokio::test]
async fn once_saved_the_cards_toggle_decides_whatever_google_client_id_says() {
    let env = GoogleEnv {
        client_id: Some(g::DEMO_CLIENT_ID.into()),
        ..GoogleEnv::default()
    };
    let (app, _google) = spawn_with_google(move |c| c.google = env).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(source(&html, "enabled"), "environment");
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[
                ("enabled", None),
                ("client_id", Some("")),
                ("client_secret", Some("")),
            ],
        ),
    )
    .await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(source(&html, "enabled"), "card");
    assert!(
        text_of(&html, "g-enabled-source")
            .unwrap()
            .starts_with("In effect: Off")
    );
    assert_eq!(source(&html, "client"), "environment");
    assert_eq!(
        attr_of(&html, "card-status", "data-status").as_deref(),
        Some("off")
    );
}

#[tokio::test]
async fn an_invalid_variable_is_ignored_and_named_on_the_card_without_its_value() {
    let env = GoogleEnv {
        client_id: Some("c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45".into()),
        client_secret: Some(SecretString::from("a bad secret value with spaces")),
        redirect_uri: Some("http://sso.acme.test/auth/google/callback".into()),
    };
    let (app, _google) = spawn_with_google(move |c| c.google = env).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    let note = text_of(&html, "g-client-env").unwrap();
    assert!(
        note.starts_with("GOOGLE_CLIENT_ID is set but ignored: Enter the Client ID"),
        "{note}"
    );
    assert!(
        text_of(&html, "g-secret-env")
            .unwrap()
            .starts_with("GOOGLE_CLIENT_SECRET is set but ignored: Paste the client secret")
    );
    assert!(
        text_of(&html, "g-redirect-env")
            .unwrap()
            .starts_with("GOOGLE_REDIRECT_URI is set but ignored")
    );
    for field in ["client", "secret", "redirect"] {
        assert_eq!(source(&html, field), "default", "{field}");
    }
    // GOOGLE_CLIENT_ID is set, so sign-in is on — but there is no usable id to show a button.
    assert_eq!(source(&html, "enabled"), "environment");
    assert!(
        text_of(&html, "card-status")
            .unwrap()
            .contains("stays hidden until a Client ID is set")
    );
    assert!(!html.contains("a bad secret value"));
    assert!(!html.contains("c0a8e5f2-4b7d"));
}

#[tokio::test]
async fn the_shared_domain_list_is_shown_read_only_with_a_link_to_where_it_is_edited() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(
        text_of(&html, "g-domains-value").as_deref(),
        Some("In effect: Any account")
    );
    assert_eq!(
        attr_of(&html, "g-domains-edit", "href").as_deref(),
        Some("/admin/settings/integrations/microsoft#ms-domains")
    );
    assert!(!html.contains("name=\"allowed_domains\""), "no second copy");
    assert!(
        text_of(&html, "any-account-warning").is_none(),
        "not on yet"
    );

    // On with no domain allowed: any Google account could sign in, and the card says so.
    save_ok(&app, &c, &complete()).await;
    let warning = text_of(&page(&app, &c, CARD).await, "any-account-warning").unwrap();
    assert!(
        warning.contains("including a personal Gmail address"),
        "{warning}"
    );

    app.set_allowed_domains("acme", "acme.test, acme.co.uk")
        .await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(
        text_of(&html, "g-domains-value").as_deref(),
        Some("In effect: acme.test, acme.co.uk")
    );
    assert!(text_of(&html, "any-account-warning").is_none());
    // A Google save leaves the shared list alone.
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("enabled", None), ("client_secret", Some(""))],
        ),
    )
    .await;
    assert_eq!(app.workspace("acme").await.allowed_email_domains.len(), 2);
}

#[tokio::test]
async fn the_integrations_page_lists_the_google_card_with_its_status() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let status = |html: &str| text_of(html, "google-status").unwrap();
    let html = page(&app, &c, "/admin/settings/integrations").await;
    assert_eq!(status(&html), "Not configured");
    assert!(html.contains(&format!("href=\"{CARD}\"")));
    save_ok(&app, &c, &complete()).await;
    assert_eq!(
        status(&page(&app, &c, "/admin/settings/integrations").await),
        "On"
    );
    save_ok(
        &app,
        &c,
        &with(
            complete(),
            &[("enabled", None), ("client_secret", Some(""))],
        ),
    )
    .await;
    assert_eq!(
        status(&page(&app, &c, "/admin/settings/integrations").await),
        "Off"
    );
}

#[tokio::test]
async fn test_connection_passes_when_google_accepts_the_client_id_and_secret() {
    let (app, _google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let html = test_connection(&app, &c).await;
    assert_eq!(
        attr_of(&html, "health-test", "data-ok").as_deref(),
        Some("true")
    );
    let result = text_of(&html, "health-test").unwrap();
    assert!(
        result.starts_with(
            "Passed — All good: Google found the OAuth client and accepted its client secret."
        ),
        "{result}"
    );
    assert_eq!(
        text_of(&html, "checklist-secret-mark").as_deref(),
        Some("Done: Test connection: Google accepted the Client ID and client secret.")
    );
    let rows = audit_rows(&app, TESTED).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].details, r#"{"error":"invalid_grant","ok":true}"#);
}

async fn tested_with(changes: &[(&'static str, Option<&str>)]) -> (TestApp, String) {
    let (app, google) = spawn().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &with(complete(), changes)).await;
    let html = test_connection(&app, &c).await;
    assert_eq!(
        attr_of(&html, "health-test", "data-ok").as_deref(),
        Some("false")
    );
    drop(google);
    (app, text_of(&html, "health-test").unwrap())
}

#[tokio::test]
async fn test_connection_reports_a_wrong_client_secret() {
    let (app, result) = tested_with(&[("client_secret", Some(OTHER_SECRET))]).await;
    assert!(
        result.starts_with(
            "Failed — Google refused the client secret (invalid_client: Unauthorized)."
        ),
        "{result}"
    );
    let rows = audit_rows(&app, TESTED).await;
    assert_eq!(rows[0].details, r#"{"error":"invalid_client","ok":false}"#);
}

#[tokio::test]
async fn test_connection_reports_a_client_id_google_does_not_know() {
    let (_app, result) = tested_with(&[("client_id", Some(OTHER_ID))]).await;
    assert!(
        result.starts_with("Failed — Google does not know this Client ID (invalid_client: The OAuth client was not found.)."),
        "{result}"
    );
}

#[tokio::test]
async fn test_connection_without_a_secret_says_to_paste_one() {
    let (_app, result) = tested_with(&[("enabled", None), ("client_secret", Some(""))]).await;
    assert!(
        result.starts_with("Failed — No client secret is set: paste it into Client secret"),
        "{result}"
    );
}

#[tokio::test]
async fn test_connection_reports_a_failing_token_endpoint() {
    let (app, google) = spawn().await;
    google.set_misbehaviour(g::DEMO_CLIENT_ID, GoogleMisbehaviour::TokenServerError);
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let html = test_connection(&app, &c).await;
    let result = text_of(&html, "health-test").unwrap();
    assert!(
        result.starts_with(
            "Failed — Google's token endpoint answered internal_failure (HTTP 500): Backend Error"
        ),
        "{result}"
    );
}

#[tokio::test]
async fn test_connection_reports_google_unreachable() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let issuer = OutboundBase::parse(&issuer).unwrap();
    let app = spawn_app_with(move |c| c.google_issuer = issuer).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    let html = test_connection(&app, &c).await;
    let result = text_of(&html, "health-test").unwrap();
    assert!(
        result.starts_with("Failed — Google could not be reached."),
        "{result}"
    );
}

#[tokio::test]
async fn the_health_line_shows_the_last_failure_and_success_even_for_env_only_settings() {
    let (app, _google) = spawn_with_google(|c| c.google = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(text_of(&html, "health-success").as_deref(), Some("Never"));
    assert_eq!(text_of(&html, "health-failure").as_deref(), Some("None"));
    assert_eq!(text_of(&html, "health-test").as_deref(), Some("Never"));
    let ws = app.workspace("acme").await;
    settings::record_failure(&app.db, &ws.id, "Google refused the authorization code")
        .await
        .unwrap();
    let html = page(&app, &c, CARD).await;
    assert!(
        text_of(&html, "health-failure")
            .unwrap()
            .starts_with("Google refused the authorization code (2")
    );
    // A health-only row is not a saved card: the variables still decide.
    assert!(!stored(&app).await.unwrap().card_saved());
    assert_eq!(source(&html, "enabled"), "environment");
    store::google_settings::record_success_statement(&ws.id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let html = page(&app, &c, CARD).await;
    assert_ne!(text_of(&html, "health-success").as_deref(), Some("Never"));
    assert_eq!(
        attr_of(&html, "checklist-consent", "data-done").as_deref(),
        Some("true")
    );
}

/// `ontrackio secrets rotate-key` with only the variables this test gives it.
fn rotate_key(database_url: &str, master_key: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ontrackio"))
        .args(["secrets", "rotate-key"])
        .env_remove("ONTRACKIO_MASTER_KEY_FILE")
        .env("ONTRACKIO_DATABASE_URL", database_url)
        .env("ONTRACKIO_MASTER_KEY", master_key)
        .output()
        .unwrap()
}

/// Saves the Microsoft card too (its own emulator's demo app), so both providers hold a secret.
async fn save_microsoft(app: &TestApp, c: &Client) {
    let fields = [
        ("enabled", "on"),
        ("tenant_id", ms::ACME_TENANT_ID),
        ("client_id", ms::DEMO_CLIENT_ID),
        ("client_secret", ms::DEMO_CLIENT_SECRET),
        ("allowed_domains", "acme.test"),
    ];
    let path = "/admin/settings/integrations/microsoft";
    let r = app.post_form(c, "acme", path, path, &fields).await;
    assert_redirects_to(&r, &format!("{path}?notice=saved"));
}

#[tokio::test]
async fn rotate_key_reseals_the_google_secrets_with_the_microsoft_ones_all_or_nothing() {
    let old = format!("old:{}", KeyRing::generate_encoded());
    let new = format!("new:{}", KeyRing::generate_encoded());
    let old_ring = KeyRing::parse(&old).unwrap();
    let (app, _google) = spawn_with_google(move |c| c.keys = old_ring).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &complete()).await;
    save_microsoft(&app, &c).await;
    let url = app.config.database_url.as_str().to_string();
    let ws = app.workspace("acme").await;

    // A Google secret no configured key opens stops the whole rotation, Microsoft's too.
    let lost = KeyRing::parse(&format!("lost:{}", KeyRing::generate_encoded())).unwrap();
    let unreadable = settings::seal_secret(&lost, &ws.id, &SecretString::from(OTHER_SECRET));
    let good = stored(&app).await.unwrap();
    store::google_settings::update_sealed_secret(app.db.pool(), &ws.id, &unreadable, "lost")
        .await
        .unwrap();
    let out = rotate_key(&url, &format!("{new},{old}"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the Google client secret of workspace")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    let microsoft = store::microsoft_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        microsoft.secret_key_id.as_deref(),
        Some("old"),
        "rolled back"
    );

    // With the Google secret readable again, both are re-sealed in one go.
    store::google_settings::update_sealed_secret(
        app.db.pool(),
        &ws.id,
        good.client_secret_sealed.as_deref().unwrap(),
        "old",
    )
    .await
    .unwrap();
    let out = rotate_key(&url, &format!("{new},{old}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "Re-sealed 2 secret(s) under key new; 0 already used it."
    );
    assert!(!stdout.contains("GOCSPX") && !stderr.contains("GOCSPX"));
    let after = stored(&app).await.unwrap();
    assert_eq!(after.secret_key_id.as_deref(), Some("new"));
    assert_eq!(after.secret_saved_at, good.secret_saved_at);
    let new_only = KeyRing::parse(&new).unwrap();
    let opened = settings::open_secret(
        &new_only,
        &ws.id,
        after.client_secret_sealed.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose_secret(), g::DEMO_CLIENT_SECRET);
    let again = rotate_key(&url, &format!("{new},{old}"));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "Re-sealed 0 secret(s) under key new; 2 already used it."
    );
}
