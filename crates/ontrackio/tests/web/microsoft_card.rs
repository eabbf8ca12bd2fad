//! The Microsoft Entra ID settings card (guide, Step 5): access, validation, sealing of the
//! secret, effective-value sources, the cache behind the login button, the connection test
//! against the emulator, the dashboard's warnings and `secrets rotate-key`.

use std::time::Duration;

use ontrackio::Application;
use ontrackio::auth::microsoft::settings;
use ontrackio::config::{AzureEnv, BaseUrl};
use ontrackio::crypto::KeyRing;
use ontrackio::domain::Role;
use ontrackio::store::{self, Backend, Db};
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;

const CARD: &str = "/admin/settings/integrations/microsoft";
const TEST: &str = "/admin/settings/integrations/microsoft/test";
const SAVED: &str = "Microsoft Entra ID settings saved";
const TESTED: &str = "Microsoft Entra ID connection tested";
const ANOTHER_SECRET: &str = "Zz9~anotherSecret.Value_0123456789abcd";

/// A complete, valid card for the emulator's demo app pinned to Acme's directory.
fn pinned() -> Vec<(&'static str, String)> {
    vec![
        ("enabled", "on".into()),
        ("tenant_id", ms::ACME_TENANT_ID.into()),
        ("client_id", ms::DEMO_CLIENT_ID.into()),
        ("client_secret", ms::DEMO_CLIENT_SECRET.into()),
        ("redirect_uri", String::new()),
        ("allowed_domains", "acme.test".into()),
        ("secret_expires_on", String::new()),
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

async fn login_has_button(app: &TestApp) -> bool {
    let html = page(app, &app.browser(), "/login").await;
    html.contains("Continue with Microsoft")
}

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
    attr_of(html, &format!("ms-{field}-source"), "data-source")
        .unwrap_or_else(|| panic!("no source for {field}"))
}

async fn stored(app: &TestApp) -> Option<store::microsoft_settings::StoredSettings> {
    let ws = app.workspace("acme").await;
    store::microsoft_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
}

async fn saved_audit_rows(app: &TestApp) -> Vec<store::audit::Event> {
    app.audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == SAVED)
        .collect()
}

fn date_in(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

#[tokio::test]
async fn only_super_admins_reach_the_microsoft_card_admins_and_employees_get_403() {
    let app = spawn_app().await;
    app.add_user("acme", "adm@acme.test", Role::Admin).await;
    app.add_user("acme", "emp@acme.test", Role::Employee).await;
    for who in ["adm@acme.test", "emp@acme.test"] {
        let c = app.signed_in("acme", who).await;
        let (status, html) = get(&app, &c, CARD).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
        assert!(html.contains("You don’t have access to this page"));
        let owned = pinned();
        let fields: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = app
            .post_form(&c, "acme", CARD, "/my/profile", &fields)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} saving");
        let r = app.post_form(&c, "acme", TEST, "/my/profile", &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} testing");
    }
    assert!(stored(&app).await.is_none(), "nothing was saved");
    assert_eq!(app.audit_count("acme", TESTED).await, 0);
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert!(html.contains("Microsoft Entra ID"));
}

#[tokio::test]
async fn the_card_has_the_guides_six_fields_with_their_labels_defaults_and_help() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    for label in [
        "Enable Microsoft SSO",
        "Directory (tenant) ID",
        "Application (client) ID",
        "Client secret value",
        "Redirect URI",
        "Allowed email domains",
        "Secret expires on",
    ] {
        assert!(
            html.contains(&format!("{label}</label>")) || html.contains(&format!("{label} <span")),
            "{label}"
        );
    }
    assert!(html.contains("Turning it off hides the button without clearing the credentials."));
    assert!(html.contains("not its ID. Encrypted at rest."));
    assert!(html.contains("This list is shared with Google sign-in"));
    assert_eq!(
        attr_of(&html, "ms-secret", "type").as_deref(),
        Some("password")
    );
    assert_eq!(attr_of(&html, "ms-secret", "value").as_deref(), Some(""));
    assert_eq!(
        attr_of(&html, "ms-enabled", "type").as_deref(),
        Some("checkbox")
    );
    assert!(
        !html.contains("id=\"ms-enabled\" name=\"enabled\" type=\"checkbox\" value=\"on\" checked"),
        "off by default"
    );
    let redirect = format!(
        "http://acme.localhost:{}/auth/microsoft/callback",
        app.port()
    );
    assert_eq!(source(&html, "tenant"), "default");
    assert!(
        text_of(&html, "ms-tenant-source")
            .unwrap()
            .contains("common")
    );
    assert_eq!(source(&html, "redirect"), "default");
    assert_eq!(
        attr_of(&html, "ms-redirect-effective", "value"),
        Some(redirect)
    );
    assert!(html.contains("readonly"));
    assert!(html.contains("data-copy=\"ms-redirect-effective\""));
    assert_eq!(
        text_of(&html, "card-status").unwrap().split(':').next(),
        Some("Not configured yet")
    );
}

