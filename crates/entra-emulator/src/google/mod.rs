//! A local emulator of Google's OpenID Connect provider (`https://accounts.google.com`),
//! faithful enough that a relying party tested against it behaves the same against Google.
//!
//! Start it in-process with [`GoogleEmulator::builder`], or from the command line with
//! [`run_google_cli`]. The shapes it reproduces, with their sources, are in
//! `docs/spec/google-identity.md`; its deliberate deviations are listed there.

mod cli;
mod config;
pub mod demo;
mod directory;
mod endpoints;
mod html;
mod misbehaviour;
mod server;
mod state;
mod tokens;

pub use cli::run_google_cli;
pub use directory::{GoogleAccount, GoogleClient, GoogleDirectory, GoogleDirectoryError};
pub use misbehaviour::{GoogleEndpoint, GoogleMisbehaviour};
pub use server::{GoogleEmulator, GoogleEmulatorBuilder, GoogleHandle};
pub use state::AuthorizeParams;
