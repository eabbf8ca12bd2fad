//! IdP metadata: the identity provider's entity id, single sign-on URL and signing
//! certificates, read once from its SAML 2.0 metadata document (an upload, a paste, or a
//! fetch from its metadata URL) and trusted inside as typed values.
//!
//! The document is parsed with `xml-sec`'s hardened parser: it refuses DTDs and entity
//! declarations (no XXE, no "billion laughs") and bounds depth and node count; the input
//! is also capped here at [`MAX_METADATA_BYTES`] before anything is parsed. The metadata's
//! own signature, when it has one, is not checked: the trust comes from the super-admin
//! who uploaded the file or named its https URL, as for every SAML service provider that
//! accepts metadata by upload.

use std::fmt;

use sha2::{Digest, Sha256};
use url::Url;
use xml_sec::{XmlDocument, XmlDomNode};

use crate::auth::oidc::http::Outbound;

/// A single IdP's metadata is a few dozen kilobytes (Entra's, with its WS-Federation
/// role descriptors, ~25 KB); anything near this is not what the card wants.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// More signing certificates than any rollover needs (Entra lists two at most).
pub const MAX_CERTIFICATES: usize = 10;
/// SAML caps entity ids at 1024 characters (saml-core §8.3.6).
const MAX_ENTITY_ID_LEN: usize = 1024;
const MAX_URL_LEN: usize = 2048;

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The binding OnTrackio sends its AuthnRequest with.
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// Why a certificate of the metadata cannot be used; completes the sentence
/// "Signing certificate N …".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("is not valid base64")]
    Base64,
    #[error("is not an X.509 certificate")]
    NotX509,
    #[error("has an RSA key of {bits} bits; at least 2048 are required")]
    WeakRsa { bits: usize },
    #[error("has an elliptic-curve key on a curve other than P-256 or P-384")]
    Curve,
    #[error("has a key that is neither RSA nor elliptic-curve (P-256, P-384)")]
    KeyType,
}

/// Why a metadata document was refused; each message is a sentence the card shows as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("The metadata is empty. Upload the metadata file, paste its XML, or enter its URL.")]
    Empty,
    #[error(
        "The metadata is larger than 1 MiB, so it is not one identity provider's metadata. Download the metadata of the OnTrackio application only."
    )]
    TooLarge,
    #[error(
        "The metadata contains a DTD or entity declarations, which are refused for security. Upload the file exactly as your identity provider serves it."
    )]
    Dtd,
    #[error(
        "The metadata is not well-formed XML. Download it again from your identity provider (Entra: Federation Metadata XML) and upload it unchanged."
    )]
    NotXml,
    #[error(
        "This is not SAML 2.0 metadata: its root element must be an EntityDescriptor, or an EntitiesDescriptor holding one identity provider."
    )]
    NotMetadata,
    #[error(
        "The metadata describes no identity provider (it has no IDPSSODescriptor). Check that you downloaded your identity provider's metadata, not a service provider's."
    )]
    NoIdp,
    #[error(
        "The metadata describes {0} identity providers. Download the metadata of the one application you set up for OnTrackio."
    )]
    SeveralIdps(usize),
    #[error(
        "The identity provider does not declare SAML 2.0 support (protocolSupportEnumeration of its IDPSSODescriptor)."
    )]
    NotSaml2,
    #[error(
        "The metadata has no valid entityID: it must be present, at most 1024 characters, without spaces."
    )]
    EntityId,
    #[error(
        "The metadata has no single sign-on URL for the HTTP-Redirect binding (a SingleSignOnService with Binding urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect), which OnTrackio uses to send people to sign in."
    )]
    NoRedirectSso,
    #[error(
        "The single sign-on URL must be an absolute https:// URL (http:// only for localhost); the metadata names {0}."
    )]
    SsoUrl(String),
    #[error("The metadata has no signing certificate.")]
    NoSigningCertificate,
    #[error("The metadata lists more than {MAX_CERTIFICATES} signing certificates.")]
    TooManyCertificates,
    #[error("Signing certificate {index} {reason}.")]
    Certificate {
        index: usize,
        reason: CertificateError,
    },
}

