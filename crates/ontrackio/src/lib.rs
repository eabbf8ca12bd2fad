//! OnTrackio: multi-workspace sign-in (password and Microsoft Entra ID) for an
//! IT-asset-management SaaS. `main.rs` only parses the command line; everything else is
//! here so that tests and `demo` start exactly the same application.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod avatar;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod listening;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod web;

pub use web::Application;

/// rustls needs exactly one process-wide crypto provider; we use ring (also what sqlx's
/// PostgreSQL TLS uses), and ring checks ID-token signatures too. Installing twice is
/// harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    auth::oidc::rs256::install();
}
