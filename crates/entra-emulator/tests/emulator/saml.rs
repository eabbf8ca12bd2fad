//! The SAML 2.0 IdP: metadata, AuthnRequest decoding (and its limits), Entra's errors, the
//! browser flows (SP- and IdP-initiated), signatures as a relying party verifies them, the
//! signing options and the groups overage.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entra_emulator::demo::*;
use entra_emulator::saml::{
    self, Groups, NS_ASSERTION, NS_DSIG, NS_METADATA, NS_PROTOCOL, RequestError, ResponseBuilder,
    SAML_GROUPS_LIMIT, SigningCredential, SigningOption, claims,
};
use entra_emulator::{Emulator, EmulatorHandle, Group};
use time::OffsetDateTime;
use uuid::Uuid;
use xml_sec::api::Operation;
use xml_sec::policy::{PolicyCompileContext, PolicyCompiler, PolicyProfile};
use xml_sec::provider::RustCryptoProvider;
use xml_sec::xmldsig::{SignatureAlgorithm, VerificationKey, VerificationRequest};
use xml_sec::{XmlDomDocument, XmlDomNode, XmlSecurity};

use crate::support::{assert_error_page, client, get};

const SP: &str = "https://sp.example.test/saml/metadata";
const ACS: &str = "https://sp.example.test/saml/acs";

/// An emulator serving the demo directory plus a SAML app for `SP`/`ACS` in Acme.
async fn start_with_app() -> EmulatorHandle {
    Emulator::builder()
        .saml_app(saml_app_for(SP, ACS))
        .start()
        .await
        .expect("emulator starts")
}

fn authn_request(id: &str, issuer: &str, acs: Option<&str>, extra: &str) -> String {
    let acs = acs
        .map(|a| format!(" AssertionConsumerServiceURL=\"{a}\""))
        .unwrap_or_default();
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{id}\" \
Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"{acs}{extra}><saml:Issuer>{issuer}</saml:Issuer>\
<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" AllowCreate=\"true\"/></samlp:AuthnRequest>"
    )
}

/// `/{tenant}/saml2?SAMLRequest=…&RelayState=…` for `xml` (HTTP-Redirect binding).
fn redirect_url(emu: &EmulatorHandle, xml: &str, relay_state: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("SAMLRequest", saml::encode_redirect(xml)),
        ("RelayState", relay_state.to_owned()),
    ])
    .unwrap();
    format!("{}?{query}", emu.saml_sso_url(ACME_TENANT_ID))
}