/// Why metadata could not be fetched from its URL, or what it held was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error(
        "Enter the metadata URL as an absolute https:// URL (http:// only for localhost), for example https://login.microsoftonline.com/<tenant>/federationmetadata/2007-06/federationmetadata.xml?appid=<app id>."
    )]
    Url,
    #[error(
        "The metadata URL points to a private or local network address, which OnTrackio does not call. Download the metadata and upload the file instead."
    )]
    PrivateAddress,
    #[error("{0}. Check the metadata URL, or download the metadata and upload the file instead.")]
    Unanswered(String),
    #[error(
        "The metadata URL answered HTTP {0}, not the metadata. Check the URL, or download the metadata and upload the file instead."
    )]
    Status(u16),
    #[error(
        "The metadata URL redirects elsewhere (HTTP {0}); OnTrackio does not follow redirects. Enter the final URL instead."
    )]
    Redirect(u16),
    #[error("{0}")]
    Metadata(#[from] MetadataError),
}

/// The IdP's entity id (`entityID`): the `Issuer` of its responses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdpEntityId(String);

impl IdpEntityId {
    pub fn parse(input: &str) -> Result<Self, MetadataError> {
        let s = input.trim();
        let ok = !s.is_empty()
            && s.chars().count() <= MAX_ENTITY_ID_LEN
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(MetadataError::EntityId);
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdpEntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `url` may be called: https, or http to a loopback host only (the emulator, a
/// local test IdP), as the product's other outbound endpoints.
fn https_or_loopback(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    let userinfo = !url.username().is_empty() || url.password().is_some();
    match url.scheme() {
        "https" => !userinfo,
        "http" => loopback && !userinfo,
        _ => false,
    }
}

/// The IdP's single sign-on URL (HTTP-Redirect). A query is kept (Google Workspace's
/// carries `idpid`): the AuthnRequest's parameters are appended to it.
pub fn parse_sso_url(input: &str) -> Result<Url, MetadataError> {
    let shown = || MetadataError::SsoUrl(input.trim().chars().take(200).collect());
    if input.len() > MAX_URL_LEN {
        return Err(shown());
    }
    let url = Url::parse(input.trim()).map_err(|_| shown())?;
    if !https_or_loopback(&url) || url.fragment().is_some() {
        return Err(shown());
    }
    Ok(url)
}

/// A metadata URL the card may fetch: the same rule as the SSO URL.
pub fn parse_metadata_url(input: &str) -> Result<Url, FetchError> {
    if input.trim().len() > MAX_URL_LEN {
        return Err(FetchError::Url);
    }
    let url = Url::parse(input.trim()).map_err(|_| FetchError::Url)?;
    if !https_or_loopback(&url) || url.fragment().is_some() {
        return Err(FetchError::Url);
    }
    Ok(url)
}

/// The kind of public key a certificate holds, as the card names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: usize },
    P256,
    P384,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA {bits}-bit"),
            Self::P256 => f.write_str("EC P-256"),
            Self::P384 => f.write_str("EC P-384"),
        }
    }
}

/// Where a certificate stands in time, for the card's lines and the sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// `not_before` is still ahead: the IdP published it early for a rollover.
    NotYetValid,
    Valid,
    /// Valid, but ends within [`EXPIRY_WARNING_DAYS`]: `days` whole days left.
    ExpiresSoon {
        days: i64,
    },
    Expired,
}

/// How early the card warns that a certificate ends.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// An IdP signing certificate: the DER the assertion's signature is checked with, and
/// what the card shows about it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdpCertificate {
    der: Vec<u8>,
    subject: String,
    /// Unix seconds.
    not_before: i64,
    not_after: i64,
    sha256: [u8; 32],
    key: KeyKind,
}

impl fmt::Debug for IdpCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdpCertificate")
            .field("subject", &self.subject)
            .field("sha256", &self.fingerprint())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

const P256_OID: &str = "1.2.840.10045.3.1.7";
const P384_OID: &str = "1.3.132.0.34";

