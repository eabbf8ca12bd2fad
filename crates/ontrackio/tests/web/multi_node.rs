//! Several identical nodes on one PostgreSQL, with no sticky sessions (issue: scale out),
//! and the faults a deployment meets: nodes starting together, the same person signing
//! in at two nodes at once, the database stopping and coming back, SIGTERM.
//!
//! A cluster here is what a load balancer sees: every node has the same configuration
//! (one base URL, one master key) and its own connection pool, and each request of a
//! test names the node that answers it. The base URL is `http://localhost` with no port,
//! so a browser sees one site, `http://acme.localhost/…`, whichever node answers; its
//! per-node clients share one cookie jar and send the same `Host` header a balancer would
//! pass through.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ontrackio::Application;
use ontrackio::audit::actions;
use ontrackio::auth::session_cache::Forgotten;
use ontrackio::auth::throttle;
use ontrackio::config::{BaseUrl, Config, DatabaseUrl, OutboundBase};
use ontrackio::crypto::KeyRing;
use ontrackio::domain::{EmailAddress, Role, UserId};
use ontrackio::store::{self, Db};
use ontrackio::web::AppState;
use reqwest::{Client, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

use crate::helpers::*;

const NEEDS_POSTGRES: &str =
    "skipped: several nodes need PostgreSQL (set ONTRACKIO_TEST_POSTGRES_URL)";
const CARD: &str = "/admin/settings/integrations/microsoft";
const BUTTON: &str = "Continue with Microsoft";
/// Upper bound for anything the tests wait on; reaching it is a failure, not a pause.
const PATIENCE: Duration = Duration::from_secs(20);

/// `http://acme.localhost{path}`: the one public address of every node.
fn acme(path: &str) -> String {
    format!("http://acme.localhost{path}")
}

struct Node {
    addr: SocketAddr,
    state: AppState,
}

struct Cluster {
    nodes: Vec<Node>,
    /// The test's own pool, for set-up and assertions.
    db: Db,
    emu: entra_emulator::EmulatorHandle,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` nodes on a fresh PostgreSQL database with workspace `acme` (super-admin
    /// admin@acme.test), each following settings changes; `None` on SQLite.
    async fn start(n: usize, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        if postgres_url().is_none() {
            eprintln!("{NEEDS_POSTGRES}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (url, db) = fresh_db(&dir).await;
        let redirects: Vec<String> = SLUGS
            .iter()
            .map(|s| format!("http://{s}.localhost/auth/microsoft/callback"))
            .collect();
        let emu = entra_emulator::Emulator::builder()
            .directory(entra_emulator::Directory::demo_with_redirect_uris(&redirects).unwrap())
            .start()
            .await
            .expect("start the emulator");
        let mut config = test_config(url, 0);
        config.base_url = BaseUrl::parse("http://localhost").unwrap();
        config.microsoft_authority = OutboundBase::parse(&emu.authority()).unwrap();
        config.microsoft_graph = OutboundBase::parse(&emu.graph_base()).unwrap();
        adjust(&mut config);
        let mut nodes = Vec::new();
        for _ in 0..n {
            // Its own pool, as a separate process would have.
            let node_db = Db::connect(&config.database_url).await.unwrap();
            let app = Application::build_with_db(config.clone(), node_db)
                .await
                .expect("build a node");
            let node = Node {
                addr: app.local_addr(),
                state: app.state().clone(),
            };
            tokio::spawn(app.run_until(std::future::pending()));
            nodes.push(node);
        }
        for (i, node) in nodes.iter().enumerate() {
            tokio::time::timeout(
                PATIENCE,
                node.state.microsoft.settings.wait_until_listening(),
            )
            .await
            .unwrap_or_else(|_| panic!("node {i} listens for settings changes"));
        }
        seed_workspace(&db, "acme", "Acme Corporation", "admin@acme.test").await;
        Some(Self {
            nodes,
            db,
            emu,
            _dir: dir,
        })
    }

    /// One browser (one cookie jar) whose requests can go to any node.
    fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let clients = self
            .nodes
            .iter()
            .map(|n| {
                let mut b = Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .cookie_provider(jar.clone());
                for slug in SLUGS {
                    b = b.resolve(&format!("{slug}.localhost"), n.addr);
                }
                b.resolve("localhost", n.addr).build().unwrap()
            })
            .collect();
        Browser { clients }
    }

    async fn workspace_id(&self) -> String {
        store::workspaces::find_by_slug(self.db.pool(), "acme")
            .await
            .unwrap()
            .unwrap()
            .id
            .as_str()
            .to_string()
    }

    async fn add_employee(&self, email: &str) -> UserId {
        add_password_user(&self.db, "acme", email, Role::Employee).await
    }

    async fn user_id(&self, email: &str) -> UserId {
        let id: String = sqlx::query_scalar("SELECT id FROM users WHERE email_normalized = $1")
            .bind(email.to_string())
            .fetch_one(self.db.pool())
            .await
            .unwrap();
        UserId::from_db(id)
    }

    /// What each node's session cache forgets from now on.
    fn hear_forgotten(&self) -> Vec<broadcast::Receiver<Forgotten>> {
        self.nodes
            .iter()
            .map(|n| n.state.sessions.subscribe())
            .collect()
    }

    async fn count(&self, sql: &str, bind: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(bind.to_string())
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }
}

struct Browser {
    clients: Vec<Client>,
}

impl Browser {
    /// This browser's requests, answered by node `n`.
    fn on(&self, n: usize) -> &Client {
        &self.clients[n]
    }

    async fn get(&self, n: usize, path: &str) -> Response {
        self.on(n).get(acme(path)).send().await.unwrap()
    }

    async fn html(&self, n: usize, path: &str) -> String {
        let r = self.get(n, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path} on node {n}");
        r.text().await.unwrap()
    }

    /// Fetches the form on `form_path` from node `form_node`, posts it to node `post_node`.
    async fn submit(
        &self,
        form_node: usize,
        form_path: &str,
        post_node: usize,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let html = self.html(form_node, form_path).await;
        let token = extract_csrf(&html).unwrap_or_else(|| panic!("no form on {form_path}"));
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.on(post_node)
            .post(acme(path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&self, n: usize, email: &str, password: &str) -> Response {
        self.submit(
            n,
            "/login",
            n,
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

/// `GET /auth/microsoft` with `browser`, then the emulator's account picker as another
/// site (a cookie-less client) picking `upn`: the callback URL Microsoft sends back.
async fn authorize(browser: &Client, start_url: &str, authority: &str, upn: &str) -> String {
    let start = browser.get(start_url).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::FOUND, "start: {start_url}");
    let authorize_url = location(&start);
    assert!(authorize_url.starts_with(authority), "{authorize_url}");
    let idp = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = idp
        .get(&authorize_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = entra_emulator::picker_request_id(&html)
        .unwrap_or_else(|| panic!("no account picker: {html}"));
    let select = format!("{}/select", authorize_url.split('?').next().unwrap());
    let picked = idp
        .post(select)
        .form(&[("request", request.as_str()), ("login_hint", upn)])
        .send()
        .await
        .unwrap();
    assert!(picked.status().is_redirection(), "{}", picked.status());
    location(&picked)
}

// ---- Requests alternating between nodes ----------------------------------------------

#[tokio::test]
async fn a_microsoft_sign_in_started_on_one_node_finishes_on_another() {
    let Some(cl) = Cluster::start(3, |c| {
        c.azure = azure_env(ms::ACME_TENANT_ID, "acme.test");
    })
    .await
    else {
        return;
    };
    let b = cl.browser();
    // The flow lives in an encrypted cookie, so node 0 writes nothing node 1 must find.
    let callback = authorize(
        b.on(0),
        &acme("/auth/microsoft"),
        &cl.emu.authority(),
        ms::ADELE_UPN,
    )
    .await;
    let r = b.on(1).get(&callback).send().await.unwrap();
    assert_redirects_to(&r, "/my/dashboard");
    assert!(session_cookie_value(r.headers()).is_some());
    for n in 0..3 {
        let html = b.html(n, "/my/dashboard").await;
        assert!(html.contains("adele.vance@acme.test") || html.contains("Adele"));
    }
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            actions::MICROSOFT_SIGN_IN
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_session_made_on_one_node_works_on_all_and_a_logout_on_another_ends_it_everywhere() {
    let Some(cl) = Cluster::start(3, |_| {}).await else {
        return;
    };
    let b = cl.browser();
    let r = b.sign_in(1, "admin@acme.test", PASSWORD).await;
    assert_redirects_to(&r, "/admin/dashboard");
    let token = session_cookie_value(r.headers()).expect("a session cookie");
    for n in 0..3 {
        b.html(n, "/admin/dashboard").await;
    }
    // The logout form comes from node 0 and is posted to node 2: CSRF tokens hold on
    // every node too.
    let admin = cl.user_id("admin@acme.test").await;
    let mut heard = cl.hear_forgotten();
    let r = b.submit(0, "/admin/dashboard", 2, "/logout", &[]).await;
    assert_redirects_to(&r, "/login?notice=signed-out");
    // Every node cached the session; each forgets it when the database's notification of
    // the deleted row arrives (a moment after the commit: the accepted design).
    until_every_node_forgot(&mut heard, &admin).await;
    for n in 0..3 {
        let replay = cl.browser();
        let r = replay
            .on(n)
            .get(acme("/admin/dashboard"))
            .header("cookie", format!("ontrackio_session={token}"))
            .send()
            .await
            .unwrap();
        assert!(
            location(&r).starts_with("/login"),
            "node {n} still honours the session: {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn a_card_saved_on_one_node_shows_the_button_on_another_at_once() {
    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    let visitor = cl.browser();
    // Node 1 reads the settings once and keeps them in its cache.
    assert!(!visitor.html(1, "/login").await.contains(BUTTON));
    assert!(!visitor.html(1, "/login").await.contains(BUTTON));
    let mut forgotten = cl.nodes[1]
        .state
        .microsoft
        .settings
        .subscribe_invalidations();

    let admin = cl.browser();
    assert_redirects_to(
        &admin.sign_in(0, "admin@acme.test", PASSWORD).await,
        "/admin/dashboard",
    );
    let r = admin
        .submit(
            0,
            CARD,
            0,
            CARD,
            &[
                ("enabled", "on"),
                ("tenant_id", ms::ACME_TENANT_ID),
                ("client_id", ms::DEMO_CLIENT_ID),
                ("client_secret", ms::DEMO_CLIENT_SECRET),
                ("redirect_uri", ""),
                ("allowed_domains", "acme.test"),
                ("secret_expires_on", ""),
            ],
        )
        .await;
    assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
    // The save commits, then PostgreSQL delivers its NOTIFY to node 1's listener: wait
    // for exactly that event (bounded), not for a guessed time.
    let saved = Instant::now();
    let ws = cl.workspace_id().await;
    tokio::time::timeout(PATIENCE, async {
        while forgotten.recv().await.unwrap() != ws {}
    })
    .await
    .expect("node 1 is told about the save");
    eprintln!(
        "NOTIFY reached the other node {:?} after the save returned",
        saved.elapsed()
    );
    assert!(visitor.html(1, "/login").await.contains(BUTTON));
    // And node 1 signs people in with what node 0 saved (its sealed secret included).
    let callback = authorize(
        visitor.on(1),
        &acme("/auth/microsoft"),
        &cl.emu.authority(),
        ms::ADELE_UPN,
    )
    .await;
    assert_redirects_to(
        &visitor.on(1).get(&callback).send().await.unwrap(),
        "/my/dashboard",
    );
}

/// The allowed domains live on the workspace row, which every node keeps per `Host`
/// (`web::workspace_cache`): a save on one node must reach that cache on the others too,
/// not only their Microsoft settings cache.
#[tokio::test]
async fn narrowing_the_allowed_domains_on_one_node_refuses_them_on_another_at_once() {
    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    // Borrowed by the helpers below, which are `async move` blocks.
    let cl = &cl;
    let ws = cl.workspace_id().await;
    let admin = cl.browser();
    assert_redirects_to(
        &admin.sign_in(0, "admin@acme.test", PASSWORD).await,
        "/admin/dashboard",
    );
    let save_on_node_0 = |domains: &'static str| {
        let admin = &admin;
        let mut forgotten = cl.nodes[1]
            .state
            .microsoft
            .settings
            .subscribe_invalidations();
        let ws = ws.clone();
        async move {
            let fields = [
                ("enabled", "on"),
                ("tenant_id", ms::ACME_TENANT_ID),
                ("client_id", ms::DEMO_CLIENT_ID),
                ("client_secret", ms::DEMO_CLIENT_SECRET),
                ("redirect_uri", ""),
                ("allowed_domains", domains),
                ("secret_expires_on", ""),
            ];
            let r = admin.submit(0, CARD, 0, CARD, &fields).await;
            assert_redirects_to(&r, &format!("{CARD}?notice=saved"));
            tokio::time::timeout(PATIENCE, async {
                while forgotten.recv().await.unwrap() != ws {}
            })
            .await
            .expect("node 1 is told about the save");
        }
    };
    let sign_in_on_node_1 = |upn: &'static str| async move {
        let visitor = cl.browser();
        let callback = authorize(
            visitor.on(1),
            &acme("/auth/microsoft"),
            &cl.emu.authority(),
            upn,
        )
        .await;
        visitor.on(1).get(&callback).send().await.unwrap()
    };

    // No allowlist under a pinned tenant: anyone the directory verifies is admitted, and
    // node 1 now holds acme's row with its empty list.
    save_on_node_0("").await;
    assert_redirects_to(&sign_in_on_node_1(ms::SAM_UPN).await, "/my/dashboard");

    save_on_node_0("acme.test").await;
    let r = sign_in_on_node_1(ms::SAM_UPN).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Access restricted. Ask your workspace admin to invite you first."),
        "node 1 still admits sam.partner@acme.onmicrosoft.com"
    );
    assert_redirects_to(&sign_in_on_node_1(ms::ADELE_UPN).await, "/my/dashboard");
}

// ---- SAML replays across nodes --------------------------------------------------------------

/// `POST /saml/acs` of an IdP-initiated sign-in, as the IdP's page posts it.
async fn post_saml_response(browser: &Client, xml: &str) -> Response {
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode(xml);
    browser
        .post(acme("/saml/acs"))
        .header("Origin", "https://login.microsoftonline.com")
        .form(&[("SAMLResponse", value.as_str())])
        .send()
        .await
        .unwrap()
}

/// The ACS records each consumed assertion ID in the database, not in a node's memory: the
/// same signed response replayed at another node is refused there as a replay.
#[tokio::test]
async fn a_saml_assertion_consumed_on_one_node_is_refused_as_a_replay_on_another() {
    use crate::saml_sign_in::{ADA, ADA_OID, GROUPS_CLAIM, OBJECT_ID, TENANT, idp_entity_id};
    use entra_emulator::saml::{Attribute, ResponseBuilder, SigningCredential};

    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    let ws = workspace_id(&cl.db).await;
    // acme's SAML card as a Save writes it (`saml_sign_in::configure` on one node), with
    // IdP-initiated sign-in allowed, and acme.test allowed to join.
    let idp = SigningCredential::generate();
    let entity = idp_entity_id();
    let sso = format!("http://127.0.0.1:9/{TENANT}/saml2");
    let mut conn = cl.db.pool().acquire().await.unwrap();
    store::saml_settings::save(
        &mut conn,
        cl.db.backend(),
        &ws,
        &store::saml_settings::CardFields {
            enabled: true,
            idp_entity_id: Some(&entity),
            sso_url: Some(&sso),
            certificates: Some(idp.certificate_pem()),
            metadata_url: None,
            metadata_fetched_at: None,
            email_attribute: None,
            group_attribute: Some(GROUPS_CLAIM),
            allow_idp_initiated: true,
            saved_by: "admin@acme.test",
        },
    )
    .await
    .unwrap();
    drop(conn);
    let domains = ontrackio::domain::EmailDomain::parse_list("acme.test").unwrap();
    store::workspaces::set_allowed_domains(cl.db.pool(), &ws, &domains)
        .await
        .unwrap();
    // Written behind the nodes' backs: each forgets whatever it may hold of acme.
    for node in &cl.nodes {
        node.state.workspace_changed(ws.as_str());
    }

    let xml = ResponseBuilder::new(
        &idp,
        TENANT,
        &acme("/saml/metadata"),
        &acme("/saml/acs"),
        ADA,
        time::OffsetDateTime::now_utc(),
    )
    .in_response_to(None)
    .attribute(Attribute::new(OBJECT_ID, [ADA_OID]))
    .build()
    .unwrap();

    let first = post_saml_response(cl.browser().on(0), &xml).await;
    assert_redirects_to(&first, "/my/dashboard");
    assert!(session_cookie_value(first.headers()).is_some());

    // The same response at node 1, which has never seen it: refused, nobody signed in.
    let replay = post_saml_response(cl.browser().on(1), &xml).await;
    let status = replay.status();
    let cookies = set_cookies(replay.headers());
    let body = replay.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        cookies.iter().all(|c| !c.starts_with("ontrackio_session")),
        "{cookies:?}"
    );
    let ada = cl.user_id(ADA).await;
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1",
            ada.as_str()
        )
        .await,
        1
    );
    let audited = |action: &'static str| {
        cl.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            action,
        )
    };
    assert_eq!(audited(actions::SAML_SIGN_IN).await, 1);
    assert_eq!(audited(actions::SAML_SIGN_IN_REFUSED).await, 1);
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND details LIKE '%(replay)%'",
            actions::SAML_SIGN_IN_REFUSED
        )
        .await,
        1,
        "refused as a replay"
    );
}

#[tokio::test]
async fn disabling_a_user_on_one_node_ends_their_sessions_on_every_node() {
    let Some(cl) = Cluster::start(3, |_| {}).await else {
        return;
    };
    let emp = cl.add_employee("emp@acme.test").await;
    let (laptop, phone) = (cl.browser(), cl.browser());
    assert_redirects_to(
        &laptop.sign_in(0, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    assert_redirects_to(
        &phone.sign_in(2, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    for n in 0..3 {
        laptop.html(n, "/my/dashboard").await;
        phone.html(n, "/my/dashboard").await;
    }
    let admin = cl.browser();
    admin.sign_in(1, "admin@acme.test", PASSWORD).await;
    let mut heard = cl.hear_forgotten();
    let r = admin
        .submit(
            2,
            "/admin/users",
            1,
            &format!("/admin/users/{emp}/status"),
            &[("status", "disabled")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    until_every_node_forgot(&mut heard, &emp).await;
    for n in 0..3 {
        for (name, b) in [("laptop", &laptop), ("phone", &phone)] {
            let r = b.get(n, "/my/dashboard").await;
            assert!(
                location(&r).starts_with("/login"),
                "the {name} session still works on node {n}: {}",
                r.status()
            );
        }
    }
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1",
            emp.as_str()
        )
        .await,
        0
    );
    // Refused like a wrong password (the page confirms nothing).
    let r = cl.browser().sign_in(2, "emp@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_scim_deprovisioning_on_one_node_ends_the_users_sessions_on_every_node() {
    let Some(cl) = Cluster::start(3, |_| {}).await else {
        return;
    };
    let emp = cl.add_employee("leaver@acme.test").await;
    let laptop = cl.browser();
    assert_redirects_to(
        &laptop.sign_in(0, "leaver@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    for n in 0..3 {
        laptop.html(n, "/my/dashboard").await;
    }
    // The workspace's SCIM token, as the card would store it.
    let token = "otscim_multi-node-test-token";
    let ws = store::workspaces::find_by_slug(cl.db.pool(), "acme")
        .await
        .unwrap()
        .unwrap();
    store::scim::set_token(
        cl.db.pool(),
        &ws.id,
        Some(&ontrackio::crypto::hash_token(token)),
        "tests",
    )
    .await
    .unwrap();
    let mut heard = cl.hear_forgotten();
    let r = cl
        .browser()
        .on(1)
        .patch(acme(&format!("/scim/v2/Users/{emp}")))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(r#"{"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    until_every_node_forgot(&mut heard, &emp).await;
    for n in 0..3 {
        let r = laptop.get(n, "/my/dashboard").await;
        assert!(
            location(&r).starts_with("/login"),
            "the session still works on node {n}: {}",
            r.status()
        );
    }
}

/// Waits (bounded) until every node's session cache has forgotten `user`, and says how long
/// after the change's response that took: the window in which another node could still
/// answer a page from what it had cached.
async fn until_every_node_forgot(heard: &mut [broadcast::Receiver<Forgotten>], user: &UserId) {
    let returned = Instant::now();
    for (n, rx) in heard.iter_mut().enumerate() {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match rx.recv().await {
                    Ok(Forgotten::User(u)) if &u == user => break,
                    Ok(Forgotten::All) => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("node {n}: {e}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("node {n} never heard that {user:?} changed"));
    }
    eprintln!(
        "every node forgot the user's cached sessions {:?} after the change returned",
        returned.elapsed()
    );
}

/// Changes users or sessions directly in the database with the announcing triggers off, as
/// if the notification were lost (sent while a node's listener was down).
async fn change_unannounced(db: &Db, statements: &[&str]) {
    let mut tx = db.pool().begin().await.unwrap();
    for sql in [
        "ALTER TABLE users DISABLE TRIGGER USER",
        "ALTER TABLE sessions DISABLE TRIGGER USER",
    ]
    .iter()
    .chain(statements)
    .chain(&[
        "ALTER TABLE users ENABLE TRIGGER USER",
        "ALTER TABLE sessions ENABLE TRIGGER USER",
    ]) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    tx.commit().await.unwrap();
}

const DISABLE_EMP: &[&str] = &[
    "UPDATE users SET status = 'disabled' WHERE email_normalized = 'emp@acme.test'",
    "DELETE FROM sessions WHERE user_id = (SELECT id FROM users \
     WHERE email_normalized = 'emp@acme.test')",
];

#[tokio::test]
async fn a_role_change_on_one_node_reaches_the_cached_session_on_another() {
    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    let emp = cl.add_employee("emp@acme.test").await;
    let b = cl.browser();
    assert_redirects_to(
        &b.sign_in(1, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    // Node 1 reads the session once and answers the second page from its cache.
    b.html(1, "/my/dashboard").await;
    assert_eq!(
        b.get(1, "/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = cl.browser();
    admin.sign_in(0, "admin@acme.test", PASSWORD).await;
    let mut heard = cl.hear_forgotten();
    let r = admin
        .submit(
            0,
            "/admin/users",
            0,
            &format!("/admin/users/{emp}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_redirects_to(&r, "/admin/users?notice=updated");
    until_every_node_forgot(&mut heard, &emp).await;
    assert_eq!(b.get(1, "/admin/users").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_state_changing_request_reads_its_session_from_the_database_not_the_cache() {
    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    cl.add_employee("emp@acme.test").await;
    let b = cl.browser();
    assert_redirects_to(
        &b.sign_in(1, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    let form = b.html(1, "/my/profile").await;
    let csrf = extract_csrf(&form).expect("the profile form");
    // Disabled with its notification lost: node 1's cache still has the session.
    change_unannounced(&cl.db, DISABLE_EMP).await;
    assert_eq!(
        b.get(1, "/my/dashboard").await.status(),
        StatusCode::OK,
        "control: node 1 answers a page from its cache"
    );
    let r = b
        .on(1)
        .post(acme("/my/profile"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("first_name", "Mallory"),
            ("last_name", "User"),
        ])
        .send()
        .await
        .unwrap();
    // Read from the database, the session is gone, so the form's CSRF token belongs to no
    // session: refused. (From the cache, the token would have matched and the save gone
    // through with a redirect to `/my/profile?notice=saved`.)
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM users WHERE first_name = $1",
            "Mallory"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_node_that_is_not_listening_for_changes_does_not_answer_from_its_session_cache() {
    let Some(cl) = Cluster::start(2, |_| {}).await else {
        return;
    };
    cl.add_employee("emp@acme.test").await;
    let b = cl.browser();
    assert_redirects_to(
        &b.sign_in(0, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    for n in 0..2 {
        b.html(n, "/my/dashboard").await;
        b.html(n, "/my/dashboard").await;
    }
    // Node 1's listener is down (as `web::changes` marks it when the connection drops), and
    // the change's notification reaches nobody.
    cl.nodes[1].state.listening.set_listening(false);
    change_unannounced(&cl.db, DISABLE_EMP).await;
    assert_eq!(
        b.get(0, "/my/dashboard").await.status(),
        StatusCode::OK,
        "control: node 0, listening, trusts what it cached, so the change was indeed unheard"
    );
    let r = b.get(1, "/my/dashboard").await;
    assert!(
        location(&r).starts_with("/login"),
        "node 1 answered from its cache while not listening: {}",
        r.status()
    );
}

#[tokio::test]
async fn a_node_whose_change_listener_reconnects_forgets_every_session_it_cached() {
    let Some(cl) = Cluster::start(1, |_| {}).await else {
        return;
    };
    cl.add_employee("emp@acme.test").await;
    let b = cl.browser();
    assert_redirects_to(
        &b.sign_in(0, "emp@acme.test", PASSWORD).await,
        "/my/dashboard",
    );
    b.html(0, "/my/dashboard").await;
    change_unannounced(&cl.db, DISABLE_EMP).await;
    assert_eq!(
        b.get(0, "/my/dashboard").await.status(),
        StatusCode::OK,
        "control: the change was unheard"
    );
    // The listener's connection is cut; the node reconnects by itself.
    let state = &cl.nodes[0].state;
    let mut heard = state.sessions.subscribe();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%') AS cut",
    )
    .fetch_one(cl.db.pool())
    .await
    .unwrap();
    assert_eq!(cut, 1, "one listener connection");
    tokio::time::timeout(PATIENCE, async {
        // Emptied when the connection drops, and again once LISTEN is back in place.
        loop {
            if let Forgotten::All = heard.recv().await.unwrap()
                && state.listening.is_listening()
            {
                break;
            }
        }
    })
    .await
    .expect("the listener reconnects");
    let r = b.get(0, "/my/dashboard").await;
    assert!(
        location(&r).starts_with("/login"),
        "a session cached before the reconnection was still trusted: {}",
        r.status()
    );
}

// ---- Safe concurrency -------------------------------------------------------------------

/// A new, empty database on the test server (no migrations applied).
async fn empty_postgres_database(admin_url: &str) -> DatabaseUrl {
    sqlx::any::install_default_drivers();
    let name = format!("ontrackio_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let mut u = url::Url::parse(admin_url).unwrap();
    u.set_path(&format!("/{name}"));
    DatabaseUrl::Postgres(u.to_string())
}

#[tokio::test]
async fn three_nodes_starting_together_on_an_empty_database_migrate_it_once() {
    let Some(admin_url) = postgres_url() else {
        eprintln!("{NEEDS_POSTGRES}");
        return;
    };
    ontrackio::install_crypto_provider();
    let url = empty_postgres_database(&admin_url).await;
    let node = || Application::build(test_config(url.clone(), 0), true);
    // `ontrackio serve` start-up, three times at once: connect, migrate, bind.
    let (a, b, c) = tokio::join!(node(), node(), node());
    let started: Vec<Application> = [a, b, c]
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("node {i} failed to start: {e:#}")))
        .collect();
    let db = Db::connect(&url).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    // Every migration file's version, each once (numbers may skip one that another branch
    // has taken).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let mut files: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap().file_name().to_string_lossy()[..4]
                .parse()
                .unwrap()
        })
        .collect();
    files.sort_unstable();
    assert!(files.len() >= 2, "{files:?}");
    assert_eq!(versions, files, "each version once, in order");
    assert!(applied.iter().all(|(_, ok)| *ok), "{applied:?}");
    // A later start finds nothing to do.
    db.migrate().await.unwrap();
    let again: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(again, applied.len() as i64);
    for app in started {
        app.state().db.close().await;
    }
    db.close().await;
}

#[tokio::test]
async fn the_same_new_user_arriving_at_two_nodes_at_once_gets_one_account_and_two_sessions() {
    let Some(cl) = Cluster::start(2, |c| {
        c.azure = azure_env(ms::ACME_TENANT_ID, "acme.test");
    })
    .await
    else {
        return;
    };
    // Two browsers, one person, neither known to the workspace yet.
    let (first, second) = (cl.browser(), cl.browser());
    let authority = cl.emu.authority();
    let start = acme("/auth/microsoft");
    let cb1 = authorize(first.on(0), &start, &authority, ms::ADELE_UPN).await;
    let cb2 = authorize(second.on(1), &start, &authority, ms::ADELE_UPN).await;

    // Make the race certain rather than likely: a transaction of the test blocks writes to
    // `users` (reads go on), so both sign-ins find no such user and then queue at their
    // INSERT. Once both wait, the lock goes and they collide on the unique email.
    let mut blocker = cl.db.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let (c1, c2) = (first.on(0).clone(), second.on(1).clone());
    let r1 = tokio::spawn(async move { c1.get(cb1).send().await.unwrap() });
    let r2 = tokio::spawn(async move { c2.get(cb2).send().await.unwrap() });
    let waiting = "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                   WHERE c.relname = $1 AND NOT l.granted \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let deadline = Instant::now() + PATIENCE;
    while cl.count(waiting, "users").await < 2 {
        assert!(
            Instant::now() < deadline,
            "both sign-ins should reach their INSERT"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    blocker.rollback().await.unwrap();
    let (r1, r2) = (r1.await.unwrap(), r2.await.unwrap());

    for (name, r) in [("node 0", &r1), ("node 1", &r2)] {
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}: {}", r.status());
        assert_eq!(location(r), "/my/dashboard", "{name}");
        assert!(session_cookie_value(r.headers()).is_some(), "{name}");
    }
    first.html(1, "/my/dashboard").await;
    second.html(0, "/my/dashboard").await;
    let adele = "adele.vance@acme.test";
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM users WHERE email_normalized = $1",
            adele
        )
        .await,
        1
    );
    let id: String = sqlx::query_scalar("SELECT id FROM users WHERE email_normalized = $1")
        .bind(adele)
        .fetch_one(cl.db.pool())
        .await
        .unwrap();
    assert_eq!(
        cl.count(
            "SELECT COUNT(*) FROM user_identities WHERE user_id = $1",
            &id
        )
        .await,
        1
    );
    assert_eq!(
        cl.count("SELECT COUNT(*) FROM sessions WHERE user_id = $1", &id)
            .await,
        2
    );
    let audited = |action: &'static str| {
        cl.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            action,
        )
    };
    assert_eq!(audited(actions::MICROSOFT_USER_PROVISIONED).await, 1);
    assert_eq!(audited(actions::MICROSOFT_SIGN_IN).await, 2);
}

// ---- Throttling across nodes --------------------------------------------------------------

#[tokio::test]
async fn failed_passwords_for_one_account_spread_over_nodes_reach_the_account_limit() {
    let Some(cl) = Cluster::start(3, |_| {}).await else {
        return;
    };
    for i in 0..throttle::PER_ACCOUNT as usize {
        let r = cl
            .browser()
            .sign_in(i % 3, "admin@acme.test", "wrong password!")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Each node saw at most two failures; together they are at the limit.
    for n in 0..3 {
        let r = cl.browser().sign_in(n, "admin@acme.test", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "node {n}");
        let retry: i64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= throttle::WINDOW_SECS);
    }
}

#[tokio::test]
async fn failed_passwords_from_one_address_spread_over_nodes_reach_the_address_limit() {
    let Some(cl) = Cluster::start(3, |_| {}).await else {
        return;
    };
    // Different accounts each time, so only the per-IP limit can stop them.
    for i in 0..throttle::PER_IP as usize {
        let r = cl
            .browser()
            .sign_in(i % 3, &format!("guess{i}@acme.test"), "wrong password!")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = cl.browser().sign_in(1, "admin@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

// ---- SIGTERM ----------------------------------------------------------------------------------

/// A TCP relay in front of the emulator that holds the first token request (the
/// sign-in's code exchange) until released: that request is then provably in flight
/// inside the server, with no timing guesses.
struct TokenGate {
    arrived: watch::Receiver<bool>,
    release: watch::Sender<bool>,
}

impl TokenGate {
    async fn start(listener: TcpListener, upstream: SocketAddr) -> Self {
        let (arrived_tx, arrived) = watch::channel(false);
        let (release, release_rx) = watch::channel(false);
        let held = Arc::new(AtomicBool::new(false));
        let arrived_tx = Arc::new(arrived_tx);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (held, arrived_tx, mut release_rx) =
                    (held.clone(), arrived_tx.clone(), release_rx.clone());
                tokio::spawn(async move {
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    let down = tokio::io::copy(&mut from_server, &mut to_client);
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = from_client.read(&mut buf).await?;
                            if n == 0 {
                                return to_server.shutdown().await;
                            }
                            let chunk = &buf[..n];
                            if chunk.windows(19).any(|w| w == b"/oauth2/v2.0/token ")
                                && !held.swap(true, Ordering::SeqCst)
                            {
                                arrived_tx.send_replace(true);
                                let _ = release_rx.wait_for(|go| *go).await;
                            }
                            to_server.write_all(chunk).await?;
                        }
                    };
                    let _ = tokio::join!(down, up);
                });
            }
        });
        Self { arrived, release }
    }
}

/// Kills the child if the test ends early, so no server outlives it.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use crate::ports::free_port;

fn refuses_connections(addr: SocketAddr) -> bool {
    matches!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[tokio::test]
async fn sigterm_lets_the_sign_in_in_flight_finish_refuses_new_connections_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = fresh_db(&dir).await;
    seed_workspace(&db, "acme", "Acme Corporation", "admin@acme.test").await;
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let gate_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("http://{}", gate_listener.local_addr().unwrap());
    let emu = entra_emulator::Emulator::builder()
        .directory(
            entra_emulator::Directory::demo_with_redirect_uris(&[format!(
                "http://acme.localhost:{port}/auth/microsoft/callback"
            )])
            .unwrap(),
        )
        .public_url(&authority)
        .start()
        .await
        .unwrap();
    let mut gate = TokenGate::start(gate_listener, emu.local_addr()).await;

    // The real binary, configured as in production: from the environment.
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ontrackio"))
        .arg("serve")
        .env_remove("ONTRACKIO_MASTER_KEY_FILE")
        .env_remove("ONTRACKIO_TRUSTED_PROXIES")
        .env("ONTRACKIO_DATABASE_URL", url.as_str())
        .env("ONTRACKIO_LISTEN", addr.to_string())
        .env("ONTRACKIO_BASE_URL", format!("http://localhost:{port}"))
        .env("ONTRACKIO_MASTER_KEY", KeyRing::generate_encoded())
        .env("ONTRACKIO_MICROSOFT_AUTHORITY", &authority)
        .env("ONTRACKIO_MICROSOFT_GRAPH", format!("{authority}/graph"))
        .env("AZURE_CLIENT_ID", ms::DEMO_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", ms::DEMO_CLIENT_SECRET)
        .env("AZURE_TENANT_ID", ms::ACME_TENANT_ID)
        .env("AZURE_ALLOWED_DOMAINS", "acme.test")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = ChildGuard(child);
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .resolve("acme.localhost", addr)
        .build()
        .unwrap();
    let base = format!("http://acme.localhost:{port}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = browser.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never got ready:\n{}",
            server_log()
        );
        assert!(child.0.try_wait().unwrap().is_none(), "{}", server_log());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let callback = authorize(
        &browser,
        &format!("{base}/auth/microsoft"),
        &authority,
        ms::ADELE_UPN,
    )
    .await;
    let in_flight = tokio::spawn({
        let browser = browser.clone();
        async move { browser.get(callback).send().await }
    });
    tokio::time::timeout(PATIENCE, gate.arrived.wait_for(|a| *a))
        .await
        .expect("the sign-in reaches its token exchange")
        .unwrap();

    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // Draining: the listener is closed while the sign-in is still held at the gate.
    let deadline = Instant::now() + PATIENCE;
    while !refuses_connections(addr) {
        assert!(
            Instant::now() < deadline,
            "still accepting after SIGTERM:\n{}",
            server_log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!in_flight.is_finished());
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );

    gate.release.send_replace(true);
    let r = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .expect("the in-flight sign-in completes")
        .unwrap()
        .expect("the in-flight sign-in gets an answer");
    assert_redirects_to(&r, "/my/dashboard");
    assert!(session_cookie_value(r.headers()).is_some());

    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after draining:\n{}",
            server_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}\n{}", server_log());
    assert!(refuses_connections(addr));
    // The drained sign-in was committed, not cut off.
    let provisioned =
        store::users::find_by_email(db.pool(), &workspace_id(&db).await, &adele_email())
            .await
            .unwrap()
            .expect("the user exists");
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(provisioned.id.as_str().to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 1);
}

async fn workspace_id(db: &Db) -> ontrackio::domain::WorkspaceId {
    store::workspaces::find_by_slug(db.pool(), "acme")
        .await
        .unwrap()
        .unwrap()
        .id
}

fn adele_email() -> EmailAddress {
    EmailAddress::parse(ms::ADELE_UPN).unwrap()
}

// ---- The database stopping and coming back ------------------------------------------------

/// A PostgreSQL instance of the test's own, in a temporary directory, run as the
/// `postgres` user (initdb and pg_ctl refuse root). Stopped and removed on drop.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn output_of(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl PrivatePostgres {
    /// `Err(reason)` when this machine cannot run one.
    fn create() -> Result<Self, String> {
        if output_of(Command::new("id").arg("-u"))? != "0" {
            return Err("not root, so initdb/pg_ctl cannot be run as the postgres user".into());
        }
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|_| "no /usr/lib/postgresql (PostgreSQL server binaries not installed)")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists() && b.join("initdb").exists())
            .max()
            .ok_or("no initdb/pg_ctl under /usr/lib/postgresql/*/bin")?;
        let uid: u32 = output_of(Command::new("id").args(["-u", "postgres"]))
            .map_err(|_| "no postgres user")?
            .parse()
            .map_err(|_| "no postgres uid")?;
        let gid: u32 = output_of(Command::new("id").args(["-g", "postgres"]))?
            .parse()
            .map_err(|_| "no postgres gid")?;
        let dir = tempfile::Builder::new()
            .prefix("ontrackio-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        let pg = Self {
            dir,
            bin,
            port: free_port(),
        };
        pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        output_of(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(tool))
                .args(args),
        )
    }

    fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map(drop)
    }

    fn stop(&self, mode: &str) -> Result<(), String> {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"])
            .map(drop)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

/// Runs blocking `pg_ctl` off the async workers, so the node keeps serving meanwhile.
/// A private PostgreSQL instance, started and migrated, with a pool on it; `None` (having
/// said why, as "skipped: …", which CI refuses) when one cannot be made here.
async fn started_private_postgres() -> Option<(Arc<PrivatePostgres>, DatabaseUrl, Db)> {
    let pg = match PrivatePostgres::create() {
        Ok(pg) => Arc::new(pg),
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return None;
        }
    };
    {
        let pg = pg.clone();
        blocking(move || pg.start())
            .await
            .expect("start PostgreSQL");
    }
    ontrackio::install_crypto_provider();
    let url = DatabaseUrl::Postgres(pg.url());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    Some((pg, url, db))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgresql_stops_a_node_turns_unready_shows_a_clear_page_and_recovers_without_a_restart()
 {
    if postgres_url().is_none() {
        eprintln!("skipped: the database fault test runs in the PostgreSQL pass");
        return;
    }
    let Some((pg, url, db)) = started_private_postgres().await else {
        return;
    };
    seed_workspace(&db, "acme", "Acme Corporation", "admin@acme.test").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Application::build_with_listener(test_config(url, port), db.clone(), listener)
        .await
        .unwrap();
    let (addr, state) = (app.local_addr(), app.state().clone());
    tokio::spawn(app.run_until(std::future::pending()));
    let settings = &state.microsoft.settings;
    tokio::time::timeout(PATIENCE, settings.wait_until_listening())
        .await
        .expect("the node listens for settings changes");
    let c = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .resolve("acme.localhost", addr)
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let at = |path: &str| format!("http://acme.localhost:{port}{path}");
    let ready = || async {
        c.get(format!("http://localhost:{port}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, StatusCode::OK);
    let r = submit_login(&c, &at("/login"), "admin@acme.test", PASSWORD, "").await;
    assert_redirects_to(&r, "/admin/dashboard");

    // PostgreSQL goes away.
    let stopped = Instant::now();
    {
        let pg = pg.clone();
        blocking(move || pg.stop("fast")).await.expect("stop");
    }
    let deadline = Instant::now() + PATIENCE;
    while ready().await != StatusCode::SERVICE_UNAVAILABLE {
        assert!(Instant::now() < deadline, "/readyz stays ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unready_after = stopped.elapsed();
    let asked = Instant::now();
    let r = c.get(at("/admin/dashboard")).send().await.unwrap();
    let page_after = asked.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("briefly unavailable") && html.contains("try again shortly"),
        "{html}"
    );
    // The settings listener noticed, so the node stops trusting its cache.
    let deadline = Instant::now() + PATIENCE;
    while settings.is_listening() {
        assert!(Instant::now() < deadline, "the listener never noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // PostgreSQL comes back; the node is not restarted.
    let restarted = Instant::now();
    {
        let pg = pg.clone();
        blocking(move || pg.start()).await.expect("restart");
    }
    let up_after = restarted.elapsed();
    let deadline = Instant::now() + PATIENCE;
    while ready().await != StatusCode::OK {
        assert!(Instant::now() < deadline, "/readyz never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = restarted.elapsed();
    // The same session goes on; new sign-ins write again.
    let r = c.get(at("/admin/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", pg.log());
    let other = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .resolve("acme.localhost", addr)
        .build()
        .unwrap();
    let r = submit_login(&other, &at("/login"), "admin@acme.test", PASSWORD, "").await;
    assert_redirects_to(&r, "/admin/dashboard");
    tokio::time::timeout(Duration::from_secs(60), settings.wait_until_listening())
        .await
        .expect("the settings listener reconnects");
    eprintln!(
        "database fault: /readyz unready {unready_after:?} after the stop; a page answered 503 in \
         {page_after:?}; PostgreSQL up {up_after:?} after restart began, node ready \
         {ready_after:?} after, listening again {:?} after",
        restarted.elapsed()
    );
    state.db.close().await;
}

/// PostgreSQL stops while a sign-in is on its way back from Microsoft: the callback answers
/// with the same "briefly unavailable" 503 page as every other page, not a 500.
#[tokio::test]
async fn a_database_outage_during_the_microsoft_callback_answers_503() {
    if postgres_url().is_none() {
        eprintln!("{NEEDS_POSTGRES}");
        return;
    }
    let Some((pg, url, db)) = started_private_postgres().await else {
        return;
    };
    let env = azure_env("common", "acme.test");
    let app = spawn_app_on(tempfile::tempdir().unwrap(), url, db, move |c| {
        c.azure = env
    })
    .await;
    tokio::time::timeout(
        PATIENCE,
        app.state.microsoft.settings.wait_until_listening(),
    )
    .await
    .expect("the node listens for changes");
    let b = app.browser();
    let r = b.get(app.url("acme", "/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let callback = match app.microsoft_authorize(&b, "acme", ms::ADELE_UPN).await {
        Authorize::Redirect(url) => url,
        Authorize::Page(html) => panic!("the emulator showed a page: {html}"),
    };
    {
        let pg = pg.clone();
        blocking(move || pg.stop("fast")).await.expect("stop");
    }
    let r = b.get(&callback).send().await.unwrap();
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(html.contains("briefly unavailable"), "{html}");
    app.db.close().await;
}
