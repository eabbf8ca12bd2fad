//! Starting the emulator in-process and controlling it from tests through its handle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use crate::directory::{Directory, DirectoryError};
use crate::keys::{KeyError, Keyring};
use crate::misbehaviour::{Endpoint, Misbehaviour};
use crate::runtime::{Running, ServeOptions, serve_setters};
use crate::saml::{CredentialError, ResponseBuilder, SamlApp, SigningCredential};
use crate::state::Shared;

/// Entry point: `Emulator::builder()…start().await`.
pub struct Emulator;

impl Emulator {
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            serve: ServeOptions::default(),
            directory: None,
            graph_path: "/graph".to_owned(),
            saml_apps: Vec::new(),
        }
    }
}

/// Configures an emulator before it binds its socket.
#[must_use]
pub struct EmulatorBuilder {
    serve: ServeOptions,
    directory: Option<Directory>,
    graph_path: String,
    saml_apps: Vec<SamlApp>,
}

impl EmulatorBuilder {
    serve_setters!();

    /// The directory to serve (default: [`Directory::demo`]).
    pub fn directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Serve `https` with a self-signed certificate generated at start (default off), for
    /// clients such as MSAL that refuse an `http` authority. The certificate names
    /// `localhost`, `127.0.0.1`, `::1`, the listen address and the [`public_url`]'s host;
    /// trust [`EmulatorHandle::tls_certificate_pem`].
    ///
    /// [`public_url`]: EmulatorBuilder::public_url
    pub fn tls(mut self, on: bool) -> Self {
        self.serve.tls = on;
        self
    }

    /// Registers a SAML enterprise application on top of the directory (the demo directory
    /// unless [`directory`](Self::directory) gives another); checked at start. For an app in
    /// the demo's Acme tenant, see [`crate::demo::saml_app_for`].
    pub fn saml_app(mut self, app: SamlApp) -> Self {
        self.saml_apps.push(app);
        self
    }

    /// The path Graph is served under (default `/graph`; `""` serves it at the root).
    pub fn graph_path(mut self, path: impl Into<String>) -> Self {
        self.graph_path = path.into();
        self
    }

