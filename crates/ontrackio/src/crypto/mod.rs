//! Secrets at rest and in cookies: the master key ring, sealing, random tokens.

pub mod keyring;
mod tokens;

pub use keyring::{KeyRing, SealError};
pub use tokens::{CsrfKey, SessionToken, hash_token, random_token};
