//! The assertion consumer's protocol half: from a posted `SAMLResponse` to the one assertion
//! the workspace's identity provider vouches for, or the exact reason it does not count.
//!
//! The rules that broke SAML service providers elsewhere, and how each is closed here:
//! - *Which element was signed* (signature wrapping): the document must hold exactly one
//!   `Assertion` in all of it, as a child of the `Response`; it must carry its own
//!   signature; `xml-sec` must prove that a valid signature under a key from the SAML card
//!   covers that very element (its expected-target evidence), and every other signature in
//!   the message must be valid too. Claims are then read from that element of that same
//!   parse: nothing is looked up again by name or ID.
//! - *Which key*: only the card's certificates. A `KeyInfo` in the message is ignored, so a
//!   message signed with a key it carries itself verifies against nothing.
//! - *Comments in values*: a `NameID` or attribute value must be one text node; a comment
//!   or element inside one is refused rather than joined or truncated.
//! - *Entities, DTDs, size*: xml-sec's parser refuses DTDs and entity declarations, and
//!   bounds depth and node count; the base64 is capped before it is decoded, and the binding
//!   is POST only, so nothing is ever inflated.
//!
//! Everything here is pure: the replay memory and the sign-in are the caller's.

use std::sync::LazyLock;

use base64::Engine;
use xml_sec::api::Operation;
use xml_sec::policy::{CompiledPolicies, PolicyCompileContext, PolicyCompiler, PolicyProfile};
use xml_sec::xmldsig::{SignatureAlgorithm, VerificationKey, VerificationRequest};
use xml_sec::{XmlDomNode, XmlSecurity};

use super::crypto::RingRsaProvider;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XMLENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The posted form value, base64: Entra's response with 150 groups is ~20 KB; anything
/// near this is not a sign-in.
pub const MAX_ENCODED_LEN: usize = 256 * 1024;
/// Clocks differ: conditions are honoured this many seconds either side.
pub const CLOCK_SKEW_SECS: i64 = 120;
/// Values longer than this are not an email, a name or a group id.
const MAX_VALUE_LEN: usize = 1024;
/// More attributes or values than any directory sends for one person.
const MAX_ATTRIBUTES: usize = 200;
const MAX_VALUES: usize = 1000;

/// What the message must match: the workspace's SAML card and this browser's flow.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The IdP's entity id (`Issuer`).
    pub idp_entity_id: &'a str,
    /// DER X.509 certificates of the IdP's signing keys (several during a rollover).
    pub certificates: &'a [Vec<u8>],
    /// Our entity id (the `Audience`).
    pub sp_entity_id: &'a str,
    /// Our ACS URL (`Destination`, `Recipient`).
    pub acs_url: &'a str,
    /// The `ID` of the AuthnRequest this browser sent (its flow cookie), if any.
    pub request_id: Option<&'a str>,
    /// The SAML card allows IdP-initiated sign-in: a response that answers no request.
    pub unsolicited_allowed: bool,
    /// Unix seconds.
    pub now: i64,
}