impl IdpCertificate {
    /// A DER certificate, with its key checked: RSA of at least 2048 bits, or EC on P-256
    /// or P-384 (what `auth::saml::response` can verify). Its dates are kept, not judged:
    /// an expired certificate is shown on the card and refused at sign-in.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (rest, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|_| CertificateError::NotX509)?;
        if !rest.is_empty() {
            return Err(CertificateError::NotX509);
        }
        let spki = cert.public_key();
        let key = match spki.parsed().map_err(|_| CertificateError::NotX509)? {
            x509_parser::public_key::PublicKey::RSA(rsa) => {
                // x509-parser's own `key_size` miscounts a modulus without a leading
                // zero byte: count the bits of the integer itself.
                let m = rsa.modulus;
                let first = m.iter().position(|b| *b != 0).unwrap_or(m.len());
                let bits = match m.get(first) {
                    Some(b) => (m.len() - first - 1) * 8 + (8 - b.leading_zeros() as usize),
                    None => 0,
                };
                if bits < 2048 {
                    return Err(CertificateError::WeakRsa { bits });
                }
                KeyKind::Rsa { bits }
            }
            x509_parser::public_key::PublicKey::EC(_) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some(P256_OID) => KeyKind::P256,
                    Some(P384_OID) => KeyKind::P384,
                    _ => return Err(CertificateError::Curve),
                }
            }
            _ => return Err(CertificateError::KeyType),
        };
        let validity = cert.validity();
        Ok(Self {
            der: der.to_vec(),
            subject: cert.subject().to_string(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            sha256: Sha256::digest(der).into(),
            key,
        })
    }

    /// The base64 of `ds:X509Certificate` (line breaks and spaces allowed, as IdPs wrap it).
    pub fn from_base64(text: &str) -> Result<Self, CertificateError> {
        use base64::Engine;
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| CertificateError::Base64)?;
        Self::from_der(&der)
    }

    /// One `CERTIFICATE` block of PEM, as the card stores it.
    pub fn from_pem(pem: &str) -> Result<Self, CertificateError> {
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN CERTIFICATE-----")
            .and_then(|s| s.strip_suffix("-----END CERTIFICATE-----"))
            .ok_or(CertificateError::NotX509)?;
        Self::from_base64(body)
    }

    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The subject as the IdP wrote it (`CN=Microsoft Azure Federated SSO Certificate`).
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }
    /// Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
    pub fn key(&self) -> KeyKind {
        self.key
    }
    /// SHA-256 of the DER, upper-case hex in colon-separated pairs.
    pub fn fingerprint(&self) -> String {
        colon_hex(&self.sha256)
    }
    /// SHA-1 of the DER: Entra shows this "Thumbprint" next to its SAML certificate, so
    /// an admin can compare the two at a glance. Never used to decide anything.
    pub fn thumbprint_sha1(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der);
        hex::encode_upper(d.as_ref())
    }

    pub fn validity(&self, now: i64) -> Validity {
        if now >= self.not_after {
            Validity::Expired
        } else if now < self.not_before {
            Validity::NotYetValid
        } else {
            let days = (self.not_after - now) / 86_400;
            if days < EXPIRY_WARNING_DAYS {
                Validity::ExpiresSoon { days }
            } else {
                Validity::Valid
            }
        }
    }

    /// Whether a signature under this certificate may be accepted at `now`.
    pub fn usable_at(&self, now: i64) -> bool {
        matches!(
            self.validity(now),
            Validity::Valid | Validity::ExpiresSoon { .. }
        )
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Several certificates stored as one PEM text (the card's `certificates` column).
pub fn certificates_to_pem(certs: &[IdpCertificate]) -> String {
    certs.iter().map(IdpCertificate::to_pem).collect()
}

/// The card's stored PEM text back into certificates; a block that no longer parses
/// (it was valid when saved) is skipped rather than failing the whole workspace.
pub fn certificates_from_pem(text: &str) -> Vec<IdpCertificate> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + end + END.len()];
        if let Ok(c) = IdpCertificate::from_pem(block) {
            out.push(c);
        }
        rest = &rest[start + end + END.len()..];
    }
    out
}

/// What the card keeps of an IdP's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: IdpEntityId,
    /// Where the AuthnRequest goes (HTTP-Redirect binding).
    pub sso_url: Url,
    /// In document order, without duplicates.
    pub signing_certificates: Vec<IdpCertificate>,
}

