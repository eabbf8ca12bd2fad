//! Integration tests of the Entra emulator, asserting Microsoft's documented shapes
//! (`spec/microsoft-identity-platform.md`) field by field, and of the Google emulator
//! (`docs/spec/google-identity.md`).

#[path = "emulator/support.rs"]
mod support;

#[path = "emulator/authorize.rs"]
mod authorize;
#[path = "emulator/config.rs"]
mod config;
#[path = "emulator/discovery.rs"]
mod discovery;
#[path = "emulator/google.rs"]
mod google;
#[path = "emulator/graph.rs"]
mod graph;
#[path = "emulator/id_token.rs"]
mod id_token;
#[path = "emulator/misbehaviour.rs"]
mod misbehaviour;
#[path = "emulator/msal.rs"]
mod msal;
#[path = "emulator/oidc_client.rs"]
mod oidc_client;
#[path = "emulator/roles_groups.rs"]
mod roles_groups;
#[path = "emulator/saml.rs"]
mod saml;
#[path = "emulator/tls.rs"]
mod tls;
#[path = "emulator/token.rs"]
mod token;
