//! SAML sign-in end to end: the AuthnRequest a browser is sent with, the ACS accepting an
//! Entra-shaped response (provisioning, roles from groups, landing), and the attacks of
//! the SAML issue — signature wrapping in several shapes, comment injection, unsigned
//! assertions, foreign keys, wrong audience/destination/recipient/request, stale or early
//! conditions, replays, entities, compression bombs and oversize posts — each refused with
//! no session, no user and one audit row.

use std::io::{Read, Write};

use base64::Engine;
use entra_emulator::saml::{Attribute, Groups, ResponseBuilder, SigningCredential, SigningOption};
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;
use ontrackio::audit::actions;
use ontrackio::domain::Role;
use ontrackio::store;

pub const TENANT: &str = "4f1d6c2a-7b3e-4d5f-9a8b-1c2d3e4f5a6b";
pub const GROUPS_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
pub const ADA: &str = "ada.lovelace@acme.test";
pub const ADA_OID: &str = "0b8e2c1d-5a4f-4e3b-8c7d-6e5f4a3b2c1d";
const ADMINS_GROUP: &str = "9d2f7c4e-1a3b-4c5d-8e6f-7a8b9c0d1e2f";

pub struct SamlApp {
    pub app: TestApp,
    pub idp: SigningCredential,
}

impl std::ops::Deref for SamlApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

#[derive(Clone, Copy)]
pub struct Card {
    pub with_certificate: bool,
    pub allow_idp_initiated: bool,
    pub enabled: bool,
}

impl Default for Card {
    fn default() -> Self {
        Self {
            with_certificate: true,
            allow_idp_initiated: false,
            enabled: true,
        }
    }
}

pub fn idp_entity_id() -> String {
    format!("https://sts.windows.net/{TENANT}/")
}

/// An app whose `acme` workspace's SAML card trusts a fresh IdP key, allows `acme.test`
/// and maps the Admins group to admin.
pub async fn spawn_saml(card: Card) -> SamlApp {
    let app = spawn_app().await;
    let idp = SigningCredential::generate();
    app.set_allowed_domains("acme", "acme.test").await;
    configure(&app, &idp, card).await;
    SamlApp { app, idp }
}

/// Writes the SAML card as a Save would, and the shared role mapping (Microsoft card).
pub async fn configure(app: &TestApp, idp: &SigningCredential, card: Card) {
    let ws = app.workspace("acme").await;
    let pem = idp.certificate_pem().to_string();
    let entity = idp_entity_id();
    let sso = format!("http://127.0.0.1:9/{TENANT}/saml2");
    let mut conn = app.db.pool().acquire().await.unwrap();
    store::saml_settings::save(
        &mut conn,
        app.db.backend(),
        &ws.id,
        &store::saml_settings::CardFields {
            enabled: card.enabled,
            idp_entity_id: Some(&entity),
            sso_url: Some(&sso),
            certificates: card.with_certificate.then_some(pem.as_str()),
            metadata_url: None,
            metadata_fetched_at: None,
            email_attribute: None,
            group_attribute: Some(GROUPS_CLAIM),
            allow_idp_initiated: card.allow_idp_initiated,
            saved_by: "admin@acme.test",
        },
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO microsoft_settings (workspace_id, role_mapping, created_at, updated_at) \
         VALUES ($1, $2, 0, 0) ON CONFLICT (workspace_id) DO UPDATE SET role_mapping = excluded.role_mapping",
    )
    .bind(ws.id.as_str())
    .bind(format!("{ADMINS_GROUP} = admin"))
    .execute(&mut *conn)
    .await
    .unwrap();
    app.state.saml_card.settings.invalidate(ws.id.as_str());
    app.state.microsoft.settings.invalidate(ws.id.as_str());
}

impl SamlApp {
    fn acs(&self) -> String {
        self.url("acme", "/saml/acs")
    }

    fn sp_entity_id(&self) -> String {
        self.url("acme", "/saml/metadata")
    }