#[tokio::test]
async fn saving_the_card_shows_the_microsoft_button_on_login_immediately() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    // Read once, so the settings are cached before the save.
    assert!(!login_has_button(&app).await);
    save_ok(&app, &c, &pinned()).await;
    let html = page(&app, &c, &format!("{CARD}?notice=saved")).await;
    assert_eq!(
        text_of(&html, "card-notice").as_deref(),
        Some("Saved. The Continue with Microsoft button appears on /login immediately.")
    );
    assert!(
        login_has_button(&app).await,
        "the cache was invalidated by the save"
    );
    // Turning it off hides the button but keeps the credentials.
    save_ok(
        &app,
        &c,
        &with(pinned(), &[("enabled", None), ("client_secret", Some(""))]),
    )
    .await;
    assert!(!login_has_button(&app).await);
    let html = page(&app, &c, CARD).await;
    assert_eq!(
        attr_of(&html, "ms-client", "value").as_deref(),
        Some(ms::DEMO_CLIENT_ID)
    );
    assert!(
        text_of(&html, "ms-secret-source")
            .unwrap()
            .contains("Stored — saved")
    );
}

#[tokio::test]
async fn each_invalid_field_is_refused_by_its_field_with_422_and_nothing_is_saved() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let cases: &[(Changes, &str, &str)] = &[
        (
            &[("tenant_id", Some("contoso.onmicrosoft.com"))],
            "ms-tenant-error",
            "Enter the Directory (tenant) ID",
        ),
        (
            &[("client_id", Some("OnTrackio ITAM"))],
            "ms-client-error",
            "Enter the Application (client) ID",
        ),
        (
            &[("client_secret", Some(ms::DEMO_CLIENT_SECRET_ID))],
            "ms-secret-error",
            "the secret ID, not its Value",
        ),
        (
            &[("client_secret", Some(""))],
            "ms-secret-error",
            "no secret is stored yet",
        ),
        (
            &[(
                "redirect_uri",
                Some("http://acme.example.com/auth/microsoft/callback"),
            )],
            "ms-redirect-error",
            "absolute https:// URL",
        ),
        (
            &[("allowed_domains", Some("acme.test, acme..test"))],
            "ms-domains-error",
            "is not a valid domain name",
        ),
        (
            &[("tenant_id", Some("common")), ("allowed_domains", Some(""))],
            "ms-domains-error",
            "Required when Directory (tenant) ID is common: the allowlist is the only boundary against sign-ins from any directory.",
        ),
        (
            &[("secret_expires_on", Some("31/12/2027"))],
            "ms-expires-error",
            "YYYY-MM-DD",
        ),
    ];
    for (changes, error_id, message) in cases {
        let fields = with(pinned(), changes);
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
            "{error_id}: only its own field"
        );
    }
    assert!(stored(&app).await.is_none());
    assert!(app.workspace("acme").await.allowed_email_domains.is_empty());
    assert!(saved_audit_rows(&app).await.is_empty());
}

#[tokio::test]
async fn common_is_accepted_with_allowed_domains_and_http_only_for_loopback_redirects() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let redirect = format!(
        "http://acme.localhost:{}/auth/microsoft/callback",
        app.port()
    );
    save_ok(
        &app,
        &c,
        &with(
            pinned(),
            &[
                ("tenant_id", Some("common")),
                ("redirect_uri", Some(&redirect)),
            ],
        ),
    )
    .await;
    let row = stored(&app).await.unwrap();
    assert_eq!(row.tenant_id.as_deref(), Some("common"));
    assert_eq!(row.redirect_uri.as_deref(), Some(redirect.as_str()));
}

#[tokio::test]
async fn a_refused_save_never_echoes_the_secret_back() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = save(
        &app,
        &c,
        &with(pinned(), &[("tenant_id", Some("not-a-tenant"))]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("not-a-tenant"), "what was typed is kept");
    assert!(!html.contains(ms::DEMO_CLIENT_SECRET));
}