    /// Binds the socket and spawns the server on the current tokio runtime.
    pub async fn start(self) -> anyhow::Result<EmulatorHandle> {
        let mut directory = self.directory.unwrap_or_else(Directory::demo);
        directory.saml_apps.extend(self.saml_apps);
        directory.validate().context("directory refused")?;
        let graph_path = self.graph_path.trim_end_matches('/').to_owned();
        if !graph_path.is_empty() && !graph_path.starts_with('/') {
            anyhow::bail!("graph path `{graph_path}` must start with `/`");
        }
        let bound = crate::runtime::bind(&self.serve).await?;
        // Key generation is CPU-bound; keep it off the async workers.
        let (keys, saml_credential) = tokio::task::spawn_blocking(|| {
            let saml = SigningCredential::pooled(0, time::OffsetDateTime::now_utc());
            (Keyring::new(), saml)
        })
        .await
        .context("key generation")?;
        let shared = Arc::new(Shared::new(
            bound.base_url,
            graph_path,
            self.serve.auto_select,
            directory,
            keys,
            saml_credential,
        ));
        let router = crate::endpoints::router(shared.clone());
        let running =
            Running::spawn_bound(bound.listener, bound.tls.as_ref(), router, "entra emulator")?;
        Ok(EmulatorHandle {
            shared,
            local_addr: bound.local_addr,
            certificate: bound.tls.map(|t| (t.certificate_pem, t.certificate_der)),
            running,
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// The generated TLS certificate (PEM, DER) when serving `https`.
    certificate: Option<(String, Vec<u8>)>,
    running: Running,
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

    /// With [`EmulatorBuilder::tls`], the self-signed certificate it serves, in PEM: the trust
    /// anchor to give clients (`REQUESTS_CA_BUNDLE` for MSAL for Python). `None` over `http`.
    pub fn tls_certificate_pem(&self) -> Option<&str> {
        self.certificate.as_ref().map(|(pem, _)| pem.as_str())
    }

    /// The same certificate, DER-encoded.
    pub fn tls_certificate_der(&self) -> Option<&[u8]> {
        self.certificate.as_ref().map(|(_, der)| der.as_slice())
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
        self.shared.switches.lock().clear(&client_uuid(client_id));
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
        self.shared.directory.update(change, Directory::validate)
    }

    /// Replaces the app roles assigned directly to `user` (object id or UPN) in app
    /// `client_id`, by role value or id; `&[]` removes them all. Roles held through a group
    /// stay. Takes effect at the next token; refused (nothing changes) for an unknown user,
    /// app or role, or a role not assignable to users.
    pub fn set_app_roles(
        &self,
        client_id: &str,
        user: &str,
        roles: &[&str],
    ) -> Result<(), DirectoryError> {
        let outcome = std::cell::RefCell::new(Ok(()));
        self.shared.directory.update(
            |dir| *outcome.borrow_mut() = dir.set_app_roles(client_id, user, roles),
            |dir| outcome.borrow().clone().and_then(|()| dir.validate()),
        )
    }

    /// Replaces the groups `user` (object id or UPN) is a direct member of; every group must
    /// exist in the user's tenant.
    pub fn set_groups(&self, user: &str, groups: &[uuid::Uuid]) -> Result<(), DirectoryError> {
        let outcome = std::cell::RefCell::new(Ok(()));
        self.shared.directory.update(
            |dir| *outcome.borrow_mut() = dir.set_groups(user, groups),
            |dir| outcome.borrow().clone().and_then(|()| dir.validate()),
        )
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.shared.directory.snapshot()
    }

    /// Moves the emulator's clock forward (codes, secrets and tokens expire by it), so tests
    /// never sleep.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    pub fn set_auto_select(&self, on: bool) {
        self.shared.auto_select.set_on(on);
    }

    /// With auto-select on, the account (UPN) that signs in when an authorize request has no
    /// `login_hint` — for driving a product that never sends one. `None` shows the picker again.
    pub fn set_auto_select_account(&self, upn: Option<&str>) {
        self.shared.auto_select.set_default_account(upn);
    }

    /// The SAML signing credential (key and certificate) every SAML app signs with; give it to
    /// [`ResponseBuilder::new`] to forge nothing.
    pub fn saml_credential(&self) -> SigningCredential {
        self.shared.saml.credential()
    }

    /// The SAML signing certificate, PEM (the portal's "Certificate (Base64)").
    pub fn saml_certificate_pem(&self) -> String {
        self.saml_credential().certificate_pem().to_owned()
    }

    /// `https://sts.windows.net/{tenant_id}/`: the IdP entity id and the `Issuer` of responses.
    pub fn saml_entity_id(&self, tenant_id: &str) -> String {
        crate::saml::entity_id(tenant_id)
    }

    /// `{authority}/{tenant_id}/saml2`: "Login URL", the SSO endpoint of both bindings.
    pub fn saml_sso_url(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/saml2", self.shared.base_url)
    }

    /// `{authority}/{tenant_id}/federationmetadata/2007-06/federationmetadata.xml`, with
    /// `?appid=` when `app_id` is given: the "App Federation Metadata Url".
    pub fn saml_metadata_url(&self, tenant_id: &str, app_id: Option<&str>) -> String {
        let base = format!(
            "{}/{tenant_id}/federationmetadata/2007-06/federationmetadata.xml",
            self.shared.base_url
        );
        match app_id {
            Some(id) => format!("{base}?appid={id}"),
            None => base,
        }
    }

    /// `{authority}/{tenant_id}/saml2/idp-initiated?app={identifier}`: IdP-initiated sign-in,
    /// as from the My Apps tile (the identifier is URL-encoded).
    pub fn saml_idp_initiated_url(&self, tenant_id: &str, identifier: &str) -> String {
        let query = serde_urlencoded::to_string([("app", identifier)]).unwrap_or_default();
        format!(
            "{}/{tenant_id}/saml2/idp-initiated?{query}",
            self.shared.base_url
        )
    }

    /// The federation metadata document the metadata URL serves.
    pub fn saml_metadata(&self, tenant_id: &str) -> String {
        crate::saml::federation_metadata(&self.shared.base_url, tenant_id, &self.saml_credential())
    }

    /// Replaces the SAML certificate by one for the same key valid from `not_before` to
    /// `not_after` (an expiring or expired certificate); signatures still verify with the key.
    pub fn set_saml_certificate_validity(
        &self,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Result<(), CredentialError> {
        let mut credential = self.shared.saml.credential.lock();
        *credential = credential.with_validity(not_before, not_after)?;
        Ok(())
    }

    /// A certificate rollover: signs from now on with a new key and certificate (valid three
    /// years), which the metadata then publishes. Returns the new credential.
    pub fn rotate_saml_certificate(&self) -> SigningCredential {
        let index = {
            let mut next = self.shared.saml.next_key.lock();
            *next += 1;
            *next - 1
        };
        let fresh = SigningCredential::pooled(index, self.shared.now());
        *self.shared.saml.credential.lock() = fresh.clone();
        fresh
    }

    /// The response the SSO endpoint would post for `user` (UPN or object id) signing in to the
    /// SAML app whose identifier is `sp_entity_id`: Entra's claims, the app's NameID format,
    /// signing option and groups claim, signed with [`saml_credential`](Self::saml_credential),
    /// issued at the emulator's now, to the app's first reply URL, without `InResponseTo`
    /// (set `in_response_to` for an SP-initiated one). Change any field, then `build()`.
    pub fn saml_response(
        &self,
        sp_entity_id: &str,
        user: &str,
    ) -> Result<ResponseBuilder, DirectoryError> {
        let directory = self.shared.directory.read();
        crate::saml::endpoints::response_for_user(
            &directory,
            sp_entity_id,
            user,
            &self.saml_credential(),
            self.shared.now(),
        )
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        self.running.stop().await;
    }
}
