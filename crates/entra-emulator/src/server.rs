//! Starting the emulator in-process and controlling it from tests through its handle.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::directory::{Directory, DirectoryError};
use crate::keys::{KeyError, Keyring};
use crate::misbehaviour::{Endpoint, Misbehaviour};
use crate::state::Shared;

/// Entry point: `Emulator::builder()…start().await`.
pub struct Emulator;

impl Emulator {
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            directory: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            graph_path: "/graph".to_owned(),
            auto_select: false,
            public_url: None,
        }
    }
}

/// Configures an emulator before it binds its socket.
#[must_use]
pub struct EmulatorBuilder {
    directory: Option<Directory>,
    listen: SocketAddr,
    graph_path: String,
    auto_select: bool,
    public_url: Option<String>,
}

impl EmulatorBuilder {
    /// The directory to serve (default: [`Directory::demo`]).
    pub fn directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Where to listen (default `127.0.0.1:0`, a random port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The path Graph is served under (default `/graph`; `""` serves it at the root).
    pub fn graph_path(mut self, path: impl Into<String>) -> Self {
        self.graph_path = path.into();
        self
    }

    /// Skip the account picker when `login_hint` names an account (default off).
    pub fn auto_select(mut self, on: bool) -> Self {
        self.auto_select = on;
        self
    }

    /// The authority URL tokens and metadata name, when it isn't `http://{listen address}`
    /// (e.g. behind a proxy). No trailing slash.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Binds the socket and spawns the server on the current tokio runtime.
    pub async fn start(self) -> anyhow::Result<EmulatorHandle> {
        let directory = self.directory.unwrap_or_else(Directory::demo);
        directory.validate().context("directory refused")?;
        let graph_path = self.graph_path.trim_end_matches('/').to_owned();
        if !graph_path.is_empty() && !graph_path.starts_with('/') {
            anyhow::bail!("graph path `{graph_path}` must start with `/`");
        }
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        let local_addr = listener.local_addr()?;
        let base_url = match self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", reachable(local_addr)),
        };
        // Key generation is CPU-bound; keep it off the async workers.
        let keys = tokio::task::spawn_blocking(Keyring::new)
            .await
            .context("key generation")?;
        let shared = Arc::new(Shared::new(
            base_url,
            graph_path,
            self.auto_select,
            directory,
            keys,
        ));
        let router = crate::endpoints::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                // Fires on `shutdown()` and when the handle (holding the sender) is dropped.
                let _ = rx.await;
            });
            if let Err(error) = server.await {
                tracing::error!(%error, "entra emulator stopped");
            }
        });
        Ok(EmulatorHandle {
            shared,
            local_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// An address a client can connect to: the unspecified address means loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn client_uuid(client_id: &str) -> Uuid {
    Uuid::parse_str(client_id).unwrap_or_else(|_| panic!("client id `{client_id}` is not a GUID"))
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`: append `/{tenant}/oauth2/v2.0/authorize` etc.
    pub fn authority(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/graph`: append `/v1.0/me`.
    pub fn graph_base(&self) -> String {
        self.shared.graph_base()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `{authority}/{tenant_id}/v2.0`, the issuer of that tenant's tokens.
    pub fn issuer(&self, tenant_id: &str) -> String {
        self.shared.issuer(tenant_id)
    }

    /// Publishes a new signing key in the JWKS without signing with it yet; returns its `kid`.
    pub fn add_signing_key(&self) -> String {
        self.shared.keys.lock().add()
    }

    /// Signs from now on with the published key `kid`.
    pub fn use_signing_key(&self, kid: &str) -> Result<(), KeyError> {
        self.shared.keys.lock().use_key(kid)
    }

    /// Removes `kid` from the JWKS. The key currently signing can't be retired.
    pub fn retire_signing_key(&self, kid: &str) -> Result<(), KeyError> {
        self.shared.keys.lock().retire(kid)
    }

    /// An emergency rollover: publish a new key, sign with it, retire the old one. Returns the
    /// new `kid`.
    pub fn rotate_signing_key(&self) -> String {
        let mut keys = self.shared.keys.lock();
        let old = keys.active().kid.clone();
        let new = keys.add();
        // Both calls name keys that were just looked up or published.
        let _ = keys.use_key(&new);
        let _ = keys.retire(&old);
        new
    }

    /// The `kid` tokens are signed with now.
    pub fn active_signing_kid(&self) -> String {
        self.shared.keys.lock().active().kid.clone()
    }

    /// The `kid`s the JWKS publishes.
    pub fn published_kids(&self) -> Vec<String> {
        self.shared
            .keys
            .lock()
            .published()
            .map(|(k, _)| k.kid.clone())
            .collect()
    }

    /// Turns on a misbehaviour for one app's tokens and Graph calls.
    ///
    /// # Panics
    /// If `client_id` is not a GUID.
    pub fn set_misbehaviour(&self, client_id: &str, misbehaviour: Misbehaviour) {
        self.shared
            .switches
            .lock()
            .set(client_uuid(client_id), misbehaviour);
    }

    /// # Panics
    /// If `client_id` is not a GUID.
    pub fn clear_misbehaviours(&self, client_id: &str) {
        self.shared.switches.lock().clear(client_uuid(client_id));
    }

    /// Turns on a misbehaviour for every app and for endpoints no app is known at
    /// (discovery, JWKS): the way to set `DiscoveryIssuerMismatch` and oversized
    /// discovery/JWKS bodies.
    pub fn set_global_misbehaviour(&self, misbehaviour: Misbehaviour) {
        self.shared.switches.lock().set_global(misbehaviour);
    }

    pub fn clear_global_misbehaviours(&self) {
        self.shared.switches.lock().clear_global();
    }

    /// Makes `endpoint` answer after `delay` (`Duration::ZERO` removes it).
    pub fn set_delay(&self, endpoint: Endpoint, delay: Duration) {
        self.shared.switches.lock().set_delay(endpoint, delay);
    }

    /// Changes the directory at runtime; the change is refused (and nothing changes) if the
    /// result breaks a directory rule.
    pub fn update_directory<F: FnOnce(&mut Directory)>(
        &self,
        change: F,
    ) -> Result<(), DirectoryError> {
        let mut directory = self.shared.directory.write();
        let mut updated = directory.clone();
        change(&mut updated);
        updated.validate()?;
        *directory = updated;
        Ok(())
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.shared.directory.read().clone()
    }

    /// Moves the emulator's clock forward (codes, secrets and tokens expire by it), so tests
    /// never sleep.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    pub fn set_auto_select(&self, on: bool) {
        self.shared.auto_select.store(on, Ordering::Relaxed);
    }

    /// With auto-select on, the account (UPN) that signs in when an authorize request has no
    /// `login_hint` — for driving a product that never sends one. `None` shows the picker again.
    pub fn set_auto_select_account(&self, upn: Option<&str>) {
        *self.shared.auto_account.lock() = upn.map(str::to_owned);
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