#[tokio::test]
async fn a_blank_secret_keeps_the_stored_one() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let first = stored(&app).await.unwrap();
    save_ok(
        &app,
        &c,
        &with(
            pinned(),
            &[
                ("client_secret", Some("")),
                ("allowed_domains", Some("acme.test, acme.co.uk")),
            ],
        ),
    )
    .await;
    let second = stored(&app).await.unwrap();
    assert_eq!(second.client_secret_sealed, first.client_secret_sealed);
    assert_eq!(second.secret_saved_at, first.secret_saved_at);
    let ws = app.workspace("acme").await;
    let opened = settings::open_secret(
        &app.config.keys,
        &ws.id,
        second.client_secret_sealed.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose_secret(), ms::DEMO_CLIENT_SECRET);
    // A new value replaces it.
    save_ok(
        &app,
        &c,
        &with(pinned(), &[("client_secret", Some(ANOTHER_SECRET))]),
    )
    .await;
    let third = stored(&app).await.unwrap();
    let opened = settings::open_secret(
        &app.config.keys,
        &ws.id,
        third.client_secret_sealed.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose_secret(), ANOTHER_SECRET);
}

/// Every byte the database keeps, as text, wherever it lives.
async fn raw_database(app: &TestApp) -> Vec<u8> {
    match app.db.backend() {
        Backend::Sqlite => {
            let path = app
                .config
                .database_url
                .as_str()
                .trim_start_matches("sqlite://");
            let path = std::path::Path::new(path.split('?').next().unwrap());
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let mut bytes = Vec::new();
            // The main file and its write-ahead log: recent writes live in the latter.
            for entry in std::fs::read_dir(path.parent().unwrap()).unwrap() {
                let entry = entry.unwrap();
                if entry.file_name().to_string_lossy().starts_with(&name) {
                    bytes.extend(std::fs::read(entry.path()).unwrap());
                }
            }
            bytes
        }
        Backend::Postgres => {
            let mut text = String::new();
            for table in ["microsoft_settings", "audit_events", "workspaces"] {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(t AS TEXT) AS row_text FROM {table} t"
                )))
                .fetch_all(app.db.pool())
                .await
                .unwrap();
                for r in rows {
                    text.push_str(&sqlx::Row::get::<String, _>(&r, "row_text"));
                    text.push('\n');
                }
            }
            text.into_bytes()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_stored_secret_is_not_in_the_database_in_plain_text() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let raw = raw_database(&app).await;
    // The row is there (its client id is plain), so the search looked in the right place.
    assert!(contains(&raw, ms::DEMO_CLIENT_ID));
    assert!(!contains(&raw, ms::DEMO_CLIENT_SECRET));
    let row = stored(&app).await.unwrap();
    assert!(row.client_secret_sealed.unwrap().starts_with("v1.k1."));
    assert_eq!(row.secret_key_id.as_deref(), Some("k1"));
}

#[tokio::test]
async fn the_secret_never_appears_in_any_admin_page() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    test_connection(&app, &c).await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(
        text_of(&html, "ms-secret-source")
            .unwrap()
            .split(" by ")
            .nth(1),
        Some("admin@acme.test from this card")
    );
    assert!(
        text_of(&html, "ms-secret-source")
            .unwrap()
            .starts_with("In effect: Stored — saved 2")
    );
    for path in [
        CARD,
        "/admin/settings/integrations",
        "/admin/dashboard",
        "/admin/audit-log",
        "/admin/audit-log/export",
    ] {
        let body = page(&app, &c, path).await;
        assert!(!body.contains(ms::DEMO_CLIENT_SECRET), "{path}");
    }
}

#[tokio::test]
async fn a_save_writes_one_audit_row_naming_the_changed_fields_and_not_the_secret() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let rows = saved_audit_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_label, "admin@acme.test");
    let details: serde_json::Value = serde_json::from_str(&rows[0].details).unwrap();
    assert_eq!(
        details,
        serde_json::json!({"changed": ["enabled", "tenant_id", "client_id", "client_secret", "allowed_email_domains"]})
    );
    assert!(!rows[0].details.contains(ms::DEMO_CLIENT_SECRET));
    save_ok(
        &app,
        &c,
        &with(pinned(), &[("enabled", None), ("client_secret", Some(""))]),
    )
    .await;
    let rows = saved_audit_rows(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].details, r#"{"changed":["enabled"]}"#);
}

