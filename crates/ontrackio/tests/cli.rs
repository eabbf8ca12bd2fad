//! The `ontrackio` binary as a user runs it: the demo and the admin commands.

use ontrackio::accounts::AccountError;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

fn ontrackio(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ontrackio"));
    c.current_dir(dir)
        .env_remove("ONTRACKIO_DATABASE_URL")
        .env_remove("ONTRACKIO_MASTER_KEY")
        .env_remove("ONTRACKIO_MASTER_KEY_FILE")
        .env_remove("ONTRACKIO_FLOW_STARTS_PER_MINUTE")
        .env("RUST_LOG", "debug");
    c
}

#[path = "support/ports.rs"]
mod ports;
use ports::free_port;

/// A server process that is stopped when the test ends, even when an assertion fails
/// first — a failing test must not leave a demo running on the machine.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and reads its banner up to the line that says it is serving.
fn start_demo(dir: &std::path::Path, port: u16) -> (Server, String) {
    let mut child = Server(
        ontrackio(dir)
            .args(["demo", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "demo exited early: {banner}"
        );
        banner.push_str(&line);
        if line.contains("Press Ctrl-C to stop.") {
            break;
        }
    }
    (child, banner)
}

/// A browser for the demo's `acme` on `port`: keeps cookies, follows no redirects.
fn acme_browser(port: u16) -> reqwest::Client {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .resolve("acme.localhost", addr)
        .build()
        .unwrap()
}

/// A browser signed in to the demo's `acme` as its super-admin, and the workspace's origin.
async fn demo_admin(port: u16, password: &str) -> (reqwest::Client, String) {
    ontrackio::install_crypto_provider();
    let c = acme_browser(port);
    let base = format!("http://acme.localhost:{port}");
    let login = c.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let token = &html[start..start + html[start..].find('"').unwrap()];
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token),
            ("email", "admin@acme.test"),
            ("password", password),
            ("return_to", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin/dashboard");
    (c, base)
}

/// Chooses a password on a setup link's page, as its recipient would in a browser.
async fn set_password_through_link(port: u16, link: &str, password: &str) {
    let c = acme_browser(port);
    // The CLI names the base URL of its own environment; the demo listens on `port`.
    let path = &link[link.find("/setup?").expect("a /setup link")..];
    let page = c
        .get(format!("http://acme.localhost:{port}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the setup link works");
    let html = page.text().await.unwrap();
    let value = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_string()
    };
    let r = c
        .post(format!("http://acme.localhost:{port}/setup"))
        .form(&[
            ("csrf_token", value("csrf_token").as_str()),
            ("token", value("token").as_str()),
            ("password", password),
            ("confirm", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login?notice=password-set");
}

fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap()
}

#[tokio::test]
async fn the_demo_serves_acme_its_printed_credentials_reach_the_admin_dashboard_and_never_reach_the_log()
 {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, banner) = start_demo(dir.path(), port);
    assert_eq!(
        banner_value(&banner, "Sign in at:"),
        format!("http://acme.localhost:{port}/login")
    );
    assert_eq!(banner_value(&banner, "Super-admin:"), "admin@acme.test");
    let password = banner_value(&banner, "Password:");

    let (c, base) = demo_admin(port, &password).await;
    let dash = c
        .get(format!("{base}/admin/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(dash.status(), 200);
    assert!(dash.text().await.unwrap().contains("Admin dashboard"));

    child.kill().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(!log.is_empty(), "the demo logs at debug level");
    assert!(
        !log.contains(&password),
        "the demo password leaked into the log"
    );

    // A second run reuses the data and the credentials.
    let (mut again, banner) = start_demo(dir.path(), free_port());
    assert_eq!(banner_value(&banner, "Password:"), password);
    again.kill().unwrap();
    again.wait().unwrap();
    let key = dir.path().join("ontrackio-data/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn workspace_create_prints_a_setup_link_or_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = ontrackio(dir.path())
        .args([
            "workspace",
            "create",
            "globex",
            "--name",
            "Globex",
            "--super-admin",
            "hank@globex.test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("http://globex.localhost:8080/setup?token="),
        "{stdout}"
    );

    let mut child = ontrackio(dir.path())
        .args([
            "workspace",
            "create",
            "initech",
            "--name",
            "Initech",
            "--super-admin",
            "bill@initech.test",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        stdout.contains("can sign in at http://initech.localhost:8080/login"),
        "{stdout}"
    );
    assert!(!stdout.contains("a long enough password"));

    let out = ontrackio(dir.path())
        .args([
            "user",
            "add",
            "initech",
            "peter@initech.test",
            "--role",
            "admin",
            "--external",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ontrackio(dir.path())
        .args(["user", "list", "initech"])
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.contains("peter@initech.test") && list.contains("invited") && list.contains("yes"),
        "{list}"
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &[
            "workspace",
            "create",
            "Bad Slug",
            "--name",
            "X",
            "--super-admin",
            "a@b.test",
        ],
        &[
            "workspace",
            "create",
            "ok-slug",
            "--name",
            "X",
            "--super-admin",
            "not-an-email",
        ],
        &["user", "add", "nowhere", "a@b.test"],
        &["user", "disable", "nowhere", "a@b.test"],
    ];
    for args in cases {
        let out = ontrackio(dir.path()).args(*args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    let out = ontrackio(dir.path()).args(["serve"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("ONTRACKIO_MASTER_KEY")
    );
    let out = ontrackio(dir.path())
        .env("ONTRACKIO_BASE_URL", "ftp://x")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("error: ONTRACKIO_BASE_URL:")
    );
    for bad in ["0", "5000", "many"] {
        let out = ontrackio(dir.path())
            .env("ONTRACKIO_CALLBACKS_IN_FLIGHT", bad)
            .args(["migrate"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .starts_with("error: ONTRACKIO_CALLBACKS_IN_FLIGHT:"),
            "{bad}"
        );
    }
}

#[test]
fn the_last_super_admin_cannot_be_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = ontrackio(dir.path())
        .args([
            "workspace",
            "create",
            "acme",
            "--name",
            "Acme",
            "--super-admin",
            "a@acme.test",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = ontrackio(dir.path())
        .args(["user", "disable", "acme", "a@acme.test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Word for word what Admin → Users shows: both come from the accounts service.
    let same_as_web = |e: AccountError| format!("error: {e}\n");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        same_as_web(AccountError::LastSuperAdminDisable("a@acme.test".into()))
    );
    let out = ontrackio(dir.path())
        .args(["user", "set", "acme", "a@acme.test", "--role", "employee"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        same_as_web(AccountError::LastSuperAdminRole("a@acme.test".into()))
    );
}

#[test]
fn generate_key_prints_32_random_bytes_in_base64() {
    let out = Command::new(env!("CARGO_BIN_EXE_ontrackio"))
        .args(["secrets", "generate-key"])
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(ontrackio::crypto::KeyRing::parse(key.trim()).is_ok());
    let again = Command::new(env!("CARGO_BIN_EXE_ontrackio"))
        .args(["secrets", "generate-key"])
        .output()
        .unwrap();
    assert_ne!(again.stdout, key.as_bytes());
}

#[tokio::test]
async fn entra_emulator_serves_the_demo_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Server(
        ontrackio(dir.path())
            .args(["entra-emulator", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Keep the reader alive until the end: the emulator prints after its first line.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(
        first.trim(),
        format!("Entra emulator listening on http://127.0.0.1:{port}")
    );
    ontrackio::install_crypto_provider();
    let url = format!(
        "http://127.0.0.1:{port}/{}/v2.0/.well-known/openid-configuration",
        entra_emulator::demo::ACME_TENANT_ID
    );
    let doc: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(
        doc["issuer"],
        format!(
            "http://127.0.0.1:{port}/{}/v2.0",
            entra_emulator::demo::ACME_TENANT_ID
        )
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(out);
}

/// The server keeps signed-in users in memory (`auth::session_cache`); the command-line
/// tool is another process writing the same SQLite file, and its changes must still apply
/// to the very next request.
#[tokio::test]
async fn role_changes_and_disabling_from_the_command_line_apply_to_a_running_servers_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, banner) = start_demo(dir.path(), port);
    // The demo logs at debug level; drain it so that a full pipe never stalls the server.
    let mut log = server.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    let password = banner_value(&banner, "Password:");
    let (c, base) = demo_admin(port, &password).await;
    let status = |path: &'static str| {
        let c = c.clone();
        let url = format!("{base}{path}");
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    // Twice: the second answer comes from the server's memory.
    assert_eq!(status("/admin/settings/integrations").await, 200);
    assert_eq!(status("/admin/settings/integrations").await, 200);

    let cli = |args: &[&str]| {
        let out = ontrackio(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&[
        "user",
        "add",
        "acme",
        "boss@acme.test",
        "--role",
        "super-admin",
    ]);
    // An invited super-admin with no password does not count as the one who can sign in:
    // boss chooses a password through a setup link before admin may step down.
    let printed = cli(&["user", "setup-link", "acme", "boss@acme.test"]);
    let link = printed
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a setup link");
    set_password_through_link(port, link, "boss chooses a long password").await;
    cli(&["user", "set", "acme", "admin@acme.test", "--role", "admin"]);
    assert_eq!(
        status("/admin/settings/integrations").await,
        403,
        "the demoted admin still reaches the super-admin settings"
    );
    assert_eq!(status("/admin/dashboard").await, 200);

    cli(&["user", "disable", "acme", "admin@acme.test"]);
    assert_eq!(
        status("/admin/dashboard").await,
        303,
        "the disabled admin is still signed in"
    );
}

/// The flow-start limit with its default (the variable unset), through the binary's own
/// configuration path: 600 starts from one address at once are not all let through.
#[tokio::test]
async fn with_the_variable_unset_the_default_flow_start_limit_applies() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, _banner) = start_demo(dir.path(), port);
    let mut log = server.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    ontrackio::install_crypto_provider();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("acme.localhost", addr)
        .build()
        .unwrap();
    let url = format!("http://acme.localhost:{port}/auth/microsoft");
    let starts = (0..600).map(|_| {
        let c = c.clone();
        let url = url.clone();
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    });
    let began = std::time::Instant::now();
    let statuses = futures_util::future::join_all(starts).await;
    let admitted = statuses.iter().filter(|s| **s == 302).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + refused, 600, "{statuses:?}");
    let per_minute = ontrackio::auth::oidc::FLOW_STARTS_PER_MINUTE;
    let burst = per_minute.div_ceil(2) as usize;
    // The burst, plus at most the refills (4 a second) the time taken to answer the 600
    // explains, however slow the machine.
    let refills = (began.elapsed().as_secs_f64() * f64::from(per_minute) / 60.0).ceil() as usize;
    assert!(
        (burst..=burst + refills).contains(&admitted),
        "{admitted} of 600 starts admitted; expected the burst of {burst} plus at most {refills}"
    );
}
