//! Sign-in with Google (OpenID Connect): the authorization-code flow (confidential
//! client, PKCE S256, state, nonce), ID-token validation against Google's issuer, and the
//! Google-specific identity rules (`email_verified`, `hd`). Everything provider-neutral
//! (flow cookie, signing keys, the account rules) is shared with Microsoft.

pub mod settings;