fn full_env() -> AzureEnv {
    AzureEnv {
        client_id: Some(ms::DEMO_CLIENT_ID.into()),
        client_secret: Some(SecretString::from(ms::DEMO_CLIENT_SECRET)),
        tenant_id: Some(ms::ACME_TENANT_ID.into()),
        redirect_uri: Some("https://sso.acme.test/auth/microsoft/callback".into()),
        allowed_domains: Some("acme.test".into()),
    }
}

#[tokio::test]
async fn env_only_settings_show_their_variables_and_enable_sign_in_before_any_save() {
    let app = spawn_app_with(|c| c.azure = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    for field in [
        "enabled", "tenant", "client", "secret", "redirect", "domains",
    ] {
        assert_eq!(source(&html, field), "environment", "{field}");
    }
    assert!(
        text_of(&html, "ms-tenant-source")
            .unwrap()
            .contains("from the AZURE_TENANT_ID variable")
    );
    assert!(
        text_of(&html, "ms-secret-source")
            .unwrap()
            .contains("Set by the AZURE_CLIENT_SECRET variable")
    );
    assert_eq!(
        attr_of(&html, "ms-redirect-effective", "value").as_deref(),
        Some("https://sso.acme.test/auth/microsoft/callback")
    );
    assert!(
        text_of(&html, "ms-enabled-source")
            .unwrap()
            .starts_with("In effect: On")
    );
    // The toggle and the domain list are pre-filled with what is in effect, so a first
    // save keeps them; the other inputs stay blank (they fall back to the variables).
    assert!(html.contains("value=\"on\" checked"));
    assert_eq!(
        attr_of(&html, "ms-domains", "value").as_deref(),
        Some("acme.test")
    );
    assert_eq!(attr_of(&html, "ms-tenant", "value").as_deref(), Some(""));
    assert!(login_has_button(&app).await);
}

#[tokio::test]
async fn a_card_value_beats_its_variable_and_blank_fields_keep_falling_back() {
    let app = spawn_app_with(|c| c.azure = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(
        &app,
        &c,
        &[
            ("enabled", "on".into()),
            ("tenant_id", "common".into()),
            ("client_id", String::new()),
            ("client_secret", String::new()),
            ("redirect_uri", String::new()),
            ("allowed_domains", "acme.test".into()),
        ],
    )
    .await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(source(&html, "tenant"), "card");
    assert!(
        text_of(&html, "ms-tenant-source")
            .unwrap()
            .starts_with("In effect: common from this card")
    );
    assert_eq!(source(&html, "enabled"), "card");
    assert_eq!(source(&html, "domains"), "card");
    for field in ["client", "secret", "redirect"] {
        assert_eq!(source(&html, field), "environment", "{field}");
    }
    assert!(login_has_button(&app).await);
}

#[tokio::test]
async fn a_secret_required_check_accepts_the_variables_secret_as_stored() {
    let app = spawn_app_with(|c| c.azure = full_env()).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &with(pinned(), &[("client_secret", Some(""))])).await;
    assert!(stored(&app).await.unwrap().client_secret_sealed.is_none());
}

#[tokio::test]
async fn an_invalid_variable_is_ignored_and_named_on_the_card() {
    let env = AzureEnv {
        client_id: Some(ms::DEMO_CLIENT_ID.into()),
        client_secret: Some(SecretString::from(ms::DEMO_CLIENT_SECRET_ID)),
        tenant_id: Some("contoso.onmicrosoft.com".into()),
        ..AzureEnv::default()
    };
    let app = spawn_app_with(move |c| c.azure = env).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(source(&html, "tenant"), "default");
    let note = text_of(&html, "ms-tenant-env").unwrap();
    assert!(
        note.starts_with("AZURE_TENANT_ID is set but ignored: Enter the Directory (tenant) ID"),
        "{note}"
    );
    let note = text_of(&html, "ms-secret-env").unwrap();
    assert!(
        note.contains("AZURE_CLIENT_SECRET is set but ignored") && note.contains("secret ID"),
        "{note}"
    );
    assert!(
        !html.contains(ms::DEMO_CLIENT_SECRET_ID),
        "the bad value itself is not echoed"
    );
    assert_eq!(source(&html, "client"), "environment");
}

#[tokio::test]
async fn before_the_card_is_saved_enabled_follows_azure_client_id() {
    let without = spawn_app().await;
    assert!(!login_has_button(&without).await);
    let c = without.signed_in("acme", "admin@acme.test").await;
    let html = page(&without, &c, CARD).await;
    assert_eq!(source(&html, "enabled"), "default");
    assert!(
        text_of(&html, "ms-enabled-source")
            .unwrap()
            .starts_with("In effect: Off")
    );

    let only_id = AzureEnv {
        client_id: Some(ms::DEMO_CLIENT_ID.into()),
        ..AzureEnv::default()
    };
    let with_id = spawn_app_with(move |c| c.azure = only_id).await;
    assert!(login_has_button(&with_id).await);
    let c = with_id.signed_in("acme", "admin@acme.test").await;
    let html = page(&with_id, &c, CARD).await;
    assert_eq!(source(&html, "enabled"), "environment");
    // Once saved, the card's toggle decides, whatever the variable says.
    save_ok(
        &with_id,
        &c,
        &with(pinned(), &[("enabled", None), ("client_id", Some(""))]),
    )
    .await;
    assert!(!login_has_button(&with_id).await);
}

#[tokio::test]
async fn enabling_without_a_client_id_saves_but_the_card_says_the_button_stays_hidden() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &with(pinned(), &[("client_id", Some(""))])).await;
    let html = page(&app, &c, &format!("{CARD}?notice=saved")).await;
    assert!(
        text_of(&html, "card-notice")
            .unwrap()
            .contains("stays hidden until an Application (client) ID is set")
    );
    assert!(
        text_of(&html, "ms-enabled-note")
            .unwrap()
            .contains("stays hidden until an Application (client) ID is set")
    );
    assert!(!login_has_button(&app).await);
}

