//! IdP metadata: the identity provider's entity id, SSO URL and signing certificates,
//! read once from its SAML 2.0 metadata document.
