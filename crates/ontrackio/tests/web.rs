//! Black-box tests of the product through HTTP: one binary, one `spawn_app()`.
//! On SQLite always; on PostgreSQL too when ONTRACKIO_TEST_POSTGRES_URL is set.

#[path = "web/helpers.rs"]
mod helpers;
#[path = "support/ports.rs"]
mod ports;

#[path = "web/access.rs"]
mod access;
#[path = "web/accounts.rs"]
mod accounts;
#[path = "web/admin_users.rs"]
mod admin_users;
#[path = "web/audit_log.rs"]
mod audit_log;
#[path = "web/callback_abuse.rs"]
mod callback_abuse;
#[path = "web/directory_roles.rs"]
mod directory_roles;
#[path = "web/google_card.rs"]
mod google_card;
#[path = "web/google_sign_in.rs"]
mod google_sign_in;
#[path = "web/hosts.rs"]
mod hosts;
#[path = "web/microsoft_card.rs"]
mod microsoft_card;
#[path = "web/microsoft_sign_in.rs"]
mod microsoft_sign_in;
#[path = "web/multi_node.rs"]
mod multi_node;
#[path = "web/password_sign_in.rs"]
mod password_sign_in;
#[path = "web/profile.rs"]
mod profile;
#[path = "web/saml_card.rs"]
mod saml_card;
#[path = "web/saml_sign_in.rs"]
mod saml_sign_in;
#[path = "web/scim.rs"]
mod scim;
#[path = "web/security.rs"]
mod security;
#[path = "web/store.rs"]
mod store;
