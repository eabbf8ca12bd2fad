//! The HTTP edge: routers per area, extractors, the error → page mapping.

mod admin;
mod assets;
mod changes;
mod chrome;
mod client;
mod cookies;
mod csrf;
mod edge;
mod error;
mod google;
mod health;
mod host;
mod login;
mod microsoft;
mod my;
mod root;
mod saml;
pub(crate) mod scim;
mod security_headers;
mod session;
mod setup;
mod sign_in_flow;
mod workspace_cache;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum_extra::extract::cookie::Key;
use tokio::net::TcpListener;

use crate::auth::microsoft::Microsoft;
use crate::auth::session_cache::{OutsideChanges, SessionCache};
use crate::config::Config;
use crate::crypto::CsrfKey;
use crate::listening::ChangeListening;
use crate::store::Db;

pub use chrome::{UserChrome, fmt_opt_time, fmt_time};
pub use error::AppError;
pub use host::slug_of;
pub use session::CurrentUser;
use workspace_cache::WorkspaceCache;

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub csrf: CsrfKey,
    pub microsoft: Arc<Microsoft>,
    pub google: Arc<crate::auth::google::Google>,
    /// The SAML card's settings cache and metadata client.
    pub saml_card: Arc<crate::auth::saml::settings::SamlCard>,
    /// What every provider's flows share: the start limit, callbacks in flight.
    pub flows: crate::auth::oidc::Flows,
    /// Encrypts the providers' flow cookies.
    pub flow_key: Key,
    /// Signed-in users by session, so that a page needs no database round trip.
    pub sessions: SessionCache<UserChrome>,
    /// The workspace each `Host` names.
    pub workspaces: WorkspaceCache,
    /// Whether caches of rows other nodes change may be trusted (`web::changes`).
    pub listening: Arc<ChangeListening>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl axum::extract::FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.flow_key.clone()
    }
}

impl AppState {
    pub fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let csrf = CsrfKey::new(config.keys.derive("csrf"));
        let listening = Arc::new(ChangeListening::new(matches!(
            config.database_url,
            crate::config::DatabaseUrl::Sqlite(_)
        )));
        let microsoft = Microsoft::new(&config, listening.clone())?;
        let google = crate::auth::google::Google::new(&config, listening.clone())?;
        let saml_card = crate::auth::saml::settings::SamlCard::new(&config, listening.clone())?;
        let flows = crate::auth::oidc::Flows::new(&config);
        let workspaces = WorkspaceCache::new(listening.clone());
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(config.keys.derive("cookie-encryption").as_ref());
        key[32..].copy_from_slice(config.keys.derive("cookie-signing").as_ref());
        let flow_key = Key::from(&key);
        // On PostgreSQL, trusted while this node hears the database's change notifications.
        let outside = match crate::store::sqlite_path(&config.database_url) {
            Some(path) => Some(OutsideChanges::open(&path).with_context(|| {
                format!("cannot open {}", OutsideChanges::path_for(&path).display())
            })?),
            None => None,
        };
        let sessions = SessionCache::enabled(outside, listening.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                db,
                csrf,
                microsoft,
                google,
                saml_card,
                flows,
                flow_key,
                sessions,
                workspaces,
                listening,
            }),
        })
    }
    /// The accounts service, telling this node's session cache about every change.
    pub fn accounts(&self) -> crate::accounts::Accounts<'_> {
        crate::accounts::Accounts::new(&self.db, &self.sessions)
    }
    /// The Microsoft sign-in settings in effect for a workspace (cached).
    pub async fn microsoft_settings(
        &self,
        ws: &crate::store::workspaces::Workspace,
    ) -> anyhow::Result<Arc<crate::auth::microsoft::settings::EffectiveSettings>> {
        let load = || async {
            let (_, effective) =
                crate::auth::microsoft::settings::load_fresh(&self.config, &self.db, ws).await?;
            Ok(effective)
        };
        self.microsoft.settings.effective(ws, load).await
    }
    /// The Google sign-in settings in effect for a workspace (cached).
    pub async fn google_settings(
        &self,
        ws: &crate::store::workspaces::Workspace,
    ) -> anyhow::Result<Arc<crate::auth::google::settings::EffectiveGoogleSettings>> {
        let load = || async {
            let (_, effective) =
                crate::auth::google::settings::load_fresh(&self.config, &self.db, ws).await?;
            Ok(effective)
        };
        self.google.settings.effective(ws, load).await
    }
    /// The SAML settings in effect for a workspace (cached).
    pub async fn saml_settings(
        &self,
        ws: &crate::store::workspaces::Workspace,
    ) -> anyhow::Result<Arc<crate::auth::saml::settings::SamlSettings>> {
        let load = || async {
            let (_, effective) = crate::auth::saml::settings::load_fresh(&self.db, ws).await?;
            Ok(effective)
        };
        self.saml_card.settings.effective(ws, load).await
    }
    /// A workspace's row or settings changed on this node: forget them here (other nodes
    /// hear it through the save's `NOTIFY`).
    pub fn workspace_changed(&self, workspace_id: &str) {
        changes::forget_workspace(self, workspace_id);
    }
    pub fn https(&self) -> bool {
        self.config.base_url.is_https()
    }
}

