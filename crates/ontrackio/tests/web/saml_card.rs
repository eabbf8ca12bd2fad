//! Admin → Settings → Integrations → SAML: who may see and save it, metadata by upload,
//! paste and URL, what the card shows of the IdP and its certificates, the audit row, and
//! the cache every save invalidates (on every node).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use entra_emulator::saml::SigningCredential;
use ontrackio::audit::actions;
use ontrackio::domain::Role;
use ontrackio::store;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};

use crate::helpers::*;

const CARD: &str = "/admin/settings/integrations/saml";
const ENTITY: &str = "https://sts.windows.net/0b7d2f3e-5c1a-4e8b-9f6d-2a4c8e1b3d5f/";
const SSO: &str = "https://login.microsoftonline.com/0b7d2f3e-5c1a-4e8b-9f6d-2a4c8e1b3d5f/saml2";
const DAY: i64 = 86_400;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A self-signed IdP certificate valid from `from` to `until` (Unix seconds): a new
/// certificate for one RSA-2048 key the emulator generates when this process first needs it.
fn cert(cn: &str, from: i64, until: i64) -> Vec<u8> {
    static KEY: LazyLock<SigningCredential> = LazyLock::new(SigningCredential::generate);
    let at = |unix| time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    KEY.with_validity(at(from), at(until))
        .and_then(|c| c.with_subject(cn))
        .unwrap()
        .certificate_der()
        .to_vec()
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Metadata shaped like Entra's (one IdP, signing keys, HTTP-Redirect and POST SSO).
fn metadata(entity: &str, sso: &str, certs: &[&[u8]]) -> String {
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                r#"<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>"#,
                b64(c)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_m" entityID="{entity}" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/></IDPSSODescriptor></EntityDescriptor>"#
    )
}

fn good_cert() -> Vec<u8> {
    cert(
        "Microsoft Azure Federated SSO Certificate",
        now() - DAY,
        now() + 3 * 365 * DAY,
    )
}