    /// Starts an SP-initiated sign-in in `browser`; the AuthnRequest's ID.
    pub async fn start(&self, browser: &Client) -> String {
        let r = browser
            .get(self.url("acme", "/auth/saml"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{}", r.text().await.unwrap());
        let xml = authn_request(&location(&r));
        let id = attr(&xml, "ID").expect("AuthnRequest ID");
        assert!(id.starts_with('_'));
        id
    }

    /// An Entra-shaped response for Ada answering `request_id`, signed on the assertion.
    pub fn response(&self, request_id: Option<&str>) -> ResponseBuilder {
        ResponseBuilder::new(
            &self.idp,
            TENANT,
            &self.sp_entity_id(),
            &self.acs(),
            ADA,
            time::OffsetDateTime::now_utc(),
        )
        .in_response_to(request_id)
        .attribute(Attribute::new(OBJECT_ID, [ADA_OID]))
        .attribute(Attribute::new(GIVEN_NAME, ["Ada"]))
        .attribute(Attribute::new(SURNAME, ["Lovelace"]))
    }

    pub async fn post_xml(&self, browser: &Client, xml: &str) -> Response {
        self.post_value(browser, &b64(xml.as_bytes())).await
    }

    pub async fn post_value(&self, browser: &Client, value: &str) -> Response {
        browser
            .post(self.acs())
            .header("Origin", "https://login.microsoftonline.com")
            .form(&[("SAMLResponse", value)])
            .send()
            .await
            .unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(self.db.pool())
            .await
            .unwrap()
            .get::<i64, _>("n")
    }

    /// The attack's refusal: a page, no session, nobody provisioned, one audit row.
    async fn assert_refused(&self, r: Response) {
        let status = r.status();
        let cookies = set_cookies(r.headers());
        let body = r.text().await.unwrap();
        assert!(
            status.is_client_error(),
            "expected a refusal, got {status}: {body}"
        );
        assert!(
            !cookies.iter().any(|c| c.starts_with("ontrackio_session")),
            "{cookies:?}"
        );
        assert!(
            body.contains("<h1>"),
            "an error page, not a bare status: {body}"
        );
        assert_eq!(self.count("SELECT COUNT(*) AS n FROM sessions").await, 0);
        assert!(self.user("acme", ADA).await.is_none());
        assert_eq!(self.audit_count("acme", actions::SAML_SIGN_IN).await, 0);
        assert_eq!(
            self.audit_count("acme", actions::SAML_SIGN_IN_REFUSED)
                .await,
            1,
            "one audit row for the refusal"
        );
    }

    /// Starts a flow, lets `attack` rewrite the signed response, posts it, expects refusal.
    async fn refuses(&self, attack: impl FnOnce(&Self, ResponseBuilder) -> String) {
        let browser = self.browser();
        let id = self.start(&browser).await;
        let xml = attack(self, self.response(Some(&id)));
        let r = self.post_xml(&browser, &xml).await;
        self.assert_refused(r).await;
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn attr(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = xml[start..].find('"')? + start;
    Some(xml[start..end].to_string())
}

/// The AuthnRequest XML in a redirect to the IdP (HTTP-Redirect binding).
fn authn_request(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let value = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .expect("SAMLRequest");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

fn signed(b: ResponseBuilder) -> String {
    b.build().unwrap()
}

/// The `<saml:Assertion …>…</saml:Assertion>` element of a built response.
fn assertion_of(xml: &str) -> &str {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    &xml[start..end]
}

fn without_signature(assertion: &str) -> String {
    let start = assertion.find("<ds:Signature").unwrap();
    let end = assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &assertion[..start], &assertion[end..])
}

// ---- the way in ----------------------------------------------------------------------

#[tokio::test]
async fn the_authn_request_names_this_workspace_and_the_acs() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    let r = browser
        .get(app.url("acme", "/auth/saml?return_to=/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let to = location(&r);
    assert!(to.starts_with(&format!("http://127.0.0.1:9/{TENANT}/saml2?SAMLRequest=")));
    assert!(to.contains("&RelayState=%2Fadmin%2Fusers"), "{to}");
    let xml = authn_request(&to);
    assert_eq!(attr(&xml, "AssertionConsumerServiceURL"), Some(app.acs()));
    assert!(xml.contains(&format!(
        "<saml:Issuer>{}</saml:Issuer>",
        app.sp_entity_id()
    )));
    let metadata = app.browser().get(app.sp_entity_id()).send().await.unwrap();
    assert_eq!(
        metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let metadata = metadata.text().await.unwrap();
    assert!(metadata.contains(&format!("entityID=\"{}\"", app.sp_entity_id())));
    assert!(metadata.contains(&format!("Location=\"{}\"", app.acs())));
}

#[tokio::test]
async fn an_entra_shaped_response_provisions_the_user_and_lands_on_their_dashboard() {
    let app = spawn_saml(Card::default()).await;
    let login = app
        .browser()
        .get(app.url("acme", "/login"))
        .send()
        .await
        .unwrap();
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("Continue with SAML SSO")
    );
    let browser = app.browser();
    let id = app.start(&browser).await;
    let r = app
        .post_xml(&browser, &signed(app.response(Some(&id))))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), "/my/dashboard");
    let user = app.user("acme", ADA).await.expect("provisioned");
    assert_eq!(user.role, Role::Employee);
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(app.audit_count("acme", actions::SAML_SIGN_IN).await, 1);
    assert_eq!(
        app.audit_count("acme", actions::SAML_USER_PROVISIONED)
            .await,
        1
    );
    let dashboard = browser
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    // Admin → Users says how she signs in.
    let users = app
        .signed_in("acme", "admin@acme.test")
        .await
        .get(app.url("acme", "/admin/users?q=ada"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = users
        .split("<tr")
        .find(|r| r.contains(ADA))
        .expect("Ada's row");
    assert!(row.contains("SAML"), "{row}");
}

#[tokio::test]
async fn a_group_mapped_to_admin_makes_an_admin_and_an_overage_keeps_the_role() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    let id = app.start(&browser).await;
    let xml = signed(
        app.response(Some(&id))
            .groups(Groups::Listed(vec![ADMINS_GROUP.to_string()])),
    );
    let r = app.post_xml(&browser, &xml).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user("acme", ADA).await.unwrap().role, Role::Admin);
    // More groups than fit: Entra sends a link; the role stays as it is.
    let browser = app.browser();
    let id = app.start(&browser).await;
    let xml = signed(
        app.response(Some(&id)).groups(Groups::entra(
            (0..151)
                .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
                .collect(),
            TENANT,
            ADA_OID,
        )),
    );
    assert!(xml.contains("groups.link"), "{xml}");
    let r = app.post_xml(&browser, &xml).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user("acme", ADA).await.unwrap().role, Role::Admin);
}

#[tokio::test]
async fn an_address_outside_the_allowlist_is_refused() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    let id = app.start(&browser).await;
    let xml = signed(app.response(Some(&id)).name_id(
        "mallory@elsewhere.test",
        entra_emulator::saml::NameIdFormat::EmailAddress,
    ));
    let r = app.post_xml(&browser, &xml).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.user("acme", "mallory@elsewhere.test").await.is_none());
}

