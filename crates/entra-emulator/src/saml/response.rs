//! SAML 2.0 `Response` messages shaped like Entra's, built and signed without a browser.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use uuid::Uuid;
use xml_sec::xmldsig::{RsaSigningKey, SignContext, SignatureTemplateSelection};

use super::credential::SigningCredential;
use super::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL, claims};
use crate::html::escape;

/// Entra's limit on the groups a SAML assertion lists; above it, `groups.link` replaces them.
pub const SAML_GROUPS_LIMIT: usize = 150;

/// Entra's "Signing option" of a SAML app: which element carries the `ds:Signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum SigningOption {
    /// "Sign SAML assertion" (Entra's default): the signature is in the `saml:Assertion`,
    /// right after its `saml:Issuer`, referencing the assertion's `ID`.
    #[default]
    Assertion,
    /// "Sign SAML response": the signature is in the `samlp:Response`, right after its
    /// `saml:Issuer`, referencing the response's `ID`; the assertion is unsigned.
    Response,
    /// "Sign SAML response and assertion": the assertion is signed first, then the response
    /// (whose digest covers the signed assertion).
    Both,
    /// No signature at all (Entra never does this; for tests of the relying party).
    None,
}

/// The `Format` of the `saml:NameID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum NameIdFormat {
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`, value the UPN (Entra's
    /// default "Name identifier format" with `user.userprincipalname`).
    #[default]
    EmailAddress,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`: an opaque pairwise value,
    /// stable per user and app.
    Persistent,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`: a new value at every sign-in.
    Transient,
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`.
    Unspecified,
}

impl NameIdFormat {
    pub fn uri(self) -> &'static str {
        match self {
            NameIdFormat::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            NameIdFormat::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            NameIdFormat::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            NameIdFormat::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        }
    }

    /// The format a request's `NameIDPolicy/@Format` names, if the emulator knows it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        [
            NameIdFormat::EmailAddress,
            NameIdFormat::Persistent,
            NameIdFormat::Transient,
            NameIdFormat::Unspecified,
        ]
        .into_iter()
        .find(|f| f.uri() == uri)
    }
}

/// One `saml:Attribute` with its `saml:AttributeValue`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

impl Attribute {
    pub fn new(
        name: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Attribute {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// What the assertion says about the user's groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Groups {
    /// No groups attribute (groups claim off, or no matching group).
    #[default]
    Omitted,
    /// The `…/claims/groups` attribute with these values (object ids), whatever their count:
    /// use [`Groups::entra`] for Entra's overage rule.
    Listed(Vec<String>),
    /// No groups attribute, but `http://schemas.microsoft.com/claims/groups.link` with this URL.
    Overage(String),
}

impl Groups {
    /// Entra's rule: up to [`SAML_GROUPS_LIMIT`] object ids are listed; above, the overage link
    /// `https://graph.windows.net/{tenant}/users/{user}/getMemberObjects`; none, no attribute.
    pub fn entra(ids: Vec<String>, tenant_id: &str, user_object_id: &str) -> Self {
        if ids.is_empty() {
            Groups::Omitted
        } else if ids.len() > SAML_GROUPS_LIMIT {
            Groups::Overage(format!(
                "https://graph.windows.net/{tenant_id}/users/{user_object_id}/getMemberObjects"
            ))
        } else {
            Groups::Listed(ids)
        }
    }
}

/// The `samlp:Status` of a response. Anything but success carries no assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Top-level code, e.g. `urn:oasis:names:tc:SAML:2.0:status:Success`.
    pub code: String,
    /// Second-level code, e.g. `urn:oasis:names:tc:SAML:2.0:status:NoPassive`.
    pub sub_code: Option<String>,
    pub message: Option<String>,
}

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";

impl Status {
    pub fn success() -> Self {
        Status {
            code: STATUS_SUCCESS.to_owned(),
            sub_code: None,
            message: None,
        }
    }

