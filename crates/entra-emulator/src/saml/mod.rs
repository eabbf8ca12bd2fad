//! A SAML 2.0 identity provider shaped like Microsoft Entra ID's: federation metadata, the
//! `/{tenant}/saml2` single sign-on endpoint (HTTP-Redirect and HTTP-POST bindings), IdP-initiated
//! sign-in, and signed responses with Entra's claim set.
//!
//! Enterprise applications using SAML are [`SamlApp`]s in the [`Directory`](crate::Directory)
//! (`saml_apps`). For tests of a service provider, [`ResponseBuilder`] makes a signed response
//! without a browser, with the emulator's key ([`EmulatorHandle::saml_credential`]) or another
//! ([`SigningCredential::attacker`]).
//!
//! [`EmulatorHandle::saml_credential`]: crate::EmulatorHandle::saml_credential

mod app;
mod credential;
pub(crate) mod endpoints;
mod metadata;
mod request;
mod response;

pub use app::SamlApp;
pub use credential::{
    CERTIFICATE_SUBJECT_CN, CERTIFICATE_VALIDITY, CredentialError, SigningCredential,
};
pub use endpoints::{PostedForm, posted_form};
pub use metadata::federation_metadata;
pub use request::{
    AuthnRequest, MAX_INFLATED_LEN, RequestError, decode_post, decode_redirect, encode_redirect,
    parse,
};
pub use response::{
    Attribute, Groups, NameIdFormat, ResponseBuilder, SAML_GROUPS_LIMIT, STATUS_NO_PASSIVE,
    STATUS_REQUEST_DENIED, STATUS_REQUESTER, STATUS_RESPONDER, STATUS_SUCCESS, SamlError,
    SigningOption, Status, encode_post_form_value, saml_id, saml_time,
};

/// `urn:oasis:names:tc:SAML:2.0:protocol` (prefix `samlp:`).
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// `urn:oasis:names:tc:SAML:2.0:assertion` (prefix `saml:`).
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// `urn:oasis:names:tc:SAML:2.0:metadata` (prefix `md:`).
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// `http://www.w3.org/2000/09/xmldsig#` (prefix `ds:`).
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

pub const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Entra's SAML issuer and metadata `entityID` for a tenant: `https://sts.windows.net/{tenant}/`
/// (the real host, whatever URL the emulator serves at).
pub fn entity_id(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// The attribute names (claim types) of Entra's SAML tokens.
pub mod claims {
    pub const TENANT_ID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
    pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
    pub const DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
    pub const IDENTITY_PROVIDER: &str =
        "http://schemas.microsoft.com/identity/claims/identityprovider";
    pub const AUTHN_METHODS_REFERENCES: &str =
        "http://schemas.microsoft.com/claims/authnmethodsreferences";
    pub const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    pub const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    pub const EMAIL_ADDRESS: &str =
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    pub const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
    /// Group object ids (when the app's groups claim is on and there are at most 150).
    pub const GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
    /// In place of [`GROUPS`] above 150 groups: where to read them.
    pub const GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";
    /// The `authnmethodsreferences` value of a password sign-in.
    pub const AMR_PASSWORD: &str =
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password";
}