/// One authenticated assertion, read from the element the signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Unix seconds after which the assertion is dead anyway: how long to remember its ID.
    pub expires_at: i64,
    /// `Name` → values, in document order.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl Assertion {
    /// The values of one attribute (case-sensitive name, as SAML compares them).
    pub fn values(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
    /// The first value of one attribute.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// Why a message does not sign anyone in. The text is for the audit log and the card's
/// health line (an admin's words); the person sees one generic page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the SAML response is larger than {MAX_ENCODED_LEN} bytes")]
    TooLarge,
    #[error("the SAML response is not base64")]
    NotBase64,
    #[error("the SAML response is not XML (a compressed message is refused: POST binding only)")]
    NotXml,
    #[error("the SAML response is not well-formed or uses a DTD or entities: {0}")]
    Malformed(String),
    #[error("the message is not a SAML Response")]
    NotAResponse,
    #[error("the identity provider answered with status {0}")]
    IdpStatus(String),
    #[error("the response holds {0} assertions; exactly one is accepted")]
    AssertionCount(usize),
    #[error("the response holds an encrypted assertion, which is not supported")]
    EncryptedAssertion,
    #[error("the response's Destination is not this workspace's ACS URL")]
    WrongDestination,
    #[error("the response's Issuer is not the identity provider on the SAML card")]
    WrongIssuer,
    #[error("the response answers no sign-in this browser started (InResponseTo)")]
    WrongInResponseTo,
    #[error("the identity provider started this sign-in, and IdP-initiated sign-in is off")]
    Unsolicited,
    #[error("no signing certificate is configured on the SAML card")]
    NoCertificate,
    #[error("the assertion is not signed")]
    AssertionUnsigned,
    #[error("a signature is in a place SAML does not put one")]
    SignaturePlacement,
    #[error("the signature algorithm is not accepted: {0}")]
    SignatureAlgorithm(String),
    #[error("no signature by the identity provider's certificate covers the assertion")]
    SignatureInvalid,
    #[error("the assertion has no ID, or its ID is not unique in the message")]
    AssertionId,
    #[error("the assertion's {0} contains a comment or markup")]
    NotPlainText(&'static str),
    #[error("the assertion has no {0}")]
    Missing(&'static str),
    #[error("the assertion is for another service provider (Audience)")]
    WrongAudience,
    #[error("the assertion's Recipient is not this workspace's ACS URL")]
    WrongRecipient,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the assertion has more attributes or values than accepted")]
    TooManyValues,
}

static POLICIES: LazyLock<Result<CompiledPolicies, String>> = LazyLock::new(|| {
    PolicyCompiler::new(PolicyProfile::SecureSaml, &RingRsaProvider, None)
        .and_then(|c| {
            c.compile(&PolicyCompileContext {
                external_resources: false,
                target_evidence: true,
            })
        })
        .map_err(|e| e.to_string())
});

/// The policy the verifier runs under, compiled once. A failure here is a build defect;
/// it refuses every message rather than panicking.
fn security() -> Result<XmlSecurity<'static>, Rejection> {
    let policies = POLICIES
        .as_ref()
        .map_err(|e| Rejection::Malformed(format!("verification policy: {e}")))?;
    XmlSecurity::new(policies, &RingRsaProvider)
        .map_err(|e| Rejection::Malformed(format!("verification policy: {e}")))
}

/// The form value (`SAMLResponse`) → the authenticated assertion.
pub fn verify(encoded: &str, expected: &Expected<'_>) -> Result<Assertion, Rejection> {
    let xml = decode(encoded)?;
    let security = security()?;
    let document = security
        .parse_document(xml, Operation::Verify)
        .map_err(|e| Rejection::Malformed(e.to_string()))?;
    let found = document.with_view(|view| inspect(view.document().root_element(), expected))?;
    if expected.certificates.is_empty() {
        return Err(Rejection::NoCertificate);
    }
    let target = document
        .with_view(|view| view.node_for_id(&found.assertion_id, &[]))
        .ok_or(Rejection::AssertionId)?;
    let algorithm = SignatureAlgorithm::from_uri(&found.algorithm)
        .filter(|a| ACCEPTED_ALGORITHMS.contains(a))
        .ok_or_else(|| Rejection::SignatureAlgorithm(found.algorithm.clone()))?;
    let targets = [target];
    let request = VerificationRequest {
        expected_targets: &targets,
        ..VerificationRequest::default()
    };
    let mut accepted = false;
    for der in expected.certificates {
        let Some(key) = verification_key(der, algorithm) else {
            continue;
        };
        let verifier = security
            .verifier()
            .map_err(|e| Rejection::Malformed(e.to_string()))?
            .key(&key);
        // An `Err` is a message the policy refuses outright (an algorithm or transform it
        // does not allow): no other certificate makes it acceptable.
        let evidence = verifier
            .verify(&document, &request)
            .map_err(|_| Rejection::SignatureInvalid)?;
        if evidence.accepted(&document).unwrap_or(false) {
            accepted = true;
            break;
        }
    }
    if !accepted {
        return Err(Rejection::SignatureInvalid);
    }
    // Only now is anything read as a claim, from the element the evidence is about.
    document.with_view(|view| read_assertion(view.document().root_element(), expected))
}

/// RSA with SHA-2 (Entra, Okta, Google Workspace, ADFS) and ECDSA with SHA-2. SHA-1 is
/// refused: Entra offers it only as a legacy option.
const ACCEPTED_ALGORITHMS: [SignatureAlgorithm; 5] = [
    SignatureAlgorithm::RsaSha256,
    SignatureAlgorithm::RsaSha384,
    SignatureAlgorithm::RsaSha512,
    SignatureAlgorithm::EcdsaSha256,
    SignatureAlgorithm::EcdsaSha384,
];

fn verification_key(der: &[u8], algorithm: SignatureAlgorithm) -> Option<VerificationKey> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(VerificationKey {
        algorithm,
        public_key_bytes: cert.tbs_certificate.subject_pki.raw.to_vec(),
        // Trust comes from the card, not from a chain: the certificate is a key holder.
        certificate_der: None,
        name: None,
    })
}