#[tokio::test]
async fn the_integrations_page_lists_the_microsoft_card_with_its_status() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let status = |html: &str| text_of(html, "microsoft-status").unwrap();
    let html = page(&app, &c, "/admin/settings/integrations").await;
    assert_eq!(status(&html), "Not configured");
    assert!(html.contains(&format!("href=\"{CARD}\"")));
    save_ok(&app, &c, &pinned()).await;
    assert_eq!(
        status(&page(&app, &c, "/admin/settings/integrations").await),
        "On"
    );
    save_ok(
        &app,
        &c,
        &with(pinned(), &[("enabled", None), ("client_secret", Some(""))]),
    )
    .await;
    assert_eq!(
        status(&page(&app, &c, "/admin/settings/integrations").await),
        "Off"
    );
}

#[tokio::test]
async fn test_connection_says_all_good_for_a_pinned_tenant_with_the_right_secret() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let html = test_connection(&app, &c).await;
    assert_eq!(
        attr_of(&html, "health-test", "data-ok").as_deref(),
        Some("true")
    );
    assert!(
        text_of(&html, "health-test")
            .unwrap()
            .starts_with("Passed — All good")
    );
    let audit: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == TESTED)
        .collect();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].details.contains("\"ok\":true"));
    assert!(!audit[0].details.contains(ms::DEMO_CLIENT_SECRET));
}