/// Picks `oid` on the SAML picker page `html`; returns the page the emulator answers.
async fn pick(emu: &EmulatorHandle, html: &str, oid: &str) -> String {
    let request = entra_emulator::picker_request_id(html).expect("a picker page");
    let action = format!("{}/select", emu.saml_sso_url(ACME_TENANT_ID));
    let response = client()
        .post(action)
        .form(&[("request", request.as_str()), ("account", oid)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The XML of a posted form's `SAMLResponse`.
fn response_xml(form: &saml::PostedForm) -> String {
    String::from_utf8(STANDARD.decode(&form.saml_response).unwrap()).unwrap()
}

/// The `SubjectPublicKeyInfo` DER of a certificate: the 7th field of `tbsCertificate` (6th
/// without the explicit version), read with the DER reader the `rsa` crate re-exports.
fn spki_of(certificate_der: &[u8]) -> Vec<u8> {
    use rsa::pkcs8::der::asn1::AnyRef;
    use rsa::pkcs8::der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
    let certificate = AnyRef::from_der(certificate_der).unwrap();
    let mut outer = SliceReader::new(certificate.value()).unwrap();
    let tbs = AnyRef::decode(&mut outer).unwrap();
    let mut fields = SliceReader::new(tbs.value()).unwrap();
    let mut all = Vec::new();
    while !fields.is_finished() {
        all.push(AnyRef::decode(&mut fields).unwrap());
    }
    let versioned = matches!(all[0].tag(), Tag::ContextSpecific { .. });
    all[if versioned { 6 } else { 5 }].to_der().unwrap()
}

/// Verifies `xml` as a relying party does: the key pinned from `certificate_der` (never the
/// document's `KeyInfo`), and the element with ID `target` must be what the signatures cover.
fn verifies(xml: &str, certificate_der: &[u8], target: &str) -> bool {
    let provider = RustCryptoProvider;
    let policies = PolicyCompiler::new(PolicyProfile::SecureSaml, &provider, None)
        .unwrap()
        .compile(&PolicyCompileContext {
            external_resources: false,
            target_evidence: true,
        })
        .unwrap();
    let security = XmlSecurity::new(&policies, &provider).unwrap();
    let document = security
        .parse_document(xml.to_owned(), Operation::Verify)
        .unwrap();
    let Some(target) = document.with_view(|view| view.node_for_id(target, &[])) else {
        return false;
    };
    let key = VerificationKey {
        algorithm: SignatureAlgorithm::RsaSha256,
        public_key_bytes: spki_of(certificate_der),
        certificate_der: None,
        name: None,
    };
    let targets = [target];
    let request = VerificationRequest {
        expected_targets: &targets,
        ..VerificationRequest::default()
    };
    let Ok(evidence) = security
        .verifier()
        .unwrap()
        .key(&key)
        .verify(&document, &request)
    else {
        return false;
    };
    evidence.accepted(&document).unwrap_or(false)
}

fn element<'a, 'i>(node: XmlDomNode<'a, 'i>, ns: &str, name: &str) -> XmlDomNode<'a, 'i> {
    node.descendants()
        .find(|n| n.is_element() && n.has_tag_name((ns, name)))
        .unwrap_or_else(|| panic!("no {name}"))
}

fn children<'a, 'i>(node: XmlDomNode<'a, 'i>) -> Vec<(String, XmlDomNode<'a, 'i>)> {
    node.children()
        .filter(|n| n.is_element())
        .map(|n| (n.tag_name().name().to_owned(), n))
        .collect()
}

/// `{attribute name: values}` of the assertion's `AttributeStatement`.
fn attributes(xml: &str) -> Vec<(String, Vec<String>)> {
    let document = XmlDomDocument::parse(xml).unwrap();
    document
        .descendants()
        .filter(|n| n.has_tag_name((NS_ASSERTION, "Attribute")))
        .map(|a| {
            let values = a
                .children()
                .filter(|v| v.is_element())
                .map(|v| v.text().unwrap_or_default().to_owned())
                .collect();
            (a.attribute("Name").unwrap().to_owned(), values)
        })
        .collect()
}

fn attribute(xml: &str, name: &str) -> Option<Vec<String>> {
    attributes(xml)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn metadata_describes_the_idp_with_its_certificate_and_endpoints() {
    let emu = start_with_app().await;
    let url = emu.saml_metadata_url(ACME_TENANT_ID, Some(DEMO_SAML_APP_ID));
    let response = get(&url).await;
    assert_eq!(response.status(), 200);
    assert!(
        crate::support::header(&response, "content-type").starts_with("application/xml"),
        "XML content type"
    );
    let xml = response.text().await.unwrap();
    assert_eq!(xml, {
        // Same document apart from its random ID.
        let local = emu.saml_metadata(ACME_TENANT_ID);
        let id = |x: &str| {
            x.split("ID=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        };
        local.replace(&id(&local), &id(&xml))
    });
    let document = XmlDomDocument::parse(&xml).expect("well-formed metadata");
    let root = document.root_element();
    assert!(root.has_tag_name((NS_METADATA, "EntityDescriptor")));
    assert_eq!(
        root.attribute("entityID"),
        Some(format!("https://sts.windows.net/{ACME_TENANT_ID}/").as_str())
    );
    let roles = children(root);
    assert_eq!(roles.len(), 1, "one role: the IdP");
    let (name, idp) = roles.into_iter().next().unwrap();
    assert_eq!(name, "IDPSSODescriptor");
    assert_eq!(
        idp.attribute("protocolSupportEnumeration"),
        Some(NS_PROTOCOL)
    );
    let roles: Vec<String> = children(idp).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        roles,
        [
            "KeyDescriptor",
            "SingleLogoutService",
            "SingleSignOnService",
            "SingleSignOnService"
        ],
        "schema order"
    );
    let key = element(idp, NS_METADATA, "KeyDescriptor");
    assert_eq!(key.attribute("use"), Some("signing"));
    let certificate = element(key, NS_DSIG, "X509Certificate").text().unwrap();
    let der = STANDARD.decode(certificate).expect("base64 DER");
    assert_eq!(der, emu.saml_credential().certificate_der());
    let sso = emu.saml_sso_url(ACME_TENANT_ID);
    assert_eq!(sso, format!("{}/{ACME_TENANT_ID}/saml2", emu.authority()));
    let services: Vec<(String, String)> = idp
        .children()
        .filter(|n| n.has_tag_name((NS_METADATA, "SingleSignOnService")))
        .map(|n| {
            (
                n.attribute("Binding").unwrap().to_owned(),
                n.attribute("Location").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            (saml::BINDING_HTTP_REDIRECT.to_owned(), sso.clone()),
            (saml::BINDING_HTTP_POST.to_owned(), sso.clone())
        ]
    );
    // The tenant's verified domain names the same tenant.
    let by_domain = get(&emu.saml_metadata_url(ACME_DOMAIN, None)).await;
    assert!(
        by_domain
            .text()
            .await
            .unwrap()
            .contains(&format!("sts.windows.net/{ACME_TENANT_ID}/"))
    );
    let unknown = get(&emu.saml_metadata_url("nowhere.test", None)).await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("AADSTS90002"));
}

#[tokio::test]
async fn the_certificate_is_entras_and_its_validity_can_be_shortened() {
    let emu = start_with_app().await;
    let credential = emu.saml_credential();
    let der = credential.certificate_der();
    assert!(
        der.windows(saml::CERTIFICATE_SUBJECT_CN.len())
            .any(|w| w == saml::CERTIFICATE_SUBJECT_CN.as_bytes()),
        "subject CN=Microsoft Azure Federated SSO Certificate"
    );
    assert_eq!(
        credential.not_after() - credential.not_before(),
        time::Duration::days(3 * 365),
        "three years, Entra's default"
    );
    assert_eq!(
        spki_of(der),
        credential.public_key_spki_der(),
        "the certificate holds the signing key"
    );
    assert!(
        credential
            .certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(credential.thumbprint().len(), 40);

    // An expired certificate for the same key: the metadata publishes it, signatures still
    // verify with it.
    let now = OffsetDateTime::now_utc();
    emu.set_saml_certificate_validity(
        now - time::Duration::days(400),
        now - time::Duration::days(1),
    )
    .unwrap();
    let expired = emu.saml_credential();
    assert!(expired.not_after() < now);
    assert!(expired.same_key_as(&credential));
    assert_ne!(expired.certificate_der(), credential.certificate_der());
    assert!(
        emu.saml_metadata(ACME_TENANT_ID)
            .contains(&expired.certificate_base64())
    );
    let builder = emu.saml_response(SP, ALEX_UPN).unwrap();
    assert!(verifies(
        &builder.build().unwrap(),
        expired.certificate_der(),
        &builder.assertion_id
    ));
    assert!(
        emu.set_saml_certificate_validity(now, now - time::Duration::days(1))
            .is_err(),
        "an empty validity is refused"
    );

    // A rollover changes the key: the old certificate no longer verifies.
    let rolled = emu.rotate_saml_certificate();
    assert!(!rolled.same_key_as(&credential));
    let builder = emu.saml_response(SP, ALEX_UPN).unwrap();
    let xml = builder.build().unwrap();
    assert!(verifies(
        &xml,
        rolled.certificate_der(),
        &builder.assertion_id
    ));
    assert!(!verifies(
        &xml,
        credential.certificate_der(),
        &builder.assertion_id
    ));
}

#[test]
fn authn_request_round_trips_through_the_redirect_and_post_encodings() {
    let xml = authn_request(
        "_req-1",
        SP,
        Some(ACS),
        " ForceAuthn=\"true\" IsPassive=\"false\"",
    );
    let expected = saml::AuthnRequest {
        id: "_req-1".to_owned(),
        issuer: SP.to_owned(),
        acs_url: Some(ACS.to_owned()),
        force_authn: true,
        is_passive: false,
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".to_owned()),
        subject: None,
    };
    let encoded = saml::encode_redirect(&xml);
    assert_eq!(saml::decode_redirect(&encoded), Ok(expected.clone()));
    // Wrapped base64, as some SPs send it.
    let wrapped: String = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(saml::decode_redirect(&wrapped), Ok(expected.clone()));
    assert_eq!(saml::decode_post(&STANDARD.encode(&xml)), Ok(expected));

    let passive = authn_request("_p", SP, None, " IsPassive=\"1\"");
    let decoded = saml::decode_redirect(&saml::encode_redirect(&passive)).unwrap();
    assert!(decoded.is_passive && !decoded.force_authn && decoded.acs_url.is_none());

    // Not a request, or not safe to read.
    let refused = |xml: &str| saml::decode_redirect(&saml::encode_redirect(xml)).unwrap_err();
    assert!(matches!(refused("<a/>"), RequestError::NotAuthnRequest));
    assert!(matches!(
        refused(&authn_request("_x", SP, None, "").replace(" ID=\"_x\"", "")),
        RequestError::Missing("ID")
    ));
    let with_dtd = format!(
        "<!DOCTYPE r [<!ENTITY e \"x\">]>{}",
        authn_request("_d", "&e;", None, "")
    );
    assert!(matches!(refused(&with_dtd), RequestError::NotXml(_)));
    assert!(matches!(
        saml::decode_redirect("***"),
        Err(RequestError::NotBase64)
    ));
    assert!(matches!(
        saml::decode_redirect(&STANDARD.encode(b"not deflate at all, honestly")),
        Err(RequestError::Inflate(_) | RequestError::NotUtf8 | RequestError::NotXml(_))
    ));
}

/// Counts the bytes the current thread has allocated while `TRACKING` is on, to show the
/// inflater's bound holds whatever the input claims.
struct CountingAllocator;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            LIVE.with(|live| {
                live.set(live.get() + size);
                PEAK.with(|peak| peak.set(peak.get().max(live.get())));
            });
        }
    });
}

fn note_free(size: usize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            LIVE.with(|live| live.set(live.get().saturating_sub(size)));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The peak of bytes live on this thread while `f` runs.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (out, PEAK.with(Cell::get))
}

/// Raw DEFLATE of `len` zero bytes (≈1000:1), what a bomb looks like.
fn deflated_zeros(len: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..len / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_deflate_bomb_is_refused_without_inflating_it() {
    let bomb = deflated_zeros(32 << 20);
    let encoded = STANDARD.encode(&bomb);
    assert!(
        encoded.len() < 64 * 1024,
        "small on the wire: {}",
        encoded.len()
    );
    let (result, peak) = peak_allocation(|| saml::decode_redirect(&encoded));
    assert_eq!(result, Err(RequestError::TooLarge));
    // The counter works (the inflater did fill its capped buffer) and the cap held.
    assert!(peak >= saml::MAX_INFLATED_LEN, "counted: {peak}");
    assert!(
        peak < 4 * saml::MAX_INFLATED_LEN,
        "32 MiB claimed, {peak} bytes allocated at most"
    );

    // Over HTTP: Entra's "not a valid Saml2 protocol message" page.
    let emu = start_with_app().await;
    let query = serde_urlencoded::to_string([("SAMLRequest", encoded)]).unwrap();
    let response = get(&format!("{}?{query}", emu.saml_sso_url(ACME_TENANT_ID))).await;
    let html = assert_error_page(response, 75005).await;
    assert!(html.contains("The request is not a valid Saml2 protocol message."));
}

#[tokio::test]
async fn request_problems_are_entras_error_pages() {
    let emu = start_with_app().await;
    // An issuer no app of the tenant has as identifier.
    let unknown_sp = "https://other.example.test/metadata";
    let response = get(&redirect_url(
        &emu,
        &authn_request("_1", unknown_sp, Some(ACS), ""),
        "",
    ))
    .await;
    let html = assert_error_page(response, 700016).await;
    assert!(
        html.contains(&format!(
            "AADSTS700016: Application with identifier &#39;{unknown_sp}&#39; was not found in the directory &#39;Acme&#39;."
        )),
        "{html}"
    );
    // A reply URL the app does not have.
    let app_id = emu
        .directory()
        .saml_apps
        .iter()
        .find(|a| a.identifiers[0] == SP)
        .unwrap()
        .app_id;
    let wrong_acs = "https://sp.example.test/elsewhere";
    let response = get(&redirect_url(
        &emu,
        &authn_request("_2", SP, Some(wrong_acs), ""),
        "",
    ))
    .await;
    let html = assert_error_page(response, 50011).await;
    assert!(
        html.contains(&format!(
            "AADSTS50011: The redirect URI &#39;{wrong_acs}&#39; specified in the request does not match the redirect URIs configured for the application &#39;{app_id}&#39;."
        )),
        "{html}"
    );
    // The app lives in Acme: Contoso doesn't know it.
    let xml = authn_request("_3", SP, Some(ACS), "");
    let query =
        serde_urlencoded::to_string([("SAMLRequest", saml::encode_redirect(&xml))]).unwrap();
    let response = get(&format!("{}?{query}", emu.saml_sso_url(CONTOSO_TENANT_ID))).await;
    assert_error_page(response, 700016).await;
    // No message, a message that isn't one, an unknown tenant.
    let response = get(&emu.saml_sso_url(ACME_TENANT_ID)).await;
    assert_error_page(response, 750054).await;
    let response = get(&format!(
        "{}?SAMLRequest=bm90IHhtbA%3D%3D",
        emu.saml_sso_url(ACME_TENANT_ID)
    ))
    .await;
    assert_error_page(response, 75005).await;
    let response = get(&format!(
        "{}/nowhere.test/saml2?SAMLRequest=x",
        emu.authority()
    ))
    .await;
    assert_error_page(response, 90002).await;
}

#[tokio::test]
async fn sp_initiated_sign_in_posts_a_signed_response_to_the_acs() {
    let emu = start_with_app().await;
    let relay = "/projects?tab=mine&x=\"1\"";
    let xml = authn_request("_sp-request-1", SP, Some(ACS), "");
    let picker = get(&redirect_url(&emu, &xml, relay)).await;
    assert_eq!(picker.status(), 200);
    let picker = picker.text().await.unwrap();
    assert!(picker.contains("Pick an account"), "the emulator's picker");
    let page = pick(&emu, &picker, ALEX_OID).await;
    assert!(
        page.contains("<noscript>") && page.contains("type=\"submit\""),
        "works without script"
    );
    let form = saml::posted_form(&page).expect("an auto-post form");
    assert_eq!(form.action, ACS);
    assert_eq!(
        form.relay_state.as_deref(),
        Some(relay),
        "RelayState unchanged"
    );

    let xml = response_xml(&form);
    let document = XmlDomDocument::parse(&xml).unwrap();
    let response = document.root_element();
    assert!(response.has_tag_name((NS_PROTOCOL, "Response")));
    assert_eq!(response.attribute("Version"), Some("2.0"));
    assert_eq!(response.attribute("Destination"), Some(ACS));
    assert_eq!(response.attribute("InResponseTo"), Some("_sp-request-1"));
    assert!(response.attribute("ID").unwrap().starts_with('_'));
    let issuer = format!("https://sts.windows.net/{ACME_TENANT_ID}/");
    let top: Vec<String> = children(response).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        top,
        ["Issuer", "Status", "Assertion"],
        "only the assertion is signed"
    );
    assert_eq!(
        element(response, NS_ASSERTION, "Issuer").text(),
        Some(issuer.as_str())
    );
    assert_eq!(
        element(response, NS_PROTOCOL, "StatusCode").attribute("Value"),
        Some(saml::STATUS_SUCCESS)
    );
    let assertion = element(response, NS_ASSERTION, "Assertion");
    let inner: Vec<String> = children(assertion).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        inner,
        [
            "Issuer",
            "Signature",
            "Subject",
            "Conditions",
            "AttributeStatement",
            "AuthnStatement"
        ]
    );
    let assertion_id = assertion.attribute("ID").unwrap().to_owned();
    let name_id = element(assertion, NS_ASSERTION, "NameID");
    assert_eq!(name_id.text(), Some(ALEX_UPN));
    assert_eq!(
        name_id.attribute("Format"),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    let confirmation = element(assertion, NS_ASSERTION, "SubjectConfirmationData");
    assert_eq!(
        confirmation.attribute("InResponseTo"),
        Some("_sp-request-1")
    );
    assert_eq!(confirmation.attribute("Recipient"), Some(ACS));
    assert_eq!(
        element(assertion, NS_ASSERTION, "Audience").text(),
        Some(SP)
    );
    let reference = element(assertion, NS_DSIG, "Reference");
    assert_eq!(
        reference.attribute("URI"),
        Some(format!("#{assertion_id}").as_str())
    );
    assert_eq!(
        element(assertion, NS_DSIG, "SignatureMethod").attribute("Algorithm"),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    );

    // The key pinned from the metadata's certificate authenticates the assertion.
    let metadata = emu.saml_metadata(ACME_TENANT_ID);
    let certificate = metadata
        .split("<X509Certificate>")
        .nth(1)
        .and_then(|s| s.split("</X509Certificate>").next())
        .unwrap();
    let certificate = STANDARD.decode(certificate).unwrap();
    assert!(verifies(&xml, &certificate, &assertion_id));
    assert!(
        !verifies(
            &xml.replace(ALEX_UPN, MEGAN_UPN),
            &certificate,
            &assertion_id
        ),
        "tampering breaks it"
    );
    assert!(
        !verifies(
            &xml,
            SigningCredential::attacker().certificate_der(),
            &assertion_id
        ),
        "another key does not verify it"
    );

    // Entra's claims, groups as object ids (security groups only, as the app asks).
    let attributes = attributes(&xml);
    let names: Vec<&str> = attributes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            claims::TENANT_ID,
            claims::OBJECT_ID,
            claims::DISPLAY_NAME,
            claims::IDENTITY_PROVIDER,
            claims::AUTHN_METHODS_REFERENCES,
            claims::GIVEN_NAME,
            claims::SURNAME,
            claims::EMAIL_ADDRESS,
            claims::NAME,
            claims::GROUPS
        ]
    );
    let value = |name: &str| attribute(&xml, name).unwrap();
    assert_eq!(value(claims::TENANT_ID), [ACME_TENANT_ID]);
    assert_eq!(value(claims::OBJECT_ID), [ALEX_OID]);
    assert_eq!(value(claims::DISPLAY_NAME), ["Alex Wilber"]);
    assert_eq!(value(claims::IDENTITY_PROVIDER), [issuer.as_str()]);
    assert_eq!(
        value(claims::AUTHN_METHODS_REFERENCES),
        [claims::AMR_PASSWORD]
    );
    assert_eq!(value(claims::NAME), [ALEX_UPN]);
    assert_eq!(value(claims::GROUPS), [STAFF_GROUP_ID, IT_ADMINS_GROUP_ID]);

    // Conditions: −5 min … +70 min, subject confirmation +5 min, all around the issue instant.
    let instant = |node: XmlDomNode<'_, '_>, name: &str| {
        OffsetDateTime::parse(
            node.attribute(name).unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let issued = instant(response, "IssueInstant");
    let conditions = element(assertion, NS_ASSERTION, "Conditions");
    assert_eq!(
        instant(conditions, "NotBefore"),
        issued - time::Duration::minutes(5)
    );
    assert_eq!(
        instant(conditions, "NotOnOrAfter"),
        issued + time::Duration::minutes(70)
    );
    assert_eq!(
        instant(confirmation, "NotOnOrAfter"),
        issued + time::Duration::minutes(5)
    );
    let authn = element(assertion, NS_ASSERTION, "AuthnStatement");
    assert_eq!(authn.attribute("SessionIndex"), Some(assertion_id.as_str()));
}

#[tokio::test]
async fn the_session_signs_in_again_without_the_picker_unless_force_authn() {
    let emu = start_with_app().await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let picker = browser
        .get(redirect_url(
            &emu,
            &authn_request("_a", SP, Some(ACS), ""),
            "",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = entra_emulator::picker_request_id(&picker).unwrap();
    let page = browser
        .post(format!("{}/select", emu.saml_sso_url(ACME_TENANT_ID)))
        .form(&[("request", request.as_str()), ("account", MEGAN_OID)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(saml::posted_form(&page).is_some());
    // Same browser: straight to the form, for Megan.
    let again = browser
        .get(redirect_url(
            &emu,
            &authn_request("_b", SP, Some(ACS), ""),
            "",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = saml::posted_form(&again).expect("no picker with a session");
    let xml = response_xml(&form);
    assert!(xml.contains("InResponseTo=\"_b\""));
    assert_eq!(attribute(&xml, claims::NAME).unwrap(), [MEGAN_UPN]);
    // ForceAuthn: the picker again.
    let forced = browser
        .get(redirect_url(
            &emu,
            &authn_request("_c", SP, Some(ACS), " ForceAuthn=\"true\""),
            "",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(forced.contains("Pick an account"));
    // IsPassive without a session (another browser): a NoPassive response, no assertion.
    let passive = get(&redirect_url(
        &emu,
        &authn_request("_d", SP, Some(ACS), " IsPassive=\"true\""),
        "rs",
    ))
    .await;
    let form = saml::posted_form(&passive.text().await.unwrap()).expect("posted back");
    assert_eq!(form.relay_state.as_deref(), Some("rs"));
    let xml = response_xml(&form);
    assert!(xml.contains(&format!(
        "<samlp:StatusCode Value=\"{}\"",
        saml::STATUS_REQUESTER
    )));
    assert!(xml.contains(saml::STATUS_NO_PASSIVE));
    assert!(xml.contains("AADSTS50058"));
    assert!(!xml.contains("Assertion"));
}

#[tokio::test]
async fn the_post_binding_and_a_login_hint_with_auto_select() {
    let emu = Emulator::builder()
        .saml_app(saml_app_for(SP, ACS))
        .auto_select(true)
        .start()
        .await
        .unwrap();
    let xml = authn_request("_post-1", SP, None, "");
    let response = client()
        .post(emu.saml_sso_url(ACME_TENANT_ID))
        .form(&[
            ("SAMLRequest", STANDARD.encode(&xml).as_str()),
            ("RelayState", "r"),
            ("login_hint", ADELE_UPN),
        ])
        .send()
        .await
        .unwrap();
    let form = saml::posted_form(&response.text().await.unwrap()).expect("auto-selected");
    assert_eq!(
        form.action, ACS,
        "no ACS URL in the request: the app's first reply URL"
    );
    let xml = response_xml(&form);
    assert!(xml.contains("InResponseTo=\"_post-1\""));
    assert_eq!(attribute(&xml, claims::NAME).unwrap(), [ADELE_UPN]);
    assert!(
        attribute(&xml, claims::GROUPS).is_none(),
        "Adele is in no group"
    );
}

#[tokio::test]
async fn account_problems_are_shown_on_the_page() {
    let emu = start_with_app().await;
    let xml = authn_request("_e", SP, Some(ACS), "");
    let picker = get(&redirect_url(&emu, &xml, ""))
        .await
        .text()
        .await
        .unwrap();
    let page = pick(&emu, &picker, DISABLED_OID).await;
    assert!(page.contains("AADSTS50057"), "{page}");
    let picker = get(&redirect_url(&emu, &xml, ""))
        .await
        .text()
        .await
        .unwrap();
    let page = pick(&emu, &picker, MALLORY_OID).await;
    assert!(page.contains("AADSTS50020"), "{page}");
    // Cancel on the picker: a response without an assertion, RequestDenied.
    let picker = get(&redirect_url(&emu, &xml, "keep"))
        .await
        .text()
        .await
        .unwrap();
    let request = entra_emulator::picker_request_id(&picker).unwrap();
    let page = client()
        .post(format!("{}/select", emu.saml_sso_url(ACME_TENANT_ID)))
        .form(&[("request", request.as_str()), ("cancel", "1")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = saml::posted_form(&page).expect("posted back to the SP");
    assert_eq!(form.relay_state.as_deref(), Some("keep"));
    let cancelled = response_xml(&form);
    assert!(
        cancelled.contains(saml::STATUS_REQUEST_DENIED),
        "{cancelled}"
    );
    assert!(cancelled.contains("InResponseTo=\"_e\""));
    assert!(!cancelled.contains("<saml:Assertion"));
    // Pat signs in as the guest object of Acme.
    let picker = get(&redirect_url(&emu, &xml, ""))
        .await
        .text()
        .await
        .unwrap();
    let form = saml::posted_form(&pick(&emu, &picker, PAT_OID).await).unwrap();
    let xml = response_xml(&form);
    assert_eq!(attribute(&xml, claims::OBJECT_ID).unwrap(), [PAT_GUEST_OID]);
    assert_eq!(
        attribute(&xml, claims::TENANT_ID).unwrap(),
        [ACME_TENANT_ID]
    );
    assert_eq!(
        attribute(&xml, claims::IDENTITY_PROVIDER).unwrap(),
        [format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/")]
    );
}

#[tokio::test]
async fn signing_options_put_the_signature_where_entra_does() {
    let emu = start_with_app().await;
    let certificate = emu.saml_credential().certificate_der().to_vec();
    let signatures = |xml: &str| -> Vec<String> {
        let document = XmlDomDocument::parse(xml).unwrap();
        document
            .descendants()
            .filter(|n| n.has_tag_name((NS_DSIG, "Signature")))
            .map(|s| s.parent_element().unwrap().tag_name().name().to_owned())
            .collect()
    };
    let base = emu.saml_response(SP, MEGAN_UPN).unwrap();
    assert_eq!(base.signing, SigningOption::Assertion, "Entra's default");

    let assertion_only = base.clone().build().unwrap();
    assert_eq!(signatures(&assertion_only), ["Assertion"]);
    assert!(verifies(&assertion_only, &certificate, &base.assertion_id));

    let response_only = base
        .clone()
        .signing(SigningOption::Response)
        .build()
        .unwrap();
    assert_eq!(signatures(&response_only), ["Response"]);
    assert!(response_only.contains(&format!("URI=\"#{}\"", base.response_id)));
    assert!(
        verifies(&response_only, &certificate, &base.assertion_id),
        "the response signature covers the assertion"
    );

    let both = base.clone().signing(SigningOption::Both).build().unwrap();
    assert_eq!(signatures(&both), ["Response", "Assertion"]);
    assert!(verifies(&both, &certificate, &base.assertion_id));
    assert!(verifies(&both, &certificate, &base.response_id));

    let none = base.clone().signing(SigningOption::None).build().unwrap();
    assert!(signatures(&none).is_empty());
    assert!(!verifies(&none, &certificate, &base.assertion_id));

    // Without KeyInfo, and with an attacker's key carrying its own certificate.
    let bare = base.clone().include_key_info(false).build().unwrap();
    assert!(!bare.contains("KeyInfo"));
    assert!(verifies(&bare, &certificate, &base.assertion_id));
    let attacker = SigningCredential::attacker();
    let forged = base.clone().credential(&attacker).build().unwrap();
    assert!(forged.contains(&attacker.certificate_base64()));
    assert!(!verifies(&forged, &certificate, &base.assertion_id));
    assert!(verifies(
        &forged,
        attacker.certificate_der(),
        &base.assertion_id
    ));

    // The app's setting drives the browser flow too.
    emu.update_directory(|d| {
        for app in d.saml_apps.iter_mut().filter(|a| a.identifiers[0] == SP) {
            app.signing = SigningOption::Both;
        }
    })
    .unwrap();
    assert_eq!(
        emu.saml_response(SP, MEGAN_UPN).unwrap().signing,
        SigningOption::Both
    );
}

#[tokio::test]
async fn more_than_150_groups_become_the_overage_link() {
    let emu = start_with_app().await;
    let groups: Vec<Uuid> = (0..=SAML_GROUPS_LIMIT).map(|_| Uuid::new_v4()).collect();
    emu.update_directory(|d| {
        let acme = d.tenant_mut(ACME_TENANT_ID.parse().unwrap()).unwrap();
        for (i, id) in groups.iter().enumerate() {
            acme.add_group(Group::security(*id, &format!("Group {i}")));
        }
    })
    .unwrap();

    emu.set_groups(MEGAN_UPN, &groups[..SAML_GROUPS_LIMIT])
        .unwrap();
    let xml = emu.saml_response(SP, MEGAN_UPN).unwrap().build().unwrap();
    let listed = attribute(&xml, claims::GROUPS).expect("150 groups are listed");
    assert_eq!(listed.len(), 150);
    assert_eq!(listed[0], groups[0].to_string());
    assert!(attribute(&xml, claims::GROUPS_LINK).is_none());

    emu.set_groups(MEGAN_UPN, &groups).unwrap();
    let xml = emu.saml_response(SP, MEGAN_UPN).unwrap().build().unwrap();
    assert!(attribute(&xml, claims::GROUPS).is_none(), "151: no groups");
    assert_eq!(
        attribute(&xml, claims::GROUPS_LINK).unwrap(),
        [format!(
            "https://graph.windows.net/{ACME_TENANT_ID}/users/{MEGAN_OID}/getMemberObjects"
        )]
    );
    assert_eq!(
        Groups::entra(vec!["g".to_owned(); 151], "t", "u"),
        Groups::Overage("https://graph.windows.net/t/users/u/getMemberObjects".to_owned())
    );
}

#[tokio::test]
async fn idp_initiated_sign_in_has_no_in_response_to() {
    let mut app = saml_app_for(SP, ACS);
    app.relay_state = Some("/home".to_owned());
    let emu = Emulator::builder().saml_app(app).start().await.unwrap();
    let picker = get(&emu.saml_idp_initiated_url(ACME_TENANT_ID, SP)).await;
    let picker = picker.text().await.unwrap();
    let form = saml::posted_form(&pick(&emu, &picker, ALEX_OID).await).unwrap();
    assert_eq!(form.action, ACS);
    assert_eq!(
        form.relay_state.as_deref(),
        Some("/home"),
        "the app's relay state"
    );
    let xml = response_xml(&form);
    assert!(!xml.contains("InResponseTo"), "unsolicited: {xml}");
    let builder = emu.saml_response(SP, ALEX_UPN).unwrap();
    let assertion_id = xml
        .split("<saml:Assertion ")
        .nth(1)
        .unwrap()
        .split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(verifies(
        &xml,
        emu.saml_credential().certificate_der(),
        assertion_id
    ));
    assert!(builder.in_response_to.is_none());

    // Without a relay state, none is sent; with a sign-on URL, the SP starts the sign-in.
    let emu = start_with_app().await;
    let picker = get(&emu.saml_idp_initiated_url(ACME_TENANT_ID, SP))
        .await
        .text()
        .await
        .unwrap();
    let form = saml::posted_form(&pick(&emu, &picker, ALEX_OID).await).unwrap();
    assert_eq!(form.relay_state, None);
    emu.update_directory(|d| {
        for app in d.saml_apps.iter_mut().filter(|a| a.identifiers[0] == SP) {
            app.sign_on_url = Some("https://sp.example.test/login".to_owned());
        }
    })
    .unwrap();
    let response = get(&emu.saml_idp_initiated_url(ACME_TENANT_ID, SP)).await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        crate::support::header(&response, "location"),
        "https://sp.example.test/login"
    );
    let response = get(&emu.saml_idp_initiated_url(ACME_TENANT_ID, "https://unknown.test/")).await;
    assert_error_page(response, 700016).await;
}

#[tokio::test]
async fn the_demo_directory_has_the_acme_saml_app() {
    let emu = Emulator::builder().start().await.unwrap();
    let app = emu
        .directory()
        .saml_app(ACME_TENANT_ID.parse().unwrap(), DEMO_SAML_ENTITY_ID)
        .cloned()
        .expect("demo SAML app");
    assert_eq!(app.app_id.to_string(), DEMO_SAML_APP_ID);
    assert_eq!(app.reply_urls, [DEMO_SAML_ACS_URL]);
    // An identifier is unique in a tenant.
    let taken = Emulator::builder()
        .saml_app(saml_app_for(DEMO_SAML_ENTITY_ID, ACS))
        .start()
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{taken:#}").contains("is used by two apps"),
        "{taken:#}"
    );
    let xml = emu
        .saml_response(DEMO_SAML_ENTITY_ID, ALEX_UPN)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        attribute(&xml, claims::GROUPS).unwrap(),
        [STAFF_GROUP_ID, IT_ADMINS_GROUP_ID],
        "security groups, not the distribution list"
    );
}

#[test]
fn the_builder_output_is_stable_text() {
    let credential = SigningCredential::attacker();
    let at = time::macros::datetime!(2026-03-04 05:06:07.089 UTC);
    let mut builder =
        ResponseBuilder::new(&credential, "tid", "urn:sp", "https://sp/acs", "a@b", at)
            .in_response_to(Some("_req"))
            .signing(SigningOption::None)
            .attribute(saml::Attribute::new("n&<>", ["v\"'"]));
    builder.response_id = "_r".to_owned();
    builder.assertion_id = "_a".to_owned();
    builder.session_index = "_a".to_owned();
    assert_eq!(
        builder.build().unwrap(),
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
ID=\"_r\" Version=\"2.0\" IssueInstant=\"2026-03-04T05:06:07.089Z\" Destination=\"https://sp/acs\" InResponseTo=\"_req\">\
<saml:Issuer>https://sts.windows.net/tid/</saml:Issuer>\
<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a\" IssueInstant=\"2026-03-04T05:06:07.089Z\" Version=\"2.0\">\
<saml:Issuer>https://sts.windows.net/tid/</saml:Issuer>\
<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">a@b</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
<saml:SubjectConfirmationData InResponseTo=\"_req\" NotOnOrAfter=\"2026-03-04T05:11:07.089Z\" Recipient=\"https://sp/acs\"/>\
</saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"2026-03-04T05:01:07.089Z\" NotOnOrAfter=\"2026-03-04T06:16:07.089Z\">\
<saml:AudienceRestriction><saml:Audience>urn:sp</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AttributeStatement><saml:Attribute Name=\"n&amp;&lt;&gt;\"><saml:AttributeValue>v&quot;&#39;</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>\
<saml:AuthnStatement AuthnInstant=\"2026-03-04T05:06:07.089Z\" SessionIndex=\"_a\"><saml:AuthnContext>\
<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef>\
</saml:AuthnContext></saml:AuthnStatement></saml:Assertion></samlp:Response>"
    );
    builder.signing = SigningOption::Assertion;
    let signed = builder.build().unwrap();
    assert!(signed.contains(
        "<saml:Issuer>https://sts.windows.net/tid/</saml:Issuer><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
<ds:Reference URI=\"#_a\"><ds:Transforms>\
<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>"
    ));
    assert!(signed.contains(&format!(
        "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature><saml:Subject>",
        credential.certificate_base64()
    )));
    assert_eq!(
        builder.to_post_form_value().unwrap().len() % 4,
        0,
        "standard padded base64"
    );
}
