//! Sign-in: passwords, Microsoft Entra ID, sessions, throttling.

pub mod microsoft;
pub mod password;
pub mod policy;
pub mod session;
pub mod session_cache;
pub mod sign_in;
pub mod throttle;