async fn tested_with(changes: &[(&'static str, Option<&str>)]) -> (TestApp, String) {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &with(pinned(), changes)).await;
    let html = test_connection(&app, &c).await;
    (app, text_of(&html, "health-test").unwrap())
}

#[tokio::test]
async fn test_connection_reports_a_tenant_microsoft_does_not_know() {
    let (_app, result) =
        tested_with(&[("tenant_id", Some("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"))]).await;
    assert!(
        result.starts_with("Failed — Tenant not found (AADSTS90002)"),
        "{result}"
    );
}

#[tokio::test]
async fn test_connection_reports_an_app_missing_from_the_directory() {
    let (_app, result) =
        tested_with(&[("client_id", Some("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"))]).await;
    assert!(
        result.starts_with("Failed — App not found in the directory (AADSTS700016)"),
        "{result}"
    );
}

#[tokio::test]
async fn test_connection_reports_a_wrong_secret_as_the_secret_id_not_its_value() {
    let (_app, result) = tested_with(&[("client_secret", Some(ANOTHER_SECRET))]).await;
    assert!(
        result.starts_with("Failed — The client secret is wrong (AADSTS7000215)"),
        "{result}"
    );
    assert!(result.contains("the secret ID, not its Value"), "{result}");
}

#[tokio::test]
async fn test_connection_reports_an_expired_secret() {
    let app = spawn_app().await;
    app.emu
        .update_directory(|d| {
            d.app_mut(ms::DEMO_CLIENT_ID)
                .unwrap()
                .expire_secrets(time::OffsetDateTime::now_utc() - time::Duration::days(1));
        })
        .unwrap();
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let html = test_connection(&app, &c).await;
    let result = text_of(&html, "health-test").unwrap();
    assert!(
        result.starts_with("Failed — The client secret has expired (AADSTS7000222)"),
        "{result}"
    );
    assert_eq!(
        attr_of(&html, "health-test", "data-ok").as_deref(),
        Some("false")
    );
}

#[tokio::test]
async fn test_connection_under_common_checks_the_directory_and_says_the_secret_needs_a_sign_in() {
    let (_app, result) = tested_with(&[
        ("tenant_id", Some("common")),
        ("client_secret", Some(ANOTHER_SECRET)),
    ])
    .await;
    assert!(
        result.starts_with("Passed — Microsoft's common endpoint answered."),
        "{result}"
    );
    assert!(
        result.contains("can only be checked by a real sign-in, or by pinning the tenant"),
        "{result}"
    );
}

#[tokio::test]
async fn the_dashboard_warns_when_the_secret_expires_within_30_days_or_has_expired() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let warning = |html: &str| text_of(html, "warning-secret-expiry");
    save_ok(
        &app,
        &c,
        &with(pinned(), &[("secret_expires_on", Some(&date_in(90)))]),
    )
    .await;
    assert_eq!(warning(&page(&app, &c, "/admin/dashboard").await), None);
    save_ok(
        &app,
        &c,
        &with(
            pinned(),
            &[
                ("secret_expires_on", Some(&date_in(10))),
                ("client_secret", Some("")),
            ],
        ),
    )
    .await;
    let shown = warning(&page(&app, &c, "/admin/dashboard").await).unwrap();
    assert!(
        shown.contains(&format!("expires on {}, in 10 days", date_in(10))),
        "{shown}"
    );
    save_ok(
        &app,
        &c,
        &with(
            pinned(),
            &[
                ("secret_expires_on", Some(&date_in(-2))),
                ("client_secret", Some("")),
            ],
        ),
    )
    .await;
    let shown = warning(&page(&app, &c, "/admin/dashboard").await).unwrap();
    assert!(
        shown.contains("expired on") && shown.contains("AADSTS7000222"),
        "{shown}"
    );
    // Admins see the warning too (they cannot open the card, so no link for them).
    app.add_user("acme", "adm@acme.test", Role::Admin).await;
    let admin = app.signed_in("acme", "adm@acme.test").await;
    assert!(warning(&page(&app, &admin, "/admin/dashboard").await).is_some());
}

#[tokio::test]
async fn the_dashboard_and_the_health_line_show_failing_sign_ins_until_one_succeeds() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let ws = app.workspace("acme").await;
    settings::record_failure(
        &app.db,
        &ws.id,
        Some(7000222),
        "The client secret has expired",
    )
    .await
    .unwrap();
    let dashboard = page(&app, &c, "/admin/dashboard").await;
    let warning = text_of(&dashboard, "warning-sign-ins-failing").unwrap();
    assert!(
        warning.contains("AADSTS7000222: The client secret has expired"),
        "{warning}"
    );
    let card = page(&app, &c, CARD).await;
    assert!(
        text_of(&card, "health-failure")
            .unwrap()
            .starts_with("AADSTS7000222: The client secret has expired (")
    );
    let mut conn = app.db.pool().acquire().await.unwrap();
    settings::record_success(&mut conn, &ws.id).await.unwrap();
    drop(conn);
    let dashboard = page(&app, &c, "/admin/dashboard").await;
    assert_eq!(text_of(&dashboard, "warning-sign-ins-failing"), None);
    assert_ne!(
        text_of(&page(&app, &c, CARD).await, "health-success").as_deref(),
        Some("Never")
    );
}

#[tokio::test]
async fn the_dashboard_points_to_the_card_while_microsoft_sign_in_is_not_set_up() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, "/admin/dashboard").await;
    let empty = text_of(&html, "microsoft-not-set-up").unwrap();
    assert!(
        empty.contains("Microsoft sign-in is not set up yet"),
        "{empty}"
    );
    assert!(html.contains(&format!("<a href=\"{CARD}\">Set up Microsoft Entra ID</a>")));
    save_ok(&app, &c, &pinned()).await;
    assert_eq!(
        text_of(
            &page(&app, &c, "/admin/dashboard").await,
            "microsoft-not-set-up"
        ),
        None
    );
}

/// The `ontrackio` binary with only the variables this test gives it.
fn ontrackio_cli(database_url: &str, master_key: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ontrackio"))
        .args(["secrets", "rotate-key"])
        .env_remove("ONTRACKIO_MASTER_KEY_FILE")
        .env("ONTRACKIO_DATABASE_URL", database_url)
        .env("ONTRACKIO_MASTER_KEY", master_key)
        .output()
        .unwrap()
}