impl IdpMetadata {
    /// Reads metadata bytes (UTF-8, or the encoding its XML declaration names).
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(MetadataError::Empty);
        }
        let document = XmlDocument::parse_bytes(bytes).map_err(|_| {
            // Only to name the refusal: the parser has already refused the document.
            let head = String::from_utf8_lossy(bytes);
            if head.contains("<!DOCTYPE") || head.contains("<!ENTITY") {
                MetadataError::Dtd
            } else {
                MetadataError::NotXml
            }
        })?;
        document.with_view(|view| read(view.document().root_element()))
    }

    /// Fetches metadata from its URL through the product's outbound client: https only
    /// (loopback excepted), no redirects followed, the body capped.
    ///
    /// `allow_local`: whether the URL's host may resolve to a private, loopback or
    /// link-local address. Only a server that itself runs on a loopback base URL (the demo,
    /// tests) allows it; in production a super-admin of one workspace must not be able to
    /// make the server probe its own network.
    pub async fn fetch(http: &Outbound, url: &Url, allow_local: bool) -> Result<Self, FetchError> {
        if !https_or_loopback(url) {
            return Err(FetchError::Url);
        }
        if !allow_local && resolves_locally(url).await {
            return Err(FetchError::PrivateAddress);
        }
        let (status, body) = http
            .get(url.clone(), None)
            .await
            .map_err(|e| FetchError::Unanswered(e.0))?;
        match status {
            200 => Ok(Self::parse(&body)?),
            300..=399 => Err(FetchError::Redirect(status)),
            other => Err(FetchError::Status(other)),
        }
    }
}

/// Whether any address the URL's host resolves to is not a public one. A host that does
/// not resolve is left to the fetch, which then reports it unreachable.
async fn resolves_locally(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return true;
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(addrs) = tokio::net::lookup_host((host, port)).await else {
        return false;
    };
    addrs.into_iter().any(|a| !is_public(a.ip()))
}

fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(std::net::IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg & 0xfe00) == 0xfc00 // unique local
                || (seg & 0xffc0) == 0xfe80) // link-local
        }
    }
}

fn is(node: XmlDomNode<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn children<'a, 'i>(
    node: XmlDomNode<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> impl Iterator<Item = XmlDomNode<'a, 'i>> + use<'a, 'i> {
    node.children().filter(move |c| is(*c, ns, name))
}

/// The IdP roles of one `EntityDescriptor`.
fn idp_descriptors<'a, 'i>(entity: XmlDomNode<'a, 'i>) -> Vec<XmlDomNode<'a, 'i>> {
    children(entity, METADATA_NS, "IDPSSODescriptor").collect()
}

fn read(root: XmlDomNode<'_, '_>) -> Result<IdpMetadata, MetadataError> {
    // The entity descriptors to consider: the root itself, or those an EntitiesDescriptor
    // (possibly nested) groups.
    let entities: Vec<_> = if is(root, METADATA_NS, "EntityDescriptor") {
        vec![root]
    } else if is(root, METADATA_NS, "EntitiesDescriptor") {
        root.descendants()
            .filter(|n| is(*n, METADATA_NS, "EntityDescriptor"))
            .collect()
    } else {
        return Err(MetadataError::NotMetadata);
    };
    let idps: Vec<_> = entities
        .iter()
        .flat_map(|e| idp_descriptors(*e).into_iter().map(move |d| (*e, d)))
        .collect();
    let (entity, idp) = match idps.as_slice() {
        [] => return Err(MetadataError::NoIdp),
        [one] => *one,
        several => return Err(MetadataError::SeveralIdps(several.len())),
    };
    let saml2 = idp
        .attribute("protocolSupportEnumeration")
        .is_some_and(|p| p.split_ascii_whitespace().any(|p| p == PROTOCOL_NS));
    if !saml2 {
        return Err(MetadataError::NotSaml2);
    }
    let entity_id = IdpEntityId::parse(entity.attribute("entityID").unwrap_or_default())?;
    let location = children(idp, METADATA_NS, "SingleSignOnService")
        .find(|s| s.attribute("Binding") == Some(HTTP_REDIRECT))
        .and_then(|s| s.attribute("Location"))
        .ok_or(MetadataError::NoRedirectSso)?;
    let sso_url = parse_sso_url(location)?;
    let signing_certificates = signing_certificates(idp)?;
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        signing_certificates,
    })
}

