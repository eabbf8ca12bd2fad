//! `/{tenant}/federationmetadata/2007-06/federationmetadata.xml`: the IdP metadata an SP imports.

use super::credential::SigningCredential;
use super::{BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, NS_DSIG, NS_METADATA, NS_PROTOCOL};
use crate::html::escape;

/// The SAML part of Entra's federation metadata for `tenant_id`: an `EntityDescriptor`
/// (`entityID` = `https://sts.windows.net/{tenant}/`) with one `IDPSSODescriptor` holding the
/// signing certificate, and the `{base_url}/{tenant}/saml2` endpoints for both bindings.
///
/// Entra signs its metadata and also lists WS-Federation roles; the emulator leaves both out:
/// SPs read the certificate and endpoints, and one that trusted metadata for its signature
/// alone would be trusting the channel it was fetched over anyway.
pub fn federation_metadata(
    base_url: &str,
    tenant_id: &str,
    credential: &SigningCredential,
) -> String {
    let entity_id = super::entity_id(tenant_id);
    let sso = format!("{base_url}/{tenant_id}/saml2");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<EntityDescriptor ID=\"{id}\" entityID=\"{entity}\" xmlns=\"{NS_METADATA}\">\
<IDPSSODescriptor protocolSupportEnumeration=\"{NS_PROTOCOL}\">\
<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"{NS_DSIG}\"><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>\
<SingleLogoutService Binding=\"{BINDING_HTTP_REDIRECT}\" Location=\"{sso}\"/>\
<SingleSignOnService Binding=\"{BINDING_HTTP_REDIRECT}\" Location=\"{sso}\"/>\
<SingleSignOnService Binding=\"{BINDING_HTTP_POST}\" Location=\"{sso}\"/>\
</IDPSSODescriptor></EntityDescriptor>",
        id = super::saml_id(),
        entity = escape(&entity_id),
        cert = credential.certificate_base64(),
        sso = escape(&sso),
    )
}