#[tokio::test]
async fn rotate_key_reseals_every_stored_secret_under_the_newest_key_and_prints_no_secret() {
    let old = format!("old:{}", KeyRing::generate_encoded());
    let new = format!("new:{}", KeyRing::generate_encoded());
    let old_ring = KeyRing::parse(&old).unwrap();
    let app = spawn_app_with(move |c| c.keys = old_ring).await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let url = app.config.database_url.as_str().to_string();
    let before = stored(&app).await.unwrap();

    // A key ring that cannot open the stored secret changes nothing.
    let stranger = format!("stranger:{}", KeyRing::generate_encoded());
    let out = ontrackio_cli(&url, &stranger);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was changed"));
    assert_eq!(
        stored(&app).await.unwrap().client_secret_sealed,
        before.client_secret_sealed
    );

    let out = ontrackio_cli(&url, &format!("{new},{old}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "Re-sealed 1 secret(s) under key new; 0 already used it."
    );
    assert!(!stdout.contains(ms::DEMO_CLIENT_SECRET) && !stderr.contains(ms::DEMO_CLIENT_SECRET));
    let after = stored(&app).await.unwrap();
    assert_eq!(after.secret_key_id.as_deref(), Some("new"));
    assert_eq!(
        after.secret_saved_at, before.secret_saved_at,
        "who saved it when is unchanged"
    );
    let ws = app.workspace("acme").await;
    let new_only = KeyRing::parse(&new).unwrap();
    let opened = settings::open_secret(
        &new_only,
        &ws.id,
        after.client_secret_sealed.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose_secret(), ms::DEMO_CLIENT_SECRET);

    let again = ontrackio_cli(&url, &format!("{new},{old}"));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "Re-sealed 0 secret(s) under key new; 1 already used it."
    );
}

#[tokio::test]
async fn on_postgresql_a_save_on_one_node_reaches_the_cache_of_another() {
    if postgres_url().is_none() {
        eprintln!("skipped: several nodes need PostgreSQL (set ONTRACKIO_TEST_POSTGRES_URL)");
        return;
    }
    let app = spawn_app().await;
    // A second node on the same database, as behind a load balancer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = app.config.clone();
    config.listen = ([127, 0, 0, 1], port).into();
    config.base_url = BaseUrl::parse(&format!("http://localhost:{port}")).unwrap();
    let db = Db::connect(&config.database_url).await.unwrap();
    let node_b = Application::build_with_listener(config, db, listener)
        .await
        .unwrap();
    let state_b = node_b.state().clone();
    let addr_b = node_b.local_addr();
    tokio::spawn(node_b.run_until(std::future::pending()));
    tokio::time::timeout(
        Duration::from_secs(10),
        state_b.microsoft.settings.wait_until_listening(),
    )
    .await
    .expect("node B listens for settings changes");
    let b = Client::builder()
        .resolve("acme.localhost", addr_b)
        .build()
        .unwrap();
    let login_b = format!("http://acme.localhost:{port}/login");
    let has_button = |html: String| html.contains("Continue with Microsoft");
    // Node B reads the settings once and caches them.
    assert!(!has_button(
        b.get(&login_b).send().await.unwrap().text().await.unwrap()
    ));
    let mut invalidated = state_b.microsoft.settings.subscribe_invalidations();

    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &pinned()).await;
    let ws = app.workspace("acme").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while invalidated.recv().await.unwrap() != ws.id.as_str() {}
    })
    .await
    .expect("node B is told about the save");
    assert!(has_button(
        b.get(&login_b).send().await.unwrap().text().await.unwrap()
    ));
}

/// The first-run checklist's marks, Steps 1–4 in order.
fn checklist_marks(html: &str) -> [bool; 4] {
    ["register", "redirect", "secret", "permissions"].map(|step| {
        attr_of(html, &format!("checklist-{step}"), "data-done")
            .unwrap_or_else(|| panic!("no checklist step {step}"))
            == "true"
    })
}

fn checklist_text(html: &str, step: &str) -> String {
    text_of(html, &format!("checklist-{step}-mark")).unwrap_or_else(|| panic!("no mark for {step}"))
}