// ---- signature wrapping ----------------------------------------------------------------

#[tokio::test]
async fn wrapping_an_evil_assertion_before_the_signed_one_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let evil = without_signature(assertion_of(&xml))
            .replace(ADA, "admin@acme.test")
            .replacen("ID=\"_", "ID=\"_evil", 1);
        xml.replacen("<saml:Assertion", &format!("{evil}<saml:Assertion"), 1)
    })
    .await;
}

#[tokio::test]
async fn wrapping_the_signed_assertion_in_extensions_behind_an_evil_one_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let original = assertion_of(&xml).to_string();
        // Same ID, so a lookup by ID could find either; the signed one hides in Extensions.
        let evil = without_signature(&original).replace(ADA, "admin@acme.test");
        let wrapped = xml.replace(&original, &evil);
        wrapped.replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{original}</samlp:Extensions><samlp:Status>"),
            1,
        )
    })
    .await;
}

#[tokio::test]
async fn wrapping_the_signed_assertion_inside_an_evil_assertions_advice_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let original = assertion_of(&xml).to_string();
        let evil = without_signature(&original)
            .replace(ADA, "admin@acme.test")
            .replacen("ID=\"_", "ID=\"_evil", 1);
        let evil = evil.replacen(
            "<saml:Conditions",
            &format!("<saml:Advice>{original}</saml:Advice><saml:Conditions"),
            1,
        );
        xml.replace(&original, &evil)
    })
    .await;
}

