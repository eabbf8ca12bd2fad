#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use ontrackio::Application;
use ontrackio::accounts::{Accounts, By, Invitation, NewWorkspace, NoCache};
use ontrackio::config::{AzureEnv, BaseUrl, Config, DatabaseUrl, LogFormat, OutboundBase};
use ontrackio::crypto::KeyRing;
use ontrackio::domain::{EmailAddress, PersonName, Role, WorkspaceSlug};
use ontrackio::store::{self, Db};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use secrecy::SecretString;

pub const PASSWORD: &str = "correct horse battery staple";
/// Workspaces every test app can address (reqwest needs their names mapped to loopback).
pub const SLUGS: &[&str] = &["acme", "globex", "initech"];

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    pub config: Config,
    /// The Entra emulator this app's Microsoft sign-in talks to.
    pub emu: entra_emulator::EmulatorHandle,
    /// The running app's shared state (caches, keys), for white-box assertions.
    pub state: ontrackio::web::AppState,
    _dir: tempfile::TempDir,
}

/// Which backend this run tests.
pub fn postgres_url() -> Option<String> {
    std::env::var("ONTRACKIO_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A fresh, empty database: a temp file on SQLite, a new database on PostgreSQL.
pub async fn fresh_db(dir: &tempfile::TempDir) -> (DatabaseUrl, Db) {
    ontrackio::install_crypto_provider();
    let url = match postgres_url() {
        Some(admin_url) => {
            sqlx::any::install_default_drivers();
            let name = format!("ontrackio_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::AnyPool::connect(&admin_url)
                .await
                .expect("connect to ONTRACKIO_TEST_POSTGRES_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("create test database");
            admin.close().await;
            let mut u = url::Url::parse(&admin_url).expect("postgres URL");
            u.set_path(&format!("/{name}"));
            DatabaseUrl::Postgres(u.to_string())
        }
        None => DatabaseUrl::Sqlite(format!("sqlite://{}/test.db", dir.path().display())),
    };
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    (url, db)
}

pub fn test_config(database_url: DatabaseUrl, port: u16) -> Config {
    Config {
        database_url,
        listen: ([127, 0, 0, 1], port).into(),
        base_url: BaseUrl::parse(&format!("http://localhost:{port}")).unwrap(),
        keys: KeyRing::parse(&KeyRing::generate_encoded()).unwrap(),
        microsoft_authority: OutboundBase::parse("https://login.microsoftonline.com").unwrap(),
        microsoft_graph: OutboundBase::parse("https://graph.microsoft.com").unwrap(),
        google_issuer: OutboundBase::parse("https://accounts.google.com").unwrap(),
        google: Default::default(),
        trusted_proxies: vec![],
        azure: AzureEnv::default(),
        log_format: LogFormat::Text,
        microsoft_timeout: std::time::Duration::from_secs(10),
        flow_starts_per_minute: std::num::NonZeroU32::new(
            ontrackio::auth::oidc::FLOW_STARTS_PER_MINUTE,
        )
        .unwrap(),
        callbacks_in_flight: std::num::NonZeroU32::new(ontrackio::auth::oidc::CALLBACKS_IN_FLIGHT)
            .unwrap(),
    }
}

/// Starts the app on a free port with a fresh database and workspace `acme` whose
/// super-admin is admin@acme.test, and an Entra emulator serving the demo directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As `spawn_app`, with the configuration adjusted first (e.g. `AZURE_*` values).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = fresh_db(&dir).await;
    spawn_app_on(dir, url, db, adjust).await
}

/// As `spawn_app_with`, on a database the caller made (a private PostgreSQL, say).
pub async fn spawn_app_on(
    dir: tempfile::TempDir,
    url: DatabaseUrl,
    db: Db,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    // The base URL names the port: bind first, then build the configuration around it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let redirects: Vec<String> = SLUGS
        .iter()
        .map(|s| format!("http://{s}.localhost:{port}/auth/microsoft/callback"))
        .collect();
    let directory =
        entra_emulator::Directory::demo_with_redirect_uris(&redirects).expect("demo directory");
    let emu = entra_emulator::Emulator::builder()
        .directory(directory)
        .start()
        .await
        .expect("start the emulator");
    let mut config = test_config(url, port);
    config.microsoft_authority = OutboundBase::parse(&emu.authority()).unwrap();
    config.microsoft_graph = OutboundBase::parse(&emu.graph_base()).unwrap();
    adjust(&mut config);
    let app = Application::build_with_listener(config.clone(), db.clone(), listener)
        .await
        .expect("build app");
    let addr = app.local_addr();
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let t = TestApp {
        addr,
        db,
        config,
        emu,
        state,
        _dir: dir,
    };
    t.create_workspace("acme", "Acme Corporation", "admin@acme.test")
        .await;
    t
}

impl TestApp {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{path}", self.port())
    }

    /// A browser: keeps cookies, does not follow redirects, maps *.localhost to the app.
    pub fn browser(&self) -> Client {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        self.browser_with_jar(jar)
    }

    pub fn browser_with_jar(&self, jar: Arc<reqwest::cookie::Jar>) -> Client {
        let mut b = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar);
        for slug in SLUGS {
            b = b.resolve(&format!("{slug}.localhost"), self.addr);
        }
        b.resolve("localhost", self.addr).build().unwrap()
    }

    pub async fn create_workspace(&self, slug: &str, name: &str, admin: &str) {
        seed_workspace(&self.db, slug, name, admin).await;
    }

    pub async fn workspace(&self, slug: &str) -> store::workspaces::Workspace {
        store::workspaces::find_by_slug(self.db.pool(), slug)
            .await
            .unwrap()
            .unwrap()
    }

    /// Adds an active user with the test password.
    pub async fn add_user(&self, slug: &str, email: &str, role: Role) -> ontrackio::domain::UserId {
        add_password_user(&self.db, slug, email, role).await
    }

    pub async fn user(&self, slug: &str, email: &str) -> Option<store::users::User> {
        let ws = self.workspace(slug).await;
        store::users::find_by_email(self.db.pool(), &ws.id, &EmailAddress::parse(email).unwrap())
            .await
            .unwrap()
    }

    pub async fn audit(&self, slug: &str) -> Vec<store::audit::Event> {
        let ws = self.workspace(slug).await;
        store::audit::list(self.db.pool(), &ws.id, &Default::default(), 1000)
            .await
            .unwrap()
    }

    pub async fn audit_count(&self, slug: &str, action: &str) -> usize {
        self.audit(slug)
            .await
            .iter()
            .filter(|e| e.action == action)
            .count()
    }

    /// GETs a page and returns the CSRF token of its first form.
    pub async fn csrf_token(&self, client: &Client, slug: &str, path: &str) -> String {
        let html = client
            .get(self.url(slug, path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {path}: {html}"))
    }

    /// Signs in with a password through the login form.
    pub async fn login_as(
        &self,
        client: &Client,
        slug: &str,
        email: &str,
        password: &str,
    ) -> Response {
        self.login_with_return(client, slug, email, password, "")
            .await
    }

    pub async fn login_with_return(
        &self,
        client: &Client,
        slug: &str,
        email: &str,
        password: &str,
        return_to: &str,
    ) -> Response {
        submit_login(
            client,
            &self.url(slug, "/login"),
            email,
            password,
            return_to,
        )
        .await
    }

    pub async fn signed_in(&self, slug: &str, email: &str) -> Client {
        let c = self.browser();
        let r = self.login_as(&c, slug, email, PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {email} failed: {}",
            r.text().await.unwrap()
        );
        c
    }

    pub async fn post_form(
        &self,
        client: &Client,
        slug: &str,
        path: &str,
        csrf_from: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_token(client, slug, csrf_from).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        client
            .post(self.url(slug, path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

/// An active user with the test password, in the workspace `slug` of `db`.
pub async fn add_password_user(
    db: &Db,
    slug: &str,
    email: &str,
    role: Role,
) -> ontrackio::domain::UserId {
    let accounts = Accounts::new(db, &NoCache);
    let by = By::operator("tests");
    let ws = store::workspaces::find_by_slug(db.pool(), slug)
        .await
        .unwrap()
        .unwrap();
    let email = EmailAddress::parse(email).unwrap();
    let (first, last) = (
        PersonName::parse("Test").unwrap(),
        PersonName::parse("User").unwrap(),
    );
    let invitation = Invitation {
        email: &email,
        first_name: &first,
        last_name: &last,
        role,
        external: false,
    };
    let id = accounts.invite(&by, &ws, invitation).await.unwrap();
    accounts
        .set_password(&by, &ws, &id, SecretString::from(PASSWORD))
        .await
        .unwrap();
    id
}

/// A workspace whose super-admin signs in with the test password, made as the CLI does.
pub async fn seed_workspace(db: &Db, slug: &str, name: &str, admin: &str) {
    let slug = WorkspaceSlug::parse(slug).unwrap();
    let email = EmailAddress::parse(admin).unwrap();
    let new = NewWorkspace {
        slug: &slug,
        name,
        super_admin: &email,
        password: Some(SecretString::from(PASSWORD)),
    };
    Accounts::new(db, &NoCache)
        .create_workspace(&By::operator("tests"), new)
        .await
        .unwrap();
}

/// Signs in with a password through the login form at `login_url`: its page for the CSRF
/// token, then the form.
pub async fn submit_login(
    client: &Client,
    login_url: &str,
    email: &str,
    password: &str,
    return_to: &str,
) -> Response {
    let html = client
        .get(login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token =
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {login_url}: {html}"));
    client
        .post(login_url)
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
            ("return_to", return_to),
        ])
        .send()
        .await
        .unwrap()
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn assert_redirects_to(r: &Response, path: &str) {
    assert!(
        r.status().is_redirection(),
        "expected a redirect to {path}, got {}",
        r.status()
    );
    assert_eq!(location(r), path);
}

pub fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

pub fn session_cookie_value(h: &HeaderMap) -> Option<String> {
    set_cookies(h)
        .into_iter()
        .find(|c| c.starts_with("ontrackio_session="))
        .map(|c| {
            c["ontrackio_session=".len()..]
                .split(';')
                .next()
                .unwrap()
                .to_string()
        })
}

// ---- Microsoft sign-in -------------------------------------------------------------

pub mod ms {
    pub use entra_emulator::demo::*;
}

/// `AZURE_*` settings for the emulator's multi-tenant demo app.
pub fn azure_env(tenant: &str, allowed: &str) -> ontrackio::config::AzureEnv {
    ontrackio::config::AzureEnv {
        client_id: Some(ms::DEMO_CLIENT_ID.into()),
        client_secret: Some(SecretString::from(ms::DEMO_CLIENT_SECRET)),
        tenant_id: Some(tenant.into()),
        redirect_uri: None,
        allowed_domains: (!allowed.is_empty()).then(|| allowed.to_string()),
    }
}

/// A test app whose Microsoft sign-in is configured by `AZURE_*` variables alone.
pub async fn spawn_app_with_microsoft(tenant: &str, allowed: &str) -> TestApp {
    let env = azure_env(tenant, allowed);
    spawn_app_with(move |c| c.azure = env).await
}

/// What the emulator's authorize endpoint did with the browser.
pub enum Authorize {
    /// Redirected back to the app (the callback URL).
    Redirect(String),
    /// Showed a page (an error page, for instance) with this HTML.
    Page(String),
}

impl TestApp {
    /// `/login` → Continue with Microsoft → the account picker → pick `upn`. Returns what
    /// the emulator did after the pick.
    pub async fn microsoft_authorize(&self, browser: &Client, slug: &str, upn: &str) -> Authorize {
        let start = browser
            .get(self.url(slug, "/auth/microsoft"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            start.status(),
            StatusCode::FOUND,
            "start: {}",
            start.text().await.unwrap()
        );
        let authorize_url = location(&start);
        assert!(
            authorize_url.starts_with(&self.emu.authority()),
            "{authorize_url}"
        );
        // The emulator is another site: its own cookie-less client, as a browser would be there.
        let idp = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let picker = idp.get(&authorize_url).send().await.unwrap();
        if picker.status().is_redirection() {
            return Authorize::Redirect(location(&picker));
        }
        let html = picker.text().await.unwrap();
        let Some(request) = entra_emulator::picker_request_id(&html) else {
            return Authorize::Page(html);
        };
        let url = url::Url::parse(&authorize_url).unwrap();
        let select = format!(
            "{}/authorize/select",
            url.as_str()
                .split('?')
                .next()
                .unwrap()
                .trim_end_matches("/authorize")
        );
        let picked = idp
            .post(select)
            .form(&[("request", request.as_str()), ("login_hint", upn)])
            .send()
            .await
            .unwrap();
        if picked.status().is_redirection() {
            Authorize::Redirect(location(&picked))
        } else {
            Authorize::Page(picked.text().await.unwrap())
        }
    }

    /// The whole Microsoft sign-in; returns the app's answer to the callback.
    pub async fn microsoft_sign_in(&self, browser: &Client, slug: &str, upn: &str) -> Response {
        match self.microsoft_authorize(browser, slug, upn).await {
            Authorize::Redirect(callback) => {
                assert!(
                    callback.starts_with(&self.url(slug, "/auth/microsoft/callback")),
                    "{callback}"
                );
                browser.get(callback).send().await.unwrap()
            }
            Authorize::Page(html) => {
                panic!("the emulator showed a page instead of redirecting: {html}")
            }
        }
    }

    pub async fn invite(
        &self,
        slug: &str,
        email: &str,
        role: Role,
        external: bool,
    ) -> ontrackio::domain::UserId {
        let ws = self.workspace(slug).await;
        let none = PersonName::default();
        let invitation = Invitation {
            email: &EmailAddress::parse(email).unwrap(),
            first_name: &none,
            last_name: &none,
            role,
            external,
        };
        Accounts::new(&self.db, &NoCache)
            .invite(&By::operator("tests"), &ws, invitation)
            .await
            .unwrap()
    }

    /// Disables a user as an operator would (`ontrackio user disable`).
    pub async fn disable(&self, slug: &str, id: &ontrackio::domain::UserId) {
        let ws = self.workspace(slug).await;
        self.state
            .accounts()
            .disable(&By::operator("tests"), &ws, id)
            .await
            .unwrap();
    }

    pub async fn set_allowed_domains(&self, slug: &str, domains: &str) {
        let ws = self.workspace(slug).await;
        let list = ontrackio::domain::EmailDomain::parse_list(domains).unwrap();
        store::workspaces::set_allowed_domains(self.db.pool(), &ws.id, &list)
            .await
            .unwrap();
        // Written behind the app's back: forget what it cached, as a Save would.
        self.state.workspace_changed(ws.id.as_str());
    }
}