/// `KeyDescriptor`s with `use="signing"` or no `use` (both signing and encryption), each
/// `ds:KeyInfo/ds:X509Data/ds:X509Certificate`.
fn signing_certificates(idp: XmlDomNode<'_, '_>) -> Result<Vec<IdpCertificate>, MetadataError> {
    let mut certs: Vec<IdpCertificate> = Vec::new();
    let mut index = 0;
    for kd in children(idp, METADATA_NS, "KeyDescriptor") {
        if !matches!(kd.attribute("use"), None | Some("signing")) {
            continue;
        }
        for data in children(kd, DSIG_NS, "KeyInfo").flat_map(|k| children(k, DSIG_NS, "X509Data"))
        {
            for x509 in children(data, DSIG_NS, "X509Certificate") {
                index += 1;
                if index > MAX_CERTIFICATES {
                    return Err(MetadataError::TooManyCertificates);
                }
                let cert = text_only(x509)
                    .ok_or(CertificateError::NotX509)
                    .and_then(|t| IdpCertificate::from_base64(&t))
                    .map_err(|reason| MetadataError::Certificate { index, reason })?;
                // Entra lists its certificate once per role; the card shows it once.
                if !certs.iter().any(|c| c.sha256 == cert.sha256) {
                    certs.push(cert);
                }
            }
        }
    }
    if certs.is_empty() {
        return Err(MetadataError::NoSigningCertificate);
    }
    Ok(certs)
}

/// The element's text when it holds nothing but text: a comment or element inside a
/// certificate is not something an IdP writes.
fn text_only(node: XmlDomNode<'_, '_>) -> Option<String> {
    let mut out = String::new();
    for c in node.children() {
        if !c.is_text() {
            return None;
        }
        out.push_str(c.text().unwrap_or_default());
    }
    Some(out)
}

