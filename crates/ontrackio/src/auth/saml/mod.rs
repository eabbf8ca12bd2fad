//! SAML 2.0 single sign-on: the workspace is the service provider, its identity provider
//! (Entra, Okta, Google Workspace…) is configured on the SAML card. The protocol lives
//! here; the account rules are the identity core's (`auth::sign_in`), as for OIDC.

pub mod authn_request;
pub mod crypto;
pub mod identity;
pub mod idp_metadata;
pub mod response;
pub mod settings;