/// The card's form as a browser sends it (multipart), with this session's token.
async fn post(
    app: &TestApp,
    c: &Client,
    fields: &[(&'static str, &str)],
    file: Option<&str>,
) -> reqwest::Response {
    let token = app.csrf_token(c, "acme", CARD).await;
    let mut form = Form::new().text("csrf_token", token);
    for (k, v) in fields {
        form = form.text(*k, v.to_string());
    }
    if let Some(xml) = file {
        form = form.part(
            "metadata_file",
            Part::bytes(xml.as_bytes().to_vec())
                .file_name("federationmetadata.xml")
                .mime_str("text/xml")
                .unwrap(),
        );
    }
    c.post(app.url("acme", CARD))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, c: &Client) -> String {
    let r = c.get(app.url("acme", CARD)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

async fn stored(app: &TestApp) -> Option<store::saml_settings::StoredSamlSettings> {
    let ws = app.workspace("acme").await;
    store::saml_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
}

async fn upload(app: &TestApp, c: &Client, xml: &str, enabled: bool) -> reqwest::Response {
    let mut fields = vec![("action", "save")];
    if enabled {
        fields.push(("enabled", "on"));
    }
    post(app, c, &fields, Some(xml)).await
}

/// Serves `body` at `/federationmetadata.xml` (and 404 elsewhere) on a local port.
async fn metadata_server(body: String) -> String {
    let router = axum::Router::new().route(
        "/federationmetadata.xml",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/xml")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{}", addr.port())
}

#[tokio::test]
async fn only_super_admins_reach_the_saml_card() {
    let app = spawn_app().await;
    app.add_user("acme", "ada@acme.test", Role::Admin).await;
    app.add_user("acme", "emma@acme.test", Role::Employee).await;
    for who in ["ada@acme.test", "emma@acme.test"] {
        let c = app.signed_in("acme", who).await;
        let r = c.get(app.url("acme", CARD)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}");
        // Nor may they save (the form token of their own session does not help).
        let token = app.csrf_token(&c, "acme", "/my/profile").await;
        let form = Form::new().text("csrf_token", token).text("enabled", "on");
        let r = c
            .post(app.url("acme", CARD))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}");
    }
    assert!(stored(&app).await.is_none());
    let anonymous = app.browser();
    let r = anonymous.get(app.url("acme", CARD)).send().await.unwrap();
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
}

#[tokio::test]
async fn the_card_shows_the_values_to_enter_in_the_identity_provider() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let html = page(&app, &c).await;
    let origin = format!("http://acme.localhost:{}", app.port());
    assert!(html.contains(&format!("{origin}/saml/metadata")), "{html}");
    assert!(html.contains(&format!("{origin}/saml/acs")));
    assert!(html.contains(r#"href="/saml/metadata""#));
    assert!(html.contains(r#"data-status="not-configured""#));
    assert!(html.contains("http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"));
    assert!(html.contains("Allow IdP-initiated sign-in"));
    assert!(html.contains("id=\"test-unavailable\""));
    // Listed on the Integrations page.
    let list = c
        .get(app.url("acme", "/admin/settings/integrations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(r#"id="card-saml" data-status="not-configured""#));
}

#[tokio::test]
async fn a_save_without_this_sessions_csrf_token_or_from_another_site_is_refused() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let xml = metadata(ENTITY, SSO, &[&good_cert()]);
    let no_token = Form::new()
        .text("enabled", "on")
        .text("metadata_xml", xml.clone());
    let r = c
        .post(app.url("acme", CARD))
        .multipart(no_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let token = app.csrf_token(&c, "acme", CARD).await;
    let cross_site = Form::new()
        .text("csrf_token", token)
        .text("enabled", "on")
        .text("metadata_xml", xml);
    let r = c
        .post(app.url("acme", CARD))
        .header("origin", "http://evil.localhost")
        .multipart(cross_site)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(stored(&app).await.is_none());
    assert_eq!(
        app.audit_count("acme", actions::SAML_SETTINGS_SAVED).await,
        0
    );
}

#[tokio::test]
async fn uploaded_metadata_is_read_shown_saved_audited_and_in_effect_at_once() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    // The cache holds "not configured" before the save.
    assert!(!app.state.saml_settings(&ws).await.unwrap().is_complete());
    let c = app.signed_in("acme", "admin@acme.test").await;
    let der = good_cert();
    let xml = metadata(ENTITY, SSO, &[&der]);
    let r = upload(&app, &c, &xml, true).await;
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));

    let s = app.state.saml_settings(&ws).await.unwrap();
    assert!(s.is_complete(), "the save is in effect on the next request");
    assert_eq!(s.entity_id().unwrap().as_str(), ENTITY);
    assert_eq!(s.sso_url().unwrap().as_str(), SSO);
    assert_eq!(s.usable_certificates(now()), vec![der.clone()]);
    assert!(s.metadata_url.is_none() && !s.allow_idp_initiated);

    let saved = c
        .get(app.url("acme", &format!("{CARD}?notice=saved")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(saved.contains("Saved. SAML sign-in is on."));
    let html = page(&app, &c).await;
    assert!(html.contains(ENTITY) && html.contains(SSO));
    assert!(html.contains("CN=Microsoft Azure Federated SSO Certificate"));
    let fingerprint = ontrackio::auth::saml::idp_metadata::IdpCertificate::from_der(&der)
        .unwrap()
        .fingerprint();
    assert!(html.contains(&fingerprint));
    assert!(html.contains(r#"data-state="ok""#));
    assert!(html.contains(r#"id="test-sign-in" href="/auth/saml?test=1""#));
    assert!(html.contains("Uploaded by admin@acme.test"));
    // The document itself is not echoed, nor the certificate's base64.
    assert!(!html.contains(&b64(&der)[..60]));

    let events: Vec<_> = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| e.action == actions::SAML_SETTINGS_SAVED)
        .collect();
    assert_eq!(events.len(), 1);
    let details = events[0].details.to_string();
    for f in [
        "enabled",
        "idp_entity_id",
        "sso_url",
        "certificates",
        "uploaded",
    ] {
        assert!(details.contains(f), "{details}");
    }
    assert!(details.contains(&fingerprint));
    assert!(!details.contains(&b64(&der)[..60]));

    // Saving the same form again changes nothing and writes nothing.
    let r = post(&app, &c, &[("enabled", "on"), ("action", "save")], None).await;
    assert_redirects_to(&r, &format!("{CARD}?notice=unchanged"));
    assert_eq!(
        app.audit_count("acme", actions::SAML_SETTINGS_SAVED).await,
        1
    );

    // Turning it off is in effect at once too; the IdP values are kept.
    let r = post(&app, &c, &[("action", "save")], None).await;
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
    let s = app.state.saml_settings(&ws).await.unwrap();
    assert!(!s.enabled && !s.is_complete() && s.idp.is_some());
}

#[tokio::test]
async fn pasted_metadata_and_the_attribute_fields_are_saved() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let xml = metadata(ENTITY, SSO, &[&good_cert()]);
    let groups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
    let r = post(
        &app,
        &c,
        &[
            ("enabled", "on"),
            ("metadata_xml", &xml),
            ("email_attribute", " email "),
            ("group_attribute", groups),
            ("allow_idp_initiated", "on"),
            ("action", "save"),
        ],
        None,
    )
    .await;
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
    let row = stored(&app).await.unwrap();
    assert_eq!(row.email_attribute.as_deref(), Some("email"));
    assert_eq!(row.group_attribute.as_deref(), Some(groups));
    assert!(row.allow_idp_initiated && row.enabled);
    assert!(
        row.certificates
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let html = page(&app, &c).await;
    assert!(html.contains(r#"value="email""#));
}

#[tokio::test]
async fn metadata_is_fetched_from_its_url_and_a_bad_url_is_explained() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let base = metadata_server(metadata(ENTITY, SSO, &[&good_cert()])).await;
    let url = format!("{base}/federationmetadata.xml");
    let r = post(
        &app,
        &c,
        &[
            ("enabled", "on"),
            ("metadata_url", &url),
            ("action", "fetch"),
        ],
        None,
    )
    .await;
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
    let row = stored(&app).await.unwrap();
    assert_eq!(row.metadata_url.as_deref(), Some(url.as_str()));
    assert_eq!(row.idp_entity_id.as_deref(), Some(ENTITY));
    assert!(row.metadata_fetched_at.is_some());
    let html = page(&app, &c).await;
    assert!(html.contains(&format!("Fetched from {url}")));
    let details = app.audit("acme").await[0].details.to_string();
    assert!(details.contains("fetched"), "{details}");

    // A URL that answers 404, plain http to a public host, and a host that is down.
    for (bad, says) in [
        (format!("{base}/missing.xml"), "answered HTTP 404"),
        (
            "http://idp.example.com/metadata.xml".to_string(),
            "https://",
        ),
        (
            "http://127.0.0.1:9/metadata.xml".to_string(),
            "could not be reached",
        ),
    ] {
        let r = post(
            &app,
            &c,
            &[
                ("enabled", "on"),
                ("metadata_url", &bad),
                ("action", "fetch"),
            ],
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let html = r.text().await.unwrap();
        assert!(html.contains("saml-metadata-url-error"), "{bad}");
        assert!(html.contains(says), "{bad}: {html}");
    }
    // Nothing of those was saved.
    assert_eq!(
        stored(&app).await.unwrap().metadata_url.as_deref(),
        Some(url.as_str())
    );
}

#[tokio::test]
async fn certificates_near_or_past_expiry_are_flagged_and_expired_ones_refused() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let soon = cert("Soon", now() - 300 * DAY, now() + 10 * DAY + 3600);
    let xml = metadata(ENTITY, SSO, &[&soon]);
    assert_redirects_to(
        &upload(&app, &c, &xml, true).await,
        &format!("{CARD}?notice=saved"),
    );
    let html = page(&app, &c).await;
    assert!(html.contains(r#"data-state="warning""#));
    assert!(html.contains("in 10 days: renew it in your identity provider"));
    assert!(
        app.state
            .saml_settings(&app.workspace("acme").await)
            .await
            .unwrap()
            .is_complete()
    );

    let expired = cert("Expired", now() - 400 * DAY, now() - DAY);
    let xml = metadata(ENTITY, SSO, &[&expired]);
    assert_redirects_to(
        &upload(&app, &c, &xml, true).await,
        &format!("{CARD}?notice=saved"),
    );
    let html = page(&app, &c).await;
    assert!(html.contains(r#"data-state="expired""#));
    assert!(html.contains("signatures under this certificate are refused"));
    assert!(html.contains("no signing certificate is valid now"));
    let s = app
        .state
        .saml_settings(&app.workspace("acme").await)
        .await
        .unwrap();
    assert!(!s.is_complete() && s.usable_certificates(now()).is_empty());
}

#[tokio::test]
async fn refused_metadata_is_explained_next_to_its_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let cases = [
        (
            r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"#.to_string(),
            "DTD or entity declarations",
        ),
        (metadata(ENTITY, SSO, &[]), "The metadata has no signing certificate."),
        (
            metadata(ENTITY, "http://idp.example.com/sso", &[&good_cert()]),
            "must be an absolute https:// URL",
        ),
        ("this is not xml".into(), "not well-formed XML"),
    ];
    for (xml, says) in cases {
        let r = upload(&app, &c, &xml, true).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("saml-metadata-doc-error"), "{says}");
        assert!(html.contains(says), "{says}: {html}");
        assert!(!html.contains("/etc/passwd"));
    }
    // Too large: refused with its own sentence, not a bare 413.
    let big = format!("<x>{}</x>", "a".repeat(1024 * 1024 + 10));
    let r = upload(&app, &c, &big, false).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("larger than 1 MiB"));
    // Enabling with no metadata at all.
    let r = post(&app, &c, &[("enabled", "on"), ("action", "save")], None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("saml-enabled-error"));
    assert!(stored(&app).await.is_none());
    assert_eq!(
        app.audit_count("acme", actions::SAML_SETTINGS_SAVED).await,
        0
    );
}

#[tokio::test]
async fn the_shared_role_mapping_and_domains_are_shown_read_only_with_links() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    // Saved on the Microsoft card, with Microsoft sign-in off.
    let gid = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let mapping = format!("{gid} = admin");
    let r = app
        .post_form(
            &c,
            "acme",
            "/admin/settings/integrations/microsoft",
            "/admin/settings/integrations/microsoft",
            &[("role_mapping", &mapping), ("allowed_domains", "acme.test")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let html = page(&app, &c).await;
    assert!(html.contains(&mapping), "{html}");
    assert!(html.contains(r#"href="/admin/settings/integrations/microsoft#ms-roles""#));
    assert!(html.contains("<strong>acme.test</strong>"));
    assert!(html.contains(r#"href="/admin/settings/integrations/microsoft#ms-domains""#));
}

#[tokio::test]
async fn the_health_line_shows_the_last_test_sign_in_and_failure() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let ws = app.workspace("acme").await;
    store::saml_settings::record_test(
        app.db.pool(),
        &ws.id,
        true,
        "The assertion named ada@acme.test with 2 groups.",
    )
    .await
    .unwrap();
    store::saml_settings::record_failure(app.db.pool(), &ws.id, "The signature did not verify")
        .await
        .unwrap();
    let html = page(&app, &c).await;
    assert!(html.contains(r#"data-ok="true""#));
    assert!(html.contains("The assertion named ada@acme.test with 2 groups."));
    assert!(html.contains("The signature did not verify"));
    // A health-only row is not a saved card.
    assert!(html.contains(r#"data-status="not-configured""#));
}

/// Another node's cache forgets the workspace when this node saves (PostgreSQL only: on
/// SQLite there is one node).
#[tokio::test]
async fn a_save_on_one_node_reaches_another_nodes_cache() {
    if postgres_url().is_none() {
        eprintln!("skipped: several nodes need PostgreSQL (set ONTRACKIO_TEST_POSTGRES_URL)");
        return;
    }
    let app = spawn_app().await;
    let mut config = app.config.clone();
    config.listen = ([127, 0, 0, 1], 0).into();
    let other_db = store::Db::connect(&config.database_url).await.unwrap();
    let other = ontrackio::Application::build_with_db(config, other_db)
        .await
        .unwrap();
    let other_state = other.state().clone();
    tokio::spawn(other.run_until(std::future::pending()));
    tokio::time::timeout(
        Duration::from_secs(20),
        other_state.saml_card.settings.wait_until_listening(),
    )
    .await
    .expect("the other node listens");
    let ws = app.workspace("acme").await;
    assert!(!other_state.saml_settings(&ws).await.unwrap().enabled);
    let mut forgotten = other_state.saml_card.settings.subscribe_invalidations();

    let c = app.signed_in("acme", "admin@acme.test").await;
    let xml = metadata(ENTITY, SSO, &[&good_cert()]);
    assert_redirects_to(
        &upload(&app, &c, &xml, true).await,
        &format!("{CARD}?notice=saved"),
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        while forgotten.recv().await.unwrap() != ws.id.as_str() {}
    })
    .await
    .expect("the other node is told about the save");
    assert!(other_state.saml_settings(&ws).await.unwrap().is_complete());
}