#[tokio::test]
async fn an_evil_assertion_carrying_the_original_signature_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        // The signature stays, its reference still names the assertion's ID; the content
        // changed under it.
        signed(b).replace(
            &format!(">{ADA}</saml:NameID>"),
            ">admin@acme.test</saml:NameID>",
        )
    })
    .await;
}

#[tokio::test]
async fn a_response_whose_id_repeats_the_assertions_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b.clone());
        xml.replacen(
            &format!("ID=\"{}\"", b.response_id),
            &format!("ID=\"{}\"", b.assertion_id),
            1,
        )
    })
    .await;
}

#[tokio::test]
async fn a_signature_hidden_outside_the_response_and_assertion_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let original = assertion_of(&xml).to_string();
        let sig_start = original.find("<ds:Signature").unwrap();
        let sig_end = original.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = &original[sig_start..sig_end];
        // The signature moves into the subject's confirmation data.
        let moved = without_signature(&original).replacen(
            "</saml:SubjectConfirmation>",
            &format!("{signature}</saml:SubjectConfirmation>"),
            1,
        );
        xml.replace(&original, &moved)
    })
    .await;
}

// ---- what the assertion says -------------------------------------------------------------

#[tokio::test]
async fn a_comment_injected_into_the_name_id_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        // The IdP really signed `ada.lovelace@acme.test.evil.example`; a comment keeps the
        // signature valid (canonicalisation drops it) and would make a naive reader stop
        // at `ada.lovelace@acme.test`.
        let xml = signed(b.name_id(
            "ada.lovelace@acme.test.evil.example",
            entra_emulator::saml::NameIdFormat::EmailAddress,
        ));
        xml.replace(
            "ada.lovelace@acme.test.evil.example</saml:NameID>",
            "ada.lovelace@acme.test<!---->.evil.example</saml:NameID>",
        )
    })
    .await;
}

#[tokio::test]
async fn an_unsigned_assertion_inside_a_signed_response_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| signed(b.signing(SigningOption::Response)))
        .await;
}

#[tokio::test]
async fn a_response_when_no_certificate_is_configured_is_refused() {
    let app = spawn_saml(Card {
        with_certificate: false,
        ..Card::default()
    })
    .await;
    let browser = app.browser();
    // No flow can start without a certificate; a post comes anyway.
    let r = app.post_xml(&browser, &signed(app.response(None))).await;
    app.assert_refused(r).await;
}

#[tokio::test]
async fn a_message_signed_with_a_key_it_embeds_itself_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        signed(
            b.credential(&SigningCredential::attacker())
                .include_key_info(true),
        )
    })
    .await;
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, mut b| {
        b.audience = "https://globex.example.com/saml/metadata".into();
        signed(b)
    })
    .await;
}

#[tokio::test]
async fn a_response_to_another_destination_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|app, mut b| {
        b.destination = Some(app.url("globex", "/saml/acs"));
        signed(b)
    })
    .await;
}

#[tokio::test]
async fn an_assertion_for_another_recipient_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|app, mut b| {
        b.recipient = app.url("globex", "/saml/acs");
        signed(b)
    })
    .await;
}

#[tokio::test]
async fn a_response_to_another_request_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| signed(b.in_response_to(Some("_someone-elses-request"))))
        .await;
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, mut b| {
        let long_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
        b.issue_instant = long_ago;
        b.authn_instant = long_ago;
        b.not_before = long_ago - time::Duration::minutes(5);
        b.not_on_or_after = long_ago + time::Duration::minutes(70);
        b.subject_not_on_or_after = long_ago + time::Duration::minutes(5);
        signed(b)
    })
    .await;
}

