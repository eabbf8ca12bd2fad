//! What one simulated browser does: a complete Microsoft sign-in, a signed-in page, the
//! trivial route. Every unexpected answer is an error with enough detail to act on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};

use crate::http::{Conn, Jar};
use crate::naming;

/// Where the browser's requests go.
#[derive(Clone, Copy)]
pub struct Target {
    pub server: SocketAddr,
    pub emulator: SocketAddr,
}

impl Target {
    pub fn workspace_host(&self, ws: usize) -> String {
        format!("{}.localhost:{}", naming::slug(ws), self.server.port())
    }
    pub fn bare_host(&self) -> String {
        format!("localhost:{}", self.server.port())
    }
}

pub struct SignIn {
    /// `GET /auth/microsoft/callback` alone: the token exchange, the ID token, Graph, the
    /// database transaction and the session.
    pub callback: Duration,
    /// From `GET /auth/microsoft` to the landing page's 200.
    pub total: Duration,
    /// The session cookie (`name=value`) for later signed-in requests.
    pub session_cookie: String,
}

/// A fresh browser (no cookies, new connections) signs user `j` of workspace `ws` in:
/// start → the emulator's authorize (auto-select by `login_hint`) → callback → landing.
pub async fn sign_in(t: Target, ws: usize, j: u64) -> anyhow::Result<SignIn> {
    let host = t.workspace_host(ws);
    let mut product = Conn::new(t.server);
    let mut microsoft = Conn::new(t.emulator);
    let mut jar = Jar::default();
    let started = Instant::now();

    let r = product.get(&host, "/auth/microsoft", None).await?;
    ensure!(
        r.status == 302,
        "start answered {} (expected 302): {}",
        r.status,
        snippet(&r.body)
    );
    jar.store(&r.set_cookies)?;
    let authorize = r.location.context("start without Location")?;
    let emulator_origin = format!("http://{}/", t.emulator);
    let authorize_path = authorize
        .strip_prefix(&emulator_origin[..emulator_origin.len() - 1])
        .with_context(|| format!("start redirected outside the emulator: {authorize}"))?;
    // What a browser with a hint would send; the product's own parameters stay intact.
    let hinted = format!(
        "{authorize_path}&login_hint={}",
        naming::upn(ws, j).replace('@', "%40")
    );
    let r = microsoft
        .get(&t.emulator.to_string(), &hinted, None)
        .await?;
    ensure!(
        r.status == 302,
        "authorize answered {} (expected 302): {}",
        r.status,
        snippet(&r.body)
    );
    let back = r.location.context("authorize without Location")?;
    let origin = format!("http://{host}");
    let callback = back
        .strip_prefix(&origin)
        .filter(|p| p.starts_with("/auth/microsoft/callback?code="))
        .with_context(|| format!("authorize did not send the code back: {back}"))?
        .to_string();

    let cb_started = Instant::now();
    let cookie = jar.header_for("/auth/microsoft/callback");
    let r = product.get(&host, &callback, cookie.as_deref()).await?;
    let cb_elapsed = cb_started.elapsed();
    ensure!(
        r.status == 303,
        "callback answered {} (expected 303): {}",
        r.status,
        snippet(&r.body)
    );
    jar.store(&r.set_cookies)?;
    let landing = r.location.context("callback without Location")?;
    ensure!(
        landing == "/my/dashboard",
        "landed on {landing}, expected /my/dashboard"
    );

    let r = product
        .get(&host, &landing, jar.header_for(&landing).as_deref())
        .await?;
    ensure!(
        r.status == 200,
        "landing page answered {}: {}",
        r.status,
        snippet(&r.body)
    );
    ensure!(
        memchr(&r.body, b"Sign out") || memchr(&r.body, b"logout"),
        "landing page is not a signed-in page"
    );
    let total = started.elapsed();
    let session = jar
        .get("ontrackio_session")
        .ok_or_else(|| anyhow!("no session cookie after sign-in"))?;
    Ok(SignIn {
        callback: cb_elapsed,
        total,
        session_cookie: format!("ontrackio_session={session}"),
    })
}

/// `GET /my/dashboard` with a session, on a kept-alive connection.
pub async fn dashboard(conn: &mut Conn, host: &str, session_cookie: &str) -> anyhow::Result<()> {
    let r = conn
        .get(host, "/my/dashboard", Some(session_cookie))
        .await?;
    if r.status != 200 {
        bail!("dashboard answered {}: {}", r.status, snippet(&r.body));
    }
    Ok(())
}

/// `GET path` with a session, expecting a page (Admin → Users and the like).
pub async fn page(
    conn: &mut Conn,
    host: &str,
    path: &str,
    session_cookie: &str,
) -> anyhow::Result<()> {
    let r = conn.get(host, path, Some(session_cookie)).await?;
    if r.status != 200 {
        bail!("{path} answered {}: {}", r.status, snippet(&r.body));
    }
    Ok(())
}

/// `GET /healthz`: the same server, router and middleware stack, no work.
pub async fn hello(conn: &mut Conn, host: &str) -> anyhow::Result<()> {
    let r = conn.get(host, "/healthz", None).await?;
    if r.status != 200 {
        bail!("healthz answered {}", r.status);
    }
    Ok(())
}

fn memchr(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    // The page's title or message says what went wrong; the rest is chrome.
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = text.find("<main").unwrap_or(0);
    text[start..].chars().take(300).collect()
}