    pub fn is_success(&self) -> bool {
        self.code == STATUS_SUCCESS
    }
}

/// Why a response could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Builds a `samlp:Response` as Entra sends it, signed as [`SigningOption`] says.
///
/// Every field is public: set what a test needs, then [`build`](Self::build). The defaults from
/// [`new`](Self::new) are Entra's: assertion signed with RSA-SHA256 and exclusive c14n,
/// `KeyInfo` with the certificate, `NotBefore` = issue instant − 5 min, `NotOnOrAfter` =
/// issue instant + 70 min, subject confirmation valid 5 min, NameID format `emailAddress`.
///
/// # Output
///
/// The output is stable so tests can edit it as text (signature-wrapping attacks): no XML
/// declaration, no whitespace between elements, attributes in the order below, `"` quotes,
/// text and attribute values escaped (`& < > " '` as `&amp; &lt; &gt; &quot; &#39;`), times
/// `YYYY-MM-DDThh:mm:ss.mmmZ` in UTC. Optional parts (in brackets) are left out when unset.
///
/// ```text
/// <samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
///     ID="{response_id}" Version="2.0" IssueInstant="{issue_instant}" [Destination="{destination}"] [InResponseTo="{in_response_to}"]>
///   <saml:Issuer>{issuer}</saml:Issuer>
///   [<ds:Signature …/>]                                   (Response, Both)
///   <samlp:Status><samlp:StatusCode Value="{status.code}"/>     (or, with a sub_code:)
///     <samlp:StatusCode Value="{status.code}"><samlp:StatusCode Value="{status.sub_code}"/></samlp:StatusCode>
///     [<samlp:StatusMessage>{status.message}</samlp:StatusMessage>]</samlp:Status>
///   <saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{assertion_id}" IssueInstant="{issue_instant}" Version="2.0">   (only on success)
///     <saml:Issuer>{issuer}</saml:Issuer>
///     [<ds:Signature …/>]                                 (Assertion, Both)
///     <saml:Subject>
///       <saml:NameID Format="{name_id_format}">{name_id}</saml:NameID>
///       <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
///         <saml:SubjectConfirmationData [InResponseTo="{in_response_to}"] NotOnOrAfter="{subject_not_on_or_after}" Recipient="{recipient}"/>
///       </saml:SubjectConfirmation>
///     </saml:Subject>
///     <saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}">
///       <saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
///     </saml:Conditions>
///     [<saml:AttributeStatement>                           (when there are attributes or groups)
///       <saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue>…</saml:Attribute>…   (attributes, in order)
///       [<saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups">…</saml:Attribute>]  (Groups::Listed)
///       [<saml:Attribute Name="http://schemas.microsoft.com/claims/groups.link">…</saml:Attribute>]             (Groups::Overage)
///     </saml:AttributeStatement>]
///     <saml:AuthnStatement AuthnInstant="{authn_instant}" SessionIndex="{session_index}">
///       <saml:AuthnContext><saml:AuthnContextClassRef>{authn_context_class_ref}</saml:AuthnContextClassRef></saml:AuthnContext>
///     </saml:AuthnStatement>
///   </saml:Assertion>
/// </samlp:Response>
/// ```
///
/// A signature is exactly:
///
/// ```text
/// <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>
///   <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
///   <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
///   <ds:Reference URI="#{signed element's ID}"><ds:Transforms>
///     <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
///     <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
///     <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>…</ds:DigestValue>
///   </ds:Reference></ds:SignedInfo><ds:SignatureValue>…</ds:SignatureValue>
///   [<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate_base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>]
/// </ds:Signature>
/// ```
///
/// (line breaks and indentation above are for reading only).
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    /// `samlp:Response/@ID`: `_` + a UUID.
    pub response_id: String,
    /// `saml:Assertion/@ID`: `_` + a UUID.
    pub assertion_id: String,
    /// Both `saml:Issuer`s: `https://sts.windows.net/{tenant}/`.
    pub issuer: String,
    /// `samlp:Response/@Destination`: the ACS URL.
    pub destination: Option<String>,
    /// `SubjectConfirmationData/@Recipient`: the ACS URL.
    pub recipient: String,
    /// `Audience`: the SP's entity id ("Identifier (Entity ID)").
    pub audience: String,
    /// `InResponseTo` on the response and on `SubjectConfirmationData`; `None` for
    /// IdP-initiated sign-in.
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: NameIdFormat,
    /// Attributes in output order (Entra's claim set: see [`claims`]).
    pub attributes: Vec<Attribute>,
    /// Written after `attributes`.
    pub groups: Groups,
    /// `IssueInstant` of both the response and the assertion.
    pub issue_instant: OffsetDateTime,
    pub not_before: OffsetDateTime,
    pub not_on_or_after: OffsetDateTime,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    pub subject_not_on_or_after: OffsetDateTime,
    pub authn_instant: OffsetDateTime,
    pub session_index: String,
    pub authn_context_class_ref: String,
    pub status: Status,
    pub signing: SigningOption,
    /// The key that signs and the certificate `KeyInfo` carries.
    pub credential: SigningCredential,
    /// Whether signatures carry `ds:KeyInfo` with the certificate (Entra: yes).
    pub include_key_info: bool,
}