fn decode(encoded: &str) -> Result<String, Rejection> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(Rejection::TooLarge);
    }
    // IdPs wrap base64 at 64 or 76 columns.
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| Rejection::NotBase64)?;
    let xml = String::from_utf8(bytes).map_err(|_| Rejection::NotXml)?;
    if !xml
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
    {
        return Err(Rejection::NotXml);
    }
    Ok(xml)
}

/// What must hold before any cryptography: the message's shape and envelope.
struct Found {
    assertion_id: String,
    algorithm: String,
}

fn is(node: XmlDomNode<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn element_children<'a, 'i>(
    node: XmlDomNode<'a, 'i>,
) -> impl Iterator<Item = XmlDomNode<'a, 'i>> + use<'a, 'i> {
    node.children().filter(|c| c.is_element())
}

fn child<'a, 'i>(node: XmlDomNode<'a, 'i>, ns: &str, name: &str) -> Option<XmlDomNode<'a, 'i>> {
    element_children(node).find(|c| is(*c, ns, name))
}

fn inspect(root: XmlDomNode<'_, '_>, expected: &Expected<'_>) -> Result<Found, Rejection> {
    if !is(root, PROTOCOL_NS, "Response") {
        return Err(Rejection::NotAResponse);
    }
    let mut assertions = Vec::new();
    for node in root.descendants() {
        if is(node, ASSERTION_NS, "EncryptedAssertion") || is(node, XMLENC_NS, "EncryptedData") {
            return Err(Rejection::EncryptedAssertion);
        }
        if is(node, ASSERTION_NS, "Assertion") {
            assertions.push(node);
        }
        // A signature belongs to the Response or to the Assertion, directly; one anywhere
        // else (inside an Extensions, an Object, an Advice) is a wrapping attempt.
        if is(node, DSIG_NS, "Signature") {
            let parent = node.parent_element();
            let placed = parent.is_some_and(|p| {
                p == root || (is(p, ASSERTION_NS, "Assertion") && p.parent_element() == Some(root))
            });
            if !placed {
                return Err(Rejection::SignaturePlacement);
            }
        }
    }
    let [assertion] = assertions[..] else {
        return Err(Rejection::AssertionCount(assertions.len()));
    };
    if assertion.parent_element() != Some(root) {
        return Err(Rejection::AssertionCount(assertions.len()));
    }
    let status = child(root, PROTOCOL_NS, "Status")
        .and_then(|s| child(s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .ok_or(Rejection::Missing("Status"))?;
    if status != STATUS_SUCCESS {
        return Err(Rejection::IdpStatus(status.chars().take(200).collect()));
    }
    // Destination is optional in SAML for unsigned responses; every IdP we support sends
    // it, and when it is there it must be us.
    if root
        .attribute("Destination")
        .is_some_and(|d| d != expected.acs_url)
    {
        return Err(Rejection::WrongDestination);
    }
    if let Some(issuer) = child(root, ASSERTION_NS, "Issuer")
        && plain_text(issuer, "Issuer")? != expected.idp_entity_id
    {
        return Err(Rejection::WrongIssuer);
    }
    check_in_response_to(root.attribute("InResponseTo"), expected)?;
    let signature = child(assertion, DSIG_NS, "Signature").ok_or(Rejection::AssertionUnsigned)?;
    let algorithm = child(signature, DSIG_NS, "SignedInfo")
        .and_then(|si| child(si, DSIG_NS, "SignatureMethod"))
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or(Rejection::AssertionUnsigned)?;
    let assertion_id = assertion
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or(Rejection::AssertionId)?;
    Ok(Found {
        assertion_id: assertion_id.to_string(),
        algorithm: algorithm.to_string(),
    })
}

fn check_in_response_to(value: Option<&str>, expected: &Expected<'_>) -> Result<(), Rejection> {
    match value {
        // One naming a request this browser did not send answers someone else's sign-in.
        Some(got) if Some(got) == expected.request_id => Ok(()),
        Some(_) => Err(Rejection::WrongInResponseTo),
        None if expected.unsolicited_allowed => Ok(()),
        None => Err(Rejection::Unsolicited),
    }
}

/// The element's content as one text node: a comment or element inside would make
/// `a@evil.com<!---->.acme.com` read as whichever half a parser prefers.
fn plain_text<'a>(node: XmlDomNode<'a, '_>, what: &'static str) -> Result<&'a str, Rejection> {
    let mut text = None;
    for c in node.children() {
        if !c.is_text() || text.is_some() {
            return Err(Rejection::NotPlainText(what));
        }
        text = c.text();
    }
    let text = text.unwrap_or("").trim();
    if text.len() > MAX_VALUE_LEN {
        return Err(Rejection::TooManyValues);
    }
    Ok(text)
}

fn instant(node: XmlDomNode<'_, '_>, attr: &str) -> Result<Option<i64>, Rejection> {
    let Some(raw) = node.attribute(attr) else {
        return Ok(None);
    };
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| Some(t.unix_timestamp()))
        .map_err(|_| Rejection::Missing("valid timestamp"))
}

