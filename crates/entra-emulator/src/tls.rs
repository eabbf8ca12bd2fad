//! Serving over TLS with a self-signed certificate generated at start, so clients that insist
//! on `https` authorities (MSAL) can talk to the emulator without a proxy: trust the
//! certificate the handle (or `--tls-cert-out`) gives you.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The generated certificate and what serves with it.
pub(crate) struct TlsMaterial {
    /// The certificate in PEM, to hand to clients as a trust anchor.
    pub certificate_pem: String,
    /// The same certificate, DER-encoded.
    pub certificate_der: Vec<u8>,
    acceptor: TlsAcceptor,
}

impl TlsMaterial {
    /// A fresh self-signed certificate for `hosts` (DNS names or IP addresses) and a rustls
    /// server configuration (TLS 1.2 and 1.3, `h1` only) around it.
    pub fn generate(hosts: Vec<String>) -> anyhow::Result<TlsMaterial> {
        let generated = rcgen::generate_simple_self_signed(hosts)
            .context("cannot generate the TLS certificate")?;
        let certificate_der = generated.cert.der().to_vec();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(vec![certificate_der.clone().into()], key)
            .context("TLS server certificate")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsMaterial {
            certificate_pem: generated.cert.pem(),
            certificate_der,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Names a client may reach the emulator by: `localhost`, the loopback addresses, the address
/// it listens on, and the public URL's host.
pub(crate) fn certificate_hosts(listen: SocketAddr, public_url: Option<&str>) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !listen.ip().is_unspecified() {
        hosts.push(listen.ip().to_string());
    }
    if let Some(host) = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
    {
        hosts.push(host);
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// A listener that hands axum connections whose TLS handshake has finished. Handshakes run
/// in their own tasks, so a slow or broken client never holds up the others.
pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(listener: TcpListener, material: &TlsMaterial) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = material.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    // The server stopped: the receiving half is gone.
                    () = tx.closed() => return,
                };
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local_addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends once this receiver is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