impl ResponseBuilder {
    /// A successful response from tenant `tenant_id` for the SP `audience` at ACS `acs_url`,
    /// issued `now`, signed with `credential`, with NameID `name_id` and no attributes.
    pub fn new(
        credential: &SigningCredential,
        tenant_id: &str,
        audience: &str,
        acs_url: &str,
        name_id: &str,
        now: OffsetDateTime,
    ) -> Self {
        let now = now.to_offset(time::UtcOffset::UTC);
        let session = saml_id();
        ResponseBuilder {
            response_id: saml_id(),
            assertion_id: session.clone(),
            issuer: super::entity_id(tenant_id),
            destination: Some(acs_url.to_owned()),
            recipient: acs_url.to_owned(),
            audience: audience.to_owned(),
            in_response_to: None,
            name_id: name_id.to_owned(),
            name_id_format: NameIdFormat::EmailAddress,
            attributes: Vec::new(),
            groups: Groups::Omitted,
            issue_instant: now,
            not_before: now - time::Duration::minutes(5),
            not_on_or_after: now + time::Duration::minutes(70),
            subject_not_on_or_after: now + time::Duration::minutes(5),
            authn_instant: now,
            // Entra's SessionIndex is the assertion's ID.
            session_index: session,
            authn_context_class_ref: "urn:oasis:names:tc:SAML:2.0:ac:classes:Password".to_owned(),
            status: Status::success(),
            signing: SigningOption::Assertion,
            credential: credential.clone(),
            include_key_info: true,
        }
    }

    pub fn in_response_to(mut self, request_id: Option<&str>) -> Self {
        self.in_response_to = request_id.map(str::to_owned);
        self
    }

    pub fn signing(mut self, signing: SigningOption) -> Self {
        self.signing = signing;
        self
    }

    pub fn credential(mut self, credential: &SigningCredential) -> Self {
        self.credential = credential.clone();
        self
    }

    pub fn include_key_info(mut self, on: bool) -> Self {
        self.include_key_info = on;
        self
    }

    pub fn name_id(mut self, value: &str, format: NameIdFormat) -> Self {
        self.name_id = value.to_owned();
        self.name_id_format = format;
        self
    }

    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    pub fn groups(mut self, groups: Groups) -> Self {
        self.groups = groups;
        self
    }

    /// The response XML, signed as [`Self::signing`] says.
    pub fn build(&self) -> Result<String, SamlError> {
        let signs_assertion = self.status.is_success()
            && matches!(self.signing, SigningOption::Assertion | SigningOption::Both);
        let signs_response = matches!(self.signing, SigningOption::Response | SigningOption::Both);
        let xml = self.unsigned(signs_response, signs_assertion);
        if !signs_response && !signs_assertion {
            return Ok(xml);
        }
        let key = RsaSigningKey::from_pkcs8_der(self.credential.pkcs8_der())
            .map_err(|e| SamlError::Signing(e.to_string()))?;
        // Scoped to the signed element, the first template under it is its own signature
        // (the response's comes before the assertion's).
        let sign = |xml: &str, id: &str| {
            SignContext::new(&key)
                .start_node_id(id)
                .signature_template_selection(SignatureTemplateSelection::FirstDescendant)
                .sign_template(xml)
                .map_err(|e| SamlError::Signing(e.to_string()))
        };
        // The assertion first: the response's digest must cover its finished signature.
        let xml = if signs_assertion {
            sign(&xml, &self.assertion_id)?
        } else {
            xml
        };
        if signs_response {
            sign(&xml, &self.response_id)
        } else {
            Ok(xml)
        }
    }

    /// `build()`, base64-encoded: the `SAMLResponse` form field of the HTTP-POST binding.
    pub fn to_post_form_value(&self) -> Result<String, SamlError> {
        self.build().map(|xml| encode_post_form_value(&xml))
    }

    fn signature_template(&self, id: &str) -> String {
        format!(
            "<ds:Signature xmlns:ds=\"{NS_DSIG}\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
<ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>\
</ds:Reference></ds:SignedInfo><ds:SignatureValue/>{key_info}</ds:Signature>",
            id = escape(id),
            // Written here rather than by the signer's KeyInfo writer so its serialisation is
            // fixed; the enveloped transform keeps it out of every digest either way.
            key_info = if self.include_key_info {
                format!(
                    "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                    self.credential.certificate_base64()
                )
            } else {
                String::new()
            },
        )
    }