fn read_assertion(
    root: XmlDomNode<'_, '_>,
    expected: &Expected<'_>,
) -> Result<Assertion, Rejection> {
    let assertion = child(root, ASSERTION_NS, "Assertion").ok_or(Rejection::AssertionCount(0))?;
    let now = expected.now;
    let issuer = child(assertion, ASSERTION_NS, "Issuer").ok_or(Rejection::Missing("Issuer"))?;
    let issuer = plain_text(issuer, "Issuer")?;
    if issuer != expected.idp_entity_id {
        return Err(Rejection::WrongIssuer);
    }

    let conditions =
        child(assertion, ASSERTION_NS, "Conditions").ok_or(Rejection::Missing("Conditions"))?;
    if instant(conditions, "NotBefore")?.is_some_and(|t| now + CLOCK_SKEW_SECS < t) {
        return Err(Rejection::NotYetValid);
    }
    let not_on_or_after = instant(conditions, "NotOnOrAfter")?
        .ok_or(Rejection::Missing("Conditions NotOnOrAfter"))?;
    if now - CLOCK_SKEW_SECS >= not_on_or_after {
        return Err(Rejection::Expired);
    }
    // Every AudienceRestriction must name us (SAML core §2.5.1.4), and there must be one:
    // an assertion for nobody in particular is an assertion for anybody.
    let mut restrictions = 0;
    for r in element_children(conditions).filter(|c| is(*c, ASSERTION_NS, "AudienceRestriction")) {
        restrictions += 1;
        let mut ours = false;
        for a in element_children(r).filter(|c| is(*c, ASSERTION_NS, "Audience")) {
            ours |= plain_text(a, "Audience")? == expected.sp_entity_id;
        }
        if !ours {
            return Err(Rejection::WrongAudience);
        }
    }
    if restrictions == 0 {
        return Err(Rejection::WrongAudience);
    }

    let subject = child(assertion, ASSERTION_NS, "Subject").ok_or(Rejection::Missing("Subject"))?;
    let name_id = child(subject, ASSERTION_NS, "NameID").ok_or(Rejection::Missing("NameID"))?;
    let name_id_format = name_id.attribute("Format").map(str::to_string);
    let name_id = plain_text(name_id, "NameID")?;
    if name_id.is_empty() {
        return Err(Rejection::Missing("NameID"));
    }
    // A bearer confirmation for us, still valid, answering our request (SAML profiles
    // §4.1.4.3); several are allowed, one must fit.
    let mut confirmation_error = Rejection::Missing("bearer SubjectConfirmation");
    let mut confirmed_until = None;
    for sc in element_children(subject).filter(|c| is(*c, ASSERTION_NS, "SubjectConfirmation")) {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = child(sc, ASSERTION_NS, "SubjectConfirmationData") else {
            continue;
        };
        match confirmation(data, expected) {
            Ok(until) => {
                confirmed_until = Some(until);
                break;
            }
            Err(e) => confirmation_error = e,
        }
    }
    let confirmed_until = confirmed_until.ok_or(confirmation_error)?;

    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    let mut value_count = 0;
    for statement in
        element_children(assertion).filter(|c| is(*c, ASSERTION_NS, "AttributeStatement"))
    {
        for attribute in element_children(statement).filter(|c| is(*c, ASSERTION_NS, "Attribute")) {
            let Some(name) = attribute.attribute("Name") else {
                continue;
            };
            let mut values = Vec::new();
            for v in element_children(attribute).filter(|c| is(*c, ASSERTION_NS, "AttributeValue"))
            {
                value_count += 1;
                if value_count > MAX_VALUES {
                    return Err(Rejection::TooManyValues);
                }
                values.push(plain_text(v, "attribute value")?.to_string());
            }
            match attributes.iter_mut().find(|(n, _)| n == name) {
                Some((_, existing)) => existing.extend(values),
                None => attributes.push((name.to_string(), values)),
            }
            if attributes.len() > MAX_ATTRIBUTES {
                return Err(Rejection::TooManyValues);
            }
        }
    }
    let id = assertion.attribute("ID").unwrap_or_default().to_string();
    Ok(Assertion {
        id,
        issuer: issuer.to_string(),
        name_id: name_id.to_string(),
        name_id_format,
        expires_at: not_on_or_after.max(confirmed_until) + CLOCK_SKEW_SECS,
        attributes,
    })
}

