//! Reading an `AuthnRequest` from the HTTP-Redirect binding (base64 of raw DEFLATE) or the
//! HTTP-POST binding (base64), within fixed size limits and without DTDs or entities.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use xml_sec::{XmlDomDocument, XmlDomNode, XmlDomParsingOptions};

use super::{NS_ASSERTION, NS_PROTOCOL};

/// The most a request may inflate to. Real requests are well under 4 KiB; a DEFLATE bomb stops
/// here, having allocated at most this much.
pub const MAX_INFLATED_LEN: usize = 64 * 1024;
/// The most base64 accepted for a request, before decoding.
const MAX_ENCODED_LEN: usize = 96 * 1024;
/// Elements, attributes and text nodes an `AuthnRequest` may have.
const MAX_NODES: u32 = 2_000;

/// What the IdP reads from an `AuthnRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// `ID`, echoed as `InResponseTo`.
    pub id: String,
    /// `saml:Issuer`: the SP's entity id.
    pub issuer: String,
    /// `AssertionConsumerServiceURL`, if sent.
    pub acs_url: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    /// `NameIDPolicy/@Format`, if sent.
    pub name_id_format: Option<String>,
    /// `Subject/NameID`: the account the SP expects (a login hint).
    pub subject: Option<String>,
}

/// Why a `SAMLRequest` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the message is larger than the emulator accepts")]
    TooLarge,
    #[error("the message is not base64")]
    NotBase64,
    #[error("the message does not inflate: {0}")]
    Inflate(String),
    #[error("the message is not UTF-8")]
    NotUtf8,
    #[error("the message is not well-formed XML (or has a DTD): {0}")]
    NotXml(String),
    #[error("the message is not a SAML 2.0 AuthnRequest")]
    NotAuthnRequest,
    #[error("the AuthnRequest has no `{0}`")]
    Missing(&'static str),
}

/// `SAMLRequest` of the HTTP-Redirect binding: base64, then raw DEFLATE (RFC 1951).
pub fn decode_redirect(value: &str) -> Result<AuthnRequest, RequestError> {
    let deflated = base64_decode(value)?;
    let mut inflated = Vec::new();
    // `take` bounds the output (and so the allocation), whatever the input claims.
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED_LEN as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| RequestError::Inflate(e.to_string()))?;
    if inflated.len() > MAX_INFLATED_LEN {
        return Err(RequestError::TooLarge);
    }
    parse(&String::from_utf8(inflated).map_err(|_| RequestError::NotUtf8)?)
}

/// `SAMLRequest` of the HTTP-POST binding: base64 of the XML.
pub fn decode_post(value: &str) -> Result<AuthnRequest, RequestError> {
    let xml = base64_decode(value)?;
    if xml.len() > MAX_INFLATED_LEN {
        return Err(RequestError::TooLarge);
    }
    parse(&String::from_utf8(xml).map_err(|_| RequestError::NotUtf8)?)
}

/// The `SAMLRequest` value of the HTTP-Redirect binding for `xml` (before URL encoding): what
/// an SP sends, for tests.
pub fn encode_redirect(xml: &str) -> String {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(xml.as_bytes());
    STANDARD.encode(encoder.finish().unwrap_or_default())
}

fn base64_decode(value: &str) -> Result<Vec<u8>, RequestError> {
    if value.len() > MAX_ENCODED_LEN {
        return Err(RequestError::TooLarge);
    }
    // SPs wrap base64 at 64 or 76 columns.
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| RequestError::NotBase64)
}

/// Reads an `AuthnRequest` document.
pub fn parse(xml: &str) -> Result<AuthnRequest, RequestError> {
    let options = XmlDomParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let document = XmlDomDocument::parse_with_options(xml, options)
        .map_err(|e| RequestError::NotXml(e.to_string()))?;
    let root = document.root_element();
    if !root.has_tag_name((NS_PROTOCOL, "AuthnRequest")) || root.attribute("Version") != Some("2.0")
    {
        return Err(RequestError::NotAuthnRequest);
    }
    let id = root
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or(RequestError::Missing("ID"))?;
    let issuer = child(root, NS_ASSERTION, "Issuer")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or(RequestError::Missing("Issuer"))?;
    let flag = |name: &str| matches!(root.attribute(name), Some("true" | "1"));
    Ok(AuthnRequest {
        id: id.to_owned(),
        issuer: issuer.to_owned(),
        acs_url: root
            .attribute("AssertionConsumerServiceURL")
            .map(str::to_owned),
        force_authn: flag("ForceAuthn"),
        is_passive: flag("IsPassive"),
        name_id_format: child(root, NS_PROTOCOL, "NameIDPolicy")
            .and_then(|n| n.attribute("Format"))
            .map(str::to_owned),
        subject: child(root, NS_ASSERTION, "Subject")
            .and_then(|s| child(s, NS_ASSERTION, "NameID"))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_owned()),
    })
}

fn child<'a, 'input>(
    node: XmlDomNode<'a, 'input>,
    namespace: &str,
    name: &str,
) -> Option<XmlDomNode<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.has_tag_name((namespace, name)))
}
