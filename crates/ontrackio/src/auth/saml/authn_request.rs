//! What the service provider sends and publishes: the AuthnRequest of an SP-initiated
//! sign-in (HTTP-Redirect binding) and the SP metadata an admin gives their IdP.
//!
//! The request is not signed: Entra, Okta and Google Workspace do not require it, and
//! the response is bound to it by `InResponseTo` and the flow cookie instead.

use std::io::Write;

use askama::Template;
use base64::Engine;
use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The workspace's SAML endpoints, from its public origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpEndpoints {
    /// Our entity id: the metadata URL, so an admin who has one has both.
    pub entity_id: String,
    pub acs_url: String,
}

impl SpEndpoints {
    pub const METADATA_PATH: &str = "/saml/metadata";
    pub const ACS_PATH: &str = "/saml/acs";

    /// `origin`: the workspace's `https://acme.app.example.com` (no trailing slash).
    pub fn for_origin(origin: &str) -> Self {
        let origin = origin.trim_end_matches('/');
        Self {
            entity_id: format!("{origin}{}", Self::METADATA_PATH),
            acs_url: format!("{origin}{}", Self::ACS_PATH),
        }
    }
}

#[derive(Template)]
#[template(path = "saml/authn_request.xml")]
struct AuthnRequestXml<'a> {
    id: &'a str,
    issue_instant: &'a str,
    destination: &'a str,
    acs_url: &'a str,
    sp_entity_id: &'a str,
}

#[derive(Template)]
#[template(path = "saml/sp_metadata.xml")]
struct SpMetadataXml<'a> {
    entity_id: &'a str,
    acs_url: &'a str,
    workspace_name: &'a str,
    origin: &'a str,
}

/// SAML core §3.4.3: RelayState is at most 80 bytes; a longer `return_to` stays in the
/// flow cookie only.
pub const MAX_RELAY_STATE: usize = 80;

/// The IdP's SSO URL with the deflated, base64, URL-encoded AuthnRequest (and RelayState).
pub fn redirect_url(
    sso_url: &str,
    sp: &SpEndpoints,
    request_id: &str,
    now: time::OffsetDateTime,
    relay_state: Option<&str>,
) -> anyhow::Result<String> {
    let issue_instant = instant(now);
    let xml = AuthnRequestXml {
        id: request_id,
        issue_instant: &issue_instant,
        destination: sso_url,
        acs_url: &sp.acs_url,
        sp_entity_id: &sp.entity_id,
    }
    .render()?;
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater.write_all(xml.as_bytes())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflater.finish()?);
    let mut params = vec![("SAMLRequest", encoded.as_str())];
    if let Some(r) = relay_state.filter(|r| r.len() <= MAX_RELAY_STATE) {
        params.push(("RelayState", r));
    }
    let query = serde_urlencoded::to_string(params)?;
    let sep = if sso_url.contains('?') { '&' } else { '?' };
    Ok(format!("{sso_url}{sep}{query}"))
}

/// The metadata document served at `/saml/metadata`.
pub fn sp_metadata(sp: &SpEndpoints, workspace_name: &str, origin: &str) -> anyhow::Result<String> {
    Ok(SpMetadataXml {
        entity_id: &sp.entity_id,
        acs_url: &sp.acs_url,
        workspace_name,
        origin,
    }
    .render()?)
}

/// `xs:dateTime` in UTC with seconds, as every IdP parses it.
fn instant(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn query_value(url: &str, key: &str) -> Option<String> {
        let (_, q) = url.split_once('?')?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    #[test]
    fn the_request_is_deflated_base64_and_names_our_endpoints() {
        let sp = SpEndpoints::for_origin("https://acme.example.com/");
        assert_eq!(sp.entity_id, "https://acme.example.com/saml/metadata");
        let now = time::macros::datetime!(2026-12-04 08:00:05 UTC);
        let url = redirect_url(
            "https://login.example.com/t/saml2?x=1",
            &sp,
            "_abc",
            now,
            Some("/admin/users?q=a&b"),
        )
        .unwrap();
        assert!(url.starts_with("https://login.example.com/t/saml2?x=1&SAMLRequest="));
        assert_eq!(
            query_value(&url, "RelayState").as_deref(),
            Some("/admin/users?q=a&b")
        );
        let raw = base64::engine::general_purpose::STANDARD
            .decode(query_value(&url, "SAMLRequest").unwrap())
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&raw[..])
            .read_to_string(&mut xml)
            .unwrap();
        assert!(xml.contains(r#"ID="_abc""#), "{xml}");
        assert!(
            xml.contains(r#"IssueInstant="2026-12-04T08:00:05Z""#),
            "{xml}"
        );
        assert!(xml.contains(r#"AssertionConsumerServiceURL="https://acme.example.com/saml/acs""#));
        assert!(xml.contains("<saml:Issuer>https://acme.example.com/saml/metadata</saml:Issuer>"));
        // The destination's `&` is escaped, so the request stays well-formed.
        assert!(xml.contains(r#"Destination="https://login.example.com/t/saml2?x=1""#));
    }

    #[test]
    fn a_return_to_longer_than_saml_allows_is_not_sent_as_relay_state() {
        let sp = SpEndpoints::for_origin("https://acme.example.com");
        let long = format!("/admin/users?q={}", "a".repeat(80));
        let now = time::OffsetDateTime::now_utc();
        let url = redirect_url("https://idp/sso", &sp, "_a", now, Some(&long)).unwrap();
        assert_eq!(query_value(&url, "RelayState"), None);
    }

    #[test]
    fn metadata_escapes_the_workspace_name() {
        let sp = SpEndpoints::for_origin("https://acme.example.com");
        let xml = sp_metadata(&sp, "Acme <&> \"Co\"", "https://acme.example.com").unwrap();
        assert!(xml.contains("Acme &#60;&#38;&#62; &#34;Co&#34;"), "{xml}");
        assert!(xml.contains(r#"entityID="https://acme.example.com/saml/metadata""#));
        assert!(xml.contains(r#"Location="https://acme.example.com/saml/acs""#));
    }
}