#[tokio::test]
async fn the_checklist_gives_the_exact_entra_values_and_marks_steps_done_as_the_card_is_saved_tested_and_used()
 {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(
        text_of(&html, "value-app-name").as_deref(),
        Some("OnTrackio ITAM")
    );
    assert_eq!(
        text_of(&html, "value-redirect-uri"),
        Some(app.url("acme", "/auth/microsoft/callback"))
    );
    assert_eq!(
        text_of(&html, "value-secret-description").as_deref(),
        Some("OnTrackio ITAM client secret")
    );
    assert_eq!(
        text_of(&html, "value-permissions").as_deref(),
        Some("openid profile email User.Read")
    );
    for (term, value) in [
        (
            "Implicit grant and hybrid flows",
            "Leave every option cleared",
        ),
        ("Allow public client flows", "<strong>No</strong>"),
        ("Expires", "24 months, then rotate"),
    ] {
        assert!(
            html.contains(&format!("<dt>{term}</dt><dd>{value}</dd>")),
            "{term}"
        );
    }
    let step3 = text_of(&html, "checklist-secret").unwrap();
    assert!(step3.contains("Value, not its Secret ID"), "{step3}");
    assert_eq!(checklist_marks(&html), [false; 4]);
    assert_eq!(
        text_of(&html, "checklist-progress").as_deref(),
        Some("0 of 4 done")
    );
    assert!(html.contains("<details open>"), "open while steps remain");

    // Saved: the app is registered (its client id exists); the secret is not verified yet.
    save_ok(&app, &c, &pinned()).await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(checklist_marks(&html), [true, false, false, false]);
    assert!(checklist_text(&html, "secret").starts_with("Saved, not verified yet"));

    // Tested against the pinned directory: the secret was accepted.
    let html = test_connection(&app, &c).await;
    assert_eq!(checklist_marks(&html), [true, false, true, false]);
    assert_eq!(
        checklist_text(&html, "secret"),
        "Done: Test connection accepted the saved secret."
    );

    // The first sign-in proves the redirect URI and the Graph permission.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    let html = page(&app, &c, CARD).await;
    assert_eq!(checklist_marks(&html), [true; 4]);
    assert_eq!(
        text_of(&html, "checklist-progress").as_deref(),
        Some("4 of 4 done")
    );
    assert!(checklist_text(&html, "redirect").starts_with("Done: a Microsoft sign-in came back"));
    assert!(
        !html.contains("<details open>"),
        "folded once every step is done"
    );
}

#[tokio::test]
async fn under_common_a_passing_connection_test_does_not_mark_the_secret_verified_but_a_sign_in_does()
 {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    save_ok(&app, &c, &with(pinned(), &[("tenant_id", Some("common"))])).await;
    let html = test_connection(&app, &c).await;
    assert_eq!(
        attr_of(&html, "health-test", "data-ok").as_deref(),
        Some("true")
    );
    assert_eq!(checklist_marks(&html), [true, false, false, false]);
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_redirects_to(&r, "/my/dashboard");
    let html = page(&app, &c, CARD).await;
    assert_eq!(checklist_marks(&html), [true; 4]);
    assert_eq!(
        checklist_text(&html, "secret"),
        "Done: a Microsoft sign-in used the saved secret."
    );
}

#[tokio::test]
async fn with_azure_variables_alone_the_checklist_says_step_1_comes_from_the_variable() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c, CARD).await;
    assert_eq!(checklist_marks(&html), [true, false, false, false]);
    assert_eq!(
        checklist_text(&html, "register"),
        "Done: the Application (client) ID comes from the AZURE_CLIENT_ID variable."
    );
}

/// The allowed email domains live on this card for every provider: a workspace that signs
/// in with Google only saves them here with Microsoft sign-in off and no Microsoft secret.
#[tokio::test]
async fn with_microsoft_off_the_card_saves_the_shared_domains_without_a_secret() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let fields = with(
        pinned(),
        &[
            ("enabled", None),
            ("tenant_id", Some("")),
            ("client_id", Some("")),
            ("client_secret", Some("")),
            ("allowed_domains", Some("acme.test, acme.co.uk")),
        ],
    );
    save_ok(&app, &c, &fields).await;
    let ws = app.workspace("acme").await;
    let domains: Vec<&str> = ws
        .allowed_email_domains
        .iter()
        .map(|d| d.as_str())
        .collect();
    assert_eq!(domains, ["acme.test", "acme.co.uk"]);
    // Turning Microsoft on still needs the secret.
    let on = with(
        fields,
        &[
            ("enabled", Some("on")),
            ("client_id", Some(ms::DEMO_CLIENT_ID)),
        ],
    );
    let r = save(&app, &c, &on).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("no secret is stored yet"));
}
