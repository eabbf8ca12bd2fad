//! A local emulator of the Microsoft identity platform v2.0 (Entra ID) and Microsoft Graph
//! `GET /v1.0/me`, faithful enough that a relying party tested against it behaves the same
//! against `https://login.microsoftonline.com`.
//!
//! Start it in-process with [`Emulator::builder`], or from the command line with [`run_cli`].
//! The [`google`] module is the same for Google's OpenID Connect provider.
//! The shapes it reproduces are those of `spec/microsoft-identity-platform.md`, and for app
//! roles, group claims, `client_info` and CORS those of `docs/spec/entra-roles-groups-msal.md`;
//! see the crate README for deliberate deviations.

mod cli;
mod clock;
mod config;
pub mod demo;
mod directory;
mod endpoints;
mod errors;
pub mod google;
mod html;
mod keys;
mod live;
mod misbehaviour;
pub mod provisioning;
mod runtime;
pub mod saml;
mod server;
mod state;
mod tls;
mod tokens;
mod util;

pub use cli::{EntraEmulatorArgs, run, run_cli};
pub use directory::{
    AllowedMemberType, AppRegistration, AppRole, AppRoleAssignment, ClientSecret, Directory,
    DirectoryError, Group, GroupMembershipClaims, GuestOf, JWT_GROUPS_LIMIT, OptionalClaims,
    SignInAudience, Tenant, User,
};
pub use html::picker_request_id;
pub use keys::KeyError;
pub use misbehaviour::{Endpoint, Misbehaviour};
pub use server::{Emulator, EmulatorBuilder, EmulatorHandle};

/// The tenant GUID Microsoft uses for personal accounts; `consumers` is its alias.
pub const MSA_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Microsoft Graph's well-known application id, the `aud` of Graph access tokens.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
