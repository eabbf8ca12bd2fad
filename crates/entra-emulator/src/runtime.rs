//! Binding an emulator's socket and running its router until the handle stops it or is
//! dropped: the part every emulator in the crate starts the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::tls::{TlsListener, TlsMaterial};

/// How an emulator serves: where it listens, its public URL, and whether it skips the picker
/// for hinted accounts. Both builders hold one and get its setters from [`serve_setters`].
pub(crate) struct ServeOptions {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub auto_select: bool,
    /// Serve `https` with a certificate generated at start (the Entra emulator's `tls`).
    pub tls: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            public_url: None,
            auto_select: false,
            tls: false,
        }
    }
}

/// The builder methods for a builder's `serve: ServeOptions` field.
macro_rules! serve_setters {
    () => {
        /// Where to listen (default `127.0.0.1:0`, a random port).
        pub fn listen(mut self, addr: std::net::SocketAddr) -> Self {
            self.serve.listen = addr;
            self
        }

        /// Skip the account picker when `login_hint` names an account (default off).
        pub fn auto_select(mut self, on: bool) -> Self {
            self.serve.auto_select = on;
            self
        }

        /// The URL every issuer and endpoint is built from, when it isn't
        /// `http://{listen address}` (e.g. behind a proxy). No trailing slash.
        pub fn public_url(mut self, url: impl Into<String>) -> Self {
            self.serve.public_url = Some(url.into());
            self
        }
    };
}
pub(crate) use serve_setters;

/// A bound socket and the base URL clients reach it at.
pub(crate) struct Bound {
    pub listener: TcpListener,
    pub local_addr: SocketAddr,
    /// `http://{address}` (`https://` with TLS), or the public URL given, without a trailing
    /// slash.
    pub base_url: String,
    /// The generated certificate, when serving over TLS.
    pub tls: Option<TlsMaterial>,
}

pub(crate) async fn bind(options: &ServeOptions) -> anyhow::Result<Bound> {
    let listen = options.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local_addr = listener.local_addr()?;
    let scheme = if options.tls { "https" } else { "http" };
    let base_url = match &options.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("{scheme}://{}", reachable(local_addr)),
    };
    let tls = if options.tls {
        if let Some(url) = &options.public_url
            && !url.starts_with("https://")
        {
            anyhow::bail!("with TLS the public URL must be https, not `{url}`");
        }
        let hosts = crate::tls::certificate_hosts(local_addr, options.public_url.as_deref());
        // Key generation is CPU-bound; keep it off the async workers.
        let material = tokio::task::spawn_blocking(move || TlsMaterial::generate(hosts))
            .await
            .context("certificate generation")??;
        Some(material)
    } else {
        None
    };
    Ok(Bound {
        listener,
        local_addr,
        base_url,
        tls,
    })
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

/// The server task. Dropping it stops the server.
pub(crate) struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `router` on the bound socket, over TLS when it has a certificate.
    pub fn spawn_bound(
        listener: TcpListener,
        tls: Option<&TlsMaterial>,
        router: Router,
        name: &'static str,
    ) -> anyhow::Result<Running> {
        Ok(match tls {
            Some(material) => Running::spawn(TlsListener::new(listener, material)?, router, name),
            None => Running::spawn(listener, router, name),
        })
    }

    /// Serves `router` on `listener` on the current tokio runtime; `name` goes into the log
    /// line if the server fails.
    pub fn spawn<L>(listener: L, router: Router, name: &'static str) -> Running
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                // Fires on `stop()` and when the sender is dropped with the handle.
                let _ = rx.await;
            });
            if let Err(error) = server.await {
                tracing::error!(%error, "{name} stopped");
            }
        });
        Running {
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Tells the person at the terminal how to stop, and waits for them to.
pub(crate) async fn until_ctrl_c() -> std::io::Result<()> {
    println!();
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await
}
