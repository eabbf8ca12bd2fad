//! The built-in demo of the Google emulator: one OAuth client and an account for each case the
//! product must handle — a Google Workspace account of Acme, a consumer account whose domain an
//! `acme.test` allowlist refuses, and an account whose email Google has not verified.
//!
//! Every value is fixed so the product's `ontrackio demo` and its tests can name them.

use super::directory::{GoogleAccount, GoogleClient, GoogleDirectory};

/// The OnTrackio client, shaped like Google's: project number, 32 characters,
/// `.apps.googleusercontent.com`.
pub const DEMO_CLIENT_ID: &str =
    "718254390625-q3v8k1m6x9c2r5t0w4y7b1n8p3s6d9f2.apps.googleusercontent.com";
/// Shaped like a secret Google Cloud console issues since 2022.
pub const DEMO_CLIENT_SECRET: &str = "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";
/// The name the account picker shows ("to continue to OnTrackio").
pub const DEMO_CLIENT_NAME: &str = "OnTrackio";
/// The redirect URI the demo client is registered with out of the box (the product's default
/// base URL for workspace `acme`).
pub const DEMO_REDIRECT_URI: &str = "http://acme.localhost:8080/auth/google/callback";

/// The Workspace organisation's domain: the `hd` claim of its accounts.
pub const WORKSPACE_HD: &str = "acme.test";
/// A Google Workspace account of Acme: `hd = acme.test`, email verified.
pub const WORKSPACE_EMAIL: &str = "dana.scully@acme.test";
pub const WORKSPACE_SUB: &str = "108294751036482957314";
/// A consumer account (no `hd`), email verified; an `acme.test` allowlist refuses it.
pub const CONSUMER_EMAIL: &str = "casey.consumer@gmail.test";
pub const CONSUMER_SUB: &str = "115730284619057382946";
/// An account whose email Google has not verified (`email_verified: false`, no `hd`), although
/// its address is on Acme's domain: the product must refuse it.
pub const UNVERIFIED_EMAIL: &str = "uma.unverified@acme.test";
pub const UNVERIFIED_SUB: &str = "103958172640395817265";

fn person(sub: &str, email: &str, given: &str, family: &str) -> GoogleAccount {
    let mut account = GoogleAccount::new(sub, email, &format!("{given} {family}"));
    account.given_name = Some(given.to_owned());
    account.family_name = Some(family.to_owned());
    account.picture = Some(format!(
        "https://lh3.googleusercontent.com/a/{}=s96-c",
        given.to_ascii_lowercase()
    ));
    account
}

impl GoogleDirectory {
    /// The demo directory the Google emulator serves when started without a config.
    pub fn demo() -> GoogleDirectory {
        let mut dana = person(WORKSPACE_SUB, WORKSPACE_EMAIL, "Dana", "Scully");
        dana.hd = Some(WORKSPACE_HD.to_owned());
        let casey = person(CONSUMER_SUB, CONSUMER_EMAIL, "Casey", "Consumer");
        let mut uma = person(UNVERIFIED_SUB, UNVERIFIED_EMAIL, "Uma", "Unverified");
        uma.email_verified = false;
        let mut client = GoogleClient::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CLIENT_NAME);
        client.redirect_uris.push(DEMO_REDIRECT_URI.to_owned());
        GoogleDirectory {
            accounts: vec![dana, casey, uma],
            clients: vec![client],
        }
    }

    /// The demo directory with more redirect URIs registered on the demo client.
    ///
    /// The URIs are checked when the emulator starts: `start()` fails, naming the URI, if one
    /// is not https (or http on a loopback host such as `*.localhost`).
    pub fn demo_with_redirect_uris(uris: &[String]) -> GoogleDirectory {
        let mut directory = GoogleDirectory::demo();
        if let Some(client) = directory.client_mut(DEMO_CLIENT_ID) {
            for uri in uris {
                if !client.redirect_uris.contains(uri) {
                    client.redirect_uris.push(uri.clone());
                }
            }
        }
        directory
    }
}
