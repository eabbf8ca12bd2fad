//! Starting the Google emulator in-process and controlling it from tests through its handle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;

use super::directory::{GoogleDirectory, GoogleDirectoryError};
use super::endpoints::{DISCOVERY_PATH, router};
use super::misbehaviour::{GoogleEndpoint, GoogleMisbehaviour};
use super::state::{AuthorizeParams, GoogleShared};
use crate::keys::Keyring;
use crate::runtime::{Running, ServeOptions, bind, serve_setters};

/// Entry point: `GoogleEmulator::builder()…start().await`.
pub struct GoogleEmulator;

impl GoogleEmulator {
    pub fn builder() -> GoogleEmulatorBuilder {
        GoogleEmulatorBuilder {
            serve: ServeOptions::default(),
            directory: None,
            clock: None,
        }
    }
}

/// Configures a Google emulator before it binds its socket.
#[must_use]
pub struct GoogleEmulatorBuilder {
    serve: ServeOptions,
    directory: Option<GoogleDirectory>,
    clock: Option<OffsetDateTime>,
}

impl GoogleEmulatorBuilder {
    serve_setters!();

    /// The accounts and clients to serve (default: [`GoogleDirectory::demo`]).
    pub fn directory(mut self, directory: GoogleDirectory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Starts the emulator's clock at `now` (it runs on from there; default: the wall clock).
    /// Refused before 1970 or after 9999, which no token can carry.
    pub fn clock(mut self, now: OffsetDateTime) -> anyhow::Result<Self> {
        if now.unix_timestamp() < 0 || now.year() > 9999 {
            anyhow::bail!("clock start {now} is outside 1970–9999");
        }
        self.clock = Some(now);
        Ok(self)
    }

    /// Validates the directory, binds the socket and spawns the server on the current tokio
    /// runtime.
    pub async fn start(self) -> anyhow::Result<GoogleHandle> {
        let directory = self.directory.unwrap_or_else(GoogleDirectory::demo);
        directory.validate().context("Google directory refused")?;
        let bound = bind(&self.serve).await?;
        // Key generation is CPU-bound; keep it off the async workers. Google publishes two
        // keys: the one signing and the next one.
        let keys = tokio::task::spawn_blocking(|| Keyring::with_tags(&[(), ()]))
            .await
            .context("key generation")?;
        let shared = Arc::new(GoogleShared::new(
            bound.base_url,
            self.serve.auto_select,
            directory,
            keys,
        ));
        if let Some(now) = self.clock {
            shared.clock.set(now);
        }
        let running = Running::spawn(bound.listener, router(shared.clone()), "google emulator");
        Ok(GoogleHandle {
            shared,
            local_addr: bound.local_addr,
            running,
        })
    }
}

/// A running Google emulator. Dropping it stops the server.
pub struct GoogleHandle {
    shared: Arc<GoogleShared>,
    local_addr: SocketAddr,
    running: Running,
}

impl GoogleHandle {
    /// `http://127.0.0.1:PORT`: the issuer of its tokens and the base of every endpoint (at
    /// Google, `https://accounts.google.com`). Discovery is at
    /// `{issuer}/.well-known/openid-configuration`. In legacy-issuer mode, tokens carry it
    /// without the scheme; this still returns the URL.
    pub fn issuer(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.shared.base_url)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Google's key change: the published next key starts signing, the key signing until now
    /// leaves the JWKS and a new next key is published. The JWKS keeps two keys, so a client
    /// that cached it before already knows the new signer. Returns the new signer's `kid`.
    pub fn rotate_signing_key(&self) -> String {
        let mut keys = self.shared.keys.lock();
        let old = keys.active();
        let next = keys
            .published()
            .map(|(key, ())| key.clone())
            .find(|key| key.kid != old.kid);
        let next = match next {
            Some(key) => key.kid.clone(),
            None => keys.publish(()),
        };
        // Both name keys that were just found or published.
        let _ = keys.use_key(&next);
        let _ = keys.retire(&old.kid);
        keys.publish(());
        keys.active().hex_kid.clone()
    }

    /// The `kid` ID tokens are signed with now (40 hex digits, like Google's).
    pub fn active_signing_kid(&self) -> String {
        self.shared.keys.lock().active().hex_kid.clone()
    }

    /// The `kid`s the JWKS publishes, in order.
    pub fn published_kids(&self) -> Vec<String> {
        let keys = self.shared.keys.lock();
        keys.published().map(|(k, ())| k.hex_kid.clone()).collect()
    }

    /// Turns on a misbehaviour for one client's tokens.
    pub fn set_misbehaviour(&self, client_id: &str, misbehaviour: GoogleMisbehaviour) {
        let mut switches = self.shared.switches.lock();
        switches.set(client_id.to_owned(), misbehaviour);
    }

    /// Turns off every misbehaviour of one client.
    pub fn clear_misbehaviour(&self, client_id: &str) {
        self.shared.switches.lock().clear(&client_id.to_owned());
    }

    /// Turns on a misbehaviour for every client.
    pub fn set_global_misbehaviour(&self, misbehaviour: GoogleMisbehaviour) {
        self.shared.switches.lock().set_global(misbehaviour);
    }

    pub fn clear_global_misbehaviours(&self) {
        self.shared.switches.lock().clear_global();
    }

    /// Makes `endpoint` answer after `delay` (`Duration::ZERO` removes it).
    pub fn set_delay(&self, endpoint: GoogleEndpoint, delay: Duration) {
        self.shared.switches.lock().set_delay(endpoint, delay);
    }

    /// The parameters of the last authorize request, as the client sent them (e.g. to check
    /// that the product sends `hd`, `prompt=select_account`, a `nonce` and PKCE).
    pub fn last_authorize_params(&self) -> Option<AuthorizeParams> {
        self.shared.last_authorize.lock().clone()
    }

    /// Writes `iss` without its scheme (`127.0.0.1:PORT`), as Google's legacy
    /// `accounts.google.com` form — not a misbehaviour: Google documents both values.
    pub fn set_legacy_issuer(&self, on: bool) {
        self.shared.legacy_issuer.store(on, Ordering::Relaxed);
    }

    pub fn set_auto_select(&self, on: bool) {
        self.shared.auto_select.set_on(on);
    }

    /// With auto-select on, the account (email) that signs in when an authorize request has
    /// no `login_hint`. `None` shows the picker again.
    pub fn set_auto_select_account(&self, email: Option<&str>) {
        self.shared.auto_select.set_default_account(email);
    }

    /// Changes the directory at runtime; refused (and nothing changes) if the result is
    /// invalid.
    pub fn update_directory<F: FnOnce(&mut GoogleDirectory)>(
        &self,
        change: F,
    ) -> Result<(), GoogleDirectoryError> {
        self.shared
            .directory
            .update(change, GoogleDirectory::validate)
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> GoogleDirectory {
        self.shared.directory.snapshot()
    }

    /// The emulator's notion of now.
    pub fn now(&self) -> OffsetDateTime {
        self.shared.now()
    }

    /// Moves the emulator's clock forward (codes and tokens expire by it), so tests never
    /// sleep.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        self.running.stop().await;
    }
}