/// Form bodies are small; the avatar upload route raises its own limit.
const FORM_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let signed_in = Router::new()
        .route("/my/dashboard", get(my::dashboard))
        .route("/my/profile", get(my::profile).post(my::update_profile))
        .route(
            "/my/profile/avatar",
            post(my::upload_avatar).layer(DefaultBodyLimit::max(my::AVATAR_BODY_LIMIT)),
        )
        .route("/avatars/{file}", get(my::avatar))
        .route("/logout", post(login::logout))
        .route_layer(session::RequireUser::any_role());
    let admin = Router::new()
        .route("/admin", get(admin::index))
        .route("/admin/dashboard", get(admin::dashboard::page))
        .route("/admin/users", get(admin::users::page))
        .route("/admin/users/invite", post(admin::users::invite))
        .route("/admin/users/{id}/role", post(admin::users::set_role))
        .route(
            "/admin/users/{id}/external",
            post(admin::users::set_external),
        )
        .route("/admin/users/{id}/status", post(admin::users::set_status))
        .route("/admin/audit-log", get(admin::audit::page))
        .route("/admin/audit-log/export", get(admin::audit::export))
        .route_layer(session::RequireUser::at_least(crate::domain::Role::Admin));
    let super_admin = Router::new()
        .route("/admin/settings", get(admin::settings::index))
        .route(
            "/admin/settings/integrations",
            get(admin::settings::integrations),
        )
        .route(
            admin::microsoft_card::PATH,
            get(admin::microsoft_card::page).post(admin::microsoft_card::save),
        )
        .route(
            "/admin/settings/integrations/microsoft/test",
            post(admin::microsoft_card::test_connection),
        )
        .route(
            admin::google_card::PATH,
            get(admin::google_card::page).post(admin::google_card::save),
        )
        .route(
            admin::google_card::TEST_PATH,
            post(admin::google_card::test_connection),
        )
        .route(
            admin::saml_card::PATH,
            get(admin::saml_card::page)
                .post(admin::saml_card::save)
                .layer(DefaultBodyLimit::max(admin::saml_card::SAVE_BODY_LIMIT)),
        )
        .route(admin::scim_card::PATH, get(admin::scim_card::page))
        .route(admin::scim_card::TOKEN_PATH, post(admin::scim_card::token))
        .route(
            admin::scim_card::MAPPING_PATH,
            post(admin::scim_card::save_mapping),
        )
        .route_layer(session::RequireUser::at_least(
            crate::domain::Role::SuperAdmin,
        ));
    let workspace = Router::new()
        .route("/", get(root::index))
        .route("/login", get(login::page).post(login::submit))
        .route("/setup", get(setup::page).post(setup::submit))
        .route("/auth/microsoft", get(microsoft::start))
        .route("/auth/microsoft/callback", get(microsoft::callback))
        .route("/auth/google", get(google::start))
        .route("/auth/google/callback", get(google::callback))
        .route("/auth/saml", get(saml::start))
        .route(
            crate::auth::saml::authn_request::SpEndpoints::METADATA_PATH,
            get(saml::metadata),
        )
        .route(
            crate::auth::saml::authn_request::SpEndpoints::ACS_PATH,
            post(saml::acs).layer(DefaultBodyLimit::max(saml::ACS_BODY_LIMIT)),
        )
        .merge(signed_in)
        .merge(admin)
        .merge(super_admin)
        .fallback(root::not_found)
        .layer(edge::EdgeLayer::new(state.clone()));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{file}", get(assets::serve))
        .merge(workspace)
        // SCIM provisioning: bearer tokens, no session or CSRF, so outside the edge.
        .nest("/scim/v2", scim::router(state.clone()))
        .layer(from_fn_with_state(state.clone(), security_headers::apply))
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .with_state(state)
}

/// The running server: bound before it is returned, so callers know the port.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database, applies migrations (unless told not to) and binds.
    pub async fn build(config: Config, migrate: bool) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let db = Db::connect(&config.database_url).await?;
        if migrate {
            db.migrate().await?;
        }
        Self::build_with_db(config, db).await
    }

    pub async fn build_with_db(config: Config, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Self::build_with_listener(config, db, listener).await
    }

    /// With a listener bound already: a caller that binds port 0 learns the port before it
    /// builds the configuration that names it, and no one can take the port in between.
    pub async fn build_with_listener(
        config: Config,
        db: Db,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        // Compute the constant-time dummy hash now, not during somebody's sign-in.
        tokio::task::spawn_blocking(crate::auth::password::warm_up);
        let state = AppState::new(config, db)?;
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let sweeper = tokio::spawn(session::sweep_expired(self.state.clone()));
        let settings_listener = tokio::spawn(changes::follow(self.state.clone()));
        // On a runtime thread, not the thread that called `block_on`: there the accept loop
        // would hand every new connection's task to a worker, one wake-up more per
        // connection (BENCHMARKS.md, the trickle).
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown);
        tokio::spawn(async move { server.await })
            .await
            .context("the HTTP server stopped")?
            .context("the HTTP server failed")?;
        sweeper.abort();
        settings_listener.abort();
        db.close().await;
        Ok(())
    }
}

/// The settings card's form validation, for the fuzz target.
#[doc(hidden)]
pub fn fuzz_settings_form(body: &[u8]) -> Option<bool> {
    admin::microsoft_card::fuzz_form(body)
}
