//! Sign-in: passwords, Microsoft Entra ID, sessions, throttling.

pub mod effective;
pub mod google;
pub mod microsoft;
pub mod oidc;
pub mod password;
pub mod policy;
pub mod role_mapping;
pub mod saml;
pub mod session;
pub mod session_cache;
pub mod settings_cache;
pub mod sign_in;
pub mod throttle;
