//! The outbound HTTP client every identity provider is called through: pooled, https
//! only (loopback excepted, checked in config), timeouts, a response-size cap, and no
//! redirects followed — a redirect from a token endpoint would otherwise carry the client
//! secret somewhere else.

use std::time::Duration;

/// Bodies above this are refused without being held in memory: the largest legitimate
/// one (a JWKS with a few certificates) is a few kilobytes.
const MAX_BODY: usize = 256 * 1024;

/// Idle connections kept per provider host: more than a node needs between bursts.
const IDLE_CONNECTIONS_PER_HOST: usize = 32;

/// A call that got no usable answer: timeout, refused connection, oversized body. The
/// text names the provider and is fit for an admin's health line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unanswered(pub String);

pub struct Outbound {
    http: reqwest::Client,
    /// The provider's name in error texts ("Microsoft", "Google").
    who: &'static str,
}

impl Outbound {
    pub fn new(who: &'static str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // After a burst, connections beyond this many idle ones are closed rather than
            // kept (each holds hyper's buffers: ~20 KB). At 1,000 concurrent flows the pool
            // had grown to ~490 connections to the token endpoint.
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
            .user_agent(concat!("OnTrackio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("Failed to build the HTTP client for {who}: {e}"))?;
        Ok(Self { http, who })
    }

    pub fn who(&self) -> &'static str {
        self.who
    }

    /// `GET url` (optionally with a bearer token): status and body, capped.
    pub async fn get(
        &self,
        url: reqwest::Url,
        bearer: Option<&str>,
    ) -> Result<(u16, Vec<u8>), Unanswered> {
        let mut req = self.http.get(url);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| self.unanswered(&e))?;
        self.read_capped(resp).await
    }

    /// `POST url` with a form body: status and body, capped.
    pub async fn post_form<T: serde::Serialize + ?Sized>(
        &self,
        url: reqwest::Url,
        form: &T,
    ) -> Result<(u16, Vec<u8>), Unanswered> {
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| self.unanswered(&e))?;
        self.read_capped(resp).await
    }

    /// A JWKS document: 200 and its body, or why not.
    pub async fn fetch_jwks(&self, uri: &str) -> Result<Vec<u8>, Unanswered> {
        let url = reqwest::Url::parse(uri).map_err(|_| {
            Unanswered(format!("{}'s signing keys have no valid address", self.who))
        })?;
        let (status, body) = self.get(url, None).await?;
        if status != 200 {
            return Err(Unanswered(format!(
                "{}'s signing keys answered HTTP {status}",
                self.who
            )));
        }
        Ok(body)
    }

    /// Reads a body up to `MAX_BODY`, refusing more without buffering it.
    async fn read_capped(&self, mut resp: reqwest::Response) -> Result<(u16, Vec<u8>), Unanswered> {
        let status = resp.status().as_u16();
        let oversized = || {
            Unanswered(format!(
                "{} sent an oversized answer (HTTP {status})",
                self.who
            ))
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(oversized());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(oversized());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok((status, body)),
                Err(e) => return Err(self.unanswered(&e)),
            }
        }
    }

    fn unanswered(&self, e: &reqwest::Error) -> Unanswered {
        let who = self.who;
        Unanswered(if e.is_timeout() {
            format!("{who} did not answer in time")
        } else if e.is_connect() {
            format!("{who} could not be reached")
        } else {
            format!("The connection to {who} failed")
        })
    }
}