#[tokio::test]
async fn an_assertion_not_valid_yet_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, mut b| {
        b.not_before = time::OffsetDateTime::now_utc() + time::Duration::minutes(30);
        signed(b)
    })
    .await;
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = spawn_saml(Card {
        allow_idp_initiated: true,
        ..Card::default()
    })
    .await;
    let xml = signed(app.response(None));
    let first = app.post_xml(&app.browser(), &xml).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = app.post_xml(&app.browser(), &xml).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert!(
        set_cookies(second.headers())
            .iter()
            .all(|c| !c.starts_with("ontrackio_session"))
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 1);
    assert_eq!(app.audit_count("acme", actions::SAML_SIGN_IN).await, 1);
    assert_eq!(
        app.audit_count("acme", actions::SAML_SIGN_IN_REFUSED).await,
        1
    );
    let refusal = app
        .audit("acme")
        .await
        .into_iter()
        .find(|e| e.action == actions::SAML_SIGN_IN_REFUSED)
        .unwrap();
    assert!(refusal.details.contains("replay"), "{}", refusal.details);
}

#[tokio::test]
async fn simultaneous_replays_sign_in_once() {
    let app = spawn_saml(Card {
        allow_idp_initiated: true,
        ..Card::default()
    })
    .await;
    let xml = signed(app.response(None));
    let posts = (0..8).map(|_| {
        let browser = app.browser();
        let xml = xml.clone();
        let app = &app;
        async move { app.post_xml(&browser, &xml).await.status() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    let signed_in = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(signed_in, 1, "{statuses:?}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 1);
}

#[tokio::test]
async fn an_idp_initiated_response_is_refused_unless_the_card_allows_it() {
    let app = spawn_saml(Card::default()).await;
    let r = app
        .post_xml(&app.browser(), &signed(app.response(None)))
        .await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("Sign-in from your identity provider"),
        "{body}"
    );
    assert!(app.user("acme", ADA).await.is_none());
    assert_eq!(
        app.audit_count("acme", actions::SAML_SIGN_IN_REFUSED).await,
        1
    );
}

// ---- hostile XML and sizes ---------------------------------------------------------------

#[tokio::test]
async fn entity_expansion_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let mut dtd = String::from("<!DOCTYPE samlp:Response [<!ENTITY a0 \"lol\">");
        for i in 1..10 {
            let prev = format!("&a{};", i - 1).repeat(10);
            dtd.push_str(&format!("<!ENTITY a{i} \"{prev}\">"));
        }
        dtd.push_str("]>");
        let xml = xml.replacen(&format!(">{ADA}<"), ">&a9;<", 1);
        format!("{dtd}{xml}")
    })
    .await;
}

#[tokio::test]
async fn an_external_entity_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let dtd = "<!DOCTYPE samlp:Response [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>";
        format!("{dtd}{}", xml.replacen(&format!(">{ADA}<"), ">&x;<", 1))
    })
    .await;
}

#[tokio::test]
async fn a_deflate_bomb_is_refused_without_inflating_it() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    app.start(&browser).await;
    // 64 MiB of zeros compress to ~64 KiB: what a Redirect-binding response would carry.
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        deflater.write_all(&chunk).unwrap();
    }
    let bomb = deflater.finish().unwrap();
    assert!(bomb.len() < 200 * 1024);
    let r = app.post_value(&browser, &b64(&bomb)).await;
    app.assert_refused(r).await;
}

#[tokio::test]
async fn an_oversize_response_is_refused() {
    let app = spawn_saml(Card::default()).await;
    app.refuses(|_, b| {
        let xml = signed(b);
        let padding = format!("<!--{}-->", "x".repeat(300 * 1024));
        xml.replacen("<saml:Issuer>", &format!("{padding}<saml:Issuer>"), 1)
    })
    .await;
}

#[tokio::test]
async fn a_post_without_a_response_or_with_garbage_is_refused() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    app.start(&browser).await;
    let r = app.post_value(&browser, "%%% not base64 %%%").await;
    app.assert_refused(r).await;
}

// ---- the card's Test sign-in -------------------------------------------------------------