/// One bearer `SubjectConfirmationData` → until when it confirms.
fn confirmation(data: XmlDomNode<'_, '_>, expected: &Expected<'_>) -> Result<i64, Rejection> {
    if data.attribute("Recipient") != Some(expected.acs_url) {
        return Err(Rejection::WrongRecipient);
    }
    check_in_response_to(data.attribute("InResponseTo"), expected)?;
    if instant(data, "NotBefore")?.is_some_and(|t| expected.now + CLOCK_SKEW_SECS < t) {
        return Err(Rejection::NotYetValid);
    }
    let until = instant(data, "NotOnOrAfter")?
        .ok_or(Rejection::Missing("SubjectConfirmationData NotOnOrAfter"))?;
    if expected.now - CLOCK_SKEW_SECS >= until {
        return Err(Rejection::Expired);
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_emulator::saml::{ResponseBuilder, SigningCredential, SigningOption};

    const TENANT: &str = "8c2b1e3f-2d41-4c0e-9a5b-0f3c1d2e4a6b";
    const SP: &str = "https://acme.example.com/saml/metadata";
    const ACS: &str = "https://acme.example.com/saml/acs";

    struct Case {
        idp: SigningCredential,
        certs: Vec<Vec<u8>>,
        now: time::OffsetDateTime,
    }

    fn case() -> Case {
        let idp = SigningCredential::generate();
        let certs = vec![idp.certificate_der().to_vec()];
        Case {
            idp,
            certs,
            now: time::OffsetDateTime::now_utc(),
        }
    }

    impl Case {
        fn builder(&self) -> ResponseBuilder {
            ResponseBuilder::new(&self.idp, TENANT, SP, ACS, "ada@acme.com", self.now)
                .in_response_to(Some("_req"))
        }
        fn expected(&self) -> Expected<'_> {
            Expected {
                idp_entity_id: "https://sts.windows.net/8c2b1e3f-2d41-4c0e-9a5b-0f3c1d2e4a6b/",
                certificates: &self.certs,
                sp_entity_id: SP,
                acs_url: ACS,
                request_id: Some("_req"),
                unsolicited_allowed: false,
                now: self.now.unix_timestamp(),
            }
        }
        fn verify_xml(&self, xml: &str) -> Result<Assertion, Rejection> {
            verify(&b64(xml), &self.expected())
        }
    }

    fn b64(xml: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(xml)
    }

    #[test]
    fn an_entra_shaped_response_signed_on_the_assertion_is_accepted() {
        let c = case();
        let a = c.verify_xml(&c.builder().build().unwrap()).unwrap();
        assert_eq!(a.name_id, "ada@acme.com");
        assert_eq!(a.issuer, c.expected().idp_entity_id);
        assert!(a.expires_at > c.now.unix_timestamp());
    }

    #[test]
    fn signed_response_and_assertion_is_accepted_but_a_response_only_signature_is_not() {
        let c = case();
        let both = c.builder().signing(SigningOption::Both).build().unwrap();
        assert!(c.verify_xml(&both).is_ok());
        let response_only = c
            .builder()
            .signing(SigningOption::Response)
            .build()
            .unwrap();
        assert_eq!(
            c.verify_xml(&response_only),
            Err(Rejection::AssertionUnsigned)
        );
        let none = c.builder().signing(SigningOption::None).build().unwrap();
        assert_eq!(c.verify_xml(&none), Err(Rejection::AssertionUnsigned));
    }

    #[test]
    fn a_key_the_card_does_not_hold_is_refused_even_when_the_message_carries_its_certificate() {
        let c = case();
        let forged = c
            .builder()
            .credential(&SigningCredential::attacker())
            .build()
            .unwrap();
        assert_eq!(c.verify_xml(&forged), Err(Rejection::SignatureInvalid));
    }

    #[test]
    fn a_changed_value_breaks_the_signature() {
        let c = case();
        let xml = c.builder().build().unwrap();
        let tampered = xml.replace("ada@acme.com", "eve@acme.com");
        assert_ne!(tampered, xml);
        assert_eq!(c.verify_xml(&tampered), Err(Rejection::SignatureInvalid));
    }

    /// A deterministic stand-in for the fuzz target, run with every test: thousands of
    /// byte changes to a valid response never panic, and whatever still verifies says
    /// exactly what the IdP signed (only the unsigned envelope may have changed).
    #[test]
    fn mutations_never_change_what_a_verified_assertion_says() {
        let c = case();
        let xml = c.builder().build().unwrap().into_bytes();
        let original = c.verify_xml(std::str::from_utf8(&xml).unwrap()).unwrap();
        let mut seed: u64 = 0x5eed_cafe_f00d_1234;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3000 {
            let mut m = xml.clone();
            match next() % 3 {
                0 => {
                    let i = (next() as usize) % m.len();
                    const BYTES: &[u8] = b"<>/=\"a_ !-&;x0";
                    m[i] = BYTES[(next() as usize) % BYTES.len()];
                }
                1 => {
                    let i = (next() as usize) % m.len();
                    m.truncate(i);
                }
                _ => {
                    let i = (next() as usize) % m.len();
                    let j = (next() as usize) % m.len();
                    let chunk = m[i.min(j)..i.max(j).min(i.min(j) + 64)].to_vec();
                    let at = (next() as usize) % m.len();
                    m.splice(at..at, chunk);
                }
            }
            match verify(&b64(&String::from_utf8_lossy(&m)), &c.expected()) {
                Ok(a) => {
                    accepted += 1;
                    assert_eq!(a, original, "a change altered what the assertion says");
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            refused > 2000 && accepted > 0,
            "{accepted} accepted, {refused} refused"
        );
    }
}