    fn unsigned(&self, response_template: bool, assertion_template: bool) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(&format!(
            "<samlp:Response xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"",
            escape(&self.response_id),
            saml_time(self.issue_instant),
        ));
        if let Some(destination) = &self.destination {
            out.push_str(&format!(" Destination=\"{}\"", escape(destination)));
        }
        if let Some(request) = &self.in_response_to {
            out.push_str(&format!(" InResponseTo=\"{}\"", escape(request)));
        }
        out.push('>');
        out.push_str(&format!(
            "<saml:Issuer>{}</saml:Issuer>",
            escape(&self.issuer)
        ));
        if response_template {
            out.push_str(&self.signature_template(&self.response_id));
        }
        out.push_str(&format!(
            "<samlp:Status><samlp:StatusCode Value=\"{}\"",
            escape(&self.status.code)
        ));
        match &self.status.sub_code {
            Some(sub) => out.push_str(&format!(
                "><samlp:StatusCode Value=\"{}\"/></samlp:StatusCode>",
                escape(sub)
            )),
            None => out.push_str("/>"),
        }
        if let Some(message) = &self.status.message {
            out.push_str(&format!(
                "<samlp:StatusMessage>{}</samlp:StatusMessage>",
                escape(message)
            ));
        }
        out.push_str("</samlp:Status>");
        if self.status.is_success() {
            self.assertion(&mut out, assertion_template);
        }
        out.push_str("</samlp:Response>");
        out
    }

    fn assertion(&self, out: &mut String, template: bool) {
        out.push_str(&format!(
            "<saml:Assertion xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" IssueInstant=\"{}\" Version=\"2.0\">",
            escape(&self.assertion_id),
            saml_time(self.issue_instant),
        ));
        out.push_str(&format!(
            "<saml:Issuer>{}</saml:Issuer>",
            escape(&self.issuer)
        ));
        if template {
            out.push_str(&self.signature_template(&self.assertion_id));
        }
        out.push_str(&format!(
            "<saml:Subject><saml:NameID Format=\"{}\">{}</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData",
            self.name_id_format.uri(),
            escape(&self.name_id),
        ));
        if let Some(request) = &self.in_response_to {
            out.push_str(&format!(" InResponseTo=\"{}\"", escape(request)));
        }
        out.push_str(&format!(
            " NotOnOrAfter=\"{}\" Recipient=\"{}\"/></saml:SubjectConfirmation></saml:Subject>",
            saml_time(self.subject_not_on_or_after),
            escape(&self.recipient),
        ));
        out.push_str(&format!(
            "<saml:Conditions NotBefore=\"{}\" NotOnOrAfter=\"{}\"><saml:AudienceRestriction>\
<saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions>",
            saml_time(self.not_before),
            saml_time(self.not_on_or_after),
            escape(&self.audience),
        ));
        let groups = match &self.groups {
            Groups::Omitted => None,
            Groups::Listed(ids) => Some(Attribute::new(claims::GROUPS, ids.iter().cloned())),
            Groups::Overage(link) => Some(Attribute::new(claims::GROUPS_LINK, [link.clone()])),
        };
        if !self.attributes.is_empty() || groups.is_some() {
            out.push_str("<saml:AttributeStatement>");
            for attribute in self.attributes.iter().chain(groups.as_ref()) {
                out.push_str(&format!(
                    "<saml:Attribute Name=\"{}\">",
                    escape(&attribute.name)
                ));
                for value in &attribute.values {
                    out.push_str(&format!(
                        "<saml:AttributeValue>{}</saml:AttributeValue>",
                        escape(value)
                    ));
                }
                out.push_str("</saml:Attribute>");
            }
            out.push_str("</saml:AttributeStatement>");
        }
        out.push_str(&format!(
            "<saml:AuthnStatement AuthnInstant=\"{}\" SessionIndex=\"{}\"><saml:AuthnContext>\
<saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>",
            saml_time(self.authn_instant),
            escape(&self.session_index),
            escape(&self.authn_context_class_ref),
        ));
        out.push_str("</saml:Assertion>");
    }
}

/// Standard base64 of `xml`, as the HTTP-POST binding carries a message.
pub fn encode_post_form_value(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// `_` + a UUID: Entra's ID shape (an `xs:ID` must not start with a digit).
pub fn saml_id() -> String {
    format!("_{}", Uuid::new_v4())
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub fn saml_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}