#[tokio::test]
async fn a_super_admins_test_sign_in_reports_the_assertion_and_signs_nobody_in() {
    let app = spawn_saml(Card {
        enabled: false,
        ..Card::default()
    })
    .await;
    // Off: no button, no sign-in.
    let login = app
        .browser()
        .get(app.url("acme", "/login"))
        .send()
        .await
        .unwrap();
    assert!(
        !login
            .text()
            .await
            .unwrap()
            .contains("Continue with SAML SSO")
    );
    let anonymous = app
        .browser()
        .get(app.url("acme", "/auth/saml?test=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);

    let admin = app.signed_in("acme", "admin@acme.test").await;
    let sessions_before = app.count("SELECT COUNT(*) AS n FROM sessions").await;
    let r = admin
        .get(app.url("acme", "/auth/saml?test=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let id = attr(&authn_request(&location(&r)), "ID").unwrap();
    let xml = signed(
        app.response(Some(&id))
            .groups(Groups::Listed(vec![ADMINS_GROUP.to_string()])),
    );
    let r = app.post_xml(&admin, &xml).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Test sign-in succeeded"), "{page}");
    assert!(page.contains(ADA));
    assert!(page.contains(ADMINS_GROUP));
    assert!(app.user("acme", ADA).await.is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions").await,
        sessions_before
    );
    assert_eq!(app.audit_count("acme", actions::SAML_TEST_SIGN_IN).await, 1);
    let ws = app.workspace("acme").await;
    let row = store::saml_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_test_ok, Some(true));
}

#[tokio::test]
async fn a_cross_site_post_without_the_flow_cookie_is_posted_again_from_our_own_page() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    let id = app.start(&browser).await;
    let value = b64(signed(app.response(Some(&id))).as_bytes());
    // The IdP's page posts cross-site: a browser leaves the Lax flow cookie out.
    let cookieless = app.browser();
    let r = cookieless
        .post(app.acs())
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[
            ("SAMLResponse", value.as_str()),
            ("RelayState", "/my/profile"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"action="/saml/acs""#), "{page}");
    assert!(page.contains(r#"name="resubmitted" value="1""#));
    assert!(page.contains(&value), "the same response, unchanged");
    assert!(
        app.user("acme", ADA).await.is_none(),
        "nothing verified yet"
    );
    assert_eq!(
        app.audit_count("acme", actions::SAML_SIGN_IN_REFUSED).await,
        0
    );
    // Our page's post is same-site: the browser that started the flow sends its cookie.
    let r = browser
        .post(app.acs())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("SAMLResponse", value.as_str()), ("resubmitted", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.user("acme", ADA).await.is_some());
    // A resubmission is never bounced again, cookie or not.
    let r = cookieless
        .post(app.acs())
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("SAMLResponse", value.as_str()), ("resubmitted", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_certificate_the_idp_no_longer_uses_shows_on_the_cards_health_line() {
    let app = spawn_saml(Card::default()).await;
    let browser = app.browser();
    let id = app.start(&browser).await;
    // The IdP rolled its key over; the card still holds the old certificate.
    let rolled = SigningCredential::generate();
    let r = app
        .post_xml(
            &browser,
            &signed(app.response(Some(&id)).credential(&rolled)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let ws = app.workspace("acme").await;
    let row = store::saml_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
        .unwrap();
    let summary = row.last_failure_summary.unwrap_or_default();
    assert!(summary.contains("signature"), "{summary}");
    let card = app
        .signed_in("acme", "admin@acme.test")
        .await
        .get(app.url("acme", "/admin/settings/integrations/saml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = summary.replace('\'', "&#39;");
    assert!(card.contains(&shown), "the card shows the failure: {card}");
}

#[tokio::test]
async fn a_failed_test_sign_in_tells_the_super_admin_why() {
    let app = spawn_saml(Card::default()).await;
    let admin = app.signed_in("acme", "admin@acme.test").await;
    let r = admin
        .get(app.url("acme", "/auth/saml?test=1"))
        .send()
        .await
        .unwrap();
    let id = attr(&authn_request(&location(&r)), "ID").unwrap();
    let mut b = app.response(Some(&id));
    b.audience = "https://elsewhere.example.com/saml/metadata".into();
    let r = app.post_xml(&admin, &signed(b)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("Test sign-in failed"), "{page}");
    assert!(
        page.contains("another service provider (Audience)"),
        "{page}"
    );
    let ws = app.workspace("acme").await;
    let row = store::saml_settings::get(app.db.pool(), &ws.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_test_ok, Some(false));
    assert!(app.user("acme", ADA).await.is_none());
}