/// Test material: certificates made on the spot (no key is committed to the repository),
/// and metadata documents around them.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::LazyLock;

    use base64::Engine;
    use entra_emulator::saml::SigningCredential;
    use time::OffsetDateTime;

    pub const DAY: i64 = 86_400;

    /// One RSA-2048 key for the whole test process, generated when first used: every RSA
    /// certificate below is a new certificate for it, with its own subject and dates.
    static RSA: LazyLock<SigningCredential> = LazyLock::new(SigningCredential::generate);

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn params(cn: &str) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
    }

    /// A self-signed certificate valid from `not_before` to `not_after` (Unix seconds): RSA
    /// 2048 or, when `rsa` is false, EC P-256 (a fresh key).
    pub fn cert(cn: &str, rsa: bool, not_before: i64, not_after: i64) -> Vec<u8> {
        if rsa {
            return RSA
                .with_validity(at(not_before), at(not_after))
                .and_then(|c| c.with_subject(cn))
                .unwrap()
                .certificate_der()
                .to_vec();
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = params(cn);
        params.not_before = at(not_before);
        params.not_after = at(not_after);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// A public key without its private half, as rcgen certifies it: `der` is the content
    /// of the SubjectPublicKeyInfo's BIT STRING, `algorithm` names its key type.
    struct PublicKey {
        der: Vec<u8>,
        algorithm: &'static rcgen::SignatureAlgorithm,
    }

    impl rcgen::PublicKeyData for PublicKey {
        fn der_bytes(&self) -> &[u8] {
            &self.der
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            self.algorithm
        }
    }

    /// A certificate for `key`, issued by a throwaway EC P-256 CA, which signs
    /// `signed_as(to-be-signed bytes)`: the bytes themselves, except for P-521 below.
    fn issued(cn: &str, key: &PublicKey, signed_as: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        struct Ca(rcgen::KeyPair, fn(&[u8]) -> Vec<u8>);
        impl rcgen::PublicKeyData for Ca {
            fn der_bytes(&self) -> &[u8] {
                self.0.der_bytes()
            }
            fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
                self.0.algorithm()
            }
        }
        impl rcgen::SigningKey for Ca {
            fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
                self.0.sign(&(self.1)(msg))
            }
        }
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ca = rcgen::Issuer::new(params("Test CA"), Ca(ca_key, signed_as));
        params(cn).signed_by(key, &ca).unwrap().der().to_vec()
    }

    /// A certificate for a fresh RSA key of 1024 bits, which the card refuses as too weak.
    pub fn rsa_1024_cert() -> Vec<u8> {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let key = PublicKey {
            der: private.to_public_key().to_pkcs1_der().unwrap().into_vec(),
            algorithm: &rcgen::PKCS_RSA_SHA256,
        };
        issued("Weak RSA", &key, <[u8]>::to_vec)
    }

    /// `06 05 2B 81 04 00 22`, the DER of secp384r1 (1.3.132.0.34); secp521r1 (1.3.132.0.35)
    /// is as long and differs only in its last byte.
    const SECP384R1: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
    const SECP521R1_LAST: u8 = 0x23;

    /// `bytes` with its one secp384r1 OID renamed secp521r1.
    fn p384_to_p521(bytes: &[u8]) -> Vec<u8> {
        let at: Vec<usize> = bytes
            .windows(SECP384R1.len())
            .enumerate()
            .filter(|(_, w)| *w == SECP384R1)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "exactly one secp384r1 OID");
        let mut out = bytes.to_vec();
        out[at[0] + SECP384R1.len() - 1] = SECP521R1_LAST;
        out
    }

    /// A certificate for an EC key on P-521, a curve the card refuses.
    ///
    /// rcgen on ring cannot name P-521, so the certificate is issued for the key labelled
    /// P-384 and the label is changed to P-521 both in what the CA signs and in the
    /// result: the certificate is well-formed and its signature verifies. The key is the
    /// curve's base point G (a valid P-521 public key, from SEC 2), which signs nothing.
    pub fn ec_p521_cert() -> Vec<u8> {
        let g = hex::decode(concat!(
            "04",
            "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
            "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
        ))
        .unwrap();
        let key = PublicKey {
            der: g,
            algorithm: &rcgen::PKCS_ECDSA_P384_SHA384,
        };
        p384_to_p521(&issued("P-521", &key, p384_to_p521))
    }

    pub fn b64(der: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    /// Metadata shaped like Entra's Federation Metadata XML: a signed EntityDescriptor with
    /// a WS-Federation role (whose keys must be ignored) before the IDPSSODescriptor.
    pub fn entra_metadata(entity_id: &str, sso: &str, certs: &[&[u8]]) -> String {
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
            r#"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_3c3b3a5e-0000-4000-8000-000000000000" entityID="{entity_id}" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></SignedInfo><SignatureValue>AAAA</SignatureValue></Signature><RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>bm90IGEgY2VydA==</X509Certificate></X509Data></KeyInfo></KeyDescriptor></RoleDescriptor><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/></IDPSSODescriptor></EntityDescriptor>"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    const ENTITY: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    const SSO: &str =
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2";
    const NOW: i64 = 1_767_225_600; // 2026-01-01

    fn good_cert() -> Vec<u8> {
        cert(
            "Microsoft Azure Federated SSO Certificate",
            true,
            NOW - 100 * DAY,
            NOW + 3 * 365 * DAY,
        )
    }

    fn parse(xml: &str) -> Result<IdpMetadata, MetadataError> {
        IdpMetadata::parse(xml.as_bytes())
    }

    #[test]
    fn entra_shaped_metadata_gives_entity_id_redirect_sso_url_and_the_signing_certificate() {
        let c = good_cert();
        let m = parse(&entra_metadata(ENTITY, SSO, &[&c])).unwrap();
        assert_eq!(m.entity_id.as_str(), ENTITY);
        assert_eq!(m.sso_url.as_str(), SSO);
        assert_eq!(m.signing_certificates.len(), 1);
        let cert = &m.signing_certificates[0];
        assert_eq!(cert.der(), c.as_slice());
        assert_eq!(
            cert.subject(),
            "CN=Microsoft Azure Federated SSO Certificate"
        );
        assert_eq!(cert.key(), KeyKind::Rsa { bits: 2048 });
        assert_eq!(cert.not_after(), NOW + 3 * 365 * DAY);
        assert_eq!(cert.fingerprint().len(), 32 * 3 - 1);
        assert_eq!(cert.validity(NOW), Validity::Valid);
        assert_eq!(cert.thumbprint_sha1().len(), 40);
    }

    #[test]
    fn two_certificates_during_a_rollover_are_both_kept_and_a_repeated_one_once() {
        let (a, b) = (good_cert(), cert("next", false, NOW, NOW + 400 * DAY));
        let m = parse(&entra_metadata(ENTITY, SSO, &[&a, &b, &a])).unwrap();
        assert_eq!(m.signing_certificates.len(), 2);
        assert_eq!(m.signing_certificates[1].key(), KeyKind::P256);
    }

    #[test]
    fn an_entities_descriptor_with_exactly_one_idp_is_accepted() {
        let c = good_cert();
        let one = entra_metadata(ENTITY, SSO, &[&c]);
        let inner = one.split_once("?>").unwrap().1;
        let sp = r#"<EntityDescriptor entityID="https://sp.example.com"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>"#;
        let wrapped = format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{sp}{inner}</EntitiesDescriptor>"#
        );
        assert_eq!(parse(&wrapped).unwrap().entity_id.as_str(), ENTITY);
        let two = format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{inner}{inner}</EntitiesDescriptor>"#
        );
        assert_eq!(parse(&two), Err(MetadataError::SeveralIdps(2)));
        let none = format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{sp}</EntitiesDescriptor>"#
        );
        assert_eq!(parse(&none), Err(MetadataError::NoIdp));
    }

    #[test]
    fn metadata_without_a_signing_certificate_is_refused() {
        assert_eq!(
            parse(&entra_metadata(ENTITY, SSO, &[])),
            Err(MetadataError::NoSigningCertificate)
        );
        // An encryption-only key is no signing key.
        let c = good_cert();
        let enc = entra_metadata(ENTITY, SSO, &[&c]).replace(
            r#"<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>MII"#,
            r#"<KeyDescriptor use="encryption"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>MII"#,
        );
        assert_eq!(parse(&enc), Err(MetadataError::NoSigningCertificate));
        // No `use` means both.
        let both = enc.replace(r#" use="encryption""#, "");
        assert!(parse(&both).is_ok());
    }

    #[test]
    fn an_expired_certificate_is_read_and_reported_expired_and_unusable() {
        let old = cert("old", true, NOW - 800 * DAY, NOW - DAY);
        let m = parse(&entra_metadata(ENTITY, SSO, &[&old])).unwrap();
        let c = &m.signing_certificates[0];
        assert_eq!(c.validity(NOW), Validity::Expired);
        assert!(!c.usable_at(NOW));
        let soon =
            IdpCertificate::from_der(&cert("soon", false, NOW - DAY, NOW + 10 * DAY + 5)).unwrap();
        assert_eq!(soon.validity(NOW), Validity::ExpiresSoon { days: 10 });
        assert!(soon.usable_at(NOW));
        let early =
            IdpCertificate::from_der(&cert("early", false, NOW + DAY, NOW + 90 * DAY)).unwrap();
        assert_eq!(early.validity(NOW), Validity::NotYetValid);
        assert!(!early.usable_at(NOW));
    }

    #[test]
    fn weak_or_unsupported_keys_are_refused_with_their_reason() {
        let weak = rsa_1024_cert();
        assert_eq!(
            IdpCertificate::from_der(&weak),
            Err(CertificateError::WeakRsa { bits: 1024 })
        );
        assert_eq!(
            IdpCertificate::from_der(&ec_p521_cert()),
            Err(CertificateError::Curve)
        );
        let e = parse(&entra_metadata(ENTITY, SSO, &[&good_cert(), &weak])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Signing certificate 2 has an RSA key of 1024 bits; at least 2048 are required."
        );
        assert_eq!(
            IdpCertificate::from_base64("%%%"),
            Err(CertificateError::Base64)
        );
        assert_eq!(
            IdpCertificate::from_base64("aGVsbG8="),
            Err(CertificateError::NotX509)
        );
    }

    #[test]
    fn the_sso_url_must_be_https_except_on_loopback() {
        let c = good_cert();
        let http = parse(&entra_metadata(ENTITY, "http://idp.example.com/sso", &[&c]));
        assert!(matches!(http, Err(MetadataError::SsoUrl(_))));
        assert!(
            http.unwrap_err()
                .to_string()
                .contains("http://idp.example.com/sso")
        );
        for ok in [
            "http://localhost:8081/saml",
            "http://idp.localhost:8081/saml",
            "http://127.0.0.1:9/saml",
            "https://accounts.google.com/o/saml2/idp?idpid=C01abc",
        ] {
            assert!(parse_sso_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "ftp://idp.example.com/",
            "/relative",
            "https://user:pw@idp.example.com/",
            "https://idp.example.com/#frag",
        ] {
            assert!(parse_sso_url(bad).is_err(), "{bad}");
        }
        let post_only = entra_metadata(ENTITY, SSO, &[&c]).replace(
            r#"<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect""#,
            r#"<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#,
        );
        assert_eq!(parse(&post_only), Err(MetadataError::NoRedirectSso));
    }

    #[test]
    fn dtds_and_entities_are_refused_before_anything_is_expanded() {
        let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol2;"/>"#;
        assert_eq!(parse(lol), Err(MetadataError::Dtd));
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"#;
        assert_eq!(parse(xxe), Err(MetadataError::Dtd));
    }

    #[test]
    fn oversize_empty_and_garbage_input_get_their_own_sentences() {
        let big = vec![b' '; MAX_METADATA_BYTES + 1];
        assert_eq!(IdpMetadata::parse(&big), Err(MetadataError::TooLarge));
        assert_eq!(parse("  \n"), Err(MetadataError::Empty));
        assert_eq!(parse("not xml at all"), Err(MetadataError::NotXml));
        assert_eq!(parse("<EntityDescriptor"), Err(MetadataError::NotXml));
        assert_eq!(
            IdpMetadata::parse(&[0xff, 0xfe, 0x00, 0x3c, 0xd8]),
            Err(MetadataError::NotXml)
        );
        assert_eq!(
            parse(r#"<html><body>Sign in</body></html>"#),
            Err(MetadataError::NotMetadata)
        );
        // The right local name in no namespace, or the wrong one, is not metadata.
        assert_eq!(
            parse(r#"<EntityDescriptor entityID="x"/>"#),
            Err(MetadataError::NotMetadata)
        );
        let no_saml2 = entra_metadata(ENTITY, SSO, &[&good_cert()]).replace(
            r#"<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            r#"<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol">"#,
        );
        assert_eq!(parse(&no_saml2), Err(MetadataError::NotSaml2));
        let no_id = entra_metadata("", SSO, &[&good_cert()]);
        assert_eq!(parse(&no_id), Err(MetadataError::EntityId));
    }

    #[test]
    fn a_certificate_with_a_comment_inside_is_refused_not_joined() {
        let c = good_cert();
        let b = b64(&c);
        let (head, tail) = b.split_at(20);
        let xml =
            entra_metadata(ENTITY, SSO, &[&c]).replace(&b, &format!("{head}<!-- x -->{tail}"));
        assert!(matches!(
            parse(&xml),
            Err(MetadataError::Certificate { index: 1, .. })
        ));
    }

    #[test]
    fn certificates_survive_the_pem_round_trip_the_card_stores() {
        let a = IdpCertificate::from_der(&good_cert()).unwrap();
        let b = IdpCertificate::from_der(&cert("b", false, NOW, NOW + DAY)).unwrap();
        let text = certificates_to_pem(&[a.clone(), b.clone()]);
        assert_eq!(certificates_from_pem(&text), vec![a, b]);
        assert!(certificates_from_pem("garbage").is_empty());
    }

    #[test]
    fn metadata_urls_follow_the_outbound_https_rule() {
        assert!(parse_metadata_url("https://login.microsoftonline.com/t/federationmetadata/2007-06/federationmetadata.xml?appid=x").is_ok());
        assert!(parse_metadata_url("http://127.0.0.1:8081/metadata").is_ok());
        assert_eq!(
            parse_metadata_url("http://idp.example.com/metadata"),
            Err(FetchError::Url)
        );
        assert_eq!(
            parse_metadata_url("file:///etc/passwd"),
            Err(FetchError::Url)
        );
    }

    #[test]
    fn only_public_addresses_count_as_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["20.190.128.1", "2603:1030::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
